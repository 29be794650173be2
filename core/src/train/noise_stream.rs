//! Counter-keyed Gaussian streams: the same draw regenerated on demand.

use crate::sampler::BoxMuller;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// Streams per draw: one per layer (up to [`MAX_LAYERS`](super::MAX_LAYERS)) and spares.
const STREAMS_PER_DRAW: u64 = 16;

/// SplitMix64's finaliser: a bijection on `u64` that mixes every bit.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A source of standard normals where stream `id` of draw `draw` is a fresh
/// xoshiro128++ seeded from `(seed, draw, id)`.
///
/// Restarting a stream reproduces its numbers exactly, so a backward pass
/// regenerates the forward pass's noise instead of storing it. Distinct
/// `(draw, id)` give distinct keys (the key map is a bijection for a fixed
/// seed); each key seeds the generator through SplitMix64.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoiseStream {
    seed: u64,
    draw: u64,
    rng: Xoshiro128PlusPlus,
    normal: BoxMuller,
}

impl NoiseStream {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            draw: 0,
            rng: Xoshiro128PlusPlus::seed_from_u64(seed),
            normal: BoxMuller::standard(),
        }
    }

    /// Moves on to the next independent draw.
    #[inline]
    pub(crate) fn advance(&mut self) {
        self.draw = self.draw.wrapping_add(1);
    }

    /// Index of the current draw.
    pub(crate) fn draw(&self) -> u64 {
        self.draw
    }

    /// Sets the index of the current draw.
    pub(crate) fn set_draw(&mut self, draw: u64) {
        self.draw = draw;
    }

    /// Restarts stream `id` of the current draw from its beginning.
    #[inline]
    pub(crate) fn restart(&mut self, id: u64) {
        let key = self.draw.wrapping_mul(STREAMS_PER_DRAW).wrapping_add(id);
        self.rng = Xoshiro128PlusPlus::seed_from_u64(self.seed ^ mix64(key));
        self.normal.reset();
    }

    /// Next standard normal of the current stream.
    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        self.normal.sample(&mut self.rng)
    }
}
