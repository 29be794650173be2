//! `noisereg train`: data preparation, the epoch loop with checkpoints, and
//! the model and metrics files. The demo trains through the same functions.

use crate::checkpoint::{CHECKPOINT_FORMAT, Checkpoint, EpochMetrics, data_hash};
use crate::cli::{LossArg, OptimizerArg};
use crate::dataset::{Dataset, Standardizer, permutation, split};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::model_file::{MODEL_FORMAT, ModelFile, Settings, layers_of};
use crate::optim::{Opt, from_bits, to_bits};
use crate::trainer::{AnyLoss, DynTrainer, Tgt};
use noisereg::Model;
use noisereg::{
    ActivationKind, Adam, Init, Momentum, NoiseKind, Sgd, WeightNoiseConfig, clean_loss,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use std::path::{Path, PathBuf};

/// `println!` that ignores a closed stdout (`noisereg train … | head`): the
/// files are written by then.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod command;
mod recurrent;
mod settings;

pub use command::train;
pub use recurrent::{recurrent_of, run_recurrent, window_data};
pub use settings::settings_of;

/// Standardised training and test data.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Feature names.
    pub features: Vec<String>,
    /// Target name.
    pub target: String,
    /// Training inputs.
    pub x_train: Vec<Vec<f32>>,
    /// Training targets.
    pub t_train: Vec<Tgt>,
    /// Test inputs.
    pub x_test: Vec<Vec<f32>>,
    /// Test targets.
    pub t_test: Vec<Tgt>,
    /// Feature statistics (training set).
    pub feature_scaling: Standardizer,
    /// Target statistics (mse).
    pub target_scaling: Option<Standardizer>,
    /// Classes (ce).
    pub classes: Option<usize>,
    /// Hash of the standardised training data.
    pub hash: String,
}

impl Prepared {
    /// Network outputs.
    pub fn outputs(&self) -> usize {
        self.classes.unwrap_or(1)
    }
}

/// Targets of `d` in model units (standardised for mse).
pub fn targets(d: &Dataset, scaling: Option<&Standardizer>) -> Vec<Tgt> {
    d.y.iter()
        .map(|&v| match scaling {
            Some(s) => Tgt::Real(s.apply(&[v])[0]),
            None => Tgt::Class(v as usize),
        })
        .collect()
}

/// Classes `train` accepts without `--max-classes`.
pub const DEFAULT_MAX_CLASSES: usize = 1000;

/// Splits and standardises `d` (statistics from the training rows).
///
/// # Errors
///
/// As [`prepare_with_max_classes`] with [`DEFAULT_MAX_CLASSES`].
pub fn prepare(
    d: &Dataset,
    loss: LossArg,
    test_fraction: f64,
    seed: u64,
    name: &str,
) -> Outcome<Prepared> {
    prepare_with_max_classes(d, loss, test_fraction, seed, name, DEFAULT_MAX_CLASSES)
}

/// Splits and standardises `d` (statistics from the training rows).
///
/// # Errors
///
/// An input [`Failure`] naming the file, line and column of an offending
/// class label (see [`Dataset::check_classes`]).
pub fn prepare_with_max_classes(
    d: &Dataset,
    loss: LossArg,
    test_fraction: f64,
    seed: u64,
    name: &str,
    max_classes: usize,
) -> Outcome<Prepared> {
    let (tr, te) = split(d.rows(), test_fraction, seed);
    let (train, test) = (d.subset(&tr), d.subset(&te));
    let fs = Standardizer::fit(&train.x);
    let (ts, classes) = if loss == LossArg::Ce {
        (None, Some(d.check_classes(name, &tr, max_classes)?))
    } else {
        (Some(Standardizer::fit_column(&train.y)), None)
    };
    let x_train: Vec<Vec<f32>> = train.x.iter().map(|r| fs.apply(r)).collect();
    let x_test: Vec<Vec<f32>> = test.x.iter().map(|r| fs.apply(r)).collect();
    let t_train = targets(&train, ts.as_ref());
    let t_test = targets(&test, ts.as_ref());
    // Values that overflow f32 once standardised, first in file order.
    for i in 0..d.rows() {
        if let Some(j) = fs.apply(&d.x[i]).iter().position(|v| !v.is_finite()) {
            return Err(d.too_large(name, i, Some(j)));
        }
        if ts
            .as_ref()
            .is_some_and(|s| !s.apply(&[d.y[i]])[0].is_finite())
        {
            return Err(d.too_large(name, i, None));
        }
    }
    let tv: Vec<f32> = t_train
        .iter()
        .map(|t| match t {
            Tgt::Real(v) => *v,
            Tgt::Class(c) => *c as f32,
        })
        .collect();
    Ok(Prepared {
        features: d.features.clone(),
        target: d.target.clone(),
        hash: data_hash(&x_train, &tv),
        x_train,
        t_train,
        x_test,
        t_test,
        feature_scaling: fs,
        target_scaling: ts,
        classes,
    })
}

/// The loss a settings record names.
pub fn loss_of(s: &Settings) -> AnyLoss {
    match s.loss {
        LossArg::Ce => AnyLoss::Ce(s.label_smoothing),
        LossArg::Mse => AnyLoss::Mse,
    }
}

/// The initialised network and trainer a settings record describes.
///
/// # Errors
///
/// A runtime [`Failure`] if the core rejects a setting.
pub fn build_trainer(s: &Settings, inputs: usize, outputs: usize) -> Outcome<DynTrainer> {
    let bad = |e: noisereg::Error| Failure::input(format!("invalid settings: {e}"));
    let act: ActivationKind = s.activation.into();
    let mut net = DynMlp::mlp(inputs, &s.hidden, outputs, act).map_err(bad)?;
    let init = match act {
        ActivationKind::Relu | ActivationKind::Softplus => Init::He,
        _ => Init::Glorot,
    };
    net.init(init, &mut Xoshiro128PlusPlus::seed_from_u64(s.seed));
    let opt = match s.optimizer {
        OptimizerArg::Sgd => Opt::Sgd(Sgd::new(s.lr).map_err(bad)?),
        OptimizerArg::Momentum => {
            Opt::Momentum(Momentum::new(noisereg::MomentumSettings::new(s.lr), &net).map_err(bad)?)
        }
        OptimizerArg::Adam => Opt::Adam(Adam::with_defaults(s.lr, &net).map_err(bad)?),
    };
    let on = s.noise_on.into();
    let mut t = DynTrainer::with_scratch(net, opt, s.seed);
    if s.weight_noise > 0.0 {
        let cfg = WeightNoiseConfig::new(s.noise_kind.into(), s.weight_noise)
            .map_err(bad)?
            .with_noise_on(on)
            .with_estimator(s.estimator.into());
        t.set_weight_noise(&cfg).map_err(bad)?;
    }
    if s.penalty > 0.0 {
        let cfg = WeightNoiseConfig::new(NoiseKind::Additive, s.penalty)
            .map_err(bad)?
            .with_noise_on(on);
        t = t.with_penalty(&cfg).map_err(bad)?;
    }
    t = t.with_input_noise(s.input_noise).map_err(bad)?;
    t = t.with_label_noise(s.label_noise).map_err(bad)?;
    Ok(t)
}

/// How to run: checkpoints, resume, progress.
#[derive(Debug, Default)]
pub struct RunPlan {
    /// Checkpoint file and interval in steps.
    pub checkpoint: Option<(PathBuf, u64)>,
    /// State to continue from.
    pub resume: Option<Checkpoint>,
    /// Show a progress bar.
    pub progress: bool,
    /// Sleep after each step (tests).
    pub step_delay_us: u64,
}

/// Seed of epoch `e`'s shuffle.
fn epoch_seed(seed: u64, e: usize) -> u64 {
    seed.wrapping_add(0x00c0_ffee) ^ (e as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Trains as `s` says; returns the network and per-epoch metrics.
///
/// # Errors
///
/// An input [`Failure`] if the checkpoint does not belong to this run; a
/// runtime one if training diverges or a checkpoint cannot be written.
pub fn run(s: &Settings, p: &Prepared, plan: RunPlan) -> Outcome<(DynMlp, Vec<EpochMetrics>)> {
    let loss = loss_of(s);
    let mut t = build_trainer(s, p.features.len(), p.outputs())?;
    let n = p.x_train.len();
    let b = s.batch.max(1);
    let batches = n.div_ceil(b);
    let (mut epoch, mut batch, mut sum, mut metrics) = (0usize, 0usize, 0.0f64, Vec::new());
    if let Some(c) = &plan.resume {
        if c.settings != *s || c.data_hash != p.hash {
            return Err(Failure::input(
                "the checkpoint belongs to a different run (settings or data differ)",
            ));
        }
        let bad = |e: noisereg::Error| Failure::input(format!("checkpoint does not fit: {e}"));
        from_bits(t.network_mut(), &c.weights).map_err(bad)?;
        t.optimizer_mut().restore(&c.optimizer).map_err(bad)?;
        t.resume(c.step, c.noise.into());
        (epoch, batch) = (c.epoch, c.batch);
        sum = f64::from_bits(c.epoch_loss_sum_bits);
        metrics = c.metrics.clone();
    }
    let bar = if plan.progress {
        let bar = indicatif::ProgressBar::new((s.epochs * batches) as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  epoch {prefix}  loss {msg}  ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_position(t.steps());
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    while epoch < s.epochs {
        let perm = permutation(n, epoch_seed(s.seed, epoch));
        while batch < batches {
            let idx = &perm[batch * b..((batch + 1) * b).min(n)];
            let samples = idx.iter().map(|&i| (&p.x_train[i], &p.t_train[i]));
            let l = t.step_samples(&loss, samples).map_err(|e| {
                let xs: Vec<Vec<f32>> = idx.iter().map(|&i| p.x_train[i].clone()).collect();
                let ts: Vec<Tgt> = idx.iter().map(|&i| p.t_train[i]).collect();
                // The settings made it diverge: the user's to change (status 2).
                Failure::input(format!(
                    "training stopped at step {} (epoch {}): {e}: {}",
                    t.steps() + 1,
                    epoch + 1,
                    divergence_cause(s, t.network(), &loss, &xs, &ts)
                ))
            })?;
            sum += f64::from(l);
            batch += 1;
            bar.inc(1);
            if let Some((path, every)) = &plan.checkpoint
                && t.steps() % every == 0
            {
                Checkpoint {
                    format: CHECKPOINT_FORMAT.into(),
                    checksum: String::new(),
                    settings: s.clone(),
                    data_hash: p.hash.clone(),
                    step: t.steps(),
                    epoch,
                    batch,
                    epoch_loss_sum_bits: sum.to_bits(),
                    weights: to_bits(t.network()),
                    optimizer: t.optimizer().snapshot(),
                    noise: t.noise_positions().into(),
                    metrics: metrics.clone(),
                }
                .save(path)?;
            }
            if plan.step_delay_us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(plan.step_delay_us));
            }
        }
        let net = t.network();
        let lossf = |xs: &[Vec<f32>], ts: &[Tgt]| {
            clean_loss(net, &loss, xs, ts)
                .map_err(|e| Failure::runtime(format!("evaluation failed: {e}")))
        };
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_objective: sum / batches as f64,
            train_loss: lossf(&p.x_train, &p.t_train)?,
            test_loss: if p.x_test.is_empty() {
                None
            } else {
                Some(lossf(&p.x_test, &p.t_test)?)
            },
        };
        bar.set_prefix(format!("{}", epoch + 1));
        bar.set_message(format!("{:.4}", m.train_objective));
        metrics.push(m);
        epoch += 1;
        batch = 0;
        sum = 0.0;
    }
    bar.finish_and_clear();
    Ok((t.network().clone(), metrics))
}

/// What made a step non-finite, told from the weights before the step (a
/// failed step changes nothing) and the settings.
fn divergence_cause(
    s: &Settings,
    net: &DynMlp,
    loss: &AnyLoss,
    xs: &[Vec<f32>],
    ts: &[Tgt],
) -> String {
    use noisereg::Parameters;
    let largest_weight = (0..net.slice_count())
        .flat_map(|i| net.slice(i).iter())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    match clean_loss(net, loss, xs, ts) {
        Ok(l) if l.is_finite() => {}
        Ok(l) => {
            return format!(
                "the loss of the batch at the current weights is {l} (largest |weight| {largest_weight:e} after the updates with --lr {:e}); try a smaller --lr",
                s.lr
            );
        }
        Err(e) => return format!("the loss of the batch cannot be evaluated: {e}"),
    }
    if s.penalty > 0.0 {
        let eta = vec![s.penalty; net.depth()];
        let mut cache = net.workspace();
        // The loss-correct penalty the run trains on (docs/theory.md §11).
        let largest = xs
            .iter()
            .zip(ts)
            .map(|(x, t)| {
                noisereg::gauss_newton_penalty(net, loss, x, t, &eta, s.noise_on.into(), &mut cache)
                    .unwrap_or(f32::INFINITY)
            })
            .fold(0.0f32, |m, v| if v.is_nan() || v > m { v } else { m });
        // Adam squares the gradient: beyond √f32::MAX ≈ 1.8e19 it overflows.
        if largest.is_nan() || largest >= 1e18 {
            return format!(
                "--penalty {:e} makes the penalty term {largest:e} on this batch, so its gradient (or its square in the optimiser) overflows f32; use a smaller --penalty",
                s.penalty
            );
        }
    }
    let noise = if s.weight_noise >= 1.0 {
        format!(
            " or a smaller --weight-noise ({:e} is a variance: σ = {:e})",
            s.weight_noise,
            s.weight_noise.sqrt()
        )
    } else {
        String::new()
    };
    format!(
        "the update with --lr {:e} made the weights or the optimiser state non-finite; try a smaller --lr{noise}",
        s.lr
    )
}

/// The model file of a trained network.
pub fn model_file(s: &Settings, p: &Prepared, net: &DynMlp) -> ModelFile {
    ModelFile {
        format: MODEL_FORMAT.into(),
        features: p.features.clone(),
        target: p.target.clone(),
        feature_scaling: p.feature_scaling.clone(),
        target_scaling: p.target_scaling.clone(),
        classes: p.classes,
        settings: s.clone(),
        layers: layers_of(net),
    }
}

/// `MODEL.metrics.json` next to `MODEL.json`.
pub fn metrics_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    out.with_file_name(format!("{stem}.metrics.json"))
}
