//! From a trained network to a device (docs/theory.md §9): b-bit quantisation
//! (round to nearest, stochastic rounding, subtractive dither; per row or per
//! layer), an int8 storage form with its inference kernel, faults (bit flips
//! in `f32` or int8 storage, stuck-at-zero weights), the analog drift model
//! of IBM's aihwkit for phase-change memory, and the predicted loss increase
//! under small independent noise with per-parameter variances.
//!
//! Every perturbation works on any [`Parameters`](crate::Parameters) with the
//! dense layout (slice `2l` weights `OUT × IN`, `2l + 1` bias), in place, so
//! evaluate it on a copy; one seeded generator fixes every bit.

mod drift;
mod faults;
mod int8;
mod prediction;
mod quantize;

pub use drift::PcmDrift;
pub use faults::{flip_bits_f32, flip_bits_i8, flip_bits_int8_weights, stuck_at_zero};
pub use int8::{Int8Dense, Int8DenseRef, Int8Network, ToInt8, quantize_matrix_int8};
pub use prediction::{
    PredictedIncrease, dither_variance, predicted_increase, prediction_scratch_len,
    stochastic_rounding_variance,
};
pub use quantize::{Granularity, QuantConfig, Rounding, quantization_steps, quantize_weights};
