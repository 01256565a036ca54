//! virtio-net as a `smoltcp::phy::Device`: virtio-drivers' [`VirtIONetRaw`] (no heap) over
//! static frame buffers.
//!
//! The device fills receive buffers the driver has posted and reads transmit buffers it has
//! handed over; a buffer belongs to the device from `*_begin` to `*_complete`, and this
//! adapter never touches it in between (that is the `unsafe` contract of `VirtIONetRaw`).
//! Every receive buffer is posted whenever it is not lent to smoltcp, so QEMU always has
//! somewhere to put a frame (with none, it holds frames back: nothing is lost, the link
//! just waits). A frame is taken only with a transmit buffer free for the answer.
//!
//! Frames from the device are trusted no more than bytes from the wire: a length shorter
//! than an Ethernet header or longer than [`MAX_FRAME`], or a completion the driver cannot
//! match, drops the frame and counts it in [`Stats`].

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::Hal;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::Transport;

/// Longest Ethernet frame passed up or sent (no CRC): 1500 bytes of payload, 14 of header.
pub const MAX_FRAME: usize = 1514;
/// Shortest frame passed up: an Ethernet header.
pub const MIN_FRAME: usize = 14;
/// A buffer: the virtio-net header (12 bytes modern, 10 legacy) and one frame.
pub const BUF: usize = 12 + MAX_FRAME;
/// Receive buffers posted to the device.
pub const RX_BUFS: usize = 2;
/// Frames in flight to the device at once.
pub const TX_BUFS: usize = 2;
/// Descriptors per virtqueue (a power of two, at least the buffers of either side).
pub const QUEUE: usize = 4;

/// The frame buffers the device reads and writes: statics, lent for good.
pub struct Buffers {
    pub rx: [[u8; BUF]; RX_BUFS],
    pub tx: [[u8; BUF]; TX_BUFS],
}

impl Buffers {
    pub const fn new() -> Self {
        Buffers {
            rx: [[0; BUF]; RX_BUFS],
            tx: [[0; BUF]; TX_BUFS],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What the adapter moved and dropped, for the log's NIC report or a debugger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames passed up.
    pub rx_frames: u32,
    /// Receive completions the driver refused (wrong token, a length shorter than the
    /// virtio-net header): the buffer is posted again.
    pub rx_errors: u32,
    /// Frames shorter than [`MIN_FRAME`].
    pub rx_runts: u32,
    /// Frames longer than [`MAX_FRAME`].
    pub rx_oversized: u32,
    /// Frames handed to the device.
    pub tx_frames: u32,
    /// Frames the driver refused to queue, or completions it refused.
    pub tx_errors: u32,
    /// Frames smoltcp asked for longer than [`MAX_FRAME`] (cut, and counted).
    pub tx_oversized: u32,
}

/// A buffer and the token of the request that holds it, if the device has it.
struct Slot {
    buf: &'static mut [u8; BUF],
    token: Option<u16>,
}

/// The net device, its buffers and counters.
pub struct VirtioNic<H: Hal, T: Transport> {
    raw: VirtIONetRaw<H, T, QUEUE>,
    rx: [Slot; RX_BUFS],
    tx: Tx,
    stats: Stats,
}

/// The transmit buffers, borrowed by a [`TxToken`] while an RX token borrows a receive
/// buffer.
struct Tx {
    slots: [Slot; TX_BUFS],
}

impl Tx {
    fn free(&mut self) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.token.is_none())
    }
}

/// Why the device could not be brought up.
pub type InitError = virtio_drivers::Error;

impl<H: Hal, T: Transport> VirtioNic<H, T> {
    /// Negotiates with the device, makes its two queues (DMA pages from `H`) and posts every
    /// receive buffer.
    pub fn new(transport: T, buffers: &'static mut Buffers) -> Result<Self, InitError> {
        let raw = VirtIONetRaw::new(transport)?;
        let slot = |buf| Slot { buf, token: None };
        let mut nic = VirtioNic {
            raw,
            rx: buffers.rx.each_mut().map(slot),
            tx: Tx {
                slots: buffers.tx.each_mut().map(slot),
            },
            stats: Stats::default(),
        };
        nic.post_rx()?;
        Ok(nic)
    }

    /// The station address the device was given (QEMU's `mac=`, 52:54:00:12:34:56 unless
    /// set).
    pub fn mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether the device has put a received frame in a buffer that the driver has not
    /// taken yet. A read of the used ring in RAM: no register access, no exit to QEMU.
    pub fn rx_pending(&self) -> bool {
        self.raw.poll_receive().is_some()
    }

    /// Acknowledges the device's interrupt (after a wake-up), so its line drops.
    pub fn ack_interrupt(&mut self) {
        self.raw.ack_interrupt();
    }

    /// Posts every receive buffer the device does not hold.
    fn post_rx(&mut self) -> Result<(), InitError> {
        for slot in self.rx.iter_mut().filter(|s| s.token.is_none()) {
            // Safety: the buffer is a static this adapter owns; it is not touched again
            // until `receive_complete` with the token returned here.
            let token = unsafe { self.raw.receive_begin(&mut slot.buf[..])? };
            slot.token = Some(token);
        }
        Ok(())
    }

    /// The next received frame: the index of its buffer and where the frame lies in it.
    fn next_rx(&mut self) -> Option<(usize, usize, usize)> {
        // Bounded: each round completes one request or returns.
        for _ in 0..RX_BUFS {
            let token = self.raw.poll_receive()?;
            let Some(i) = self.rx.iter().position(|s| s.token == Some(token)) else {
                // Not a request of ours: nothing sensible to complete.
                self.stats.rx_errors = self.stats.rx_errors.wrapping_add(1);
                return None;
            };
            let slot = &mut self.rx[i];
            // Safety: the same buffer that was posted with this token.
            let done = unsafe { self.raw.receive_complete(token, &mut slot.buf[..]) };
            slot.token = None;
            match done {
                Err(_) => self.stats.rx_errors = self.stats.rx_errors.wrapping_add(1),
                Ok((_, len)) if len < MIN_FRAME => {
                    self.stats.rx_runts = self.stats.rx_runts.wrapping_add(1);
                }
                Ok((hdr, len)) if len > MAX_FRAME || hdr + len > BUF => {
                    self.stats.rx_oversized = self.stats.rx_oversized.wrapping_add(1);
                }
                Ok((hdr, len)) => {
                    self.stats.rx_frames = self.stats.rx_frames.wrapping_add(1);
                    return Some((i, hdr, len));
                }
            }
            // A dropped frame's buffer goes straight back.
            let _ = self.post_rx();
        }
        None
    }

    /// Takes back the transmit buffers the device is done with.
    fn reclaim_tx(&mut self) {
        for _ in 0..TX_BUFS {
            let Some(token) = self.raw.poll_transmit() else {
                return;
            };
            let Some(slot) = self.tx.slots.iter_mut().find(|s| s.token == Some(token)) else {
                self.stats.tx_errors = self.stats.tx_errors.wrapping_add(1);
                return;
            };
            // Safety: the same buffer that was queued with this token.
            if unsafe { self.raw.transmit_complete(token, &slot.buf[..]) }.is_err() {
                self.stats.tx_errors = self.stats.tx_errors.wrapping_add(1);
            }
            slot.token = None;
        }
    }

    /// Whether a frame can be handed to the device now.
    fn can_transmit(&mut self) -> bool {
        self.reclaim_tx();
        self.raw.can_send() && self.tx.slots.iter().any(|s| s.token.is_none())
    }

    /// A token for the free transmit buffer (call after [`Self::can_transmit`]).
    fn tx_token(&mut self) -> Option<TxToken<'_, H, T>> {
        Some(TxToken {
            slot: self.tx.free()?,
            raw: &mut self.raw,
            stats: &mut self.stats,
        })
    }
}

/// A received frame, lent to smoltcp; its buffer is posted again on the next call.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// A free transmit buffer.
pub struct TxToken<'a, H: Hal, T: Transport> {
    raw: &'a mut VirtIONetRaw<H, T, QUEUE>,
    slot: &'a mut Slot,
    stats: &'a mut Stats,
}

impl<H: Hal, T: Transport> Device for VirtioNic<H, T> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, H, T>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // The buffer lent last time is free again.
        if self.post_rx().is_err() {
            self.stats.rx_errors = self.stats.rx_errors.wrapping_add(1);
        }
        // An answer (an ACK, an echo) may follow each frame: take one only with room for it.
        if !self.can_transmit() {
            return None;
        }
        let (i, hdr, len) = self.next_rx()?;
        Some((
            RxToken {
                frame: &self.rx[i].buf[hdr..hdr + len],
            },
            TxToken {
                slot: self.tx.free()?,
                raw: &mut self.raw,
                stats: &mut self.stats,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        if !self.can_transmit() {
            return None;
        }
        self.tx_token()
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        // No checksum offload is negotiated: smoltcp computes and checks every checksum.
        caps.max_burst_size = Some(TX_BUFS);
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

impl<H: Hal, T: Transport> phy::TxToken for TxToken<'_, H, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let slot = self.slot;
        // Cannot fail: a buffer is longer than either header.
        let (hdr, queued) = match self.raw.fill_buffer_header(&mut slot.buf[..]) {
            Ok(hdr) => (hdr, true),
            Err(_) => (12, false),
        };
        if len > MAX_FRAME {
            self.stats.tx_oversized = self.stats.tx_oversized.wrapping_add(1);
        }
        let len = len.min(MAX_FRAME);
        let result = f(&mut slot.buf[hdr..hdr + len]);
        // Safety: the buffer is a static this adapter owns; it is not touched again until
        // `transmit_complete` with the token returned here.
        match queued.then(|| unsafe { self.raw.transmit_begin(&slot.buf[..hdr + len]) }) {
            Some(Ok(token)) => {
                slot.token = Some(token);
                self.stats.tx_frames = self.stats.tx_frames.wrapping_add(1);
            }
            Some(Err(_)) | None => self.stats.tx_errors = self.stats.tx_errors.wrapping_add(1),
        }
        result
    }
}

#[cfg(test)]
#[path = "nic_tests.rs"]
mod tests;
