//! The `train` command of a feed-forward model: prepare, run, write the
//! model, metrics and summary.

use super::recurrent::{check_recurrent, train_recurrent};
use super::settings::check_settings;
use super::{RunPlan, metrics_path, model_file, prepare_with_max_classes, run, settings_of};
use crate::atomic_write::{NamedPath, check_outputs, json_bytes, resolve, write_all_atomic};
use crate::checkpoint::{Checkpoint, EpochMetrics, RunShape};
use crate::cli::{LossArg, TrainArgs};
use crate::dataset::{TargetKind, load_csv};
use crate::failure::{Failure, Outcome};
use crate::trainer::Tgt;
use serde::Serialize;
use std::io::IsTerminal;

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
