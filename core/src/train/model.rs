//! The model interface of the trainer and the evaluation functions: the
//! passes of a [`Network`] over input and output buffers, so that a network
//! sized at run time (the std harness's) trains and evaluates with the same
//! code as the const-generic ones.

use crate::error::Error;
use crate::nn::{Loss, Network, NoiseOn};
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;
use crate::train::WeightNoiseConfig;

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

/// A network taking inputs of type `X` and giving outputs of type `Y`, as
/// the [`Trainer`](crate::Trainer) and the evaluation functions
/// ([`clean_loss`](crate::clean_loss), [`perturbed_loss`](crate::perturbed_loss),
/// [`flatness`](crate::flatness), [`noisy_cost_expansion`](crate::noisy_cost_expansion))
/// see it.
///
/// Every [`Network<IN, OUT>`] is a `Model<[f32; IN], [f32; OUT]>` (the
/// methods forward to the network's and never fail: the lengths are fixed by
/// the types). A network sized at run time implements it with `Vec<f32>`
/// buffers and returns [`Error::LengthMismatch`] where a length does not fit.
///
/// # Examples
///
/// ```
/// use noisereg::{Clean, Dense, Model, Network};
/// let net = Dense::<2, 1>::zeroed();
/// let (mut ws, mut y) = (net.workspace(), net.output_buffer());
/// net.forward_traced(&[1.0, 2.0], &mut Clean, &mut ws, &mut y)?;
/// assert_eq!((y, Model::depth(&net)), ([0.0], 1));
/// # Ok::<(), noisereg::Error>(())
/// ```
pub trait Model<X, Y>: Parameters + Clone {
    /// Per-sample values of the passes (a [`Network::Cache`]).
    type Workspace: Clone + core::fmt::Debug;

    /// Number of dense layers.
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

    /// A zeroed workspace that fits this network.
    fn workspace(&self) -> Self::Workspace;

    /// A zeroed output buffer.
    fn output_buffer(&self) -> Y;

    /// Clean forward pass ([`Network::forward`]).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `y` does not fit.
    fn predict(&self, x: &X, y: &mut Y) -> Result<(), Error>;

    /// Clean forward pass of a batch ([`Network::forward_batch`]).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `ys` differ in length or a
    /// buffer does not fit.
    fn predict_batch(&self, xs: &[X], ys: &mut [Y]) -> Result<(), Error>;

    /// [`Network::loss_grad_sum`]: ADDS the clean gradient of the summed loss
    /// into `grad` and each loss into `total`.
    ///
    /// # Errors
    ///
    /// As [`Network::loss_grad_sum`], and buffers that do not fit.
    fn loss_grad_sum<T, L: Loss<T>>(
        &self,
        loss: &L,
        xs: &[X],
        targets: &[T],
        grad: &mut Self,
        total: &mut f32,
    ) -> Result<(), Error>;

    /// [`Network::forward_with`].
    ///
    /// # Errors
    ///
    /// As [`predict`](Self::predict).
    fn forward_traced<P: Perturbation>(
        &self,
        x: &X,
        p: &mut P,
        ws: &mut Self::Workspace,
        y: &mut Y,
    ) -> Result<(), Error>;

    /// [`Network::backward_with`]: ADDS the gradient into `grad`. The
    /// workspace is lent mutably so that a pass can keep its own values
    /// (the recurrent networks' δ and draws) in it without a copy; the
    /// forward values stay valid for another backward pass.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `dy` or `grad` does not fit.
    fn backward_traced<P: Perturbation>(
        &self,
        ws: &mut Self::Workspace,
        dy: &Y,
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error>;

    /// [`Network::penalty`].
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta` or `x` does not fit.
    fn penalty_at(
        &self,
        x: &X,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
    ) -> Result<f32, Error>;

    /// [`Network::penalty_grad`].
    ///
    /// # Errors
    ///
    /// As [`penalty_at`](Self::penalty_at); `grad` is unchanged then.
    fn penalty_grad_at(
        &self,
        x: &X,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
        grad: &mut Self,
    ) -> Result<f32, Error>;

    /// [`Network::penalty_grad_from_cache`].
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta` or `dy` does not fit.
    fn penalty_grad_traced(
        &self,
        ws: &mut Self::Workspace,
        dy: &Y,
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error>;

    /// [`Network::seeded_penalty_from_cache`].
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta` or `seed` does not fit.
    fn seeded_penalty_traced(
        &self,
        ws: &mut Self::Workspace,
        seed: &Y,
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut Self>,
    ) -> Result<f32, Error>;

    /// [`Network::hessian_trace`].
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x` or `traces` does not fit.
    fn hessian_trace_at(
        &self,
        x: &X,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
        traces: &mut Y,
    ) -> Result<(), Error>;
}

impl<const IN: usize, const OUT: usize, N: Network<IN, OUT>> Model<[f32; IN], [f32; OUT]> for N {
    type Workspace = N::Cache;

    #[inline]
    fn depth(&self) -> usize {
        N::DEPTH
    }

    #[inline]
    fn zeros_like(&self) -> Self {
        N::zeroed()
    }

    #[inline]
    fn workspace(&self) -> Self::Workspace {
        N::new_cache()
    }

    #[inline]
    fn output_buffer(&self) -> [f32; OUT] {
        [0.0; OUT]
    }

    #[inline]
    fn predict(&self, x: &[f32; IN], y: &mut [f32; OUT]) -> Result<(), Error> {
        self.forward(x, y);
        Ok(())
    }

    #[inline]
    fn predict_batch(&self, xs: &[[f32; IN]], ys: &mut [[f32; OUT]]) -> Result<(), Error> {
        self.forward_batch(xs, ys)
    }

    #[inline]
    fn loss_grad_sum<T, L: Loss<T>>(
        &self,
        loss: &L,
        xs: &[[f32; IN]],
        targets: &[T],
        grad: &mut Self,
        total: &mut f32,
    ) -> Result<(), Error> {
        Network::loss_grad_sum(self, loss, xs, targets, grad, total)
    }

    #[inline(always)]
    fn forward_traced<P: Perturbation>(
        &self,
        x: &[f32; IN],
        p: &mut P,
        ws: &mut Self::Workspace,
        y: &mut [f32; OUT],
    ) -> Result<(), Error> {
        self.forward_with(x, p, ws, y);
        Ok(())
    }

    #[inline(always)]
    fn backward_traced<P: Perturbation>(
        &self,
        ws: &mut Self::Workspace,
        dy: &[f32; OUT],
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error> {
        self.backward_with(ws, dy, p, grad);
        Ok(())
    }

    #[inline]
    fn penalty_at(
        &self,
        x: &[f32; IN],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
    ) -> Result<f32, Error> {
        self.penalty(x, eta, on, ws)
    }

    #[inline]
    fn penalty_grad_at(
        &self,
        x: &[f32; IN],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        self.penalty_grad(x, eta, on, ws, grad)
    }

    #[inline]
    fn penalty_grad_traced(
        &self,
        ws: &mut Self::Workspace,
        dy: &[f32; OUT],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        self.penalty_grad_from_cache(ws, dy, eta, on, grad)
    }

    #[inline]
    fn seeded_penalty_traced(
        &self,
        ws: &mut Self::Workspace,
        seed: &[f32; OUT],
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut Self>,
    ) -> Result<f32, Error> {
        self.seeded_penalty_from_cache(ws, seed, eta, on, grad)
    }

    #[inline]
    fn hessian_trace_at(
        &self,
        x: &[f32; IN],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
        traces: &mut [f32; OUT],
    ) -> Result<(), Error> {
        self.hessian_trace(x, eta, on, ws, traces)
    }
}
