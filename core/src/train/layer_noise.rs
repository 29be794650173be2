//! State shared by the weight-noise perturbations: per-layer η, the current
//! layer's standard deviation and the counter-keyed stream.

use super::lane_stream::LaneStream;
use super::weight_noise_config::{MAX_LAYERS, WeightNoiseConfig};
use crate::nn::NoiseOn;

/// Per-layer η, schedule factor, sign (antithetic draws) and the stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LayerNoise {
    pub(crate) stream: LaneStream,
    eta: [f32; MAX_LAYERS],
    factor: f32,
    sign: f32,
    /// Signed standard deviation of the current layer: `±√(factor·η_l)`.
    pub(crate) std: f32,
    pub(crate) biases: bool,
}

impl LayerNoise {
    pub(crate) fn new(config: &WeightNoiseConfig, seed: u64) -> Self {
        Self {
            stream: LaneStream::new(seed),
            eta: *config.etas(),
            factor: 1.0,
            sign: 1.0,
            std: 0.0,
            biases: config.noise_on() == NoiseOn::WeightsAndBiases,
        }
    }

    /// Whether any layer gets noise at the current factor.
    pub(crate) fn active(&self) -> bool {
        self.factor > 0.0 && self.eta.iter().any(|&e| e > 0.0)
    }

    pub(crate) fn set_factor(&mut self, factor: f32) {
        self.factor = factor;
    }

    pub(crate) fn set_negated(&mut self, negated: bool) {
        self.sign = if negated { -1.0 } else { 1.0 };
    }

    pub(crate) fn set_eta(&mut self, eta: &[f32; MAX_LAYERS]) {
        self.eta = *eta;
    }

    /// Restarts layer `layer`'s stream (lazily: nothing is computed until a
    /// value is drawn) and sets its standard deviation.
    #[inline]
    pub(crate) fn begin_layer(&mut self, layer: usize) {
        let eta = self.eta.get(layer).copied().unwrap_or(0.0) * self.factor;
        self.std = if eta > 0.0 {
            self.sign * libm::sqrtf(eta)
        } else {
            0.0
        };
        if self.std != 0.0 {
            self.stream.restart(layer as u64);
        }
    }
}
