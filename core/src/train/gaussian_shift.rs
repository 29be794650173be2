//! `v + σξ`, `ξ ~ N(0, I)` drawn from a counter-keyed stream: the state
//! shared by input noise and label noise.

use super::noise_stream::NoiseStream;
use crate::error::{Error, check_len};

/// Gaussian noise of standard deviation `std` added to a vector, one draw
/// per call (draw `n` is stream 0 of draw `n`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GaussianShift {
    std: f32,
    stream: NoiseStream,
}

impl GaussianShift {
    /// `std` must already be validated (finite, `≥ 0`).
    pub(crate) fn new(std: f32, seed: u64) -> Self {
        Self {
            std,
            stream: NoiseStream::new(seed),
        }
    }

    pub(crate) fn std(&self) -> f32 {
        self.std
    }

    /// Writes `v + σξ` into `out` with a fresh ξ (copies `v` when σ = 0).
    #[inline]
    pub(crate) fn perturb(&mut self, v: &[f32], out: &mut [f32]) -> Result<(), Error> {
        check_len(out.len(), v.len())?;
        if self.std == 0.0 {
            out.copy_from_slice(v);
            return Ok(());
        }
        self.stream.restart(0);
        for (o, &x) in out.iter_mut().zip(v) {
            *o = x + self.std * self.stream.next();
        }
        self.stream.advance();
        Ok(())
    }

    pub(crate) fn draw_index(&self) -> u64 {
        self.stream.draw()
    }

    pub(crate) fn set_draw_index(&mut self, draw: u64) {
        self.stream.set_draw(draw);
    }
}
