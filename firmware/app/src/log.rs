//! The service's log sink on a device: JSON Lines at INFO, time counted from boot as if boot
//! were 1970-01-01T00:00:00.000Z (there is no wall clock), kept in a ring of whole records
//! that the UART drains as it can take bytes. The log never stalls echo: when the UART
//! falls behind (115200 baud, or a host that does not read the serial line) and the ring is
//! full, a record is dropped whole and counted, and once there is room again one `error`
//! record says how many were dropped. A record is never cut.

use core::fmt::Write;

use echo_core::record::{Event, Level, Record};
use echo_core::service::Log;
use echo_core::time::{Instant, Timestamp};

/// Longest message in one `echo` record (`--max-line`); a longer line is logged in pieces.
/// The echo machine keeps a line in a buffer of this plus 2 bytes (`memory::Buf`).
pub const MAX_LINE: usize = 254;

/// Room for any record whose message is at most [`MAX_LINE`] bytes, escaped.
const LINE_BUF: usize = Record::max_len_for_msg(MAX_LINE);

/// A ring of `N` bytes of whole log records, and the line buffer they are formatted in.
pub struct LogRing<const N: usize> {
    ring: [u8; N],
    /// Where the next byte is read from, and how many are queued after it.
    head: usize,
    len: usize,
    line: [u8; LINE_BUF],
    /// Records dropped since boot.
    dropped: u64,
    /// Records dropped since the last drop notice was queued.
    unreported: u64,
}

/// What one [`LogRing::drain`] left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Bytes are still queued and the UART took all it was offered: drain again soon.
    pub more: bool,
    /// Bytes are still queued and the UART refused them: wait until it can take bytes.
    pub refused: bool,
}

impl<const N: usize> LogRing<N> {
    pub const fn new() -> Self {
        LogRing {
            ring: [0; N],
            head: 0,
            len: 0,
            line: [0; LINE_BUF],
            dropped: 0,
            unreported: 0,
        }
    }

    /// Bytes queued for the UART.
    pub fn queued(&self) -> usize {
        self.len
    }

    /// Offers the UART (`write` takes the start of a slice and says how many bytes it
    /// took, `0` when it has no room) up to `budget` queued bytes. If records were dropped
    /// and there is room now, the `error` record that counts them is queued first, stamped
    /// `now`.
    pub fn drain(
        &mut self,
        now: Instant,
        budget: usize,
        mut write: impl FnMut(&[u8]) -> usize,
    ) -> Drained {
        self.queue_drop_notice(Timestamp::from_unix_millis(now.millis()));
        let mut left = budget;
        while self.len > 0 && left > 0 {
            let end = (self.head + self.len).min(N).min(self.head + left);
            let took = write(&self.ring[self.head..end]).min(end - self.head);
            if took == 0 {
                return Drained {
                    more: false,
                    refused: true,
                };
            }
            self.head = (self.head + took) % N;
            self.len -= took;
            left -= took;
        }
        Drained {
            more: self.len > 0,
            refused: false,
        }
    }

    /// Queues the drop notice if records were dropped since the last one and it fits.
    fn queue_drop_notice(&mut self, ts: Timestamp) {
        if self.unreported == 0 {
            return;
        }
        let mut text = heapless::String::<96>::new();
        // Cannot fail: a u64 and the words fit.
        let _ = write!(
            text,
            "serial log: {} records dropped: the serial port did not keep up",
            self.unreported
        );
        let notice = Record {
            msg: Some(text.as_str().as_bytes()),
            ..Record::event(ts, Event::Error)
        };
        if self.push(&notice) {
            self.unreported = 0;
        }
    }

    /// Formats `record` and queues it whole if it fits; `false` if it does not.
    fn push(&mut self, record: &Record<'_>) -> bool {
        let Ok(n) = record.format(&mut self.line) else {
            return false;
        };
        if n > N - self.len {
            return false;
        }
        let tail = (self.head + self.len) % N;
        let first = n.min(N - tail);
        self.ring[tail..tail + first].copy_from_slice(&self.line[..first]);
        self.ring[..n - first].copy_from_slice(&self.line[first..n]);
        self.len += n;
        true
    }

    fn count_drop(&mut self) {
        self.dropped = self.dropped.saturating_add(1);
        self.unreported = self.unreported.saturating_add(1);
    }
}

impl<const N: usize> Default for LogRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Log for LogRing<N> {
    fn enabled(&self, level: Level) -> bool {
        level <= Level::Info
    }

    fn write_always(&mut self, record: &Record<'_>) {
        // Records dropped before this one are told first; while that notice waits for
        // room, later records are dropped too, so the log stays in order.
        self.queue_drop_notice(record.ts);
        if self.unreported > 0 || !self.push(record) {
            self.count_drop();
        }
    }

    fn timestamp(&mut self, now: Instant) -> Timestamp {
        Timestamp::from_unix_millis(now.millis())
    }

    fn dropped(&mut self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests;
