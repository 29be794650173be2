//! The crate's own `f32` mathematics, written with `+ − × ÷ √` and bit
//! operations only (never a fused multiply-add), so every target computes
//! the same bits: `exp`, `tanh` and the logistic function for the
//! activations ([`activations`]), and Box–Muller's logarithm, square root and
//! sine/cosine for the sampler ([`box_muller`]). Coefficients are fits made
//! by `coefficients.py` in this folder.

pub(crate) mod activations;
pub(crate) mod box_muller;
