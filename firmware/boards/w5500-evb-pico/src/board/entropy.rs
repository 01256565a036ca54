//! Random bits from the RP2040's ring oscillator (datasheet 2.17.5: RANDOMBIT samples the
//! free-running ROSC, whose phase drifts with process, voltage and temperature). Its bits
//! are biased, so each bit is a von Neumann pair (01 or 10), and the sampling waits a
//! little between reads so neighbouring reads differ; the app's mixer then whitens them.

use rp2040_hal::rosc::{Enabled, RingOscillator};

/// Pairs tried per seed bit before taking the bit as it is (a stuck oscillator still
/// boots, with a poor seed rather than none).
const TRIES: u32 = 64;

/// 64 unbiased bits.
pub fn raw_bits(rosc: &RingOscillator<Enabled>) -> u64 {
    let mut sample = || {
        // A few dozen system clocks between samples: the ROSC runs at a different,
        // drifting rate, so the phase sampled moves on.
        cortex_m::asm::delay(37);
        rosc.get_random_bit()
    };
    (0..64).fold(0u64, |seed, _| {
        (seed << 1) | u64::from(unbiased(&mut sample))
    })
}

/// One von Neumann bit: the first of a pair of unequal samples.
fn unbiased(sample: &mut impl FnMut() -> bool) -> bool {
    let mut last = false;
    for _ in 0..TRIES {
        let (a, b) = (sample(), sample());
        if a != b {
            return a;
        }
        last = a;
    }
    last
}
