//! Noise injection and training: weight, input and label noise, the explicit
//! penalty, optimisers, mini-batches and evaluation.

mod adam;
mod additive_noise;
mod eta_schedule;
mod evaluation;
mod flipout;
mod input_noise;
mod label_noise;
mod layer_noise;
mod local_reparam_noise;
mod model;
mod momentum;
mod multiplicative_noise;
mod optimizer;
pub(crate) mod parameter_ops;
mod sample_ring;
mod sgd;
mod smoothed_cross_entropy;
mod target;
mod trainer;
mod validate;
mod weight_noise;
mod weight_noise_config;

pub use adam::{Adam, AdamSettings};
pub use additive_noise::AdditiveNoise;
pub use eta_schedule::{EtaSchedule, ScheduleShape};
pub use evaluation::{
    AntitheticPairs, NoisyCostExpansion, NoisyLoss, clean_loss, flatness, noisy_cost_expansion,
    perturbed_loss,
};
pub use input_noise::InputNoise;
pub use label_noise::LabelNoise;
pub use local_reparam_noise::LocalReparamNoise;
pub use model::{Buffer, Model};
pub use momentum::{Momentum, MomentumSettings};
pub use multiplicative_noise::MultiplicativeNoise;
pub use optimizer::Optimizer;
pub use sample_ring::SampleRing;
pub use sgd::Sgd;
pub use smoothed_cross_entropy::SmoothedCrossEntropy;
pub use target::Target;
pub use trainer::{ModelTrainer, NoisePositions, Trainer};
pub use weight_noise::WeightNoise;
pub use weight_noise_config::{Estimator, MAX_LAYERS, NoiseKind, Redraw, WeightNoiseConfig};
