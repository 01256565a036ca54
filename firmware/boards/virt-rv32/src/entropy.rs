//! The seed for smoltcp (TCP initial sequence numbers, ephemeral ports) from what QEMU virt
//! offers.
//!
//! First choice: a virtio entropy device (`-device virtio-rng-device`, which `qemu.sh`
//! adds), read once at boot; QEMU fills it from the host's random source. Without one, the
//! low bits of `mtime` around a run of UART register reads: each read exits to QEMU, whose
//! time on the host varies, and `mtime` follows the host clock; a few dozen samples mixed
//! give a seed that differs between boots, though it is not a cryptographic one.

/// Mixes 64-bit words into a seed (splitmix64's finaliser over a running sum): every input
/// bit affects every output bit.
#[derive(Debug, Clone, Copy)]
pub struct Mixer(u64);

impl Mixer {
    pub const fn new() -> Self {
        Mixer(0x6563_686f_6b69_7400) // "echokit\0"
    }

    pub fn add(&mut self, word: u64) {
        let mut z = self
            .0
            .wrapping_add(word)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }

    pub fn add_bytes(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    pub fn seed(&self) -> u64 {
        self.0
    }
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

/// Samples of the timer taken around `work` (which should take a varying time), mixed.
pub fn jitter_seed(samples: usize, mut now: impl FnMut() -> u64, mut work: impl FnMut()) -> u64 {
    let mut mix = Mixer::new();
    let mut last = now();
    mix.add(last);
    for _ in 0..samples {
        work();
        let t = now();
        mix.add(t.wrapping_sub(last));
        last = t;
    }
    mix.seed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bit_of_difference_changes_the_seed_broadly() {
        let seed = |word| {
            let mut m = Mixer::new();
            m.add_bytes(&[1, 2, 3]);
            m.add(word);
            m.seed()
        };
        let (a, b) = (seed(1000), seed(1001));
        assert!((a ^ b).count_ones() > 16, "{a:#x} {b:#x}");
    }

    #[test]
    fn jitter_in_the_samples_reaches_the_seed() {
        let run = |slow_step: u64| {
            let t = std::cell::Cell::new(0u64);
            let mut step = 0;
            jitter_seed(
                32,
                || {
                    t.set(t.get() + 100);
                    t.get()
                },
                || {
                    step += 1;
                    if step == slow_step {
                        t.set(t.get() + 1);
                    }
                },
            )
        };
        assert_eq!(run(0), run(0), "the same timings give the same seed");
        assert_ne!(run(5), run(6), "one tick of jitter anywhere changes it");
        assert_ne!(run(0), run(31));
    }
}
