//! Multiplicative weight noise `w̃ = w(1 + ε)`, `ε ~ N(0, η)`.

use super::config::WeightNoiseConfig;
use super::layer::LayerNoise;
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;

/// Multiplicative Gaussian weight noise (Gaussian-dropout style).
///
/// Same streams as [`AdditiveNoise`](crate::AdditiveNoise). The gradient with
/// respect to the clean `w` is the gradient at `w̃` times `(1 + ε)`; a
/// network's backward pass gives the former, and
/// [`scale_gradient`](MultiplicativeNoise::scale_gradient) regenerates ε and
/// applies the factor.
///
/// # Examples
///
/// ```
/// use noisereg::{MultiplicativeNoise, NoiseKind, Perturbation, WeightNoiseConfig};
/// let cfg = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.04).unwrap();
/// let mut noise = MultiplicativeNoise::new(&cfg, 1);
/// let clean = [0.0f32, 2.0];
/// let mut out = [9.0f32; 2];
/// noise.begin_layer(0);
/// noise.weight_row(&clean, &mut out);
/// assert_eq!(out[0], 0.0); // zero weights stay zero
/// assert_ne!(out[1], 2.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MultiplicativeNoise {
    pub(crate) core: LayerNoise,
}

impl MultiplicativeNoise {
    /// Multiplicative noise with `config`'s per-layer η (variance of ε; its
    /// kind is ignored), seeded with `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{MultiplicativeNoise, NoiseKind, Perturbation, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    /// let mut noise = MultiplicativeNoise::new(&cfg, 1);
    /// let mut out = [1.0f32; 2];
    /// noise.begin_layer(0);
    /// noise.weight_row(&[0.0, 2.0], &mut out);
    /// assert_eq!(out[0], 0.0); // a zero weight stays zero
    /// ```
    pub fn new(config: &WeightNoiseConfig, seed: u64) -> Self {
        Self {
            core: LayerNoise::new(config, seed),
        }
    }

    /// `g ← g·(1 + std·z)` over `g`, drawing `g.len()` normals.
    #[inline]
    fn scale(&mut self, g: &mut [f32]) {
        let s = self.core.std;
        self.core.stream.for_each_chunk(g.len(), |at, z| {
            let g = g.get_mut(at..at + z.len()).unwrap_or(&mut []);
            for (g, &z) in g.iter_mut().zip(z) {
                *g *= 1.0 + s * z;
            }
        });
    }

    /// Multiplies a gradient taken at `w̃` by `(1 + ε)` element by element,
    /// turning it into the gradient with respect to the clean parameters.
    ///
    /// `grad` is laid out as [`Parameters`] for dense networks (slice `2l`
    /// weights, `2l + 1` bias); the current draw is regenerated layer by layer.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, MultiplicativeNoise, NoiseKind, Perturbation, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.04).unwrap();
    /// let mut noise = MultiplicativeNoise::new(&cfg, 3);
    /// let ones: Dense<2, 1> = Dense { w: [[1.0, 1.0]], b: [1.0], act: Default::default() };
    /// let mut w = [0.0f32; 2];
    /// noise.begin_layer(0);
    /// noise.weight_row(&ones.w[0], &mut w); // w̃ = 1 + ε
    /// let mut g = ones.clone();
    /// noise.scale_gradient(&mut g);
    /// assert_eq!(g.w[0], w); // factor (1 + ε) is the same ε
    /// assert_eq!(g.b[0], 1.0); // biases get no noise by default
    /// ```
    pub fn scale_gradient<P: Parameters>(&mut self, grad: &mut P) {
        if !self.core.active() {
            return;
        }
        for layer in 0..grad.slice_count() / 2 {
            self.core.begin_layer(layer);
            let s = self.core.std;
            if s == 0.0 {
                continue;
            }
            self.scale(grad.slice_mut(2 * layer));
            if self.core.biases {
                self.scale(grad.slice_mut(2 * layer + 1));
            }
        }
    }
}

/// `clean·(1 + std·z)`.
#[inline(always)]
fn times(c: f32, s: f32, z: f32) -> f32 {
    c * (1.0 + s * z)
}

impl Perturbation for MultiplicativeNoise {
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
        self.core.perturb(clean, out, times);
    }

    #[inline]
    fn bias(&mut self, clean: &[f32], out: &mut [f32]) {
        self.core.perturb_bias(clean, out, times);
    }
}
