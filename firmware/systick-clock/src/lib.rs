//! Milliseconds since boot from SysTick, the timer every Cortex-M core has: an interrupt
//! each millisecond counts them. The clock of the Cortex-M boards (mps2-an386,
//! nucleo-f429zi, w5500-evb-pico), read as echo-core's [`Instant`].
//!
//! The `SysTick` handler lives here, beside the counter it increments; a board must not
//! define its own. cortex-m-rt's vector table refers to the symbol `SysTick`, which its
//! linker script `PROVIDE`s as `DefaultHandler` only if no object defines it. A handler in
//! a library is linked all the same: since Rust 1.62 rustc makes every exported symbol of
//! a dependency take part in linking (rust-lang/rust#95604); before, an archive member no
//! one referred to was left out. The boards call [`start`] and [`now`] from this module
//! anyway, and `host/tests/firmware.rs` checks the vector table of a built image.
#![no_std]

use core::cell::Cell;

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use echo_core::time::Instant;

/// SysTick interrupts per second.
pub const HZ: u64 = 1000;

/// Interrupts since [`start`].
static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts SysTick from the core clock of `core_hz`: one interrupt per millisecond.
pub fn start(mut syst: SYST, core_hz: u32) {
    // NOTE(as): HZ is 1000.
    let per_tick = core_hz / HZ as u32;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(per_tick.saturating_sub(1));
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// The time since [`start`]; never goes back.
pub fn now() -> Instant {
    let ticks = cortex_m::interrupt::free(|cs| TICKS.borrow(cs).get());
    Instant::from_ticks::<HZ>(ticks)
}

#[exception]
fn SysTick() {
    cortex_m::interrupt::free(|cs| {
        let ticks = TICKS.borrow(cs);
        ticks.set(ticks.get().wrapping_add(1));
    });
}
