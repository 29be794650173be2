//! Additive weight noise sampled through the pre-activations (local
//! reparameterisation, Kingma, Salimans & Welling 2015).

use super::config::{MAX_LAYERS, WeightNoiseConfig};
use super::layer::LayerNoise;
use crate::kernels::sq_norm;
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;
use crate::train::parameter_ops::CopyChecked;

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
/// - It costs OUT draws per layer instead of IN·OUT: one stream per draw
///   (stream 0 of the draw), whose normals go to the layers in order, layer
///   `l` taking the `OUT_l` after those of layers `0..l` (65 on 16→32→32→1).
///   The forward pass reads it once, in order; the backward pass, which runs
///   the layers in reverse, restarts it and skips to the layer's place. A
///   trainer with a scratch network reads it once per sample into the
///   scratch network's bias slices instead (the same values).
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
    /// Where each layer's normals start in the draw's stream (set by the
    /// forward pass).
    offsets: [u32; MAX_LAYERS + 1],
    /// Normals of the stream read so far.
    pos: u32,
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
            offsets: [0; MAX_LAYERS + 1],
            pos: 0,
        }
    }

    /// Restarts the draw's stream.
    #[inline]
    fn restart(&mut self) {
        self.core.stream.restart(0);
        self.pos = 0;
    }

    /// Positions the stream at layer `layer`'s first normal.
    #[inline]
    fn seek(&mut self, layer: usize) {
        let target = self.offsets.get(layer).copied().unwrap_or(0);
        if target < self.pos || !self.core.stream.is_at(0) {
            self.restart();
        }
        let mut skip = [0.0f32; 32];
        while self.pos < target {
            let k = ((target - self.pos) as usize).min(skip.len());
            self.core.stream.fill(skip.get_mut(..k).unwrap_or(&mut []));
            self.pos += k as u32;
        }
    }

    /// Writes the current draw's normals into `xi`'s bias slices (layer `l`'s
    /// into slice `2l + 1`), the values the passes would read.
    pub(crate) fn draw_into<P: Parameters>(&mut self, xi: &mut P) {
        self.restart();
        // Up to 128 normals: one fill of whole groups of 16 (65 → 80 drawn),
        // then copied out; the same values as filling slice by slice.
        let layers = xi.slice_count() / 2;
        let total: usize = (0..layers).map(|l| xi.slice(2 * l + 1).len()).sum();
        let mut buf = [0.0f32; 128];
        if let Some(all) = buf.get_mut(..total.next_multiple_of(16)) {
            self.core.stream.fill(all);
            let mut at = 0;
            for layer in 0..layers {
                let b = xi.slice_mut(2 * layer + 1);
                b.copy_from_slice_checked(all.get(at..at + b.len()).unwrap_or(&[]));
                at += b.len();
            }
            // The stream sits at a group boundary past `total`: the next read restarts.
            self.pos = u32::MAX;
            return;
        }
        for layer in 0..layers {
            let b = xi.slice_mut(2 * layer + 1);
            self.core.stream.fill(b);
            self.pos += b.len() as u32;
        }
    }

    /// The signed standard deviation of every layer and whether biases are noisy.
    pub(crate) fn stds(&self) -> ([f32; MAX_LAYERS], bool) {
        (
            core::array::from_fn(|l| self.core.layer_std(l)),
            self.core.biases,
        )
    }
}

/// `√(‖a‖² + [bias noisy])`.
#[inline]
fn root(biases: bool, a_in: &[f32]) -> f32 {
    crate::nn::sqrt_f32(sq_norm(a_in) + if biases { 1.0 } else { 0.0 })
}

/// `z += s·√spread·ξ` over consecutive pieces of ξ.
#[inline(always)]
fn add_forward(s: f32, root: f32, z: &mut [f32], xi: impl FnOnce(&mut dyn FnMut(usize, &[f32]))) {
    let scale = s * root;
    xi(&mut |at, xi| {
        let z = z.get_mut(at..at + xi.len()).unwrap_or(&mut []);
        for (z, &xi) in z.iter_mut().zip(xi) {
            *z += scale * xi;
        }
    });
}

/// `g_a += s·(δ·ξ)·a/√spread`.
#[inline(always)]
fn add_backward(
    s: f32,
    root: f32,
    a_in: &[f32],
    delta: &[f32],
    g_a: &mut [f32],
    xi: impl FnOnce(&mut dyn FnMut(usize, &[f32])),
) {
    if root == 0.0 {
        return;
    }
    let mut t = 0.0;
    xi(&mut |at, xi| {
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

impl Perturbation for LocalReparamNoise {
    #[inline]
    fn begin_layer(&mut self, layer: usize) {
        self.core.set_layer(layer);
    }

    #[inline]
    fn begin_step(&mut self, step: usize) {
        self.core.begin_step(step);
    }

    #[inline]
    fn pre_activation(&mut self, layer: usize, a_in: &[f32], z: &mut [f32]) {
        if layer == 0 {
            self.restart();
        }
        let start = self.offsets.get(layer).copied().unwrap_or(0);
        if let Some(next) = self.offsets.get_mut(layer + 1) {
            *next = start.saturating_add(z.len() as u32);
        }
        let s = self.core.std;
        if s == 0.0 {
            return;
        }
        self.seek(layer);
        let n = z.len();
        let (biases, stream) = (self.core.biases, &mut self.core.stream);
        add_forward(s, root(biases, a_in), z, |f| stream.for_each_chunk(n, f));
        self.pos += n as u32;
    }

    #[inline]
    fn pre_activation_backward(
        &mut self,
        layer: usize,
        a_in: &[f32],
        delta: &[f32],
        g_a: &mut [f32],
    ) {
        let s = self.core.std;
        if s == 0.0 {
            return;
        }
        self.seek(layer);
        let n = delta.len();
        let (biases, stream) = (self.core.biases, &mut self.core.stream);
        let r = root(biases, a_in);
        add_backward(s, r, a_in, delta, g_a, |f| stream.for_each_chunk(n, f));
        self.pos += n as u32;
    }
}

/// Local reparameterisation with the sample's normals already drawn into a
/// scratch network's bias slices ([`LocalReparamNoise::draw_into`]): one
/// stream start and `Σ OUT_l` normals per sample.
pub(crate) struct LocalPass<'a, P> {
    pub(crate) xi: &'a P,
    pub(crate) stds: [f32; MAX_LAYERS],
    pub(crate) biases: bool,
    /// `√(‖a‖² + c)` of each layer, from the forward pass for the backward.
    pub(crate) roots: [f32; MAX_LAYERS],
}

impl<P: Parameters> Perturbation for LocalPass<'_, P> {
    #[inline]
    fn pre_activation(&mut self, layer: usize, a_in: &[f32], z: &mut [f32]) {
        let s = self.stds.get(layer).copied().unwrap_or(0.0);
        if s == 0.0 {
            return;
        }
        let xi = self.xi.slice(2 * layer + 1);
        let r = root(self.biases, a_in);
        if let Some(slot) = self.roots.get_mut(layer) {
            *slot = r;
        }
        add_forward(s, r, z, |f| f(0, xi));
    }

    #[inline]
    fn pre_activation_backward(
        &mut self,
        layer: usize,
        a_in: &[f32],
        delta: &[f32],
        g_a: &mut [f32],
    ) {
        let s = self.stds.get(layer).copied().unwrap_or(0.0);
        if s == 0.0 {
            return;
        }
        let xi = self.xi.slice(2 * layer + 1);
        let r = match self.roots.get(layer) {
            Some(&r) => r,
            None => root(self.biases, a_in),
        };
        add_backward(s, r, a_in, delta, g_a, |f| f(0, xi));
    }
}
