//! `noisereg verify`: Monte Carlo noisy cost against the seed's first-order
//! formula and the exact one (THEORY §1–§2), and the Monte Carlo estimator
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
use noisereg::{Clean, Error, Loss, NoiseKind, NoiseOn, WeightNoise, WeightNoiseConfig};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// A Monte Carlo estimate of `E_ε J(θ + ε)` with antithetic pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NoisyLoss {
    /// Clean cost `J(θ)`.
    pub clean: f64,
    /// Mean of the noisy cost.
    pub mean: f64,
    /// Standard error of the mean (from the pair means).
    pub std_error: f64,
    /// Antithetic pairs.
    pub pairs: u32,
}

impl NoisyLoss {
    /// `E J(θ + ε) − J(θ)`.
    pub fn excess(&self) -> f64 {
        self.mean - self.clean
    }
}

/// Mean loss at the clean weights, in `f64`.
fn clean_cost(net: &DynMlp, loss: &AnyLoss, xs: &[Vec<f32>], ts: &[Tgt]) -> Result<f64, Error> {
    crate::trainer::clean_loss(net, loss, xs, ts)
}

/// The core's `perturbed_loss` for a [`DynMlp`], in parallel over pairs:
/// additive and multiplicative noise perturb the whole network once per draw
/// (`WeightNoise::perturb_parameters`), local reparameterisation draws per
/// sample (draw `p·n + i`).
///
/// # Errors
///
/// [`Error::InvalidParameter`] for fewer than 2 pairs or no data; the loss's errors.
pub fn perturbed_loss(
    net: &DynMlp,
    loss: &AnyLoss,
    xs: &[Vec<f32>],
    ts: &[Tgt],
    cfg: &WeightNoiseConfig,
    pairs: u32,
    seed: u64,
) -> Result<NoisyLoss, Error> {
    if pairs < 2 || xs.is_empty() {
        return Err(Error::InvalidParameter {
            name: "pairs",
            requirement: ">= 2, with data",
        });
    }
    let clean = clean_cost(net, loss, xs, ts)?;
    let n = xs.len() as f64;
    let per_sample = cfg.kind() == NoiseKind::LocalReparam;
    let values: Vec<Result<f64, Error>> = (0..u64::from(pairs))
        .into_par_iter()
        .map_init(
            || {
                let mut noise = WeightNoise::new(cfg, seed);
                noise.set_eta(cfg.etas());
                (
                    noise,
                    net.clone(),
                    net.new_cache(),
                    vec![0.0f32; net.outputs()],
                )
            },
            |(noise, noisy, cache, y), p| {
                let mut pair = 0.0f64;
                for negated in [false, true] {
                    noise.set_negated(negated);
                    let mut total = 0.0f64;
                    if per_sample {
                        for (i, (x, t)) in xs.iter().zip(ts).enumerate() {
                            noise.set_draw_index(
                                p.wrapping_mul(xs.len() as u64).wrapping_add(i as u64),
                            );
                            net.forward_with(x, noise, cache, y)?;
                            total += f64::from(loss.value(y, t)?);
                        }
                    } else {
                        noise.set_draw_index(p);
                        noise.perturb_parameters(net, noisy);
                        for (x, t) in xs.iter().zip(ts) {
                            noisy.forward(x, y)?;
                            total += f64::from(loss.value(y, t)?);
                        }
                    }
                    pair += 0.5 * total / n;
                }
                Ok(pair)
            },
        )
        .collect();
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    for v in values {
        let v = v?;
        sum += v;
        sum_sq += v * v;
    }
    let m = f64::from(pairs);
    let mean = sum / m;
    let var = ((sum_sq - m * mean * mean) / (m - 1.0)).max(0.0);
    Ok(NoisyLoss {
        clean,
        mean,
        std_error: (var / m).sqrt(),
        pairs,
    })
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
/// noise on `on` (the core's `noisy_cost_expansion`, with η factored out).
///
/// # Errors
///
/// Length mismatches.
pub fn expansion(
    net: &DynMlp,
    xs: &[Vec<f32>],
    ys: &[f32],
    on: NoiseOn,
) -> Result<Expansion, Error> {
    let ones = vec![1.0f32; net.depth()];
    let mut cache = net.new_cache();
    let (mut y, mut tr) = (vec![0.0f32; net.outputs()], vec![0.0f32; net.outputs()]);
    let (mut j, mut pen, mut trace, mut curv) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (x, &t) in xs.iter().zip(ys) {
        net.forward_with(x, &mut Clean, &mut cache, &mut y)?;
        j += f64::from(noisereg::HalfSquaredError.value(&y, &[t][..])?);
        pen += f64::from(net.penalty(x, &ones, on, &mut cache)?);
        net.hessian_trace(x, &ones, on, &mut cache, &mut tr)?;
        for (&yk, &trk) in y.iter().zip(&tr) {
            trace += f64::from(trk);
            curv += (f64::from(t) - f64::from(yk)) * f64::from(trk);
        }
    }
    let n = xs.len().max(1) as f64;
    Ok(Expansion {
        clean: j / n,
        grad_sq: pen / n,
        trace: trace / n,
        residual_trace: curv / n,
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
    let md = load_model_on_data(&a.model, &a.data, &a.target)?;
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
    let clean = crate::trainer::clean_loss(&md.net, &loss, &md.xs, &md.ts).map_err(fail)?;
    if a.json {
        let v = serde_json::json!({
            "model": a.model.display().to_string(),
            "data": a.data.display().to_string(),
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
        a.data.display(),
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
