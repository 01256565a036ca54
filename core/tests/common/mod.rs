//! Shared helpers of the property tests: a heap buffer and the reference framing model.
#![allow(dead_code)]

use echo_core::Buffer;

mod reference;
pub use reference::*;

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
