//! The f64 side of the recurrent networks' tests: random networks and
//! sequences, f64 activations, comparisons, and a perturbation that records
//! every draw (tests/rnn.rs, tests/rnn_stacked.rs, tests/rnn_theory.rs).

use noisereg::{ActivationKind, Parameters, Perturbation, Sequence, WeightNoise};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

/// Uniform on `[−1, 1)` from the top 24 bits of a draw.
pub fn uniform(rng: &mut impl Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
}

/// Every parameter of `net` uniform on `[−0.8, 0.8)`, from `seed`.
pub fn fill_random<P: Parameters>(net: &mut P, seed: u64) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    for i in 0..net.slice_count() {
        for v in net.slice_mut(i) {
            *v = 0.8 * uniform(&mut rng);
        }
    }
}

/// A sequence of `T` steps of `N` values uniform on `[−1, 1)`.
pub fn random_seq<const T: usize, const N: usize>(rng: &mut impl Rng) -> Sequence<T, N> {
    let mut s = Sequence::<T, N>::zeros();
    for v in s.as_mut() {
        *v = uniform(rng);
    }
    s
}

/// `|a − b| ≤ rtol·|b| + atol·max|b|` elementwise.
#[track_caller]
pub fn assert_close(what: &str, a: &[f64], b: &[f64], rtol: f64, atol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-2);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= rtol * y.abs() + atol * scale,
            "{what}: element {i}: got {x}, want {y} (scale {scale})"
        );
    }
}

/// Every parameter, slice after slice, in f64.
pub fn flat<P: Parameters>(p: &P) -> Vec<f64> {
    (0..p.slice_count())
        .flat_map(|i| p.slice(i).iter().map(|&v| f64::from(v)))
        .collect()
}

/// The activation `k` in f64.
pub fn f64_f(k: ActivationKind, x: f64) -> f64 {
    match k {
        ActivationKind::Identity => x,
        ActivationKind::Tanh => x.tanh(),
        ActivationKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        ActivationKind::Relu => x.max(0.0),
        ActivationKind::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
    }
}

/// Records every row the network asks for, keyed by (step, layer).
pub struct Recorder {
    pub inner: WeightNoise,
    pub step: usize,
    pub layer: usize,
    pub rows: Vec<(usize, usize, Vec<f32>)>,
}

impl Recorder {
    /// Records the draws of `inner`.
    pub fn new(inner: WeightNoise) -> Self {
        Self {
            inner,
            step: 0,
            layer: 0,
            rows: Vec::new(),
        }
    }
}

impl Perturbation for Recorder {
    fn perturbs_weights(&self) -> bool {
        self.inner.perturbs_weights()
    }
    fn begin_step(&mut self, step: usize) {
        self.step = step;
        self.inner.begin_step(step);
    }
    fn begin_layer(&mut self, layer: usize) {
        self.layer = layer;
        self.inner.begin_layer(layer);
    }
    fn weight_row(&mut self, clean: &[f32], out: &mut [f32]) {
        self.inner.weight_row(clean, out);
        self.rows.push((self.step, self.layer, out.to_vec()));
    }
    fn bias(&mut self, clean: &[f32], out: &mut [f32]) {
        self.inner.bias(clean, out);
        self.rows.push((self.step, self.layer, out.to_vec()));
    }
}
