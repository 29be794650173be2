use core::convert::Infallible;
use rand_core::{SeedableRng, TryRng, utils};
use rand_xoshiro::Xoshiro128PlusPlus;
use wide::u32x8;

/// Number of xoshiro128++ streams stepped together.
pub(crate) const LANES: usize = 8;

/// Eight xoshiro128++ generators stepped together in the lanes of a `u32x8`.
///
/// Lane `k` (0 ≤ k < 8) starts as rand_xoshiro's
/// `Xoshiro128PlusPlus::seed_from_u64(seed)` (or `from_seed(seed)`) advanced
/// by `k` calls of `jump()` (2⁶⁴ steps each), so every lane is bit for bit a
/// rand_xoshiro generator and the lanes never overlap in practice.
///
/// # Output order
///
/// One *block* is one step of every lane: [`next_block`](Self::next_block)
/// returns `[lane 0, lane 1, …, lane 7]`. The [`Rng`](rand_core::Rng)
/// implementation reads the blocks word by word, so the `i`-th `next_u32`
/// is lane `i % 8`'s output number `i / 8`; `next_u64` is two consecutive
/// words, low first. [`fill_normal`](crate::fill_normal) consumes whole
/// blocks: it first discards the unread words of a partly read block.
///
/// Implementing `Rng` lets the same generator feed [`BoxMuller`](crate::BoxMuller)
/// or any `rand` distribution as well as the batch fill; one generator object
/// is all a device needs. A word costs an eighth of a vector step.
///
/// # Examples
///
/// ```
/// use noisereg::XoshiroLanes;
/// use rand_core::{Rng, SeedableRng};
///
/// let mut lanes = XoshiroLanes::seed_from_u64(42);
/// let block = lanes.clone().next_block();
/// assert_eq!(lanes.next_u32(), block[0]);
/// assert_eq!(lanes.next_u32(), block[1]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XoshiroLanes {
    /// State words `s[0..4]` of every lane.
    s: [u32x8; 4],
    /// The block being read word by word by `next_u32`.
    block: [u32; LANES],
    /// Next unread word of `block`; `LANES` when none is left.
    used: usize,
}

impl XoshiroLanes {
    /// Lanes starting from `lane0` and `k` jumps of it.
    fn from_first_lane(lane0: Xoshiro128PlusPlus) -> Self {
        let mut g = lane0;
        let mut s = [[0u32; LANES]; 4];
        for k in 0..LANES {
            let bytes = g.state();
            for (j, word) in bytes.chunks_exact(4).enumerate() {
                if let (Some(row), Ok(w)) = (s.get_mut(j), <[u8; 4]>::try_from(word)) {
                    row[k] = u32::from_le_bytes(w);
                }
            }
            g.jump();
        }
        Self {
            s: s.map(u32x8::new),
            block: [0; LANES],
            used: LANES,
        }
    }

    /// Eight lanes keyed by `(seed, key)`, built with 17 SplitMix64 mixes
    /// instead of seven `jump()`s: cheap enough to restart a stream per
    /// layer and per sample.
    ///
    /// With SplitMix64 (Steele, Lea & Flood 2014; rand_xoshiro's
    /// `SplitMix64`), let `x = seed ^ SplitMix64::seed_from_u64(key).next_u64()`;
    /// then lane `k` (0 ≤ k < 8) starts as
    /// `Xoshiro128PlusPlus::from_seed(bytes)` where `bytes` are the
    /// little-endian outputs number `2k + 1` and `2k + 2` of
    /// `SplitMix64::seed_from_u64(x)` (so lane 0 is
    /// `Xoshiro128PlusPlus::seed_from_u64(x)`). No lane state is ever zero.
    ///
    /// The lanes are independent streams in practice (distinct, well-mixed
    /// 128-bit starting points; the chance that two of the `2⁶⁴` keys' lanes
    /// overlap within a run is negligible), but, unlike
    /// [`seed_from_u64`](rand_core::SeedableRng::seed_from_u64), they are not
    /// jumps of one rand_xoshiro generator. Distinct keys with one seed give
    /// distinct `x`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::XoshiroLanes;
    /// use rand_core::{Rng, SeedableRng};
    /// use rand_xoshiro::{SplitMix64, Xoshiro128PlusPlus};
    ///
    /// let mut lanes = XoshiroLanes::keyed(7, 3);
    /// let x = 7 ^ SplitMix64::seed_from_u64(3).next_u64();
    /// let mut lane0 = Xoshiro128PlusPlus::seed_from_u64(x);
    /// assert_eq!(lanes.next_block()[0], lane0.next_u32());
    /// assert_ne!(XoshiroLanes::keyed(7, 4), XoshiroLanes::keyed(7, 3));
    /// ```
    #[inline]
    pub fn keyed(seed: u64, key: u64) -> Self {
        Self {
            s: keyed_state(seed, key).map(u32x8::new),
            block: [0; LANES],
            used: LANES,
        }
    }

    /// Steps every lane once and returns the outputs, lane `k` at index `k`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::XoshiroLanes;
    /// use rand_core::{Rng, SeedableRng};
    /// use rand_xoshiro::Xoshiro128PlusPlus;
    ///
    /// let mut lanes = XoshiroLanes::seed_from_u64(3);
    /// let mut lane1 = Xoshiro128PlusPlus::seed_from_u64(3);
    /// lane1.jump();
    /// assert_eq!(lanes.next_block()[1], lane1.next_u32());
    /// ```
    #[inline]
    pub fn next_block(&mut self) -> [u32; LANES] {
        let mut s = self.s;
        let out = step(&mut s);
        self.s = s;
        out.to_array()
    }

    /// The state as four vectors, for a hot loop that keeps it in registers;
    /// discards the unread words of a partly read block.
    #[inline(always)]
    pub(crate) fn take_state(&mut self) -> [u32x8; 4] {
        self.used = LANES;
        self.s
    }

    /// Stores the state back after [`take_state`](Self::take_state).
    #[inline(always)]
    pub(crate) fn put_state(&mut self, s: [u32x8; 4]) {
        self.s = s;
    }
}

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser: a bijection on `u64` that mixes every bit.
#[inline(always)]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The state of [`XoshiroLanes::keyed`], word `j` of lane `k` at `[j][k]`.
#[inline]
pub(crate) fn keyed_state(seed: u64, key: u64) -> [[u32; LANES]; 4] {
    let x = seed ^ mix64(key.wrapping_add(GOLDEN_GAMMA));
    let mut s = [[0u32; LANES]; 4];
    let mut i = x;
    for k in 0..LANES {
        i = i.wrapping_add(GOLDEN_GAMMA);
        let lo = mix64(i);
        i = i.wrapping_add(GOLDEN_GAMMA);
        let hi = mix64(i);
        // Little-endian bytes of `lo`, `hi` read as four `u32`.
        let words = [lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32];
        for (row, w) in s.iter_mut().zip(words) {
            if let Some(slot) = row.get_mut(k) {
                *slot = w;
            }
        }
    }
    s
}

/// One xoshiro128++ step of every lane (Blackman & Vigna), returning the outputs.
#[inline(always)]
pub(crate) fn step(s: &mut [u32x8; 4]) -> u32x8 {
    let [mut s0, mut s1, mut s2, mut s3] = *s;
    let sum = s0 + s3;
    let out = (sum.unbounded_shl_scalar(7) | sum.unbounded_shr_scalar(25)) + s0;
    let t = s1.unbounded_shl_scalar(9);
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = s3.unbounded_shl_scalar(11) | s3.unbounded_shr_scalar(21);
    *s = [s0, s1, s2, s3];
    out
}

/// One xoshiro128+ step of every lane: the state transition of [`step`]
/// with the output `s0 + s3` (no `++` scrambler; its low bits are weak).
#[inline(always)]
pub(crate) fn step_plus(s: &mut [u32x8; 4]) -> u32x8 {
    let [mut s0, mut s1, mut s2, mut s3] = *s;
    let out = s0 + s3;
    let t = s1.unbounded_shl_scalar(9);
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = s3.unbounded_shl_scalar(11) | s3.unbounded_shr_scalar(21);
    *s = [s0, s1, s2, s3];
    out
}

impl TryRng for XoshiroLanes {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        if self.used >= LANES {
            self.block = self.next_block();
            self.used = 0;
        }
        let w = self.block.get(self.used).copied().unwrap_or_default();
        self.used += 1;
        Ok(w)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        utils::next_u64_via_u32(self)
    }

    #[inline]
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        utils::fill_bytes_via_next_word(dst, || self.try_next_u32())
    }
}

impl SeedableRng for XoshiroLanes {
    /// Lane 0's seed, as for `Xoshiro128PlusPlus::from_seed`.
    type Seed = [u8; 16];

    /// Lane 0 is `Xoshiro128PlusPlus::from_seed(seed)`; lane `k` is it after `k` jumps.
    fn from_seed(seed: [u8; 16]) -> Self {
        Self::from_first_lane(Xoshiro128PlusPlus::from_seed(seed))
    }

    /// Lane 0 is `Xoshiro128PlusPlus::seed_from_u64(seed)` (SplitMix64);
    /// lane `k` is it after `k` jumps.
    fn seed_from_u64(seed: u64) -> Self {
        Self::from_first_lane(Xoshiro128PlusPlus::seed_from_u64(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn xoshiro_lanes_equal_jumped_rand_xoshiro_generators() {
        for seed in [0u64, 1, 0xdead_beef] {
            let mut lanes = XoshiroLanes::seed_from_u64(seed);
            let blocks: [[u32; LANES]; 100] = core::array::from_fn(|_| lanes.next_block());
            let mut reference = Xoshiro128PlusPlus::seed_from_u64(seed);
            for k in 0..LANES {
                let mut g = reference.clone();
                for (i, block) in blocks.iter().enumerate() {
                    assert_eq!(block[k], g.next_u32(), "seed {seed} lane {k} step {i}");
                }
                reference.jump();
            }
        }
    }

    #[test]
    fn keyed_lanes_equal_xoshiro_started_from_the_documented_state() {
        use rand_xoshiro::SplitMix64;
        for (seed, key) in [(0u64, 0u64), (1, 2), (u64::MAX, 0x1234_5678_9abc)] {
            let mut lanes = XoshiroLanes::keyed(seed, key);
            let blocks: [[u32; LANES]; 50] = core::array::from_fn(|_| lanes.next_block());
            let x = seed ^ SplitMix64::seed_from_u64(key).next_u64();
            let mut mix = SplitMix64::seed_from_u64(x);
            for k in 0..LANES {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&mix.next_u64().to_le_bytes());
                bytes[8..].copy_from_slice(&mix.next_u64().to_le_bytes());
                let mut g = Xoshiro128PlusPlus::from_seed(bytes);
                if k == 0 {
                    assert_eq!(g, Xoshiro128PlusPlus::seed_from_u64(x));
                }
                for (i, block) in blocks.iter().enumerate() {
                    assert_eq!(block[k], g.next_u32(), "({seed}, {key}) lane {k} step {i}");
                }
            }
        }
    }

    #[test]
    fn keyed_lanes_same_key_same_bits_other_key_other_stream() {
        let mut a = XoshiroLanes::keyed(5, 9);
        let mut b = XoshiroLanes::keyed(5, 9);
        let block_a: [[u32; LANES]; 4] = core::array::from_fn(|_| a.next_block());
        let block_b: [[u32; LANES]; 4] = core::array::from_fn(|_| b.next_block());
        assert_eq!(block_a, block_b);
        // Other keys (and other seeds) share no first word with it in any lane.
        for (seed, key) in [(5u64, 8u64), (5, 10), (5, 9 + 16), (4, 9), (6, 9)] {
            let mut c = XoshiroLanes::keyed(seed, key);
            let block_c: [[u32; LANES]; 4] = core::array::from_fn(|_| c.next_block());
            for a in block_a[0] {
                assert!(!block_c[0].contains(&a), "({seed}, {key})");
            }
        }
        // The eight lanes of one key differ from each other too.
        for k in 1..LANES {
            assert_ne!(block_a[0][k], block_a[0][0]);
        }
    }

    #[test]
    fn step_plus_lanes_equal_jumped_rand_xoshiro128plus_generators() {
        use rand_xoshiro::Xoshiro128Plus;
        for seed in [0u64, 7, 0xdead_beef] {
            let mut s = XoshiroLanes::seed_from_u64(seed).take_state();
            let blocks: [[u32; LANES]; 100] =
                core::array::from_fn(|_| step_plus(&mut s).to_array());
            let mut reference = Xoshiro128Plus::seed_from_u64(seed);
            for k in 0..LANES {
                let mut g = reference.clone();
                for (i, block) in blocks.iter().enumerate() {
                    assert_eq!(block[k], g.next_u32(), "seed {seed} lane {k} step {i}");
                }
                reference.jump();
            }
        }
    }

    #[test]
    fn xoshiro_lanes_next_u32_interleaves_lanes() {
        let mut a = XoshiroLanes::from_seed([7; 16]);
        let mut b = a.clone();
        for _ in 0..5 {
            let block = b.next_block();
            for w in block {
                assert_eq!(a.next_u32(), w);
            }
        }
        let lo = u64::from(b.next_block()[0]);
        let mut c = a.clone();
        assert_eq!(c.next_u64() & 0xffff_ffff, lo);
    }
}
