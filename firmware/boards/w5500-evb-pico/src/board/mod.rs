//! Everything specific to WIZnet's W5500-EVB-Pico: a Raspberry Pi Pico's RP2040
//! (Cortex-M0+, 12 MHz crystal, 2 MiB W25Q16JV flash) with a WIZnet W5500 on SPI0.
//!
//! - Clock: the HAL's default set-up, 125 MHz system and peripheral clock.
//! - Ethernet: the W5500 in MACRAW mode (GP16 MISO, GP17 CSn, GP18 SCK, GP19 MOSI, GP20
//!   RSTn, GP21 INTn), smoltcp on top (see `nic`).
//! - Log: UART0, GP0 TX / GP1 RX, 115200 baud (see `uart`).
//! - Entropy: the ring oscillator's random bit (see `entropy`).
//! - Time: SysTick at 1 kHz.

mod clock;
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

pub use self::clock::now_ms;
pub use self::nic::{InitError, Nic};
pub use self::uart::Uart;

/// The second-stage bootloader for the board's W25Q16JV flash (the Pico's).
#[unsafe(link_section = ".boot2")]
#[used]
pub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The W5500's station address: fixed, locally administered, unicast.
pub const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x55];

/// The board's crystal.
const XTAL_HZ: u32 = 12_000_000;

/// What `init` brings up.
pub struct Board {
    pub nic: Nic,
    pub uart: Uart,
    /// 64 bits from the ring oscillator, for smoltcp's `random_seed`.
    pub seed: u64,
}

/// Brings up the clocks, SysTick, UART0 and the W5500. Call once. A W5500 that does not
/// answer is an error returned with the UART, to report it on.
pub fn init() -> Result<Board, (Uart, InitError)> {
    let (Some(mut p), Some(core)) = (pac::Peripherals::take(), cortex_m::Peripherals::take())
    else {
        // Only reachable by a second call: nothing sensible to do but stop here.
        panic!("board::init called twice");
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
    let seed = entropy::seed(&RingOscillator::new(p.ROSC).initialize());
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
        Ok(nic) => Ok(Board { nic, uart, seed }),
        Err(e) => Err((uart, e)),
    }
}

/// Sleeps until the W5500 signals a frame or the next clock tick (1 ms).
pub fn sleep(nic: &mut Nic) {
    nic::sleep(nic);
}

/// Stops the core for good (after a fatal error has been written).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
