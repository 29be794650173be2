//! The Elman network against an f64 reference: forward, BPTT, the penalty of
//! both noise semantics, its gradient and the exact trace, checked by central
//! finite differences in f64 on random networks; the weight-noise draws
//! (per sequence and per step); training through the crate's trainer.
//!
//! The reference unrolls the network: every step `t` has its own copy of the
//! cell's parameters and of the readout's, so "per sequence" (all copies
//! moved together) and "per step" (one copy moved) are both plain partial
//! derivatives of one f64 function.

use noisereg::{
    ActivationKind, Adam, Elman, ElmanParams, ElmanRef, ElmanScratch, Error, Estimator,
    HalfSquaredError, Init, Model, ModelTrainer, NoiseKind, NoiseOn, Parameters, Perturbation,
    Readout, RecurrentNoise, Redraw, RnnDims, Sequence, Sgd, WeightNoise, WeightNoiseConfig,
    clean_loss,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

mod common;
use common::rnn_reference::{
    Recorder, assert_close, f64_f, fill_random, flat, random_seq, uniform,
};

const D: usize = 2;
const H: usize = 3;
const K: usize = 2;
const T: usize = 4;
type Net = Elman<D, H, K, ActivationKind>;

const ACTS: [ActivationKind; 4] = [
    ActivationKind::Tanh,
    ActivationKind::Sigmoid,
    ActivationKind::Softplus,
    ActivationKind::Identity,
];

fn random_net(seed: u64, act: ActivationKind, noise: RecurrentNoise) -> Net {
    let mut net = Net::zeroed().with_noise(noise);
    net.act = act;
    fill_random(&mut net, seed);
    net
}

// ------------------------------------------------------ the f64 reference

/// Cell copy: `wx (H·D) | b (H) | wh (H·H)`; readout copy: `v (K·H) | c (K)`.
const READ: usize = K * H + K;

/// The unrolled f64 network: one cell and one readout copy per step.
#[derive(Clone, Debug)]
struct Ref {
    cells: Vec<Vec<f64>>,
    reads: Vec<Vec<f64>>,
    act: ActivationKind,
    readout: Readout,
    /// 1 for Elman, 3 for GRU (reset, update, candidate).
    gates: usize,
}

impl Ref {
    fn of(net: &Net, readout: Readout) -> Self {
        Self::of_params(net, net.act, readout, 1)
    }

    fn of_params<P: Parameters>(
        net: &P,
        act: ActivationKind,
        readout: Readout,
        gates: usize,
    ) -> Self {
        let cell: Vec<f64> = [0, 1, 2]
            .iter()
            .flat_map(|&i| net.slice(i).iter().map(|&v| f64::from(v)))
            .collect();
        let read: Vec<f64> = [4, 5]
            .iter()
            .flat_map(|&i| net.slice(i).iter().map(|&v| f64::from(v)))
            .collect();
        Self {
            cells: vec![cell; T],
            reads: vec![read; T],
            act,
            readout,
            gates,
        }
    }

    fn read_at(&self, t: usize) -> bool {
        self.readout == Readout::EveryStep || t + 1 == T
    }

    fn forward(&self, x: &[f32]) -> Vec<f64> {
        let mut h = vec![0.0f64; H];
        let mut out = Vec::new();
        for t in 0..T {
            let c = &self.cells[t];
            let g = self.gates;
            let (wx, rest) = c.split_at(g * H * D);
            let (b, wh) = rest.split_at(g * H);
            let xin = |i: usize| -> f64 {
                b[i] + (0..D)
                    .map(|j| wx[i * D + j] * f64::from(x[t * D + j]))
                    .sum::<f64>()
            };
            let rec =
                |i: usize, a: &[f64]| -> f64 { (0..H).map(|j| wh[i * H + j] * a[j]).sum::<f64>() };
            h = if g == 1 {
                (0..H)
                    .map(|i| f64_f(self.act, xin(i) + rec(i, &h)))
                    .collect()
            } else {
                let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
                let r: Vec<f64> = (0..H).map(|i| sig(xin(i) + rec(i, &h))).collect();
                let u: Vec<f64> = (0..H).map(|i| sig(xin(H + i) + rec(H + i, &h))).collect();
                let q: Vec<f64> = (0..H).map(|i| r[i] * h[i]).collect();
                let n: Vec<f64> = (0..H)
                    .map(|i| f64_f(self.act, xin(2 * H + i) + rec(2 * H + i, &q)))
                    .collect();
                (0..H).map(|i| (1.0 - u[i]) * n[i] + u[i] * h[i]).collect()
            };
            if self.read_at(t) {
                let (v, c) = self.reads[t].split_at(K * H);
                out.extend((0..K).map(|k| c[k] + (0..H).map(|j| v[k * H + j] * h[j]).sum::<f64>()));
            }
        }
        out
    }

    /// Shared parameter vector (the crate's slice order), from copy 0.
    fn shared(&self) -> Vec<f64> {
        let mut p = self.cells[0].clone();
        p.extend(&self.reads[0]);
        p
    }

    fn set_shared(&mut self, p: &[f64]) {
        for c in &mut self.cells {
            let n = c.len();
            c.copy_from_slice(&p[..n]);
        }
        for r in &mut self.reads {
            let n = p.len() - r.len();
            r.copy_from_slice(&p[n..]);
        }
    }

    /// Layer (η index) of shared parameter `i`, and whether it is a bias.
    fn layer_of(&self, i: usize) -> (usize, bool) {
        let g = self.gates;
        if i < g * H * D {
            (0, false)
        } else if i < g * H * D + g * H {
            (0, true)
        } else if i < self.cell() {
            (1, false)
        } else if i < self.cell() + K * H {
            (2, false)
        } else {
            (2, true)
        }
    }

    fn cell(&self) -> usize {
        self.cells[0].len()
    }

    fn weight(&self, i: usize, eta: &[f64; 3], on: NoiseOn) -> f64 {
        let (l, bias) = self.layer_of(i);
        if bias && on == NoiseOn::Weights {
            0.0
        } else {
            eta[l]
        }
    }

    /// `∂ g / ∂θ` over the shared parameters, central differences.
    fn grad_shared(&self, g: impl Fn(&Ref) -> f64, h: f64) -> Vec<f64> {
        let p = self.shared();
        (0..p.len())
            .map(|i| {
                let mut r = self.clone();
                let mut q = p.clone();
                q[i] = p[i] + h;
                r.set_shared(&q);
                let up = g(&r);
                q[i] = p[i] - h;
                r.set_shared(&q);
                (up - g(&r)) / (2.0 * h)
            })
            .collect()
    }

    /// `∂ f_j / ∂θ_{t,i}` for copy t (index i in `cell | read`).
    fn grad_copy(&self, x: &[f32], j: usize, t: usize, i: usize, h: f64) -> f64 {
        let mut r = self.clone();
        let at = |r: &mut Ref, d: f64| {
            if i < self.cell() {
                r.cells[t][i] += d;
            } else {
                r.reads[t][i - self.cell()] += d;
            }
        };
        at(&mut r, h);
        let up = r.forward(x)[j];
        at(&mut r, -2.0 * h);
        (up - r.forward(x)[j]) / (2.0 * h)
    }

    /// The penalty `Σ_j Σ_l η_l ‖∇_{θ_l} f_j‖²` of either semantics, from
    /// finite-difference gradients of the unrolled network.
    fn penalty(&self, x: &[f32], eta: &[f64; 3], on: NoiseOn, noise: RecurrentNoise) -> f64 {
        let outs = self.forward(x).len();
        let mut total = 0.0;
        for j in 0..outs {
            match noise {
                RecurrentNoise::PerSequence => {
                    let g = self.grad_shared(|r| r.forward(x)[j], 1e-5);
                    total += g
                        .iter()
                        .enumerate()
                        .map(|(i, g)| self.weight(i, eta, on) * g * g)
                        .sum::<f64>();
                }
                RecurrentNoise::PerStep => {
                    for t in 0..T {
                        for i in 0..self.cell() + READ {
                            let w = self.weight(i, eta, on);
                            if w != 0.0 {
                                let g = self.grad_copy(x, j, t, i, 1e-5);
                                total += w * g * g;
                            }
                        }
                    }
                }
            }
        }
        total
    }

    /// `Σ_l η_l tr ∇²f_j` over the noisy parameters (per step: the diagonal
    /// blocks of the copies), second differences.
    fn trace(
        &self,
        x: &[f32],
        j: usize,
        eta: &[f64; 3],
        on: NoiseOn,
        noise: RecurrentNoise,
    ) -> f64 {
        let h = 1e-4;
        let f0 = self.forward(x)[j];
        let mut total = 0.0;
        for i in 0..self.cell() + READ {
            let w = self.weight(i, eta, on);
            if w == 0.0 {
                continue;
            }
            let copies: Vec<Option<usize>> = match noise {
                RecurrentNoise::PerSequence => vec![None],
                RecurrentNoise::PerStep => (0..T).map(Some).collect(),
            };
            for copy in copies {
                let mut second = 0.0;
                for d in [h, -h] {
                    let mut r = self.clone();
                    for t in 0..T {
                        if copy.is_none_or(|c| c == t) {
                            if i < self.cell() {
                                r.cells[t][i] += d;
                            } else {
                                r.reads[t][i - self.cell()] += d;
                            }
                        }
                    }
                    second += r.forward(x)[j];
                }
                total += w * (second - 2.0 * f0) / (h * h);
            }
        }
        total
    }
}

/// f64 BPTT-free reference of the penalty gradient: central differences of
/// `dy·f + ½ penalty`, the penalty from the unrolled f64 network.
fn penalty_objective_grad(
    r: &Ref,
    x: &[f32],
    dy: &[f64],
    eta: &[f64; 3],
    on: NoiseOn,
    noise: RecurrentNoise,
) -> Vec<f64> {
    r.grad_shared(
        |r| {
            let f = r.forward(x);
            f.iter().zip(dy).map(|(f, d)| f * d).sum::<f64>() + 0.5 * r.penalty(x, eta, on, noise)
        },
        1e-3,
    )
}

const ETA: [f32; 3] = [0.3, 0.5, 0.7];
const ETA64: [f64; 3] = [0.3, 0.5, 0.7];

// ---------------------------------------------------------------- the tests

#[test]
fn forward_matches_f64_reference() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    for (n, act) in ACTS.into_iter().enumerate() {
        let net = random_net(10 + n as u64, act, RecurrentNoise::PerSequence);
        let x = random_seq::<T, D>(&mut rng);
        let mut y = [0.0; K];
        Model::<Sequence<T, D>, [f32; K]>::forward(&net, &x, &mut y).unwrap();
        let want = Ref::of(&net, Readout::Last).forward(x.as_ref());
        let got: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
        assert_close("seq to one", &got, &want, 1e-5, 1e-6);
        let mut ys = Sequence::<T, K>::zeros();
        Model::<Sequence<T, D>, Sequence<T, K>>::forward(&net, &x, &mut ys).unwrap();
        let want = Ref::of(&net, Readout::EveryStep).forward(x.as_ref());
        let got: Vec<f64> = ys.as_ref().iter().map(|&v| f64::from(v)).collect();
        assert_close("seq to seq", &got, &want, 1e-5, 1e-6);
    }
}

/// `∇_θ (dy·f)` by BPTT against central differences of the f64 network.
#[test]
fn bptt_matches_finite_differences() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    for (n, act) in ACTS.into_iter().enumerate() {
        for readout in [Readout::Last, Readout::EveryStep] {
            let net = random_net(20 + n as u64, act, RecurrentNoise::PerSequence);
            let x = random_seq::<T, D>(&mut rng);
            let outs = if readout == Readout::Last { K } else { T * K };
            let dy: Vec<f32> = (0..outs).map(|_| uniform(&mut rng)).collect();
            let mut grad = Net::zeroed();
            let view = net.view(T, readout).unwrap();
            let mut work = noisereg::ElmanWork::<D, H, K, T>::new();
            let mut ws = work.scratch();
            view.forward(x.as_ref(), &mut noisereg::Clean, &mut ws)
                .unwrap();
            view.backward(&mut ws, &dy, &mut noisereg::Clean, &mut grad.params_mut())
                .unwrap();
            let r = Ref::of(&net, readout);
            let want = r.grad_shared(
                |r| {
                    r.forward(x.as_ref())
                        .iter()
                        .zip(&dy)
                        .map(|(f, d)| f * f64::from(*d))
                        .sum()
                },
                1e-5,
            );
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

fn all_cases() -> Vec<(ActivationKind, Readout, RecurrentNoise, NoiseOn)> {
    let mut v = Vec::new();
    for act in [
        ActivationKind::Tanh,
        ActivationKind::Sigmoid,
        ActivationKind::Softplus,
    ] {
        for readout in [Readout::Last, Readout::EveryStep] {
            for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
                for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
                    v.push((act, readout, noise, on));
                }
            }
        }
    }
    v
}

#[test]
fn penalty_matches_unrolled_reference_for_both_semantics() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    for (n, (act, readout, noise, on)) in all_cases().into_iter().enumerate() {
        let net = random_net(30 + n as u64, act, noise);
        let x = random_seq::<T, D>(&mut rng);
        let view = net.view(T, readout).unwrap();
        let mut work = noisereg::ElmanWork::<D, H, K, T>::new();
        let got = view
            .penalty(x.as_ref(), &ETA, on, &mut work.scratch())
            .unwrap();
        let want = Ref::of(&net, readout).penalty(x.as_ref(), &ETA64, on, noise);
        assert_close(
            &format!("{act:?} {readout:?} {noise:?} {on:?}"),
            &[f64::from(got)],
            &[want],
            1e-4,
            0.0,
        );
    }
}

/// The two semantics differ (they coincide only for T = 1).
#[test]
fn per_step_and_per_sequence_penalties_differ() {
    let net = random_net(5, ActivationKind::Tanh, RecurrentNoise::PerSequence);
    let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(5));
    let mut ws = noisereg::ElmanWork::<D, H, K, T>::new();
    let a = Model::<Sequence<T, D>, [f32; K]>::penalty(&net, &x, &ETA, NoiseOn::Weights, &mut ws)
        .unwrap();
    let net = net.with_noise(RecurrentNoise::PerStep);
    let b = Model::<Sequence<T, D>, [f32; K]>::penalty(&net, &x, &ETA, NoiseOn::Weights, &mut ws)
        .unwrap();
    assert!((a - b).abs() > 1e-3 * a.abs(), "{a} vs {b}");
}

/// `∇_θ [dy·f + ½ penalty]` (R-operator through time) against central
/// differences of the f64 objective, both semantics, both readouts.
#[test]
fn penalty_gradient_matches_finite_differences() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    for (n, (act, readout, noise, on)) in all_cases().into_iter().enumerate() {
        let net = random_net(40 + n as u64, act, noise);
        let x = random_seq::<T, D>(&mut rng);
        let view = net.view(T, readout).unwrap();
        let outs = if readout == Readout::Last { K } else { T * K };
        let dy: Vec<f32> = (0..outs).map(|_| uniform(&mut rng)).collect();
        let mut work = noisereg::ElmanWork::<D, H, K, T>::new();
        let mut ws = work.scratch();
        view.forward(x.as_ref(), &mut noisereg::Clean, &mut ws)
            .unwrap();
        let mut grad = Net::zeroed();
        view.penalty_grad(&mut ws, &dy, &ETA, on, &mut grad.params_mut())
            .unwrap();
        let dy64: Vec<f64> = dy.iter().map(|&v| f64::from(v)).collect();
        let want = penalty_objective_grad(
            &Ref::of(&net, readout),
            x.as_ref(),
            &dy64,
            &ETA64,
            on,
            noise,
        );
        assert_close(
            &format!("{act:?} {readout:?} {noise:?} {on:?}"),
            &flat(&grad),
            &want,
            2e-3,
            2e-4,
        );
    }
}

/// The seeded penalty with `s = e_j` is output j's share of the penalty, and
/// its gradient is the penalty gradient with `dy = 0`.
#[test]
fn seeded_penalty_sums_to_the_penalty() {
    let net = random_net(6, ActivationKind::Tanh, RecurrentNoise::PerStep);
    let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(6));
    let view = net.view(T, Readout::Last).unwrap();
    let mut work = noisereg::ElmanWork::<D, H, K, T>::new();
    let mut ws = work.scratch();
    let total = view
        .penalty(x.as_ref(), &ETA, NoiseOn::Weights, &mut ws)
        .unwrap();
    let (mut sum, mut g1, mut g2) = (0.0, Net::zeroed(), Net::zeroed());
    for j in 0..K {
        let mut s = [0.0; K];
        s[j] = 1.0;
        sum += view
            .seeded_penalty(
                &mut ws,
                &s,
                &ETA,
                NoiseOn::Weights,
                Some(&mut g1.params_mut()),
            )
            .unwrap();
    }
    view.penalty_grad(
        &mut ws,
        &[0.0; K],
        &ETA,
        NoiseOn::Weights,
        &mut g2.params_mut(),
    )
    .unwrap();
    assert!((sum - total).abs() <= 1e-6 * total.abs());
    assert_close("gradient", &flat(&g1), &flat(&g2), 1e-5, 1e-6);
}

#[test]
fn hessian_trace_matches_second_differences() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
    for (n, (act, readout, noise, on)) in all_cases().into_iter().enumerate() {
        let net = random_net(70 + n as u64, act, noise);
        let x = random_seq::<T, D>(&mut rng);
        let view = net.view(T, readout).unwrap();
        let outs = if readout == Readout::Last { K } else { T * K };
        let mut tr = vec![0.0f32; outs];
        let mut work = noisereg::ElmanWork::<D, H, K, T>::new();
        view.hessian_trace(x.as_ref(), &ETA, on, &mut work.scratch(), &mut tr)
            .unwrap();
        let r = Ref::of(&net, readout);
        let want: Vec<f64> = (0..outs)
            .map(|j| r.trace(x.as_ref(), j, &ETA64, on, noise))
            .collect();
        let got: Vec<f64> = tr.iter().map(|&v| f64::from(v)).collect();
        assert_close(
            &format!("{act:?} {readout:?} {noise:?} {on:?}"),
            &got,
            &want,
            1e-3,
            1e-4,
        );
    }
}

#[test]
fn views_reject_wrong_lengths() {
    let dims = RnnDims {
        input: 2,
        hidden: 2,
        output: 1,
        steps: 3,
        readout: Readout::Last,
    };
    let ok = ElmanParams {
        wx: &[0.0; 4],
        b: &[0.0; 2],
        wh: &[0.0; 4],
        v: &[0.0; 2],
        c: &[0.0],
    };
    let act = ActivationKind::Tanh;
    assert!(ElmanRef::new(ok, act, dims, RecurrentNoise::PerStep).is_ok());
    let bad = ElmanParams {
        wh: &[0.0; 3],
        ..ok
    };
    assert!(matches!(
        ElmanRef::new(bad, act, dims, RecurrentNoise::PerStep),
        Err(Error::LengthMismatch { .. })
    ));
    let zero = RnnDims { steps: 0, ..dims };
    assert!(ElmanRef::new(ok, act, zero, RecurrentNoise::PerStep).is_err());
    let mut buf = vec![0.0; ElmanScratch::required_len(&dims) - 1];
    assert!(ElmanScratch::split(&mut buf, &dims).is_err());
    let mut buf = vec![0.0; ElmanScratch::required_len(&dims)];
    let mut ws = ElmanScratch::split(&mut buf, &dims).unwrap();
    let net = ElmanRef::new(ok, act, dims, RecurrentNoise::PerStep).unwrap();
    assert!(
        net.forward(&[0.0; 5], &mut noisereg::Clean, &mut ws)
            .is_err()
    );
    assert!(
        net.penalty(&[0.0; 6], &[0.1; 2], NoiseOn::Weights, &mut ws)
            .is_err()
    );
    assert!(
        net.penalty(&[0.0; 6], &[0.1; 3], NoiseOn::Weights, &mut ws)
            .is_ok()
    );
    let mut tr = [0.0; 2];
    assert!(
        net.hessian_trace(&[0.0; 6], &[0.1; 3], NoiseOn::Weights, &mut ws, &mut tr)
            .is_err()
    );
}

/// A slice-built view (as a run-time-sized network builds it) gives the
/// const-generic network's bits.
#[test]
fn flat_buffer_view_matches_const_generic_bits() {
    let net = random_net(8, ActivationKind::Tanh, RecurrentNoise::PerStep);
    let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(8));
    let dims = RnnDims {
        input: D,
        hidden: H,
        output: K,
        steps: T,
        readout: Readout::Last,
    };
    let p: Vec<Vec<f32>> = (0..6).map(|i| net.slice(i).to_vec()).collect();
    let view = ElmanRef::new(
        ElmanParams {
            wx: &p[0],
            b: &p[1],
            wh: &p[2],
            v: &p[4],
            c: &p[5],
        },
        net.act,
        dims,
        net.noise,
    )
    .unwrap();
    let mut buf = vec![0.0; ElmanScratch::required_len(&dims)];
    let mut ws = ElmanScratch::split(&mut buf, &dims).unwrap();
    let pen = view
        .penalty(x.as_ref(), &ETA, NoiseOn::Weights, &mut ws)
        .unwrap();
    let mut w2 = noisereg::ElmanWork::<D, H, K, T>::new();
    let want =
        Model::<Sequence<T, D>, [f32; K]>::penalty(&net, &x, &ETA, NoiseOn::Weights, &mut w2)
            .unwrap();
    assert_eq!(pen.to_bits(), want.to_bits());
}

// ------------------------------------------------------------ weight noise

fn recorder(kind: NoiseKind, on: NoiseOn) -> Recorder {
    let cfg = WeightNoiseConfig::new(kind, 0.05)
        .unwrap()
        .with_noise_on(on);
    Recorder::new(WeightNoise::new(&cfg, 11))
}

/// The unrolled reference at the recorded draws: copy t of the cell and
/// readout is what step t was given.
fn ref_from_rows(net: &Net, readout: Readout, rows: &[(usize, usize, Vec<f32>)]) -> Ref {
    let mut r = Ref::of(net, readout);
    for t in 0..T {
        let mut cell = Vec::new();
        let mut read = Vec::new();
        for (s, l, v) in rows {
            if *s == t && *l < 2 {
                cell.extend(v.iter().map(|&v| f64::from(v)));
            }
            if *s == t && *l == 2 {
                read.extend(v.iter().map(|&v| f64::from(v)));
            }
        }
        // Order drawn: wx rows, b, wh rows, (empty bias) = the cell layout.
        if cell.len() == r.cell() {
            r.cells[t] = cell;
        }
        if read.len() == READ {
            // Sequence to one: the one readout is keyed on step 0, used at T.
            let at = if readout == Readout::Last { T - 1 } else { t };
            r.reads[at] = read;
        }
    }
    r
}

/// Per sequence: the draw is the one `perturb_parameters` materialises
/// (one network, step 0 keys), so the noisy forward pass equals the clean
/// pass of the perturbed network bit for bit.
#[test]
fn per_sequence_noise_is_one_perturbed_network() {
    for kind in [NoiseKind::Additive, NoiseKind::Multiplicative] {
        for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
            let net = random_net(12, ActivationKind::Tanh, RecurrentNoise::PerSequence);
            let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(12));
            let cfg = WeightNoiseConfig::new(kind, 0.05)
                .unwrap()
                .with_noise_on(on);
            let mut noise = WeightNoise::new(&cfg, 11);
            let mut noisy = net;
            noise.perturb_parameters(&net, &mut noisy);
            assert_ne!(flat(&noisy), flat(&net));
            let mut ws = noisereg::ElmanWork::<D, H, K, T>::new();
            let (mut a, mut b) = ([0.0; K], [0.0; K]);
            Model::<Sequence<T, D>, [f32; K]>::forward_with(&net, &x, &mut noise, &mut ws, &mut a)
                .unwrap();
            Model::<Sequence<T, D>, [f32; K]>::forward(&noisy, &x, &mut b).unwrap();
            assert_eq!(a, b, "{kind:?} {on:?}");
        }
    }
}

/// Per step: every step gets its own draw, the backward pass sees the
/// forward pass's draws, and the gradient is the sum over copies of the
/// unrolled network's gradient at those draws (additive noise: `∂/∂θ` of
/// `f(θ + ε_1, …, θ + ε_T)`).
#[test]
fn per_step_noise_draws_per_step_and_backward_sees_them() {
    for readout in [Readout::Last, Readout::EveryStep] {
        let net = random_net(13, ActivationKind::Tanh, RecurrentNoise::PerStep);
        let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(13));
        let view = net.view(T, readout).unwrap();
        let mut rec = recorder(NoiseKind::Additive, NoiseOn::WeightsAndBiases);
        let mut work = noisereg::ElmanWork::<D, H, K, T>::new();
        let mut ws = work.scratch();
        view.forward(x.as_ref(), &mut rec, &mut ws).unwrap();
        let fwd_rows = std::mem::take(&mut rec.rows);
        let got: Vec<f64> = view.output(&ws).iter().map(|&v| f64::from(v)).collect();
        let r = ref_from_rows(&net, readout, &fwd_rows);
        // Distinct draws per step.
        assert_ne!(r.cells[0], r.cells[1]);
        assert_close("noisy forward", &got, &r.forward(x.as_ref()), 1e-5, 1e-6);
        let outs = got.len();
        let dy: Vec<f32> = (0..outs).map(|i| 0.5 - i as f32 * 0.1).collect();
        let mut grad = Net::zeroed();
        view.backward(&mut ws, &dy, &mut rec, &mut grad.params_mut())
            .unwrap();
        let mut bwd = rec.rows.clone();
        // BPTT reads only W̃_h and the readout: those are redrawn, the same.
        let mut fwd: Vec<_> = fwd_rows.iter().filter(|a| a.1 >= 1).cloned().collect();
        bwd.sort_by_key(|a| (a.0, a.1));
        fwd.sort_by_key(|a| (a.0, a.1));
        assert_eq!(bwd, fwd, "the backward pass redraws the forward draws");
        // The gradient wrt clean θ: shift every copy together.
        let want = r.grad_shared_from_copies(x.as_ref(), &dy);
        assert_close(&format!("{readout:?}"), &flat(&grad), &want, 1e-4, 1e-5);
    }
}

impl Ref {
    /// `∂/∂θ Σ_j dy_j f_j(θ + ε_1, …, θ + ε_T)`: each copy keeps its own
    /// offset, all copies move together.
    fn grad_shared_from_copies(&self, x: &[f32], dy: &[f32]) -> Vec<f64> {
        let h = 1e-5;
        (0..self.cell() + READ)
            .map(|i| {
                let val = |d: f64| {
                    let mut r = self.clone();
                    for t in 0..T {
                        if i < self.cell() {
                            r.cells[t][i] += d;
                        } else {
                            r.reads[t][i - self.cell()] += d;
                        }
                    }
                    r.forward(x)
                        .iter()
                        .zip(dy)
                        .map(|(f, d)| f * f64::from(*d))
                        .sum::<f64>()
                };
                (val(h) - val(-h)) / (2.0 * h)
            })
            .collect()
    }
}

/// `begin_step` keys per-step streams; step 0 is the feedforward key.
#[test]
fn begin_step_zero_keeps_the_feedforward_draw() {
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.05).unwrap();
    let clean = [0.25f32; 5];
    let draw = |step: Option<usize>| {
        let mut n = WeightNoise::new(&cfg, 3);
        if let Some(s) = step {
            n.begin_step(s);
        }
        n.begin_layer(1);
        let mut out = [0.0; 5];
        n.weight_row(&clean, &mut out);
        out
    };
    assert_eq!(draw(None), draw(Some(0)));
    assert_ne!(draw(Some(1)), draw(Some(0)));
    assert_ne!(draw(Some(1)), draw(Some(2)));
    assert_eq!(draw(Some(2)), draw(Some(2)));
}

// ----------------------------------------------------------------- training

type Xs = Vec<Sequence<T, D>>;

fn data(n: usize, seed: u64) -> (Xs, Vec<[f32; K]>, Vec<Sequence<T, K>>) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let xs: Xs = (0..n).map(|_| random_seq::<T, D>(&mut rng)).collect();
    // Targets: a running sum of the inputs (a task with memory).
    let ys_seq: Vec<Sequence<T, K>> = xs
        .iter()
        .map(|x| {
            let mut y = Sequence::<T, K>::zeros();
            let mut acc = [0.0f32; K];
            for t in 0..T {
                acc[0] += 0.5 * x.0[t][0];
                acc[1] += 0.5 * x.0[t][1] - 0.2 * x.0[t][0];
                y.0[t] = acc;
            }
            y
        })
        .collect();
    let ys = ys_seq.iter().map(|y| y.0[T - 1]).collect();
    (xs, ys, ys_seq)
}

fn trained_net(noise: RecurrentNoise) -> Elman<D, H, K, noisereg::Tanh> {
    let mut net = Elman::<D, H, K, noisereg::Tanh>::zeroed().with_noise(noise);
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(9));
    net
}

/// Each configuration trains: the clean loss decreases.
#[test]
fn training_decreases_the_loss_in_every_configuration() {
    let (xs, ys, ys_seq) = data(16, 21);
    let wn = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let mn = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    let pen = WeightNoiseConfig::new(NoiseKind::Additive, 0.01)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases);
    for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
        for cfg in 0..6 {
            let net = trained_net(noise);
            let before =
                clean_loss::<_, [f32; K], _, _, _>(&net, &HalfSquaredError, &xs, &ys).unwrap();
            let adam = Adam::with_defaults(0.02, &net).unwrap();
            let mut tr = ModelTrainer::<Sequence<T, D>, [f32; K], _, _>::new(net, adam, 5);
            tr = match cfg {
                0 => tr,
                1 => tr.with_weight_noise(&wn).unwrap(),
                // Multiplicative per step is rejected (rejections_are_checked_when_the_noise_is_set).
                2 if noise == RecurrentNoise::PerStep => continue,
                2 => tr.with_weight_noise(&mn).unwrap(),
                3 => tr.with_penalty(&pen).unwrap(),
                4 => tr.with_input_noise(0.05).unwrap(),
                _ => tr.with_label_noise(0.05).unwrap(),
            };
            for i in 0..60 {
                if cfg == 2 {
                    // Per-sample multiplicative noise needs batches of 1
                    // without a scratch network.
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
        // Sequence to sequence, plain SGD with the penalty.
        let net = trained_net(noise);
        let before =
            clean_loss::<_, Sequence<T, K>, _, _, _>(&net, &HalfSquaredError, &xs, &ys_seq)
                .unwrap();
        let mut tr = ModelTrainer::<Sequence<T, D>, Sequence<T, K>, _, _>::new(
            net,
            Sgd::new(0.05).unwrap(),
            5,
        )
        .with_penalty(&pen)
        .unwrap();
        for _ in 0..60 {
            tr.step(&HalfSquaredError, &xs, &ys_seq).unwrap();
        }
        let after = clean_loss::<_, Sequence<T, K>, _, _, _>(
            &tr.into_network(),
            &HalfSquaredError,
            &xs,
            &ys_seq,
        )
        .unwrap();
        assert!(
            after < 0.7 * before,
            "{noise:?} seq to seq: {before} -> {after}"
        );
    }
}

/// What the recurrent passes cannot run exactly is rejected when the noise is
/// set, naming the setting; the rest is accepted.
#[test]
fn rejections_are_checked_when_the_noise_is_set() {
    let add = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let mul = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    let lr = WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.01).unwrap();
    let err = |name| Err::<(), _>(name);
    let cases: Vec<(WeightNoiseConfig, RecurrentNoise, Result<(), &str>)> = vec![
        (add, RecurrentNoise::PerSequence, Ok(())),
        (add, RecurrentNoise::PerStep, Ok(())),
        (mul, RecurrentNoise::PerSequence, Ok(())),
        (mul, RecurrentNoise::PerStep, err("kind")),
        (
            add.with_redraw(Redraw::PerBatch),
            RecurrentNoise::PerSequence,
            Ok(()),
        ),
        (
            add.with_redraw(Redraw::PerBatch),
            RecurrentNoise::PerStep,
            err("redraw"),
        ),
        (
            mul.with_redraw(Redraw::PerBatch),
            RecurrentNoise::PerSequence,
            Ok(()),
        ),
        (
            add.with_estimator(Estimator::Flipout),
            RecurrentNoise::PerSequence,
            err("estimator"),
        ),
        (
            add.with_estimator(Estimator::Flipout),
            RecurrentNoise::PerStep,
            err("estimator"),
        ),
        (
            mul.with_estimator(Estimator::Flipout),
            RecurrentNoise::PerSequence,
            err("estimator"),
        ),
        (
            add.with_estimator(Estimator::LocalReparam),
            RecurrentNoise::PerSequence,
            err("estimator"),
        ),
        (lr, RecurrentNoise::PerSequence, err("estimator")),
        (lr, RecurrentNoise::PerStep, err("estimator")),
    ];
    for (cfg, noise, want) in cases {
        let net = trained_net(noise);
        // Two scratch networks: Flipout's own scratch check passes, so the
        // rejection is the recurrent one.
        let mut tr = ModelTrainer::<Sequence<T, D>, [f32; K], _, _, 2>::with_scratch(
            net,
            Sgd::new(0.1).unwrap(),
            5,
        );
        let got = tr.set_weight_noise(&cfg).map_err(|e| match e {
            Error::InvalidParameter { name, .. } => name,
            other => panic!("{other:?}"),
        });
        assert_eq!(got, want, "{noise:?} {cfg:?}");
        assert_eq!(tr.weight_noise().is_some(), want.is_ok());
        let seq = ModelTrainer::<Sequence<T, D>, Sequence<T, K>, _, _, 2>::with_scratch(
            trained_net(noise),
            Sgd::new(0.1).unwrap(),
            5,
        );
        assert_eq!(seq.with_weight_noise(&cfg).is_ok(), want.is_ok());
    }
}

/// A step that meets NaN returns an error and changes nothing.
#[test]
fn non_finite_step_changes_nothing() {
    let (mut xs, ys, _) = data(4, 22);
    let net = trained_net(RecurrentNoise::PerStep);
    let wn = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let adam = Adam::with_defaults(0.02, &net).unwrap();
    let mut tr = ModelTrainer::<Sequence<T, D>, [f32; K], _, _>::new(net, adam, 5)
        .with_weight_noise(&wn)
        .unwrap();
    tr.step(&HalfSquaredError, &xs, &ys).unwrap();
    let before = tr.clone();
    xs[2].0[1][0] = f32::NAN;
    assert!(tr.step(&HalfSquaredError, &xs, &ys).is_err());
    assert_eq!(format!("{before:?}"), format!("{tr:?}"));
}

// ------------------------------------- GRU and Elman through the Model trait

type X = Sequence<T, D>;
type Gru = noisereg::Gru<D, H, K, ActivationKind>;

/// What the generic checks need of a recurrent network.
trait Rnn:
    Parameters + Clone + Model<X, [f32; K]> + Model<X, Sequence<T, K>> + std::fmt::Debug
{
    const GATES: usize;
    fn zero() -> Self;
    fn act(&self) -> ActivationKind;
    fn set(&mut self, act: ActivationKind, noise: RecurrentNoise);
}

impl Rnn for Net {
    const GATES: usize = 1;
    fn zero() -> Self {
        Net::zeroed()
    }
    fn act(&self) -> ActivationKind {
        self.act
    }
    fn set(&mut self, act: ActivationKind, noise: RecurrentNoise) {
        self.act = act;
        self.noise = noise;
    }
}

impl Rnn for Gru {
    const GATES: usize = 3;
    fn zero() -> Self {
        Gru::zeroed()
    }
    fn act(&self) -> ActivationKind {
        self.act
    }
    fn set(&mut self, act: ActivationKind, noise: RecurrentNoise) {
        self.act = act;
        self.noise = noise;
    }
}

fn random_rnn<N: Rnn>(seed: u64, act: ActivationKind, noise: RecurrentNoise) -> N {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut net = N::zero();
    net.set(act, noise);
    for i in 0..net.slice_count() {
        for v in net.slice_mut(i) {
            *v = 0.9 * uniform(&mut rng);
        }
    }
    net
}

fn ref_of<N: Rnn>(net: &N, readout: Readout) -> Ref {
    Ref::of_params(net, net.act(), readout, N::GATES)
}

/// The outputs of `net` on `x` for a readout, through `Model`.
fn outputs<N: Rnn>(net: &N, x: &X, readout: Readout) -> Vec<f64> {
    let out: Vec<f32> = if readout == Readout::Last {
        let mut y = [0.0; K];
        Model::<X, [f32; K]>::forward(net, x, &mut y).unwrap();
        y.to_vec()
    } else {
        let mut y = Sequence::<T, K>::zeros();
        Model::<X, Sequence<T, K>>::forward(net, x, &mut y).unwrap();
        y.as_ref().to_vec()
    };
    out.iter().map(|&v| f64::from(v)).collect()
}

/// `(penalty, ∇[dy·f + ½ penalty], traces)` through `Model` after a clean
/// forward pass.
fn model_passes<N: Rnn>(
    net: &N,
    x: &X,
    readout: Readout,
    dy: &[f32],
    on: NoiseOn,
) -> (f32, N, Vec<f32>) {
    let mut g = N::zero();
    if readout == Readout::Last {
        let mut ws = Model::<X, [f32; K]>::workspace(net);
        let mut y = [0.0; K];
        Model::<X, [f32; K]>::forward_with(net, x, &mut noisereg::Clean, &mut ws, &mut y).unwrap();
        let d: [f32; K] = dy.try_into().unwrap();
        let p =
            Model::<X, [f32; K]>::penalty_grad_with(net, &mut ws, &d, &ETA, on, &mut g).unwrap();
        let mut tr = [0.0; K];
        Model::<X, [f32; K]>::hessian_trace(net, x, &ETA, on, &mut ws, &mut tr).unwrap();
        (p, g, tr.to_vec())
    } else {
        let mut ws = Model::<X, Sequence<T, K>>::workspace(net);
        let mut y = Sequence::<T, K>::zeros();
        Model::<X, Sequence<T, K>>::forward_with(net, x, &mut noisereg::Clean, &mut ws, &mut y)
            .unwrap();
        let mut d = Sequence::<T, K>::zeros();
        d.as_mut().copy_from_slice(dy);
        let p = Model::<X, Sequence<T, K>>::penalty_grad_with(net, &mut ws, &d, &ETA, on, &mut g)
            .unwrap();
        let mut tr = Sequence::<T, K>::zeros();
        Model::<X, Sequence<T, K>>::hessian_trace(net, x, &ETA, on, &mut ws, &mut tr).unwrap();
        (p, g, tr.as_ref().to_vec())
    }
}

fn check_all_passes<N: Rnn>(
    seed: u64,
    cases: &[(ActivationKind, Readout, RecurrentNoise, NoiseOn)],
) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    for (n, &(act, readout, noise, on)) in cases.iter().enumerate() {
        let net: N = random_rnn(seed + n as u64, act, noise);
        let x = random_seq::<T, D>(&mut rng);
        let r = ref_of(&net, readout);
        let what = format!("{act:?} {readout:?} {noise:?} {on:?}");
        assert_close(
            &format!("forward {what}"),
            &outputs(&net, &x, readout),
            &r.forward(x.as_ref()),
            1e-5,
            1e-6,
        );
        let outs = if readout == Readout::Last { K } else { T * K };
        let dy: Vec<f32> = (0..outs).map(|_| uniform(&mut rng)).collect();
        let (p, g, tr) = model_passes(&net, &x, readout, &dy, on);
        let want = r.penalty(x.as_ref(), &ETA64, on, noise);
        assert_close(
            &format!("penalty {what}"),
            &[f64::from(p)],
            &[want],
            1e-4,
            0.0,
        );
        let dy64: Vec<f64> = dy.iter().map(|&v| f64::from(v)).collect();
        let want = penalty_objective_grad(&r, x.as_ref(), &dy64, &ETA64, on, noise);
        assert_close(
            &format!("penalty gradient {what}"),
            &flat(&g),
            &want,
            2e-3,
            2e-4,
        );
        let want: Vec<f64> = (0..outs)
            .map(|j| r.trace(x.as_ref(), j, &ETA64, on, noise))
            .collect();
        let got: Vec<f64> = tr.iter().map(|&v| f64::from(v)).collect();
        assert_close(&format!("trace {what}"), &got, &want, 1e-3, 1e-4);
    }
}

/// Forward, penalty (both semantics), penalty gradient with the loss
/// gradient folded in, and the trace of the GRU against the f64 reference.
#[test]
#[cfg_attr(debug_assertions, ignore = "slow f64 reference, run in release")]
fn gru_passes_match_the_f64_reference() {
    check_all_passes::<Gru>(100, &all_cases());
}

/// Two of those cases, for debug builds.
#[test]
fn gru_passes_match_the_f64_reference_small() {
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
            RecurrentNoise::PerStep,
            NoiseOn::Weights,
        ),
    ];
    check_all_passes::<Gru>(150, &cases);
}

/// The same checks on the Elman network through `Model`.
#[test]
#[cfg_attr(debug_assertions, ignore = "slow f64 reference, run in release")]
fn elman_model_passes_match_the_f64_reference() {
    check_all_passes::<Net>(200, &all_cases());
}

/// The GRU's loss gradient (`Model::loss_grad_sum`) against central
/// differences of the f64 loss, both readouts.
#[test]
fn gru_loss_gradient_matches_finite_differences() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(300);
    for act in [ActivationKind::Tanh, ActivationKind::Softplus] {
        let net: Gru = random_rnn(301, act, RecurrentNoise::PerSequence);
        let x = random_seq::<T, D>(&mut rng);
        let t1 = [0.3, -0.2];
        let ts = random_seq::<T, K>(&mut rng);
        for readout in [Readout::Last, Readout::EveryStep] {
            let target: Vec<f64> = if readout == Readout::Last {
                t1.iter().map(|&v| f64::from(v)).collect()
            } else {
                ts.as_ref().iter().map(|&v| f64::from(v)).collect()
            };
            let mut g = Gru::zeroed();
            let mut total = 0.0;
            if readout == Readout::Last {
                Model::<X, [f32; K]>::loss_grad_sum(
                    &net,
                    &HalfSquaredError,
                    &[x],
                    &[t1],
                    &mut g,
                    &mut total,
                )
                .unwrap();
            } else {
                Model::<X, Sequence<T, K>>::loss_grad_sum(
                    &net,
                    &HalfSquaredError,
                    &[x],
                    &[ts],
                    &mut g,
                    &mut total,
                )
                .unwrap();
            }
            let want = ref_of(&net, readout).grad_shared(
                |r| {
                    r.forward(x.as_ref())
                        .iter()
                        .zip(&target)
                        .map(|(f, t)| 0.5 * (f - t) * (f - t))
                        .sum()
                },
                1e-5,
            );
            assert_close(
                &format!("{act:?} {readout:?}"),
                &flat(&g),
                &want,
                1e-4,
                1e-5,
            );
        }
    }
}

/// GRU per-step noise: distinct draws per step, the backward pass sees the
/// forward draws, and the gradient is the unrolled one at those draws.
#[test]
fn gru_per_step_noise_backward_matches_unrolled_reference() {
    let net: Gru = random_rnn(400, ActivationKind::Tanh, RecurrentNoise::PerStep);
    let x = random_seq::<T, D>(&mut Xoshiro128PlusPlus::seed_from_u64(400));
    let mut rec = recorder(NoiseKind::Additive, NoiseOn::WeightsAndBiases);
    let mut ws = Model::<X, [f32; K]>::workspace(&net);
    let mut y = [0.0; K];
    Model::<X, [f32; K]>::forward_with(&net, &x, &mut rec, &mut ws, &mut y).unwrap();
    let fwd = std::mem::take(&mut rec.rows);
    let r = ref_from_rows_gates(&net, &fwd, 3);
    assert_ne!(r.cells[0], r.cells[1]);
    let got: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
    assert_close("noisy forward", &got, &r.forward(x.as_ref()), 1e-5, 1e-6);
    let dy = [0.7, -0.4];
    let mut g = Gru::zeroed();
    Model::<X, [f32; K]>::backward_with(&net, &mut ws, &dy, &mut rec, &mut g).unwrap();
    let want = r.grad_shared_from_copies(x.as_ref(), &dy);
    assert_close("noisy gradient", &flat(&g), &want, 1e-4, 1e-5);
}

fn ref_from_rows_gates<N: Rnn>(net: &N, rows: &[(usize, usize, Vec<f32>)], gates: usize) -> Ref {
    let mut r = Ref::of_params(net, net.act(), Readout::Last, gates);
    for t in 0..T {
        let cell: Vec<f64> = rows
            .iter()
            .filter(|(s, l, _)| *s == t && *l < 2)
            .flat_map(|(_, _, v)| v.iter().map(|&v| f64::from(v)))
            .collect();
        if cell.len() == r.cell() {
            r.cells[t] = cell;
        }
    }
    let read: Vec<f64> = rows
        .iter()
        .filter(|(_, l, _)| *l == 2)
        .flat_map(|(_, _, v)| v.iter().map(|&v| f64::from(v)))
        .collect();
    r.reads[T - 1] = read;
    r
}

/// The GRU trains with weight noise of both semantics and with the penalty.
#[test]
fn gru_training_decreases_the_loss() {
    let (xs, ys, _) = data(16, 23);
    let wn = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
        for pen in [false, true] {
            let mut net = noisereg::Gru::<D, H, K, noisereg::Tanh>::zeroed().with_noise(noise);
            net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(9));
            let before =
                clean_loss::<_, [f32; K], _, _, _>(&net, &HalfSquaredError, &xs, &ys).unwrap();
            let adam = Adam::with_defaults(0.03, &net).unwrap();
            let tr = ModelTrainer::<X, [f32; K], _, _>::new(net, adam, 5);
            let mut tr = if pen {
                tr.with_penalty(&wn).unwrap()
            } else {
                tr.with_weight_noise(&wn).unwrap()
            };
            for _ in 0..60 {
                tr.step(&HalfSquaredError, &xs, &ys).unwrap();
            }
            let after =
                clean_loss::<_, [f32; K], _, _, _>(&tr.into_network(), &HalfSquaredError, &xs, &ys)
                    .unwrap();
            assert!(
                after < 0.7 * before,
                "{noise:?} penalty {pen}: {before} -> {after}"
            );
        }
    }
}

// ------------------------------------------------- pinned bits of every pass

/// Every pass of the three recurrent networks through the `Model` trait
/// (clean and with a deterministic draw, both readouts, both noise
/// semantics, both bias settings), hashed bit for bit, and the sequence of
/// draw calls: the values the passes gave before they were written once over
/// the shared driver.
mod pinned {
    use noisereg::{
        Clean, Elman, Gru, Init, Model, NoiseOn, Parameters, Perturbation, RecurrentNoise,
        Sequence, StackedElman, Tanh,
    };
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    /// FNV-1a over bits.
    struct H(u64);
    impl H {
        fn f(&mut self, v: f32) {
            self.0 = (self.0 ^ v.to_bits() as u64).wrapping_mul(0x100000001b3);
        }
        fn u(&mut self, v: usize) {
            self.0 = (self.0 ^ (v as u64 + 0x9e37)).wrapping_mul(0x100000001b3);
        }
        fn s(&mut self, v: &[f32]) {
            for &x in v {
                self.f(x);
            }
        }
    }

    /// Deterministic noise that also logs its calls.
    struct P {
        step: usize,
        layer: usize,
        log: Vec<usize>,
    }
    impl Perturbation for P {
        fn perturbs_weights(&self) -> bool {
            true
        }
        fn begin_step(&mut self, s: usize) {
            self.step = s;
            self.log.push(1000 + s);
        }
        fn begin_layer(&mut self, l: usize) {
            self.layer = l;
            self.log.push(2000 + l);
        }
        fn weight_row(&mut self, c: &[f32], o: &mut [f32]) {
            self.log.push(3000 + c.len());
            for (i, (o, c)) in o.iter_mut().zip(c).enumerate() {
                *o = c + 0.01 * ((self.step * 7 + self.layer * 3 + i) as f32).sin();
            }
        }
        fn bias(&mut self, c: &[f32], o: &mut [f32]) {
            self.log.push(4000 + c.len());
            for (i, (o, c)) in o.iter_mut().zip(c).enumerate() {
                *o = c - 0.02 * ((self.step * 5 + self.layer + i) as f32).cos();
            }
        }
    }

    fn p() -> P {
        P {
            step: 0,
            layer: 0,
            log: vec![],
        }
    }

    fn probe<N, Y>(net: &N, eta: &[f32], h: &mut H)
    where
        N: Model<Sequence<4, 2>, Y> + Parameters,
        Y: AsRef<[f32]> + AsMut<[f32]> + Clone,
    {
        let x = Sequence(core::array::from_fn(|t| {
            [(t as f32 * 0.7).sin(), (t as f32 * 1.3).cos()]
        }));
        let mut ws = net.workspace();
        let mut y = net.output_buffer();
        let mut dy = net.output_buffer();
        for (i, v) in dy.as_mut().iter_mut().enumerate() {
            *v = 0.3 - 0.2 * i as f32;
        }
        for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
            net.forward_with(&x, &mut Clean, &mut ws, &mut y).unwrap();
            h.s(y.as_ref());
            let mut g = net.zeros_like();
            net.backward_with(&mut ws, &dy, &mut Clean, &mut g).unwrap();
            for i in 0..g.slice_count() {
                h.s(g.slice(i));
            }
            let mut pp = p();
            net.forward_with(&x, &mut pp, &mut ws, &mut y).unwrap();
            h.s(y.as_ref());
            let mut pp2 = p();
            let mut g = net.zeros_like();
            net.backward_with(&mut ws, &dy, &mut pp2, &mut g).unwrap();
            for i in 0..g.slice_count() {
                h.s(g.slice(i));
            }
            for l in pp.log.iter().chain(&pp2.log) {
                h.u(*l);
            }
            h.f(net.penalty(&x, eta, on, &mut ws).unwrap());
            let mut g = net.zeros_like();
            h.f(net.penalty_grad(&x, eta, on, &mut ws, &mut g).unwrap());
            for i in 0..g.slice_count() {
                h.s(g.slice(i));
            }
            net.forward_with(&x, &mut Clean, &mut ws, &mut y).unwrap();
            let mut g = net.zeros_like();
            h.f(net
                .penalty_grad_with(&mut ws, &dy, eta, on, &mut g)
                .unwrap());
            for i in 0..g.slice_count() {
                h.s(g.slice(i));
            }
            net.forward_with(&x, &mut Clean, &mut ws, &mut y).unwrap();
            let mut g = net.zeros_like();
            h.f(net
                .seeded_penalty_with(&mut ws, &dy, eta, on, Some(&mut g))
                .unwrap());
            for i in 0..g.slice_count() {
                h.s(g.slice(i));
            }
            let mut tr = net.output_buffer();
            net.hessian_trace(&x, eta, on, &mut ws, &mut tr).unwrap();
            h.s(tr.as_ref());
        }
    }

    #[test]
    fn passes_give_the_pinned_bits() {
        let mut h = H(0xcbf29ce484222325);
        let mut hashes = Vec::new();
        for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
            let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
            let mut e = Elman::<2, 3, 2, Tanh>::zeroed().with_noise(noise);
            e.init(Init::Glorot, &mut rng);
            e.b = [0.1, -0.2, 0.05];
            let mut g = Gru::<2, 3, 2, Tanh>::zeroed().with_noise(noise);
            g.init(Init::Glorot, &mut rng);
            g.b[1] = [0.1, -0.2, 0.05];
            let mut s = StackedElman::<2, 3, 2, 2, Tanh>::zeroed().with_noise(noise);
            s.init(Init::Glorot, &mut rng);
            s.b1 = [0.1, -0.2, 0.05];
            s.b2 = [0.3, -0.1];
            let e3 = [0.01, 0.02, 0.03];
            let e5 = [0.01, 0.02, 0.03, 0.04, 0.05];
            probe::<_, [f32; 2]>(&e, &e3, &mut h);
            probe::<_, Sequence<4, 2>>(&e, &e3, &mut h);
            probe::<_, [f32; 2]>(&g, &e3, &mut h);
            probe::<_, Sequence<4, 2>>(&g, &e3, &mut h);
            probe::<_, [f32; 2]>(&s, &e5, &mut h);
            probe::<_, Sequence<4, 2>>(&s, &e5, &mut h);
            hashes.push(h.0);
        }
        assert_eq!(hashes, [0x6485cb65ebefcd12, 0x9a36e27e1213fa28]);
    }
}
