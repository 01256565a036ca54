//! Frames the NIC driver dropped, reported in the log as `error` records: an engineer
//! bringing up a board sees bad frames, oversized frames and FIFO resyncs as they happen,
//! at most once a second, with the totals since boot.

use core::fmt::Write;

use echo_core::service::{Log, Service, UdpPolicy};
use echo_core::time::Instant;

/// Least time between two reports.
const EVERY_MS: u64 = 1000;

/// Frames a NIC driver dropped since boot, by cause ([`crate::Board::nic_drops`]). A driver
/// leaves the causes it cannot have at 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// Received frames whose status flagged an error (CRC, alignment, collision...).
    pub rx_errors: u32,
    /// Received frames shorter than an Ethernet header.
    pub rx_runts: u32,
    /// Received frames longer than 1514 bytes.
    pub rx_oversized: u32,
    /// Times the receive FIFO was flushed to find frame boundaries again.
    pub rx_resyncs: u32,
    /// Received frames the NIC had no room for (no free receive buffer or descriptor, its
    /// FIFO overflowing): the loop fell behind the wire.
    pub rx_no_room: u32,
    /// Frames the controller failed to send.
    pub tx_errors: u32,
    /// Frames too long to send.
    pub tx_oversized: u32,
}

/// The counts last reported and when.
pub struct NicReport {
    nic: &'static str,
    reported: Drops,
    at: Option<u64>,
}

impl NicReport {
    /// Reports for the NIC named `nic` (`lan9118`).
    pub const fn new(nic: &'static str) -> Self {
        NicReport {
            nic,
            reported: Drops {
                rx_errors: 0,
                rx_runts: 0,
                rx_oversized: 0,
                rx_resyncs: 0,
                rx_no_room: 0,
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
        drops: Drops,
        service: &mut Service<L, S, P>,
    ) {
        let due = self
            .at
            .is_none_or(|at| now.millis().saturating_sub(at) >= EVERY_MS);
        if drops == self.reported || !due {
            return;
        }
        let mut text = heapless::String::<224>::new();
        // Cannot fail: the longest text fits (a name and 7 numbers of at most 10 digits).
        let _ = write!(
            text,
            "{} dropped frames since boot: {} with errors, {} runts, {} oversized, \
             {} RX FIFO resyncs, {} without room; {} TX errors, {} TX oversized",
            self.nic,
            drops.rx_errors,
            drops.rx_runts,
            drops.rx_oversized,
            drops.rx_resyncs,
            drops.rx_no_room,
            drops.tx_errors,
            drops.tx_oversized
        );
        service.error(now, text.as_str());
        self.reported = drops;
        self.at = Some(now.millis());
    }
}
