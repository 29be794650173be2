//! The training step: noise, forward, backward, optimiser, all or nothing.

use super::flipout::{FlipoutPass, add_product};
use super::input_noise::InputNoise;
use super::label_noise::LabelNoise;
use super::model::{Buffer, Model};
use super::optimizer::Optimizer;
use super::parameter_ops::{add_into, fill_zero, scale_all};
use super::sample_ring::SampleRing;
use super::target::Target;
use super::weight_noise::WeightNoise;
use super::weight_noise_config::{Estimator, MAX_LAYERS, NoiseKind, Redraw, WeightNoiseConfig};
use crate::error::Error;
use crate::nn::{BLOCK, Loss, NoiseOn, add_gauss_newton_grad};
use crate::perturbation::{Clean, Perturbation};
use core::marker::PhantomData;

/// Seeds of the independent noise sources derived from the trainer's seed.
fn sub_seed(seed: u64, which: u64) -> u64 {
    seed ^ which.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The trainer of a fixed-size [`Network<IN, OUT>`](crate::Network): a
/// [`ModelTrainer`] over arrays, where all the documentation is.
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, HalfSquaredError, Network, Sgd, Trainer};
/// let mut t: Trainer<1, 1, _, _> = Trainer::new(Dense::<1, 1>::zeroed(), Sgd::new(0.1).unwrap(), 7);
/// t.step(&HalfSquaredError, &[[1.0]], &[[2.0]]).unwrap();
/// assert_eq!(t.steps(), 1);
/// ```
pub type Trainer<const IN: usize, const OUT: usize, N, O, const S: usize = 0> =
    ModelTrainer<[f32; IN], [f32; OUT], N, O, S>;

/// Positions of a trainer's noise generators (their whole state), to save
/// and [`resume`](ModelTrainer::resume) a run.
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, HalfSquaredError, Network, NoisePositions, Sgd, Trainer};
/// let mut t: Trainer<1, 1, Dense<1, 1>, Sgd> =
///     Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7).with_input_noise(0.1).unwrap();
/// t.step(&HalfSquaredError, &[[1.0], [2.0]], &[[1.0], [2.0]]).unwrap();
/// assert_eq!(t.noise_positions(), NoisePositions { weight: 0, input: 2, label: 0 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoisePositions {
    /// Weight-noise draw index (0 without weight noise).
    pub weight: u64,
    /// Input-noise draw index.
    pub input: u64,
    /// Label-noise draw index.
    pub label: u64,
}

/// Trains a [`Model`] (any [`Network`](crate::Network), or a network sized
/// at run time) with an [`Optimizer`] and any mix of weight noise, input
/// noise, label noise and the explicit penalty. `X` and `Y` are the input and
/// output buffers (`[f32; IN]`, `[f32; OUT]` for a [`Trainer`]).
///
/// One [`step`](Trainer::step) takes a mini-batch: for each sample it draws
/// the noise, runs `forward_with` / `backward_with` through the weight-noise
/// [`Perturbation`] (the gradient is taken at `θ + ε`), accumulates the mean
/// gradient, and hands it to the optimiser, which updates the clean `θ`. The
/// clean weights are never written with noise: there is no add-then-subtract.
/// With η = 0 the step is bit-identical to a step without noise.
///
/// # Errors and atomicity
///
/// A non-finite input or target, an empty batch, or an update that would make
/// a weight or the optimiser state non-finite returns an error and leaves the
/// weights, the optimiser state, the step counter and every noise generator
/// exactly as they were. The optimiser checks the candidate update before it
/// commits it ([`Optimizer::check`]), so no copy of the weights is made.
///
/// # Memory
///
/// The trainer holds the network, a gradient of the same type, `S` scratch
/// networks, the optimiser, one forward cache and the noise state
/// ([`WeightNoise`]: 456 bytes; input and label noise: 24 bytes each). What
/// the scratch networks buy, per [`Estimator`]:
///
/// - [`Independent`](Estimator::Independent), additive: with `S ≥ 1` a
///   sample's `W̃` is materialised once and the passes read it clean: one
///   normal per weight per sample instead of two (forward, then again in the
///   backward pass), the same bits. Multiplicative noise in batches larger
///   than 1 needs `S ≥ 1` for a per-sample gradient.
/// - [`PerBatch`](Estimator::PerBatch): with `S ≥ 1`, `θ̃` once per batch
///   and (without the penalty) the clean batch pass on it; without, `θ̃`
///   regenerated per sample: the same draw, summed in another order.
/// - [`Flipout`](Estimator::Flipout): needs `S ≥ 1` (the batch's ε), and
///   `S ≥ 2` with multiplicative noise (its extra gradient term); rejected
///   when the noise is set otherwise.
/// - [`LocalReparam`](Estimator::LocalReparam): with `S ≥ 1` the sample's
///   `Σ OUT_l` normals are read once into the scratch network's biases
///   (without, the backward pass restarts the stream), the same bits.
///
/// On 16→32→32→1 a scratch network is 6.4 KB (1,633 `f32`).
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, HalfSquaredError, Network, NoiseKind, Sgd, Trainer, WeightNoiseConfig};
/// let net = Dense::<1, 1>::zeroed();
/// let noise = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
/// let mut t: Trainer<1, 1, _, _> = Trainer::new(net, Sgd::new(0.1).unwrap(), 7)
///     .with_weight_noise(&noise)
///     .unwrap();
/// let (xs, ys) = ([[1.0], [2.0]], [[2.0], [4.0]]);
/// for _ in 0..2000 {
///     t.step(&HalfSquaredError, &xs, &ys).unwrap();
/// }
/// assert!((t.network().w[0][0] - 2.0).abs() < 0.1);
/// assert!(t.step(&HalfSquaredError, &[[f32::NAN]], &[[0.0]]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ModelTrainer<X, Y, N: Model<X, Y>, O, const S: usize = 0> {
    net: N,
    grad: N,
    scratch: [N; S],
    opt: O,
    cache: N::Workspace,
    weight_noise: Option<WeightNoise>,
    /// The penalty's settings; its redraw policy (which the penalty ignores)
    /// holds the [`PenaltyForm`], so the trainer keeps its documented size.
    penalty: Option<WeightNoiseConfig>,
    input_noise: InputNoise,
    label_noise: LabelNoise,
    seed: u64,
    step: u64,
    io: PhantomData<fn(&X) -> Y>,
}

impl<X: Buffer, Y: Buffer, N: Model<X, Y>, O: Optimizer<N>> ModelTrainer<X, Y, N, O, 0> {
    /// A trainer without noise; `seed` seeds every noise source added later.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, Sgd, Trainer};
    /// let t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// assert_eq!(t.steps(), 0);
    /// assert!(t.weight_noise().is_none());
    /// ```
    pub fn new(net: N, opt: O, seed: u64) -> Self {
        Self::with_scratch(net, opt, seed)
    }
}

impl<X: Buffer, Y: Buffer, N: Model<X, Y>, O: Optimizer<N>, const S: usize>
    ModelTrainer<X, Y, N, O, S>
{
    /// As [`new`](ModelTrainer::new), with `S` scratch networks (see the
    /// type's "Memory" section: per-batch and multiplicative per-sample noise
    /// use one).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, Sgd, Trainer};
    /// let t: Trainer<1, 1, Dense<1, 1>, Sgd, 1> =
    ///     Trainer::with_scratch(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// assert_eq!(t.steps(), 0);
    /// ```
    pub fn with_scratch(net: N, opt: O, seed: u64) -> Self {
        Self {
            grad: net.zeros_like(),
            scratch: core::array::from_fn(|_| net.zeros_like()),
            cache: net.workspace(),
            net,
            opt,
            weight_noise: None,
            penalty: None,
            input_noise: InputNoise::none(),
            label_noise: LabelNoise::none(),
            seed,
            step: 0,
            io: PhantomData,
        }
    }

    /// Adds weight noise.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if per-layer η do not match the network's
    /// depth; [`Error::InvalidParameter`] naming `layers` for a network deeper
    /// than [`MAX_LAYERS`](crate::MAX_LAYERS) or `redraw` for local
    /// reparameterisation with [`Redraw::PerBatch`].
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Mlp1, Network, NoiseKind, Sgd, Tanh, Trainer, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    /// let t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7)
    ///     .with_weight_noise(&cfg)
    ///     .unwrap();
    /// assert!(t.weight_noise().is_some());
    /// // Per-layer η must match the depth.
    /// let two = cfg.with_layer_eta(&[0.01, 0.02]).unwrap();
    /// let t: Trainer<1, 1, Mlp1<1, 2, 1, Tanh>, Sgd> = Trainer::new(Network::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// assert!(t.with_weight_noise(&two).is_ok());
    /// ```
    pub fn with_weight_noise(mut self, config: &WeightNoiseConfig) -> Result<Self, Error> {
        self.set_weight_noise(config)?;
        Ok(self)
    }

    /// Adds (or replaces) weight noise in place: as
    /// [`with_weight_noise`](Self::with_weight_noise) without moving the
    /// trainer, which matters on a small stack (each by-value builder call
    /// may leave a copy of the whole trainer in the caller's frame).
    ///
    /// # Errors
    ///
    /// As [`with_weight_noise`](Self::with_weight_noise); the trainer is
    /// unchanged on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, NoiseKind, Sgd, Trainer, WeightNoiseConfig};
    /// let mut t: Trainer<1, 1, Dense<1, 1>, Sgd> =
    ///     Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// t.set_weight_noise(&WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap())?;
    /// assert!(t.weight_noise().is_some());
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    pub fn set_weight_noise(&mut self, config: &WeightNoiseConfig) -> Result<(), Error> {
        config.check_depth(self.net.depth())?;
        self.net.check_weight_noise(config)?;
        if config.kind() == NoiseKind::LocalReparam && config.redraw() == Redraw::PerBatch {
            return Err(Error::InvalidParameter {
                name: "redraw",
                requirement: "per sample with local reparameterisation",
            });
        }
        check_estimator(config, S)?;
        self.weight_noise = Some(WeightNoise::new(config, sub_seed(self.seed, 1)));
        Ok(())
    }

    /// Adds the explicit loss-correct penalty `½ tr(J_fᵀ H_ℓ J_f)` (η-weighted,
    /// [`gauss_newton_penalty`](crate::gauss_newton_penalty)) of the loss given
    /// to [`step`](Self::step) to every sample's loss: the deterministic
    /// alternative to weight noise (docs/theory.md §11). For ½ squared error
    /// that is `½ Σ_l η_l ‖∇_{θ_l} f‖²` summed over outputs; for softmax
    /// cross-entropy it is `½ Σ_l η_l ‖a_l‖² (Σ_k p_k ‖δ_k‖² − ‖Σ_k p_k δ_k‖²)`,
    /// not the squared-error form. A loss without a Hessian
    /// ([`Loss::hessian_factor`]) makes `step` fail. `config`'s per-layer η,
    /// parameters and schedule are used; its kind and redraw policy are ignored.
    ///
    /// # Errors
    ///
    /// As [`with_weight_noise`](Self::with_weight_noise) for the depth.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, NoiseKind, Sgd, Trainer, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.1).unwrap();
    /// let new = || -> Trainer<1, 1, Dense<1, 1>, Sgd> { Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7) };
    /// let (mut plain, mut pen) = (new(), new().with_penalty(&cfg).unwrap());
    /// plain.step(&HalfSquaredError, &[[1.0]], &[[1.0]]).unwrap();
    /// pen.step(&HalfSquaredError, &[[1.0]], &[[1.0]]).unwrap();
    /// // Linear model, f = w·x + b: the penalty ½η x² adds nothing at w = 0.
    /// assert_eq!(plain.network(), pen.network());
    /// ```
    pub fn with_penalty(mut self, config: &WeightNoiseConfig) -> Result<Self, Error> {
        config.check_depth(self.net.depth())?;
        self.penalty = Some(config.with_redraw(PenaltyForm::LossCorrect.marker()));
        Ok(self)
    }

    /// Like [`with_penalty`](Self::with_penalty), but with the squared-error
    /// form `½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` whatever the loss
    /// ([`Network::penalty`](crate::Network::penalty)): what weight noise
    /// induces only under ½ squared error (for softmax cross-entropy it is
    /// a different, much larger regulariser; docs/theory.md §11).
    ///
    /// # Errors
    ///
    /// As [`with_penalty`](Self::with_penalty).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, NoiseKind, Sgd, Trainer, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.1).unwrap();
    /// let new = || -> Trainer<1, 1, Dense<1, 1>, Sgd> { Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7) };
    /// let mut t = new().with_squared_error_penalty(&cfg).unwrap();
    /// assert!(t.step(&HalfSquaredError, &[[1.0]], &[[1.0]]).is_ok());
    /// ```
    pub fn with_squared_error_penalty(mut self, config: &WeightNoiseConfig) -> Result<Self, Error> {
        config.check_depth(self.net.depth())?;
        self.penalty = Some(config.with_redraw(PenaltyForm::SquaredError.marker()));
        Ok(self)
    }

    /// Adds input noise of standard deviation `std`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `input_std` unless finite and `≥ 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, Sgd, Trainer};
    /// let t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// assert!(t.clone().with_input_noise(0.1).is_ok());
    /// assert!(t.with_input_noise(-0.1).is_err());
    /// ```
    pub fn with_input_noise(mut self, std: f32) -> Result<Self, Error> {
        self.input_noise = InputNoise::gaussian(std, sub_seed(self.seed, 2))?;
        Ok(self)
    }

    /// Adds Gaussian label noise of standard deviation `std` (regression).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `label_std` unless finite and `≥ 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, Sgd, Trainer};
    /// let t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// assert!(t.clone().with_label_noise(0.1).is_ok());
    /// assert!(t.with_label_noise(f32::NAN).is_err());
    /// ```
    pub fn with_label_noise(mut self, std: f32) -> Result<Self, Error> {
        self.label_noise = LabelNoise::gaussian(std, sub_seed(self.seed, 3))?;
        Ok(self)
    }

    /// The network.
    pub fn network(&self) -> &N {
        &self.net
    }

    /// The network, mutable (to restore saved weights).
    pub fn network_mut(&mut self) -> &mut N {
        &mut self.net
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &O {
        &self.opt
    }

    /// The optimiser, mutable (to restore a saved state).
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.opt
    }

    /// The last mean gradient computed (unspecified after an error).
    pub fn gradient(&self) -> &N {
        &self.grad
    }

    /// The weight-noise perturbation, if any.
    pub fn weight_noise(&self) -> Option<&WeightNoise> {
        self.weight_noise.as_ref()
    }

    /// Number of successful steps.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Positions of the noise generators.
    pub fn noise_positions(&self) -> NoisePositions {
        NoisePositions {
            weight: self.weight_noise.as_ref().map_or(0, |w| w.draw_index()),
            input: self.input_noise.draw_index(),
            label: self.label_noise.draw_index(),
        }
    }

    /// Continues a saved run: sets the step counter and the noise positions,
    /// so that the next [`step`](Self::step) is bit for bit the step the
    /// saved run would have taken (with the network and optimiser state
    /// restored too).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, Sgd, Trainer};
    /// let new = || -> Trainer<1, 1, Dense<1, 1>, Sgd> {
    ///     Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 3).with_input_noise(0.1).unwrap()
    /// };
    /// let (mut a, mut b) = (new(), new());
    /// a.step(&HalfSquaredError, &[[1.0]], &[[1.0]]).unwrap();
    /// *b.network_mut() = a.network().clone();
    /// b.resume(a.steps(), a.noise_positions());
    /// let la = a.step(&HalfSquaredError, &[[1.0]], &[[1.0]]).unwrap();
    /// let lb = b.step(&HalfSquaredError, &[[1.0]], &[[1.0]]).unwrap();
    /// assert_eq!((la, a.network()), (lb, b.network()));
    /// ```
    pub fn resume(&mut self, step: u64, positions: NoisePositions) {
        self.step = step;
        self.restore(positions);
    }

    /// Takes the network back, dropping the trainer.
    pub fn into_network(self) -> N {
        self.net
    }

    /// One optimiser step on the mini-batch `xs`, `targets`; returns the mean
    /// training loss (with the noise, without the penalty).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if the slices differ in length;
    /// [`Error::InvalidParameter`] naming `batch` for an empty batch (or a
    /// batch > 1 with multiplicative per-sample noise and `S = 0`);
    /// [`Error::NonFinite`] naming `input`, `target`, `updated weights` or
    /// `optimiser state`; any error of the loss. Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Error, HalfSquaredError, Network, Sgd, Trainer};
    /// let mut t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.5).unwrap(), 7);
    /// // f = 0, loss ½(0 − 2)² = 2; gradient −2 for w and b.
    /// let loss = t.step(&HalfSquaredError, &[[1.0]], &[[2.0]]).unwrap();
    /// assert_eq!(loss, 2.0);
    /// assert_eq!((t.network().w[0][0], t.network().b[0]), (1.0, 1.0));
    /// let empty: [[f32; 1]; 0] = [];
    /// assert!(matches!(t.step(&HalfSquaredError, &empty, &empty), Err(Error::InvalidParameter { .. })));
    /// assert_eq!(t.steps(), 1);
    /// ```
    pub fn step<T: Target, L: Loss<T>>(
        &mut self,
        loss: &L,
        xs: &[X],
        targets: &[T],
    ) -> Result<f32, Error> {
        crate::error::check_len(xs.len(), targets.len())?;
        self.step_iter(loss, xs.iter().zip(targets), xs.len())
    }

    /// One optimiser step on the mini-batch of `(input, target)` pairs
    /// `samples` (e.g. picked by index from a data set), in order.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, Sgd, Trainer};
    /// let mut t: Trainer<1, 1, _, _> = Trainer::new(Dense::<1, 1>::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// let (xs, ys) = ([[1.0], [2.0], [3.0]], [[2.0], [4.0], [6.0]]);
    /// let batch = [2, 0];
    /// t.step_samples(&HalfSquaredError, batch.iter().map(|&i| (&xs[i], &ys[i]))).unwrap();
    /// assert_eq!(t.steps(), 1);
    /// ```
    pub fn step_samples<'a, T: Target + 'a, L: Loss<T>>(
        &mut self,
        loss: &L,
        samples: impl Iterator<Item = (&'a X, &'a T)> + Clone,
    ) -> Result<f32, Error>
    where
        X: 'a,
    {
        let n = samples.clone().count();
        self.step_iter(loss, samples, n)
    }

    fn restore(&mut self, c: NoisePositions) {
        if let Some(w) = self.weight_noise.as_mut() {
            w.set_draw_index(c.weight);
        }
        self.input_noise.set_draw_index(c.input);
        self.label_noise.set_draw_index(c.label);
    }

    fn step_iter<'a, T: Target + 'a, L: Loss<T>>(
        &mut self,
        loss: &L,
        samples: impl Iterator<Item = (&'a X, &'a T)> + Clone,
        n: usize,
    ) -> Result<f32, Error>
    where
        X: 'a,
    {
        crate::error::nonempty("batch", n)?;
        for (x, t) in samples.clone() {
            if !x.as_ref().iter().all(|v| v.is_finite()) {
                return Err(Error::NonFinite { what: "input" });
            }
            if !t.is_finite_target() {
                return Err(Error::NonFinite { what: "target" });
            }
        }
        let saved = self.noise_positions();
        let result = self.accumulate(loss, samples, n);
        let result = result.and_then(|l| self.opt.check(&self.net, &self.grad).map(|()| l));
        match result {
            Ok(l) => {
                self.opt.apply(&mut self.net, &self.grad);
                self.step += 1;
                Ok(l)
            }
            Err(e) => {
                self.restore(saved);
                Err(e)
            }
        }
    }

    /// Fills `self.grad` with the batch-mean gradient; returns the mean loss.
    fn accumulate<'a, T: Target + 'a, L: Loss<T>>(
        &mut self,
        loss: &L,
        samples: impl Iterator<Item = (&'a X, &'a T)> + Clone,
        n: usize,
    ) -> Result<f32, Error>
    where
        X: 'a,
    {
        let Self {
            net,
            grad,
            scratch,
            cache,
            weight_noise,
            penalty,
            input_noise,
            label_noise,
            step,
            ..
        } = self;
        let step = *step;
        if let Some(w) = weight_noise.as_mut() {
            w.set_step(step);
        }
        let noise = weight_noise.as_mut().filter(|w| w.is_active());
        let penalty = penalty
            .as_ref()
            .map(|p| (p, p.schedule().factor(step), PenaltyForm::of(p)));
        let pen = PenaltyTerm::new(penalty);
        fill_zero(grad);
        let mut total = 0.0;
        match noise {
            None if !pen.is_on() => {
                // Clean: the batch pass, `BLOCK` samples at a time.
                block_pass(
                    &*net,
                    loss,
                    samples,
                    input_noise,
                    label_noise,
                    grad,
                    &mut total,
                )?;
            }
            None => {
                for (x, t) in samples {
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += pen.loss_and_add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) if noise.estimator() == Estimator::Flipout => {
                noise.next_draw();
                let mult = noise.needs_gradient_scaling();
                let (biases, seed, draw) = (noise.noisy_biases(), noise.seed(), noise.draw_index());
                let Some((eps, rest)) = scratch.split_first_mut() else {
                    return Err(FLIPOUT_SCRATCH);
                };
                noise.draw_eps(eps);
                let mut g2 = rest.first_mut().filter(|_| mult);
                if let Some(g2) = g2.as_deref_mut() {
                    fill_zero(g2);
                }
                if mult && g2.is_none() {
                    return Err(FLIPOUT_SCRATCH);
                }
                let clean = mult.then_some(&*net);
                let mut pass = FlipoutPass::new(&*eps, clean, g2, biases, seed, draw);
                for (i, (x, t)) in samples.enumerate() {
                    pass.set_sample(i);
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += sample_grad(net, loss, &x, &t, &mut pass, cache, grad)?;
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
                if let Some(g2) = rest.first().filter(|_| mult) {
                    add_product(grad, eps, g2);
                }
            }
            Some(noise) if noise.per_batch() && noise.needs_gradient_scaling() && pen.is_on() => {
                // (1 + ε) scales the noisy gradient only: loss gradients
                // first, scaled, then a second pass adds the penalty with the
                // same noisy inputs (input noise rewound).
                noise.next_draw();
                let rewind = input_noise.draw_index();
                let mut noisy = scratch.first_mut();
                if let Some(noisy) = noisy.as_deref_mut() {
                    noise.perturb_parameters(net, noisy);
                }
                for (x, t) in samples.clone() {
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += match noisy.as_deref_mut() {
                        Some(noisy) => sample_grad(noisy, loss, &x, &t, &mut Clean, cache, grad)?,
                        None => sample_grad(net, loss, &x, &t, noise, cache, grad)?,
                    };
                }
                noise.scale_gradient(grad);
                let after = input_noise.draw_index();
                input_noise.set_draw_index(rewind);
                for (x, t) in samples {
                    let mut x_noisy = x.clone();
                    input_noise.perturb_equal(x.as_ref(), x_noisy.as_mut());
                    pen.add(net, loss, &x_noisy, t, cache, grad)?;
                }
                input_noise.set_draw_index(after);
            }
            Some(noise) if noise.per_batch() => {
                noise.next_draw();
                match scratch.first_mut() {
                    Some(noisy) if !pen.is_on() => {
                        // θ̃ materialised once, then the clean batch pass on it.
                        noise.perturb_parameters(net, noisy);
                        block_pass(
                            &*noisy,
                            loss,
                            samples,
                            input_noise,
                            label_noise,
                            grad,
                            &mut total,
                        )?;
                    }
                    Some(noisy) => {
                        // θ̃ materialised once; the gradient at θ̃ goes to θ.
                        noise.perturb_parameters(net, noisy);
                        for (x, t) in samples {
                            let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                            total += sample_grad(noisy, loss, &x, &t, &mut Clean, cache, grad)?;
                            pen.add(net, loss, &x, &t, cache, grad)?;
                        }
                    }
                    None => {
                        for (x, t) in samples {
                            let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                            total += sample_grad(net, loss, &x, &t, noise, cache, grad)?;
                            pen.add(net, loss, &x, &t, cache, grad)?;
                        }
                    }
                }
                // A no-op for additive noise, so the penalty order is free.
                noise.scale_gradient(grad);
            }
            Some(noise) if noise.needs_gradient_scaling() && n > 1 => {
                let Some(g) = scratch.first_mut() else {
                    return Err(Error::InvalidParameter {
                        name: "batch",
                        requirement: "1 for per-sample multiplicative noise without a scratch network (S = 1)",
                    });
                };
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    fill_zero(g);
                    total += sample_grad(net, loss, &x, &t, noise, cache, g)?;
                    noise.scale_gradient(g);
                    add_into(grad, g);
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) if noise.estimator() == Estimator::LocalReparam && S > 0 => {
                // The sample's Σ OUT_l normals drawn once into the scratch
                // network's biases (the values the passes would regenerate).
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    let Some(mut pass) = scratch.first_mut().and_then(|xi| noise.local_pass(xi))
                    else {
                        return Err(UNREACHABLE);
                    };
                    total += sample_grad(net, loss, &x, &t, &mut pass, cache, grad)?;
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) if noise.perturbs_weights() && !noise.needs_gradient_scaling() && S > 0 => {
                // One draw per weight: W̃ materialised in the scratch network,
                // then a clean pass on it (the same bits as regenerating).
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    let Some(noisy) = scratch.first_mut() else {
                        return Err(UNREACHABLE);
                    };
                    noise.perturb_parameters(net, noisy);
                    total += sample_grad(noisy, loss, &x, &t, &mut Clean, cache, grad)?;
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) => {
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += sample_grad(net, loss, &x, &t, noise, cache, grad)?;
                    // A no-op except for multiplicative noise (batch of 1 here).
                    noise.scale_gradient(grad);
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
        }
        let inv = 1.0 / n as f32;
        scale_all(grad, inv);
        Ok(total * inv)
    }
}

impl<const IN: usize, Y: Buffer, N: Model<[f32; IN], Y>, O: Optimizer<N>, const S: usize>
    ModelTrainer<[f32; IN], Y, N, O, S>
{
    /// One optimiser step on every sample held by `ring`.
    ///
    /// # Errors
    ///
    /// As [`step`](Self::step).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, HalfSquaredError, Network, SampleRing, Sgd, Trainer};
    /// let mut t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(Dense::zeroed(), Sgd::new(0.1).unwrap(), 7);
    /// let mut ring: SampleRing<1, [f32; 1], 4> = SampleRing::new();
    /// ring.push([1.0], [2.0]).unwrap();
    /// ring.push([2.0], [4.0]).unwrap();
    /// t.step_ring(&HalfSquaredError, &ring).unwrap();
    /// assert_eq!(t.steps(), 1);
    /// ```
    pub fn step_ring<T: Target, L: Loss<T>, const CAP: usize>(
        &mut self,
        loss: &L,
        ring: &SampleRing<IN, T, CAP>,
    ) -> Result<f32, Error> {
        self.step_iter(loss, ring.iter().map(|(x, t)| (x, t)), ring.len())
    }
}

/// A trainer branch taken without what its guard checked (not reached).
const UNREACHABLE: Error = Error::InvalidParameter {
    name: "estimator",
    requirement: "a scratch network and a matching noise kind",
};

/// A push into a block just emptied (not reached: `BLOCK >= 1`).
const BLOCK_FULL: Error = Error::InvalidParameter {
    name: "batch",
    requirement: "room in the block just emptied",
};

/// The error of Flipout without its scratch networks.
const FLIPOUT_SCRATCH: Error = Error::InvalidParameter {
    name: "scratch",
    requirement: "Flipout needs one scratch network (S >= 1), two with multiplicative noise",
};

/// Rejects, when the noise is set, the estimators this trainer cannot run.
fn check_estimator(config: &WeightNoiseConfig, scratch: usize) -> Result<(), Error> {
    let kind = config.kind();
    match config.estimator_as_set() {
        Estimator::LocalReparam if kind == NoiseKind::Multiplicative => {
            Err(Error::InvalidParameter {
                name: "estimator",
                requirement: "additive noise with local reparameterisation",
            })
        }
        Estimator::Flipout if kind == NoiseKind::LocalReparam => Err(Error::InvalidParameter {
            name: "estimator",
            requirement: "Flipout or local reparameterisation, not both",
        }),
        Estimator::Flipout if scratch < 1 => Err(FLIPOUT_SCRATCH),
        Estimator::Flipout if kind == NoiseKind::Multiplicative && scratch < 2 => {
            Err(FLIPOUT_SCRATCH)
        }
        _ => Ok(()),
    }
}

/// The clean batch pass over `samples` (input and label noise applied),
/// `BLOCK` samples at a time: ADDS the summed gradient into `grad` and the
/// losses into `total`.
#[inline(always)]
fn block_pass<'a, X: Buffer + 'a, Y: Buffer, N: Model<X, Y>, T: Target + 'a, L: Loss<T>>(
    net: &N,
    loss: &L,
    samples: impl Iterator<Item = (&'a X, &'a T)>,
    input_noise: &mut InputNoise,
    label_noise: &mut LabelNoise,
    grad: &mut N,
    total: &mut f32,
) -> Result<(), Error> {
    let mut xb: heapless::Vec<X, BLOCK> = heapless::Vec::new();
    let mut tb: heapless::Vec<T, BLOCK> = heapless::Vec::new();
    for (x, t) in samples {
        let (x, t) = noisy_sample(input_noise, label_noise, x, t);
        if xb.is_full() {
            net.loss_grad_sum(loss, &xb, &tb, grad, total)?;
            xb.clear();
            tb.clear();
        }
        xb.push(x).map_err(|_| BLOCK_FULL)?;
        tb.push(t).map_err(|_| BLOCK_FULL)?;
    }
    net.loss_grad_sum(loss, &xb, &tb, grad, total)
}

/// One sample with input and label noise applied.
#[inline]
fn noisy_sample<X: Buffer, T: Target>(
    input_noise: &mut InputNoise,
    label_noise: &mut LabelNoise,
    x: &X,
    t: &T,
) -> (X, T) {
    let mut x_noisy = x.clone();
    input_noise.perturb_equal(x.as_ref(), x_noisy.as_mut());
    (x_noisy, t.with_label_noise(label_noise))
}

/// Which explicit penalty a trainer adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PenaltyForm {
    /// `½ tr(J_fᵀ H_ℓ J_f)` of the step's loss.
    LossCorrect,
    /// `½ Σ_k ‖∇_θ f_k‖²_η` whatever the loss.
    SquaredError,
}

impl PenaltyForm {
    /// The redraw policy that stands for this form in a stored penalty config.
    const fn marker(self) -> Redraw {
        match self {
            PenaltyForm::LossCorrect => Redraw::PerSample,
            PenaltyForm::SquaredError => Redraw::PerBatch,
        }
    }

    fn of(config: &WeightNoiseConfig) -> Self {
        match config.redraw() {
            Redraw::PerSample => PenaltyForm::LossCorrect,
            Redraw::PerBatch => PenaltyForm::SquaredError,
        }
    }
}

/// The explicit penalty's per-sample gradient, if configured.
struct PenaltyTerm {
    /// Effective per-layer η (schedule applied), `None` when off.
    eta: Option<([f32; MAX_LAYERS], NoiseOn)>,
    form: PenaltyForm,
}

impl PenaltyTerm {
    fn new(config: Option<(&WeightNoiseConfig, f32, PenaltyForm)>) -> Self {
        let form = config.map_or(PenaltyForm::LossCorrect, |c| c.2);
        let eta = config.map(|(c, f, _)| {
            let mut eta = *c.etas();
            for e in eta.iter_mut() {
                *e *= f;
            }
            (eta, c.noise_on())
        });
        // All η zero: plain training, bit for bit.
        let eta = eta.filter(|(e, _)| e.iter().any(|&v| v > 0.0));
        Self { eta, form }
    }

    /// Whether a penalty is added.
    fn is_on(&self) -> bool {
        self.eta.is_some()
    }

    /// Adds the gradient of the loss-correct penalty `½ tr(J_fᵀ H_ℓ J_f)`
    /// (docs/theory.md §11; `½ Σ_l η_l ‖∇_{θ_l} f(x)‖²` for ½ squared error)
    /// at the clean `net` into `grad`.
    #[inline]
    fn add<X, Y: Buffer, N: Model<X, Y>, T, L: Loss<T>>(
        &self,
        net: &N,
        loss: &L,
        x: &X,
        t: &T,
        cache: &mut N::Workspace,
        grad: &mut N,
    ) -> Result<(), Error> {
        if let Some((eta, on)) = &self.eta {
            let eta = eta.get(..net.depth()).unwrap_or(eta);
            if self.form == PenaltyForm::SquaredError {
                net.penalty_grad_at(x, eta, *on, cache, grad)?;
                return Ok(());
            }
            let (mut y, dy) = (net.output_buffer(), net.output_buffer());
            net.forward_traced(x, &mut Clean, cache, &mut y)?;
            add_gauss_newton_grad(net, loss, y.as_ref(), t, &dy, eta, *on, cache, grad)?;
        }
        Ok(())
    }

    /// Loss gradient and penalty gradient of one clean sample, fused: one
    /// forward pass, then the R-operator sweeps carry the loss gradient too.
    #[inline]
    fn loss_and_add<X, Y: Buffer, N: Model<X, Y>, T, L: Loss<T>>(
        &self,
        net: &N,
        loss: &L,
        x: &X,
        t: &T,
        cache: &mut N::Workspace,
        grad: &mut N,
    ) -> Result<f32, Error> {
        let Some((eta, on)) = &self.eta else {
            return sample_grad(net, loss, x, t, &mut Clean, cache, grad);
        };
        let eta = eta.get(..net.depth()).unwrap_or(eta);
        let (mut y, mut dy) = (net.output_buffer(), net.output_buffer());
        net.forward_traced(x, &mut Clean, cache, &mut y)?;
        let l = loss.value_grad(y.as_ref(), t, dy.as_mut())?;
        match self.form {
            PenaltyForm::SquaredError => {
                net.penalty_grad_traced(cache, &dy, eta, *on, grad)?;
            }
            PenaltyForm::LossCorrect => {
                add_gauss_newton_grad(net, loss, y.as_ref(), t, &dy, eta, *on, cache, grad)?;
            }
        }
        Ok(l)
    }
}

/// Forward, loss and backward of one sample; adds the gradient into `grad`.
#[inline(always)]
fn sample_grad<X, Y, N, T, L, P>(
    net: &N,
    loss: &L,
    x: &X,
    t: &T,
    p: &mut P,
    cache: &mut N::Workspace,
    grad: &mut N,
) -> Result<f32, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    L: Loss<T>,
    P: Perturbation,
{
    let (mut y, mut dy) = (net.output_buffer(), net.output_buffer());
    net.forward_traced(x, p, cache, &mut y)?;
    let l = loss.value_grad(y.as_ref(), t, dy.as_mut())?;
    net.backward_traced(cache, &dy, p, grad)?;
    Ok(l)
}
