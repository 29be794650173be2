//! A multilayer perceptron whose widths, depth and activation are chosen at
//! run time.
//!
//! Storage is on the heap (one `Vec` per weight matrix and bias). A `DynMlp`
//! is a [`LayerStack`](noisereg::LayerStack): it supplies the walks over its layers (`stack.rs`)
//! and runs the core's passes ([`noisereg::passes`]), the ones every
//! const-generic `Network` runs, so it gives the bits of `Mlp1`/`Mlp2` of the
//! same sizes by construction (the unit tests and `tests/cli.rs` check it).

use noisereg::{ActivationKind, DenseRef, Error, Init, NoiseOn, Parameters, Perturbation, passes};
use rand_core::Rng;

mod model_impl;
mod stack;
#[cfg(test)]
mod tests;

/// A dense network sized at run time: `sizes[0] → sizes[1] → … → sizes[L]`,
/// activation `acts[l]` on layer `l` (the last one usually `Identity`).
#[derive(Debug, Clone, PartialEq)]
pub struct DynMlp {
    sizes: Vec<usize>,
    acts: Vec<ActivationKind>,
    /// Slice `2l`: weights of layer `l` (row-major, out × in); `2l + 1`: bias.
    params: Vec<Vec<f32>>,
}

/// Per-layer values of one sample (the run-time twin of `DenseCache`).
#[derive(Debug, Clone, Default)]
pub struct DynCache {
    layers: Vec<LayerValues>,
}

/// One layer's fields of [`DynCache`].
#[derive(Debug, Clone, Default)]
struct LayerValues {
    x: Vec<f32>,
    z: Vec<f32>,
    a: Vec<f32>,
    g: Vec<f32>,
    delta: Vec<f32>,
    rz: Vec<f32>,
    ra: Vec<f32>,
}

impl Parameters for DynMlp {
    fn slice_count(&self) -> usize {
        self.params.len()
    }

    fn slice(&self, i: usize) -> &[f32] {
        self.params.get(i).map_or(&[], Vec::as_slice)
    }

    fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        match self.params.get_mut(i) {
            Some(v) => v.as_mut_slice(),
            None => &mut [],
        }
    }
}

impl DynMlp {
    /// A zeroed network with layer widths `sizes` (input first) and one
    /// activation per layer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if a width is zero, there are fewer than
    /// two widths, or `acts` does not have one entry per layer.
    pub fn zeroed(sizes: &[usize], acts: &[ActivationKind]) -> Result<Self, Error> {
        if sizes.len() < 2 || sizes.contains(&0) || acts.len() != sizes.len() - 1 {
            return Err(Error::InvalidParameter {
                name: "layer sizes",
                requirement: "at least two positive widths and one activation per layer",
            });
        }
        let mut params = Vec::with_capacity(2 * acts.len());
        for w in sizes.windows(2) {
            params.push(vec![0.0; w[0] * w[1]]);
            params.push(vec![0.0; w[1]]);
        }
        Ok(Self {
            sizes: sizes.to_vec(),
            acts: acts.to_vec(),
            params,
        })
    }

    /// An MLP `inputs → hidden… → outputs`, `hidden_act` on hidden layers and
    /// a linear output layer.
    ///
    /// # Errors
    ///
    /// As [`zeroed`](Self::zeroed).
    pub fn mlp(
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        hidden_act: ActivationKind,
    ) -> Result<Self, Error> {
        let mut sizes = vec![inputs];
        sizes.extend_from_slice(hidden);
        sizes.push(outputs);
        let mut acts = vec![hidden_act; hidden.len()];
        acts.push(ActivationKind::Identity);
        Self::zeroed(&sizes, &acts)
    }

    /// Layer widths, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Activation of each layer.
    pub fn activations(&self) -> &[ActivationKind] {
        &self.acts
    }

    /// Number of dense layers.
    pub fn depth(&self) -> usize {
        self.acts.len()
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// A copy with every parameter zero.
    pub fn zeros_like(&self) -> Self {
        let mut z = self.clone();
        z.fill_zero();
        z
    }

    /// Sets every parameter to zero.
    pub fn fill_zero(&mut self) {
        for p in &mut self.params {
            p.fill(0.0);
        }
    }

    /// A zeroed cache sized for this network.
    pub(crate) fn zeroed_cache(&self) -> DynCache {
        let layers = self.sizes.windows(2).map(|w| {
            let out = vec![0.0; w[1]];
            LayerValues {
                x: vec![0.0; w[0]],
                z: out.clone(),
                a: out.clone(),
                g: out.clone(),
                delta: out.clone(),
                rz: out.clone(),
                ra: out,
            }
        });
        DynCache {
            layers: layers.collect(),
        }
    }

    fn layer(&self, l: usize) -> DenseRef<'_, ActivationKind> {
        // Sizes are consistent by construction, so `new` cannot fail.
        DenseRef::new(
            &self.params[2 * l],
            &self.params[2 * l + 1],
            self.sizes[l],
            self.acts[l],
        )
        .expect("consistent layer sizes")
    }

    /// Draws every layer's weights with `init` (biases zero), layer by layer
    /// from the input, as the const-generic `Network::init` does.
    pub fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        for l in 0..self.depth() {
            let n_in = self.sizes[l];
            let (w, b) = self.params.split_at_mut(2 * l + 1);
            init.fill(n_in, &mut w[2 * l], &mut b[0], rng);
        }
    }

    /// Clean forward pass without a cache (the core's `forward_clean`).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `y` has the wrong width.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        let mut cur = x.to_vec();
        for l in 0..self.depth() {
            let mut next = vec![0.0; self.sizes[l + 1]];
            self.layer(l).forward_clean(&cur, &mut next)?;
            cur = next;
        }
        if y.len() != cur.len() {
            return Err(Error::LengthMismatch {
                left: y.len(),
                right: cur.len(),
            });
        }
        y.copy_from_slice(&cur);
        Ok(())
    }

    /// Forward pass through the perturbed network, keeping the per-layer
    /// values in `cache` ([`passes::forward_with`]).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `y` has the wrong width or `cache`
    /// is not this network's.
    pub fn forward_with<P: Perturbation>(
        &self,
        x: &[f32],
        p: &mut P,
        cache: &mut DynCache,
        y: &mut [f32],
    ) -> Result<(), Error> {
        passes::forward_with(self, x, p, cache, y)
    }

    /// Given `dy = ∂ℓ/∂y`, ADDS `∂ℓ/∂θ` at the weights of the forward pass
    /// in `cache` into `grad` ([`passes::backward_with`]).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `dy`, `cache` or `grad` does not fit.
    pub fn backward_with<P: Perturbation>(
        &self,
        cache: &DynCache,
        dy: &[f32],
        p: &mut P,
        grad: &mut Self,
    ) -> Result<(), Error> {
        passes::backward_with(self, cache, dy, p, grad)
    }

    /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x)‖²` at the clean weights
    /// ([`passes::penalty`]). Runs a clean forward pass into `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x` or `cache` does not fit.
    pub fn penalty(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut DynCache,
    ) -> Result<f32, Error> {
        passes::penalty(self, x, eta, on, cache)
    }

    /// Adds `∇_θ [dy·f + ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²]` into `grad` and
    /// returns the penalty, given a clean forward pass in `cache`
    /// ([`passes::penalty_grad_from_cache`]).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `dy`, `cache` or `grad` does not fit.
    pub fn penalty_grad_with(
        &self,
        cache: &mut DynCache,
        dy: &[f32],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        passes::penalty_grad_from_cache(self, cache, Some(dy), eta, on, grad)
    }

    /// Adds `H_f v`, the gradient of the penalty, into `grad` (clean forward
    /// pass into `cache` first); returns the penalty ([`passes::penalty_grad`]).
    ///
    /// # Errors
    ///
    /// As [`penalty_grad_with`](Self::penalty_grad_with).
    pub fn penalty_grad(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut DynCache,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        passes::penalty_grad(self, x, eta, on, cache, grad)
    }

    /// Exact `Σ_l η_l tr ∇²_{θ_l} f_k(x)` for every output `k`
    /// ([`passes::hessian_trace`]). Runs a clean forward pass into `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x`, `cache` or `traces` does not fit.
    pub fn hessian_trace(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        cache: &mut DynCache,
        traces: &mut [f32],
    ) -> Result<(), Error> {
        passes::hessian_trace(self, x, eta, on, cache, traces)
    }
}

pub(crate) fn check(left: usize, right: usize) -> Result<(), Error> {
    if left == right {
        Ok(())
    } else {
        Err(Error::LengthMismatch { left, right })
    }
}
