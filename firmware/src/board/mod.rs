//! Everything specific to the board: QEMU's mps2-an386 (Arm AN386, a Cortex-M4F on the MPS2
//! FPGA board). A port to another board rewrites this module (its `memory.x` included) and keeps the
//! rest: a `smoltcp::phy::Device` for its NIC, a byte sink for the log, a millisecond clock,
//! a way to sleep until something happens.
//!
//! - Ethernet: an SMSC LAN9118 (the board's LAN9220) at 0x4020_0000, IRQ 13; the driver
//!   logic is the `lan9118` crate, this module only gives it volatile register access.
//! - Log: CMSDK APB UART0 at 0x4000_4000 (QEMU's first serial port).
//! - Time: SysTick at 1 kHz from the 25 MHz core clock.

mod clock;
mod nic;
mod panic;
mod uart;

use cortex_m::peripheral::NVIC;

pub use self::clock::now_ms;
pub use self::nic::Nic;

pub use self::uart::Uart;

/// The Ethernet controller's station address: fixed, locally administered, unicast.
pub const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x01];

/// Core clock (QEMU's SYSCLK for the MPS2 boards).
const CORE_HZ: u32 = 25_000_000;

/// Takes the core peripherals and brings up the clock, the UART and the NIC. Call once.
/// A NIC that does not come up is an error returned with the UART, to report it on.
pub fn init() -> Result<(Nic, Uart), (Uart, lan9118::InitError)> {
    let Some(core) = cortex_m::Peripherals::take() else {
        // Only reachable by a second call: nothing sensible to do but stop here.
        panic!("board::init called twice");
    };
    clock::start(core.SYST, CORE_HZ);
    let uart = Uart::init(CORE_HZ);
    match nic::init(MAC) {
        Ok(nic) => Ok((nic, uart)),
        Err(e) => Err((uart, e)),
    }
}

/// Sleeps until a frame arrives or the next clock tick (1 ms), whichever is first, then
/// clears the NIC's receive interrupt before the caller drains the FIFO.
pub fn sleep(nic: &mut Nic) {
    cortex_m::interrupt::free(|_| {
        // With interrupts masked, WFI still wakes on a pending one (and returns at once if
        // one is already pending), so a frame that came after the last poll is not slept
        // through; the handler runs when the mask lifts.
        // Safety: unmasking the NIC's interrupt; its handler only masks it again.
        unsafe { NVIC::unmask(nic::EthIrq) };
        cortex_m::asm::wfi();
    });
    nic.ack_interrupt();
}

/// Stops the core for good (after a fatal error has been written).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
