//! State shared by the weight-noise perturbations: per-layer η, the current
//! layer's standard deviation and the counter-keyed stream.

use super::parameter_ops::CopyChecked;
use super::weight_noise_config::{MAX_LAYERS, WeightNoiseConfig};
use crate::nn::NoiseOn;
use crate::sampler::LaneStream;

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
    /// Unrolled step of a recurrent network (0 for feedforward networks),
    /// modulo 2¹⁶ (a `u16` keeps `WeightNoise` at 416 bytes).
    step: u16,
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
            step: 0,
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
            // Step t > 0 of a recurrent network: stream id `layer + t·2⁴⁰`
            // (distinct from every other draw's below 2³⁶ draws).
            self.stream
                .restart((layer as u64).wrapping_add(u64::from(self.step) << 40));
        }
    }

    /// Sets the unrolled step mixed into the stream key
    /// ([`Perturbation::begin_step`](crate::Perturbation::begin_step)).
    #[inline]
    pub(crate) fn begin_step(&mut self, step: usize) {
        self.step = (step & 0xffff) as u16;
    }

    /// `out[i] = combine(clean[i], std, z_i)` over the common length with
    /// fresh normals `z` from the layer's stream; copies `clean` (drawing
    /// nothing) when this layer's std is 0. The one body of additive and
    /// multiplicative noise.
    #[inline(always)]
    pub(crate) fn perturb(
        &mut self,
        clean: &[f32],
        out: &mut [f32],
        combine: impl Fn(f32, f32, f32) -> f32,
    ) {
        let s = self.std;
        if s == 0.0 {
            out.copy_from_slice_checked(clean);
            return;
        }
        let n = clean.len().min(out.len());
        self.stream.for_each_chunk(n, |at, z| {
            let c = clean.get(at..at + z.len()).unwrap_or(&[]);
            let o = out.get_mut(at..at + z.len()).unwrap_or(&mut []);
            for ((o, &c), &z) in o.iter_mut().zip(c).zip(z) {
                *o = combine(c, s, z);
            }
        });
    }

    /// Biases: [`perturb`](Self::perturb) when biases are noisy, else copied.
    #[inline(always)]
    pub(crate) fn perturb_bias(
        &mut self,
        clean: &[f32],
        out: &mut [f32],
        combine: impl Fn(f32, f32, f32) -> f32,
    ) {
        if self.biases {
            self.perturb(clean, out, combine);
        } else {
            out.copy_from_slice_checked(clean);
        }
    }
}
