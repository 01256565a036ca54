//! Time from the CLINT's `mtime`: a 64-bit counter at 10 MHz on QEMU virt, read on RV32 as
//! two 32-bit halves.

/// `mtime` ticks per second on QEMU virt.
pub const HZ: u64 = 10_000_000;
/// Ticks per millisecond.
pub const TICKS_PER_MS: u64 = HZ / 1000;

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

/// Milliseconds for a tick count.
pub fn ticks_to_ms(ticks: u64) -> u64 {
    ticks / TICKS_PER_MS
}

/// Ticks for a millisecond count (saturating).
pub fn ms_to_ticks(ms: u64) -> u64 {
    ms.saturating_mul(TICKS_PER_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(ticks_to_ms(10_000), 1);
        assert_eq!(ticks_to_ms(9_999), 0);
        assert_eq!(ms_to_ticks(3), 30_000);
        assert_eq!(ms_to_ticks(u64::MAX), u64::MAX);
    }
}
