//! The `Network` trait (the MLP aliases are in `aliases.rs`); its impl for one [`Dense`](super::Dense)
//! layer is in `dense_impl.rs`, for the tuple `(Dense, rest)`, which
//! composes layers to any depth, in `pair.rs`.
//!
//! The one-sample passes are the layer visitors of [`passes`](super::passes)
//! walked through the nested pairs ([`Walk`]); the batch passes run the
//! crate-internal block plumbing of [`sealed::Nested`].

use super::init::Init;
use super::loss::Loss;
use super::passes;
use super::penalty::{LossAndPenalty, NoiseOn};

use crate::error::{Error, check_len};
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;
use core::fmt::Debug;
use rand_core::Rng;
use sealed::Nested;

mod aliases;
mod batch;
mod dense_impl;
mod pair;
mod penalty_passes;
mod sealed;
mod walk;

pub use aliases::{Mlp1, Mlp2, Mlp3};
use walk::Walk;

/// A fixed-size network mapping `[f32; IN]` to `[f32; OUT]`.
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
/// use noisereg::{Init, Mlp1, Network, Tanh};
/// use rand_core::SeedableRng;
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(3);
/// let mut net = Mlp1::<2, 8, 1, Tanh>::zeroed();
/// net.init(Init::Glorot, &mut rng);
/// let mut y = [0.0];
/// net.forward(&[0.5, -0.5], &mut y);
/// assert!(y[0].is_finite());
/// assert_eq!(<Mlp1<2, 8, 1, Tanh> as Network<2, 1>>::DEPTH, 2);
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
/// use noisereg::{Dense, Network, Tanh};
/// fn run<N: Network<2, 1>>(n: &N) { n.forward(&[0.0; 2], &mut [0.0]); }
/// run(&(Dense::<2, 3, Tanh>::zeroed(), Dense::<3, 2>::zeroed()));
/// ```
///
/// Only this crate implements it:
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
///     type Cache = noisereg::DenseCache<1, 1>;
///     const DEPTH: usize = 1;
///     const PARAMS: usize = 2;
///     fn zeroed() -> Self { Mine(Dense::zeroed()) }
///     fn new_cache() -> Self::Cache { Dense::<1, 1>::new_cache() }
///     fn forward(&self, x: &[f32; 1], y: &mut [f32; 1]) { self.0.forward(x, y) }
///     fn init<R: rand_core::Rng + ?Sized>(&mut self, init: Init, rng: &mut R) { self.0.init(init, rng) }
/// }
/// ```
///
/// and its plumbing takes a token only this crate makes:
///
/// ```compile_fail,E0061
/// use noisereg::Network;
/// fn last<N: Network<1, 1>>(cache: &N::Cache) -> &[f32; 1] { N::output(cache) }
/// ```
pub trait Network<const IN: usize, const OUT: usize>:
    Parameters + Clone + Debug + Sized + Nested<IN, OUT, <Self as Network<IN, OUT>>::Cache>
{
    /// Per-layer values of one sample ([`DenseCache`](super::DenseCache) per layer), fixed size.
    type Cache: Clone + Debug;
    /// Number of dense layers.
    const DEPTH: usize;
    /// Number of parameters (weights and biases of every layer).
    const PARAMS: usize;

    /// All parameters zero, activations at their default.
    fn zeroed() -> Self;

    /// A zeroed cache.
    fn new_cache() -> Self::Cache;

    /// Clean forward pass without a cache.
    fn forward(&self, x: &[f32; IN], y: &mut [f32; OUT]);

    /// Draws every layer's weights with `init` (biases zero), layer by layer
    /// from the input.
    fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R);

    /// Forward pass through the perturbed network, keeping the per-layer
    /// values in `cache` for [`backward_with`](Self::backward_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Network, Tanh};
    /// let mut net = <(Dense<1, 2, Tanh>, Dense<2, 1>)>::zeroed();
    /// net.1.b = [0.25];
    /// let mut cache = <(Dense<1, 2, Tanh>, Dense<2, 1>)>::new_cache();
    /// let mut y = [0.0];
    /// net.forward_with(&[1.0], &mut Clean, &mut cache, &mut y);
    /// assert_eq!(y, [0.25]);
    /// ```
    #[inline]
    fn forward_with<P: Perturbation>(
        &self,
        x: &[f32; IN],
        p: &mut P,
        cache: &mut Self::Cache,
        y: &mut [f32; OUT],
    ) {
        // Lengths are fixed by the types: the checks cannot fail.
        let _ = passes::forward_with(&Walk::<IN, OUT, Self>(self), x, p, cache, y);
    }

    /// Given `dy = ∂ℓ/∂y`, ADDS `∂ℓ/∂θ` at the weights used by the
    /// [`forward_with`](Self::forward_with) that filled `cache` into `grad`.
    ///
    /// Layers are visited from the output down; the first layer reads no
    /// weight (its input gradient is not needed).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Network};
    /// let mut net = Dense::<2, 1>::zeroed();
    /// net.w = [[1.0, 1.0]];
    /// let (mut cache, mut y, mut grad) = (Dense::<2, 1>::new_cache(), [0.0], Dense::<2, 1>::zeroed());
    /// net.forward_with(&[2.0, 3.0], &mut Clean, &mut cache, &mut y);
    /// net.backward_with(&cache, &[1.0], &mut Clean, &mut grad);
    /// assert_eq!((grad.w, grad.b), ([[2.0, 3.0]], [1.0]));
    /// ```
    #[inline]
    fn backward_with<P: Perturbation>(
        &self,
        cache: &Self::Cache,
        dy: &[f32; OUT],
        p: &mut P,
        grad: &mut Self,
    ) {
        let _ = passes::backward_with(&Walk::<IN, OUT, Self>(self), cache, dy, p, grad);
    }

    /// Sets every parameter of `self` to zero (activations unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network};
    /// let mut g = Dense::<1, 1>::zeroed();
    /// g.b = [3.0];
    /// g.fill_zero();
    /// assert_eq!(g.b, [0.0]);
    /// ```
    #[inline]
    fn fill_zero(&mut self) {
        for i in 0..self.slice_count() {
            self.slice_mut(i).fill(0.0);
        }
    }

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

    /// Clean forward pass of a batch: `ys[s] = f(xs[s])`, the bits of
    /// [`forward`](Self::forward) per sample, computed [`BLOCK`](crate::BLOCK) samples at a
    /// time with the weights held in registers across the block.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `ys` differ in length; `ys` is
    /// unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network};
    /// let mut net = Dense::<1, 1>::zeroed();
    /// net.w = [[2.0]];
    /// let mut ys = [[0.0]; 3];
    /// net.forward_batch(&[[1.0], [2.0], [3.0]], &mut ys).unwrap();
    /// assert_eq!(ys, [[2.0], [4.0], [6.0]]);
    /// ```
    fn forward_batch(&self, xs: &[[f32; IN]], ys: &mut [[f32; OUT]]) -> Result<(), Error> {
        batch::forward_batch::<IN, OUT, Self>(self, xs, ys)
    }

    /// ADDS the clean gradient of `Σ_s ℓ(f(xs[s]), targets[s])` into `grad`
    /// and each sample's loss into `total`, samples in order: the batch pass
    /// behind [`loss_grad_batch`](Self::loss_grad_batch), [`BLOCK`](crate::BLOCK) samples at
    /// a time (see [`forward_batch`](Self::forward_batch) for its rounding).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `targets` differ in length, and
    /// the loss's errors (`grad` and `total` hold the blocks before then).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network};
    /// let net = Dense::<1, 1>::zeroed();
    /// let (mut grad, mut total) = (Dense::<1, 1>::zeroed(), 0.0);
    /// net.loss_grad_sum(&HalfSquaredError, &[[1.0], [3.0]], &[[1.0], [1.0]], &mut grad, &mut total)?;
    /// assert_eq!((total, grad.w, grad.b), (1.0, [[-4.0]], [-2.0]));
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    fn loss_grad_sum<T, L: Loss<T>>(
        &self,
        loss: &L,
        xs: &[[f32; IN]],
        targets: &[T],
        grad: &mut Self,
        total: &mut f32,
    ) -> Result<(), Error> {
        batch::loss_grad_sum::<IN, OUT, Self, _, _>(self, loss, xs, targets, grad, total)
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

    /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x)‖²` at the clean weights, by
    /// the factorised form (one backward pass of vectors per output, no
    /// per-sample gradient). `eta` has one entry per layer (from the input);
    /// the noisy cost is `ℓ + penalty/2`. Runs a clean forward pass into `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta.len() != DEPTH`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, NoiseOn};
    /// // Linear model: ∇_w f = x, so the penalty is η‖x‖² (+ η for the bias).
    /// let net = Dense::<2, 1>::zeroed();
    /// let mut cache = Dense::<2, 1>::new_cache();
    /// let p = net.penalty(&[1.0, 2.0], &[0.5], NoiseOn::WeightsAndBiases, &mut cache).unwrap();
    /// assert_eq!(p, 0.5 * 6.0);
    /// ```
    fn penalty(
        &self,
        x: &[f32; IN],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut Self::Cache,
    ) -> Result<f32, Error> {
        passes::penalty(&Walk::<IN, OUT, Self>(self), x, eta, on, cache)
    }

    /// Adds `∇_θ [dy·f + ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²]` into `grad` and
    /// returns the penalty, given a clean forward pass in `cache`.
    ///
    /// Per output `k`: one backward pass for `δ`, one R-forward and one
    /// R-backward pass (Pearlmutter) along `v = η ⊙ ∇_θ f_k`, with the loss
    /// gradient `dy_k ∇_θ f_k` folded into the R-backward sweep (back-
    /// propagation is linear in its seed). Pass `dy = ∂ℓ/∂y` to get the
    /// gradient of `ℓ + penalty/2`, zeros for `H_f v` alone.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta.len() != DEPTH`; `grad` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Network, NoiseOn};
    /// // Linear model: the penalty is constant in θ, its gradient zero.
    /// let net = Dense::<2, 1>::zeroed();
    /// let (mut cache, mut y, mut grad) = (Dense::<2, 1>::new_cache(), [0.0], Dense::<2, 1>::zeroed());
    /// net.forward_with(&[1.0, 2.0], &mut Clean, &mut cache, &mut y);
    /// let p = net.penalty_grad_from_cache(&mut cache, &[1.0], &[0.5], NoiseOn::Weights, &mut grad);
    /// assert_eq!(p, Ok(2.5));
    /// assert_eq!((grad.w, grad.b), ([[1.0, 2.0]], [1.0]));
    /// ```
    fn penalty_grad_from_cache(
        &self,
        cache: &mut Self::Cache,
        dy: &[f32; OUT],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        let net = &Walk::<IN, OUT, Self>(self);
        passes::penalty_grad_from_cache(net, cache, Some(dy), eta, on, grad)
    }

    /// The penalty of one seed `s`: `Σ_l η_l ‖∇_{θ_l} (s·f)‖²` (one backward
    /// sweep), given a clean forward pass in `cache`; with `grad`, also adds
    /// `H_{s·f} (η ⊙ ∇_θ (s·f))`, the gradient of half of it with `s` held
    /// fixed (R-operator). The loss-correct penalty sums this over the
    /// columns of the loss's Hessian factor ([`Loss::hessian_factor`]).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta.len() != DEPTH`; `grad` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, Dense, Network, NoiseOn};
    /// // Linear model: ∇_w (s·f) = s xᵀ, so the penalty is η‖s‖²‖x‖².
    /// let net = Dense::<1, 2>::zeroed();
    /// let (mut cache, mut y) = (Dense::<1, 2>::new_cache(), [0.0; 2]);
    /// net.forward_with(&[2.0], &mut Clean, &mut cache, &mut y);
    /// let p = net.seeded_penalty_from_cache(&mut cache, &[1.0, -1.0], &[0.5], NoiseOn::Weights, None);
    /// assert_eq!(p, Ok(0.5 * 2.0 * 4.0));
    /// ```
    fn seeded_penalty_from_cache(
        &self,
        cache: &mut Self::Cache,
        seed: &[f32; OUT],
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut Self>,
    ) -> Result<f32, Error> {
        let net = &Walk::<IN, OUT, Self>(self);
        passes::seeded_penalty_from_cache(net, cache, seed, eta, on, grad)
    }

    /// Adds `H_f v = ∇_θ ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x)‖²` into `grad` (over
    /// every parameter, whichever count in the penalty) and returns the
    /// penalty. Runs a clean forward pass into `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta.len() != DEPTH`; `grad` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Mlp1, Network, NoiseOn, Tanh};
    /// type Net = Mlp1<1, 2, 1, Tanh>;
    /// let mut net = Net::zeroed();
    /// net.0.w = [[1.0], [-1.0]];
    /// net.1.w = [[1.0, 1.0]];
    /// let (mut cache, mut grad) = (Net::new_cache(), Net::zeroed());
    /// let p = net.penalty_grad(&[0.5], &[0.1, 0.1], NoiseOn::Weights, &mut cache, &mut grad).unwrap();
    /// assert!(p > 0.0 && grad.0.w[0][0] != 0.0);
    /// ```
    fn penalty_grad(
        &self,
        x: &[f32; IN],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut Self::Cache,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        passes::penalty_grad(&Walk::<IN, OUT, Self>(self), x, eta, on, cache, grad)
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
    /// use noisereg::{Dense, HalfSquaredError, Network, NoiseOn};
    /// let net = Dense::<1, 1>::zeroed();
    /// let (mut cache, mut grad) = (Dense::<1, 1>::new_cache(), Dense::<1, 1>::zeroed());
    /// let v = net
    ///     .loss_penalty_grad(&HalfSquaredError, &[2.0], &[1.0], &[0.1], NoiseOn::Weights, &mut cache, &mut grad)
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
        cache: &mut Self::Cache,
        grad: &mut Self,
    ) -> Result<LossAndPenalty, Error> {
        penalty_passes::loss_penalty_grad::<IN, OUT, Self, _, _>(
            self, loss, x, target, eta, on, cache, grad,
        )
    }

    /// Mean penalty `Σ_k Σ_l η_l (‖x_l‖² + b)‖δ_l‖²` over a mini-batch; `grad`
    /// is OVERWRITTEN with the mean of [`penalty_grad`](Self::penalty_grad)'s
    /// gradient, computed [`BLOCK`](crate::BLOCK) (sample, output) pairs at a time.
    ///
    /// The bits do not depend on [`BLOCK`](crate::BLOCK) or on how the batch is split; they
    /// differ from the mean of [`penalty_grad`](Self::penalty_grad) in the
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

    /// Exact `Σ_l η_l tr ∇²_{θ_l} f_k(x)` over the parameters that count
    /// (`on`) for every output `k`, into `traces` (pass `η_l = 1` for the
    /// plain trace). Full pre-activation Hessians are propagated backwards,
    /// so the stack holds one `H×H` matrix per hidden width `H`. Runs a clean
    /// forward pass into `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta.len() != DEPTH`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Activation, Dense, Network, NoiseOn, Tanh};
    /// // f = tanh(w·x + b): tr ∇²_w f = ‖x‖²·tanh''(z).
    /// let mut net = Dense::<2, 1, Tanh>::zeroed();
    /// net.w = [[0.5, 0.25]];
    /// let (mut cache, mut tr) = (Dense::<2, 1, Tanh>::new_cache(), [0.0]);
    /// net.hessian_trace(&[1.0, 2.0], &[1.0], NoiseOn::Weights, &mut cache, &mut tr).unwrap();
    /// assert!((tr[0] - 5.0 * Tanh.d2f(1.0)).abs() < 1e-6);
    /// ```
    fn hessian_trace(
        &self,
        x: &[f32; IN],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut Self::Cache,
        traces: &mut [f32; OUT],
    ) -> Result<(), Error> {
        passes::hessian_trace(&Walk::<IN, OUT, Self>(self), x, eta, on, cache, traces)
    }

    /// Multiplies every parameter by `a`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network};
    /// let mut g = Dense::<1, 1>::zeroed();
    /// g.b = [3.0];
    /// g.scale_all(2.0);
    /// assert_eq!(g.b, [6.0]);
    /// ```
    #[inline]
    fn scale_all(&mut self, a: f32) {
        for i in 0..self.slice_count() {
            crate::kernels::scale(a, self.slice_mut(i));
        }
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
