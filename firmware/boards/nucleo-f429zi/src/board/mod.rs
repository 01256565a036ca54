//! ST's Nucleo-F429ZI (MB1137) as an [`echokit_app::Board`]: an STM32F429ZI (Cortex-M4F)
//! with its Ethernet MAC wired to a Microchip LAN8742A PHY over RMII, and an ST-LINK/V2-1
//! whose virtual COM port is USART3.
//!
//! - Clock: the ST-LINK's 8 MHz MCO into HSE (bypass), PLL to 168 MHz, 48 MHz for the RNG.
//! - Ethernet: embassy-stm32's driver (`eth`, the DMA descriptor rings) as a smoltcp
//!   device through `nic_adapters::DriverDevice` (see `nic`).
//! - Log: USART3, PD8 TX / PD9 RX, 115200 baud, drained by its interrupt (see `uart`).
//! - Entropy: the chip's true RNG (RM0090 24) seeds smoltcp.
//! - Time: SysTick at 1 kHz (`systick_clock`).

mod nic;
mod panic;
mod uart;

use embassy_stm32::rcc::{
    AHBPrescaler, APBPrescaler, Hse, HseMode, Pll, PllMul, PllPDiv, PllPreDiv, PllQDiv, PllSource,
    Sysclk,
};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::time::Hertz;
use embassy_stm32::{Config, bind_interrupts, eth, peripherals, usart};

use echokit_app::{Board, Drops, Instant};
use systick_clock as clock;

use self::nic::Nic;
use self::uart::Uart;

/// The Ethernet MAC's station address: fixed, locally administered, unicast.
const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x29];

/// Core clock after `init`.
const CORE_HZ: u32 = 168_000_000;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    HASH_RNG => rng::InterruptHandler<peripherals::RNG>;
    USART3 => usart::BufferedInterruptHandler<peripherals::USART3>;
});

/// The board's parts the app uses.
pub struct Nucleo {
    nic: Nic,
    uart: Uart,
    /// 64 bits from the RNG, taken at start-up.
    seed: u64,
}

impl Nucleo {
    /// Brings up the clocks, SysTick, the UART, the RNG and the Ethernet MAC and PHY. Call
    /// once. The PHY negotiates the link on its own afterwards (`sleep` follows it).
    pub fn init() -> Nucleo {
        let p = embassy_stm32::init(clocks());
        let Some(core) = cortex_m::Peripherals::take() else {
            // Only reachable by a second call: nothing sensible to do but stop here.
            panic!("Nucleo::init called twice");
        };
        clock::start(core.SYST, CORE_HZ);
        let uart = uart::init(p.USART3, p.PD9, p.PD8, Irqs);
        // The RNG runs from the PLL's 48 MHz output; the driver waits for each word and
        // recovers from a seed error by itself. It is switched off again when dropped.
        let seed = Rng::new(p.RNG, Irqs).next_u64();
        let nic = nic::init(
            nic::Pins {
                ref_clk: p.PA1,
                mdio: p.PA2,
                crs_dv: p.PA7,
                mdc: p.PC1,
                rx_d0: p.PC4,
                rx_d1: p.PC5,
                tx_en: p.PG11,
                tx_d0: p.PG13,
                tx_d1: p.PB13,
            },
            p.ETH,
            p.ETH_SMA,
            Irqs,
            MAC,
        );
        Nucleo { nic, uart, seed }
    }
}

impl Board for Nucleo {
    type Nic = Nic;
    const NIC_NAME: &'static str = "stm32f429 eth";

    fn mac(&self) -> [u8; 6] {
        MAC
    }

    fn nic(&mut self) -> &mut Nic {
        &mut self.nic
    }

    fn nic_drops(&mut self) -> Drops {
        let s = self.nic.stats();
        Drops {
            rx_no_room: s.rx_no_descriptor.wrapping_add(s.rx_overflow),
            ..Drops::default()
        }
    }

    /// A filled receive descriptor (a read of the DMA ring in RAM).
    fn frame_waiting(&mut self) -> bool {
        self.nic.has_frame()
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

    /// WFI until a frame arrives, USART3 takes a byte, or the next 1 ms SysTick, whichever
    /// is first (each is an interrupt); and once a second the MAC follows the PHY's link.
    fn sleep(&mut self, until: Instant, _uart_waiting: bool) {
        let now = clock::now();
        nic::follow_link(&mut self.nic, now);
        if now >= until {
            return;
        }
        let nic = &mut self.nic;
        cortex_m::interrupt::free(|_| {
            // With interrupts masked, WFI still wakes on a pending one, so a frame that
            // came after the last poll (its interrupt now pending) is not slept through;
            // the check covers one whose interrupt already ran.
            if !nic.has_frame() {
                cortex_m::asm::wfi();
            }
        });
    }

    fn halt(&mut self) -> ! {
        halt()
    }
}

/// HSE 8 MHz from the ST-LINK (bypass) / 4 * 168 / 2 = 168 MHz; /7 = 48 MHz for the RNG;
/// APB1 42 MHz (USART3), APB2 84 MHz. The MAC needs HCLK of 25 MHz or more.
fn clocks() -> Config {
    let mut config = Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL168,
        divp: Some(PllPDiv::DIV2),
        divq: Some(PllQDiv::DIV7),
        divr: None,
    });
    config.rcc.sys = Sysclk::PLL1_P;
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config
}

/// Stops the core for good (after a fatal error has been written).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
