//! Folding timing samples into a seed, for boards without a hardware RNG: each sample
//! carries a few unpredictable low bits (the jitter of a fast counter read between slow
//! accesses); a strong 64-bit mix of many of them gives a seed that differs per boot.

/// Accumulates samples; [`JitterMixer::finish`] gives the seed.
#[derive(Debug, Clone)]
pub struct JitterMixer {
    state: u64,
    count: u64,
}

impl JitterMixer {
    pub const fn new() -> Self {
        JitterMixer {
            state: 0x6563_686f_6b69_7400, // "echokit\0"
            count: 0,
        }
    }

    /// Mixes in one sample (e.g. a counter's value).
    pub fn push(&mut self, sample: u32) {
        self.push_u64(u64::from(sample));
    }

    /// Mixes in a 64-bit value.
    pub fn push_u64(&mut self, value: u64) {
        self.count = self.count.wrapping_add(1);
        self.state = splitmix(self.state ^ value.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.count);
    }

    /// The seed.
    pub fn finish(&self) -> u64 {
        splitmix(self.state ^ self.count)
    }
}

impl Default for JitterMixer {
    fn default() -> Self {
        Self::new()
    }
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::JitterMixer;

    fn seed(samples: &[u32]) -> u64 {
        let mut m = JitterMixer::new();
        samples.iter().for_each(|&s| m.push(s));
        m.finish()
    }

    #[test]
    fn one_changed_low_bit_in_any_sample_changes_about_half_the_seed() {
        let base: Vec<u32> = (0..256).map(|i| 24_999 - i * 97).collect();
        let s0 = seed(&base);
        for i in [0, 100, 255] {
            let mut other = base.clone();
            other[i] ^= 1;
            let flipped = (seed(&other) ^ s0).count_ones();
            assert!((16..=48).contains(&flipped), "sample {i}: {flipped} bits");
        }
    }

    #[test]
    fn order_and_count_matter() {
        assert_ne!(seed(&[1, 2]), seed(&[2, 1]));
        assert_ne!(seed(&[0]), seed(&[0, 0]));
        assert_eq!(seed(&[5, 6, 7]), seed(&[5, 6, 7]));
    }
}
