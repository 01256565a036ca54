//! WIZnet's W5500-EVB-Pico as an [`echokit_app::Board`]: a Raspberry Pi Pico's RP2040
//! (Cortex-M0+, 12 MHz crystal, 2 MiB W25Q16JV flash) with a WIZnet W5500 on SPI0.
//!
//! - Clock: the HAL's default set-up, 125 MHz system and peripheral clock.
//! - Ethernet: the W5500 in MACRAW mode (GP16 MISO, GP17 CSn, GP18 SCK, GP19 MOSI, GP20
//!   RSTn, GP21 INTn), smoltcp on top (see `nic`).
//! - Log: UART0, GP0 TX / GP1 RX, 115200 baud (see `uart`).
//! - Entropy: the ring oscillator's random bit (see `entropy`).
//! - Time: SysTick at 1 kHz (`systick_clock`).

mod entropy;
mod nic;
mod panic;
mod uart;

use rp2040_hal::clocks::{Clock, init_clocks_and_plls};
use rp2040_hal::gpio::Pins;
use rp2040_hal::pac;
use rp2040_hal::rosc::RingOscillator;
use rp2040_hal::sio::Sio;
use rp2040_hal::watchdog::Watchdog;

use echokit_app::{Board, Drops, Instant, JitterMixer};
use systick_clock as clock;

use self::nic::{InitError, Nic};
use self::uart::Uart;

/// The second-stage bootloader for the board's W25Q16JV flash (the Pico's).
#[unsafe(link_section = ".boot2")]
#[used]
pub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The W5500's station address: fixed, locally administered, unicast.
const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x55];

/// The board's crystal.
const XTAL_HZ: u32 = 12_000_000;

/// The board's parts the app uses.
pub struct Pico {
    nic: Nic,
    uart: Uart,
    /// 64 bits from the ring oscillator, taken at start-up.
    seed: u64,
}

impl Pico {
    /// Brings up the clocks, SysTick, UART0 and the W5500. Call once. A W5500 that does
    /// not answer is an error returned with the UART, to report it on.
    pub fn init() -> Result<Pico, (Uart, InitError)> {
        let (Some(mut p), Some(core)) = (pac::Peripherals::take(), cortex_m::Peripherals::take())
        else {
            // Only reachable by a second call: nothing sensible to do but stop here.
            panic!("Pico::init called twice");
        };
        let mut watchdog = Watchdog::new(p.WATCHDOG);
        let Ok(clocks) = init_clocks_and_plls(
            XTAL_HZ,
            p.XOSC,
            p.CLOCKS,
            p.PLL_SYS,
            p.PLL_USB,
            &mut p.RESETS,
            &mut watchdog,
        ) else {
            // The crystal or a PLL did not start: no clock to run a UART from.
            halt();
        };
        clock::start(core.SYST, clocks.system_clock.freq().to_Hz());
        let sio = Sio::new(p.SIO);
        let pins = Pins::new(p.IO_BANK0, p.PADS_BANK0, sio.gpio_bank0, &mut p.RESETS);
        let uart = uart::init(
            p.UART0,
            pins.gpio0,
            pins.gpio1,
            &mut p.RESETS,
            clocks.peripheral_clock.freq(),
        );
        let mut mix = JitterMixer::new();
        mix.push_u64(entropy::raw_bits(&RingOscillator::new(p.ROSC).initialize()));
        let seed = mix.finish();
        let nic = nic::init(
            nic::Pins {
                miso: pins.gpio16,
                cs: pins.gpio17,
                sck: pins.gpio18,
                mosi: pins.gpio19,
                reset: pins.gpio20,
                int: pins.gpio21,
            },
            p.SPI0,
            &mut p.RESETS,
            clocks.peripheral_clock.freq(),
            MAC,
        );
        match nic {
            Ok(nic) => Ok(Pico { nic, uart, seed }),
            Err(e) => Err((uart, e)),
        }
    }
}

impl Board for Pico {
    type Nic = nic::Frames;
    const NIC_NAME: &'static str = "w5500";

    fn mac(&self) -> [u8; 6] {
        MAC
    }

    fn nic(&mut self) -> &mut nic::Frames {
        &mut self.nic.device
    }

    /// Receives that failed (an SPI error, or a length header no frame can have: what was
    /// waiting is dropped) and frames not sent (an SPI error, or no room in the chip's
    /// transmit buffer). The W5500 itself counts nothing it drops in MACRAW mode.
    fn nic_drops(&mut self) -> Drops {
        let s = self.nic.device.stats();
        Drops {
            rx_errors: s.rx_errors,
            tx_errors: s.tx_errors,
            ..Drops::default()
        }
    }

    /// INTn low: a frame came since the last sleep cleared the chip's interrupt (a GPIO
    /// read; an SPI read of the receive size would cost microseconds). It stays low while
    /// the loop is busy, so it may say yes for a frame already read: the log then drains
    /// a little less that round.
    fn frame_waiting(&mut self) -> bool {
        self.nic.frame_signalled()
    }

    fn now(&mut self) -> Instant {
        clock::now()
    }

    fn entropy(&mut self) -> u64 {
        self.seed
    }

    fn uart_write(&mut self, bytes: &[u8]) -> usize {
        self.uart.write_some(bytes)
    }

    /// WFI until the W5500's INTn falls or the next 1 ms SysTick (when the UART refused
    /// bytes, that tick is soon enough: its 32-byte FIFO empties in 2.8 ms).
    fn sleep(&mut self, until: Instant, _uart_waiting: bool) {
        if clock::now() < until {
            nic::sleep(&mut self.nic);
        }
    }

    fn halt(&mut self) -> ! {
        halt()
    }
}

/// Stops the core for good (after a fatal error has been written).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
