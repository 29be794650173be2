//! A multilayer perceptron whose widths, depth and activation are chosen at
//! run time.
//!
//! Storage is on the heap (one `Vec` per weight matrix and bias). A `DynMlp`
//! is a [`LayerStack`](noisereg::LayerStack): it supplies the walks over its layers (`stack.rs`)
//! and runs the core's passes ([`noisereg::passes`]), the ones every
//! const-generic `Network` runs, so it gives the bits of `Mlp1`/`Mlp2` of the
//! same sizes by construction (the unit tests and `tests/cli.rs` check it).

use noisereg::{ActivationKind, DenseRef, Error, Init, Parameters};
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
}

pub(crate) fn check(left: usize, right: usize) -> Result<(), Error> {
    if left == right {
        Ok(())
    } else {
        Err(Error::LengthMismatch { left, right })
    }
}
