//! Recurrent networks: the Elman cell `h_t = φ(W_x x_t + W_h h_{t−1} + b)`
//! and the GRU cell with a dense readout, trained by back-propagation through
//! time, with the weight-noise penalty of both noise semantics
//! (`docs/theory.md` §8).
//!
//! Every pass is written once over slices ([`ElmanRef`], [`GruRef`]); the
//! const-generic [`Elman`] and [`Gru`] own arrays and call them, so a network
//! sized at run time gets the same bits.

#[macro_use]
mod model_impl;
mod elman;
mod elman_ref;
mod gru;
mod gru_ref;
mod sequence;

pub use elman::{Elman, ElmanWork};
pub use elman_ref::{ElmanParams, ElmanParamsMut, ElmanRef, ElmanScratch};
pub use gru::{Gru, GruWork};
pub use gru_ref::{GruParams, GruParamsMut, GruRef, GruScratch};
pub use sequence::Sequence;

use crate::error::Error;

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
