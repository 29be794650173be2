//! State shared by the weight-noise perturbations: per-layer η, the current
//! layer's standard deviation and the counter-keyed stream.

use super::config::{MAX_LAYERS, WeightNoiseConfig};
use crate::nn::NoiseOn;
use crate::sampler::LaneStream;
use crate::train::parameter_ops::CopyChecked;

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
        self.set_layer(layer);
        if self.std != 0.0 {
            // Step t > 0 of a recurrent network: stream id `layer + t·2⁴⁰`
            // (distinct from every other draw's below 2³⁶ draws).
            self.stream
                .restart((layer as u64).wrapping_add(u64::from(self.step) << 40));
        }
    }

    /// Sets layer `layer`'s signed standard deviation, touching no stream.
    #[inline]
    pub(crate) fn set_layer(&mut self, layer: usize) {
        self.std = self.layer_std(layer);
    }

    /// `±√(factor·η_layer)`, 0 when that variance is not positive.
    #[inline]
    pub(crate) fn layer_std(&self, layer: usize) -> f32 {
        let eta = self.eta.get(layer).copied().unwrap_or(0.0) * self.factor;
        if eta > 0.0 {
            self.sign * crate::nn::sqrt_f32(eta)
        } else {
            0.0
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
        // The normals straight into `out`, then combined in place.
        let (Some(o), Some(c)) = (out.get_mut(..n), clean.get(..n)) else {
            return;
        };
        self.stream.fill(o);
        for (o, &c) in o.iter_mut().zip(c) {
            *o = combine(c, s, *o);
        }
    }

    /// `out = std·ξ` with fresh normals (zeros when this layer's std is 0).
    #[inline]
    pub(crate) fn fill_eps(&mut self, out: &mut [f32]) {
        let s = self.std;
        if s == 0.0 {
            out.fill(0.0);
            return;
        }
        self.stream.fill(out);
        for v in out.iter_mut() {
            *v *= s;
        }
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
