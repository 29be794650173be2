//! Construction, the noise and penalty settings, and the accessors.

use super::penalty::PenaltyForm;
use super::{ModelTrainer, NoisePositions, sub_seed};
use crate::error::Error;
use crate::noise::config::{Estimator, NoiseKind, Redraw, WeightNoiseConfig};
use crate::noise::input::InputNoise;
use crate::noise::label::LabelNoise;
use crate::noise::weight::WeightNoise;
use crate::train::model::{Buffer, Model};
use crate::train::optimizer::Optimizer;
use core::marker::PhantomData;

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
    /// ([`Loss::hessian_factor`](crate::Loss::hessian_factor)) makes `step` fail. `config`'s per-layer η,
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
    /// ([`Model::penalty`](crate::Model::penalty)): what weight noise
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
}

/// The error of Flipout without its scratch networks.
pub(super) const FLIPOUT_SCRATCH: Error = Error::InvalidParameter {
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
