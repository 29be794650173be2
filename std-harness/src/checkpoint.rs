//! Checkpoints: everything a training run needs to continue bit for bit —
//! weights, optimiser state, noise positions, data position and metrics so far.

use crate::atomic_write::write_json;
use crate::failure::{Failure, Outcome};
use crate::model_file::Settings;
use crate::optim::{Bits, OptSnapshot};
use crate::trainer::NoiseCounters;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format tag of checkpoint files.
pub const CHECKPOINT_FORMAT: &str = "noisereg-checkpoint-1";

/// One epoch's losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
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

impl Checkpoint {
    /// Writes the checkpoint atomically.
    ///
    /// # Errors
    ///
    /// As [`write_json`].
    pub fn save(&self, path: &Path) -> Outcome {
        write_json(path, self)
    }

    /// Reads a checkpoint.
    ///
    /// # Errors
    ///
    /// An input [`Failure`] naming the file if it is missing or not a checkpoint.
    pub fn load(path: &Path) -> Outcome<Self> {
        let name = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("cannot read {name}: {e}")))?;
        let c: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            Failure::input(format!(
                "{name}:{}:{}: not a noisereg checkpoint",
                e.line(),
                e.column()
            ))
        })?;
        if c.format != CHECKPOINT_FORMAT {
            return Err(Failure::input(format!(
                "{name}: unknown checkpoint format `{}`",
                c.format
            )));
        }
        Ok(c)
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
