//! The GRU network over borrowed slices, sized at run time: the
//! per-sequence values ([`scratch`]), the steps the driver runs ([`passes`],
//! the R-operator's in [`rop`]) and the const-generic shell ([`net`]).

mod net;
pub(super) mod passes;
mod rop;
mod scratch;

pub use net::{Gru, GruWork};
pub use scratch::GruScratch;

use super::params::{ElmanParams, ElmanParamsMut};
use super::{RecurrentNoise, RnnDims};
use crate::nn::Activation;

/// The parameters of a GRU network, borrowed: the same five slices as an
/// Elman network with three gate blocks stacked in the cell's rows, in the
/// order reset `r`, update `u`, candidate `n`: `wx` (`3H×D`), `b` (`3H`),
/// `wh` (`3H×H`), then the readout `v` (`K×H`) and `c` (`K`).
pub type GruParams<'a> = ElmanParams<'a>;

/// [`GruParams`], mutably borrowed.
pub type GruParamsMut<'a> = ElmanParamsMut<'a>;

/// A GRU network over borrowed slices, sized at run time:
///
/// ```text
/// r_t = σ(W_r x_t + U_r h_{t−1} + b_r)      u_t = σ(W_u x_t + U_u h_{t−1} + b_u)
/// n_t = φ(W_n x_t + U_n (r_t ⊙ h_{t−1}) + b_n)
/// h_t = (1 − u_t) ⊙ n_t + u_t ⊙ h_{t−1}      h_0 = 0
/// ```
///
/// with the readout of [`Readout`](crate::Readout); the gates use the logistic sigmoid, the
/// candidate `φ`. The noise sees the same three layers as for
/// [`ElmanRef`](crate::ElmanRef) (input weights of all gates with their
/// biases, recurrent weights of all gates, readout), and the passes, the
/// penalty semantics and the draws are those of `ElmanRef` with
/// `G_t` the gate blocks' `δ^g_t [x_t; h_{t−1} (r, u) or q_t (n); 1]ᵀ`
/// (`docs/theory.md` §8). The const-generic [`Gru`](crate::Gru) calls
/// exactly these functions.
///
/// [`hessian_trace`](Self::hessian_trace)'s per-step form uses the
/// coefficient `q_{t,j}²` for the candidate's recurrent rows. Cost per
/// output: per sequence `3H·(D+H+1)` R passes, per step `3·T·H`.
///
/// # Examples
///
/// ```
/// use noisereg::{Clean, GruParams, GruRef, GruScratch, Readout, RecurrentNoise, RnnDims, Tanh};
/// let dims = RnnDims { input: 1, hidden: 1, output: 1, steps: 1, readout: Readout::Last };
/// // r, u, n rows; u = σ(0) = ½, n = tanh(x): h = ½ tanh(x).
/// let p = GruParams { wx: &[0.0, 0.0, 1.0], b: &[0.0; 3], wh: &[0.0; 3], v: &[1.0], c: &[0.0] };
/// let net = GruRef::new(p, Tanh, dims, RecurrentNoise::PerSequence)?;
/// let mut buf = vec![0.0; GruScratch::required_len(&dims)];
/// let mut ws = GruScratch::split(&mut buf, &dims)?;
/// net.forward(&[0.5], &mut Clean, &mut ws)?;
/// assert!((net.output(&ws)[0] - 0.5 * 0.5f32.tanh()).abs() < 1e-6);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GruRef<'a, A: Activation> {
    p: ElmanParams<'a>,
    act: A,
    dims: RnnDims,
    noise: RecurrentNoise,
}

impl<'a, A: Activation> GruRef<'a, A> {
    one_cell_passes!(GruScratch, 3);
}
