//! Additive weight noise sampled through the pre-activations (local
//! reparameterisation, Kingma, Salimans & Welling 2015).

use super::layer_noise::LayerNoise;
use super::weight_noise_config::WeightNoiseConfig;
use crate::kernels::sq_norm;
use crate::perturbation::Perturbation;

/// Additive weight noise, sampled as pre-activation noise.
///
/// With `W̃ = W + E`, `E` i.i.d. `N(0, η)`, a dense layer's pre-activation for
/// one input `a` is exactly `z ~ N(W a + b, η(‖a‖² + [bias noisy]) I)`
/// (`docs/theory.md` §5). This mode draws those OUT normals directly
/// (`z = W a + b + √(η(‖a‖²+c))·ξ`) instead of IN·OUT weight perturbations.
///
/// What changes compared with [`AdditiveNoise`](crate::AdditiveNoise):
/// - For one sample nothing changes in distribution: the rows of `E` are
///   disjoint, so the outputs of a layer are independent given its input, and
///   each layer's noise is independent of the others'; the network's output
///   has exactly the law it has under sampled weights. What is dropped is the
///   correlation *between samples* that share one weight draw, so this mode is
///   per-sample only ([`Redraw::PerBatch`](crate::Redraw) is rejected).
/// - The gradient estimator is different (same expectation, usually lower
///   variance): the weight gradient is `δ aᵀ` with `δ` back-propagated through
///   the clean weights, and the noise term's derivative
///   `√η·ξ·a/√(‖a‖²+c)` flows back to `a` in
///   [`pre_activation_backward`](Perturbation::pre_activation_backward).
/// - It costs OUT draws per layer instead of IN·OUT.
///
/// Multiplicative noise has no such exact form here (its variance depends on
/// `W`), so this mode is additive only.
///
/// # Examples
///
/// ```
/// use noisereg::{LocalReparamNoise, NoiseKind, Perturbation, WeightNoiseConfig};
/// let cfg = WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.01).unwrap();
/// let mut noise = LocalReparamNoise::new(&cfg, 5);
/// assert!(!noise.perturbs_weights()); // the weights are read clean
/// let a = [3.0f32, 4.0];
/// let mut z = [0.0f32; 3];
/// noise.begin_layer(0);
/// noise.pre_activation(0, &a, &mut z); // z ~ N(0, 0.01·25)
/// assert!(z.iter().all(|v| v.abs() < 0.5 * 5.8));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LocalReparamNoise {
    pub(crate) core: LayerNoise,
}

impl LocalReparamNoise {
    /// Local-reparameterisation noise with `config`'s per-layer η (its kind is
    /// ignored), seeded with `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{LocalReparamNoise, NoiseKind, Perturbation, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.01).unwrap();
    /// let noise = LocalReparamNoise::new(&cfg, 1);
    /// assert!(!noise.perturbs_weights());
    /// ```
    pub fn new(config: &WeightNoiseConfig, seed: u64) -> Self {
        Self {
            core: LayerNoise::new(config, seed),
        }
    }

    /// `‖a‖² + [bias noisy]`.
    #[inline]
    fn spread(&self, a_in: &[f32]) -> f32 {
        sq_norm(a_in) + if self.core.biases { 1.0 } else { 0.0 }
    }
}

impl Perturbation for LocalReparamNoise {
    #[inline]
    fn begin_layer(&mut self, layer: usize) {
        self.core.begin_layer(layer);
    }

    #[inline]
    fn begin_step(&mut self, step: usize) {
        self.core.begin_step(step);
    }

    #[inline]
    fn pre_activation(&mut self, _layer: usize, a_in: &[f32], z: &mut [f32]) {
        let s = self.core.std;
        if s == 0.0 {
            return;
        }
        let scale = s * libm::sqrtf(self.spread(a_in));
        self.core.stream.for_each_chunk(z.len(), |at, xi| {
            let z = z.get_mut(at..at + xi.len()).unwrap_or(&mut []);
            for (z, &xi) in z.iter_mut().zip(xi) {
                *z += scale * xi;
            }
        });
    }

    #[inline]
    fn pre_activation_backward(
        &mut self,
        _layer: usize,
        a_in: &[f32],
        delta: &[f32],
        g_a: &mut [f32],
    ) {
        let s = self.core.std;
        if s == 0.0 {
            return;
        }
        let root = libm::sqrtf(self.spread(a_in));
        if root == 0.0 {
            return;
        }
        let mut t = 0.0;
        self.core.stream.for_each_chunk(delta.len(), |at, xi| {
            let d = delta.get(at..at + xi.len()).unwrap_or(&[]);
            for (&d, &xi) in d.iter().zip(xi) {
                t += d * xi;
            }
        });
        let k = s * t / root;
        for (g, &a) in g_a.iter_mut().zip(a_in) {
            *g += k * a;
        }
    }
}
