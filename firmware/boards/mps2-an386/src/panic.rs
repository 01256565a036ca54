//! A panic writes one line on the UART and stops the core.

use core::fmt::Write;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    let mut uart = crate::uart::steal(crate::board::CORE_HZ);
    // One line, even if the message holds newlines: they are written as spaces.
    let _ = write!(NoNewlines(&mut uart), "panic: {info}");
    uart.write_bytes(b"\n");
    loop {
        cortex_m::asm::wfi();
    }
}

struct NoNewlines<'a>(&'a mut crate::uart::Uart);

impl Write for NoNewlines<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            self.0
                .write_bytes(&[if b == b'\n' || b == b'\r' { b' ' } else { b }]);
        }
        Ok(())
    }
}
