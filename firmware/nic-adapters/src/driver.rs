//! An `embassy_net_driver::Driver` as a smoltcp `phy::Device`.
//!
//! embassy's drivers are written for an async stack that parks on a waker until the NIC's
//! interrupt fires. The firmware does not park on wakers: its loop polls smoltcp after
//! every interrupt (the core wakes from WFI on the NIC's interrupt too) and on a 1 ms tick.
//! So each call hands the driver a no-op waker; what the driver registers it never needs.

use core::task::{Context, Waker};

use embassy_net_driver::{Checksum, Driver, LinkState};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// A driver and the frames it moved.
pub struct DriverDevice<D> {
    driver: D,
    rx_frames: u32,
    tx_frames: u32,
}

impl<D: Driver> DriverDevice<D> {
    pub const fn new(driver: D) -> Self {
        DriverDevice {
            driver,
            rx_frames: 0,
            tx_frames: 0,
        }
    }

    /// Whether the PHY reports a link (for a board's bring-up message).
    pub fn link_up(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.driver.link_state(&mut cx) == LinkState::Up
    }

    /// Whether a received frame waits with room to answer it (what `receive` would hand
    /// out), for a loop deciding whether to sleep.
    pub fn has_frame(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.driver.receive(&mut cx).is_some()
    }

    /// Frames handed to smoltcp and frames sent, since boot (wrapping).
    pub fn frames(&self) -> (u32, u32) {
        (self.rx_frames, self.tx_frames)
    }

    /// The driver (for a board's own counters).
    pub fn driver(&mut self) -> &mut D {
        &mut self.driver
    }
}

/// A received frame, still in the driver's buffer.
pub struct RxToken<'a, T> {
    token: T,
    count: &'a mut u32,
}

/// Room for one frame in the driver's transmit queue.
pub struct TxToken<'a, T> {
    token: T,
    count: &'a mut u32,
}

impl<D: Driver> Device for DriverDevice<D> {
    type RxToken<'a>
        = RxToken<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let mut cx = Context::from_waker(Waker::noop());
        // The driver hands out a frame only with room for the answer, as smoltcp wants.
        let (rx, tx) = self.driver.receive(&mut cx)?;
        Some((
            RxToken {
                token: rx,
                count: &mut self.rx_frames,
            },
            TxToken {
                token: tx,
                count: &mut self.tx_frames,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let mut cx = Context::from_waker(Waker::noop());
        let tx = self.driver.transmit(&mut cx)?;
        Some(TxToken {
            token: tx,
            count: &mut self.tx_frames,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let theirs = self.driver.capabilities();
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = theirs.max_transmission_unit;
        caps.max_burst_size = theirs.max_burst_size;
        let mut checksum = ChecksumCapabilities::default();
        checksum.ipv4 = convert(theirs.checksum.ipv4);
        checksum.udp = convert(theirs.checksum.udp);
        checksum.tcp = convert(theirs.checksum.tcp);
        checksum.icmpv4 = convert(theirs.checksum.icmpv4);
        caps.checksum = checksum;
        caps
    }
}

/// Who computes a checksum: the same four cases in both crates.
fn convert(checksum: Checksum) -> phy::Checksum {
    match checksum {
        Checksum::Both => phy::Checksum::Both,
        Checksum::Rx => phy::Checksum::Rx,
        Checksum::Tx => phy::Checksum::Tx,
        Checksum::None => phy::Checksum::None,
    }
}

impl<T: embassy_net_driver::RxToken> phy::RxToken for RxToken<'_, T> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        *self.count = self.count.wrapping_add(1);
        self.token.consume(|frame| f(frame))
    }
}

impl<T: embassy_net_driver::TxToken> phy::TxToken for TxToken<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        *self.count = self.count.wrapping_add(1);
        self.token.consume(len, f)
    }
}
