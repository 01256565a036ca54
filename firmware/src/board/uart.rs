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

/// The transmit side of the UART: blocking writes of bytes.
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

    /// Writes `bytes`, waiting while the transmit buffer is full.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            write_byte(b);
        }
    }
}

fn write_byte(b: u8) {
    // Safety: UART0's STATE and DATA registers; DATA is written only when not full.
    unsafe {
        while ptr::read_volatile((BASE + STATE) as *const u32) & STATE_TX_FULL != 0 {}
        ptr::write_volatile((BASE + DATA) as *mut u32, u32::from(b));
    }
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
