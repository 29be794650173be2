//! The per-sample penalty `Σ_l η_l ‖∇_{θ_l} f_k‖²` in factorised form:
//! for a dense layer, `‖∂f_k/∂W‖²_F = ‖δ‖²·‖x‖²` (`docs/theory.md` §3).

use super::activation::Activation;
use super::dense::DenseRef;
use crate::error::Error;
use crate::kernels::sq_norm;

/// Which parameters get noise, and so count in the penalty, its gradient
/// direction and the Hessian trace.
///
/// # Examples
///
/// ```
/// use noisereg::NoiseOn;
/// assert_eq!(NoiseOn::default(), NoiseOn::Weights);
/// assert_eq!((NoiseOn::Weights.bias_term(), NoiseOn::WeightsAndBiases.bias_term()), (0.0, 1.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NoiseOn {
    /// Weights only.
    #[default]
    Weights,
    /// Weights and biases.
    WeightsAndBiases,
}

impl NoiseOn {
    /// `1` when biases count, else `0`: the bias's share of a layer's term,
    /// `‖δ‖²·(‖x‖² + bias_term)`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(noisereg::NoiseOn::WeightsAndBiases.bias_term(), 1.0);
    /// ```
    #[inline(always)]
    pub fn bias_term(self) -> f32 {
        match self {
            NoiseOn::Weights => 0.0,
            NoiseOn::WeightsAndBiases => 1.0,
        }
    }
}

/// The value of a loss and of the penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` (for
/// a batch: their means). The noisy cost is approximated by
/// [`objective`](Self::objective) `= loss + penalty / 2`.
///
/// # Examples
///
/// ```
/// let v = noisereg::LossAndPenalty { loss: 1.0, penalty: 0.5 };
/// assert_eq!(v.objective(), 1.25);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossAndPenalty {
    /// Loss `ℓ`.
    pub loss: f32,
    /// Penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` (not halved).
    pub penalty: f32,
}

impl LossAndPenalty {
    /// `loss + penalty / 2`, the first-order noisy cost.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(noisereg::LossAndPenalty { loss: 0.0, penalty: 2.0 }.objective(), 1.0);
    /// ```
    #[inline]
    pub fn objective(&self) -> f32 {
        self.loss + 0.5 * self.penalty
    }
}

impl<A: Activation> DenseRef<'_, A> {
    /// This layer's penalty term `η·(‖x‖² + b)·‖δ‖²` (`b` =
    /// [`NoiseOn::bias_term`]) with `δ = ∂f_k/∂z`: the squared norm of
    /// `∂f_k/∂(W, b)` without forming the outer product `δ xᵀ`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless `x` has [`inputs`](Self::inputs) and
    /// `delta` [`outputs`](Self::outputs) elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity, NoiseOn};
    /// let layer = DenseRef::new(&[0.0; 4], &[0.0; 2], 2, Identity).unwrap();
    /// let t = layer.penalty_term(&[1.0, 2.0], &[3.0, 0.0], 0.5, NoiseOn::WeightsAndBiases);
    /// assert_eq!(t, Ok(0.5 * 6.0 * 9.0));
    /// ```
    #[inline(always)]
    pub fn penalty_term(
        &self,
        x: &[f32],
        delta: &[f32],
        eta: f32,
        on: NoiseOn,
    ) -> Result<f32, Error> {
        self.check(&[x.len()], &[delta.len()])?;
        Ok(self.penalty_term_unchecked(x, delta, eta, on))
    }

    /// [`penalty_term`](Self::penalty_term) without the length check.
    #[inline(always)]
    pub(crate) fn penalty_term_unchecked(
        &self,
        x: &[f32],
        delta: &[f32],
        eta: f32,
        on: NoiseOn,
    ) -> f32 {
        eta * ((sq_norm(x) + on.bias_term()) * sq_norm(delta))
    }
}
