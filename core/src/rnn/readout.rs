//! The dense readout `f_t = V h_t + c` and the seeds of the backward passes,
//! shared by every recurrent network (`hidden` is the readout's input).

use super::ops::{axpy, mtv_add, mv_add, outer_add, row, row_mut, sq};
use super::{Readout, RnnDims};
use crate::error::{Error, check_len};

impl RnnDims {
    /// Whether the readout is applied after step `t`.
    #[inline(always)]
    pub(super) fn readout_at(&self, t: usize) -> bool {
        match self.readout {
            Readout::Last => t + 1 == self.steps,
            Readout::EveryStep => true,
        }
    }

    /// The step a readout draw after step `t` is keyed on (sequence to one:
    /// the one readout is keyed on step 0).
    #[inline(always)]
    pub(super) fn readout_key(&self, t: usize) -> usize {
        match self.readout {
            Readout::Last => 0,
            Readout::EveryStep => t,
        }
    }

    /// The outputs among the readouts `y` (`T·K`): `K` or `T·K` values.
    pub(super) fn output<'y>(&self, y: &'y [f32]) -> &'y [f32] {
        match self.readout {
            Readout::Last => row(y, self.steps - 1, self.output),
            Readout::EveryStep => y,
        }
    }

    /// Writes `dy` (`K` or `T·K` values) into `seed` (`T·K`).
    pub(super) fn set_seed(&self, dy: &[f32], seed: &mut [f32]) -> Result<(), Error> {
        check_len(dy.len(), self.outputs())?;
        match self.readout {
            Readout::Last => {
                seed.fill(0.0);
                row_mut(seed, self.steps - 1, self.output).copy_from_slice(dy);
            }
            Readout::EveryStep => seed.copy_from_slice(dy),
        }
        Ok(())
    }

    /// Sets `seed = e_j` (output `j` of `K` or `T·K`).
    pub(super) fn unit_seed(&self, j: usize, seed: &mut [f32]) {
        seed.fill(0.0);
        let at = match self.readout {
            Readout::Last => (self.steps - 1) * self.output + j,
            Readout::EveryStep => j,
        };
        if let Some(s) = seed.get_mut(at) {
            *s = 1.0;
        }
    }
}

/// `y = V h_t + c` (`V` with `hidden` columns).
#[inline(always)]
pub(super) fn forward(v: &[f32], c: &[f32], hidden: usize, h_t: &[f32], y: &mut [f32]) {
    y.copy_from_slice(c);
    mv_add(v, hidden, h_t, y);
}

/// `g += Vᵀ s_t`.
#[inline(always)]
pub(super) fn backward(v: &[f32], hidden: usize, s_t: &[f32], g: &mut [f32]) {
    mtv_add(v, hidden, s_t, g);
}

/// The per-step penalty of the readout's copy t: `η ‖s_t‖² (‖h_t‖² + β)`.
#[inline(always)]
pub(super) fn step_penalty(eta: f32, s_t: &[f32], h_t: &[f32], beta: f32) -> f32 {
    eta * sq(s_t) * (sq(h_t) + beta)
}

/// `V += s_t h_tᵀ`, `c += s_t`: the readout's part of `∇ (s·f)` at step t.
#[inline(always)]
pub(super) fn add_grad(s_t: &[f32], h_t: &[f32], v: &mut [f32], c: &mut [f32]) {
    outer_add(1.0, s_t, h_t, v);
    axpy(1.0, s_t, c);
}
