//! A blocking driver: serve one connection over any `embedded_io::Read + Write` transport.
//!
//! For firmware with a blocking socket (or a UART), and for tests. Readiness-based runners
//! (mio, smoltcp's poll loop) drive [`Machine`] directly instead.

use core::fmt;

use embedded_io::{Read, Write};

use crate::buffer::Buffer;
use crate::echo::{Line, Machine, Stats};
use crate::time::Instant;

/// Why [`serve`] stopped before the peer closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServeError<E> {
    /// The transport failed.
    Transport(E),
    /// The transport accepted no byte of a write.
    WriteZero,
    /// The machine's pending buffer has no capacity, so nothing could ever be read.
    NoBuffer,
}

impl<E: fmt::Debug> fmt::Display for ServeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Transport(e) => write!(f, "transport error: {e:?}"),
            ServeError::WriteZero => f.write_str("transport wrote zero bytes"),
            ServeError::NoBuffer => f.write_str("echo machine has no buffer capacity"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for ServeError<E> {}

/// Echoes everything read from `transport` back to it until end of stream, logging lines
/// through `on_line`; returns what moved. `now` is the caller's clock.
///
/// On end of stream the pending partial line is logged (partial) and the machine closed.
/// Idle timeouts need read deadlines this blocking interface does not have; a caller that
/// wants them sets them on its transport.
pub fn serve<T, B>(
    transport: &mut T,
    machine: &mut Machine<B>,
    mut now: impl FnMut() -> Instant,
    mut on_line: impl FnMut(Line<'_>),
) -> Result<Stats, ServeError<T::Error>>
where
    T: Read + Write,
    B: Buffer,
{
    let mut chunk = [0u8; 512];
    loop {
        let window = machine.receive_window().min(chunk.len());
        if window == 0 {
            return Err(ServeError::NoBuffer);
        }
        let n = transport
            .read(&mut chunk[..window])
            .map_err(ServeError::Transport)?;
        if n == 0 {
            break;
        }
        machine.handle_input(now(), &chunk[..n], &mut on_line);
        while !machine.poll_transmit().is_empty() {
            let sent = transport
                .write(machine.poll_transmit())
                .map_err(ServeError::Transport)?;
            if sent == 0 {
                return Err(ServeError::WriteZero);
            }
            machine.handle_sent(now(), sent);
        }
        transport.flush().map_err(ServeError::Transport)?;
    }
    Ok(machine.handle_close(&mut on_line))
}
