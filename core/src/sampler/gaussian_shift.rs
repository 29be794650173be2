//! `v + σξ`, `ξ ~ N(0, I)` drawn from a counter-keyed stream: the state
//! shared by input noise and label noise.

use super::lane_stream::LaneStream;
use crate::error::{Error, check_len};

/// Gaussian noise of standard deviation `std` added to a vector, one draw
/// per call: call `n` takes stream 0 of draw `n` of a [`LaneStream`] (the
/// weight noise's generator), built on the stack for the call, so only the
/// seed and the draw index are kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GaussianShift {
    std: f32,
    seed: u64,
    draw: u64,
}

impl GaussianShift {
    /// `std` must already be validated (finite, `≥ 0`).
    pub(crate) fn new(std: f32, seed: u64) -> Self {
        Self { std, seed, draw: 0 }
    }

    pub(crate) fn std(&self) -> f32 {
        self.std
    }

    /// Writes `v + σξ` into `out` with a fresh ξ (copies `v` when σ = 0).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `out` and `v` differ in length; nothing
    /// is drawn then.
    #[inline]
    pub(crate) fn perturb(&mut self, v: &[f32], out: &mut [f32]) -> Result<(), Error> {
        check_len(out.len(), v.len())?;
        self.perturb_equal(v, out);
        Ok(())
    }

    /// [`perturb`](Self::perturb) for lengths equal by construction (arrays,
    /// clones): unchecked, over the shorter of the two (never panics). Out
    /// of line: inlined at every call site of a trainer's step it cost the
    /// Cortex-M4F image 1.1 KB of flash.
    #[inline(never)]
    pub(crate) fn perturb_equal(&mut self, v: &[f32], out: &mut [f32]) {
        if self.std == 0.0 {
            for (o, &x) in out.iter_mut().zip(v) {
                *o = x;
            }
            return;
        }
        let mut stream = LaneStream::new(self.seed);
        stream.set_draw(self.draw);
        stream.restart(0);
        // ξ straight into `out`, then `out = v + σξ` in place.
        stream.fill(out);
        for (o, &x) in out.iter_mut().zip(v) {
            *o = x + self.std * *o;
        }
        self.draw = self.draw.wrapping_add(1);
    }

    pub(crate) fn draw_index(&self) -> u64 {
        self.draw
    }

    pub(crate) fn set_draw_index(&mut self, draw: u64) {
        self.draw = draw;
    }
}
