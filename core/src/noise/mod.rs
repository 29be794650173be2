//! Noise: weight noise (additive and multiplicative, the keyed per-layer
//! streams, the estimators: per-sample draws, Flipout, local
//! reparameterisation), its configuration, and input and label noise. The
//! sampler draws the normals; the trainer and the evaluation use what is
//! here.

pub(crate) mod additive;
pub(crate) mod config;
pub(crate) mod flipout;
pub(crate) mod input;
pub(crate) mod label;
pub(crate) mod layer;
pub(crate) mod local_reparam;
pub(crate) mod multiplicative;
pub(crate) mod weight;

pub use additive::AdditiveNoise;
pub use config::{Estimator, MAX_LAYERS, NoiseKind, Redraw, WeightNoiseConfig};
pub use input::InputNoise;
pub use label::LabelNoise;
pub use local_reparam::LocalReparamNoise;
pub use multiplicative::MultiplicativeNoise;
pub use weight::WeightNoise;
