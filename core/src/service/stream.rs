//! A connected byte stream as the service sees it: OS sockets and smoltcp sockets alike.

/// Why a [`Stream`] call moved no bytes. A runner maps its transport's errors to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamError {
    /// Nothing now; try again at the next readiness event.
    WouldBlock,
    /// A signal interrupted the call; try again at once.
    Interrupted,
    /// The peer reset or aborted the connection, or the pipe broke (logged as `reset`).
    Reset,
    /// Anything else (logged as `error`).
    Other,
}

/// A connected byte stream, non-blocking. Every runner implements it over its sockets.
pub trait Stream {
    /// Reads into `buf` (never empty): `Ok(0)` is end of stream,
    /// `Err(StreamError::WouldBlock)` means nothing now.
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, StreamError>;

    /// Sends from `data`: how many bytes were taken; `Err(StreamError::WouldBlock)` means
    /// none now.
    fn send(&mut self, data: &[u8]) -> Result<usize, StreamError>;
}
