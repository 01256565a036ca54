//! A software W5500 on SPI (feature `fake`, for tests on a host): the register map and
//! socket 0's 16 KiB buffers as the datasheet (v1.1.0, chapters 2 and 4) describes them,
//! enough for the `w5500` crate's MACRAW set-up and frame moves. Frames come in by
//! [`W5500::inject`] and go out into [`W5500::sent`].

extern crate std;

use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

use embedded_hal::spi::{self, ErrorKind, ErrorType, Operation, SpiDevice};

/// Socket buffer size (socket 0 gets all of it in MACRAW mode).
const BUF: usize = 16 * 1024;
/// Common register block and socket 0's blocks (the BSB field of the control byte).
const COMMON: u8 = 0;
const SOCKET0: u8 = 1;
const SOCKET0_TX: u8 = 2;
const SOCKET0_RX: u8 = 3;
/// Socket register offsets.
const SN_MR: usize = 0x00;
const SN_CR: usize = 0x01;
const SN_IR: usize = 0x02;
const SN_SR: usize = 0x03;
const SN_TX_FSR: usize = 0x20;
const SN_TX_RD: usize = 0x22;
const SN_TX_WR: usize = 0x24;
const SN_RX_RSR: usize = 0x26;
const SN_RX_RD: usize = 0x28;
const SN_RX_WR: usize = 0x2A;
/// Sn_MR's protocol field for MACRAW, Sn_SR once opened so, Sn_IR's SEND_OK bit.
const MACRAW: u8 = 0x04;
const SOCK_MACRAW: u8 = 0x42;
const SEND_OK: u8 = 0x10;

/// A failed SPI transfer (injected by [`W5500::fail_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault;

impl spi::Error for Fault {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// The chip.
pub struct W5500 {
    /// What VERSIONR reads (0x04 on a W5500).
    pub version: u8,
    common: [u8; 0x40],
    socket: [u8; 0x30],
    tx: Vec<u8>,
    rx: Vec<u8>,
    /// Frames sent, oldest first.
    pub sent: Vec<Vec<u8>>,
    /// Frames dropped for want of room in the receive buffer (as the chip drops them).
    pub overruns: usize,
    /// With the link down, SEND neither sends nor frees the transmit buffer, nor sets
    /// SEND_OK (the worst a real chip has been seen to do).
    pub link_up: bool,
    fail: usize,
}

impl Default for W5500 {
    fn default() -> Self {
        W5500 {
            version: 0x04,
            common: [0; 0x40],
            socket: [0; 0x30],
            tx: std::vec![0; BUF],
            rx: std::vec![0; BUF],
            sent: Vec::new(),
            overruns: 0,
            link_up: true,
            fail: 0,
        }
    }
}

impl W5500 {
    /// The next `n` transactions fail.
    pub fn fail_next(&mut self, n: usize) {
        self.fail = n;
    }

    /// The station address set in SHAR.
    pub fn mac(&self) -> [u8; 6] {
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.common[0x09..0x0f]);
        mac
    }

    /// Whether socket 0 is open in MACRAW mode.
    pub fn macraw_open(&self) -> bool {
        self.socket[SN_SR] == SOCK_MACRAW
    }

    /// A frame arrives from the wire: stored with its 2-byte length header (the length
    /// counts the header) if socket 0 is open and has room, else dropped and counted.
    pub fn inject(&mut self, frame: &[u8]) {
        let len = u16::try_from(frame.len() + 2).expect("a frame fits 16 KiB");
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(frame);
        self.inject_raw(&bytes);
    }

    /// Bytes arrive in the receive buffer as they are (a test's corrupt length header).
    pub fn inject_raw(&mut self, bytes: &[u8]) {
        let wr = self.reg16(SN_RX_WR);
        let used = wr.wrapping_sub(self.reg16(SN_RX_RD)) as usize;
        if !self.macraw_open() || used + bytes.len() > BUF {
            self.overruns += 1;
            return;
        }
        let mut at = wr;
        for &b in bytes {
            self.rx[usize::from(at) % BUF] = b;
            at = at.wrapping_add(1);
        }
        self.set16(SN_RX_WR, at);
    }

    /// Bytes received and not yet released by the host (Sn_RX_RSR).
    pub fn rx_waiting(&self) -> u16 {
        self.reg16(SN_RX_WR).wrapping_sub(self.reg16(SN_RX_RD))
    }

    fn reg16(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.socket[at], self.socket[at + 1]])
    }

    fn set16(&mut self, at: usize, value: u16) {
        self.socket[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    fn load(&self, block: u8, addr: u16) -> u8 {
        let a = usize::from(addr);
        match block {
            COMMON if a == 0x39 => self.version,
            COMMON => self.common.get(a).copied().unwrap_or(0),
            SOCKET0 => {
                let computed = |reg: usize, value: u16| value.to_be_bytes()[a - reg];
                match a {
                    SN_TX_FSR | 0x21 => computed(
                        SN_TX_FSR,
                        (BUF as u16)
                            .wrapping_sub(self.reg16(SN_TX_WR).wrapping_sub(self.reg16(SN_TX_RD))),
                    ),
                    SN_RX_RSR | 0x27 => computed(SN_RX_RSR, self.rx_waiting()),
                    _ => self.socket.get(a).copied().unwrap_or(0),
                }
            }
            SOCKET0_RX => self.rx[a % BUF],
            SOCKET0_TX => self.tx[a % BUF],
            _ => 0, // other sockets: sizes set to 0, never used
        }
    }

    fn store(&mut self, block: u8, addr: u16, value: u8) {
        let a = usize::from(addr);
        match block {
            COMMON if a == 0 && value & 0x80 != 0 => {
                // MR.RST: every register back to its reset value (the bit clears itself).
                let version = self.version;
                *self = W5500 {
                    version,
                    sent: core::mem::take(&mut self.sent),
                    link_up: self.link_up,
                    ..W5500::default()
                };
            }
            COMMON => {
                if let Some(r) = self.common.get_mut(a) {
                    *r = value;
                }
            }
            SOCKET0 => match a {
                SN_CR => self.command(value),
                SN_IR => self.socket[SN_IR] &= !value,
                SN_SR | SN_TX_FSR | 0x21 | SN_TX_RD | 0x23 | SN_RX_RSR | 0x27 | SN_RX_WR | 0x2B => {
                } // read-only
                _ => {
                    if let Some(r) = self.socket.get_mut(a) {
                        *r = value;
                    }
                }
            },
            SOCKET0_TX => self.tx[a % BUF] = value,
            _ => {}
        }
    }

    fn command(&mut self, command: u8) {
        match command {
            0x01 if self.socket[SN_MR] & 0x0f == MACRAW => self.socket[SN_SR] = SOCK_MACRAW,
            0x20 if self.macraw_open() && self.link_up => {
                let (rd, wr) = (self.reg16(SN_TX_RD), self.reg16(SN_TX_WR));
                let frame = (0..wr.wrapping_sub(rd))
                    .map(|i| self.tx[usize::from(rd.wrapping_add(i)) % BUF])
                    .collect();
                self.sent.push(frame);
                self.set16(SN_TX_RD, wr);
                self.socket[SN_IR] |= SEND_OK;
            }
            0x40 => {} // RECV: Sn_RX_RD as written is where the chip stores from
            _ => {}
        }
    }
}

impl ErrorType for W5500 {
    type Error = Fault;
}

impl SpiDevice for W5500 {
    /// One framed access (datasheet 2.2): a 16-bit address, a control byte (block, read or
    /// write, variable length), then data, the address counting up per byte.
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Fault> {
        if self.fail > 0 {
            self.fail -= 1;
            return Err(Fault);
        }
        let mut header = Vec::new();
        let mut addr = 0u16;
        let mut control = 0u8;
        for op in operations.iter_mut() {
            let data: &mut dyn Iterator<Item = &mut u8> = match op {
                Operation::Write(bytes) => {
                    let mut bytes = bytes.iter();
                    while header.len() < 3 {
                        let Some(&b) = bytes.next() else { break };
                        header.push(b);
                        if header.len() == 3 {
                            addr = u16::from_be_bytes([header[0], header[1]]);
                            control = header[2];
                        }
                    }
                    for &b in bytes {
                        assert!(control & 0x04 != 0, "data written in a read frame");
                        self.store(control >> 3, addr, b);
                        addr = addr.wrapping_add(1);
                    }
                    continue;
                }
                Operation::Read(buf) | Operation::TransferInPlace(buf) => &mut buf.iter_mut(),
                Operation::Transfer(..) | Operation::DelayNs(_) => {
                    panic!("the w5500 crate uses only writes and in-place transfers")
                }
            };
            assert_eq!(
                header.len(),
                3,
                "data before the address and control phases"
            );
            assert!(control & 0x04 == 0, "data read in a write frame");
            for b in data {
                *b = self.load(control >> 3, addr);
                addr = addr.wrapping_add(1);
            }
        }
        Ok(())
    }
}

/// The chip shared between the driver (as its SPI device) and a test, which injects frames
/// and looks at what was sent while the driver owns the device.
#[derive(Clone, Default)]
pub struct Shared(Rc<RefCell<W5500>>);

impl Shared {
    pub fn new(chip: W5500) -> Self {
        Shared(Rc::new(RefCell::new(chip)))
    }

    /// Runs `f` on the chip.
    pub fn with<R>(&self, f: impl FnOnce(&mut W5500) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

impl ErrorType for Shared {
    type Error = Fault;
}

impl SpiDevice for Shared {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Fault> {
        self.0.borrow_mut().transaction(operations)
    }
}
