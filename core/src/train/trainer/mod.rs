//! The trainer: noise, forward, backward, optimiser, all or nothing.
//!
//! - [`settings`]: construction, the noise and penalty settings, accessors;
//! - [`step`]: the step entry points, input checks and the rollback on error;
//! - [`accumulate`]: the batch gradient, one branch per weight-noise estimator;
//! - [`penalty`]: the explicit penalty's per-sample gradient.

mod accumulate;
mod penalty;
mod settings;
mod step;

use super::model::Model;
use crate::noise::config::WeightNoiseConfig;
use crate::noise::input::InputNoise;
use crate::noise::label::LabelNoise;
use crate::noise::weight::WeightNoise;
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
/// at run time) with an [`Optimizer`](crate::Optimizer) and any mix of weight noise, input
/// noise, label noise and the explicit penalty. `X` and `Y` are the input and
/// output buffers (`[f32; IN]`, `[f32; OUT]` for a [`Trainer`]).
///
/// One [`step`](Trainer::step) takes a mini-batch: for each sample it draws
/// the noise, runs `forward_with` / `backward_with` through the weight-noise
/// [`Perturbation`](crate::Perturbation) (the gradient is taken at `θ + ε`), accumulates the mean
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
/// commits it ([`Optimizer::check`](crate::Optimizer::check)), so no copy of the weights is made.
///
/// # Memory
///
/// The trainer holds the network, a gradient of the same type, `S` scratch
/// networks, the optimiser, one forward cache and the noise state
/// ([`WeightNoise`]: 456 bytes; input and label noise: 24 bytes each). What
/// the scratch networks buy, per [`Estimator`](crate::Estimator):
///
/// - [`Independent`](crate::Estimator::Independent), additive: with `S ≥ 1` a
///   sample's `W̃` is materialised once and the passes read it clean: one
///   normal per weight per sample instead of two (forward, then again in the
///   backward pass), the same bits. Multiplicative noise in batches larger
///   than 1 needs `S ≥ 1` for a per-sample gradient.
/// - [`PerBatch`](crate::Estimator::PerBatch): with `S ≥ 1`, `θ̃` once per batch
///   and (without the penalty) the clean batch pass on it; without, `θ̃`
///   regenerated per sample: the same draw, summed in another order.
/// - [`Flipout`](crate::Estimator::Flipout): needs `S ≥ 1` (the batch's ε), and
///   `S ≥ 2` with multiplicative noise (its extra gradient term); rejected
///   when the noise is set otherwise.
/// - [`LocalReparam`](crate::Estimator::LocalReparam): with `S ≥ 1` the sample's
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
