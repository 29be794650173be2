//! `noisereg robustness`: loss under weight perturbation for several models,
//! all perturbed the same way (the command's own `--noise-on` and
//! `--multiplicative`, not the noise each model was trained with), or under
//! the deployment perturbations of `--perturb` (quantisation, bit flips,
//! stuck-at-zero, PCM drift; see [`PerturbSpec`]) with the predicted loss
//! increase where docs/theory.md §9 gives one.

use crate::atomic_write::{NamedPath, check_outputs};
use crate::cli::{LossArg, PerturbationArgs, RobustnessArgs};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::plots::{Series, line_chart};
use crate::train_cmd::loss_of;
use crate::trainer::{AnyLoss, Tgt};
use crate::verify::{
    ErrorRate, ModelOnData, Perturbation, expansion, finite_result, load_model_on_data, loss_units,
    noise_config, perturbed_loss,
};
use noisereg::{
    Granularity, NoiseOn, PcmDrift, PredictedIncrease, QuantConfig, Rounding, clean_loss,
    dither_variance, flip_bits_f32, flip_bits_int8_weights, predicted_increase,
    prediction_scratch_len, quantize_weights, stochastic_rounding_variance, stuck_at_zero,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

/// One model's loss at one η.
#[derive(Debug, Clone, Serialize)]
pub struct RobustnessRow {
    /// Model file.
    pub model: String,
    /// η.
    pub eta: f32,
    /// Clean loss.
    pub clean_loss: f64,
    /// Mean loss under noise.
    pub noisy_loss: f64,
    /// Standard error of the noisy loss.
    pub std_error: f64,
    /// Increase over the clean loss.
    pub increase: f64,
    /// Units of the losses.
    pub units: &'static str,
    /// Clean accuracy (ce models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_accuracy: Option<f64>,
    /// Mean accuracy under noise (ce models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noisy_accuracy: Option<f64>,
    /// Its standard error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_std_error: Option<f64>,
}

#[derive(Serialize)]
struct Report<'a> {
    data: String,
    rows_used: usize,
    rows_used_are: &'a str,
    perturbation: Perturbation,
    pairs: u32,
    rows: &'a [RobustnessRow],
}

/// Runs `noisereg robustness`.
///
/// # Errors
///
/// Input failures for bad files.
pub fn robustness(a: &RobustnessArgs) -> Outcome {
    if let Some(plot) = &a.plot {
        let mut inputs = vec![NamedPath {
            what: "--data",
            path: &a.csv.data,
        }];
        inputs.extend(a.model.iter().map(|m| NamedPath {
            what: "--model",
            path: m,
        }));
        let outputs = [NamedPath {
            what: "--plot",
            path: plot,
        }];
        check_outputs(&outputs, &inputs, &[])?;
    }
    let is_rnn = |m: &std::path::Path| {
        crate::model_file::format_of(m).as_deref() == Some(crate::model_file::RNN_MODEL_FORMAT)
    };
    if !a.perturb.is_empty() {
        if let Some(m) = a.model.iter().find(|m| is_rnn(m)) {
            return Err(Failure::input(format!(
                "--perturb: {} is a recurrent model; the deployment perturbations take feed-forward models (use --eta)",
                m.display()
            )));
        }
        return robustness_perturb(a);
    }
    let mut models = Vec::new();
    for m in &a.model {
        let md = if is_rnn(m) {
            let r = crate::verify::load_rnn_on_data(m, &a.csv.data, &a.csv.target)?;
            Loaded {
                settings: r.model.settings,
                net: AnyNet::Rnn(r.net),
                xs: r.xs,
                ts: r.ts,
            }
        } else {
            let md = load_model_on_data(m, &a.csv.data, &a.csv.target)?;
            Loaded {
                settings: md.model.settings,
                net: AnyNet::Mlp(md.net),
                xs: md.xs,
                ts: md.ts,
            }
        };
        models.push((m.display().to_string(), m.as_path(), md));
    }
    let rnns = models
        .iter()
        .filter(|(_, _, md)| matches!(md.net, AnyNet::Rnn(_)))
        .count();
    let rows_are = if rnns == models.len() {
        "the test windows (the last rows, as in training)"
    } else if rnns > 0 {
        "all rows of --data (feed-forward models); the test windows (recurrent models)"
    } else {
        "all rows of --data"
    };
    let pert = Perturbation::of(&a.perturbation);
    let pairs = a.draws / 2;
    let fail = |e: noisereg::Error| Failure::runtime(format!("evaluation failed: {e}"));
    let mut rows = Vec::new();
    for (name, path, md) in &models {
        let loss = loss_of(&md.settings);
        let ce = md.settings.loss == LossArg::Ce;
        for &eta in &a.eta {
            let cfg = noise_config(&a.perturbation, eta).map_err(fail)?;
            let r = md.perturbed(&loss, &cfg, pairs, a.seed).map_err(fail)?;
            let r = finite_result(r, eta, path, &a.csv.data)?;
            let acc = if ce {
                Some(
                    md.perturbed(&ErrorRate, &cfg, pairs, a.seed)
                        .map_err(fail)?,
                )
            } else {
                None
            };
            rows.push(RobustnessRow {
                model: name.clone(),
                eta,
                clean_loss: r.clean,
                noisy_loss: r.mean,
                std_error: r.std_error,
                increase: r.excess(),
                units: loss_units(md.settings.loss),
                clean_accuracy: acc.map(|e| 1.0 - e.clean),
                noisy_accuracy: acc.map(|e| 1.0 - e.mean),
                accuracy_std_error: acc.map(|e| e.std_error),
            });
        }
    }
    if let Some(path) = &a.plot {
        let series: Vec<Series> = models
            .iter()
            .map(|(name, _, _)| {
                let mine: Vec<&RobustnessRow> = rows.iter().filter(|r| &r.model == name).collect();
                Series {
                    label: name.clone(),
                    points: mine
                        .iter()
                        .map(|r| (f64::from(r.eta), r.noisy_loss))
                        .collect(),
                    errors: mine.iter().map(|r| r.std_error).collect(),
                }
            })
            .collect();
        let log = a.eta.iter().all(|&e| e > 0.0);
        line_chart(
            path,
            &format!("Loss under {}", pert.describe()),
            "eta (variance)",
            "mean loss",
            &series,
            log,
        )?;
    }
    let rows_used = models.first().map_or(0, |(_, _, md)| md.xs.len());
    if a.json {
        let report = Report {
            data: a.csv.data.display().to_string(),
            rows_used,
            rows_used_are: rows_are,
            perturbation: pert,
            pairs,
            rows: &rows,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{} for every model; {} of {}; {pairs} antithetic pairs",
        pert.describe(),
        if rnns == 0 {
            format!("all {rows_used} rows")
        } else {
            format!("{rows_are} ({rows_used} samples)")
        },
        a.csv.data.display()
    );
    let any_ce = rows.iter().any(|r| r.noisy_accuracy.is_some());
    println!(
        "{:<28} {:>10} {:>12} {:>24} {:>12}{}",
        "model",
        "eta",
        "clean loss",
        "noisy loss ± SE",
        "increase",
        if any_ce {
            "  clean acc  noisy acc ± SE"
        } else {
            ""
        }
    );
    for r in &rows {
        let acc = match (r.clean_accuracy, r.noisy_accuracy, r.accuracy_std_error) {
            (Some(c), Some(n), Some(se)) => format!("  {c:>9.4}  {n:.4} ± {se:.1e}"),
            _ => String::new(),
        };
        println!(
            "{:<28} {:>10.3e} {:>12.6} {:>24} {:>12.6}{acc}",
            r.model,
            r.eta,
            r.clean_loss,
            format!("{:.6} ± {:.1e}", r.noisy_loss, r.std_error),
            r.increase
        );
    }
    let mut units: Vec<&str> = rows.iter().map(|r| r.units).collect();
    units.dedup();
    println!("(losses: {})", units.join("; "));
    if let Some(p) = &a.plot {
        println!("wrote {}", p.display());
    }
    Ok(())
}

/// A feed-forward or a recurrent network.
#[derive(Debug)]
enum AnyNet {
    Mlp(DynMlp),
    Rnn(crate::dyn_rnn::DynRnn),
}

/// A model with its data in model units.
#[derive(Debug)]
struct Loaded {
    settings: crate::model_file::Settings,
    net: AnyNet,
    xs: Vec<Vec<f32>>,
    ts: Vec<Tgt>,
}

impl Loaded {
    fn perturbed<L: noisereg::Loss<Tgt> + Sync>(
        &self,
        loss: &L,
        cfg: &noisereg::WeightNoiseConfig,
        pairs: u32,
        seed: u64,
    ) -> Result<noisereg::NoisyLoss, noisereg::Error> {
        match &self.net {
            AnyNet::Mlp(n) => perturbed_loss(n, loss, &self.xs, &self.ts, cfg, pairs, seed),
            AnyNet::Rnn(n) => perturbed_loss(n, loss, &self.xs, &self.ts, cfg, pairs, seed),
        }
    }
}

/// One deployment perturbation of `--perturb` (its text is the label).
///
/// Syntax, comma separated: `gauss:ETA` (the command's Gaussian weight
/// perturbation at variance ETA); `quant:B` (round to nearest, B = 2..8
/// bits, one scale per row; deterministic), `dither:B` (subtractive dither),
/// `stoch:B` (stochastic rounding), each with `/layer` for one scale per
/// layer (`quant:4/layer`); `bitflip:P` (each bit of the f32 weights flips
/// with probability P; `--noise-on all` adds the biases), `bitflip8:P` (bits
/// of 8-bit per-row codes), `stuck:P` (weights stuck at zero);
/// `drift:T` (aihwkit's PCM model read T after programming, global drift
/// compensation on) and `rawdrift:T` (without), T = `30s`, `2h`, `1d`,
/// `1mo` (30 d), `1y` (365.25 d).
#[derive(Debug, Clone, PartialEq)]
pub struct PerturbSpec {
    /// The text given.
    pub label: String,
    /// What it does.
    pub kind: PerturbKind,
}

/// The perturbation a [`PerturbSpec`] names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PerturbKind {
    /// Gaussian weight noise of variance η (the command's `--noise-on`, `--multiplicative`).
    Gauss(f32),
    /// b-bit quantisation of the weights.
    Quant(QuantConfig),
    /// Bit flips in f32 storage at this rate.
    BitFlip(f32),
    /// Bit flips in 8-bit per-row codes at this rate.
    BitFlip8(f32),
    /// Weights stuck at zero at this rate.
    Stuck(f32),
    /// PCM drift at this many seconds, compensated or not.
    Drift(f32, bool),
}

fn rate(v: &str) -> Result<f32, String> {
    let p: f32 = v.parse().map_err(|_| format!("`{v}` is not a number"))?;
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("rate `{v}` must be between 0 and 1"))
    }
}

fn seconds(v: &str) -> Result<f32, String> {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f32 = num
        .parse()
        .map_err(|_| format!("time `{v}`: `{num}` is not a number"))?;
    let unit_s = match unit {
        "s" | "" => 1.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "mo" => 30.0 * 86_400.0,
        "y" => 365.25 * 86_400.0,
        _ => return Err(format!("time `{v}`: unit must be s, h, d, mo or y")),
    };
    let t = n * unit_s;
    if t.is_finite() && t >= 0.0 {
        Ok(t)
    } else {
        Err(format!("time `{v}` must be finite and >= 0"))
    }
}

/// Parses one `--perturb` item (see [`PerturbSpec`]).
///
/// # Errors
///
/// A one-line reason.
pub fn parse_perturb(s: &str) -> Result<PerturbSpec, String> {
    let s = s.trim();
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not NAME:VALUE (e.g. quant:8, bitflip:1e-4, drift:1y)"))?;
    let quant = |rounding: Rounding| -> Result<PerturbKind, String> {
        let (bits, gran) = match value.split_once('/') {
            Some((b, "layer")) => (b, Granularity::PerLayer),
            Some((b, "row")) => (b, Granularity::PerRow),
            Some(_) => return Err(format!("`{s}`: the scale is /row or /layer")),
            None => (value, Granularity::PerRow),
        };
        let bits: u8 = bits
            .parse()
            .map_err(|_| format!("`{s}`: bits must be 2 to 8"))?;
        QuantConfig::new(bits, rounding, gran)
            .map(PerturbKind::Quant)
            .map_err(|_| format!("`{s}`: bits must be 2 to 8"))
    };
    let kind = match name {
        "gauss" => {
            PerturbKind::Gauss(crate::cli::non_negative(value).map_err(|e| format!("`{s}`: {e}"))?)
        }
        "quant" => quant(Rounding::Nearest)?,
        "dither" => quant(Rounding::SubtractiveDither)?,
        "stoch" => quant(Rounding::Stochastic)?,
        "bitflip" => PerturbKind::BitFlip(rate(value).map_err(|e| format!("`{s}`: {e}"))?),
        "bitflip8" => PerturbKind::BitFlip8(rate(value).map_err(|e| format!("`{s}`: {e}"))?),
        "stuck" => PerturbKind::Stuck(rate(value).map_err(|e| format!("`{s}`: {e}"))?),
        "drift" => PerturbKind::Drift(seconds(value).map_err(|e| format!("`{s}`: {e}"))?, true),
        "rawdrift" => PerturbKind::Drift(seconds(value).map_err(|e| format!("`{s}`: {e}"))?, false),
        _ => {
            return Err(format!(
                "`{name}` is not a perturbation (gauss, quant, dither, stoch, bitflip, bitflip8, stuck, drift, rawdrift)"
            ));
        }
    };
    Ok(PerturbSpec {
        label: s.to_string(),
        kind,
    })
}

/// The generator of draw `d`: the same for every model and perturbation.
fn draw_rng(seed: u64, d: u64) -> Xoshiro128PlusPlus {
    Xoshiro128PlusPlus::seed_from_u64(seed ^ d.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `net` under draw `d` of a (non-Gaussian) perturbation.
///
/// # Errors
///
/// The core's errors (invalid rates are rejected when parsed).
pub fn perturbed_net(
    net: &DynMlp,
    kind: PerturbKind,
    on: NoiseOn,
    seed: u64,
    d: u64,
) -> Result<DynMlp, noisereg::Error> {
    let mut q = net.clone();
    let mut rng = draw_rng(seed, d);
    match kind {
        PerturbKind::Gauss(_) => {}
        PerturbKind::Quant(cfg) => quantize_weights(&mut q, &cfg, &mut rng)?,
        PerturbKind::BitFlip(p) => {
            flip_bits_f32(&mut q, p, on, &mut rng)?;
        }
        PerturbKind::BitFlip8(p) => {
            flip_bits_int8_weights(&mut q, Granularity::PerRow, p, &mut rng)?;
        }
        PerturbKind::Stuck(p) => {
            stuck_at_zero(&mut q, p, on, &mut rng)?;
        }
        PerturbKind::Drift(t, comp) => PcmDrift::new(t, comp)?.apply(&mut q, &mut rng)?,
    }
    Ok(q)
}

/// Mean and standard error of values in order (SE 0 for one value).
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (m, 0.0);
    }
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// The predicted increase of the ½ squared error under a quantiser: the
/// exact and the seed's formula with per-row `η = Δ²/12` (dither and round
/// to nearest) or `Δ² p(1 − p)` (stochastic rounding).
///
/// # Errors
///
/// The core's errors.
pub fn quant_prediction(
    net: &DynMlp,
    cfg: &QuantConfig,
    xs: &[Vec<f32>],
    ys: &[f32],
) -> Result<PredictedIncrease, noisereg::Error> {
    let mut var = net.clone();
    match cfg.rounding() {
        Rounding::Stochastic => stochastic_rounding_variance(net, cfg, &mut var)?,
        _ => dither_variance(net, cfg, &mut var)?,
    }
    let mut scratch = vec![0.0; prediction_scratch_len(net)];
    let flat: Vec<f32> = xs.iter().flatten().copied().collect();
    predicted_increase(net, &var, net.activations(), &flat, ys, &mut scratch)
}

/// One model under one `--perturb` item.
#[derive(Debug, Clone, Serialize)]
pub struct PerturbRow {
    /// Model file.
    pub model: String,
    /// The `--perturb` item.
    pub perturbation: String,
    /// Draws (1 for deterministic rounding).
    pub draws: u32,
    /// Clean loss.
    pub clean_loss: f64,
    /// Mean loss under the perturbation.
    pub perturbed_loss: f64,
    /// Mean increase over the clean loss.
    pub increase: f64,
    /// Its standard error.
    pub std_error: f64,
    /// Median increase over the draws.
    pub median_increase: f64,
    /// Fraction of draws whose loss is not finite (a flipped exponent bit
    /// can make a weight overflow); mean and SE are over the finite draws.
    pub nonfinite_fraction: f64,
    /// Predicted increase, exact second-order formula (mse models, Gaussian and quantisation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_exact: Option<f64>,
    /// Predicted increase, the seed's formula.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_seed: Option<f64>,
    /// Units of the losses.
    pub units: &'static str,
    /// Clean accuracy (ce models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_accuracy: Option<f64>,
    /// Mean accuracy under the perturbation (ce models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perturbed_accuracy: Option<f64>,
    /// Its standard error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_std_error: Option<f64>,
}

/// Evaluates one model under one perturbation: `draws` draws (seed as
/// `--seed`), the prediction where docs/theory.md §9 gives one.
///
/// # Errors
///
/// A runtime failure if the core rejects a setting; an input failure naming
/// the model if the loss overflows.
pub fn evaluate_perturbation(
    name: &str,
    md: &ModelOnData,
    spec: &PerturbSpec,
    pert: &PerturbationArgs,
    draws: u32,
    seed: u64,
) -> Outcome<PerturbRow> {
    let target = EvalTarget {
        net: &md.net,
        xs: &md.xs,
        ts: &md.ts,
        loss: loss_of(&md.model.settings),
        loss_arg: md.model.settings.loss,
    };
    evaluate_net(name, &target, spec, pert, draws, seed)
}

/// A network and the data to evaluate it on.
pub struct EvalTarget<'a> {
    /// The network.
    pub net: &'a DynMlp,
    /// Standardised inputs.
    pub xs: &'a [Vec<f32>],
    /// Targets.
    pub ts: &'a [Tgt],
    /// The loss.
    pub loss: AnyLoss,
    /// Which loss (for units and accuracy).
    pub loss_arg: LossArg,
}

/// [`evaluate_perturbation`] for a network in memory.
///
/// # Errors
///
/// As [`evaluate_perturbation`].
pub fn evaluate_net(
    name: &str,
    t: &EvalTarget,
    spec: &PerturbSpec,
    pert: &PerturbationArgs,
    draws: u32,
    seed: u64,
) -> Outcome<PerturbRow> {
    let fail = |e: noisereg::Error| Failure::runtime(format!("evaluation failed: {e}"));
    let loss = t.loss;
    let ce = t.loss_arg == LossArg::Ce;
    let on: NoiseOn = pert.noise_on.into();
    let clean = clean_loss(t.net, &loss, t.xs, t.ts).map_err(fail)?;
    let clean_err = if ce {
        Some(clean_loss(t.net, &ErrorRate, t.xs, t.ts).map_err(fail)?)
    } else {
        None
    };
    let ys: Option<Vec<f32>> =
        t.ts.iter()
            .map(|t| match t {
                Tgt::Real(y) => Some(*y),
                Tgt::Class(_) => None,
            })
            .collect();
    let ys = ys.filter(|_| !ce);
    let (n, (mean, se), median, bad, acc, pred) = match spec.kind {
        PerturbKind::Gauss(eta) => {
            let cfg = noise_config(pert, eta).map_err(fail)?;
            let pairs = (draws / 2).max(2);
            let r = perturbed_loss(t.net, &loss, t.xs, t.ts, &cfg, pairs, seed).map_err(fail)?;
            let acc = if ce {
                let e = perturbed_loss(t.net, &ErrorRate, t.xs, t.ts, &cfg, pairs, seed)
                    .map_err(fail)?;
                Some((e.mean, e.std_error))
            } else {
                None
            };
            let pred = match (&ys, pert.multiplicative) {
                (Some(ys), false) => {
                    let e = expansion(t.net, t.xs, ys, on).map_err(fail)?;
                    Some(PredictedIncrease {
                        seed: e.seed_excess(f64::from(eta)),
                        exact: e.exact_excess(f64::from(eta)),
                    })
                }
                _ => None,
            };
            (2 * pairs, (r.mean, r.std_error), r.mean, 0.0, acc, pred)
        }
        kind => {
            let n = match kind {
                PerturbKind::Quant(c) if c.rounding() == Rounding::Nearest => 1,
                _ => draws,
            };
            let values: Vec<Result<(f64, f64), noisereg::Error>> = (0..u64::from(n))
                .into_par_iter()
                .map(|d| {
                    let q = perturbed_net(t.net, kind, on, seed, d)?;
                    let l = clean_loss(&q, &loss, t.xs, t.ts)?;
                    let e = if ce {
                        clean_loss(&q, &ErrorRate, t.xs, t.ts)?
                    } else {
                        0.0
                    };
                    Ok((l, e))
                })
                .collect();
            let values = values
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            let losses: Vec<f64> = values
                .iter()
                .map(|v| v.0)
                .filter(|l| l.is_finite())
                .collect();
            let errs: Vec<f64> = values.iter().map(|v| v.1).collect();
            let bad = (values.len() - losses.len()) as f64 / values.len() as f64;
            let mut sorted: Vec<f64> = values.iter().map(|v| v.0).collect();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            let pred = match (kind, &ys) {
                (PerturbKind::Quant(cfg), Some(ys)) => {
                    Some(quant_prediction(t.net, &cfg, t.xs, ys).map_err(fail)?)
                }
                _ => None,
            };
            let stats = if losses.is_empty() {
                (f64::INFINITY, f64::NAN)
            } else {
                mean_se(&losses)
            };
            (n, stats, median, bad, ce.then(|| mean_se(&errs)), pred)
        }
    };
    if !clean.is_finite() {
        return Err(Failure::input(format!(
            "{name}: the loss at the model's own weights is {clean} on this data (its weights overflow f32 here)"
        )));
    }
    Ok(PerturbRow {
        model: name.to_string(),
        perturbation: spec.label.clone(),
        draws: n,
        clean_loss: clean,
        perturbed_loss: mean,
        increase: mean - clean,
        std_error: se,
        median_increase: median - clean,
        nonfinite_fraction: bad,
        predicted_exact: pred.map(|p| p.exact),
        predicted_seed: pred.map(|p| p.seed),
        units: loss_units(t.loss_arg),
        clean_accuracy: clean_err.map(|e| 1.0 - e),
        perturbed_accuracy: acc.map(|(e, _)| 1.0 - e),
        accuracy_std_error: acc.map(|(_, s)| s),
    })
}

#[derive(Serialize)]
struct PerturbReport<'a> {
    data: String,
    rows_used: usize,
    seed: u64,
    draws: u32,
    rows: &'a [PerturbRow],
}

/// `noisereg robustness --perturb …`: every model under every item, the
/// same draws (seeds) for every model.
fn robustness_perturb(a: &RobustnessArgs) -> Outcome {
    let mut models = Vec::new();
    for m in &a.model {
        models.push((
            m.display().to_string(),
            load_model_on_data(m, &a.csv.data, &a.csv.target)?,
        ));
    }
    let mut rows = Vec::new();
    for (name, md) in &models {
        for spec in &a.perturb {
            rows.push(evaluate_perturbation(
                name,
                md,
                spec,
                &a.perturbation,
                a.draws,
                a.seed,
            )?);
        }
    }
    if let Some(path) = &a.plot {
        let labels: Vec<String> = a
            .perturb
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}={}", i + 1, s.label))
            .collect();
        let series: Vec<Series> = models
            .iter()
            .map(|(name, _)| {
                let mine: Vec<&PerturbRow> = rows.iter().filter(|r| &r.model == name).collect();
                Series {
                    label: name.clone(),
                    points: mine
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.increase.is_finite())
                        .map(|(i, r)| ((i + 1) as f64, r.increase))
                        .collect(),
                    errors: mine
                        .iter()
                        .filter(|r| r.increase.is_finite())
                        .map(|r| r.std_error)
                        .collect(),
                }
            })
            .collect();
        line_chart(
            path,
            &format!("Loss increase: {}", labels.join(", ")),
            "perturbation",
            "loss increase",
            &series,
            false,
        )?;
    }
    let rows_used = models.first().map_or(0, |(_, md)| md.xs.len());
    if a.json {
        let report = PerturbReport {
            data: a.csv.data.display().to_string(),
            rows_used,
            seed: a.seed,
            draws: a.draws,
            rows: &rows,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "all {rows_used} rows of {}; {} draws per perturbation (pairs for gauss), seed {}; same draws for every model",
        a.csv.data.display(),
        a.draws,
        a.seed
    );
    let any_ce = rows.iter().any(|r| r.perturbed_accuracy.is_some());
    println!(
        "{:<24} {:<16} {:>10} {:>22} {:>10} {:>8} {:>12} {:>12}{}",
        "model",
        "perturbation",
        "clean loss",
        "increase ± SE",
        "median",
        "non-fin.",
        "predicted",
        "seed formula",
        if any_ce {
            "  clean acc  perturbed acc ± SE"
        } else {
            ""
        }
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.6}"));
    for r in &rows {
        let acc = match (r.clean_accuracy, r.perturbed_accuracy, r.accuracy_std_error) {
            (Some(c), Some(n), Some(se)) => format!("  {c:>9.4}  {n:.4} ± {se:.1e}"),
            _ => String::new(),
        };
        println!(
            "{:<24} {:<16} {:>10.6} {:>22} {:>10.4} {:>8.3} {:>12} {:>12}{acc}",
            r.model,
            r.perturbation,
            r.clean_loss,
            format!("{:.6} ± {:.1e}", r.increase, r.std_error),
            r.median_increase,
            r.nonfinite_fraction,
            opt(r.predicted_exact),
            opt(r.predicted_seed),
        );
    }
    let mut units: Vec<&str> = rows.iter().map(|r| r.units).collect();
    units.dedup();
    println!(
        "(losses: {}; predicted: exact second-order formula with per-row η = Δ²/12, or Δ²p(1−p) for stoch; quant:B is one draw of it)",
        units.join("; ")
    );
    if let Some(p) = &a.plot {
        println!("wrote {}", p.display());
    }
    Ok(())
}
