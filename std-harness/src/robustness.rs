//! `noisereg robustness`: loss under weight perturbation for several models.

use crate::cli::RobustnessArgs;
use crate::failure::{Failure, Outcome};
use crate::plots::{Series, line_chart};
use crate::train_cmd::{loss_of, noise_on_of};
use crate::verify::{load_model_on_data, noise_config, perturbed_loss};
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
}

/// Runs `noisereg robustness`.
///
/// # Errors
///
/// Input failures for bad files.
pub fn robustness(a: &RobustnessArgs) -> Outcome {
    let mut models = Vec::new();
    for m in &a.model {
        models.push((
            m.display().to_string(),
            load_model_on_data(m, &a.csv.data, &a.csv.target)?,
        ));
    }
    let mut rows = Vec::new();
    for (name, md) in &models {
        let loss = loss_of(&md.model.settings);
        let on = noise_on_of(&md.model.settings.noise_on);
        for &eta in &a.eta {
            let fail = |e: noisereg::Error| Failure::runtime(format!("evaluation failed: {e}"));
            let cfg = noise_config(&md.model, eta, on).map_err(fail)?;
            let r = perturbed_loss(&md.net, &loss, &md.xs, &md.ts, &cfg, a.draws / 2, a.seed)
                .map_err(fail)?;
            rows.push(RobustnessRow {
                model: name.clone(),
                eta,
                clean_loss: r.clean,
                noisy_loss: r.mean,
                std_error: r.std_error,
                increase: r.excess(),
            });
        }
    }
    if let Some(path) = &a.plot {
        let series: Vec<Series> = models
            .iter()
            .map(|(name, _)| {
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
            "Loss under weight perturbation",
            "eta (variance)",
            "mean loss",
            &series,
            log,
        )?;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "{:<28} {:>10} {:>12} {:>24} {:>12}",
        "model", "eta", "clean loss", "noisy loss ± SE", "increase"
    );
    for r in &rows {
        println!(
            "{:<28} {:>10.3e} {:>12.6} {:>24} {:>12.6}",
            r.model,
            r.eta,
            r.clean_loss,
            format!("{:.6} ± {:.1e}", r.noisy_loss, r.std_error),
            r.increase
        );
    }
    if let Some(p) = &a.plot {
        println!("wrote {}", p.display());
    }
    Ok(())
}
