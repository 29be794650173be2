//! Run-time choice among the weight-noise perturbations, with the schedule.

use super::additive::AdditiveNoise;
use super::config::{Estimator, NoiseKind, Redraw, WeightNoiseConfig};
use super::layer::LayerNoise;
use super::local_reparam::LocalReparamNoise;
use super::multiplicative::MultiplicativeNoise;
use crate::error::Error;
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;
use crate::train::validate::finite_non_negative;

/// The weight-noise [`Perturbation`] a [`WeightNoiseConfig`] describes.
///
/// # Memory
///
/// The whole state is `size_of::<WeightNoise>()` = 456 bytes (on 64-bit and
/// 32-bit ARM alike, `u64` being 8-aligned on both): the 72-byte config, a
/// working copy of the per-layer η (32), the eight xoshiro128++ lane states
/// of the current layer's stream (128), 32 normals drawn ahead (128),
/// seed, draw counter and stream key (24), the current layer's scale, sign
/// and flags, the variant tag, and (in every variant's space, used by local
/// reparameterisation) where each layer's normals start in the sample's
/// stream and how far it was read (40). Rows are drawn into the network's
/// row buffer; multiplicative gradient scaling and local reparameterisation
/// use a 128-byte stack buffer. Nothing grows with the network: each layer's noise is regenerated
/// from a stream restarted in [`begin_layer`](Perturbation::begin_layer).
///
/// # Examples
///
/// ```
/// use noisereg::{NoiseKind, Perturbation, WeightNoise, WeightNoiseConfig};
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
/// let mut noise = WeightNoise::new(&cfg, 9);
/// let clean = [0.5f32; 3];
/// let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
/// noise.begin_layer(1);
/// noise.weight_row(&clean, &mut a);
/// noise.next_draw();
/// noise.begin_layer(1);
/// noise.weight_row(&clean, &mut b);
/// assert_ne!(a, b); // a new draw
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WeightNoise {
    config: WeightNoiseConfig,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Additive(AdditiveNoise),
    Multiplicative(MultiplicativeNoise),
    LocalReparam(LocalReparamNoise),
}

impl WeightNoise {
    /// The perturbation for `config`, seeded with `seed`, at step 0 of its
    /// schedule.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{NoiseKind, Perturbation, WeightNoise, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    /// let noise = WeightNoise::new(&cfg, 42);
    /// assert!(noise.perturbs_weights() && noise.needs_gradient_scaling());
    /// assert_eq!(noise.draw_index(), 0);
    /// ```
    pub fn new(config: &WeightNoiseConfig, seed: u64) -> Self {
        let kind = match (config.kind(), config.estimator()) {
            (NoiseKind::Multiplicative, e) if e != Estimator::LocalReparam => {
                Kind::Multiplicative(MultiplicativeNoise::new(config, seed))
            }
            (_, Estimator::LocalReparam) => {
                Kind::LocalReparam(LocalReparamNoise::new(config, seed))
            }
            _ => Kind::Additive(AdditiveNoise::new(config, seed)),
        };
        let mut noise = Self {
            config: *config,
            kind,
        };
        noise.set_step(0);
        noise
    }

    fn core(&self) -> &LayerNoise {
        match &self.kind {
            Kind::Additive(n) => &n.core,
            Kind::Multiplicative(n) => &n.core,
            Kind::LocalReparam(n) => &n.core,
        }
    }

    fn core_mut(&mut self) -> &mut LayerNoise {
        match &mut self.kind {
            Kind::Additive(n) => &mut n.core,
            Kind::Multiplicative(n) => &mut n.core,
            Kind::LocalReparam(n) => &mut n.core,
        }
    }

    /// The settings.
    pub fn config(&self) -> &WeightNoiseConfig {
        &self.config
    }

    /// Applies the schedule's factor for training step `step`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{EtaSchedule, NoiseKind, WeightNoise, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap().with_schedule(EtaSchedule::warm_up(3));
    /// let mut noise = WeightNoise::new(&cfg, 1);
    /// assert!(!noise.is_active());
    /// noise.set_step(3);
    /// assert!(noise.is_active());
    /// ```
    pub fn set_step(&mut self, step: u64) {
        let f = self.config.schedule().factor(step);
        self.core_mut().set_factor(f);
    }

    /// Sets η of every layer to `eta` (variance) at schedule factor 1, keeping
    /// kind, parameters and seed; used to evaluate at a given η.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `eta` unless every η is finite and
    /// `≥ 0`; the noise is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{NoiseKind, Perturbation, WeightNoise, WeightNoiseConfig, MAX_LAYERS};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.0).unwrap();
    /// let mut noise = WeightNoise::new(&cfg, 1);
    /// assert!(!noise.perturbs_weights());
    /// noise.set_eta(&[0.01; MAX_LAYERS])?;
    /// assert!(noise.perturbs_weights());
    /// assert!(noise.set_eta(&[-1.0; MAX_LAYERS]).is_err());
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    pub fn set_eta(&mut self, eta: &[f32; crate::noise::MAX_LAYERS]) -> Result<(), Error> {
        for &e in eta {
            finite_non_negative("eta", e)?;
        }
        let core = self.core_mut();
        core.set_eta(eta);
        core.set_factor(1.0);
        Ok(())
    }

    /// Moves to the next independent draw of ε.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{NoiseKind, Perturbation, WeightNoise, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    /// let mut noise = WeightNoise::new(&cfg, 1);
    /// let draw = |n: &mut WeightNoise| {
    ///     let mut out = [0.0f32; 2];
    ///     n.begin_layer(0);
    ///     n.weight_row(&[1.0, 1.0], &mut out);
    ///     out
    /// };
    /// let first = draw(&mut noise);
    /// noise.next_draw();
    /// assert_eq!(noise.draw_index(), 1);
    /// assert_ne!(draw(&mut noise), first);
    /// noise.set_draw_index(0);
    /// assert_eq!(draw(&mut noise), first);
    /// ```
    #[inline]
    pub fn next_draw(&mut self) {
        self.core_mut().stream.advance();
    }

    /// Index of the current draw (how many times [`next_draw`](Self::next_draw) ran).
    pub fn draw_index(&self) -> u64 {
        self.core().stream.draw()
    }

    /// Jumps to draw number `draw` (to restore a state).
    pub fn set_draw_index(&mut self, draw: u64) {
        self.core_mut().stream.set_draw(draw);
    }

    /// Uses `−ε` instead of `ε` (the other half of an antithetic pair).
    pub fn set_negated(&mut self, negated: bool) {
        self.core_mut().set_negated(negated);
    }

    /// Whether any parameter gets noise at the current step.
    pub fn is_active(&self) -> bool {
        self.core().active()
    }

    /// The gradient estimator.
    pub fn estimator(&self) -> Estimator {
        self.config.estimator()
    }

    /// Writes the current draw's `ε` (`√η_l·ξ` per parameter, the values
    /// [`perturb_parameters`](Self::perturb_parameters) adds to additive
    /// weights; 0 on clean biases and where η = 0) into `eps`.
    pub(crate) fn draw_eps<P: Parameters>(&mut self, eps: &mut P) {
        let biases = self.core().biases;
        for layer in 0..eps.slice_count() / 2 {
            let core = self.core_mut();
            core.begin_layer(layer);
            core.fill_eps(eps.slice_mut(2 * layer));
            if biases {
                core.fill_eps(eps.slice_mut(2 * layer + 1));
            } else {
                eps.slice_mut(2 * layer + 1).fill(0.0);
            }
        }
    }

    /// Local reparameterisation: the current draw's normals into `xi`'s
    /// bias slices and the pass that reads them; `None` for other kinds.
    pub(crate) fn local_pass<'a, P: Parameters>(
        &mut self,
        xi: &'a mut P,
    ) -> Option<super::local_reparam::LocalPass<'a, P>> {
        let Kind::LocalReparam(n) = &mut self.kind else {
            return None;
        };
        n.draw_into(xi);
        let (stds, biases) = n.stds();
        Some(super::local_reparam::LocalPass {
            xi,
            stds,
            biases,
            roots: [0.0; crate::noise::MAX_LAYERS],
        })
    }

    /// The seed of the noise stream (Flipout derives its signs from it).
    pub(crate) fn seed(&self) -> u64 {
        self.core().stream.seed()
    }

    /// Whether biases get noise.
    pub(crate) fn noisy_biases(&self) -> bool {
        self.core().biases
    }

    /// Whether the draw is shared by a whole mini-batch.
    pub fn per_batch(&self) -> bool {
        self.config.redraw() == Redraw::PerBatch
    }

    /// Whether the gradient at `θ̃` needs [`scale_gradient`](Self::scale_gradient)
    /// to become the gradient with respect to `θ` (multiplicative noise).
    pub fn needs_gradient_scaling(&self) -> bool {
        matches!(self.kind, Kind::Multiplicative(_)) && self.is_active()
    }

    /// Turns a gradient at `θ̃` into one with respect to `θ` (a no-op except
    /// for multiplicative noise; see [`MultiplicativeNoise::scale_gradient`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, NoiseKind, WeightNoise, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    /// let mut g = Dense::<2, 1>::zeroed();
    /// g.w = [[1.0, 2.0]];
    /// WeightNoise::new(&cfg, 42).scale_gradient(&mut g); // additive: no-op
    /// assert_eq!(g.w, [[1.0, 2.0]]);
    /// ```
    pub fn scale_gradient<P: Parameters>(&mut self, grad: &mut P) {
        if let Kind::Multiplicative(n) = &mut self.kind {
            n.scale_gradient(grad);
        }
    }

    /// Writes `θ̃` of the current draw into `noisy` (same shape as `clean`).
    ///
    /// Local reparameterisation perturbs pre-activations, not weights, so it
    /// copies `clean` unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, NoiseKind, WeightNoise, WeightNoiseConfig};
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    /// let mut noise = WeightNoise::new(&cfg, 42);
    /// let clean = Dense::<2, 1>::zeroed();
    /// let mut noisy = clean;
    /// noise.perturb_parameters(&clean, &mut noisy);
    /// assert_ne!(noisy.w, clean.w);
    /// assert_eq!(noisy.b, clean.b); // biases clean: noise on weights only
    /// ```
    pub fn perturb_parameters<P: Parameters>(&mut self, clean: &P, noisy: &mut P) {
        let biases = self.core().biases;
        let weights = self.perturbs_weights();
        for layer in 0..clean.slice_count() / 2 {
            self.begin_layer(layer);
            for i in [2 * layer, 2 * layer + 1] {
                let (c, n) = (clean.slice(i), noisy.slice_mut(i));
                if weights && (i % 2 == 0) {
                    self.weight_row(c, n);
                } else if weights && biases {
                    self.bias(c, n);
                } else {
                    crate::train::parameter_ops::CopyChecked::copy_from_slice_checked(n, c);
                }
            }
        }
    }
}

impl Perturbation for WeightNoise {
    #[inline]
    fn perturbs_weights(&self) -> bool {
        match &self.kind {
            Kind::Additive(n) => n.perturbs_weights(),
            Kind::Multiplicative(n) => n.perturbs_weights(),
            Kind::LocalReparam(n) => n.perturbs_weights(),
        }
    }

    #[inline]
    fn begin_layer(&mut self, layer: usize) {
        match &mut self.kind {
            Kind::LocalReparam(n) => n.begin_layer(layer),
            _ => self.core_mut().begin_layer(layer),
        }
    }

    #[inline]
    fn begin_step(&mut self, step: usize) {
        self.core_mut().begin_step(step);
    }

    #[inline]
    fn weight_row(&mut self, clean: &[f32], out: &mut [f32]) {
        match &mut self.kind {
            Kind::Additive(n) => n.weight_row(clean, out),
            Kind::Multiplicative(n) => n.weight_row(clean, out),
            Kind::LocalReparam(n) => n.weight_row(clean, out),
        }
    }

    #[inline]
    fn bias(&mut self, clean: &[f32], out: &mut [f32]) {
        match &mut self.kind {
            Kind::Additive(n) => n.bias(clean, out),
            Kind::Multiplicative(n) => n.bias(clean, out),
            Kind::LocalReparam(n) => n.bias(clean, out),
        }
    }

    #[inline]
    fn pre_activation(&mut self, layer: usize, a_in: &[f32], z: &mut [f32]) {
        if let Kind::LocalReparam(n) = &mut self.kind {
            n.pre_activation(layer, a_in, z);
        }
    }

    #[inline]
    fn pre_activation_backward(
        &mut self,
        layer: usize,
        a_in: &[f32],
        delta: &[f32],
        g_a: &mut [f32],
    ) {
        if let Kind::LocalReparam(n) = &mut self.kind {
            n.pre_activation_backward(layer, a_in, delta, g_a);
        }
    }
}
