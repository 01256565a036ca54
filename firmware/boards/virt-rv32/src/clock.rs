//! Time from the CLINT's `mtime`: a 64-bit counter at 10 MHz on QEMU virt, read on RV32 as
//! two 32-bit halves. `Instant::from_ticks::<HZ>` and `Instant::ticks::<HZ>` (echo-core,
//! the conversion every board's clock uses) turn it into the app's time and back.

/// `mtime` ticks per second on QEMU virt.
pub const HZ: u64 = 10_000_000;

/// A 64-bit counter read as halves, the high one twice: when the low half wraps between the
/// reads, the high halves differ and the read is retried, so no value is off by 2^32.
pub fn read_split(mut hi: impl FnMut() -> u32, mut lo: impl FnMut() -> u32) -> u64 {
    loop {
        let h = hi();
        let l = lo();
        if hi() == h {
            return (u64::from(h) << 32) | u64::from(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use echokit_app::Instant;
    use std::cell::Cell;

    #[test]
    fn a_wrap_between_the_halves_is_read_again() {
        // The counter moves one tick per register read, from just below a wrap of the
        // low half: the first high read sees 1, the low read sees 0 after the wrap (a naive
        // read would say 0x1_0000_0000, 2^32 ticks in the past).
        let now = Cell::new(0x1_ffff_ffff_u64);
        let tick = || {
            let v = now.get();
            now.set(v + 1);
            v
        };
        let value = read_split(|| (tick() >> 32) as u32, || tick() as u32);
        // Every accepted value is one the counter really held: high and low agree.
        assert!(value >= 0x1_ffff_ffff && value < now.get(), "{value:#x}");
    }

    #[test]
    fn a_still_counter_reads_at_once() {
        let value = read_split(|| 7, || 9);
        assert_eq!(value, (7 << 32) | 9);
    }

    #[test]
    fn ticks_and_milliseconds() {
        assert_eq!(Instant::from_ticks::<HZ>(10_000).millis(), 1);
        assert_eq!(Instant::from_ticks::<HZ>(9_999).millis(), 0);
        assert_eq!(Instant::from_millis(3).ticks::<HZ>(), 30_000);
        assert_eq!(Instant::from_millis(u64::MAX).ticks::<HZ>(), u64::MAX);
    }
}
