//! `noisereg verify`: Monte Carlo noisy cost against the seed's first-order
//! formula and the exact one (`docs/theory.md` §1–§2), and the Monte Carlo estimator
//! that `robustness` and the demo share.
//!
//! Monte Carlo runs in parallel over antithetic pairs with rayon; pair `p`
//! always uses draw `p` of the noise seed and the pair means are summed in
//! pair order, so results do not depend on the number of threads.

use crate::cli::{LossArg, NoiseOnArg, PerturbationArgs, VerifyArgs};
use crate::dataset::{TargetKind, load_csv};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::model_file::ModelFile;
use crate::train_cmd::{loss_of, targets};
use crate::trainer::{AnyLoss, Tgt};
use noisereg::{
    AntitheticPairs, Error, Loss, LossCostExpansion, Model, NoiseKind, NoiseOn, NoisyLoss,
    WeightNoiseConfig, clean_loss, loss_cost_expansion, noisy_cost_expansion,
};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// The core's `perturbed_loss` for a [`DynMlp`], in parallel over pairs
/// (the core's [`AntitheticPairs`]): pair `p` always uses draw `p` and the
/// pair means are combined in pair order, so the result is the core's,
/// bit for bit, whatever the number of threads.
///
/// # Errors
///
/// As the core's `perturbed_loss`.
pub fn perturbed_loss<N: Model<Vec<f32>, Vec<f32>> + Sync, L: Loss<Tgt> + Sync>(
    net: &N,
    loss: &L,
    xs: &[Vec<f32>],
    ts: &[Tgt],
    cfg: &WeightNoiseConfig,
    pairs: u32,
    seed: u64,
) -> Result<NoisyLoss, Error> {
    let clean = clean_loss(net, loss, xs, ts)?;
    AntitheticPairs::new(net, loss, xs, ts, cfg, seed)?;
    let values: Vec<Result<f64, Error>> = (0..u64::from(pairs))
        .into_par_iter()
        .map_init(
            || AntitheticPairs::new(net, loss, xs, ts, cfg, seed),
            |pairs, p| pairs.as_mut().map_err(|e| *e)?.pair_mean(p),
        )
        .collect();
    let means = values.into_iter().collect::<Result<Vec<f64>, Error>>()?;
    NoisyLoss::from_pair_means(clean, means)
}

/// Data means behind the second-order formulas (η = 1 on every layer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Expansion {
    /// `J(θ)` (½ squared error).
    pub clean: f64,
    /// `E Σ_k ‖∇_θ f_k‖²` over the noisy parameters.
    pub grad_sq: f64,
    /// `E Σ_k tr ∇²_θ f_k`.
    pub trace: f64,
    /// `E Σ_k (y_k − f_k) tr ∇²_θ f_k`.
    pub residual_trace: f64,
}

impl Expansion {
    /// The seed's excess cost `(η/2) E‖∇f‖²`.
    pub fn seed_excess(&self, eta: f64) -> f64 {
        0.5 * eta * self.grad_sq
    }

    /// The exact first-order excess `(η/2) E[‖∇f‖² − (y − f) tr ∇²f]`.
    pub fn exact_excess(&self, eta: f64) -> f64 {
        0.5 * eta * (self.grad_sq - self.residual_trace)
    }
}

/// The means of the noisy-cost expansion for the ½-squared-error loss with
/// noise on `on`: the core's `noisy_cost_expansion` at η = 1 (η factored out).
///
/// # Errors
///
/// As the core's `noisy_cost_expansion`.
pub fn expansion<N: Model<Vec<f32>, Vec<f32>>>(
    net: &N,
    xs: &[Vec<f32>],
    ys: &[f32],
    on: NoiseOn,
) -> Result<Expansion, Error> {
    let ys: Vec<Vec<f32>> = ys.iter().map(|&y| vec![y]).collect();
    let ones = WeightNoiseConfig::new(NoiseKind::Additive, 1.0)?.with_noise_on(on);
    let e = noisy_cost_expansion(net, xs, &ys, &ones)?;
    Ok(Expansion {
        clean: e.clean,
        grad_sq: e.grad_sq,
        trace: e.trace,
        residual_trace: e.residual_trace,
    })
}

/// The first-order noisy cost of the run's own loss (docs/theory.md §11) at
/// η = 1 on every layer (η factored out): the squared-error form, the
/// loss-correct Gauss–Newton term and the curvature term.
///
/// # Errors
///
/// As the core's `loss_cost_expansion`.
pub fn loss_expansion<N: Model<Vec<f32>, Vec<f32>>>(
    net: &N,
    loss: &AnyLoss,
    xs: &[Vec<f32>],
    ts: &[Tgt],
    on: NoiseOn,
) -> Result<LossCostExpansion, Error> {
    let ones = WeightNoiseConfig::new(NoiseKind::Additive, 1.0)?.with_noise_on(on);
    loss_cost_expansion(net, loss, xs, ts, &ones)
}

/// The classification error `1[argmax y ≠ t]` as a loss, so that the loss
/// machinery (clean and under perturbation, with standard errors) gives
/// accuracy as `1 − value`. NaN outputs count as errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorRate;

impl Loss<Tgt> for ErrorRate {
    fn value_grad(&self, y: &[f32], t: &Tgt, dy: &mut [f32]) -> Result<f32, Error> {
        dy.fill(0.0);
        self.value(y, t)
    }

    fn value(&self, y: &[f32], t: &Tgt) -> Result<f32, Error> {
        let Tgt::Class(c) = *t else {
            return Err(Error::InvalidParameter {
                name: "target",
                requirement: "a class label for accuracy",
            });
        };
        let mut best: Option<(usize, f32)> = None;
        for (i, &v) in y.iter().enumerate() {
            if !v.is_nan() && best.is_none_or(|(_, b)| v > b) {
                best = Some((i, v));
            }
        }
        Ok(if best.map(|(i, _)| i) == Some(c) {
            0.0
        } else {
            1.0
        })
    }
}

/// Accuracy of a classifier on `xs`, `ts`.
///
/// # Errors
///
/// As the core's `clean_loss`.
pub fn accuracy<N: Model<Vec<f32>, Vec<f32>>>(
    net: &N,
    xs: &[Vec<f32>],
    ts: &[Tgt],
) -> Result<f64, Error> {
    clean_loss(net, &ErrorRate, xs, ts).map(|e| 1.0 - e)
}

/// A model with data standardised its way.
#[derive(Debug)]
pub struct ModelOnData {
    /// The model file.
    pub model: ModelFile,
    /// Its network.
    pub net: DynMlp,
    /// Standardised inputs, columns in the model's order.
    pub xs: Vec<Vec<f32>>,
    /// Targets in model units.
    pub ts: Vec<Tgt>,
}

/// `names` as "`a`, `b`".
fn quoted(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads a model and a CSV file and checks that they fit each other: the
/// target by name, the feature columns by name (in any order).
///
/// # Errors
///
/// Input failures naming the file for bad models, bad data, a different
/// target or missing or extra columns.
pub fn load_model_on_data(model: &Path, data: &Path, target: &str) -> Outcome<ModelOnData> {
    let (m, net) = ModelFile::load(model)?;
    if m.target != target {
        return Err(Failure::input(format!(
            "--target `{target}`, but {} was trained to predict `{}`",
            model.display(),
            m.target
        )));
    }
    let kind = match m.settings.loss {
        LossArg::Ce => TargetKind::Class,
        LossArg::Mse => TargetKind::Real,
    };
    let d = load_csv(data, target, kind)?;
    let missing: Vec<&String> = m
        .features
        .iter()
        .filter(|f| !d.features.contains(f))
        .collect();
    let extra: Vec<&String> = d
        .features
        .iter()
        .filter(|f| !m.features.contains(f))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("missing {}", quoted(&missing)));
        }
        if !extra.is_empty() {
            why.push(format!("extra {}", quoted(&extra)));
        }
        let head = if d.features.len() == m.features.len() {
            format!(
                "the feature columns besides `{target}` are not the model {}'s",
                model.display()
            )
        } else {
            format!(
                "{} feature columns besides `{target}`, but the model {} takes {} inputs",
                d.features.len(),
                model.display(),
                m.features.len()
            )
        };
        return Err(Failure::input(format!(
            "{}:1: {head} ({}): {}",
            data.display(),
            m.features.join(", "),
            why.join("; ")
        )));
    }
    let order: Vec<usize> = m
        .features
        .iter()
        .filter_map(|f| d.features.iter().position(|g| g == f))
        .collect();
    if let Some(k) = m.classes
        && let Some(bad) = d.y.iter().find(|&&v| v as usize >= k)
    {
        return Err(Failure::input(format!(
            "{}: class label {bad} in `{target}` is not below the model's {k} classes",
            data.display()
        )));
    }
    let xs =
        d.x.iter()
            .map(|r| {
                let row: Vec<f32> = order.iter().map(|&j| r[j]).collect();
                m.feature_scaling.apply(&row)
            })
            .collect();
    let ts = targets(&d, m.target_scaling.as_ref());
    Ok(ModelOnData {
        model: m,
        net,
        xs,
        ts,
    })
}

/// The perturbation a command applies, and how it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Perturbation {
    /// `additive` (w + ε) or `multiplicative` (w(1 + ε)).
    pub kind: &'static str,
    /// `weights` or `weights and biases`.
    pub on: &'static str,
}

impl Perturbation {
    /// From the command's flags.
    pub fn of(a: &PerturbationArgs) -> Self {
        Self {
            kind: if a.multiplicative {
                "multiplicative"
            } else {
                "additive"
            },
            on: match a.noise_on {
                NoiseOnArg::Weights => "weights",
                NoiseOnArg::All => "weights and biases",
            },
        }
    }

    /// One line for the text output.
    pub fn describe(&self) -> String {
        let form = if self.kind == "additive" {
            "w + ε"
        } else {
            "w(1 + ε)"
        };
        format!(
            "{} perturbation {form}, ε ~ N(0, η), on the {}",
            self.kind, self.on
        )
    }
}

/// The noise configuration of the command's perturbation at variance `eta`.
///
/// # Errors
///
/// As `WeightNoiseConfig::new`.
pub fn noise_config(a: &PerturbationArgs, eta: f32) -> Result<WeightNoiseConfig, Error> {
    let kind = if a.multiplicative {
        NoiseKind::Multiplicative
    } else {
        NoiseKind::Additive
    };
    Ok(WeightNoiseConfig::new(kind, eta)?.with_noise_on(a.noise_on.into()))
}

/// `r` if its mean and standard error are finite; otherwise an input
/// failure naming the η and the model (the perturbation overflowed f32).
///
/// # Errors
///
/// As described.
pub fn finite_result(r: NoisyLoss, eta: f32, model: &Path, data: &Path) -> Outcome<NoisyLoss> {
    if !r.clean.is_finite() {
        return Err(Failure::input(format!(
            "{}: the loss of {} at its own weights is {} on this data (a value of the data or a weight makes it overflow f32)",
            data.display(),
            model.display(),
            r.clean
        )));
    }
    if r.mean.is_finite() && r.std_error.is_finite() {
        Ok(r)
    } else {
        Err(Failure::input(format!(
            "--eta {eta:e}: the loss of {} under this perturbation is {} (overflows f32); use a smaller --eta",
            model.display(),
            r.mean
        )))
    }
}

/// The units of a model's loss.
pub fn loss_units(loss: LossArg) -> &'static str {
    match loss {
        LossArg::Mse => "½ squared error of the standardised target",
        LossArg::Ce => "cross-entropy in nats",
    }
}

/// One η's row of the verify table.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyRow {
    /// η.
    pub eta: f32,
    /// Monte Carlo excess `E J(θ+ε) − J(θ)`.
    pub mc_excess: f64,
    /// Its standard error.
    pub mc_std_error: f64,
    /// The seed's formula `(η/2) E‖∇f‖²` (over the perturbed parameters),
    /// the squared-error form whatever the loss.
    pub seed_formula: Option<f64>,
    /// The loss-correct first-order term `(η/2) E tr(J_fᵀ H_ℓ J_f)`
    /// (Gauss–Newton; the seed's formula for ½ squared error).
    pub gauss_newton: Option<f64>,
    /// The exact first-order formula.
    pub exact_formula: Option<f64>,
    /// Mean accuracy under the perturbation (ce models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Its standard error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_std_error: Option<f64>,
}

/// Runs `noisereg verify`.
///
/// # Errors
///
/// Input failures for bad files.
pub fn verify(a: &VerifyArgs) -> Outcome {
    if crate::model_file::format_of(&a.model).as_deref()
        == Some(crate::model_file::RNN_MODEL_FORMAT)
    {
        let r = load_rnn_on_data(&a.model, &a.csv.data, &a.csv.target)?;
        let used = format!(
            "the {} test windows (the last {} rows, as in training)",
            r.xs.len(),
            r.test_rows
        );
        return verify_on(a, &r.net, &r.model.settings, &r.xs, &r.ts, &used);
    }
    let md = load_model_on_data(&a.model, &a.csv.data, &a.csv.target)?;
    verify_on(a, &md.net, &md.model.settings, &md.xs, &md.ts, ALL_ROWS)
}

/// A recurrent model with the test windows of a series, transformed with
/// the model's own statistics.
#[derive(Debug)]
pub struct RnnOnData {
    /// The model file.
    pub model: crate::model_file::RnnModelFile,
    /// Its network.
    pub net: crate::dyn_rnn::DynRnn,
    /// Test windows.
    pub xs: Vec<Vec<f32>>,
    /// Their targets in model units.
    pub ts: Vec<Tgt>,
    /// Rows in the test part.
    pub test_rows: usize,
}

/// Loads a recurrent model and the series it was trained on; returns the
/// test part's windows (the last `test_fraction` of the rows, split and
/// transformed as in training).
///
/// # Errors
///
/// Input failures naming the file for bad models or data, a different
/// target, missing channels, or a series with no test windows.
pub fn load_rnn_on_data(model: &Path, data: &Path, target: &str) -> Outcome<RnnOnData> {
    let (m, net) = crate::model_file::RnnModelFile::load(model)?;
    if m.target != target.trim() {
        return Err(Failure::input(format!(
            "--target `{target}`, but {} was trained to predict `{}`",
            model.display(),
            m.target
        )));
    }
    let d = crate::series::load_series(data, &m.target, &m.channels[1..])?;
    let spec = crate::series::WindowSpec {
        seq_len: m.recurrent.seq_len,
        horizon: m.recurrent.horizon,
    };
    let p = crate::series::window_series(&d, spec, m.scaling.clone(), m.settings.test_fraction)?;
    if p.test.is_empty() {
        return Err(Failure::input(format!(
            "{}: the model was trained with --test-fraction 0, so there are no test windows to evaluate",
            model.display()
        )));
    }
    let (xs, ts) = crate::train_cmd::window_data(&p.test);
    Ok(RnnOnData {
        model: m,
        net,
        xs,
        ts,
        test_rows: p.rows - p.split,
    })
}

/// What `verify` of a feed-forward model uses.
const ALL_ROWS: &str = "all rows of --data";

/// `verify` on a loaded network and its data (`used`: which rows, for the
/// report).
fn verify_on<N: Model<Vec<f32>, Vec<f32>> + Sync>(
    a: &VerifyArgs,
    net: &N,
    settings: &crate::model_file::Settings,
    xs: &[Vec<f32>],
    ts: &[Tgt],
    used: &str,
) -> Outcome {
    let on: NoiseOn = a.perturbation.noise_on.into();
    let pert = Perturbation::of(&a.perturbation);
    let loss = loss_of(settings);
    let ce = settings.loss == LossArg::Ce;
    let additive = !a.perturbation.multiplicative;
    let fail = |e: Error| Failure::runtime(format!("evaluation failed: {e}"));
    let ys: Vec<f32> = ts
        .iter()
        .map(|t| if let Tgt::Real(v) = t { *v } else { 0.0 })
        .collect();
    let exp = if loss == AnyLoss::Mse {
        Some(expansion(net, xs, &ys, on).map_err(fail)?)
    } else {
        None
    };
    let lexp = loss_expansion(net, &loss, xs, ts, on).map_err(fail)?;
    let pairs = a.draws / 2;
    let mut rows = Vec::new();
    for &eta in &a.eta {
        let cfg = noise_config(&a.perturbation, eta).map_err(fail)?;
        let r = perturbed_loss(net, &loss, xs, ts, &cfg, pairs, a.seed).map_err(fail)?;
        let r = finite_result(r, eta, &a.model, &a.csv.data)?;
        let acc = if ce {
            Some(perturbed_loss(net, &ErrorRate, xs, ts, &cfg, pairs, a.seed).map_err(fail)?)
        } else {
            None
        };
        let formulas = Some(lexp).filter(|_| additive);
        let half_eta = 0.5 * f64::from(eta);
        rows.push(VerifyRow {
            eta,
            mc_excess: r.excess(),
            mc_std_error: r.std_error,
            seed_formula: formulas.map(|e| half_eta * e.squared_error_form),
            gauss_newton: formulas.map(|e| half_eta * e.gauss_newton),
            exact_formula: formulas.map(|e| half_eta * (e.gauss_newton + e.curvature)),
            accuracy: acc.map(|r| 1.0 - r.mean),
            accuracy_std_error: acc.map(|r| r.std_error),
        });
    }
    let clean = clean_loss(net, &loss, xs, ts).map_err(fail)?;
    let clean_accuracy = if ce {
        Some(accuracy(net, xs, ts).map_err(fail)?)
    } else {
        None
    };
    let norm = if on == NoiseOn::Weights {
        "‖∇_W f‖²"
    } else {
        "‖∇_(W,b) f‖²"
    };
    let units = loss_units(settings.loss);
    if a.json {
        let v = serde_json::json!({
            "model": a.model.display().to_string(),
            "data": a.csv.data.display().to_string(),
            "rows_used": xs.len(),
            "rows_used_are": used,
            "units": units,
            "perturbation": pert,
            "clean_loss": clean,
            "clean_accuracy": clean_accuracy,
            "grad_sq_over": pert.on,
            "mean_grad_sq": lexp.squared_error_form,
            "mean_gauss_newton": lexp.gauss_newton,
            "mean_curvature": lexp.curvature,
            "mean_trace": exp.map(|e| e.trace),
            "pairs": pairs,
            "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!(
        "model {} on {} of {}; {}; {pairs} antithetic pairs",
        a.model.display(),
        if used == ALL_ROWS {
            format!("all {} rows", xs.len())
        } else {
            used.to_string()
        },
        a.csv.data.display(),
        pert.describe(),
    );
    println!("clean loss J = {clean:.6} ({units})");
    if let Some(acc) = clean_accuracy {
        println!("clean accuracy = {acc:.4}");
    }
    if let Some(e) = exp {
        println!(
            "mean {norm} = {:.6}   mean tr ∇²f = {:.6}",
            e.grad_sq, e.trace
        );
    } else {
        println!(
            "mean {norm} = {:.6}   mean tr(J_fᵀ H_ℓ J_f) = {:.6}   mean Σ_k ∂ℓ/∂f_k tr ∇²f_k = {:.6}",
            lexp.squared_error_form, lexp.gauss_newton, lexp.curvature
        );
    }
    println!(
        "{:>10}  {:>24}  {:>16}  {:>16}  {:>14}{}",
        "eta",
        "MC excess ± SE",
        format!("seed (η/2)E{norm}"),
        "(η/2)E tr(JᵀHJ)",
        "exact formula",
        if ce { "  accuracy ± SE" } else { "" }
    );
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.6e}"));
    for r in &rows {
        let acc = match (r.accuracy, r.accuracy_std_error) {
            (Some(a), Some(se)) => format!("  {a:.4} ± {se:.1e}"),
            _ => String::new(),
        };
        println!(
            "{:>10.3e}  {:>24}  {:>16}  {:>16}  {:>14}{acc}",
            r.eta,
            format!("{:.6e} ± {:.1e}", r.mc_excess, r.mc_std_error),
            opt(r.seed_formula),
            opt(r.gauss_newton),
            opt(r.exact_formula)
        );
    }
    if !additive {
        println!("(the formulas are for additive noise)");
    } else if ce {
        println!(
            "(seed: the squared-error form, right only for ½ squared error; (η/2)E tr(JᵀHJ): the loss-correct penalty --penalty trains on; exact: plus the curvature term, docs/theory.md §11)"
        );
    }
    Ok(())
}
