//! The W5500 in MACRAW mode (socket 0 with all 16 KiB each way, MAC filtering on) as a
//! [`FrameDevice`]: smoltcp does ARP, IP, TCP and UDP; the chip only moves Ethernet frames.
//!
//! The SPI framing and the register map are the `w5500` crate's (`FourWire`, `register`).
//! Its MACRAW `RawDevice` is not used: after each frame it sent it waits for SEND_OK with
//! no bound, and that bit can stay clear (other W5500 drivers have hung there with the
//! cable out or under load: esp-idf #6233, WIZnet ioLibrary_Driver #168); it reads the
//! receive size once where the datasheet asks for two equal reads, and panics on a short
//! length header. [`Macraw`] waits only for the chip to take a command (bounded), checks
//! room before writing a frame, and drops a receive buffer whose length header is
//! impossible, counting it.

use core::fmt;

use embedded_hal::spi::SpiDevice;
use w5500::bus::{Bus, FourWire};
use w5500::register::{self, common, socketn};

use crate::MAX_FRAME;
use crate::frames::{FrameDevice, RawFrames};

/// What the W5500's VERSIONR register reads (datasheet 3.1: always 0x04).
pub const CHIP_VERSION: u8 = 0x04;
/// Socket 0's register block and its buffers' blocks (datasheet 2.2.2).
const S0: u8 = 0b0_0001;
const S0_TX: u8 = register::SOCKET0_BUFFER_TX;
const S0_RX: u8 = register::SOCKET0_BUFFER_RX;
/// Sn_MR: MACRAW with the MAC filter (only frames to our address, broadcast, multicast).
const MODE_MACRAW_FILTERED: u8 = 0x80 | socketn::Protocol::MacRaw as u8;
/// Sn_SR once socket 0 is open in MACRAW mode.
const SOCK_MACRAW: u8 = 0x42;
/// Reads of a register that must settle (a command taking effect, a size read twice).
const TRIES: u32 = 100;

/// The NIC of a W5500 on SPI device `S`.
pub type Nic<S> = FrameDevice<Macraw<FourWire<S>>>;

/// Why the W5500 did not come up, or a frame did not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// The SPI transfer failed.
    Spi(E),
    /// VERSIONR did not read 0x04: no W5500 answers on this SPI bus and chip select (0x00
    /// or 0xff: nothing there, or it is still in reset).
    NotAW5500 { version: u8 },
    /// The chip did not take a command, or socket 0 did not open in MACRAW mode.
    Stuck,
    /// The receive buffer held a length header no frame can have; what was waiting was
    /// dropped.
    BadLength { header: u16, waiting: u16 },
}

/// Why the W5500 did not come up.
pub type InitError<E> = Error<E>;

impl<E> From<E> for Error<E> {
    fn from(e: E) -> Self {
        Error::Spi(e)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Spi(e) => write!(f, "W5500: SPI transfer failed: {e:?}"),
            Error::NotAW5500 { version } => write!(
                f,
                "no W5500 on SPI: its version register reads {version:#04x}, not {CHIP_VERSION:#04x}"
            ),
            Error::Stuck => write!(f, "W5500: socket 0 did not open in MACRAW mode"),
            Error::BadLength { header, waiting } => write!(
                f,
                "W5500: a frame length of {header} with {waiting} bytes received"
            ),
        }
    }
}

/// Socket 0 of a W5500 in MACRAW mode, over the bus `B`.
pub struct Macraw<B> {
    bus: B,
}

/// Checks that a W5500 answers on `spi`, resets it by software and opens socket 0 in
/// MACRAW mode with station address `mac`, its receive interrupt on INTn. The board resets
/// the chip by its RSTn pin and waits for its PLL (1 ms) before.
pub fn init<S: SpiDevice>(spi: S, mac: [u8; 6]) -> Result<Nic<S>, Error<S::Error>> {
    Ok(FrameDevice::new(Macraw::init(FourWire::new(spi), mac)?))
}

impl<B: Bus> Macraw<B> {
    /// See [`init`].
    pub fn init(mut bus: B, mac: [u8; 6]) -> Result<Self, Error<B::Error>> {
        let mut version = [0];
        bus.read_frame(register::COMMON, common::VERSION, &mut version)?;
        if version[0] != CHIP_VERSION {
            return Err(Error::NotAW5500 {
                version: version[0],
            });
        }
        let mut chip = Macraw { bus };
        // MR.RST: every register to its reset value; the bit clears itself when done.
        chip.write(register::COMMON, common::MODE, &[0x80])?;
        chip.settle(register::COMMON, common::MODE, |mr| mr & 0x80 == 0)?;
        chip.write(register::COMMON, common::MAC, &mac)?;
        for socket in 0..8u8 {
            let size = if socket == 0 { 16 } else { 0 };
            let block = socket * 4 + 1;
            chip.write(block, socketn::RXBUF_SIZE, &[size])?;
            chip.write(block, socketn::TXBUF_SIZE, &[size])?;
        }
        chip.write(
            S0,
            socketn::INTERRUPT_MASK,
            &[socketn::Interrupt::Receive as u8],
        )?;
        chip.write(register::COMMON, common::SOCKET_INTERRUPT_MASK, &[1])?;
        chip.write(S0, socketn::MODE, &[MODE_MACRAW_FILTERED])?;
        chip.command(socketn::Command::Open)?;
        chip.settle(S0, socketn::STATUS, |sr| sr == SOCK_MACRAW)?;
        Ok(chip)
    }

    /// Clears socket 0's interrupts, releasing INTn (the chip holds it low until then).
    pub fn clear_interrupts(&mut self) -> Result<(), B::Error> {
        self.bus.write_frame(S0, socketn::INTERRUPT, &[0xff])
    }

    /// The bus (for a test's inspection).
    pub fn bus(&mut self) -> &mut B {
        &mut self.bus
    }

    fn write(&mut self, block: u8, addr: u16, data: &[u8]) -> Result<(), Error<B::Error>> {
        Ok(self.bus.write_frame(block, addr, data)?)
    }

    fn read16(&mut self, addr: u16) -> Result<u16, Error<B::Error>> {
        let mut b = [0; 2];
        self.bus.read_frame(S0, addr, &mut b)?;
        Ok(u16::from_be_bytes(b))
    }

    /// A 16-bit size register the chip updates as it goes: read until two reads agree
    /// (datasheet 4.2, Sn_TX_FSR and Sn_RX_RSR).
    fn size(&mut self, addr: u16) -> Result<u16, Error<B::Error>> {
        let mut last = self.read16(addr)?;
        for _ in 0..TRIES {
            let now = self.read16(addr)?;
            if now == last {
                return Ok(now);
            }
            last = now;
        }
        Err(Error::Stuck)
    }

    /// Reads `addr` until `done` holds, a bounded number of times.
    fn settle(
        &mut self,
        block: u8,
        addr: u16,
        done: impl Fn(u8) -> bool,
    ) -> Result<(), Error<B::Error>> {
        let mut value = [0];
        for _ in 0..TRIES {
            self.bus.read_frame(block, addr, &mut value)?;
            if done(value[0]) {
                return Ok(());
            }
        }
        Err(Error::Stuck)
    }

    /// Gives socket 0 a command and waits until the chip took it (Sn_CR reads 0 again).
    fn command(&mut self, command: socketn::Command) -> Result<(), Error<B::Error>> {
        self.write(S0, socketn::COMMAND, &[command as u8])?;
        self.settle(S0, socketn::COMMAND, |cr| cr == 0)
    }
}

impl<B: Bus> RawFrames for Macraw<B> {
    type Error = Error<B::Error>;

    /// Each frame in the receive buffer follows a 2-byte big-endian length that counts
    /// itself (datasheet 4.2, MACRAW).
    fn read_frame(&mut self, frame: &mut [u8]) -> Result<usize, Self::Error> {
        let waiting = self.size(socketn::RECEIVED_SIZE)?;
        if waiting == 0 {
            return Ok(0);
        }
        let at = self.read16(socketn::RX_DATA_READ_POINTER)?;
        let mut header = [0; 2];
        if waiting >= 2 {
            self.bus.read_frame(S0_RX, at, &mut header)?;
        }
        let len = u16::from_be_bytes(header);
        // A header shorter than itself plus an Ethernet header, longer than itself plus
        // the longest frame, or longer than what was received: the buffer is out of step;
        // drop all of it rather than guess.
        if waiting < 2 || len < 2 + 14 || usize::from(len) > 2 + MAX_FRAME || len > waiting {
            self.write(
                S0,
                socketn::RX_DATA_READ_POINTER,
                &at.wrapping_add(waiting).to_be_bytes(),
            )?;
            self.command(socketn::Command::Receive)?;
            return Err(Error::BadLength {
                header: len,
                waiting,
            });
        }
        let body = usize::from(len - 2);
        let n = body.min(frame.len());
        self.bus
            .read_frame(S0_RX, at.wrapping_add(2), &mut frame[..n])?;
        self.write(
            S0,
            socketn::RX_DATA_READ_POINTER,
            &at.wrapping_add(len).to_be_bytes(),
        )?;
        self.command(socketn::Command::Receive)?;
        Ok(n)
    }

    /// Sends `frame` if the transmit buffer has room for it, else sends nothing (`Ok(0)`):
    /// with the cable out the chip may stop emptying it, and the loop must go on.
    fn write_frame(&mut self, frame: &[u8]) -> Result<usize, Self::Error> {
        let Ok(len) = u16::try_from(frame.len()) else {
            return Ok(0);
        };
        if self.size(socketn::TX_FREE_SIZE)? < len {
            return Ok(0);
        }
        let at = self.read16(socketn::TX_DATA_WRITE_POINTER)?;
        self.bus.write_frame(S0_TX, at, frame)?;
        self.write(
            S0,
            socketn::TX_DATA_WRITE_POINTER,
            &at.wrapping_add(len).to_be_bytes(),
        )?;
        self.command(socketn::Command::Send)?;
        Ok(frame.len())
    }
}

/// Clears socket 0's interrupts, releasing INTn (the chip holds it low until then).
pub fn clear_interrupts<S: SpiDevice>(nic: &mut Nic<S>) -> Result<(), S::Error> {
    nic.nic().clear_interrupts()
}
