//! The training step for [`DynMlp`], following the core's `Trainer` step by
//! step (weight, input and label noise, explicit penalty, all or nothing),
//! with state that a checkpoint can hold: the noise generators are
//! counter-keyed, so their draw indices are their whole state.
//!
//! The core's `Trainer` is generic over const-generic networks; this is its
//! run-time-sized twin (should move into the core once the trainer takes any
//! [`Parameters`] network).

use crate::dyn_mlp::{DynCache, DynMlp};
use crate::optim::Opt;
use noisereg::{
    Clean, Error, HalfSquaredError, InputNoise, LabelNoise, Loss, NoiseOn, Optimizer,
    SmoothedCrossEntropy, SoftmaxCrossEntropy, WeightNoise, WeightNoiseConfig,
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
            _ => Err(Error::InvalidParameter {
                name: "target",
                requirement: "a real value for mse, a class label for ce",
            }),
        }
    }
}

/// Mean loss over a data set at the clean weights (accumulated in `f64`).
///
/// # Errors
///
/// The loss's errors.
pub fn clean_loss(net: &DynMlp, loss: &AnyLoss, xs: &[Vec<f32>], ts: &[Tgt]) -> Result<f64, Error> {
    let mut y = vec![0.0; net.outputs()];
    let mut total = 0.0f64;
    for (x, t) in xs.iter().zip(ts) {
        net.forward(x, &mut y)?;
        total += f64::from(loss.value(&y, t)?);
    }
    Ok(total / xs.len().max(1) as f64)
}

/// The core trainer's derivation of sub-seeds (weight noise 1, input 2, label 3).
fn sub_seed(seed: u64, which: u64) -> u64 {
    seed ^ which.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Widths the input noise is drawn at: the core's `InputNoise` takes arrays,
/// and a fill of `n` values is the first `n` of a longer one (tested), so
/// data are padded to the next of these.
const PAD: [usize; 7] = [8, 16, 32, 64, 128, 256, 512];

/// Largest number of features input noise supports.
pub const MAX_INPUT_NOISE_WIDTH: usize = 512;

fn padded_input_noise(noise: &mut InputNoise, x: &[f32], out: &mut [f32]) {
    macro_rules! go {
        ($($n:literal),*) => {
            match PAD.iter().copied().find(|&p| p >= x.len()) {
                $(Some($n) => {
                    let mut a = [0.0f32; $n];
                    a[..x.len()].copy_from_slice(x);
                    let mut b = [0.0f32; $n];
                    noise.perturb(&a, &mut b);
                    out.copy_from_slice(&b[..x.len()]);
                })*
                _ => out.copy_from_slice(x),
            }
        };
    }
    go!(8, 16, 32, 64, 128, 256, 512);
}

/// Positions of the noise generators (their whole state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoiseCounters {
    /// Weight-noise draw index.
    pub weight: u64,
    /// Input-noise draw index.
    pub input: u64,
    /// Label-noise draw index.
    pub label: u64,
}

/// Trains a [`DynMlp`] like the core's `Trainer` (per-sample redraw).
#[derive(Debug, Clone)]
pub struct DynTrainer {
    net: DynMlp,
    grad: DynMlp,
    scratch: DynMlp,
    opt: Opt,
    cache: DynCache,
    weight_noise: Option<WeightNoise>,
    penalty: Option<(Vec<f32>, NoiseOn)>,
    input_noise: InputNoise,
    label_noise: LabelNoise,
    step: u64,
}

impl DynTrainer {
    /// A trainer without noise.
    pub fn new(net: DynMlp, opt: Opt) -> Self {
        Self {
            grad: net.zeros_like(),
            scratch: net.zeros_like(),
            cache: net.new_cache(),
            net,
            opt,
            weight_noise: None,
            penalty: None,
            input_noise: InputNoise::off(),
            label_noise: LabelNoise::none(),
            step: 0,
        }
    }

    /// Adds weight noise (the core's [`WeightNoise`], seeded as the core trainer does).
    ///
    /// # Errors
    ///
    /// As the core's `Trainer::set_weight_noise` for the depth.
    pub fn with_weight_noise(mut self, cfg: &WeightNoiseConfig, seed: u64) -> Result<Self, Error> {
        if self.net.depth() > noisereg::MAX_LAYERS {
            return Err(Error::InvalidParameter {
                name: "layers",
                requirement: "network depth <= MAX_LAYERS",
            });
        }
        self.weight_noise = Some(WeightNoise::new(cfg, sub_seed(seed, 1)));
        Ok(self)
    }

    /// Adds the explicit penalty `½ Σ_l η ‖∇_{θ_l} f‖²`.
    pub fn with_penalty(mut self, eta: f32, on: NoiseOn) -> Self {
        if eta > 0.0 {
            self.penalty = Some((vec![eta; self.net.depth()], on));
        }
        self
    }

    /// Adds input noise of standard deviation `std`.
    ///
    /// # Errors
    ///
    /// As `InputNoise::new`.
    pub fn with_input_noise(mut self, std: f32, seed: u64) -> Result<Self, Error> {
        self.input_noise = InputNoise::new(std, sub_seed(seed, 2))?;
        Ok(self)
    }

    /// Adds Gaussian label noise (regression).
    ///
    /// # Errors
    ///
    /// As `LabelNoise::gaussian`.
    pub fn with_label_noise(mut self, std: f32, seed: u64) -> Result<Self, Error> {
        self.label_noise = LabelNoise::gaussian(std, sub_seed(seed, 3))?;
        Ok(self)
    }

    /// The network.
    pub fn network(&self) -> &DynMlp {
        &self.net
    }

    /// Mutable network (to restore a checkpoint).
    pub fn network_mut(&mut self) -> &mut DynMlp {
        &mut self.net
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &Opt {
        &self.opt
    }

    /// Mutable optimiser (to restore a checkpoint).
    pub fn optimizer_mut(&mut self) -> &mut Opt {
        &mut self.opt
    }

    /// Successful steps so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The noise positions.
    pub fn counters(&self) -> NoiseCounters {
        NoiseCounters {
            weight: self
                .weight_noise
                .as_ref()
                .map_or(0, WeightNoise::draw_index),
            input: self.input_noise.draw_index(),
            label: self.label_noise.draw_index(),
        }
    }

    /// Restores step count and noise positions.
    pub fn restore(&mut self, step: u64, c: NoiseCounters) {
        self.step = step;
        if let Some(w) = self.weight_noise.as_mut() {
            w.set_draw_index(c.weight);
        }
        self.input_noise.set_draw_index(c.input);
        self.label_noise.set_draw_index(c.label);
    }

    /// One optimiser step on the samples `batch` (indices into `xs`, `ts`);
    /// returns the mean training loss. Nothing changes on error.
    ///
    /// # Errors
    ///
    /// As the core's `Trainer::step`.
    pub fn step(
        &mut self,
        loss: &AnyLoss,
        xs: &[Vec<f32>],
        ts: &[Tgt],
        batch: &[usize],
    ) -> Result<f32, Error> {
        if batch.is_empty() {
            return Err(Error::InvalidParameter {
                name: "batch",
                requirement: "at least one sample",
            });
        }
        for &i in batch {
            if !xs[i].iter().all(|v| v.is_finite()) {
                return Err(Error::NonFinite { what: "input" });
            }
            if let Tgt::Real(v) = ts[i]
                && !v.is_finite()
            {
                return Err(Error::NonFinite { what: "target" });
            }
        }
        let saved = self.counters();
        let result = self.accumulate(loss, xs, ts, batch);
        let result = result.and_then(|l| self.opt.check(&self.net, &self.grad).map(|()| l));
        match result {
            Ok(l) => {
                self.opt.apply(&mut self.net, &self.grad);
                self.step += 1;
                Ok(l)
            }
            Err(e) => {
                let step = self.step;
                self.restore(step, saved);
                Err(e)
            }
        }
    }

    fn accumulate(
        &mut self,
        loss: &AnyLoss,
        xs: &[Vec<f32>],
        ts: &[Tgt],
        batch: &[usize],
    ) -> Result<f32, Error> {
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
        if let Some(w) = weight_noise.as_mut() {
            w.set_step(*step);
        }
        let noise = weight_noise.as_mut().filter(|w| w.is_active());
        grad.fill_zero();
        let n = batch.len();
        let mut total = 0.0f32;
        let mut x_noisy = vec![0.0; net.inputs()];
        let mut sample = |i: usize, x_noisy: &mut Vec<f32>| -> Tgt {
            padded_input_noise(input_noise, &xs[i], x_noisy);
            match ts[i] {
                Tgt::Real(v) => {
                    let mut o = [0.0f32; 1];
                    label_noise.perturb(&[v], &mut o);
                    Tgt::Real(o[0])
                }
                c => c,
            }
        };
        let pen_add = |net: &DynMlp, x: &[f32], cache: &mut DynCache, grad: &mut DynMlp| {
            if let Some((eta, on)) = penalty.as_ref() {
                net.penalty_grad(x, eta, *on, cache, grad)?;
            }
            Ok::<(), Error>(())
        };
        match noise {
            None => {
                for &i in batch {
                    let t = sample(i, &mut x_noisy);
                    total += match penalty.as_ref() {
                        Some((eta, on)) => {
                            net.loss_penalty_grad(loss, &x_noisy, &t, eta, *on, cache, grad)?
                        }
                        None => net.sample_grad(loss, &x_noisy, &t, &mut Clean, cache, grad)?,
                    };
                }
            }
            Some(noise) if noise.needs_gradient_scaling() && n > 1 => {
                for &i in batch {
                    noise.next_draw();
                    let t = sample(i, &mut x_noisy);
                    scratch.fill_zero();
                    total += net.sample_grad(loss, &x_noisy, &t, noise, cache, scratch)?;
                    noise.scale_gradient(scratch);
                    grad.add_from(scratch);
                    pen_add(net, &x_noisy, cache, grad)?;
                }
            }
            Some(noise) => {
                for &i in batch {
                    noise.next_draw();
                    let t = sample(i, &mut x_noisy);
                    total += net.sample_grad(loss, &x_noisy, &t, noise, cache, grad)?;
                    noise.scale_gradient(grad);
                    pen_add(net, &x_noisy, cache, grad)?;
                }
            }
        }
        let inv = 1.0 / n as f32;
        grad.scale_all(inv);
        Ok(total * inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Opt;
    use noisereg::{
        ActivationKind, Init, Mlp1, Network, NoiseKind, Parameters, Sgd, Tanh, Trainer,
    };
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    #[test]
    fn input_noise_of_n_values_is_the_prefix_of_a_longer_draw() {
        let mut a = InputNoise::new(0.5, 3).unwrap();
        let mut b = a.clone();
        let x10 = [0.25f32; 10];
        let mut o10 = [0.0; 10];
        a.perturb(&x10, &mut o10);
        let mut o = vec![0.0; 10];
        padded_input_noise(&mut b, &x10, &mut o);
        assert_eq!(o10.to_vec(), o);
        assert_eq!(a.draw_index(), b.draw_index());
    }

    /// The run-time trainer against the core's `Trainer` on the same data.
    fn compare(noise: Option<WeightNoiseConfig>, penalty: f32, input: f32, label: f32) {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(12);
        let mut net = Mlp1::<3, 6, 1, Tanh>::zeroed();
        net.init(Init::Glorot, &mut rng);
        let mut d = DynMlp::mlp(3, &[6], 1, ActivationKind::Tanh).unwrap();
        d.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(12));
        let seed = 77;
        let mut core: Trainer<3, 1, _, _, 1> = Trainer::new(net, Sgd::new(0.05).unwrap(), seed);
        let mut dynt = DynTrainer::new(d, Opt::Sgd(Sgd::new(0.05).unwrap()));
        if let Some(cfg) = noise {
            core = core.with_weight_noise(&cfg).unwrap();
            dynt = dynt.with_weight_noise(&cfg, seed).unwrap();
        }
        if penalty > 0.0 {
            let cfg = WeightNoiseConfig::new(NoiseKind::Additive, penalty).unwrap();
            core = core.with_penalty(&cfg).unwrap();
            dynt = dynt.with_penalty(penalty, NoiseOn::Weights);
        }
        core = core.with_input_noise(input).unwrap();
        dynt = dynt.with_input_noise(input, seed).unwrap();
        core = core.with_label_noise(label).unwrap();
        dynt = dynt.with_label_noise(label, seed).unwrap();
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
            let l2 = dynt.step(&AnyLoss::Mse, &xv, &tv, &idx).unwrap();
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
    }
}
