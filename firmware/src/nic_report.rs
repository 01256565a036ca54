//! Frames the NIC driver dropped, reported in the log as `error` records: an engineer
//! bringing up a board sees bad frames, oversized frames and FIFO resyncs as they happen,
//! at most once a second, with the totals since boot.

use core::fmt::{self, Write};

use echo_core::service::{Log, Service, UdpPolicy};
use echo_core::time::Instant;
use lan9118::Stats;

/// Least time between two reports.
const EVERY_MS: u64 = 1000;

/// The counters last reported and when.
pub struct NicReport {
    reported: Stats,
    at: Option<u64>,
}

impl NicReport {
    pub const fn new() -> Self {
        NicReport {
            reported: Stats {
                rx_frames: 0,
                rx_errors: 0,
                rx_runts: 0,
                rx_oversized: 0,
                rx_resyncs: 0,
                tx_frames: 0,
                tx_errors: 0,
                tx_oversized: 0,
            },
            at: None,
        }
    }

    /// Logs one `error` record if frames were dropped since the last report (and that was a
    /// second ago or more).
    pub fn poll<L: Log, S: AsMut<[u8]>, P: UdpPolicy>(
        &mut self,
        now: Instant,
        stats: Stats,
        service: &mut Service<L, S, P>,
    ) {
        let dropped = |s: &Stats| (s.rx_errors, s.rx_runts, s.rx_oversized, s.rx_resyncs);
        let changed = dropped(&stats) != dropped(&self.reported)
            || (stats.tx_errors, stats.tx_oversized)
                != (self.reported.tx_errors, self.reported.tx_oversized);
        let due = self
            .at
            .is_none_or(|at| now.millis().saturating_sub(at) >= EVERY_MS);
        if !changed || !due {
            return;
        }
        let mut text = Text::new();
        // Cannot fail: the longest text fits (10 numbers of at most 10 digits).
        let _ = write!(
            text,
            "lan9118 dropped frames since boot: {} with errors, {} runts, {} oversized, \
             {} RX FIFO resyncs; {} TX errors, {} TX oversized",
            stats.rx_errors,
            stats.rx_runts,
            stats.rx_oversized,
            stats.rx_resyncs,
            stats.tx_errors,
            stats.tx_oversized
        );
        service.error(now, text.as_str());
        self.reported = stats;
        self.at = Some(now.millis());
    }
}

/// A line of text on the stack.
struct Text {
    buf: [u8; 192],
    len: usize,
}

impl Text {
    fn new() -> Self {
        Text {
            buf: [0; 192],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `str`s are appended.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
