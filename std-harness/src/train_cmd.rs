//! `noisereg train`: data preparation, the epoch loop with checkpoints, and
//! the model and metrics files. The demo trains through the same functions.

use crate::atomic_write::{NamedPath, check_outputs, json_bytes, resolve, write_all_atomic};
use crate::checkpoint::{CHECKPOINT_FORMAT, Checkpoint, EpochMetrics, RunShape, data_hash};
use crate::cli::{EstimatorArg, LossArg, NoiseKindArg, OptimizerArg, TrainArgs};
use crate::dataset::{Dataset, Standardizer, TargetKind, load_csv, permutation, split};
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
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

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

/// The settings of a `train` command line.
pub fn settings_of(a: &TrainArgs) -> Settings {
    Settings {
        hidden: a.hidden.iter().map(|&h| h as usize).collect(),
        activation: a.activation,
        loss: a.loss,
        weight_noise: a.weight_noise,
        noise_on: a.noise_on,
        noise_kind: if a.multiplicative {
            NoiseKindArg::Multiplicative
        } else if a.local_reparam || a.estimator == EstimatorArg::LocalReparam {
            NoiseKindArg::LocalReparam
        } else {
            NoiseKindArg::Additive
        },
        // The kind carries local reparameterisation (as before the flag).
        estimator: if a.local_reparam || a.estimator == EstimatorArg::LocalReparam {
            EstimatorArg::Independent
        } else {
            a.estimator
        },
        input_noise: a.input_noise,
        label_noise: a.label_noise,
        label_smoothing: a.label_smoothing,
        penalty: a.penalty,
        optimizer: a.optimizer,
        lr: a.lr,
        epochs: a.epochs as usize,
        batch: a.batch as usize,
        seed: a.seed,
        test_fraction: a.test_fraction,
    }
}

/// Checks combinations clap cannot express; exits with a usage error.
fn check_settings(a: &TrainArgs) {
    use clap::error::ErrorKind;
    if a.loss == LossArg::Ce && a.label_noise > 0.0 {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--label-noise is Gaussian noise on regression targets; with --loss ce use --label-smoothing",
        );
    }
    if a.loss == LossArg::Mse && a.label_smoothing > 0.0 {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--label-smoothing needs --loss ce",
        );
    }
    if a.local_reparam
        && !matches!(
            a.estimator,
            EstimatorArg::Independent | EstimatorArg::LocalReparam
        )
    {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--local-reparam is --estimator local-reparam; it cannot be combined with another --estimator",
        );
    }
    if a.multiplicative && a.estimator == EstimatorArg::LocalReparam {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--estimator local-reparam draws additive noise only; it cannot be combined with --multiplicative",
        );
    }
    if !a.estimator.is_default() && a.weight_noise == 0.0 {
        crate::cli::usage_error(
            ErrorKind::MissingRequiredArgument,
            "--estimator needs --weight-noise ETA > 0",
        );
    }
    if (a.multiplicative || a.local_reparam) && a.weight_noise == 0.0 {
        crate::cli::usage_error(
            ErrorKind::MissingRequiredArgument,
            "--multiplicative and --local-reparam need --weight-noise ETA > 0",
        );
    }
    if a.hidden.len() + 1 > noisereg::MAX_LAYERS {
        crate::cli::usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--hidden: at most {} hidden layers",
                noisereg::MAX_LAYERS - 1
            ),
        );
    }
}

#[derive(Serialize)]
struct TrainSummary<'a> {
    model: String,
    metrics: Option<String>,
    steps: usize,
    final_epoch: Option<&'a EpochMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    train_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_accuracy: Option<f64>,
}

/// `println!` that ignores a closed stdout (`noisereg train … | head`): the
/// files are written by then.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Runs `noisereg train`.
///
/// # Errors
///
/// Input failures for bad data or checkpoints; runtime failures otherwise.
pub fn train(a: &TrainArgs) -> Outcome {
    check_recurrent(a);
    if a.recurrent.arch != crate::cli::ArchArg::Mlp {
        return train_recurrent(a);
    }
    check_settings(a);
    // Every output is checked before any work; the metrics file is skipped
    // when the model goes to a device or FIFO.
    let mpath = (!resolve("--out", &a.out)?.is_special()).then(|| metrics_path(&a.out));
    let mut outputs = vec![NamedPath {
        what: "--out",
        path: &a.out,
    }];
    if let Some(m) = &mpath {
        outputs.push(NamedPath {
            what: "the metrics file",
            path: m,
        });
    }
    if let Some(c) = &a.checkpoint {
        outputs.push(NamedPath {
            what: "--checkpoint",
            path: c,
        });
    }
    let mut inputs = vec![NamedPath {
        what: "--data",
        path: &a.csv.data,
    }];
    if let Some(r) = &a.resume {
        inputs.push(NamedPath {
            what: "--resume",
            path: r,
        });
    }
    check_outputs(&outputs, &inputs, &[("--checkpoint", "--resume")])?;
    let s = settings_of(a);
    let kind = if a.loss == LossArg::Ce {
        TargetKind::Class
    } else {
        TargetKind::Real
    };
    let d = load_csv(&a.csv.data, &a.csv.target, kind)?;
    let name = a.csv.data.display().to_string();
    let p = prepare_with_max_classes(
        &d,
        s.loss,
        s.test_fraction,
        s.seed,
        &name,
        a.max_classes as usize,
    )?;
    let sizes: Vec<usize> = std::iter::once(p.features.len())
        .chain(s.hidden.iter().copied())
        .chain([p.outputs()])
        .collect();
    let shape = RunShape {
        settings: &s,
        data_hash: &p.hash,
        train_rows: p.x_train.len(),
        sizes: &sizes,
    };
    let resume = a
        .resume
        .as_deref()
        .map(|path| Checkpoint::load(path, shape))
        .transpose()?;
    let plan = RunPlan {
        checkpoint: a.checkpoint.clone().zip(a.checkpoint_every),
        resume,
        progress: std::io::stderr().is_terminal(),
        step_delay_us: a.step_delay_us,
    };
    let (net, metrics) = run(&s, &p, plan)?;
    let model = model_file(&s, &p, &net);
    let model_bytes = json_bytes(&a.out, &model)?;
    let mut files = vec![(a.out.as_path(), model_bytes.as_slice())];
    let metrics_bytes;
    if let Some(m) = &mpath {
        metrics_bytes = json_bytes(m, &serde_json::json!({ "epochs": metrics }))?;
        files.push((m.as_path(), metrics_bytes.as_slice()));
    }
    write_all_atomic(&files)?;
    let last = metrics.last();
    let acc = |xs: &[Vec<f32>], ts: &[Tgt]| -> Outcome<Option<f64>> {
        if s.loss != LossArg::Ce || xs.is_empty() {
            return Ok(None);
        }
        crate::verify::accuracy(&net, xs, ts)
            .map(Some)
            .map_err(|e| Failure::runtime(format!("evaluation failed: {e}")))
    };
    let (train_accuracy, test_accuracy) =
        (acc(&p.x_train, &p.t_train)?, acc(&p.x_test, &p.t_test)?);
    if a.json {
        let summary = TrainSummary {
            model: a.out.display().to_string(),
            metrics: mpath.as_ref().map(|m| m.display().to_string()),
            steps: s.epochs * p.x_train.len().div_ceil(s.batch),
            final_epoch: last,
            train_accuracy,
            test_accuracy,
        };
        say!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        if let Some(m) = last {
            let test = m.test_loss.map_or("-".to_string(), |v| format!("{v:.5}"));
            say!(
                "epoch {}: train loss {:.5}, test loss {test} ({})",
                m.epoch,
                m.train_loss,
                if s.loss == LossArg::Ce {
                    "cross-entropy"
                } else {
                    "½ squared error, standardised target"
                }
            );
        }
        if let Some(tr) = train_accuracy {
            let te = test_accuracy.map_or("-".to_string(), |v| format!("{v:.4}"));
            say!("train accuracy {tr:.4}, test accuracy {te}");
        }
        match &mpath {
            Some(m) => say!("wrote {} and {}", a.out.display(), m.display()),
            None => say!("wrote {}", a.out.display()),
        }
    }
    Ok(())
}

/// Checks the recurrent flags against `--arch`; exits with a usage error.
fn check_recurrent(a: &TrainArgs) {
    use clap::error::ErrorKind;
    let r = &a.recurrent;
    let err = |msg: String| crate::cli::usage_error(ErrorKind::ArgumentConflict, msg);
    if r.arch == crate::cli::ArchArg::Mlp {
        let given = [
            ("--seq-len", r.seq_len.is_some()),
            ("--horizon", r.horizon.is_some()),
            ("--inputs", !r.inputs.is_empty()),
            ("--transform", r.transform.is_some()),
            ("--noise-per", r.noise_per.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            err(format!(
                "{flag} is for the recurrent models: add --arch elman or --arch gru"
            ));
        }
        return;
    }
    if a.loss == LossArg::Ce {
        err("--arch elman|gru forecast a real series: use --loss mse".into());
    }
    if a.hidden.len() != 1 {
        err("--hidden: a recurrent model has one hidden state: give one width".into());
    }
    if a.checkpoint.is_some() || a.resume.is_some() {
        err("--checkpoint and --resume are not supported with --arch elman|gru yet".into());
    }
    if a.multiplicative || a.local_reparam {
        err("--arch elman|gru take additive weight noise only".into());
    }
    if a.estimator != EstimatorArg::Independent {
        err("--arch elman|gru draw weight noise with --estimator independent only (per sequence or per step)".into());
    }
    if a.label_smoothing > 0.0 {
        err("--label-smoothing needs --loss ce".into());
    }
}

/// The recurrent settings of a `train` command line (defaults filled in).
pub fn recurrent_of(a: &TrainArgs) -> crate::model_file::RecurrentSettings {
    let r = &a.recurrent;
    crate::model_file::RecurrentSettings {
        arch: r.arch,
        seq_len: r.seq_len.unwrap_or(12) as usize,
        horizon: r.horizon.unwrap_or(1) as usize,
        transform: r.transform.unwrap_or(crate::series::Transform::Standardize),
        noise_per: r.noise_per.unwrap_or(crate::cli::NoisePerArg::Sequence),
    }
}

/// Windows and targets of a prepared series as model inputs.
pub fn window_data(ws: &[crate::series::Window]) -> (Vec<Vec<f32>>, Vec<Tgt>) {
    (
        ws.iter().map(|w| w.x.clone()).collect(),
        ws.iter().map(|w| Tgt::Real(w.target)).collect(),
    )
}

/// Trains a recurrent model on windows (shuffled within the training part
/// each epoch); returns it with per-epoch metrics.
///
/// # Errors
///
/// An input [`Failure`] if a setting is rejected or training diverges.
pub fn run_recurrent(
    s: &Settings,
    r: &crate::model_file::RecurrentSettings,
    p: &crate::series::PreparedSeries,
) -> Outcome<(crate::dyn_rnn::DynRnn, Vec<EpochMetrics>)> {
    let bad = |e: noisereg::Error| Failure::input(format!("invalid settings: {e}"));
    let mut t = crate::dyn_rnn::trainer(s, r, p.channels.len()).map_err(bad)?;
    let (xs, ts) = window_data(&p.train);
    let (xt, tt) = window_data(&p.test);
    let loss = AnyLoss::Mse;
    let n = xs.len();
    let b = s.batch.max(1);
    let batches = n.div_ceil(b);
    let mut metrics = Vec::new();
    for epoch in 0..s.epochs {
        let perm = permutation(n, epoch_seed(s.seed, epoch));
        let mut sum = 0.0f64;
        for batch in 0..batches {
            let idx = &perm[batch * b..((batch + 1) * b).min(n)];
            let l = t
                .step_samples(&loss, idx.iter().map(|&i| (&xs[i], &ts[i])))
                .map_err(|e| {
                    Failure::input(format!(
                        "training stopped at step {} (epoch {}): {e}: try a smaller --lr{}",
                        t.steps() + 1,
                        epoch + 1,
                        if s.weight_noise > 0.0 || s.penalty > 0.0 {
                            ", --weight-noise or --penalty"
                        } else {
                            ""
                        }
                    ))
                })?;
            sum += f64::from(l);
        }
        let net = t.network();
        let lossf = |xs: &[Vec<f32>], ts: &[Tgt]| {
            clean_loss(net, &loss, xs, ts)
                .map_err(|e| Failure::runtime(format!("evaluation failed: {e}")))
        };
        metrics.push(EpochMetrics {
            epoch: epoch + 1,
            train_objective: sum / batches as f64,
            train_loss: lossf(&xs, &ts)?,
            test_loss: if xt.is_empty() {
                None
            } else {
                Some(lossf(&xt, &tt)?)
            },
        });
    }
    Ok((t.network().clone(), metrics))
}

#[derive(Serialize)]
struct RecurrentSummary<'a> {
    model: String,
    metrics: Option<String>,
    arch: crate::cli::ArchArg,
    steps: usize,
    train_windows: usize,
    test_windows: usize,
    /// File lines of the training part's first and last rows.
    train_lines: [usize; 2],
    /// File lines of the test part's first and last rows (none without one).
    test_lines: Option<[usize; 2]>,
    final_epoch: Option<&'a EpochMetrics>,
}

/// `noisereg train --arch elman|gru`.
fn train_recurrent(a: &TrainArgs) -> Outcome {
    let mpath = (!resolve("--out", &a.out)?.is_special()).then(|| metrics_path(&a.out));
    let mut outputs = vec![NamedPath {
        what: "--out",
        path: &a.out,
    }];
    if let Some(m) = &mpath {
        outputs.push(NamedPath {
            what: "the metrics file",
            path: m,
        });
    }
    let inputs = [NamedPath {
        what: "--data",
        path: &a.csv.data,
    }];
    check_outputs(&outputs, &inputs, &[])?;
    let s = settings_of(a);
    let r = recurrent_of(a);
    let d = crate::series::load_series(&a.csv.data, &a.csv.target, &a.recurrent.inputs)?;
    let spec = crate::series::WindowSpec {
        seq_len: r.seq_len,
        horizon: r.horizon,
    };
    let p = crate::series::prepare_series(&d, spec, r.transform, s.test_fraction)?;
    let (net, metrics) = run_recurrent(&s, &r, &p)?;
    let model = crate::model_file::RnnModelFile::of(&s, &r, &p, &a.csv.target, &net);
    let model_bytes = json_bytes(&a.out, &model)?;
    let mut files = vec![(a.out.as_path(), model_bytes.as_slice())];
    let metrics_bytes;
    if let Some(m) = &mpath {
        metrics_bytes = json_bytes(m, &serde_json::json!({ "epochs": metrics }))?;
        files.push((m.as_path(), metrics_bytes.as_slice()));
    }
    write_all_atomic(&files)?;
    let last = metrics.last();
    if a.json {
        let summary = RecurrentSummary {
            model: a.out.display().to_string(),
            metrics: mpath.as_ref().map(|m| m.display().to_string()),
            arch: r.arch,
            steps: s.epochs * p.train.len().div_ceil(s.batch),
            train_windows: p.train.len(),
            test_windows: p.test.len(),
            train_lines: [d.lines[0], d.lines[p.split - 1]],
            test_lines: (p.split < p.rows).then(|| [d.lines[p.split], d.lines[p.rows - 1]]),
            final_epoch: last,
        };
        say!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        say!(
            "{} windows of {} rows (horizon {}): {} for training (lines {}–{}), {} for testing (the last {} rows)",
            p.train.len() + p.test.len(),
            r.seq_len,
            r.horizon,
            p.train.len(),
            d.lines[0],
            d.lines[p.split - 1],
            p.test.len(),
            p.rows - p.split
        );
        if let Some(m) = last {
            let test = m.test_loss.map_or("-".to_string(), |v| format!("{v:.5}"));
            say!(
                "epoch {}: train loss {:.5}, test loss {test} (½ squared error, transformed target)",
                m.epoch,
                m.train_loss
            );
        }
        match &mpath {
            Some(m) => say!("wrote {} and {}", a.out.display(), m.display()),
            None => say!("wrote {}", a.out.display()),
        }
    }
    Ok(())
}
