//! A NIC that moves whole frames through blocking calls, as a smoltcp `phy::Device`.
//!
//! The W5500 keeps frames in its own 16 KiB buffers behind SPI, the LAN9118 in FIFOs
//! behind registers: smoltcp cannot borrow them, so a received frame is read into
//! [`FrameDevice`]'s receive buffer before smoltcp sees it, and a frame smoltcp builds in
//! the transmit buffer is written out when its token is consumed.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::MAX_FRAME;

/// Blocking frame I/O of a NIC.
pub trait RawFrames {
    type Error;

    /// Reads the next received frame into `frame`; `Ok(0)`: none waiting. A frame longer
    /// than `frame` is cut to its length.
    fn read_frame(&mut self, frame: &mut [u8]) -> Result<usize, Self::Error>;

    /// Sends `frame`; the bytes taken (less than `frame.len()` only when the NIC had no
    /// room for all of it, and then none was sent).
    fn write_frame(&mut self, frame: &[u8]) -> Result<usize, Self::Error>;

    /// Whether the NIC has room to send a frame of the largest size now. A frame is taken
    /// only then (an answer may follow it), and smoltcp gets a transmit token only then.
    /// A NIC whose write waits for room itself keeps the default, `true`.
    fn can_transmit(&mut self) -> bool {
        true
    }
}

/// What [`FrameDevice`] moved and what it lost, since boot (each wrapping).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub rx_frames: u32,
    pub tx_frames: u32,
    /// Reads that failed (the bus reported an error); whatever was waiting stays waiting.
    pub rx_errors: u32,
    /// Frames not sent: the bus reported an error, or the NIC took only part of it.
    pub tx_errors: u32,
}

/// A [`RawFrames`] NIC with a frame buffer each way.
pub struct FrameDevice<F> {
    nic: F,
    rx: [u8; MAX_FRAME],
    tx: [u8; MAX_FRAME],
    stats: FrameStats,
}

impl<F: RawFrames> FrameDevice<F> {
    pub const fn new(nic: F) -> Self {
        FrameDevice {
            nic,
            rx: [0; MAX_FRAME],
            tx: [0; MAX_FRAME],
            stats: FrameStats {
                rx_frames: 0,
                tx_frames: 0,
                rx_errors: 0,
                tx_errors: 0,
            },
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// The NIC (for a board's own use, or a test's inspection).
    pub fn nic(&mut self) -> &mut F {
        &mut self.nic
    }
}

/// A received frame, in the device's receive buffer.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// The transmit buffer and the NIC to send it through.
pub struct TxToken<'a, F> {
    nic: &'a mut F,
    buf: &'a mut [u8; MAX_FRAME],
    stats: &'a mut FrameStats,
}

impl<F: RawFrames> Device for FrameDevice<F> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, F>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if !self.nic.can_transmit() {
            return None;
        }
        let len = match self.nic.read_frame(&mut self.rx) {
            Ok(0) => return None,
            Ok(len) => len.min(MAX_FRAME),
            Err(_) => {
                self.stats.rx_errors = self.stats.rx_errors.wrapping_add(1);
                return None;
            }
        };
        self.stats.rx_frames = self.stats.rx_frames.wrapping_add(1);
        Some((
            RxToken {
                frame: &self.rx[..len],
            },
            TxToken {
                nic: &mut self.nic,
                buf: &mut self.tx,
                stats: &mut self.stats,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        // The NIC's own buffer (16 KiB on the W5500, the TX FIFO on the LAN9118) is the
        // queue.
        self.nic.can_transmit().then_some(TxToken {
            nic: &mut self.nic,
            buf: &mut self.tx,
            stats: &mut self.stats,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        // One frame per call. No checksum offload (the W5500's MACRAW mode has none, QEMU's
        // LAN9118 model does not implement the LAN9220's): smoltcp computes and checks
        // every checksum.
        caps.max_burst_size = Some(1);
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, G>(self, f: G) -> R
    where
        G: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

impl<F: RawFrames> phy::TxToken for TxToken<'_, F> {
    fn consume<R, G>(self, len: usize, f: G) -> R
    where
        G: FnOnce(&mut [u8]) -> R,
    {
        let len = len.min(MAX_FRAME);
        let result = f(&mut self.buf[..len]);
        match self.nic.write_frame(&self.buf[..len]) {
            Ok(sent) if sent == len => self.stats.tx_frames = self.stats.tx_frames.wrapping_add(1),
            Ok(_) | Err(_) => self.stats.tx_errors = self.stats.tx_errors.wrapping_add(1),
        }
        result
    }
}
