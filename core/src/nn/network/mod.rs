//! The `Network` trait (the MLP aliases are in `aliases.rs`); its impls and
//! [`Model`]'s for one [`Dense`](super::Dense) layer are in `dense_impl.rs`,
//! for the tuple `(Dense, rest)`, which composes layers to any depth, in
//! `pair.rs`.
//!
//! The one-sample passes are the layer visitors of [`passes`](super::passes)
//! walked through the nested pairs ([`Walk`]); the batch passes run the
//! crate-internal block plumbing of [`sealed::Nested`].

use super::init::Init;
use super::loss::Loss;
use super::passes;
use super::penalty::{LossAndPenalty, NoiseOn};

use crate::error::{Error, check_len};
use crate::perturbation::Perturbation;
use crate::train::Model;
use core::fmt::Debug;
use rand_core::Rng;
use sealed::Nested;

/// The [`Model`] passes of a const-generic network `Self: Network<IN, OUT>`
/// (all but `workspace` and `forward`): the one-sample passes walk the layer
/// visitors of [`passes`] through the nested pairs, the batch passes run the
/// block plumbing. Lengths are fixed by the types; only `eta` and the batch
/// lengths are checked.
macro_rules! const_model_passes {
    () => {
        #[inline]
        fn depth(&self) -> usize {
            <Self as super::Network<IN, OUT>>::DEPTH
        }

        #[inline]
        fn zeros_like(&self) -> Self {
            <Self as super::Network<IN, OUT>>::zeroed()
        }

        #[inline]
        fn output_buffer(&self) -> [f32; OUT] {
            [0.0; OUT]
        }

        #[inline]
        fn forward_batch(
            &self,
            xs: &[[f32; IN]],
            ys: &mut [[f32; OUT]],
        ) -> Result<(), crate::Error> {
            super::batch::forward_batch::<IN, OUT, Self>(self, xs, ys)
        }

        #[inline]
        fn loss_grad_sum<T, L: crate::Loss<T>>(
            &self,
            loss: &L,
            xs: &[[f32; IN]],
            targets: &[T],
            grad: &mut Self,
            total: &mut f32,
        ) -> Result<(), crate::Error> {
            super::batch::loss_grad_sum::<IN, OUT, Self, _, _>(self, loss, xs, targets, grad, total)
        }

        #[inline(always)]
        fn forward_with<P: crate::Perturbation>(
            &self,
            x: &[f32; IN],
            p: &mut P,
            ws: &mut Self::Workspace,
            y: &mut [f32; OUT],
        ) -> Result<(), crate::Error> {
            super::passes::forward_with(&super::Walk::<IN, OUT, Self>(self), x, p, ws, y)
        }

        #[inline(always)]
        fn backward_with<P: crate::Perturbation>(
            &self,
            ws: &mut Self::Workspace,
            dy: &[f32; OUT],
            p: &mut P,
            grad: &mut Self,
        ) -> Result<(), crate::Error> {
            super::passes::backward_with(&super::Walk::<IN, OUT, Self>(self), ws, dy, p, grad)
        }

        #[inline]
        fn penalty(
            &self,
            x: &[f32; IN],
            eta: &[f32],
            on: crate::NoiseOn,
            ws: &mut Self::Workspace,
        ) -> Result<f32, crate::Error> {
            super::passes::penalty(&super::Walk::<IN, OUT, Self>(self), x, eta, on, ws)
        }

        #[inline]
        fn penalty_grad(
            &self,
            x: &[f32; IN],
            eta: &[f32],
            on: crate::NoiseOn,
            ws: &mut Self::Workspace,
            grad: &mut Self,
        ) -> Result<f32, crate::Error> {
            let net = &super::Walk::<IN, OUT, Self>(self);
            super::passes::penalty_grad(net, x, eta, on, ws, grad)
        }

        #[inline]
        fn penalty_grad_with(
            &self,
            ws: &mut Self::Workspace,
            dy: &[f32; OUT],
            eta: &[f32],
            on: crate::NoiseOn,
            grad: &mut Self,
        ) -> Result<f32, crate::Error> {
            let net = &super::Walk::<IN, OUT, Self>(self);
            super::passes::penalty_grad_from_cache(net, ws, Some(dy), eta, on, grad)
        }

        #[inline]
        fn seeded_penalty_with(
            &self,
            ws: &mut Self::Workspace,
            seed: &[f32; OUT],
            eta: &[f32],
            on: crate::NoiseOn,
            grad: Option<&mut Self>,
        ) -> Result<f32, crate::Error> {
            let net = &super::Walk::<IN, OUT, Self>(self);
            super::passes::seeded_penalty_from_cache(net, ws, seed, eta, on, grad)
        }

        #[inline]
        fn hessian_trace(
            &self,
            x: &[f32; IN],
            eta: &[f32],
            on: crate::NoiseOn,
            ws: &mut Self::Workspace,
            traces: &mut [f32; OUT],
        ) -> Result<(), crate::Error> {
            let net = &super::Walk::<IN, OUT, Self>(self);
            super::passes::hessian_trace(net, x, eta, on, ws, traces)
        }
    };
}

mod aliases;
mod batch;
mod dense_impl;
mod pair;
mod penalty_passes;
mod sealed;
mod walk;

pub use aliases::{Mlp1, Mlp2, Mlp3};
use walk::Walk;

/// A fixed-size network mapping `[f32; IN]` to `[f32; OUT]`: what is known
/// at compile time ([`DEPTH`](Self::DEPTH), [`PARAMS`](Self::PARAMS),
/// [`zeroed`](Self::zeroed)) and the blocked batch passes; the passes of
/// every model are [`Model`]'s.
///
/// Implemented by [`Dense`](super::Dense) (one layer) and by `(Dense<IN, H, A>, N)` for any
/// `N: Network<H, OUT>`, so nested pairs give any depth and mismatched widths
/// do not compile. [`Mlp1`], [`Mlp2`] and [`Mlp3`] name the common shapes.
///
/// The trait is sealed: its plumbing (the walks of the layer visitor through
/// nested pairs, the block buffers) is crate-internal. The one-sample passes
/// are [`passes`](crate::passes) on the network's layers, which a network
/// sized at run time reaches through [`LayerStack`](crate::LayerStack).
///
/// # Examples
///
/// ```
/// use noisereg::{Init, Mlp1, Model, Network, Tanh};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(3);
/// let mut net = Mlp1::<2, 8, 1, Tanh>::zeroed();
/// net.init(Init::Glorot, &mut rng);
/// let mut y = [0.0];
/// net.forward(&[0.5, -0.5], &mut y)?;
/// assert!(y[0].is_finite());
/// assert_eq!(<Mlp1<2, 8, 1, Tanh> as Network<2, 1>>::DEPTH, 2);
/// # Ok::<(), noisereg::Error>(())
/// ```
///
/// Widths must chain:
///
/// ```compile_fail,E0599
/// use noisereg::{Dense, Network, Tanh};
/// let _net = <(Dense<2, 3, Tanh>, Dense<4, 1>)>::zeroed();
/// ```
///
/// ```compile_fail,E0277
/// use noisereg::{Dense, Model, Network, Tanh};
/// fn run<N: Network<2, 1>>(n: &N) { let _ = n.forward(&[0.0; 2], &mut [0.0]); }
/// run(&(Dense::<2, 3, Tanh>::zeroed(), Dense::<3, 2>::zeroed()));
/// ```
///
/// Only this crate implements it (a `Network` is also a [`Model`], and its
/// sealed plumbing cannot be named outside):
///
/// ```compile_fail,E0277
/// use noisereg::{Dense, Init, Network, Parameters};
/// #[derive(Clone, Debug)]
/// struct Mine(Dense<1, 1>);
/// impl Parameters for Mine {
///     fn slice_count(&self) -> usize { 2 }
///     fn slice(&self, i: usize) -> &[f32] { self.0.slice(i) }
///     fn slice_mut(&mut self, i: usize) -> &mut [f32] { self.0.slice_mut(i) }
/// }
/// impl Network<1, 1> for Mine {
///     const DEPTH: usize = 1;
///     const PARAMS: usize = 2;
///     fn zeroed() -> Self { Mine(Dense::zeroed()) }
///     fn init<R: rand_core::Rng + ?Sized>(&mut self, init: Init, rng: &mut R) { self.0.init(init, rng) }
/// }
/// ```
///
/// and its plumbing takes a token only this crate makes:
///
/// ```compile_fail,E0061
/// use noisereg::Network;
/// fn last<N: Network<1, 1>>(cache: &N::Workspace) -> &[f32; 1] { N::output(cache) }
/// ```
pub trait Network<const IN: usize, const OUT: usize>:
    Model<[f32; IN], [f32; OUT]>
    + Debug
    + Sized
    + Nested<IN, OUT, <Self as Model<[f32; IN], [f32; OUT]>>::Workspace>
{
    /// Number of dense layers.
    const DEPTH: usize;
    /// Number of parameters (weights and biases of every layer).
    const PARAMS: usize;

    /// All parameters zero, activations at their default.
    fn zeroed() -> Self;

    /// Draws every layer's weights with `init` (biases zero), layer by layer
    /// from the input.
    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R);

    /// Mean loss over a mini-batch; `grad` is OVERWRITTEN with the mean
    /// gradient. Each sample runs `forward_with(p)` then `backward_with(p)`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `targets` differ in length,
    /// [`Error::InvalidParameter`] if the batch is empty, and any error of
    /// the loss (e.g. a label out of range). `grad` is unspecified after an
    /// error.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, HalfSquaredError, Network};
    /// let net = Dense::<1, 1>::zeroed();
    /// let mut grad = Dense::<1, 1>::zeroed();
    /// let xs = [[1.0], [3.0]];
    /// let ys = [[1.0], [1.0]];
    /// let loss = net.loss_grad_batch(&HalfSquaredError, &xs, &ys, &mut Clean, &mut grad).unwrap();
    /// assert_eq!((loss, grad.w, grad.b), (0.5, [[-2.0]], [-1.0]));
    /// ```
    fn loss_grad_batch<T, L: Loss<T>, P: Perturbation>(
        &self,
        loss: &L,
        xs: &[[f32; IN]],
        targets: &[T],
        p: &mut P,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        batch::loss_grad_batch::<IN, OUT, Self, _, _, _>(self, loss, xs, targets, p, grad)
    }

    /// `Ok` when `eta` has one entry per layer.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Mlp1, Network, Tanh};
    /// assert!(Mlp1::<1, 2, 1, Tanh>::check_eta(&[0.1, 0.1]).is_ok());
    /// assert!(Mlp1::<1, 2, 1, Tanh>::check_eta(&[0.1]).is_err());
    /// ```
    #[inline]
    fn check_eta(eta: &[f32]) -> Result<(), Error> {
        check_len(eta.len(), Self::DEPTH)
    }

    /// Adds `∇_θ [ℓ(f(x), t) + ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²]` into `grad`
    /// (clean weights) and returns the loss and the penalty.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta.len() != DEPTH`, and the loss's
    /// errors; `grad` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Model, Network, NoiseOn};
    /// let net = Dense::<1, 1>::zeroed();
    /// let (mut ws, mut grad) = (net.workspace(), net.zeros_like());
    /// let v = net
    ///     .loss_penalty_grad(&HalfSquaredError, &[2.0], &[1.0], &[0.1], NoiseOn::Weights, &mut ws, &mut grad)
    ///     .unwrap();
    /// assert_eq!((v.loss, v.penalty), (0.5, 0.1 * 4.0));
    /// assert_eq!((grad.w, grad.b), ([[-2.0]], [-1.0]));
    /// ```
    #[allow(clippy::too_many_arguments)]
    fn loss_penalty_grad<T: ?Sized, L: Loss<T>>(
        &self,
        loss: &L,
        x: &[f32; IN],
        target: &T,
        eta: &[f32],
        on: NoiseOn,
        ws: &mut Self::Workspace,
        grad: &mut Self,
    ) -> Result<LossAndPenalty, Error> {
        penalty_passes::loss_penalty_grad::<IN, OUT, Self, _, _>(
            self, loss, x, target, eta, on, ws, grad,
        )
    }

    /// Mean penalty `Σ_k Σ_l η_l (‖x_l‖² + b)‖δ_l‖²` over a mini-batch; `grad`
    /// is OVERWRITTEN with the mean of [`penalty_grad`](Model::penalty_grad)'s
    /// gradient, computed [`BLOCK`](crate::BLOCK) (sample, output) pairs at a time.
    ///
    /// The bits do not depend on [`BLOCK`](crate::BLOCK) or on how the batch is split; they
    /// differ from the mean of [`penalty_grad`](Model::penalty_grad) in the
    /// last bits, through the forward sums of
    /// [`DenseRef::forward_block`](crate::DenseRef::forward_block).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta.len() != DEPTH`,
    /// [`Error::InvalidParameter`] for an empty batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, NoiseOn};
    /// let net = Dense::<1, 1>::zeroed();
    /// let mut grad = Dense::<1, 1>::zeroed();
    /// let p = net.penalty_grad_batch(&[[1.0], [3.0]], &[0.1], NoiseOn::Weights, &mut grad).unwrap();
    /// assert_eq!(p, 0.5);
    /// assert_eq!(grad.w, [[0.0]]); // a linear layer: H_f = 0
    /// ```
    fn penalty_grad_batch(
        &self,
        xs: &[[f32; IN]],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        penalty_passes::penalty_grad_batch::<IN, OUT, Self>(self, xs, eta, on, grad)
    }

    /// Means of the loss and the penalty over a mini-batch; `grad` is
    /// OVERWRITTEN with the mean gradient of `ℓ + penalty/2` (clean weights).
    ///
    /// Computed [`BLOCK`](crate::BLOCK) (sample, output) pairs at a time on the block
    /// kernels; the bits do not depend on [`BLOCK`](crate::BLOCK) or on the batch split and
    /// differ from the mean of [`loss_penalty_grad`](Self::loss_penalty_grad)
    /// only through the forward sums (see
    /// [`penalty_grad_batch`](Self::penalty_grad_batch)).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `targets` differ in length or
    /// `eta.len() != DEPTH`, [`Error::InvalidParameter`] for an empty batch,
    /// and the loss's errors. `grad` is unspecified after an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, NoiseOn};
    /// let net = Dense::<1, 1>::zeroed();
    /// let mut grad = Dense::<1, 1>::zeroed();
    /// let v = net
    ///     .loss_penalty_grad_batch(&HalfSquaredError, &[[1.0], [3.0]], &[[1.0], [1.0]], &[0.1], NoiseOn::Weights, &mut grad)
    ///     .unwrap();
    /// assert_eq!((v.loss, v.penalty), (0.5, 0.5));
    /// assert_eq!(grad.w, [[-2.0]]);
    /// ```
    fn loss_penalty_grad_batch<T, L: Loss<T>>(
        &self,
        loss: &L,
        xs: &[[f32; IN]],
        targets: &[T],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<LossAndPenalty, Error> {
        penalty_passes::loss_penalty_grad_batch::<IN, OUT, Self, _, _>(
            self, loss, xs, targets, eta, on, grad,
        )
    }

    /// The penalty of every sample: `out[i] = penalty(xs[i])`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `out` and `xs` differ in length or
    /// `eta.len() != DEPTH`; `out` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, NoiseOn};
    /// let mut out = [0.0; 2];
    /// Dense::<1, 1>::zeroed().penalty_batch(&[[1.0], [2.0]], &[1.0], NoiseOn::Weights, &mut out).unwrap();
    /// assert_eq!(out, [1.0, 4.0]);
    /// ```
    fn penalty_batch(
        &self,
        xs: &[[f32; IN]],
        eta: &[f32],
        on: NoiseOn,
        out: &mut [f32],
    ) -> Result<(), Error> {
        batch::penalty_batch::<IN, OUT, Self>(self, xs, eta, on, out)
    }

    /// The loss-correct (Gauss–Newton) penalty `tr(J_fᵀ H_ℓ J_f)` of every
    /// sample, `out[i]` for `xs[i]` ([`gauss_newton_penalty`](crate::gauss_newton_penalty)
    /// per sample, up to rounding), computed [`BLOCK`](crate::BLOCK) samples at a time:
    /// one forward pass and one penalty sweep per column of the loss's
    /// Hessian factor.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `out`, `xs` and `targets` differ in length
    /// or `eta.len() != DEPTH`, and the loss's errors; `out` is unspecified
    /// after a loss error.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, NoiseOn, SoftmaxCrossEntropy};
    /// let mut out = [0.0; 2];
    /// let net = Dense::<1, 2>::zeroed();
    /// net.gauss_newton_penalty_batch(&SoftmaxCrossEntropy, &[[1.0], [2.0]], &[0, 1], &[1.0], NoiseOn::Weights, &mut out)
    ///     .unwrap();
    /// assert!((out[0] - 0.5).abs() < 1e-6 && (out[1] - 2.0).abs() < 1e-6);
    /// ```
    fn gauss_newton_penalty_batch<T, L: Loss<T>>(
        &self,
        loss: &L,
        xs: &[[f32; IN]],
        targets: &[T],
        eta: &[f32],
        on: NoiseOn,
        out: &mut [f32],
    ) -> Result<(), Error> {
        batch::gauss_newton_penalty_batch::<IN, OUT, Self, _, _>(
            self, loss, xs, targets, eta, on, out,
        )
    }
}

/// `seed = e_k`.
#[inline(always)]
fn unit(seed: &mut [f32], k: usize) {
    for (j, s) in seed.iter_mut().enumerate() {
        *s = if j == k { 1.0 } else { 0.0 };
    }
}

/// Entry `l` of `eta` (checked by the callers; `0` past the end).
#[inline(always)]
fn eta_at(eta: &[f32], l: usize) -> f32 {
    eta.get(l).copied().unwrap_or(0.0)
}

/// `n` as f32, or an error for an empty batch.
#[inline]
pub(crate) fn nonempty(n: usize) -> Result<f32, Error> {
    crate::error::nonempty("batch", n).map(|n| n as f32)
}
