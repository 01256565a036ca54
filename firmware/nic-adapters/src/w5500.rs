//! The W5500 in MACRAW mode (socket 0 with all 16 KiB each way, MAC filtering on) through
//! the `w5500` crate's `RawDevice`, as a [`FrameDevice`]: smoltcp does ARP, IP, TCP and UDP;
//! the chip only moves Ethernet frames.

use core::fmt;

use embedded_hal::spi::SpiDevice;
use w5500::bus::{Bus, FourWire};
use w5500::raw_device::RawDevice;
use w5500::register;
use w5500::{InitializeError, MacAddress, UninitializedDevice};

use crate::frames::{FrameDevice, RawFrames};

/// What the W5500's VERSIONR register reads (datasheet 3.1: always 0x04).
pub const CHIP_VERSION: u8 = 0x04;

/// The NIC of a W5500 on SPI device `S`.
pub type Nic<S> = FrameDevice<RawDevice<FourWire<S>>>;

/// Why the W5500 did not come up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError<E> {
    /// The SPI transfer failed.
    Spi(E),
    /// VERSIONR did not read 0x04: no W5500 answers on this SPI bus and chip select (0x00
    /// or 0xff: nothing there, or it is still in reset).
    NotAW5500 { version: u8 },
}

impl<E: fmt::Debug> fmt::Display for InitError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Spi(e) => write!(f, "W5500: SPI transfer failed: {e:?}"),
            InitError::NotAW5500 { version } => write!(
                f,
                "no W5500 on SPI: its version register reads {version:#04x}, not {CHIP_VERSION:#04x}"
            ),
        }
    }
}

/// Checks that a W5500 answers on `spi`, resets it by software and opens socket 0 in
/// MACRAW mode with station address `mac`. The board resets the chip by its RSTn pin
/// and waits for its PLL (1 ms) before.
pub fn init<S: SpiDevice>(spi: S, mac: [u8; 6]) -> Result<Nic<S>, InitError<S::Error>> {
    let mut bus = FourWire::new(spi);
    let mut version = [0];
    bus.read_frame(register::COMMON, register::common::VERSION, &mut version)
        .map_err(InitError::Spi)?;
    if version[0] != CHIP_VERSION {
        return Err(InitError::NotAW5500 {
            version: version[0],
        });
    }
    let raw = UninitializedDevice::new(bus)
        .initialize_macraw(MacAddress { octets: mac })
        .map_err(|e| match e {
            InitializeError::SpiError(e) => InitError::Spi(e),
            // Only the non-raw set-up checks the chip; the version check above did.
            InitializeError::ChipNotConnected => InitError::NotAW5500 { version: 0 },
        })?;
    Ok(FrameDevice::new(raw))
}

/// Drives the chip's INTn line low when a frame has come (socket 0's RECV interrupt), so
/// a board can sleep until then.
pub fn enable_receive_interrupt<S: SpiDevice>(nic: &mut Nic<S>) -> Result<(), S::Error> {
    nic.nic()
        .enable_interrupts(register::socketn::Interrupt::Receive as u8)
}

/// Clears socket 0's interrupts, releasing INTn (the chip holds it low until then).
pub fn clear_interrupts<S: SpiDevice>(nic: &mut Nic<S>) -> Result<(), S::Error> {
    nic.nic().clear_interrupts()
}

impl<B: Bus> RawFrames for RawDevice<B> {
    type Error = B::Error;

    fn read_frame(&mut self, frame: &mut [u8]) -> Result<usize, B::Error> {
        RawDevice::read_frame(self, frame)
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<usize, B::Error> {
        RawDevice::write_frame(self, frame)
    }
}
