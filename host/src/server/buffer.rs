//! The host's [`Buffer`] for echo-core: a capped, growable byte FIFO that holds no memory
//! while empty, so an idle connection costs a few dozen bytes, not a buffer.

use echo_core::Buffer;
use echo_core::buffer::NewBuffer;

/// A FIFO of at most `cap` bytes. Bytes are appended at the back and consumed from `start`;
/// the allocation is released whenever the buffer empties.
#[derive(Debug, Default)]
pub struct CappedVec {
    bytes: Vec<u8>,
    start: usize,
    cap: usize,
}

impl CappedVec {
    /// An empty buffer that will hold at most `cap` bytes (no allocation yet).
    pub const fn new(cap: usize) -> Self {
        CappedVec {
            bytes: Vec::new(),
            start: 0,
            cap,
        }
    }

    /// Bytes of heap this buffer holds right now.
    pub fn allocated(&self) -> usize {
        self.bytes.capacity()
    }
}

impl NewBuffer for CappedVec {
    fn with_capacity(capacity: usize) -> Self {
        CappedVec::new(capacity)
    }
}

impl Buffer for CappedVec {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn capacity(&self) -> usize {
        self.cap
    }

    fn extend_up_to(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.cap - self.len());
        if n == 0 {
            return 0;
        }
        if self.start > 0 && self.bytes.len() + n > self.bytes.capacity() {
            // Reuse the consumed front before growing.
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(&data[..n]);
        n
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.bytes.len());
        if self.start == self.bytes.len() {
            // Empty: give the memory back (idle connections must stay small).
            self.bytes = Vec::new();
            self.start = 0;
        }
    }

    fn len(&self) -> usize {
        self.bytes.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo_that_frees_when_empty() {
        let mut b = CappedVec::new(8);
        assert_eq!(b.extend_up_to(b"0123456789"), 8);
        assert_eq!(b.as_slice(), b"01234567");
        b.consume(3);
        assert_eq!(b.extend_up_to(b"abcdef"), 3);
        assert_eq!(b.as_slice(), b"34567abc");
        b.consume(8);
        assert!(b.is_empty());
        assert_eq!(b.allocated(), 0);
    }
}
