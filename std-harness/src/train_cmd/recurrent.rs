//! `train --arch elman|gru`: windows of a series, the same epoch loop, the
//! recurrent model file.

use super::{epoch_seed, metrics_path, settings_of};
use crate::atomic_write::{NamedPath, check_outputs, json_bytes, resolve, write_all_atomic};
use crate::checkpoint::EpochMetrics;
use crate::cli::{EstimatorArg, LossArg, TrainArgs};
use crate::dataset::permutation;
use crate::failure::{Failure, Outcome};
use crate::model_file::Settings;
use crate::trainer::{AnyLoss, Tgt};
use noisereg::clean_loss;
use serde::Serialize;

/// Checks the recurrent flags against `--arch`; exits with a usage error.
pub(super) fn check_recurrent(a: &TrainArgs) {
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
pub(super) fn train_recurrent(a: &TrainArgs) -> Outcome {
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
