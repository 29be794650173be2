//! `noisereg robustness`: loss under weight perturbation for several models,
//! all perturbed the same way (the command's own `--noise-on` and
//! `--multiplicative`, not the noise each model was trained with), or under
//! the deployment perturbations of `--perturb` (quantisation, bit flips,
//! stuck-at-zero, PCM drift; see [`PerturbSpec`]) with the predicted loss
//! increase where docs/theory.md §9 gives one.

use crate::atomic_write::{NamedPath, check_outputs};
use crate::cli::{LossArg, RobustnessArgs};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::plots::{Series, line_chart};
use crate::train_cmd::loss_of;
use crate::trainer::Tgt;
use crate::verify::{
    ErrorRate, Perturbation, finite_result, load_model_on_data, loss_units, noise_config,
    perturbed_loss,
};
use serde::Serialize;

mod deployment;
mod spec;

use deployment::robustness_perturb;
pub use deployment::{
    EvalTarget, PerturbRow, evaluate_net, evaluate_perturbation, quant_prediction,
};
pub use spec::{PerturbKind, PerturbSpec, parse_perturb, perturbed_net};

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
