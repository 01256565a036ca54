//! The byte storage a [`crate::echo::Machine`] holds between calls.
//!
//! The core never allocates, so the runner chooses the storage: a fixed
//! `heapless::Vec<u8, N>` on a device, or on a PC a growable buffer with a cap that gives its
//! memory back when it empties (so 10,000 idle connections cost almost nothing).

/// A bounded FIFO of bytes: appended at the back, consumed from the front.
///
/// Implementations must keep `len() <= capacity()` and never grow past `capacity()`;
/// [`Buffer::extend_up_to`] appends only what fits and reports how much that was.
pub trait Buffer {
    /// The bytes held, oldest first.
    fn as_slice(&self) -> &[u8];

    /// The most bytes this buffer will ever hold.
    fn capacity(&self) -> usize;

    /// Appends as much of `bytes` as fits and returns how many were appended.
    fn extend_up_to(&mut self, bytes: &[u8]) -> usize;

    /// Removes the first `n` bytes (all of them if `n >= len()`).
    fn consume(&mut self, n: usize);

    /// Number of bytes held.
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether no byte is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room left, in bytes.
    fn remaining(&self) -> usize {
        self.capacity() - self.len()
    }

    /// Removes every byte.
    fn clear(&mut self) {
        let n = self.len();
        self.consume(n);
    }
}

/// A [`Buffer`] a server can make for each new connection (see
/// [`crate::service::Service::accept`]).
pub trait NewBuffer: Buffer {
    /// An empty buffer of at most `capacity` bytes. A fixed-size buffer ignores the request
    /// and keeps its own capacity (the machine fits its longest line to what it gets).
    fn with_capacity(capacity: usize) -> Self;
}

impl<const N: usize> NewBuffer for heapless::Vec<u8, N> {
    fn with_capacity(_capacity: usize) -> Self {
        heapless::Vec::new()
    }
}

impl<const N: usize> Buffer for heapless::Vec<u8, N> {
    fn as_slice(&self) -> &[u8] {
        self
    }

    fn capacity(&self) -> usize {
        N
    }

    fn extend_up_to(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(N - self.len());
        // NOTE(unwrap-free): `n` fits by construction, so this cannot fail.
        let _ = self.extend_from_slice(&bytes[..n]);
        n
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.copy_within(n.., 0);
        self.truncate(self.len() - n);
    }

    fn clear(&mut self) {
        heapless::Vec::clear(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heapless_vec_is_a_bounded_fifo() {
        let mut b: heapless::Vec<u8, 4> = heapless::Vec::new();
        assert_eq!(b.extend_up_to(b"abcdef"), 4);
        assert_eq!(Buffer::as_slice(&b), b"abcd");
        assert_eq!(b.remaining(), 0);
        b.consume(1);
        assert_eq!(b.extend_up_to(b"xy"), 1);
        assert_eq!(Buffer::as_slice(&b), b"bcdx");
        b.consume(10);
        assert!(Buffer::is_empty(&b));
    }
}
