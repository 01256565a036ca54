//! SMSC LAN9118 Ethernet controller: the driver logic, over a register trait.
//!
//! The LAN9118 (and its software-compatible LAN9220 on Arm's MPS2 boards, modelled by QEMU's
//! `hw/net/lan9118.c`) moves frames through FIFOs behind a handful of 32-bit registers: a
//! received frame is one word in the RX status FIFO (its length and error bits) plus its
//! bytes, CRC included, in the RX data FIFO; a frame to send is two command words then its
//! bytes in the TX data FIFO. The MAC's own registers sit behind an indirect CSR port, the
//! PHY's behind the MAC's MII port.
//!
//! Everything here goes through [`Registers`], so it runs on a host against a fake register
//! block ([`fake::Chip`], feature `fake`): the unit tests and the fuzz target drive the very
//! code the firmware runs. A board implements [`Registers`] with volatile accesses at the
//! controller's base address; `nic_adapters::FrameDevice` (feature `lan9118` there) makes
//! [`Lan9118`] a `smoltcp::phy::Device`, copying frames through its two buffers.
//!
//! Bytes from the wire are untrusted: a status word whose length is too short, too long or
//! flags an error drops the frame (its words are drained, so the next frame starts in step)
//! and counts it in [`Stats`]; a status that claims more data than the FIFO holds means the
//! FIFOs are out of step, so both are flushed and counted as a resync. Nothing panics, and
//! every call does a bounded amount of work.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "fake"))]
pub mod fake;
mod mac;
mod regs;
#[cfg(test)]
mod tests;

pub use regs::{Reg, Registers};

use mac::spin;
use regs::bits;

/// Longest Ethernet frame passed up or sent (no CRC): 1500 bytes of payload, 14 of header.
pub const MAX_FRAME: usize = 1514;
/// Shortest frame worth passing up (no CRC): an Ethernet header. QEMU does not pad short
/// frames from a TAP (an ARP request is 42 bytes), so the 60-byte minimum of the wire is
/// not required here.
pub const MIN_FRAME: usize = 14;
/// Bytes of CRC at the end of every frame in the RX data FIFO.
const CRC: usize = 4;
/// Frame buffer bytes: the longest frame plus its CRC, rounded up to whole FIFO words.
pub const BUFFER: usize = (MAX_FRAME + CRC).div_ceil(4) * 4;

/// Status words one [`Lan9118::receive`] call looks at, at most, before it gives up for
/// now: a flood of bad frames cannot keep the caller in the driver.
const RX_TRIES: usize = 16;
/// Polls of a self-clearing bit (reset, MAC CSR busy, MII busy) before giving up.
const SPINS: u32 = 100_000;

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// BYTE_TEST did not read 0x87654321 (it read this): no LAN9118 at that address, or
    /// the bus is misconfigured.
    NotFound(u32),
    /// A self-clearing bit stayed set: soft reset, MAC CSR or MII access (named).
    Timeout(&'static str),
}

/// What the driver dropped and moved, for a log line or a debugger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames passed up.
    pub rx_frames: u32,
    /// Frames dropped because their status flagged an error (CRC, runt, too long, ...) or
    /// a failed address filter.
    pub rx_errors: u32,
    /// Frames dropped for a length below [`MIN_FRAME`].
    pub rx_runts: u32,
    /// Frames dropped for a length above [`MAX_FRAME`].
    pub rx_oversized: u32,
    /// Times the RX FIFOs were found out of step (a status claiming more data than the
    /// data FIFO held) and flushed, with every frame queued in them.
    pub rx_resyncs: u32,
    /// Frames handed to the controller.
    pub tx_frames: u32,
    /// Transmit status words that flagged an error.
    pub tx_errors: u32,
    /// Frames smoltcp asked to send that were too long, refused.
    pub tx_oversized: u32,
}

/// Why a received status word's frame is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drop {
    Error,
    Runt,
    Oversized,
}

/// What an RX status word says about its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RxStatus {
    /// Frame bytes in the data FIFO, CRC included (status bits 29:16).
    len: usize,
    verdict: Result<(), Drop>,
}

impl RxStatus {
    fn parse(status: u32) -> Self {
        let len = ((status >> 16) & 0x3fff) as usize;
        let verdict = if status & (bits::RX_STS_ERROR | bits::RX_STS_FILTER_FAIL) != 0 {
            Err(Drop::Error)
        } else if len < MIN_FRAME + CRC {
            Err(Drop::Runt)
        } else if len > MAX_FRAME + CRC {
            Err(Drop::Oversized)
        } else {
            Ok(())
        };
        RxStatus { len, verdict }
    }

    /// Data FIFO words the frame occupies (no RX offset or end padding is configured).
    fn words(self) -> usize {
        self.len.div_ceil(4)
    }
}

/// The driver: the controller's registers and counters. Frames move through the caller's
/// buffers (the FIFOs are ports, not memory a caller could borrow).
#[derive(Debug)]
pub struct Lan9118<R> {
    port: Port<R>,
}

/// The registers and the counters.
#[derive(Debug)]
struct Port<R> {
    regs: R,
    stats: Stats,
}

impl<R: Registers> Lan9118<R> {
    /// Resets the controller and brings it up with station address `mac`: MAC filtering on
    /// that address plus broadcast, full duplex, PHY auto-negotiation, polled operation.
    pub fn new(mut regs: R, mac: [u8; 6]) -> Result<Self, InitError> {
        let test = regs.read(Reg::ByteTest);
        if test != bits::BYTE_TEST {
            return Err(InitError::NotFound(test));
        }
        regs.write(Reg::HwCfg, bits::HW_CFG_SRST);
        spin(&mut regs, Reg::HwCfg, bits::HW_CFG_SRST, 0, "soft reset")?;
        spin(
            &mut regs,
            Reg::PmtCtrl,
            bits::PMT_CTRL_READY,
            bits::PMT_CTRL_READY,
            "ready",
        )?;
        let mut port = Port {
            regs,
            stats: Stats::default(),
        };
        port.start(mac)?;
        Ok(Lan9118 { port })
    }

    /// Raises the interrupt line (active high) while a received frame waits, so a board can
    /// sleep until one comes. Call [`Lan9118::ack_interrupt`] before draining.
    pub fn enable_rx_interrupt(&mut self) {
        let regs = &mut self.port.regs;
        regs.write(Reg::IntEn, bits::INT_RSFL);
        regs.write(Reg::IrqCfg, bits::IRQ_CFG_EN | bits::IRQ_CFG_HIGH_PUSH_PULL);
    }

    /// Clears the pending receive interrupt. Done before draining the FIFO, a frame that
    /// arrives afterwards raises it again, so no wake-up is lost.
    pub fn ack_interrupt(&mut self) {
        self.port.regs.write(Reg::IntSts, bits::INT_RSFL);
    }

    /// Whether a frame waits in the RX FIFO (one register read): a cheap check for a loop
    /// that does other work between receives.
    pub fn rx_pending(&mut self) -> bool {
        self.port.regs.read(Reg::RxFifoInf) & 0x00ff_0000 != 0
    }

    /// Whether the PHY reports the link up.
    pub fn link_up(&mut self) -> bool {
        self.port
            .phy_read(bits::PHY_BSR)
            .is_ok_and(|bsr| bsr & bits::PHY_BSR_LINK != 0)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.port.stats
    }

    /// The register block (for a board's own use, or a test's inspection).
    pub fn registers(&mut self) -> &mut R {
        &mut self.port.regs
    }

    /// Receives the next good frame (CRC removed) into `frame`, cut to its length, and
    /// returns the bytes written; bad frames before it are drained and counted. `None`: no
    /// good frame now.
    pub fn receive(&mut self, frame: &mut [u8]) -> Option<usize> {
        self.port.receive(frame)
    }

    /// Sends `frame`; one longer than [`MAX_FRAME`] is refused and counted. The caller
    /// checks [`Lan9118::can_transmit`] first (as the smoltcp device does).
    pub fn transmit(&mut self, frame: &[u8]) {
        self.port.transmit(frame);
    }

    /// Whether the TX data FIFO has room for a frame of the largest size.
    pub fn can_transmit(&mut self) -> bool {
        self.port.can_transmit()
    }
}

impl<R: Registers> Port<R> {
    /// Reads the next good frame into `frame` (cut to its length) and returns the bytes
    /// written, CRC excluded.
    fn receive(&mut self, frame: &mut [u8]) -> Option<usize> {
        for _ in 0..RX_TRIES {
            let fill = self.regs.read(Reg::RxFifoInf);
            let statuses = (fill >> 16) & 0xff;
            let data_words = ((fill & 0xffff) / 4) as usize;
            if statuses == 0 {
                return None;
            }
            let status = RxStatus::parse(self.regs.read(Reg::RxStatus));
            if status.words() > data_words {
                // The status claims data that is not there: the FIFOs are out of step.
                self.resync();
                return None;
            }
            match status.verdict {
                Ok(()) => {
                    // Every word is read (the CRC and padding too), so the next frame
                    // starts in step; what fits in `frame` is kept.
                    let len = (status.len - CRC).min(frame.len());
                    let mut at = 0;
                    for _ in 0..status.words() {
                        let word = self.regs.read(Reg::RxData).to_le_bytes();
                        if at < len {
                            let n = (len - at).min(4);
                            frame[at..at + n].copy_from_slice(&word[..n]);
                        }
                        at += 4;
                    }
                    self.stats.rx_frames = self.stats.rx_frames.wrapping_add(1);
                    return Some(len);
                }
                Err(why) => {
                    for _ in 0..status.words() {
                        self.regs.read(Reg::RxData);
                    }
                    let counter = match why {
                        Drop::Error => &mut self.stats.rx_errors,
                        Drop::Runt => &mut self.stats.rx_runts,
                        Drop::Oversized => &mut self.stats.rx_oversized,
                    };
                    *counter = counter.wrapping_add(1);
                }
            }
        }
        None
    }

    fn can_transmit(&mut self) -> bool {
        let free = (self.regs.read(Reg::TxFifoInf) & 0xffff) as usize;
        free >= BUFFER + 8
    }

    /// Sends `frame`.
    fn transmit(&mut self, frame: &[u8]) {
        self.collect_tx_status();
        let len = frame.len();
        if len > MAX_FRAME {
            self.stats.tx_oversized = self.stats.tx_oversized.wrapping_add(1);
            return;
        }
        let len32 = len as u32;
        self.regs.write(
            Reg::TxData,
            bits::TX_CMD_A_FIRST | bits::TX_CMD_A_LAST | len32,
        );
        // Command B: the packet tag (echoed in the frame's TX status) and the length.
        self.regs.write(Reg::TxData, len32 << 16 | len32);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.regs.write(Reg::TxData, u32::from_le_bytes(word));
        }
        self.stats.tx_frames = self.stats.tx_frames.wrapping_add(1);
    }

    /// Pops the TX status words of frames sent, counting errors.
    fn collect_tx_status(&mut self) {
        let used = (self.regs.read(Reg::TxFifoInf) >> 16) & 0xff;
        for _ in 0..used {
            if self.regs.read(Reg::TxStatus) & bits::TX_STS_ERROR != 0 {
                self.stats.tx_errors = self.stats.tx_errors.wrapping_add(1);
            }
        }
    }

    /// Flushes both RX FIFOs (RX_DUMP) and counts it: every frame queued is lost, and the
    /// next one starts in step.
    fn resync(&mut self) {
        self.stats.rx_resyncs = self.stats.rx_resyncs.wrapping_add(1);
        self.regs.write(Reg::RxCfg, bits::RX_CFG_RX_DUMP);
        // The bit clears itself when the flush is done; one that never clears is tried
        // again at the next resync.
        let _ = spin(
            &mut self.regs,
            Reg::RxCfg,
            bits::RX_CFG_RX_DUMP,
            0,
            "RX dump",
        );
    }
}
