//! Shared helpers of the property tests: a heap buffer and the reference framing model.
#![allow(dead_code)]

use echo_core::Buffer;

/// A fixed-capacity heap buffer of 24 bytes (a boxed slice and a length), like the ones a PC
/// runner lends the machine.
#[derive(Debug)]
pub struct BoxBuf {
    data: Box<[u8]>,
    len: usize,
}

impl BoxBuf {
    pub fn with_capacity(capacity: usize) -> Self {
        BoxBuf {
            data: vec![0; capacity].into_boxed_slice(),
            len: 0,
        }
    }
}

impl Buffer for BoxBuf {
    fn as_slice(&self) -> &[u8] {
        &self.data[..self.len]
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }

    fn extend_up_to(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.data.len() - self.len);
        self.data[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.data.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// A logged line: its bytes and whether it is partial.
pub type Logged = (Vec<u8>, bool);

/// The framing rules of PRODUCT.md "Log records", written as plainly as possible: split at
/// `\n`, strip the `\n` and a `\r` before it, cut pieces of `max_line` bytes (all but the
/// last partial); an unterminated tail is logged at close, every piece partial.
pub fn reference_lines(input: &[u8], max_line: usize) -> Vec<Logged> {
    let mut out = Vec::new();
    let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let tail = parts.pop().unwrap_or(b"");
    for part in parts {
        let content = part.strip_suffix(b"\r").unwrap_or(part);
        let pieces: Vec<&[u8]> = if content.is_empty() {
            vec![content]
        } else {
            content.chunks(max_line).collect()
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            out.push((piece.to_vec(), i < last));
        }
    }
    for piece in tail.chunks(max_line) {
        out.push((piece.to_vec(), true));
    }
    out
}
