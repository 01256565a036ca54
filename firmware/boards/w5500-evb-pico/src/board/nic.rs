//! The W5500 on SPI0 as a smoltcp device: `nic_adapters::w5500` (socket 0 in MACRAW mode
//! under a frame device) over the HAL's SPI, and the chip's INTn line to wake the core
//! when a frame comes.

use cortex_m::peripheral::NVIC;
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal_bus::spi::{DeviceError, ExclusiveDevice, NoDelay};
use rp2040_hal::fugit::{HertzU32, RateExtU32};
use rp2040_hal::gpio::bank0::{Gpio16, Gpio17, Gpio18, Gpio19, Gpio20, Gpio21};
use rp2040_hal::gpio::{
    FunctionNull, FunctionSio, FunctionSpi, Interrupt, Pin, PullDown, PullUp, SioInput, SioOutput,
};
use rp2040_hal::pac::{self, interrupt};
use rp2040_hal::spi::{Enabled, Spi};

/// SPI clock: the peripheral clock / 4. The W5500 is specified to 33.3 MHz (datasheet
/// 5.5.1); the RP2040's SPI reaches half its peripheral clock.
const SPI_HZ: u32 = 31_250_000;

type SpiPins = (
    Pin<Gpio19, FunctionSpi, PullDown>,
    Pin<Gpio16, FunctionSpi, PullDown>,
    Pin<Gpio18, FunctionSpi, PullDown>,
);
type Bus = Spi<Enabled, pac::SPI0, SpiPins, 8>;
type ChipSelect = Pin<Gpio17, FunctionSio<SioOutput>, PullDown>;
type Device = ExclusiveDevice<Bus, ChipSelect, NoDelay>;
/// The W5500's frames as smoltcp sees them.
pub type Frames = nic_adapters::w5500::Nic<Device>;
type IntPin = Pin<Gpio21, FunctionSio<SioInput>, PullUp>;

/// Why the W5500 did not come up.
pub type InitError = nic_adapters::w5500::InitError<
    DeviceError<core::convert::Infallible, core::convert::Infallible>,
>;

/// The board's NIC: the W5500's frames, and its interrupt line.
pub struct Nic {
    pub device: Frames,
    int: IntPin,
    _reset: Pin<Gpio20, FunctionSio<SioOutput>, PullDown>,
}

/// The W5500's pins on the board (GP16..GP21).
pub struct Pins {
    pub miso: Pin<Gpio16, FunctionNull, PullDown>,
    pub cs: Pin<Gpio17, FunctionNull, PullDown>,
    pub sck: Pin<Gpio18, FunctionNull, PullDown>,
    pub mosi: Pin<Gpio19, FunctionNull, PullDown>,
    pub reset: Pin<Gpio20, FunctionNull, PullDown>,
    pub int: Pin<Gpio21, FunctionNull, PullDown>,
}

/// Resets the W5500 by its RSTn pin, then opens its MACRAW socket with station address
/// `mac` and its receive interrupt on INTn.
pub fn init(
    pins: Pins,
    spi0: pac::SPI0,
    resets: &mut pac::RESETS,
    peripheral_hz: HertzU32,
    mac: [u8; 6],
) -> Result<Nic, InitError> {
    let mut reset = pins.reset.into_push_pull_output();
    let mut cs = pins.cs.into_push_pull_output();
    // Infallible on the RP2040.
    let _ = cs.set_high();
    let spi_pins = (
        pins.mosi.into_function(),
        pins.miso.into_function(),
        pins.sck.into_function(),
    );
    let bus = Spi::<_, _, _, 8>::new(spi0, spi_pins).init(
        resets,
        peripheral_hz,
        SPI_HZ.Hz(),
        embedded_hal::spi::MODE_0,
    );
    // RSTn low for at least 500 us, then the chip's PLL locks within 1 ms (datasheet 5.5.1);
    // give it 50 ms, as WIZnet's own drivers do.
    let _ = reset.set_low();
    cortex_m::asm::delay(peripheral_hz.to_Hz() / 1000);
    let _ = reset.set_high();
    cortex_m::asm::delay(peripheral_hz.to_Hz() / 20);
    // The HAL's SPI and pins cannot fail; the error type says so.
    let Ok(spi) = ExclusiveDevice::new_no_delay(bus, cs);
    // Opens socket 0 with its receive interrupt on INTn.
    let device = nic_adapters::w5500::init(spi, mac)?;
    let int = pins.int.into_pull_up_input();
    int.set_interrupt_enabled(Interrupt::EdgeLow, true);
    Ok(Nic {
        device,
        int,
        _reset: reset,
    })
}

impl Nic {
    /// Whether INTn is low: a received frame was signalled since the last [`sleep`].
    pub fn frame_signalled(&mut self) -> bool {
        self.int.is_low().unwrap_or(false)
    }
}

/// Sleeps until INTn falls (a frame came) or the next clock tick (1 ms).
///
/// The W5500 holds INTn low until its socket interrupt is cleared, so that is cleared
/// first; a frame that arrived between the loop's last read and the clear waits for the
/// tick at most.
pub fn sleep(nic: &mut Nic) {
    let _ = nic_adapters::w5500::clear_interrupts(&mut nic.device);
    nic.int.clear_interrupt(Interrupt::EdgeLow);
    cortex_m::interrupt::free(|_| {
        if nic.int.is_low().unwrap_or(true) {
            return; // a frame since the clear
        }
        // With interrupts masked, WFI still wakes on a pending one; the handler runs when
        // the mask lifts.
        NVIC::unpend(pac::Interrupt::IO_IRQ_BANK0);
        // Safety: unmasking the GPIO interrupt; its handler only masks it again.
        unsafe { NVIC::unmask(pac::Interrupt::IO_IRQ_BANK0) };
        cortex_m::asm::wfi();
    });
}

/// INTn fell: mask the interrupt so the main loop runs (it clears and unmasks it before
/// sleeping again).
#[interrupt]
fn IO_IRQ_BANK0() {
    NVIC::mask(pac::Interrupt::IO_IRQ_BANK0);
}
