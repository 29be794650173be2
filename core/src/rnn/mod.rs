//! Recurrent networks: the Elman cell `h_t = φ(W_x x_t + W_h h_{t−1} + b)`
//! and the GRU cell with a dense readout, trained by back-propagation through
//! time, with the weight-noise penalty of both noise semantics
//! (`docs/theory.md` §8).
//!
//! Every pass is written once. `driver` holds the unrolled-through-time
//! driver: the draws of weight noise, the time loops of the forward, BPTT
//! and R-operator passes, the penalty and its gradient over the output
//! seeds, the trace; each network supplies per-step hooks. `readout` is the
//! dense readout, `params` the parameter slices and their draws, `ops` the
//! slice arithmetic. `elman` (its `cell` is the Elman cell's steps, used
//! by [`ElmanRef`] and both cells of [`StackedElman`]), `gru` and `stacked`
//! are the networks; `one_cell` what [`ElmanRef`] and [`GruRef`] share. The
//! slice views are what the const-generic [`Elman`] and [`Gru`] call, so a
//! network sized at run time gets the same bits.

#[macro_use]
mod model_impl;
#[macro_use]
mod one_cell;
mod driver;
mod elman;
mod gru;
mod ops;
mod params;
mod readout;
mod sequence;
mod stacked;

pub use elman::{Elman, ElmanRef, ElmanScratch, ElmanWork};
pub use gru::{Gru, GruParams, GruParamsMut, GruRef, GruScratch, GruWork};
pub use params::{ElmanParams, ElmanParamsMut};
pub use sequence::Sequence;
pub use stacked::{StackedElman, StackedElmanWork};

use crate::error::Error;
use crate::noise::{Estimator, NoiseKind, Redraw, WeightNoiseConfig};

/// What weight noise means when the same θ is used at every step
/// (`docs/theory.md` §8).
///
/// # Examples
///
/// ```
/// assert_eq!(noisereg::RecurrentNoise::default(), noisereg::RecurrentNoise::PerSequence);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecurrentNoise {
    /// One draw for the whole sequence, reused at every step: the penalty is
    /// `(η/2)‖Σ_t G_t‖²`.
    #[default]
    PerSequence,
    /// A fresh draw at every step (the unrolled copies are perturbed
    /// independently): the penalty is `(η/2) Σ_t ‖G_t‖²`.
    PerStep,
}

impl RecurrentNoise {
    /// Whether the trainer runs weight noise `config` exactly with these
    /// semantics ([`Model::check_weight_noise`](crate::Model::check_weight_noise)).
    ///
    /// The recurrent passes regenerate each draw through
    /// [`Perturbation`](crate::Perturbation) and do not call the dense hooks
    /// of Flipout or local reparameterisation, so those would run clean or
    /// wrong. Per step, a per-batch draw materialises one network (per-sequence
    /// noise), and multiplicative noise would rescale the gradient by step 0's
    /// factors only.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `estimator` for Flipout or local
    /// reparameterisation; per step, naming `redraw` for a per-batch draw and
    /// `kind` for multiplicative noise.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Estimator, NoiseKind, RecurrentNoise, WeightNoiseConfig};
    /// let add = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    /// assert!(RecurrentNoise::PerStep.check_weight_noise(&add).is_ok());
    /// let flip = add.with_estimator(Estimator::Flipout);
    /// assert!(RecurrentNoise::PerSequence.check_weight_noise(&flip).is_err());
    /// ```
    pub fn check_weight_noise(self, config: &WeightNoiseConfig) -> Result<(), Error> {
        if matches!(
            config.estimator(),
            Estimator::Flipout | Estimator::LocalReparam
        ) {
            return Err(Error::InvalidParameter {
                name: "estimator",
                requirement: "Independent or PerBatch with a recurrent network",
            });
        }
        if self == Self::PerStep && config.redraw() == Redraw::PerBatch {
            return Err(Error::InvalidParameter {
                name: "redraw",
                requirement: "per sample with per-step recurrent noise",
            });
        }
        if self == Self::PerStep && config.kind() == NoiseKind::Multiplicative {
            return Err(Error::InvalidParameter {
                name: "kind",
                requirement: "additive with per-step recurrent noise",
            });
        }
        Ok(())
    }
}

/// Where the readout `f_t = V h_t + c` is applied.
///
/// # Examples
///
/// ```
/// assert_eq!(noisereg::Readout::default(), noisereg::Readout::Last);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Readout {
    /// Sequence to one: `f = V h_T + c`.
    #[default]
    Last,
    /// Sequence to sequence: `f_t = V h_t + c` at every step, the loss summed
    /// over t.
    EveryStep,
}

/// The sizes of a recurrent network and its sequences.
///
/// # Examples
///
/// ```
/// use noisereg::{Readout, RnnDims};
/// let d = RnnDims { input: 2, hidden: 4, output: 1, steps: 5, readout: Readout::Last };
/// assert!(d.check().is_ok());
/// assert_eq!(d.outputs(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RnnDims {
    /// Input size `D` per step.
    pub input: usize,
    /// Hidden size `H`.
    pub hidden: usize,
    /// Output size `K` per readout.
    pub output: usize,
    /// Sequence length `T`.
    pub steps: usize,
    /// Sequence to one or sequence to sequence.
    pub readout: Readout,
}

impl RnnDims {
    /// Every size must be positive.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `dims` if a size is 0.
    pub fn check(&self) -> Result<(), Error> {
        if self.input == 0 || self.hidden == 0 || self.output == 0 || self.steps == 0 {
            return Err(Error::InvalidParameter {
                name: "dims",
                requirement: "every size positive",
            });
        }
        Ok(())
    }

    /// Number of outputs of one sequence: `K` (sequence to one) or `T·K`.
    pub fn outputs(&self) -> usize {
        match self.readout {
            Readout::Last => self.output,
            Readout::EveryStep => self.output * self.steps,
        }
    }

    /// Number of layers as the noise sees them: 3 (input weights and the
    /// cell bias, recurrent weights, readout).
    pub const fn depth(&self) -> usize {
        3
    }
}
