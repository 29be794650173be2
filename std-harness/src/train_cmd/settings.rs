//! The settings of a `train` command line, and the combinations clap cannot
//! express.

use crate::cli::{EstimatorArg, LossArg, NoiseKindArg, TrainArgs};
use crate::model_file::Settings;

/// The settings of a `train` command line.
pub fn settings_of(a: &TrainArgs) -> Settings {
    Settings {
        hidden: a.hidden.iter().map(|&h| h as usize).collect(),
        activation: a.activation,
        loss: a.loss,
        weight_noise: a.weight_noise,
        noise_on: a.noise_on,
        noise_kind: if a.multiplicative {
            NoiseKindArg::Multiplicative
        } else if a.local_reparam || a.estimator == EstimatorArg::LocalReparam {
            NoiseKindArg::LocalReparam
        } else {
            NoiseKindArg::Additive
        },
        // The kind carries local reparameterisation (as before the flag).
        estimator: if a.local_reparam || a.estimator == EstimatorArg::LocalReparam {
            EstimatorArg::Independent
        } else {
            a.estimator
        },
        input_noise: a.input_noise,
        label_noise: a.label_noise,
        label_smoothing: a.label_smoothing,
        penalty: a.penalty,
        optimizer: a.optimizer,
        lr: a.lr,
        epochs: a.epochs as usize,
        batch: a.batch as usize,
        seed: a.seed,
        test_fraction: a.test_fraction,
    }
}

/// Checks combinations clap cannot express; exits with a usage error.
pub(super) fn check_settings(a: &TrainArgs) {
    use clap::error::ErrorKind;
    if a.loss == LossArg::Ce && a.label_noise > 0.0 {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--label-noise is Gaussian noise on regression targets; with --loss ce use --label-smoothing",
        );
    }
    if a.loss == LossArg::Mse && a.label_smoothing > 0.0 {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--label-smoothing needs --loss ce",
        );
    }
    if a.local_reparam
        && !matches!(
            a.estimator,
            EstimatorArg::Independent | EstimatorArg::LocalReparam
        )
    {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--local-reparam is --estimator local-reparam; it cannot be combined with another --estimator",
        );
    }
    if a.multiplicative && a.estimator == EstimatorArg::LocalReparam {
        crate::cli::usage_error(
            ErrorKind::ArgumentConflict,
            "--estimator local-reparam draws additive noise only; it cannot be combined with --multiplicative",
        );
    }
    if !a.estimator.is_default() && a.weight_noise == 0.0 {
        crate::cli::usage_error(
            ErrorKind::MissingRequiredArgument,
            "--estimator needs --weight-noise ETA > 0",
        );
    }
    if (a.multiplicative || a.local_reparam) && a.weight_noise == 0.0 {
        crate::cli::usage_error(
            ErrorKind::MissingRequiredArgument,
            "--multiplicative and --local-reparam need --weight-noise ETA > 0",
        );
    }
    if a.hidden.len() + 1 > noisereg::MAX_LAYERS {
        crate::cli::usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--hidden: at most {} hidden layers",
                noisereg::MAX_LAYERS - 1
            ),
        );
    }
}
