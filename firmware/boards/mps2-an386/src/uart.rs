//! CMSDK APB UART0: the log's serial port (QEMU connects it to `-serial`).

use core::fmt;
use core::ptr;

/// UART0 on mps2-an386.
const BASE: usize = 0x4000_4000;
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1;
const CTRL_TX_ENABLE: u32 = 1;
const BAUD: u32 = 115_200;

/// The transmit side of the UART.
pub struct Uart(());

impl Uart {
    /// Sets the baud rate and enables the transmitter.
    pub fn init(core_hz: u32) -> Self {
        // Safety: UART0's BAUDDIV and CTRL registers on this board.
        unsafe {
            ptr::write_volatile((BASE + BAUDDIV) as *mut u32, core_hz / BAUD);
            ptr::write_volatile((BASE + CTRL) as *mut u32, CTRL_TX_ENABLE);
        }
        Uart(())
    }

    /// Writes the start of `bytes` while the transmit buffer has room; returns how many
    /// were written (0 when it is full: QEMU keeps it full while its serial backend, e.g.
    /// a pipe nobody reads, takes nothing).
    pub fn try_write(&mut self, bytes: &[u8]) -> usize {
        for (n, &b) in bytes.iter().enumerate() {
            if tx_full() {
                return n;
            }
            write_data(b);
        }
        bytes.len()
    }

    /// Writes `bytes`, waiting while the transmit buffer is full (fatal errors, panics).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            while tx_full() {}
            write_data(b);
        }
    }
}

fn tx_full() -> bool {
    // Safety: UART0's STATE register; reading it has no side effect.
    unsafe { ptr::read_volatile((BASE + STATE) as *const u32) & STATE_TX_FULL != 0 }
}

fn write_data(b: u8) {
    // Safety: UART0's DATA register; callers write it only when the buffer is not full.
    unsafe { ptr::write_volatile((BASE + DATA) as *mut u32, u32::from(b)) }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// A UART for the panic handler, which cannot borrow the one the firmware holds. It
/// (re)enables the transmitter, which is harmless if already on.
pub fn steal(core_hz: u32) -> Uart {
    Uart::init(core_hz)
}
