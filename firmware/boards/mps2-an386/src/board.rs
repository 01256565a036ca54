//! QEMU's mps2-an386 (Arm AN386, a Cortex-M4F on the MPS2 FPGA board) as an
//! [`echokit_app::Board`]:
//!
//! - Ethernet: an SMSC LAN9118 (the board's LAN9220) at 0x4020_0000, IRQ 13; the driver
//!   logic is the `lan9118` crate, made a smoltcp device by `nic_adapters::FrameDevice`;
//!   `nic` only gives it volatile register access.
//! - Log: CMSDK APB UART0 at 0x4000_4000 (QEMU's first serial port).
//! - Time: SysTick at 1 kHz from the 25 MHz core clock (`systick_clock`).
//! - Entropy: the board has no RNG; the jitter of SysTick's counter across accesses that
//!   QEMU emulates in host time (`entropy`).

use cortex_m::peripheral::{NVIC, SYST};
use echokit_app::{Board, Drops, Instant, JitterMixer};
use systick_clock as clock;

use crate::nic::{self, Nic};
use crate::uart::Uart;

/// The Ethernet controller's station address: fixed, locally administered, unicast.
const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x01];

/// Core clock (QEMU's SYSCLK for the MPS2 boards).
pub const CORE_HZ: u32 = 25_000_000;

/// SysTick counter samples folded into the seed.
const ENTROPY_SAMPLES: usize = 512;
/// Register reads to wait at most for SysTick's first tick (a few ms under QEMU).
const WAIT_FOR_TICK: u32 = 1_000_000;

/// The board's parts the app uses.
pub struct Mps2 {
    nic: Nic,
    uart: Uart,
}

impl Mps2 {
    /// Takes the core peripherals and brings up the clock, the UART and the NIC. Call once.
    /// A NIC that does not come up is an error returned with the UART, to report it on.
    pub fn init() -> Result<Mps2, (Uart, lan9118::InitError)> {
        let Some(core) = cortex_m::Peripherals::take() else {
            // Only reachable by a second call: nothing sensible to do but stop here.
            panic!("Mps2::init called twice");
        };
        clock::start(core.SYST, CORE_HZ);
        let uart = Uart::init(CORE_HZ);
        match nic::init(MAC) {
            Ok(nic) => Ok(Mps2 { nic, uart }),
            Err(e) => Err((uart, e)),
        }
    }
}

impl Board for Mps2 {
    type Nic = Nic;
    const NIC_NAME: &'static str = "lan9118";

    fn mac(&self) -> [u8; 6] {
        MAC
    }

    fn nic(&mut self) -> &mut Nic {
        &mut self.nic
    }

    fn nic_drops(&mut self) -> Drops {
        let s = self.nic.nic().stats();
        Drops {
            rx_errors: s.rx_errors,
            rx_runts: s.rx_runts,
            rx_oversized: s.rx_oversized,
            rx_resyncs: s.rx_resyncs,
            rx_no_room: 0,
            tx_errors: s.tx_errors,
            tx_oversized: s.tx_oversized,
        }
    }

    fn frame_waiting(&mut self) -> bool {
        self.nic.nic().rx_pending()
    }

    fn now(&mut self) -> Instant {
        clock::now()
    }

    /// QEMU runs SysTick on its virtual clock, which follows the host's time, while every
    /// register access to the NIC leaves the translated code for QEMU's device model: how
    /// long each takes varies with the host (caches, other processes, interrupts), so the
    /// low bits of the 25 MHz counter read between such accesses vary from boot to boot.
    /// QEMU's counter reads 0 until SysTick's first period has passed: wait for it.
    fn entropy(&mut self) -> u64 {
        let start = clock::now();
        for _ in 0..WAIT_FOR_TICK {
            if clock::now() != start {
                break;
            }
            nic::touch();
        }
        let mut mix = JitterMixer::new();
        for _ in 0..ENTROPY_SAMPLES {
            nic::touch();
            mix.push(SYST::get_current());
        }
        mix.push_u64(clock::now().millis());
        mix.finish()
    }

    fn uart_write(&mut self, bytes: &[u8]) -> usize {
        self.uart.try_write(bytes)
    }

    /// WFI until the NIC's interrupt or the next 1 ms SysTick, whichever is first (a UART
    /// that refused bytes is tried again on that tick: under QEMU it refuses only while
    /// the host is not reading the serial port).
    fn sleep(&mut self, _until: Instant, _uart_waiting: bool) {
        cortex_m::interrupt::free(|_| {
            // With interrupts masked, WFI still wakes on a pending one (and returns at once
            // if one is already pending), so a frame that came after the last poll is not
            // slept through; the handler runs when the mask lifts.
            // Safety: unmasking the NIC's interrupt; its handler only masks it again.
            unsafe { NVIC::unmask(nic::EthIrq) };
            cortex_m::asm::wfi();
        });
        self.nic.nic().ack_interrupt();
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
