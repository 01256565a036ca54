//! UART0 (GP0 TX, GP1 RX), 115200 baud 8N1: the log's serial port (a USB-serial adapter on
//! GP0/GP1, or a Raspberry Pi Debug Probe).
//!
//! A write never waits: it puts what fits into the PL011's 32-byte transmit FIFO and says
//! how much it took; the loop offers the rest again after each round (at least once a
//! millisecond: 32 KB/s of room for a line that takes 11.5 KB/s).

use core::fmt;

use rp2040_hal::fugit::{HertzU32, RateExtU32};
use rp2040_hal::gpio::bank0::{Gpio0, Gpio1};
use rp2040_hal::gpio::{FunctionUart, Pin, PullDown};
use rp2040_hal::pac;
use rp2040_hal::uart::{DataBits, Enabled, StopBits, UartConfig, UartPeripheral};

/// Baud rate of the log.
pub const BAUD: u32 = 115_200;

type Pins = (
    Pin<Gpio0, FunctionUart, PullDown>,
    Pin<Gpio1, FunctionUart, PullDown>,
);

/// The transmit side of UART0.
pub struct Uart(UartPeripheral<Enabled, pac::UART0, Pins>);

/// Sets UART0 up on GP0/GP1.
pub fn init(
    uart0: pac::UART0,
    tx: Pin<Gpio0, rp2040_hal::gpio::FunctionNull, PullDown>,
    rx: Pin<Gpio1, rp2040_hal::gpio::FunctionNull, PullDown>,
    resets: &mut pac::RESETS,
    peripheral_hz: HertzU32,
) -> Uart {
    let pins = (tx.into_function(), rx.into_function());
    let config = UartConfig::new(BAUD.Hz(), DataBits::Eight, None, StopBits::One);
    match UartPeripheral::new(uart0, pins, resets).enable(config, peripheral_hz) {
        Ok(uart) => Uart(uart),
        // Only for a baud rate the clock cannot make; 115200 from 125 MHz is exact enough.
        Err(e) => panic!("UART0 set-up: {e:?}"),
    }
}

impl Uart {
    /// Puts as much of `bytes` as fits now into the FIFO; the count taken.
    pub fn write_some(&mut self, bytes: &[u8]) -> usize {
        match self.0.write_raw(bytes) {
            Ok(rest) => bytes.len() - rest.len(),
            Err(_) => 0, // WouldBlock: the FIFO is full
        }
    }

    /// Writes all of `bytes`, waiting for room (setup errors, before the log's ring).
    pub fn write_all(&mut self, bytes: &[u8]) {
        self.0.write_full_blocking(bytes);
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_all(s.as_bytes());
        Ok(())
    }
}

/// Writes `bytes` straight to UART0's data register, waiting for room (the panic handler:
/// the UART is owned elsewhere). If UART0 was never set up, the bytes go nowhere.
pub fn write_polled(bytes: &[u8]) {
    // Safety: UART0's registers; the panic handler runs with interrupts off and the
    // firmware never runs again, so nothing else writes them meanwhile.
    let uart = unsafe { &*pac::UART0::ptr() };
    if uart.uartcr().read().uarten().bit_is_clear() {
        return;
    }
    for &b in bytes {
        while uart.uartfr().read().txff().bit_is_set() {}
        // Safety: any byte is a valid DATA value.
        uart.uartdr().write(|w| unsafe { w.data().bits(b) });
    }
}
