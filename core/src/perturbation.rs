//! The hook through which weight noise reaches a network's passes.

/// Supplies the weights a forward or backward pass actually uses.
///
/// Networks call these methods while they run, so noise is drawn on the fly,
/// a row at a time: no copy of the weights and no noise buffer the size of the
/// weights is ever needed. The contract a network keeps, in every pass
/// (forward, backward, and any R-operator pass):
///
/// 1. Layers are numbered from the input, starting at 0.
/// 2. Before it touches layer `l`'s parameters in a pass, the network calls
///    [`begin_layer(l)`](Perturbation::begin_layer).
/// 3. Within a layer, when [`perturbs_weights`](Perturbation::perturbs_weights)
///    is true, it asks for the rows of the weight matrix in ascending order
///    `0..OUT` through [`weight_row`](Perturbation::weight_row), then (forward
///    only) the bias through [`bias`](Perturbation::bias). A backward pass asks
///    for the same rows in the same order, so an implementation that restarts a
///    cloned generator in `begin_layer` reproduces the forward draw exactly.
/// 4. In the forward pass, after `z = W̃a + b̃` is computed and before the
///    activation, it calls [`pre_activation`](Perturbation::pre_activation);
///    in the backward pass, after `g_a = W̃ᵀδ` is computed, it calls
///    [`pre_activation_backward`](Perturbation::pre_activation_backward)
///    (local reparameterisation adds its term there).
///
/// [`Clean`] implements every method as a no-op and compiles away.
pub trait Perturbation {
    /// Whether [`weight_row`](Perturbation::weight_row) and
    /// [`bias`](Perturbation::bias) change anything; when false the network
    /// reads its clean parameters directly.
    fn perturbs_weights(&self) -> bool {
        false
    }

    /// Whether this perturbation changes nothing in any pass (so the
    /// networks may take their clean batch paths). `false` unless overridden;
    /// [`Clean`] returns `true`.
    fn is_clean(&self) -> bool {
        false
    }

    /// Called before layer `layer`'s parameters are used in a pass.
    fn begin_layer(&mut self, layer: usize) {
        let _ = layer;
    }

    /// Called by recurrent networks before the layers of unrolled step
    /// `step` when each step gets its own draw (per-step noise; per-sequence
    /// noise calls it with 0). Keyed noise mixes the step into its stream
    /// key, step 0 being the key feedforward networks use. No-op by default.
    fn begin_step(&mut self, step: usize) {
        let _ = step;
    }

    /// Writes the weights to use for the next row into `out` (same length as
    /// `clean`).
    fn weight_row(&mut self, clean: &[f32], out: &mut [f32]) {
        out.copy_from_slice(clean);
    }

    /// Writes the bias to use into `out` (same length as `clean`).
    fn bias(&mut self, clean: &[f32], out: &mut [f32]) {
        out.copy_from_slice(clean);
    }

    /// Adjusts the pre-activation `z` of `layer` computed from input `a_in`.
    fn pre_activation(&mut self, layer: usize, a_in: &[f32], z: &mut [f32]) {
        let _ = (layer, a_in, z);
    }

    /// Adds the perturbation's part of `∂z/∂a_in` to `g_a` given `δ = ∂f/∂z`.
    fn pre_activation_backward(
        &mut self,
        layer: usize,
        a_in: &[f32],
        delta: &[f32],
        g_a: &mut [f32],
    ) {
        let _ = (layer, a_in, delta, g_a);
    }
}

/// No perturbation: the clean network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clean;

impl Perturbation for Clean {
    fn is_clean(&self) -> bool {
        true
    }
}
