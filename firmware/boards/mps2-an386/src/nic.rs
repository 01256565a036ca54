//! The LAN9118 at its MMIO address, and its interrupt (used only to wake from sleep).

use core::ptr;

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;
use lan9118::{Lan9118, Reg, Registers};

/// The controller's registers on mps2-an386.
const BASE: usize = 0x4020_0000;

/// The NIC's interrupt line on mps2-an386.
#[derive(Clone, Copy)]
pub struct EthIrq;

// Safety: 13 is the LAN9118's external interrupt number on the AN385/AN386 images.
unsafe impl InterruptNumber for EthIrq {
    fn number(self) -> u16 {
        13
    }
}

/// Volatile 32-bit access at [`BASE`].
pub struct Mmio;

impl Registers for Mmio {
    fn read(&mut self, reg: Reg) -> u32 {
        // Safety: BASE + reg is one of the controller's 32-bit registers on this board;
        // reading a FIFO port has the side effect the driver intends.
        unsafe { ptr::read_volatile((BASE + reg as usize) as *const u32) }
    }

    fn write(&mut self, reg: Reg, value: u32) {
        // Safety: as for `read`.
        unsafe { ptr::write_volatile((BASE + reg as usize) as *mut u32, value) }
    }
}

/// Reads the controller's byte-order test register: an access with no side effect that
/// QEMU serves in its device model (the entropy's timing source).
pub fn touch() {
    let _ = Mmio.read(Reg::ByteTest);
}

/// The board's NIC: the driver over [`Mmio`], a smoltcp device through
/// `nic_adapters`' frame buffers.
pub type Nic = nic_adapters::lan9118::Nic<Mmio>;

/// Resets and starts the controller, its receive interrupt enabled (to wake from sleep).
pub fn init(mac: [u8; 6]) -> Result<Nic, lan9118::InitError> {
    let mut nic = Lan9118::new(Mmio, mac)?;
    nic.enable_rx_interrupt();
    Ok(Nic::new(nic))
}

/// Every external interrupt lands here (no device crate): the NIC's one masks itself so
/// the main loop runs; the loop unmasks it before sleeping again.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == EthIrq.number() as i16 {
        NVIC::mask(EthIrq);
    }
}
