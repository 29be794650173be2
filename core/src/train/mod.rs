//! Noise injection and training: weight, input and label noise, the explicit
//! penalty, optimisers, mini-batches and evaluation.

mod adam;
pub(crate) mod eta_schedule;
mod evaluation;
mod model;
mod momentum;
mod optimizer;
pub(crate) mod parameter_ops;
mod sample_ring;
mod sgd;
mod smoothed_cross_entropy;
mod target;
mod trainer;
pub(crate) mod validate;

pub use adam::{Adam, AdamSettings};
pub use eta_schedule::{EtaSchedule, ScheduleShape};
pub use evaluation::{
    AntitheticPairs, NoisyCostExpansion, NoisyLoss, clean_loss, flatness, noisy_cost_expansion,
    perturbed_loss,
};
pub use model::{Buffer, Model};
pub use momentum::{Momentum, MomentumSettings};
pub use optimizer::Optimizer;
pub use sample_ring::SampleRing;
pub use sgd::Sgd;
pub use smoothed_cross_entropy::SmoothedCrossEntropy;
pub use target::Target;
pub use trainer::{ModelTrainer, NoisePositions, Trainer};
