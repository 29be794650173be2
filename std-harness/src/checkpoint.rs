//! Checkpoints: everything a training run needs to continue bit for bit —
//! weights, optimiser state, noise positions, data position and metrics so
//! far — with a CRC-32 of the content. Loading checks the checksum and every
//! field against the run's settings, and names the file and the field.

use crate::atomic_write::write_json;
use crate::cli::OptimizerArg;
use crate::failure::Outcome;
use crate::model_file::{Settings, field_error, read_json};
use crate::optim::{Bits, OptSnapshot};
use crate::trainer::NoiseCounters;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format tag of checkpoint files (2: with `checksum`).
pub const CHECKPOINT_FORMAT: &str = "noisereg-checkpoint-2";

/// One epoch's losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochMetrics {
    /// Epoch number from 1.
    pub epoch: usize,
    /// Mean loss of the training steps (with the noise, without the penalty).
    pub train_objective: f64,
    /// Clean loss on the training set after the epoch.
    pub train_loss: f64,
    /// Clean loss on the test set after the epoch (none without a test set).
    pub test_loss: Option<f64>,
}

/// A training run's state between two steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// CRC-32 (hex) of the checkpoint's JSON with this field empty (missing
    /// in format 1, which is then refused by its format).
    #[serde(default)]
    pub checksum: String,
    /// The run's settings (a resumed run must have the same).
    pub settings: Settings,
    /// Hash of the data the run trains on.
    pub data_hash: String,
    /// Optimiser steps taken.
    pub step: u64,
    /// Current epoch (from 0).
    pub epoch: usize,
    /// Mini-batches of the current epoch already taken.
    pub batch: usize,
    /// Sum of the step losses of the current epoch, as `f64` bits.
    pub epoch_loss_sum_bits: u64,
    /// Weights as `f32` bits.
    pub weights: Bits,
    /// Optimiser state.
    pub optimizer: OptSnapshot,
    /// Noise positions.
    pub noise: NoiseCounters,
    /// Metrics of the finished epochs.
    pub metrics: Vec<EpochMetrics>,
}

/// What a checkpoint must agree with: the run resuming from it.
#[derive(Debug, Clone, Copy)]
pub struct RunShape<'a> {
    /// The run's settings.
    pub settings: &'a Settings,
    /// Hash of its training data.
    pub data_hash: &'a str,
    /// Training rows.
    pub train_rows: usize,
    /// Layer widths from the input to the output.
    pub sizes: &'a [usize],
}

/// Checks a parameter-shaped buffer of `f32` bits: one slice per weight
/// matrix and bias of `sizes`, every value finite (and `>= 0` if asked).
fn check_bits(path: &Path, field: &str, b: &Bits, sizes: &[usize], non_negative: bool) -> Outcome {
    let shape: Vec<usize> = sizes
        .windows(2)
        .flat_map(|w| [w[0].saturating_mul(w[1]), w[1]])
        .collect();
    if b.len() != shape.len() {
        return Err(field_error(
            path,
            field,
            format!(
                "{} parameter blocks, the network has {}",
                b.len(),
                shape.len()
            ),
        ));
    }
    for (i, (block, &n)) in b.iter().zip(&shape).enumerate() {
        if block.len() != n {
            return Err(field_error(
                path,
                &format!("{field}[{i}]"),
                format!("{} values, the network has {n} there", block.len()),
            ));
        }
        if let Some(j) = block.iter().position(|&v| {
            let v = f32::from_bits(v);
            !v.is_finite() || (non_negative && v < 0.0)
        }) {
            return Err(field_error(
                path,
                &format!("{field}[{i}][{j}]"),
                format!(
                    "{} is not a finite{} number",
                    f32::from_bits(block[j]),
                    if non_negative { " non-negative" } else { "" }
                ),
            ));
        }
    }
    Ok(())
}

impl Checkpoint {
    /// CRC-32 of the content (the JSON with `checksum` empty), as hex.
    fn content_checksum(&self) -> String {
        let mut c = self.clone();
        c.checksum.clear();
        let bytes = serde_json::to_vec(&c).unwrap_or_default();
        format!("{:08x}", crc32fast::hash(&bytes))
    }

    /// Writes the checkpoint atomically, with its checksum.
    ///
    /// # Errors
    ///
    /// As [`write_json`].
    pub fn save(&self, path: &Path) -> Outcome {
        let mut c = self.clone();
        c.checksum = self.content_checksum();
        write_json(path, &c)
    }

    /// Reads a checkpoint and checks its checksum and every field against `run`.
    ///
    /// # Errors
    ///
    /// An input [`Failure`](crate::failure::Failure) naming the file and the field.
    pub fn load(path: &Path, run: RunShape<'_>) -> Outcome<Self> {
        let c: Checkpoint = read_json(path, "checkpoint")?;
        let err = |field: &str, msg: String| field_error(path, field, msg);
        if c.format != CHECKPOINT_FORMAT {
            return Err(err(
                "format",
                format!(
                    "unknown checkpoint format `{}` (expected `{CHECKPOINT_FORMAT}`; older checkpoints cannot be resumed)",
                    c.format
                ),
            ));
        }
        if c.checksum != c.content_checksum() {
            return Err(err(
                "checksum",
                "the content does not match the checksum: the file was changed or damaged".into(),
            ));
        }
        c.check(path, run)?;
        Ok(c)
    }

    /// Range checks of every field against the run.
    fn check(&self, path: &Path, run: RunShape<'_>) -> Outcome {
        let err = |field: &str, msg: String| field_error(path, field, msg);
        let s = run.settings;
        if self.settings != *s {
            let mine = serde_json::to_value(&self.settings).unwrap_or_default();
            let theirs = serde_json::to_value(s).unwrap_or_default();
            let field = mine
                .as_object()
                .and_then(|m| m.iter().find(|(k, v)| theirs.get(k.as_str()) != Some(v)))
                .map(|(k, v)| (k.clone(), v.to_string(), theirs[k.as_str()].to_string()));
            let (k, a, b) = field.unwrap_or_default();
            return Err(err(
                &format!("settings.{k}"),
                format!(
                    "{a} in the checkpoint, {b} in this run: the checkpoint belongs to a different run"
                ),
            ));
        }
        if self.data_hash != run.data_hash {
            return Err(err(
                "data_hash",
                "the checkpoint belongs to a different run (its training data differ)".into(),
            ));
        }
        let b = s.batch.max(1);
        let batches = run.train_rows.div_ceil(b);
        if self.epoch >= s.epochs {
            return Err(err(
                "epoch",
                format!(
                    "{}, but the run has {} epochs (from 0)",
                    self.epoch, s.epochs
                ),
            ));
        }
        if self.batch == 0 || self.batch > batches {
            return Err(err(
                "batch",
                format!("{}, but an epoch has 1 to {batches} batches", self.batch),
            ));
        }
        let expected_step = (self.epoch as u64)
            .checked_mul(batches as u64)
            .and_then(|v| v.checked_add(self.batch as u64));
        if expected_step != Some(self.step) {
            return Err(err(
                "step",
                format!(
                    "{}, but epoch {} batch {} is step {}",
                    self.step,
                    self.epoch,
                    self.batch,
                    expected_step.unwrap_or(u64::MAX)
                ),
            ));
        }
        let samples = (self.epoch * run.train_rows + (self.batch * b).min(run.train_rows)) as u64;
        let n = &self.noise;
        // Per-batch and Flipout draw the weight noise once per step.
        let per_step = matches!(
            s.estimator,
            crate::cli::EstimatorArg::PerBatch | crate::cli::EstimatorArg::Flipout
        );
        let weight_draws = if per_step { self.step } else { samples };
        for (field, value, on, draws) in [
            ("noise.input", n.input, s.input_noise > 0.0, samples),
            ("noise.label", n.label, s.label_noise > 0.0, samples),
            ("noise.weight", n.weight, s.weight_noise > 0.0, weight_draws),
        ] {
            let expected = if on { draws } else { 0 };
            if value != expected {
                return Err(err(
                    field,
                    format!("{value}, but after step {} it is {expected}", self.step),
                ));
            }
        }
        let sum = f64::from_bits(self.epoch_loss_sum_bits);
        if !sum.is_finite() {
            return Err(err("epoch_loss_sum_bits", format!("{sum} is not finite")));
        }
        if self.metrics.len() != self.epoch {
            return Err(err(
                "metrics",
                format!(
                    "{} epochs, but the checkpoint is in epoch {} (from 0)",
                    self.metrics.len(),
                    self.epoch
                ),
            ));
        }
        for (i, m) in self.metrics.iter().enumerate() {
            if m.epoch != i + 1 {
                return Err(err(
                    &format!("metrics[{i}].epoch"),
                    format!("{}, expected {}", m.epoch, i + 1),
                ));
            }
        }
        for (i, m) in self.metrics.iter().enumerate() {
            let values = [Some(m.train_objective), Some(m.train_loss), m.test_loss];
            if values.iter().flatten().any(|v| !v.is_finite()) {
                return Err(err(&format!("metrics[{i}]"), "a non-finite loss".into()));
            }
        }
        check_bits(path, "weights", &self.weights, run.sizes, false)?;
        let o = &self.optimizer;
        let kind = serde_json::to_value(s.optimizer).unwrap_or_default();
        if kind.as_str() != Some(o.kind.as_str()) {
            return Err(err(
                "optimizer.kind",
                format!("`{}`, but the run uses {kind}", o.kind),
            ));
        }
        let (need_first, need_second) = match s.optimizer {
            OptimizerArg::Sgd => (false, false),
            OptimizerArg::Momentum => (true, false),
            OptimizerArg::Adam => (true, true),
        };
        for (field, state, needed, non_negative) in [
            ("optimizer.first", &o.first, need_first, false),
            ("optimizer.second", &o.second, need_second, true),
        ] {
            match (state, needed) {
                (Some(b), true) => check_bits(path, field, b, run.sizes, non_negative)?,
                (None, false) => {}
                (None, true) => return Err(err(field, format!("missing for {kind}"))),
                (Some(_), false) => {
                    return Err(err(field, format!("present, but {kind} has none")));
                }
            }
        }
        match (o.beta_t, s.optimizer) {
            (Some((b1, b2)), OptimizerArg::Adam) => {
                for (i, b) in [b1, b2].into_iter().enumerate() {
                    let v = f32::from_bits(b);
                    if !(v > 0.0 && v <= 1.0) {
                        return Err(err(
                            &format!("optimizer.beta_t.{i}"),
                            format!("{v} (a power of β must be in (0, 1])"),
                        ));
                    }
                }
            }
            (None, OptimizerArg::Adam) => {
                return Err(err("optimizer.beta_t", "missing for adam".into()));
            }
            (Some(_), _) => {
                return Err(err(
                    "optimizer.beta_t",
                    format!("present, but {kind} has none"),
                ));
            }
            (None, _) => {}
        }
        Ok(())
    }
}

/// FNV-1a over the bits of the training data, as hex.
pub fn data_hash(xs: &[Vec<f32>], ys: &[f32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |w: u32| {
        for b in w.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (x, y) in xs.iter().zip(ys) {
        for v in x {
            eat(v.to_bits());
        }
        eat(y.to_bits());
    }
    eat(xs.len() as u32);
    format!("{h:016x}")
}
