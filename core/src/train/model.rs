//! The one trait of the passes of every model: the const-generic networks
//! ([`Network`](crate::Network)), the recurrent ones and those sized at run time (the std
//! harness's) train and evaluate with the same code.

use crate::error::Error;
use crate::nn::{Loss, NoiseOn};
use crate::noise::WeightNoiseConfig;
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;

/// A buffer of `f32` values: an array `[f32; N]` (fixed size, no checks) or,
/// with `alloc`, a `Vec<f32>` sized at run time.
///
/// # Examples
///
/// ```
/// fn total<B: noisereg::Buffer>(b: &B) -> f32 {
///     b.as_ref().iter().sum()
/// }
/// assert_eq!(total(&[1.0f32, 2.0]), 3.0);
/// assert_eq!(total(&vec![0.5f32; 4]), 2.0);
/// ```
pub trait Buffer: AsRef<[f32]> + AsMut<[f32]> + Clone {}

impl<B: AsRef<[f32]> + AsMut<[f32]> + Clone> Buffer for B {}

/// The passes of a model taking inputs of type `X` and giving outputs of
/// type `Y`: what the [`Trainer`](crate::Trainer) and the evaluation
/// functions ([`clean_loss`](crate::clean_loss), [`perturbed_loss`](crate::perturbed_loss),
/// [`flatness`](crate::flatness), [`noisy_cost_expansion`](crate::noisy_cost_expansion))
/// call, and what a user calls on any model.
///
/// Implemented by every [`Network<IN, OUT>`](crate::Network) as `Model<[f32; IN], [f32; OUT]>`
/// (the lengths are fixed by the types: the passes return `Ok` unless an
/// `eta` or a batch does not fit), by the recurrent networks, and by the
/// models sized at run time, which return [`Error::LengthMismatch`] where a
/// buffer does not fit.
///
/// # Examples
///
/// ```
/// use noisereg::{Clean, Dense, Model, Network};
/// let net = Dense::<2, 1>::zeroed();
/// let (mut ws, mut y) = (net.workspace(), net.output_buffer());
/// net.forward_with(&[1.0, 2.0], &mut Clean, &mut ws, &mut y)?;
/// assert_eq!((y, net.depth()), ([0.0], 1));
/// # Ok::<(), noisereg::Error>(())
/// ```
pub trait Model<X, Y>: Parameters + Clone {
    /// Per-sample values of the passes (per layer, for a [`Network`](crate::Network)), kept
    /// by [`forward_with`](Self::forward_with) for the passes that follow it.
    type Workspace: Clone + core::fmt::Debug;

    /// Number of layers whose noise an `eta` weights (one entry each).
    fn depth(&self) -> usize;

    /// Whether the trainer's passes run weight noise `config` exactly on this
    /// model; checked when the noise is set
    /// ([`ModelTrainer::set_weight_noise`](crate::ModelTrainer::set_weight_noise)).
    /// Every configuration by default (feed-forward networks); the recurrent
    /// networks reject what they cannot run
    /// ([`RecurrentNoise::check_weight_noise`](crate::RecurrentNoise::check_weight_noise)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming what the model cannot run.
    fn check_weight_noise(&self, config: &WeightNoiseConfig) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// A copy with every parameter zero (gradients, scratch networks).
    fn zeros_like(&self) -> Self;

    /// A zeroed workspace that fits this model.
    fn workspace(&self) -> Self::Workspace;

    /// A zeroed output buffer.
    fn output_buffer(&self) -> Y;

    /// Clean forward pass: `y = f(x)`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `y` does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Model, Network};
    /// let mut net = Dense::<2, 1>::zeroed();
    /// net.w = [[1.0, 2.0]];
    /// let mut y = [0.0];
    /// net.forward(&[1.0, 1.0], &mut y)?;
    /// assert_eq!(y, [3.0]);
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn forward(&self, x: &X, y: &mut Y) -> Result<(), Error>;

    /// Clean forward pass of a batch: `ys[s] = f(xs[s])`, the bits of
    /// [`forward`](Self::forward) per sample (a [`Network`](crate::Network) computes
    /// [`BLOCK`](crate::BLOCK) samples at a time with the weights held in
    /// registers across the block).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `ys` differ in length or a
    /// buffer does not fit; `ys` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Model, Network};
    /// let mut net = Dense::<1, 1>::zeroed();
    /// net.w = [[2.0]];
    /// let mut ys = [[0.0]; 3];
    /// net.forward_batch(&[[1.0], [2.0], [3.0]], &mut ys)?;
    /// assert_eq!(ys, [[2.0], [4.0], [6.0]]);
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn forward_batch(&self, xs: &[X], ys: &mut [Y]) -> Result<(), Error>;

    /// ADDS the clean gradient of `Σ_s ℓ(f(xs[s]), targets[s])` into `grad`
    /// and each sample's loss into `total`, samples in order (a [`Network`](crate::Network)
    /// runs [`BLOCK`](crate::BLOCK) samples at a time, see
    /// [`forward_batch`](Self::forward_batch)).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `targets` differ in length or a
    /// buffer does not fit, and the loss's errors (`grad` and `total` hold
    /// the samples before then).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Model, Network};
    /// let net = Dense::<1, 1>::zeroed();
    /// let (mut grad, mut total) = (Dense::<1, 1>::zeroed(), 0.0);
    /// net.loss_grad_sum(&HalfSquaredError, &[[1.0], [3.0]], &[[1.0], [1.0]], &mut grad, &mut total)?;
    /// assert_eq!((total, grad.w, grad.b), (1.0, [[-4.0]], [-2.0]));
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn loss_grad_sum<T, L: Loss<T>>(
        &self,
        loss: &L,
        xs: &[X],
        targets: &[T],
        grad: &mut Self,
        total: &mut f32,
    ) -> Result<(), Error>;

    /// Forward pass through the perturbed model, keeping the per-sample
    /// values in `ws` for [`backward_with`](Self::backward_with) and the
    /// `_with` penalty passes.
    ///
    /// # Errors
    ///
    /// As [`forward`](Self::forward), and a workspace that does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Model, Network, Tanh};
    /// let mut net = <(Dense<1, 2, Tanh>, Dense<2, 1>)>::zeroed();
    /// net.1.b = [0.25];
    /// let (mut ws, mut y) = (net.workspace(), [0.0]);
    /// net.forward_with(&[1.0], &mut Clean, &mut ws, &mut y)?;
    /// assert_eq!(y, [0.25]);
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn forward_with<P: Perturbation>(
        &self,
        x: &X,
        p: &mut P,
        ws: &mut Self::Workspace,
        y: &mut Y,
    ) -> Result<(), Error>;

    /// Given `dy = ∂ℓ/∂y`, ADDS `∂ℓ/∂θ` at the weights used by the
    /// [`forward_with`](Self::forward_with) that filled `ws` into `grad`
    /// (`p` must give that pass's draws again). The workspace is lent
    /// mutably so that a pass can keep its own values (the recurrent
    /// networks' δ and draws) in it without a copy; the forward values stay
    /// valid for another backward pass.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `dy`, `ws` or `grad` does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Model, Network};
    /// let mut net = Dense::<2, 1>::zeroed();
    /// net.w = [[1.0, 1.0]];
    /// let (mut ws, mut y, mut grad) = (net.workspace(), [0.0], net.zeros_like());
    /// net.forward_with(&[2.0, 3.0], &mut Clean, &mut ws, &mut y)?;
    /// net.backward_with(&mut ws, &[1.0], &mut Clean, &mut grad)?;
    /// assert_eq!((grad.w, grad.b), ([[2.0, 3.0]], [1.0]));
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn backward_with<P: Perturbation>(
        &self,
        ws: &mut Self::Workspace,
        dy: &Y,
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error>;

    /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x)‖²` at the clean weights, by
    /// the factorised form (one backward pass of vectors per output, no
    /// per-sample gradient). `eta` has one entry per layer (from the input,
    /// [`depth`](Self::depth) entries); the noisy cost is `ℓ + penalty/2`.
    /// Runs a clean forward pass into `ws`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x` or `ws` does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Model, Network, NoiseOn};
    /// // Linear model: ∇_w f = x, so the penalty is η‖x‖² (+ η for the bias).
    /// let net = Dense::<2, 1>::zeroed();
    /// let mut ws = net.workspace();
    /// let p = net.penalty(&[1.0, 2.0], &[0.5], NoiseOn::WeightsAndBiases, &mut ws)?;
    /// assert_eq!(p, 0.5 * 6.0);
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn penalty(
        &self,
        x: &X,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
    ) -> Result<f32, Error>;

    /// Adds `H_f v = ∇_θ ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x)‖²` into `grad` (over
    /// every parameter, whichever count in the penalty) and returns the
    /// penalty. Runs a clean forward pass into `ws`.
    ///
    /// # Errors
    ///
    /// As [`penalty`](Self::penalty); `grad` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Mlp1, Model, Network, NoiseOn, Tanh};
    /// let mut net = Mlp1::<1, 2, 1, Tanh>::zeroed();
    /// net.0.w = [[1.0], [-1.0]];
    /// net.1.w = [[1.0, 1.0]];
    /// let (mut ws, mut grad) = (net.workspace(), net.zeros_like());
    /// let p = net.penalty_grad(&[0.5], &[0.1, 0.1], NoiseOn::Weights, &mut ws, &mut grad)?;
    /// assert!(p > 0.0 && grad.0.w[0][0] != 0.0);
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn penalty_grad(
        &self,
        x: &X,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
        grad: &mut Self,
    ) -> Result<f32, Error>;

    /// Adds `∇_θ [dy·f + ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²]` into `grad` and
    /// returns the penalty, given a clean [`forward_with`](Self::forward_with)
    /// in `ws`.
    ///
    /// Per output `k`: one backward pass for `δ`, one R-forward and one
    /// R-backward pass (Pearlmutter) along `v = η ⊙ ∇_θ f_k`, with the loss
    /// gradient `dy_k ∇_θ f_k` folded into the R-backward sweep (back-
    /// propagation is linear in its seed). Pass `dy = ∂ℓ/∂y` to get the
    /// gradient of `ℓ + penalty/2`, zeros for `H_f v` alone.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `dy`, `ws` or `grad` does not
    /// fit; `grad` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Model, Network, NoiseOn};
    /// // Linear model: the penalty is constant in θ, its gradient zero.
    /// let net = Dense::<2, 1>::zeroed();
    /// let (mut ws, mut y, mut grad) = (net.workspace(), [0.0], net.zeros_like());
    /// net.forward_with(&[1.0, 2.0], &mut Clean, &mut ws, &mut y)?;
    /// let p = net.penalty_grad_with(&mut ws, &[1.0], &[0.5], NoiseOn::Weights, &mut grad)?;
    /// assert_eq!(p, 2.5);
    /// assert_eq!((grad.w, grad.b), ([[1.0, 2.0]], [1.0]));
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn penalty_grad_with(
        &self,
        ws: &mut Self::Workspace,
        dy: &Y,
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error>;

    /// The penalty of one seed `s`: `Σ_l η_l ‖∇_{θ_l} (s·f)‖²` (one backward
    /// sweep), given a clean [`forward_with`](Self::forward_with) in `ws`;
    /// with `grad`, also adds `H_{s·f} (η ⊙ ∇_θ (s·f))`, the gradient of
    /// half of it with `s` held fixed (R-operator). The loss-correct penalty
    /// sums this over the columns of the loss's Hessian factor
    /// ([`Loss::hessian_factor`]).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `seed`, `ws` or `grad` does not
    /// fit; `grad` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Model, Network, NoiseOn};
    /// // Linear model: ∇_w (s·f) = s xᵀ, so the penalty is η‖s‖²‖x‖².
    /// let net = Dense::<1, 2>::zeroed();
    /// let (mut ws, mut y) = (net.workspace(), [0.0; 2]);
    /// net.forward_with(&[2.0], &mut Clean, &mut ws, &mut y)?;
    /// let p = net.seeded_penalty_with(&mut ws, &[1.0, -1.0], &[0.5], NoiseOn::Weights, None)?;
    /// assert_eq!(p, 0.5 * 2.0 * 4.0);
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn seeded_penalty_with(
        &self,
        ws: &mut Self::Workspace,
        seed: &Y,
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut Self>,
    ) -> Result<f32, Error>;

    /// Exact `Σ_l η_l tr ∇²_{θ_l} f_k(x)` over the parameters that count
    /// (`on`) for every output `k`, into `traces` (pass `η_l = 1` for the
    /// plain trace). Runs a clean forward pass into `ws`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x`, `ws` or `traces` does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Activation, Dense, Model, Network, NoiseOn, Tanh};
    /// // f = tanh(w·x + b): tr ∇²_w f = ‖x‖²·tanh''(z).
    /// let mut net = Dense::<2, 1, Tanh>::zeroed();
    /// net.w = [[0.5, 0.25]];
    /// let (mut ws, mut tr) = (net.workspace(), [0.0]);
    /// net.hessian_trace(&[1.0, 2.0], &[1.0], NoiseOn::Weights, &mut ws, &mut tr)?;
    /// assert!((tr[0] - 5.0 * Tanh.d2f(1.0)).abs() < 1e-6);
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn hessian_trace(
        &self,
        x: &X,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
        traces: &mut Y,
    ) -> Result<(), Error>;
}
