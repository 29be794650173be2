//! The Elman network over borrowed slices, sized at run time: the cell's
//! steps ([`cell`]), the per-sequence values ([`scratch`]), the steps the
//! driver runs ([`passes`]) and the const-generic shell ([`net`]).

pub(super) mod cell;
mod net;
pub(super) mod passes;
mod scratch;

pub use net::{Elman, ElmanWork};
pub use scratch::ElmanScratch;

use super::params::ElmanParams;
use super::{RecurrentNoise, RnnDims};
use crate::nn::Activation;

/// An Elman network over borrowed slices, sized at run time:
/// `h_t = φ(W_x x_t + W_h h_{t−1} + b)`, `h_0 = 0`, with the readout
/// `f = V h_T + c` ([`Readout::Last`](crate::Readout::Last)) or `f_t = V h_t + c`
/// ([`Readout::EveryStep`](crate::Readout::EveryStep)). The const-generic [`Elman`](crate::Elman)
/// calls exactly these functions; a network sized at run time (the
/// harness's) gets the same bits by calling them on its own buffers.
///
/// Inputs are the `T·D` values of a sequence, step after step; outputs are
/// `K` values (sequence to one) or `T·K` (sequence to sequence). Per-layer
/// `eta` has 3 entries ([`ElmanParams`] lists the layers). Penalties follow
/// the crate's convention: the returned value is `Σ_k Σ_l η_l ‖·‖²`, the
/// noisy cost is `ℓ + penalty/2` (`docs/theory.md` §8).
///
/// Weight noise reaches the passes through [`Perturbation`](crate::Perturbation): per sequence,
/// one draw of the cell's and the readout's weights is materialised in the
/// scratch (`noisy`, `H·D + H + H·H + K·H + K` floats) with
/// [`begin_step(0)`](crate::Perturbation::begin_step); per step, the draw for step
/// `t` is made with `begin_step(t)` before step t's forward and again before
/// its backward (the keyed streams reproduce it; steps `t` and `t + 65536`
/// share a draw); every pass ends with
/// `begin_step(0)`. Sequence to one, the readout is drawn once (step 0's
/// key). Local reparameterisation's
/// pre-activation hooks are not called: recurrent networks do not support it.
///
/// Cost of [`hessian_trace`](Self::hessian_trace) per output: per sequence
/// one R-operator pass per noisy cell parameter, `O(H·(D+H) · T·H·(D+H))`;
/// per step one per step and hidden unit
/// (`∂²f/∂θ²_{t,ij} = a_{t,j}² ∂²f/∂z²_{t,i}`), `O(T²·H³)`.
///
/// # Examples
///
/// ```
/// use noisereg::{Clean, ElmanParams, ElmanRef, ElmanScratch, Readout, RecurrentNoise, RnnDims, Tanh};
/// let dims = RnnDims { input: 1, hidden: 1, output: 1, steps: 2, readout: Readout::Last };
/// let p = ElmanParams { wx: &[1.0], b: &[0.0], wh: &[0.5], v: &[2.0], c: &[0.0] };
/// let net = ElmanRef::new(p, Tanh, dims, RecurrentNoise::PerSequence)?;
/// let mut buf = vec![0.0; ElmanScratch::required_len(&dims)];
/// let mut ws = ElmanScratch::split(&mut buf, &dims)?;
/// net.forward(&[0.5, 0.0], &mut Clean, &mut ws)?;
/// let h1 = 0.5f32.tanh();
/// assert!((net.output(&ws)[0] - 2.0 * (0.5 * h1).tanh()).abs() < 1e-6);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElmanRef<'a, A: Activation> {
    p: ElmanParams<'a>,
    act: A,
    dims: RnnDims,
    noise: RecurrentNoise,
}

impl<'a, A: Activation> ElmanRef<'a, A> {
    one_cell_passes!(ElmanScratch, 1);
}
