//! The service's log sink on a device: JSON Lines at INFO on the UART, with time counted
//! from boot as if boot were 1970-01-01T00:00:00.000Z (there is no wall clock).

use echo_core::record::{Level, Record};
use echo_core::service::Log;
use echo_core::time::{Instant, Timestamp};

use crate::board::Uart;

/// Longest message in one `echo` record (`--max-line`); a longer line is logged in pieces.
/// The echo machine keeps a line in a buffer of this plus 2 bytes (see `main`'s `Buf`).
pub const MAX_LINE: usize = 254;

/// Room for any record whose message is at most [`MAX_LINE`] bytes, escaped.
const LINE_BUF: usize = Record::max_len_for_msg(MAX_LINE);

/// Records formatted by echo-core's formatter (the server's), written to the UART.
pub struct UartLog {
    uart: Uart,
    buf: [u8; LINE_BUF],
    /// Records that did not fit the buffer (none can, by its size; counted all the same).
    pub lost: u32,
}

impl UartLog {
    pub const fn new(uart: Uart) -> Self {
        UartLog {
            uart,
            buf: [0; LINE_BUF],
            lost: 0,
        }
    }
}

impl Log for UartLog {
    fn enabled(&self, level: Level) -> bool {
        level <= Level::Info
    }

    fn write_always(&mut self, record: &Record<'_>) {
        match record.format(&mut self.buf) {
            Ok(n) => self.uart.write_bytes(&self.buf[..n]),
            Err(_) => self.lost = self.lost.wrapping_add(1),
        }
    }

    fn timestamp(&mut self, now: Instant) -> Timestamp {
        Timestamp::from_unix_millis(now.millis())
    }
}
