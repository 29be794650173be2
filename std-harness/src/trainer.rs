//! The training step for [`DynMlp`]: the core's [`ModelTrainer`] over the
//! run-time network (weight, input and label noise, explicit penalty, all or
//! nothing), plus the harness's target and loss types. The noise generators
//! are counter-keyed, so their draw indices are their whole state
//! ([`NoiseCounters`], for checkpoints).

use crate::dyn_mlp::DynMlp;
use crate::optim::Opt;
use noisereg::{
    Error, HalfSquaredError, LabelNoise, Loss, ModelTrainer, NoisePositions, SmoothedCrossEntropy,
    SoftmaxCrossEntropy, Target,
};

/// A training target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tgt {
    /// Regression value (one output).
    Real(f32),
    /// Class label.
    Class(usize),
}

/// The loss of a run: half squared error, or (smoothed) softmax cross-entropy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyLoss {
    /// `½(y − t)²`.
    Mse,
    /// Softmax cross-entropy, label smoothing `α` (0: plain).
    Ce(f32),
}

impl Loss<Tgt> for AnyLoss {
    fn value_grad(&self, y: &[f32], t: &Tgt, dy: &mut [f32]) -> Result<f32, Error> {
        match (self, t) {
            (AnyLoss::Mse, Tgt::Real(v)) => HalfSquaredError.value_grad(y, &[*v][..], dy),
            (AnyLoss::Ce(a), Tgt::Class(c)) if *a > 0.0 => {
                SmoothedCrossEntropy::new(*a)?.value_grad(y, c, dy)
            }
            (AnyLoss::Ce(_), Tgt::Class(c)) => SoftmaxCrossEntropy.value_grad(y, c, dy),
            _ => Err(Error::InvalidParameter {
                name: "target",
                requirement: "a real value for mse, a class label for ce",
            }),
        }
    }

    fn value(&self, y: &[f32], t: &Tgt) -> Result<f32, Error> {
        match (self, t) {
            (AnyLoss::Mse, Tgt::Real(v)) => HalfSquaredError.value(y, &[*v][..]),
            (AnyLoss::Ce(a), Tgt::Class(c)) if *a > 0.0 => {
                SmoothedCrossEntropy::new(*a)?.value(y, c)
            }
            (AnyLoss::Ce(_), Tgt::Class(c)) => SoftmaxCrossEntropy.value(y, c),
            _ => Err(mismatched_target()),
        }
    }

    fn identity_hessian(&self) -> bool {
        *self == AnyLoss::Mse
    }

    fn hessian_factor(&self, y: &[f32], t: &Tgt, j: usize, s: &mut [f32]) -> Result<(), Error> {
        match (self, t) {
            (AnyLoss::Mse, Tgt::Real(v)) => HalfSquaredError.hessian_factor(y, &[*v][..], j, s),
            // Smoothing does not change the Hessian.
            (AnyLoss::Ce(_), Tgt::Class(c)) => SoftmaxCrossEntropy.hessian_factor(y, c, j, s),
            _ => Err(mismatched_target()),
        }
    }

    fn hessian_factor_derivative(
        &self,
        y: &[f32],
        t: &Tgt,
        r: &[f32],
        c: &mut [f32],
    ) -> Result<(), Error> {
        match (self, t) {
            (AnyLoss::Mse, Tgt::Real(v)) => {
                HalfSquaredError.hessian_factor_derivative(y, &[*v][..], r, c)
            }
            (AnyLoss::Ce(_), Tgt::Class(k)) => {
                SoftmaxCrossEntropy.hessian_factor_derivative(y, k, r, c)
            }
            _ => Err(mismatched_target()),
        }
    }
}

fn mismatched_target() -> Error {
    Error::InvalidParameter {
        name: "target",
        requirement: "a real value for mse, a class label for ce",
    }
}

/// The core's trainer over a [`DynMlp`] with two scratch networks: one
/// holds a sample's noisy weights (independent noise), its normals (local
/// reparameterisation) or the batch's ε (per-batch noise, Flipout);
/// multiplicative Flipout and multiplicative per-sample noise use the second.
pub type DynTrainer = ModelTrainer<Vec<f32>, Vec<f32>, DynMlp, Opt, 2>;

impl Target for Tgt {
    fn is_finite_target(&self) -> bool {
        match self {
            Tgt::Real(v) => v.is_finite(),
            Tgt::Class(_) => true,
        }
    }

    fn with_label_noise(&self, noise: &mut LabelNoise) -> Self {
        match *self {
            Tgt::Real(v) => {
                let mut o = [0.0f32; 1];
                noise.perturb(&[v], &mut o);
                Tgt::Real(o[0])
            }
            c => c,
        }
    }
}

/// Positions of the noise generators (their whole state), as saved in a
/// checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoiseCounters {
    /// Weight-noise draw index.
    pub weight: u64,
    /// Input-noise draw index.
    pub input: u64,
    /// Label-noise draw index.
    pub label: u64,
}

impl From<NoisePositions> for NoiseCounters {
    fn from(p: NoisePositions) -> Self {
        Self {
            weight: p.weight,
            input: p.input,
            label: p.label,
        }
    }
}

impl From<NoiseCounters> for NoisePositions {
    fn from(c: NoiseCounters) -> Self {
        Self {
            weight: c.weight,
            input: c.input,
            label: c.label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Opt;
    use noisereg::{
        ActivationKind, Estimator, Init, Mlp1, Network, NoiseKind, NoiseOn, Parameters, Sgd, Tanh,
        Trainer, WeightNoiseConfig,
    };
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    /// The core trainer over a `DynMlp` against the core's `Trainer` over the
    /// same const-generic network, on the same data.
    fn compare(noise: Option<WeightNoiseConfig>, penalty: f32, input: f32, label: f32) {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(12);
        let mut net = Mlp1::<3, 6, 1, Tanh>::zeroed();
        net.init(Init::Glorot, &mut rng);
        let mut d = DynMlp::mlp(3, &[6], 1, ActivationKind::Tanh).unwrap();
        d.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(12));
        let seed = 77;
        let mut core: Trainer<3, 1, _, _, 2> =
            Trainer::with_scratch(net, Sgd::new(0.05).unwrap(), seed);
        let mut dynt = DynTrainer::with_scratch(d, Opt::Sgd(Sgd::new(0.05).unwrap()), seed);
        if let Some(cfg) = noise {
            core = core.with_weight_noise(&cfg).unwrap();
            dynt = dynt.with_weight_noise(&cfg).unwrap();
        }
        if penalty > 0.0 {
            let cfg = WeightNoiseConfig::new(NoiseKind::Additive, penalty)
                .unwrap()
                .with_noise_on(NoiseOn::Weights);
            core = core.with_penalty(&cfg).unwrap();
            dynt = dynt.with_penalty(&cfg).unwrap();
        }
        core = core.with_input_noise(input).unwrap();
        dynt = dynt.with_input_noise(input).unwrap();
        core = core.with_label_noise(label).unwrap();
        dynt = dynt.with_label_noise(label).unwrap();
        let xs: Vec<[f32; 3]> = (0..8)
            .map(|i| [i as f32 * 0.1, 1.0 - i as f32 * 0.2, 0.3])
            .collect();
        let ys: Vec<[f32; 1]> = xs.iter().map(|x| [x[0] - x[1]]).collect();
        let xv: Vec<Vec<f32>> = xs.iter().map(|x| x.to_vec()).collect();
        let tv: Vec<Tgt> = ys.iter().map(|y| Tgt::Real(y[0])).collect();
        for s in 0..6 {
            let idx: Vec<usize> = (0..4).map(|k| (s * 3 + k) % 8).collect();
            let bx: Vec<[f32; 3]> = idx.iter().map(|&i| xs[i]).collect();
            let by: Vec<[f32; 1]> = idx.iter().map(|&i| ys[i]).collect();
            let l1 = core.step(&HalfSquaredError, &bx, &by).unwrap();
            let batch = idx.iter().map(|&i| (&xv[i], &tv[i]));
            let l2 = dynt.step_samples(&AnyLoss::Mse, batch).unwrap();
            assert_eq!(l1.to_bits(), l2.to_bits(), "loss at step {s}");
        }
        let a = core.network();
        let b = dynt.network();
        for i in 0..a.slice_count() {
            let x: Vec<u32> = a.slice(i).iter().map(|v| v.to_bits()).collect();
            let y: Vec<u32> = b.slice(i).iter().map(|v| v.to_bits()).collect();
            assert_eq!(x, y, "slice {i}");
        }
    }

    #[test]
    fn dyn_trainer_matches_core_trainer_bit_for_bit() {
        compare(None, 0.0, 0.0, 0.0);
        compare(None, 0.01, 0.1, 0.1);
        let add = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
        compare(Some(add), 0.0, 0.0, 0.0);
        compare(Some(add), 0.02, 0.05, 0.0);
        let mul = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
        compare(Some(mul), 0.0, 0.0, 0.0);
        let lr = WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.01).unwrap();
        compare(Some(lr), 0.0, 0.0, 0.1);
        for cfg in [add, mul] {
            let f = cfg.with_estimator(Estimator::Flipout);
            compare(Some(f), 0.0, 0.0, 0.0);
            compare(
                Some(f.with_noise_on(NoiseOn::WeightsAndBiases)),
                0.02,
                0.05,
                0.0,
            );
        }
    }
}
