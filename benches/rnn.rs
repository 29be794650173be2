//! Recurrent networks on a mini-batch of 32 sequences of 32 steps: the BPTT
//! gradient (`plain`), one training step with weight noise drawn per
//! sequence or per step, the weight-noise penalty of every sequence
//! (`penalty`, without materialising a gradient), the gradient of loss +
//! (η/2)·penalty (`penalty_grad`, R-operator through time), and the penalty
//! as a framework computes it (`materialised_norm`: each sequence's
//! gradient materialised by a backward pass and squared). One group per
//! network, so the ratios come from one run.
//!
//! `plain`, `noise_per_sequence` and `noise_per_step` are optimiser steps
//! (SGD, forward, backward, update) of the core's trainer; `penalty` and
//! `materialised_norm` compute the batch's penalties; `penalty_grad` is a
//! trainer step with the explicit penalty.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noisereg::{
    Clean, Elman, Gru, HalfSquaredError, Init, Model, ModelTrainer, NoiseKind, NoiseOn, Parameters,
    RecurrentNoise, Sequence, Sgd, Tanh, WeightNoiseConfig,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use std::hint::black_box;

const BATCH: usize = 32;
const T: usize = 32;
const ETA: f32 = 0.01;

type Seq = Sequence<T, 1>;

fn batch() -> (Vec<Seq>, Vec<[f32; 1]>) {
    let xs: Vec<Seq> = (0..BATCH)
        .map(|i| {
            Sequence(core::array::from_fn(
                |t| [((i * T + t) as f32 * 0.37).sin()],
            ))
        })
        .collect();
    let ys = xs
        .iter()
        .map(|x| [x.0.iter().map(|v| v[0]).sum::<f32>() * 0.05])
        .collect();
    (xs, ys)
}

/// `Σ_l η_l ‖g_l‖²` over the weight slices (even slices) of a gradient.
fn weighted_sq<P: Parameters>(g: &P, eta: &[f32]) -> f32 {
    (0..g.slice_count())
        .filter(|i| i % 2 == 0)
        .map(|i| eta[i / 2] * g.slice(i).iter().map(|v| v * v).sum::<f32>())
        .sum()
}

fn group<N>(c: &mut Criterion, name: &str, make: impl Fn(RecurrentNoise) -> N)
where
    N: Model<Seq, [f32; 1]> + Parameters,
{
    let (xs, ys) = batch();
    let sgd = Sgd::new(1e-6).unwrap();
    let noise = WeightNoiseConfig::new(NoiseKind::Additive, ETA).unwrap();
    let eta = [ETA; 3];
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut t =
        ModelTrainer::<Seq, [f32; 1], N, Sgd>::new(make(RecurrentNoise::PerSequence), sgd, 1);
    g.bench_function("plain", |b| {
        b.iter(|| black_box(t.step(&HalfSquaredError, &xs, &ys).unwrap()))
    });
    for (id, sem) in [
        ("noise_per_sequence", RecurrentNoise::PerSequence),
        ("noise_per_step", RecurrentNoise::PerStep),
    ] {
        let mut t = ModelTrainer::<Seq, [f32; 1], N, Sgd>::new(make(sem), sgd, 1)
            .with_weight_noise(&noise)
            .unwrap();
        g.bench_function(id, |b| {
            b.iter(|| black_box(t.step(&HalfSquaredError, &xs, &ys).unwrap()))
        });
    }
    let net = make(RecurrentNoise::PerSequence);
    let mut ws = net.workspace();
    g.bench_function("penalty", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for x in &xs {
                total += net.penalty(x, &eta, NoiseOn::Weights, &mut ws).unwrap();
            }
            black_box(total)
        })
    });
    let mut t =
        ModelTrainer::<Seq, [f32; 1], N, Sgd>::new(make(RecurrentNoise::PerSequence), sgd, 1)
            .with_penalty(&noise)
            .unwrap();
    g.bench_function("penalty_grad", |b| {
        b.iter(|| black_box(t.step(&HalfSquaredError, &xs, &ys).unwrap()))
    });
    let mut grad = net.zeros_like();
    let mut y = [0.0f32];
    // The two penalties agree (per sequence: ‖Σ_t G_t‖² is the full gradient's norm).
    for x in &xs {
        let p = net.penalty(x, &eta, NoiseOn::Weights, &mut ws).unwrap();
        net.forward_with(x, &mut Clean, &mut ws, &mut y).unwrap();
        grad = net.zeros_like();
        net.backward_with(&mut ws, &[1.0], &mut Clean, &mut grad)
            .unwrap();
        let m = weighted_sq(&grad, &eta);
        assert!((p - m).abs() <= 1e-4 * m.abs().max(1e-6), "{p} vs {m}");
    }
    g.bench_function("materialised_norm", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for x in &xs {
                net.forward_with(x, &mut Clean, &mut ws, &mut y).unwrap();
                grad = net.zeros_like();
                net.backward_with(&mut ws, &[1.0], &mut Clean, &mut grad)
                    .unwrap();
                total += weighted_sq(&grad, &eta);
            }
            black_box(total)
        })
    });
    g.finish();
}

fn elman(noise: RecurrentNoise) -> Elman<1, 16, 1, Tanh> {
    let mut n = Elman::<1, 16, 1, Tanh>::zeroed().with_noise(noise);
    n.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(1));
    n
}

fn rnn_elman(c: &mut Criterion) {
    group(c, "rnn_elman_1_16_1_t32", elman);
}

fn gru(noise: RecurrentNoise) -> Gru<1, 16, 1, Tanh> {
    let mut n = Gru::<1, 16, 1, Tanh>::zeroed().with_noise(noise);
    n.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(1));
    n
}

fn rnn_gru(c: &mut Criterion) {
    group(c, "rnn_gru_1_16_1_t32", gru);
}

criterion_group!(benches, rnn_elman, rnn_gru);
criterion_main!(benches);
