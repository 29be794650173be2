//! The two-layer stacked Elman network against an f64 unrolled reference:
//! forward, BPTT, the penalty of both noise semantics (central finite
//! differences in f64 on random networks), the weight-noise draws per
//! sequence and per step, the penalty's gradient and the exact trace,
//! training through the crate's trainer.
//!
//! The reference unrolls the network: every step `t` has its own copy of
//! the 5 noise layers' parameters, so "per sequence" (all copies moved
//! together) and "per step" (one copy moved) are both plain partial
//! derivatives of one f64 function.

use noisereg::{
    ActivationKind, Adam, Error, HalfSquaredError, Init, Model, ModelTrainer, NoiseKind, NoiseOn,
    Parameters, Perturbation, Readout, RecurrentNoise, Sequence, StackedElman, StackedElmanWork,
    WeightNoise, WeightNoiseConfig, clean_loss,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

mod common;
use common::rnn_reference::{Recorder, assert_close, f64_f, fill_random, flat, random_seq};

const D: usize = 2;
const H1: usize = 3;
const H2: usize = 2;
const K: usize = 2;
const T: usize = 4;
type Net = StackedElman<D, H1, H2, K, ActivationKind>;
type Work = StackedElmanWork<D, H1, H2, K, T>;
type X = Sequence<T, D>;

/// Layer l: (weights, columns, bias length) as the noise numbers them.
const LAYERS: [(usize, usize, usize); 5] = [
    (H1 * D, D, H1),
    (H1 * H1, H1, 0),
    (H2 * H1, H1, H2),
    (H2 * H2, H2, 0),
    (K * H2, H2, K),
];
const ETA: [f32; 5] = [0.3, 0.7, 0.5, 1.1, 0.2];

const ACTS: [ActivationKind; 3] = [
    ActivationKind::Tanh,
    ActivationKind::Sigmoid,
    ActivationKind::Softplus,
];

fn random_net(seed: u64, act: ActivationKind, noise: RecurrentNoise) -> Net {
    let mut net = Net::zeroed().with_noise(noise);
    net.act = act;
    fill_random(&mut net, seed);
    net
}

// ------------------------------------------------------ the f64 reference

/// The unrolled f64 network: `copies[t][l]` is layer l's weights then bias
/// at step t (the parameter slices `2l`, `2l + 1`).
#[derive(Clone, Debug)]
struct Ref {
    copies: Vec<Vec<Vec<f64>>>,
    act: ActivationKind,
    readout: Readout,
}

/// `out_i = b_i + Σ_j w[i·cols + j] a_j` for a layer block `w | b`.
fn affine(block: &[f64], cols: usize, rows: usize, a: &[f64], with_bias: bool) -> Vec<f64> {
    (0..rows)
        .map(|i| {
            let b = if with_bias {
                block[rows * cols + i]
            } else {
                0.0
            };
            b + (0..cols).map(|j| block[i * cols + j] * a[j]).sum::<f64>()
        })
        .collect()
}

impl Ref {
    fn of(net: &Net, readout: Readout) -> Self {
        let layer: Vec<Vec<f64>> = (0..5)
            .map(|l| {
                [2 * l, 2 * l + 1]
                    .iter()
                    .flat_map(|&i| net.slice(i).iter().map(|&v| f64::from(v)))
                    .collect()
            })
            .collect();
        Self {
            copies: vec![layer; T],
            act: net.act,
            readout,
        }
    }

    fn read_at(&self, t: usize) -> bool {
        self.readout == Readout::EveryStep || t + 1 == T
    }

    fn forward(&self, x: &[f32]) -> Vec<f64> {
        let (mut h1, mut h2) = (vec![0.0f64; H1], vec![0.0f64; H2]);
        let mut out = Vec::new();
        for t in 0..T {
            let c = &self.copies[t];
            let xt: Vec<f64> = (0..D).map(|j| f64::from(x[t * D + j])).collect();
            let a = affine(&c[0], D, H1, &xt, true);
            let r = affine(&c[1], H1, H1, &h1, false);
            h1 = (0..H1).map(|i| f64_f(self.act, a[i] + r[i])).collect();
            let a = affine(&c[2], H1, H2, &h1, true);
            let r = affine(&c[3], H2, H2, &h2, false);
            h2 = (0..H2).map(|i| f64_f(self.act, a[i] + r[i])).collect();
            if self.read_at(t) {
                out.extend(affine(&c[4], H2, K, &h2, true));
            }
        }
        out
    }

    /// `∂(dy·f)/∂θ` with every copy moved together (layer-major, the
    /// parameter slices' order), by central differences.
    fn grad_shared(&self, x: &[f32], dy: &[f64]) -> Vec<f64> {
        let eps = 1e-5;
        let mut g = Vec::new();
        for l in 0..5 {
            for i in 0..self.copies[0][l].len() {
                let val = |d: f64| {
                    let mut r = self.clone();
                    for t in 0..T {
                        r.copies[t][l][i] += d;
                    }
                    r.forward(x).iter().zip(dy).map(|(f, s)| f * s).sum::<f64>()
                };
                g.push((val(eps) - val(-eps)) / (2.0 * eps));
            }
        }
        g
    }

    /// `∂f_j/∂θ_{l,i}` of copy `t` alone.
    fn grad_copy(&self, x: &[f32], j: usize, t: usize, l: usize, i: usize) -> f64 {
        let eps = 1e-5;
        let val = |d: f64| {
            let mut r = self.clone();
            r.copies[t][l][i] += d;
            r.forward(x)[j]
        };
        (val(eps) - val(-eps)) / (2.0 * eps)
    }

    /// The penalty `Σ_j Σ_l η_l ‖∇_{θ_l} f_j‖²` (biases weighted by β), per
    /// sequence (copies together) or per step (sum over copies).
    fn penalty(&self, x: &[f32], eta: &[f32], on: NoiseOn, noise: RecurrentNoise) -> f64 {
        let beta = if on == NoiseOn::WeightsAndBiases {
            1.0
        } else {
            0.0
        };
        let n = self.forward(x).len();
        let mut total = 0.0;
        for j in 0..n {
            for (l, &(nw, _, nb)) in LAYERS.iter().enumerate() {
                for i in 0..nw + nb {
                    let w = f64::from(eta[l]) * if i < nw { 1.0 } else { beta };
                    if w == 0.0 {
                        continue;
                    }
                    match noise {
                        RecurrentNoise::PerSequence => {
                            let g: f64 = (0..T).map(|t| self.grad_copy(x, j, t, l, i)).sum();
                            total += w * g * g;
                        }
                        RecurrentNoise::PerStep => {
                            for t in 0..T {
                                let g = self.grad_copy(x, j, t, l, i);
                                total += w * g * g;
                            }
                        }
                    }
                }
            }
        }
        total
    }
}

fn outputs(net: &Net, x: &X, readout: Readout) -> Vec<f64> {
    match readout {
        Readout::Last => {
            let mut y = [0.0; K];
            Model::<X, [f32; K]>::forward(net, x, &mut y).unwrap();
            y.iter().map(|&v| f64::from(v)).collect()
        }
        Readout::EveryStep => {
            let mut y = Sequence::<T, K>::zeros();
            Model::<X, Sequence<T, K>>::forward(net, x, &mut y).unwrap();
            y.as_ref().iter().map(|&v| f64::from(v)).collect()
        }
    }
}

fn dy_for(readout: Readout) -> Vec<f32> {
    let n = if readout == Readout::Last { K } else { T * K };
    (0..n).map(|i| 0.6 - 0.25 * i as f32).collect()
}

/// The gradient the Model's backward pass adds for seed `dy`, with `p`.
fn model_grad<P: Perturbation>(net: &Net, x: &X, dy: &[f32], readout: Readout, p: &mut P) -> Net {
    let mut ws = Work::new();
    let mut grad = Net::zeroed();
    let mut p2 = Vec::<f32>::new();
    match readout {
        Readout::Last => {
            let mut y = [0.0; K];
            Model::<X, [f32; K]>::forward_with(net, x, p, &mut ws, &mut y).unwrap();
            p2.extend(y);
            let mut s = [0.0; K];
            s.copy_from_slice(dy);
            Model::<X, [f32; K]>::backward_with(net, &mut ws, &s, p, &mut grad).unwrap();
        }
        Readout::EveryStep => {
            let mut y = Sequence::<T, K>::zeros();
            Model::<X, Sequence<T, K>>::forward_with(net, x, p, &mut ws, &mut y).unwrap();
            let mut s = Sequence::<T, K>::zeros();
            s.as_mut().copy_from_slice(dy);
            Model::<X, Sequence<T, K>>::backward_with(net, &mut ws, &s, p, &mut grad).unwrap();
        }
    }
    grad
}

fn penalty(net: &Net, x: &X, on: NoiseOn, readout: Readout) -> f32 {
    let mut ws = Work::new();
    match readout {
        Readout::Last => Model::<X, [f32; K]>::penalty(net, x, &ETA, on, &mut ws).unwrap(),
        Readout::EveryStep => {
            Model::<X, Sequence<T, K>>::penalty(net, x, &ETA, on, &mut ws).unwrap()
        }
    }
}

// ------------------------------------------------------------- the passes

#[test]
fn forward_matches_f64_reference() {
    for (s, act) in ACTS.into_iter().enumerate() {
        for readout in [Readout::Last, Readout::EveryStep] {
            let net = random_net(s as u64, act, RecurrentNoise::PerSequence);
            let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(100 + s as u64));
            let want = Ref::of(&net, readout).forward(x.as_ref());
            assert_close(
                &format!("{act:?} {readout:?}"),
                &outputs(&net, &x, readout),
                &want,
                1e-5,
                1e-6,
            );
        }
    }
}

#[test]
fn bptt_matches_finite_differences() {
    for (s, act) in ACTS.into_iter().enumerate() {
        for readout in [Readout::Last, Readout::EveryStep] {
            let net = random_net(10 + s as u64, act, RecurrentNoise::PerSequence);
            let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(200 + s as u64));
            let dy = dy_for(readout);
            let grad = model_grad(&net, &x, &dy, readout, &mut noisereg::Clean);
            let dy64: Vec<f64> = dy.iter().map(|&v| f64::from(v)).collect();
            let want = Ref::of(&net, readout).grad_shared(x.as_ref(), &dy64);
            assert_close(
                &format!("{act:?} {readout:?}"),
                &flat(&grad),
                &want,
                1e-4,
                1e-5,
            );
        }
    }
}

/// `loss_grad_sum` is the summed backward pass: ∂/∂θ of ½‖y − f‖².
#[test]
fn loss_gradient_matches_finite_differences() {
    let net = random_net(31, ActivationKind::Tanh, RecurrentNoise::PerSequence);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(31);
    let xs: Vec<X> = (0..3).map(|_| random_seq::<T, D>(&mut rng)).collect();
    let ys: Vec<[f32; K]> = (0..3).map(|i| [0.3 * i as f32, -0.2]).collect();
    let mut grad = Net::zeroed();
    let mut total = 0.0;
    Model::<X, [f32; K]>::loss_grad_sum(&net, &HalfSquaredError, &xs, &ys, &mut grad, &mut total)
        .unwrap();
    let mut want = vec![0.0; flat(&net).len()];
    let mut want_total = 0.0;
    for (x, y) in xs.iter().zip(&ys) {
        let r = Ref::of(&net, Readout::Last);
        let f = r.forward(x.as_ref());
        let dy: Vec<f64> = f.iter().zip(y).map(|(f, &y)| f - f64::from(y)).collect();
        want_total += 0.5 * dy.iter().map(|d| d * d).sum::<f64>();
        for (w, g) in want.iter_mut().zip(r.grad_shared(x.as_ref(), &dy)) {
            *w += g;
        }
    }
    assert_close("loss gradient", &flat(&grad), &want, 1e-4, 1e-5);
    assert_close("loss", &[f64::from(total)], &[want_total], 1e-5, 1e-6);
}

#[test]
fn penalty_matches_unrolled_reference_for_both_semantics() {
    for (s, act) in ACTS.into_iter().enumerate() {
        for readout in [Readout::Last, Readout::EveryStep] {
            for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
                for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
                    let net = random_net(40 + s as u64, act, noise);
                    let x =
                        random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(300 + s as u64));
                    let got = f64::from(penalty(&net, &x, on, readout));
                    let want = Ref::of(&net, readout).penalty(x.as_ref(), &ETA, on, noise);
                    assert_close(
                        &format!("{act:?} {readout:?} {noise:?} {on:?}"),
                        &[got],
                        &[want],
                        1e-4,
                        1e-6,
                    );
                }
            }
        }
    }
}

impl Ref {
    /// `∂/∂θ [dy·f + ½ P]` (copies moved together), central differences of
    /// the f64 penalty.
    fn penalty_objective_grad(
        &self,
        x: &[f32],
        dy: &[f64],
        on: NoiseOn,
        noise: RecurrentNoise,
    ) -> Vec<f64> {
        let eps = 1e-3;
        let obj = |r: &Ref| {
            let f = r.forward(x);
            f.iter().zip(dy).map(|(f, d)| f * d).sum::<f64>() + 0.5 * r.penalty(x, &ETA, on, noise)
        };
        let mut g = Vec::new();
        for l in 0..5 {
            for i in 0..self.copies[0][l].len() {
                let val = |d: f64| {
                    let mut r = self.clone();
                    for t in 0..T {
                        r.copies[t][l][i] += d;
                    }
                    obj(&r)
                };
                g.push((val(eps) - val(-eps)) / (2.0 * eps));
            }
        }
        g
    }
}

/// `penalty_grad_with` adds `∇_θ [dy·f + ½ P]` (R-operator through time)
/// and returns P; `penalty_grad` is the same with `dy = 0`.
#[test]
fn penalty_gradient_matches_finite_differences() {
    let cases = [
        (
            ActivationKind::Tanh,
            Readout::Last,
            RecurrentNoise::PerSequence,
            NoiseOn::WeightsAndBiases,
        ),
        (
            ActivationKind::Sigmoid,
            Readout::EveryStep,
            RecurrentNoise::PerSequence,
            NoiseOn::Weights,
        ),
        (
            ActivationKind::Tanh,
            Readout::EveryStep,
            RecurrentNoise::PerStep,
            NoiseOn::WeightsAndBiases,
        ),
        (
            ActivationKind::Softplus,
            Readout::Last,
            RecurrentNoise::PerStep,
            NoiseOn::Weights,
        ),
    ];
    for (n, (act, readout, noise, on)) in cases.into_iter().enumerate() {
        let net = random_net(60 + n as u64, act, noise);
        let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(60 + n as u64));
        let dy = dy_for(readout);
        let mut ws = Work::new();
        let mut grad = Net::zeroed();
        let mut grad0 = Net::zeroed();
        let (pen, pen0) = match readout {
            Readout::Last => {
                let mut y = [0.0; K];
                Model::<X, [f32; K]>::forward_with(&net, &x, &mut noisereg::Clean, &mut ws, &mut y)
                    .unwrap();
                let s = [dy[0], dy[1]];
                let p =
                    Model::<X, [f32; K]>::penalty_grad_with(&net, &mut ws, &s, &ETA, on, &mut grad)
                        .unwrap();
                let p0 =
                    Model::<X, [f32; K]>::penalty_grad(&net, &x, &ETA, on, &mut ws, &mut grad0)
                        .unwrap();
                (p, p0)
            }
            Readout::EveryStep => {
                let mut y = Sequence::<T, K>::zeros();
                Model::<X, Sequence<T, K>>::forward_with(
                    &net,
                    &x,
                    &mut noisereg::Clean,
                    &mut ws,
                    &mut y,
                )
                .unwrap();
                let mut s = Sequence::<T, K>::zeros();
                s.as_mut().copy_from_slice(&dy);
                let p = Model::<X, Sequence<T, K>>::penalty_grad_with(
                    &net, &mut ws, &s, &ETA, on, &mut grad,
                )
                .unwrap();
                let p0 = Model::<X, Sequence<T, K>>::penalty_grad(
                    &net, &x, &ETA, on, &mut ws, &mut grad0,
                )
                .unwrap();
                (p, p0)
            }
        };
        let what = format!("{act:?} {readout:?} {noise:?} {on:?}");
        let want_pen = penalty(&net, &x, on, readout);
        assert_eq!(pen.to_bits(), want_pen.to_bits(), "{what}");
        assert_eq!(pen0.to_bits(), want_pen.to_bits(), "{what}");
        let r = Ref::of(&net, readout);
        let dy64: Vec<f64> = dy.iter().map(|&v| f64::from(v)).collect();
        let want = r.penalty_objective_grad(x.as_ref(), &dy64, on, noise);
        assert_close(&what, &flat(&grad), &want, 2e-3, 2e-4);
        let want0 = r.penalty_objective_grad(x.as_ref(), &vec![0.0; dy.len()], on, noise);
        assert_close(&format!("{what} dy = 0"), &flat(&grad0), &want0, 2e-3, 2e-4);
    }
}

/// The two semantics give different penalties (so the test above can tell
/// them apart).
#[test]
fn per_step_and_per_sequence_penalties_differ() {
    let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(5));
    let a = random_net(5, ActivationKind::Tanh, RecurrentNoise::PerSequence);
    let b = a.with_noise(RecurrentNoise::PerStep);
    let (pa, pb) = (
        penalty(&a, &x, NoiseOn::Weights, Readout::EveryStep),
        penalty(&b, &x, NoiseOn::Weights, Readout::EveryStep),
    );
    assert!((pa - pb).abs() > 1e-3 * pa.abs(), "{pa} vs {pb}");
}

/// Per sequence, the seeded penalties of the unit seeds sum to the penalty.
#[test]
fn seeded_penalty_sums_to_the_penalty() {
    for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
        let net = random_net(6, ActivationKind::Sigmoid, noise);
        let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(6));
        let on = NoiseOn::WeightsAndBiases;
        let mut ws = Work::new();
        let mut y = [0.0; K];
        let mut sum = 0.0;
        for j in 0..K {
            Model::<X, [f32; K]>::forward_with(&net, &x, &mut noisereg::Clean, &mut ws, &mut y)
                .unwrap();
            let mut seed = [0.0; K];
            seed[j] = 1.0;
            sum += Model::<X, [f32; K]>::seeded_penalty_with(&net, &mut ws, &seed, &ETA, on, None)
                .unwrap();
        }
        let want = penalty(&net, &x, on, Readout::Last);
        assert!((sum - want).abs() <= 1e-5 * want.abs(), "{sum} vs {want}");
    }
}

impl Ref {
    /// `Σ_l η_l tr ∇²f_j` over the noisy parameters (per step: the diagonal
    /// blocks of the copies), second differences.
    fn trace(&self, x: &[f32], j: usize, on: NoiseOn, noise: RecurrentNoise) -> f64 {
        let h = 1e-4;
        let f0 = self.forward(x)[j];
        let beta = if on == NoiseOn::WeightsAndBiases {
            1.0
        } else {
            0.0
        };
        let mut total = 0.0;
        for (l, &(nw, _, nb)) in LAYERS.iter().enumerate() {
            for i in 0..nw + nb {
                let w = f64::from(ETA[l]) * if i < nw { 1.0 } else { beta };
                if w == 0.0 {
                    continue;
                }
                let copies: Vec<Vec<usize>> = match noise {
                    RecurrentNoise::PerSequence => vec![(0..T).collect()],
                    RecurrentNoise::PerStep => (0..T).map(|t| vec![t]).collect(),
                };
                for ts in copies {
                    let val = |d: f64| {
                        let mut r = self.clone();
                        for &t in &ts {
                            r.copies[t][l][i] += d;
                        }
                        r.forward(x)[j]
                    };
                    total += w * (val(h) - 2.0 * f0 + val(-h)) / (h * h);
                }
            }
        }
        total
    }
}

/// The exact trace against second differences of the f64 reference, both
/// semantics and readouts.
#[test]
fn hessian_trace_matches_second_differences() {
    let mut n = 0;
    for act in [ActivationKind::Tanh, ActivationKind::Softplus] {
        for readout in [Readout::Last, Readout::EveryStep] {
            for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
                n += 1;
                let on = if n % 2 == 0 {
                    NoiseOn::Weights
                } else {
                    NoiseOn::WeightsAndBiases
                };
                let net = random_net(70 + n, act, noise);
                let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(70 + n));
                let mut ws = Work::new();
                let got: Vec<f64> = match readout {
                    Readout::Last => {
                        let mut tr = [0.0; K];
                        Model::<X, [f32; K]>::hessian_trace(&net, &x, &ETA, on, &mut ws, &mut tr)
                            .unwrap();
                        tr.iter().map(|&v| f64::from(v)).collect()
                    }
                    Readout::EveryStep => {
                        let mut tr = Sequence::<T, K>::zeros();
                        Model::<X, Sequence<T, K>>::hessian_trace(
                            &net, &x, &ETA, on, &mut ws, &mut tr,
                        )
                        .unwrap();
                        tr.as_ref().iter().map(|&v| f64::from(v)).collect()
                    }
                };
                let r = Ref::of(&net, readout);
                let want: Vec<f64> = (0..got.len())
                    .map(|j| r.trace(x.as_ref(), j, on, noise))
                    .collect();
                assert!(want.iter().any(|v| v.abs() > 1e-3), "a trace that tells");
                assert_close(
                    &format!("{act:?} {readout:?} {noise:?} {on:?}"),
                    &got,
                    &want,
                    1e-3,
                    1e-4,
                );
            }
        }
    }
}

/// A wrong η length is a length error and leaves the gradient unchanged.
#[test]
fn bad_eta_is_rejected() {
    let net = random_net(7, ActivationKind::Tanh, RecurrentNoise::PerSequence);
    let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(7));
    let mut ws = Work::new();
    let on = NoiseOn::Weights;
    let mut tr = [0.0; K];
    assert!(matches!(
        Model::<X, [f32; K]>::hessian_trace(&net, &x, &ETA[..3], on, &mut ws, &mut tr),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        Model::<X, [f32; K]>::penalty(&net, &x, &ETA[..3], on, &mut ws),
        Err(Error::LengthMismatch { .. })
    ));
    let mut grad = Net::zeroed();
    assert!(matches!(
        Model::<X, [f32; K]>::penalty_grad(&net, &x, &ETA[..4], on, &mut ws, &mut grad),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(flat(&grad), flat(&Net::zeroed()));
}

/// The seeded penalties' gradients of the unit seeds sum to the penalty
/// gradient with `dy = 0`.
#[test]
fn seeded_penalty_gradients_sum_to_the_penalty_gradient() {
    for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
        let net = random_net(8, ActivationKind::Tanh, noise);
        let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(8));
        let on = NoiseOn::WeightsAndBiases;
        let mut ws = Work::new();
        let mut y = [0.0; K];
        let mut sum = Net::zeroed();
        Model::<X, [f32; K]>::forward_with(&net, &x, &mut noisereg::Clean, &mut ws, &mut y)
            .unwrap();
        for j in 0..K {
            let mut seed = [0.0; K];
            seed[j] = 1.0;
            Model::<X, [f32; K]>::seeded_penalty_with(
                &net,
                &mut ws,
                &seed,
                &ETA,
                on,
                Some(&mut sum),
            )
            .unwrap();
        }
        let mut want = Net::zeroed();
        Model::<X, [f32; K]>::penalty_grad(&net, &x, &ETA, on, &mut ws, &mut want).unwrap();
        assert_close(&format!("{noise:?}"), &flat(&sum), &flat(&want), 1e-5, 1e-6);
    }
}

// ------------------------------------------------------------ weight noise

fn noise_config(kind: NoiseKind) -> WeightNoiseConfig {
    WeightNoiseConfig::new(kind, 0.05)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases)
}

/// Per sequence the draw is the network `perturb_parameters` materialises
/// (5 layers, step 0 keys): the noisy forward pass is the clean pass of the
/// perturbed network bit for bit.
#[test]
fn per_sequence_noise_is_one_perturbed_network() {
    for kind in [NoiseKind::Additive, NoiseKind::Multiplicative] {
        let net = random_net(12, ActivationKind::Tanh, RecurrentNoise::PerSequence);
        let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(12));
        let mut noise = WeightNoise::new(&noise_config(kind), 11);
        let mut noisy = net;
        noise.perturb_parameters(&net, &mut noisy);
        assert_ne!(flat(&noisy), flat(&net));
        let mut ws = Work::new();
        let (mut a, mut b) = ([0.0; K], [0.0; K]);
        Model::<X, [f32; K]>::forward_with(&net, &x, &mut noise, &mut ws, &mut a).unwrap();
        Model::<X, [f32; K]>::forward(&noisy, &x, &mut b).unwrap();
        assert_eq!(a, b, "{kind:?}");
        // Additive: the backward pass is the clean gradient of the drawn network.
        if kind == NoiseKind::Additive {
            let dy = dy_for(Readout::Last);
            let mut noise = WeightNoise::new(&noise_config(kind), 11);
            let g = model_grad(&net, &x, &dy, Readout::Last, &mut noise);
            let want = model_grad(&noisy, &x, &dy, Readout::Last, &mut noisereg::Clean);
            assert_close("per-sequence backward", &flat(&g), &flat(&want), 1e-6, 1e-7);
        }
    }
}

/// The unrolled reference at the recorded draws: copy t of each layer is
/// what step t was given (sequence to one: the one readout, keyed on step
/// 0, is used at T − 1).
fn ref_from_rows(net: &Net, readout: Readout, rows: &[(usize, usize, Vec<f32>)]) -> Ref {
    let mut r = Ref::of(net, readout);
    for t in 0..T {
        for l in 0..5 {
            let v: Vec<f64> = rows
                .iter()
                .filter(|(s, ll, _)| *s == t && *ll == l)
                .flat_map(|(_, _, v)| v.iter().map(|&v| f64::from(v)))
                .collect();
            if v.len() == r.copies[t][l].len() {
                let at = if l == 4 && readout == Readout::Last {
                    T - 1
                } else {
                    t
                };
                r.copies[at][l] = v;
            }
        }
    }
    r
}

/// Per step: each step gets its own draw of every layer, the backward pass
/// redraws layers 1–4 with the same bits, and the gradient is the unrolled
/// network's at those draws with every copy moved together.
#[test]
fn per_step_noise_draws_per_step_and_backward_sees_them() {
    for readout in [Readout::Last, Readout::EveryStep] {
        let net = random_net(13, ActivationKind::Tanh, RecurrentNoise::PerStep);
        let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(13));
        let mut rec = Recorder::new(WeightNoise::new(&noise_config(NoiseKind::Additive), 11));
        let mut ws = Work::new();
        let dy = dy_for(readout);
        let (got, grad) = match readout {
            Readout::Last => {
                let mut y = [0.0; K];
                Model::<X, [f32; K]>::forward_with(&net, &x, &mut rec, &mut ws, &mut y).unwrap();
                let fwd = std::mem::take(&mut rec.rows);
                let mut g = Net::zeroed();
                let s = [dy[0], dy[1]];
                Model::<X, [f32; K]>::backward_with(&net, &mut ws, &s, &mut rec, &mut g).unwrap();
                (y.to_vec(), (g, fwd))
            }
            Readout::EveryStep => {
                let mut y = Sequence::<T, K>::zeros();
                Model::<X, Sequence<T, K>>::forward_with(&net, &x, &mut rec, &mut ws, &mut y)
                    .unwrap();
                let fwd = std::mem::take(&mut rec.rows);
                let mut g = Net::zeroed();
                let mut s = Sequence::<T, K>::zeros();
                s.as_mut().copy_from_slice(&dy);
                Model::<X, Sequence<T, K>>::backward_with(&net, &mut ws, &s, &mut rec, &mut g)
                    .unwrap();
                (y.as_ref().to_vec(), (g, fwd))
            }
        };
        let (grad, fwd_rows) = grad;
        let r = ref_from_rows(&net, readout, &fwd_rows);
        assert_ne!(r.copies[0][0], r.copies[1][0], "distinct draws per step");
        assert_ne!(r.copies[0][3], r.copies[1][3], "distinct draws per step");
        let got: Vec<f64> = got.iter().map(|&v| f64::from(v)).collect();
        assert_close("noisy forward", &got, &r.forward(x.as_ref()), 1e-5, 1e-6);
        let mut bwd = rec.rows.clone();
        let mut fwd: Vec<_> = fwd_rows.iter().filter(|a| a.1 >= 1).cloned().collect();
        bwd.sort_by_key(|a| (a.0, a.1));
        fwd.sort_by_key(|a| (a.0, a.1));
        assert_eq!(bwd, fwd, "the backward pass redraws the forward draws");
        let dy64: Vec<f64> = dy.iter().map(|&v| f64::from(v)).collect();
        let want = r.grad_shared(x.as_ref(), &dy64);
        assert_close(&format!("{readout:?}"), &flat(&grad), &want, 1e-4, 1e-5);
    }
}

// ----------------------------------------------------------------- training

fn data(n: usize, seed: u64) -> (Vec<X>, Vec<[f32; K]>) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let xs: Vec<X> = (0..n).map(|_| random_seq::<T, D>(&mut rng)).collect();
    // Targets: a running sum of the inputs (a task with memory).
    let ys = xs
        .iter()
        .map(|x| {
            let mut acc = [0.0f32; K];
            for t in 0..T {
                acc[0] += 0.5 * x.0[t][0];
                acc[1] += 0.5 * x.0[t][1] - 0.2 * x.0[t][0];
            }
            acc
        })
        .collect();
    (xs, ys)
}

fn trained_net(noise: RecurrentNoise) -> StackedElman<D, H1, H2, K> {
    let mut net = StackedElman::<D, H1, H2, K>::zeroed().with_noise(noise);
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(9));
    net
}

/// Clean, with additive weight noise (either semantics), with the explicit
/// penalty, with input noise and (per sequence) multiplicative noise, the
/// clean loss decreases.
#[test]
fn training_decreases_the_loss() {
    let (xs, ys) = data(16, 21);
    let wn = WeightNoiseConfig::new(NoiseKind::Additive, 0.01)
        .unwrap()
        .with_layer_eta(&[0.01; 5])
        .unwrap();
    let pen = wn.with_noise_on(NoiseOn::WeightsAndBiases);
    let mn = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
        for cfg in 0..5 {
            if cfg == 4 && noise == RecurrentNoise::PerStep {
                continue; // per-step multiplicative noise is rejected
            }
            let net = trained_net(noise);
            let before =
                clean_loss::<_, [f32; K], _, _, _>(&net, &HalfSquaredError, &xs, &ys).unwrap();
            let adam = Adam::with_defaults(0.02, &net).unwrap();
            let mut tr = ModelTrainer::<X, [f32; K], _, _>::new(net, adam, 5);
            tr = match cfg {
                0 => tr,
                1 => tr.with_weight_noise(&wn).unwrap(),
                2 => tr.with_penalty(&pen).unwrap(),
                3 => tr.with_input_noise(0.05).unwrap(),
                _ => tr.with_weight_noise(&mn).unwrap(),
            };
            for i in 0..60 {
                if cfg == 4 {
                    // Per-sample multiplicative noise: batches of 1.
                    let j = i % xs.len();
                    tr.step(&HalfSquaredError, &xs[j..=j], &ys[j..=j]).unwrap();
                } else {
                    tr.step(&HalfSquaredError, &xs, &ys).unwrap();
                }
            }
            let after =
                clean_loss::<_, [f32; K], _, _, _>(&tr.into_network(), &HalfSquaredError, &xs, &ys)
                    .unwrap();
            assert!(
                after < 0.7 * before,
                "{noise:?} config {cfg}: {before} -> {after}"
            );
        }
    }
}

/// A step that meets NaN returns an error and changes nothing.
#[test]
fn non_finite_step_changes_nothing() {
    let (mut xs, ys) = data(4, 22);
    let net = trained_net(RecurrentNoise::PerStep);
    let wn = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let adam = Adam::with_defaults(0.02, &net).unwrap();
    let mut tr = ModelTrainer::<X, [f32; K], _, _>::new(net, adam, 5)
        .with_weight_noise(&wn)
        .unwrap();
    tr.step(&HalfSquaredError, &xs, &ys).unwrap();
    let before = tr.clone();
    xs[2].0[1][0] = f32::NAN;
    assert!(tr.step(&HalfSquaredError, &xs, &ys).is_err());
    assert_eq!(format!("{before:?}"), format!("{tr:?}"));
}

/// Per-step multiplicative noise and Flipout are rejected when set.
#[test]
fn unsupported_noise_is_rejected_when_set() {
    let mul = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    let net = trained_net(RecurrentNoise::PerStep);
    let tr =
        ModelTrainer::<X, [f32; K], _, _>::new(net, Adam::with_defaults(0.02, &net).unwrap(), 5);
    assert!(matches!(
        tr.with_weight_noise(&mul),
        Err(Error::InvalidParameter { name: "kind", .. })
    ));
    let add = WeightNoiseConfig::new(NoiseKind::Additive, 0.01)
        .unwrap()
        .with_estimator(noisereg::Estimator::Flipout);
    let net = trained_net(RecurrentNoise::PerSequence);
    let tr = ModelTrainer::<X, [f32; K], _, _, 2>::with_scratch(
        net,
        Adam::with_defaults(0.02, &net).unwrap(),
        5,
    );
    assert!(matches!(
        tr.with_weight_noise(&add),
        Err(Error::InvalidParameter {
            name: "estimator",
            ..
        })
    ));
}
