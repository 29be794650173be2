//! `noisereg verify`: Monte Carlo noisy cost against the seed's first-order
//! formula and the exact one (`docs/theory.md` §1–§2), and the Monte Carlo estimator
//! that `robustness` and the demo share.
//!
//! Monte Carlo runs in parallel over antithetic pairs with rayon; pair `p`
//! always uses draw `p` of the noise seed and the pair means are summed in
//! pair order, so results do not depend on the number of threads.

use crate::cli::{NoiseOnArg, VerifyArgs};
use crate::dataset::{TargetKind, load_csv};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::model_file::ModelFile;
use crate::train_cmd::{loss_of, noise_kind_of, noise_on_of, targets};
use crate::trainer::{AnyLoss, Tgt};
use noisereg::{
    AntitheticPairs, Error, NoiseKind, NoiseOn, NoisyLoss, WeightNoiseConfig, clean_loss,
    noisy_cost_expansion,
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
pub fn perturbed_loss(
    net: &DynMlp,
    loss: &AnyLoss,
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
pub fn expansion(
    net: &DynMlp,
    xs: &[Vec<f32>],
    ys: &[f32],
    on: NoiseOn,
) -> Result<Expansion, Error> {
    let ys: Vec<Vec<f32>> = ys.iter().map(|&y| vec![y]).collect();
    let ones = WeightNoiseConfig::new(NoiseKind::Additive, 1.0)?.on(on);
    let e = noisy_cost_expansion(net, xs, &ys, &ones)?;
    Ok(Expansion {
        clean: e.clean,
        grad_sq: e.grad_sq,
        trace: e.trace,
        residual_trace: e.residual_trace,
    })
}

/// A model with data standardised its way.
#[derive(Debug)]
pub struct ModelOnData {
    /// The model file.
    pub model: ModelFile,
    /// Its network.
    pub net: DynMlp,
    /// Standardised inputs.
    pub xs: Vec<Vec<f32>>,
    /// Targets in model units.
    pub ts: Vec<Tgt>,
}

/// Loads a model and a CSV file and checks that they fit each other.
///
/// # Errors
///
/// Input failures naming the file for bad models, bad data or a width mismatch.
pub fn load_model_on_data(model: &Path, data: &Path, target: &str) -> Outcome<ModelOnData> {
    let m = ModelFile::load(model)?;
    let net = m.network().map_err(Failure::input)?;
    let kind = if m.settings.loss == "ce" {
        TargetKind::Class
    } else {
        TargetKind::Real
    };
    let d = load_csv(data, target, kind)?;
    if d.features.len() != net.inputs() {
        return Err(Failure::input(format!(
            "{}:1: {} feature columns besides `{target}`, but the model {} takes {} inputs ({})",
            data.display(),
            d.features.len(),
            model.display(),
            net.inputs(),
            m.features.join(", ")
        )));
    }
    if let Some(k) = m.classes
        && let Some(bad) = d.y.iter().find(|&&v| v as usize >= k)
    {
        return Err(Failure::input(format!(
            "{}: class label {bad} in `{target}` is not below the model's {k} classes",
            data.display()
        )));
    }
    let xs = d.x.iter().map(|r| m.feature_scaling.apply(r)).collect();
    let ts = targets(&d, m.target_scaling.as_ref());
    Ok(ModelOnData {
        model: m,
        net,
        xs,
        ts,
    })
}

/// The noise configuration for a model at variance `eta`.
///
/// # Errors
///
/// As `WeightNoiseConfig::new`.
pub fn noise_config(m: &ModelFile, eta: f32, on: NoiseOn) -> Result<WeightNoiseConfig, Error> {
    Ok(WeightNoiseConfig::new(noise_kind_of(&m.settings.noise_kind), eta)?.on(on))
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
    /// The seed's formula `(η/2) E‖∇_W f‖²`.
    pub seed_formula: Option<f64>,
    /// The exact first-order formula.
    pub exact_formula: Option<f64>,
}

/// Runs `noisereg verify`.
///
/// # Errors
///
/// Input failures for bad files.
pub fn verify(a: &VerifyArgs) -> Outcome {
    let md = load_model_on_data(&a.model, &a.csv.data, &a.csv.target)?;
    let on = match a.noise_on {
        Some(NoiseOnArg::All) => NoiseOn::WeightsAndBiases,
        Some(NoiseOnArg::Weights) => NoiseOn::Weights,
        None => noise_on_of(&md.model.settings.noise_on),
    };
    let loss = loss_of(&md.model.settings);
    let additive = noise_kind_of(&md.model.settings.noise_kind) != NoiseKind::Multiplicative;
    let fail = |e: Error| Failure::runtime(format!("evaluation failed: {e}"));
    let ys: Vec<f32> = md
        .ts
        .iter()
        .map(|t| if let Tgt::Real(v) = t { *v } else { 0.0 })
        .collect();
    let exp = if loss == AnyLoss::Mse {
        Some(expansion(&md.net, &md.xs, &ys, on).map_err(fail)?)
    } else {
        None
    };
    let mut rows = Vec::new();
    for &eta in &a.eta {
        let cfg = noise_config(&md.model, eta, on).map_err(fail)?;
        let r = perturbed_loss(&md.net, &loss, &md.xs, &md.ts, &cfg, a.draws / 2, a.seed)
            .map_err(fail)?;
        let formulas = exp.filter(|_| additive);
        rows.push(VerifyRow {
            eta,
            mc_excess: r.excess(),
            mc_std_error: r.std_error,
            seed_formula: formulas.map(|e| e.seed_excess(f64::from(eta))),
            exact_formula: formulas.map(|e| e.exact_excess(f64::from(eta))),
        });
    }
    let clean = clean_loss(&md.net, &loss, &md.xs, &md.ts).map_err(fail)?;
    if a.json {
        let v = serde_json::json!({
            "model": a.model.display().to_string(),
            "data": a.csv.data.display().to_string(),
            "noise_on": if on == NoiseOn::Weights { "weights" } else { "all" },
            "noise_kind": md.model.settings.noise_kind,
            "clean_loss": clean,
            "mean_grad_sq": exp.map(|e| e.grad_sq),
            "mean_trace": exp.map(|e| e.trace),
            "pairs": a.draws / 2,
            "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!(
        "model {} on {} ({} rows), noise on {}, {} antithetic pairs",
        a.model.display(),
        a.csv.data.display(),
        md.xs.len(),
        if on == NoiseOn::Weights {
            "weights"
        } else {
            "weights and biases"
        },
        a.draws / 2
    );
    println!("clean loss J = {clean:.6}");
    if let Some(e) = exp {
        println!(
            "mean ‖∇_W f‖² = {:.6}   mean tr ∇²f = {:.6}",
            e.grad_sq, e.trace
        );
    }
    println!(
        "{:>10}  {:>24}  {:>14}  {:>14}",
        "eta", "MC excess ± SE", "seed (η/2)E‖∇f‖²", "exact formula"
    );
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.6e}"));
    for r in &rows {
        println!(
            "{:>10.3e}  {:>24}  {:>16}  {:>14}",
            r.eta,
            format!("{:.6e} ± {:.1e}", r.mc_excess, r.mc_std_error),
            opt(r.seed_formula),
            opt(r.exact_formula)
        );
    }
    if exp.is_none() || !additive {
        println!("(the formulas are for additive noise and the ½ squared error)");
    }
    Ok(())
}
