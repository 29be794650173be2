//! Additive weight noise `w̃ = w + ε`, `ε ~ N(0, η)`.

use super::config::WeightNoiseConfig;
use super::layer::LayerNoise;
use crate::perturbation::Perturbation;

/// Additive Gaussian weight noise, drawn row by row and regenerated in the
/// backward pass from a restarted generator.
///
/// Each layer's noise comes from its own stream: [`fill_normal`](crate::fill_normal)
/// over [`XoshiroLanes::keyed`](crate::XoshiroLanes::keyed)`(seed, 16·draw + layer)`,
/// restarted in [`begin_layer`](Perturbation::begin_layer). The layer's
/// weights, row-major, then (if noisy) its biases take that stream's values
/// in order, so the backward pass sees exactly the forward pass's ε and
/// nothing the size of the weights is stored (a row's normals are drawn
/// into the network's row buffer and combined there). When a layer's η is 0 the clean values are
/// copied and no number is drawn, so η = 0 reproduces the clean network bit
/// for bit.
///
/// # Examples
///
/// ```
/// use noisereg::{AdditiveNoise, NoiseKind, Perturbation, WeightNoiseConfig};
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
/// let mut noise = AdditiveNoise::new(&cfg, 42);
/// let clean = [1.0f32; 4];
/// let (mut a, mut b) = ([0.0f32; 4], [0.0f32; 4]);
/// noise.begin_layer(0);
/// noise.weight_row(&clean, &mut a);
/// noise.begin_layer(0); // the backward pass restarts the layer...
/// noise.weight_row(&clean, &mut b);
/// assert_eq!(a, b); // ...and sees the same draw
/// assert_ne!(a, clean);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdditiveNoise {
    pub(crate) core: LayerNoise,
}

impl AdditiveNoise {
    /// Additive noise with `config`'s per-layer η (its kind is ignored),
    /// seeded with `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{AdditiveNoise, NoiseKind, Perturbation, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.0).unwrap();
    /// assert!(!AdditiveNoise::new(&cfg, 1).perturbs_weights()); // η = 0: clean
    /// ```
    pub fn new(config: &WeightNoiseConfig, seed: u64) -> Self {
        Self {
            core: LayerNoise::new(config, seed),
        }
    }
}

/// `clean + std·z`.
#[inline(always)]
fn add(c: f32, s: f32, z: f32) -> f32 {
    c + s * z
}

impl Perturbation for AdditiveNoise {
    fn perturbs_weights(&self) -> bool {
        self.core.active()
    }

    #[inline]
    fn begin_layer(&mut self, layer: usize) {
        self.core.begin_layer(layer);
    }

    #[inline]
    fn begin_step(&mut self, step: usize) {
        self.core.begin_step(step);
    }

    #[inline]
    fn weight_row(&mut self, clean: &[f32], out: &mut [f32]) {
        self.core.perturb(clean, out, add);
    }

    #[inline]
    fn bias(&mut self, clean: &[f32], out: &mut [f32]) {
        self.core.perturb_bias(clean, out, add);
    }
}
