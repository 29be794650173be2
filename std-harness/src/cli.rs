//! Command-line definitions (clap derive) and value checks.

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Noise-injection regularisation for tiny networks: train, verify the
/// weight-noise penalty, measure robustness.
#[derive(Debug, Parser)]
#[command(name = "noisereg", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one network three ways on the built-in diabetes data and show
    /// what weight noise does (no arguments needed).
    Demo(DemoArgs),
    /// Train a network on a CSV file.
    Train(Box<TrainArgs>),
    /// Check the weight-noise expansion on a model: Monte Carlo vs formulas.
    #[command(
        long_about = "Check the weight-noise expansion on a model: Monte Carlo vs formulas.\n\n\
Uses every row of --data. Losses are in the model's units: the half squared error of the \
standardised target (mse models) or the cross-entropy in nats (ce models, which also get \
accuracy). The perturbation is the command's own, eps ~ N(0, eta) on the weights (additive) \
unless --noise-on all or --multiplicative say otherwise; the noise a model was trained with \
does not matter. The gradient norm is over the perturbed parameters: ||grad_W f||^2 \
(weights) or ||grad_(W,b) f||^2 (weights and biases)."
    )]
    Verify(VerifyArgs),
    /// Loss under weight perturbation for one or more models.
    #[command(
        long_about = "Loss under weight perturbation for one or more models.\n\n\
Every model gets the same perturbation, the command's own: eps ~ N(0, eta) on the weights \
(additive) unless --noise-on all or --multiplicative say otherwise. Uses every row of --data; \
losses in the model's units (half squared error of the standardised target, or cross-entropy \
in nats plus accuracy for ce models)."
    )]
    Robustness(RobustnessArgs),
    /// Print normal samples (for outside statistical testing).
    Sample(SampleArgs),
    /// Export a model as a no_std Rust module or a C header with one inference function.
    Export(ExportArgs),
    /// Compare the weight-noise gradient estimators on the built-in diabetes
    /// data: gradient variance against the independent reference and time to
    /// reach a noisy cost.
    Estimators(EstimatorsArgs),
}

/// `noisereg estimators`.
#[derive(Debug, Args)]
pub struct EstimatorsArgs {
    /// CSV file for the table.
    #[arg(long, value_name = "FILE", default_value = "estimators.csv")]
    pub out: PathBuf,
    /// SVG plot of the noisy cost against training time.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// η (variance) of the weight noise.
    #[arg(long, default_value_t = 0.01)]
    pub eta: f32,
    /// Multiplicative noise instead of additive (no local reparameterisation).
    #[arg(long)]
    pub multiplicative: bool,
    /// Training epochs per estimator.
    #[arg(long, default_value_t = 150)]
    pub epochs: usize,
    /// Noise draws for each gradient variance.
    #[arg(long, default_value_t = 2000)]
    pub draws: usize,
    /// A few epochs and draws (a smoke test).
    #[arg(long)]
    pub quick: bool,
}

/// Export language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A `no_std` Rust module: `const` weights, `NETWORK` and `predict` (one `include!`).
    Rust,
    /// A C header: `static const` arrays and `noisereg_predict`.
    C,
}

/// `noisereg export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Model written by `noisereg train`.
    #[arg(long, value_name = "MODEL.json")]
    pub model: PathBuf,
    /// Output language.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Store weights as B-bit codes in int8 (one f32 scale per row), B = 2..8.
    #[arg(long, value_name = "B", value_parser = clap::value_parser!(u8).range(2..=8))]
    pub quantize: Option<u8>,
    /// Write the module or header here (atomically).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the exported network's outputs for every row of this CSV (the
    /// CSV needs the model's target column too), one row per line.
    #[arg(long, value_name = "DATA.csv")]
    pub predict: Option<PathBuf>,
}

/// A finite number `>= 0`.
pub fn non_negative(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err("must be a finite number >= 0".into())
    }
}

/// A finite number `> 0`.
pub fn positive(s: &str) -> Result<f32, String> {
    let v = non_negative(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("must be a finite number > 0".into())
    }
}

/// A finite number.
pub fn finite(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err("must be finite".into())
    }
}

/// A number in `[0, 1)`.
pub fn unit_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be in [0, 1)".into())
    }
}

/// A label smoothing in `[0, 1)`.
pub fn smoothing(s: &str) -> Result<f32, String> {
    unit_fraction(s).map(|v| v as f32)
}

/// Hidden activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationArg {
    /// tanh.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// max(0, x) (not smooth: the expansion's error is O(√η) at kinks).
    Relu,
    /// log(1 + eˣ).
    Softplus,
}

/// Loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossArg {
    /// Half squared error (regression).
    Mse,
    /// Softmax cross-entropy (classification; the target holds class labels 0, 1, …).
    Ce,
}

/// Which parameters get noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseOnArg {
    /// Weights only.
    Weights,
    /// Weights and biases.
    All,
}

/// How weight noise enters (model files record it; `train` sets it with
/// `--multiplicative` and `--local-reparam`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseKindArg {
    /// w + ε.
    Additive,
    /// w(1 + ε).
    Multiplicative,
    /// Additive, drawn through the pre-activations.
    LocalReparam,
}

/// The weight-noise gradient estimator (`train --estimator`; model files
/// and checkpoints record it, omitted when `independent`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorArg {
    /// A fresh ε per weight and per sample: the reference (default).
    #[default]
    Independent,
    /// One ε shared by the mini-batch.
    PerBatch,
    /// One ε per batch, decorrelated per sample by random signs (Flipout).
    Flipout,
    /// The pre-activations' noise drawn directly (additive only).
    LocalReparam,
}

impl EstimatorArg {
    /// Whether this is the default (model files omit it then).
    pub fn is_default(&self) -> bool {
        *self == Self::Independent
    }
}

impl From<EstimatorArg> for noisereg::Estimator {
    fn from(a: EstimatorArg) -> Self {
        match a {
            EstimatorArg::Independent => Self::Independent,
            EstimatorArg::PerBatch => Self::PerBatch,
            EstimatorArg::Flipout => Self::Flipout,
            EstimatorArg::LocalReparam => Self::LocalReparam,
        }
    }
}

impl From<NoiseOnArg> for noisereg::NoiseOn {
    fn from(a: NoiseOnArg) -> Self {
        match a {
            NoiseOnArg::Weights => Self::Weights,
            NoiseOnArg::All => Self::WeightsAndBiases,
        }
    }
}

impl From<NoiseKindArg> for noisereg::NoiseKind {
    fn from(a: NoiseKindArg) -> Self {
        match a {
            NoiseKindArg::Additive => Self::Additive,
            NoiseKindArg::Multiplicative => Self::Multiplicative,
            NoiseKindArg::LocalReparam => Self::LocalReparam,
        }
    }
}

/// Optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerArg {
    /// Plain SGD.
    Sgd,
    /// SGD with momentum 0.9.
    Momentum,
    /// Adam (β₁ 0.9, β₂ 0.999).
    Adam,
}

/// `noisereg demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for report.json and the SVG plots.
    #[arg(long, value_name = "DIR", default_value = "noisereg-demo")]
    pub out: PathBuf,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Smaller budget (for tests).
    #[arg(long, hide = true)]
    pub quick: bool,
}

/// The data every command but `sample` reads.
#[derive(Debug, Args)]
pub struct CsvArgs {
    /// CSV file with a header row.
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    /// Target column; every other column is a feature.
    #[arg(long, value_name = "COLUMN")]
    pub target: String,
}

/// `noisereg train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Hidden widths, comma separated.
    #[arg(long, value_name = "W,W", value_delimiter = ',', default_value = "16",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub hidden: Vec<u32>,
    /// Hidden activation.
    #[arg(long, value_enum, default_value_t = ActivationArg::Tanh)]
    pub activation: ActivationArg,
    /// Loss.
    #[arg(long, value_enum, default_value_t = LossArg::Mse)]
    pub loss: LossArg,
    /// Weight-noise variance η (ε ~ N(0, η)); 0 for none.
    #[arg(long, value_name = "ETA", allow_hyphen_values = true, value_parser = non_negative, default_value = "0")]
    pub weight_noise: f32,
    /// Which parameters get weight noise (and count in the penalty).
    #[arg(long, value_enum, default_value_t = NoiseOnArg::Weights)]
    pub noise_on: NoiseOnArg,
    /// Multiplicative weight noise w(1 + ε) instead of additive.
    #[arg(long, conflicts_with = "local_reparam")]
    pub multiplicative: bool,
    /// Additive weight noise drawn through the pre-activations (local
    /// reparameterisation; the same as `--estimator local-reparam`).
    #[arg(long)]
    pub local_reparam: bool,
    /// How a mini-batch's weight noise is sampled. `independent` (default): a
    /// fresh ε for every weight and sample, the reference estimator with the
    /// lowest gradient variance, and the one earlier model files used.
    /// `flipout`: one ε per batch made independent per sample by random
    /// signs — the same per-sample law, about the same gradient variance,
    /// 2–3× cheaper. `per-batch`: one ε shared by the batch (cheapest, much
    /// noisier gradient). `local-reparam`: the pre-activations' noise drawn
    /// directly (additive only).
    #[arg(long, value_enum, default_value_t = EstimatorArg::Independent)]
    pub estimator: EstimatorArg,
    /// Input-noise standard deviation σ.
    #[arg(long, value_name = "SIGMA", allow_hyphen_values = true, value_parser = non_negative, default_value = "0")]
    pub input_noise: f32,
    /// Label-noise standard deviation σ (mse only).
    #[arg(long, value_name = "SIGMA", allow_hyphen_values = true, value_parser = non_negative, default_value = "0")]
    pub label_noise: f32,
    /// Label smoothing ε in [0, 1) (ce only).
    #[arg(long, value_name = "EPS", allow_hyphen_values = true, value_parser = smoothing, default_value = "0")]
    pub label_smoothing: f32,
    /// Explicit loss-correct penalty ½·η·E tr(J_fᵀ H_ℓ J_f) — ½·η·‖∇_W f‖² for
    /// mse, the Gauss–Newton term for ce — instead of (or with) drawn noise.
    #[arg(long, value_name = "ETA", allow_hyphen_values = true, value_parser = non_negative, default_value = "0")]
    pub penalty: f32,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    pub optimizer: OptimizerArg,
    /// Learning rate.
    #[arg(long, value_name = "LR", allow_hyphen_values = true, value_parser = positive, default_value = "0.01")]
    pub lr: f32,
    /// Passes over the training set.
    #[arg(long, value_name = "N", default_value = "100",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Mini-batch size.
    #[arg(long, value_name = "B", default_value = "16",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Seed for initialisation, split, shuffling and noise.
    #[arg(long, value_name = "S", default_value = "0")]
    pub seed: u64,
    /// Fraction of rows held out as a test set.
    #[arg(long, value_name = "F", allow_hyphen_values = true, value_parser = unit_fraction, default_value = "0.2")]
    pub test_fraction: f64,
    /// With --loss ce: the most classes accepted. Labels must be 0..K−1, each
    /// class present in the training split; a larger K (a typo such as a label
    /// 1000000 builds a huge network) needs this flag raised.
    #[arg(long, value_name = "K", default_value = "1000",
          value_parser = clap::value_parser!(u32).range(2..=16_777_216))]
    pub max_classes: u32,
    /// Where to write the model (JSON); MODEL.metrics.json gets per-epoch
    /// losses (not written when MODEL.json is a device or FIFO). Must not be
    /// an input file.
    #[arg(long, value_name = "MODEL.json")]
    pub out: PathBuf,
    /// Write a checkpoint to this file during training.
    #[arg(long, value_name = "FILE", requires = "checkpoint_every")]
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints.
    #[arg(long, value_name = "STEPS", requires = "checkpoint",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Continue from a checkpoint written by the same command.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Sleep this many microseconds after each step (for tests).
    #[arg(long, hide = true, default_value = "0")]
    pub step_delay_us: u64,
    #[command(flatten)]
    pub recurrent: RecurrentArgs,
}

/// Network family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchArg {
    /// Feed-forward network on the rows of a table.
    Mlp,
    /// Elman recurrent network (tanh cell, dense readout) on windows of a series.
    Elman,
    /// Gated recurrent unit (GRU) network on windows of a series.
    Gru,
}

/// When a recurrent model's weight noise is redrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoisePerArg {
    /// One draw per window, shared by all its steps.
    Sequence,
    /// A fresh draw at every step of a window.
    Step,
}

/// `train` options of the recurrent models (`--arch elman|gru`): the rows of
/// `--data` are the steps of one series, in time order.
#[derive(Debug, Clone, Args)]
pub struct RecurrentArgs {
    /// Network family; elman and gru read windows of a time series.
    #[arg(long, value_enum, default_value_t = ArchArg::Mlp)]
    pub arch: ArchArg,
    /// Window length T: the model reads T consecutive rows (elman, gru).
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub seq_len: Option<u32>,
    /// Forecast horizon H: the target is the value H rows after a window's
    /// last row (elman, gru).
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub horizon: Option<u32>,
    /// Extra input columns besides the target's own past (elman, gru);
    /// other columns (dates) are ignored.
    #[arg(long, value_name = "COL,COL", value_delimiter = ',')]
    pub inputs: Vec<String>,
    /// Transform of the series before windowing, statistics from the
    /// training part only (elman, gru).
    #[arg(long, value_enum)]
    pub transform: Option<crate::series::Transform>,
    /// Weight noise redrawn per window or per step (elman, gru).
    #[arg(long, value_enum)]
    pub noise_per: Option<NoisePerArg>,
}

/// The perturbation `verify` and `robustness` apply: the command's own,
/// the same for every model, whatever noise a model was trained with.
#[derive(Debug, Clone, Copy, Args)]
pub struct PerturbationArgs {
    /// Parameters the perturbation hits: weights only, or weights and biases.
    #[arg(long, value_enum, default_value_t = NoiseOnArg::Weights)]
    pub noise_on: NoiseOnArg,
    /// Multiplicative perturbation w(1 + ε) instead of additive w + ε.
    #[arg(long)]
    pub multiplicative: bool,
}

/// `noisereg verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Model written by `noisereg train`.
    #[arg(long, value_name = "MODEL.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Noise variances η, comma separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', required = true, allow_hyphen_values = true, value_parser = non_negative)]
    pub eta: Vec<f32>,
    /// Monte Carlo draws per η (antithetic pairs: half as many).
    #[arg(long, value_name = "N", default_value = "2000",
          value_parser = clap::value_parser!(u32).range(4..))]
    pub draws: u32,
    /// Seed of the noise.
    #[arg(long, value_name = "S", default_value = "0")]
    pub seed: u64,
    #[command(flatten)]
    pub perturbation: PerturbationArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `noisereg robustness`.
#[derive(Debug, Args)]
pub struct RobustnessArgs {
    /// Models (repeat the flag for several).
    #[arg(long, value_name = "MODEL.json", required = true)]
    pub model: Vec<PathBuf>,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Noise variances η, comma separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', required_unless_present = "perturb", conflicts_with = "perturb", allow_hyphen_values = true, value_parser = non_negative)]
    pub eta: Vec<f32>,
    /// Deployment perturbations, comma separated: gauss:ETA; quant:B (round to
    /// nearest), dither:B (subtractive dither), stoch:B (stochastic rounding),
    /// B = 2..8 bits, one scale per row or with /layer per layer (quant:4/layer);
    /// bitflip:P (f32 bits), bitflip8:P (bits of 8-bit codes), stuck:P (weights
    /// stuck at zero), P a rate in [0, 1]; drift:T (aihwkit PCM model with global
    /// drift compensation) or rawdrift:T (without), T = 30s, 2h, 1d, 1mo, 1y.
    /// Every model gets the same draws; `--draws` per item.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = crate::robustness::parse_perturb)]
    pub perturb: Vec<crate::robustness::PerturbSpec>,
    /// Monte Carlo draws per η (or per `--perturb` item).
    #[arg(long, value_name = "N", default_value = "1000",
          value_parser = clap::value_parser!(u32).range(4..))]
    pub draws: u32,
    /// Seed of the noise.
    #[arg(long, value_name = "S", default_value = "0")]
    pub seed: u64,
    #[command(flatten)]
    pub perturbation: PerturbationArgs,
    /// Write an SVG plot of loss against η.
    #[arg(long, value_name = "OUT.svg")]
    pub plot: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Sampling method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Vectorised fill (`fill_normal`).
    Simd,
    /// Scalar twin (`fill_normal_scalar`, same bits).
    Scalar,
}

/// Output format of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One number per line.
    Text,
    /// Raw little-endian f32.
    F32le,
}

/// `noisereg sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Number of samples.
    #[arg(long, value_name = "N")]
    pub n: u64,
    /// Seed.
    #[arg(long, value_name = "S", default_value = "0")]
    pub seed: u64,
    /// Sampler.
    #[arg(long, value_enum, default_value_t = MethodArg::Simd)]
    pub method: MethodArg,
    /// Mean.
    #[arg(long, value_name = "M", default_value = "0", value_parser = finite, allow_hyphen_values = true)]
    pub mean: f32,
    /// Standard deviation.
    #[arg(long, value_name = "S", default_value = "1", allow_hyphen_values = true, value_parser = non_negative)]
    pub std: f32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

/// Exits with a clap-style usage error (status 2).
pub fn usage_error(kind: clap::error::ErrorKind, msg: impl std::fmt::Display) -> ! {
    use clap::CommandFactory;
    Cli::command().error(kind, msg).exit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_checks_reject_negative_and_non_finite() {
        assert!(non_negative("-1").is_err());
        assert!(non_negative("nan").is_err());
        assert!(non_negative("inf").is_err());
        assert_eq!(non_negative("1e-3"), Ok(1e-3));
        assert!(positive("0").is_err());
        assert!(unit_fraction("1").is_err());
    }
}
