//! A panic writes one line on UART0 and stops the core.

use core::fmt::Write;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    // One line, even if the message holds newlines: they are written as spaces.
    let _ = write!(NoNewlines, "panic: {info}");
    super::uart::write_polled(b"\n");
    loop {
        cortex_m::asm::wfi();
    }
}

struct NoNewlines;

impl Write for NoNewlines {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            super::uart::write_polled(&[if b == b'\n' || b == b'\r' { b' ' } else { b }]);
        }
        Ok(())
    }
}
