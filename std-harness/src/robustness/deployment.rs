//! `robustness --perturb`: every model under every deployment perturbation,
//! measured over draws and, where a formula exists, predicted.

use super::spec::{PerturbKind, PerturbSpec, perturbed_net};
use crate::cli::{LossArg, PerturbationArgs, RobustnessArgs};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::plots::{Series, line_chart};
use crate::train_cmd::loss_of;
use crate::trainer::{AnyLoss, Tgt};
use crate::verify::{
    ErrorRate, ModelOnData, expansion, load_model_on_data, loss_units, noise_config, perturbed_loss,
};
use noisereg::{
    NoiseOn, PredictedIncrease, QuantConfig, Rounding, clean_loss, dither_variance,
    predicted_increase, prediction_scratch_len, stochastic_rounding_variance,
};
use rayon::prelude::*;
use serde::Serialize;

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
pub(super) fn robustness_perturb(a: &RobustnessArgs) -> Outcome {
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
