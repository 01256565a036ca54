//! A software LAN9118 for host tests and fuzzing: the FIFOs, the MAC CSR and MII ports and
//! the reset bits, behaving as QEMU's `hw/net/lan9118.c` does (FIFO sizes included), so the
//! driver's logic is checked without hardware.
//!
//! Frames "from the wire" go in with [`Chip::push_frame`] (exactly as the model stores
//! them: length with CRC in the status word, bytes then CRC in little-endian words) or,
//! for the cases hardware gets wrong, [`Chip::push_raw`] with any status word and data.

use crate::regs::bits;
use crate::{Reg, Registers};

/// RX data FIFO capacity in words (QEMU: 2640).
pub const RX_DATA_WORDS: usize = 2640;
/// RX status FIFO capacity (QEMU: 176).
pub const RX_STATUSES: usize = 176;
/// Frames the fake keeps of what the driver sent.
pub const TX_KEPT: usize = 8;

/// A fixed-capacity FIFO of words.
#[derive(Debug)]
struct Fifo<const N: usize> {
    words: [u32; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Fifo<N> {
    const fn new() -> Self {
        Fifo {
            words: [0; N],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, word: u32) -> bool {
        if self.len == N {
            return false;
        }
        self.words[(self.head + self.len) % N] = word;
        self.len += 1;
        true
    }

    fn pop(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let word = self.words[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(word)
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// A frame the driver sent, as the fake's TX side assembled it.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// The frame's bytes (the first `len`).
    pub bytes: [u8; 2048],
    /// Its length from command A.
    pub len: usize,
}

/// The fake controller.
#[derive(Debug)]
pub struct Chip {
    rx_status: Fifo<RX_STATUSES>,
    rx_data: Fifo<RX_DATA_WORDS>,
    tx_status: Fifo<64>,
    /// RX data reads with the FIFO empty (QEMU returns 0 and flags RXE).
    pub underflows: u32,
    /// Frames the driver sent, oldest first, at most [`TX_KEPT`].
    pub sent: [Option<Sent>; TX_KEPT],
    tx_frame: Option<Sent>,
    tx_words_left: usize,
    tx_state: TxState,
    mac: [u32; 16],
    mac_cmd: u32,
    mac_data: u32,
    phy: [u32; 32],
    rx_cfg: u32,
    int_sts: u32,
    int_en: u32,
    irq_cfg: u32,
    /// Registers the fake does not model were accessed (a driver bug, checked by tests).
    pub unexpected: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    CmdA,
    CmdB,
    Data,
}

impl Default for Chip {
    fn default() -> Self {
        Self::new()
    }
}

impl Chip {
    /// A controller just out of reset, link up.
    pub fn new() -> Self {
        let mut phy = [0; 32];
        phy[bits::PHY_BSR as usize] = 0x7809 | 0x24;
        Chip {
            rx_status: Fifo::new(),
            rx_data: Fifo::new(),
            tx_status: Fifo::new(),
            underflows: 0,
            sent: [None; TX_KEPT],
            tx_frame: None,
            tx_words_left: 0,
            tx_state: TxState::CmdA,
            mac: [0; 16],
            mac_cmd: 0,
            mac_data: 0,
            phy,
            rx_cfg: 0,
            int_sts: 0,
            int_en: 0,
            irq_cfg: 0,
            unexpected: 0,
        }
    }

    /// Receives `frame` from the wire as QEMU's model does: refused (false) when shorter
    /// than 14 or not shorter than 2048 bytes, or when either FIFO lacks room.
    pub fn push_frame(&mut self, frame: &[u8]) -> bool {
        if frame.len() < 14 || frame.len() >= 2048 {
            return false;
        }
        let len = frame.len() + 4;
        let mut status = (len as u32) << 16;
        if frame[..6] == [0xff; 6] {
            status |= 1 << 13;
        } else if frame[0] & 1 != 0 {
            status |= 1 << 10;
        }
        let crc = crc32(frame).to_le_bytes();
        let mut words = [0u32; 2052 / 4];
        let n = len.div_ceil(4);
        for (i, word) in words[..n].iter_mut().enumerate() {
            let mut b = [0u8; 4];
            for (j, byte) in b.iter_mut().enumerate() {
                let at = i * 4 + j;
                *byte = match at {
                    _ if at < frame.len() => frame[at],
                    _ if at < len => crc[at - frame.len()],
                    _ => 0,
                };
            }
            *word = u32::from_le_bytes(b);
        }
        self.push_raw(status, &words[..n])
    }

    /// Queues any status word with any data words, as a faulty controller or bus might:
    /// false (nothing queued) when either FIFO lacks room.
    pub fn push_raw(&mut self, status: u32, words: &[u32]) -> bool {
        if self.rx_status.len == RX_STATUSES || RX_DATA_WORDS - self.rx_data.len < words.len() {
            return false;
        }
        for &w in words {
            self.rx_data.push(w);
        }
        self.rx_status.push(status);
        self.int_sts |= bits::INT_RSFL;
        true
    }

    /// Status words queued.
    pub fn rx_statuses(&self) -> usize {
        self.rx_status.len
    }

    /// Data words queued.
    pub fn rx_words(&self) -> usize {
        self.rx_data.len
    }

    /// Whether the interrupt line is raised (enabled, pending and the pin enabled).
    pub fn irq_line(&self) -> bool {
        self.irq_cfg & bits::IRQ_CFG_EN != 0 && self.int_sts & self.int_en != 0
    }

    /// The MAC address the driver programmed.
    pub fn mac_address(&self) -> [u8; 6] {
        let l = self.mac[bits::MAC_ADDRL as usize].to_le_bytes();
        let h = self.mac[bits::MAC_ADDRH as usize].to_le_bytes();
        [l[0], l[1], l[2], l[3], h[0], h[1]]
    }

    /// The MAC control register the driver programmed.
    pub fn mac_cr(&self) -> u32 {
        self.mac[bits::MAC_CR as usize]
    }

    fn mac_access(&mut self, cmd: u32) {
        self.mac_cmd = cmd & !bits::MAC_CSR_BUSY;
        if cmd & bits::MAC_CSR_BUSY == 0 {
            return;
        }
        let index = (cmd & 0xf) as usize;
        if cmd & bits::MAC_CSR_READ != 0 {
            self.mac_data = self.mac[index];
            return;
        }
        self.mac[index] = self.mac_data;
        if index == bits::MAC_MII_ACC as usize {
            let reg = ((self.mac_data >> 6) & 0x1f) as usize;
            if self.mac_data & bits::MII_WRITE != 0 {
                // A PHY reset completes at once, as in QEMU.
                self.phy[reg] = self.mac[bits::MAC_MII_DATA as usize] & !bits::PHY_BCR_RESET;
            } else {
                self.mac[bits::MAC_MII_DATA as usize] = self.phy[reg];
            }
            self.mac[index] &= !bits::MII_BUSY;
        }
    }

    fn tx_push(&mut self, word: u32) {
        match self.tx_state {
            TxState::CmdA => {
                let len = (word & 0x7ff) as usize;
                self.tx_frame = Some(Sent {
                    bytes: [0; 2048],
                    len,
                });
                self.tx_words_left = len.div_ceil(4);
                self.tx_state = TxState::CmdB;
            }
            TxState::CmdB => {
                self.tx_state = TxState::Data;
                if self.tx_words_left == 0 {
                    self.finish_tx();
                }
            }
            TxState::Data => {
                if let Some(frame) = &mut self.tx_frame {
                    let at = (frame.len.div_ceil(4) - self.tx_words_left) * 4;
                    frame.bytes[at..at + 4].copy_from_slice(&word.to_le_bytes());
                }
                self.tx_words_left -= 1;
                if self.tx_words_left == 0 {
                    self.finish_tx();
                }
            }
        }
    }

    fn finish_tx(&mut self) {
        if let Some(frame) = self.tx_frame.take() {
            self.sent.rotate_left(1);
            self.sent[TX_KEPT - 1] = Some(frame);
            self.tx_status.push((frame.len as u32) << 16);
        }
        self.tx_state = TxState::CmdA;
    }
}

impl Registers for Chip {
    fn read(&mut self, reg: Reg) -> u32 {
        match reg {
            Reg::RxData => self.rx_data.pop().unwrap_or_else(|| {
                self.underflows += 1;
                0
            }),
            Reg::RxStatus => self.rx_status.pop().unwrap_or(0),
            Reg::TxStatus => self.tx_status.pop().unwrap_or(0),
            Reg::IdRev => 0x0118_0001,
            Reg::IrqCfg => self.irq_cfg,
            Reg::IntSts => self.int_sts,
            Reg::IntEn => self.int_en,
            Reg::ByteTest => bits::BYTE_TEST,
            Reg::FifoInt => 0x4800_0000,
            Reg::RxCfg => self.rx_cfg,
            Reg::TxCfg | Reg::HwCfg => 0,
            Reg::RxFifoInf => {
                ((self.rx_status.len as u32) << 16) | ((self.rx_data.len as u32) << 2)
            }
            Reg::TxFifoInf => ((self.tx_status.len as u32) << 16) | 4608,
            Reg::PmtCtrl => bits::PMT_CTRL_READY,
            Reg::MacCsrCmd => self.mac_cmd,
            Reg::MacCsrData => self.mac_data,
            Reg::TxData => {
                self.unexpected += 1;
                0
            }
        }
    }

    fn write(&mut self, reg: Reg, value: u32) {
        match reg {
            Reg::TxData => self.tx_push(value),
            Reg::RxCfg => {
                if value & bits::RX_CFG_RX_DUMP != 0 {
                    self.rx_data.clear();
                    self.rx_status.clear();
                }
                self.rx_cfg = value & !bits::RX_CFG_RX_DUMP;
            }
            Reg::HwCfg => {
                if value & bits::HW_CFG_SRST != 0 {
                    *self = Chip::new();
                }
            }
            Reg::IntSts => self.int_sts &= !value,
            Reg::IntEn => self.int_en = value,
            Reg::IrqCfg => self.irq_cfg = value,
            Reg::MacCsrCmd => self.mac_access(value),
            Reg::MacCsrData => self.mac_data = value,
            Reg::TxCfg | Reg::FifoInt | Reg::PmtCtrl => {}
            Reg::RxData
            | Reg::RxStatus
            | Reg::TxStatus
            | Reg::IdRev
            | Reg::ByteTest
            | Reg::RxFifoInf
            | Reg::TxFifoInf => self.unexpected += 1,
        }
    }
}

/// The Ethernet CRC-32 (IEEE 802.3), bit by bit: only the fake needs it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
