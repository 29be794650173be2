//! Training step cost per sample: plain, weight noise (independent per
//! sample, per batch, Flipout, local reparameterisation), the explicit
//! penalty, and the normals alone.
//!
//! Every id runs one optimiser step (SGD) on a mini-batch of 32 samples
//! (forward, backward, update) and reports throughput in samples.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use noisereg::{
    Estimator, HalfSquaredError, Init, Mlp1, Mlp2, Network, NoiseKind, NoiseOn, Perturbation,
    Redraw, Sgd, Tanh, Trainer, WeightNoise, WeightNoiseConfig,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use std::hint::black_box;

const BATCH: usize = 32;
const ETA: f32 = 0.01;

fn batch<const IN: usize>() -> (Vec<[f32; IN]>, Vec<[f32; 1]>) {
    let xs: Vec<[f32; IN]> = (0..BATCH)
        .map(|i| core::array::from_fn(|j| ((i * IN + j) as f32 * 0.37).sin()))
        .collect();
    let ys = xs.iter().map(|x| [x.iter().sum::<f32>() * 0.1]).collect();
    (xs, ys)
}

/// The normals one per-sample `weight_noise` step draws without a scratch
/// network (`S = 0`): every layer's rows in the forward pass, every layer but
/// the first again in the backward pass. The benched trainers have `S = 1`
/// and draw each weight's normal once per sample.
fn draw_only(noise: &mut WeightNoise, layers: &[(usize, usize)], row: &mut [f32], clean: &[f32]) {
    for _ in 0..BATCH {
        noise.next_draw();
        for (l, &(n_in, n_out)) in layers.iter().enumerate() {
            noise.begin_layer(l);
            for _ in 0..n_out {
                noise.weight_row(&clean[..n_in], &mut row[..n_in]);
            }
        }
        for (l, &(n_in, n_out)) in layers.iter().enumerate().skip(1).rev() {
            noise.begin_layer(l);
            for _ in 0..n_out {
                noise.weight_row(&clean[..n_in], &mut row[..n_in]);
            }
        }
        black_box(&row);
    }
}

fn group<const IN: usize, N: Network<IN, 1>>(
    c: &mut Criterion,
    name: &str,
    layers: &[(usize, usize)],
) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut net = N::zeroed();
    net.init(Init::Glorot, &mut rng);
    let (xs, ys) = batch::<IN>();
    let sgd = Sgd::new(1e-4).unwrap();
    let additive = WeightNoiseConfig::new(NoiseKind::Additive, ETA).unwrap();
    let per_batch = additive.with_redraw(Redraw::PerBatch);
    let local = WeightNoiseConfig::new(NoiseKind::LocalReparam, ETA).unwrap();
    let flipout = additive.with_estimator(Estimator::Flipout);

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut bench = |id: &str, mut t: Trainer<IN, 1, N, Sgd, 1>| {
        g.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| black_box(t.step(&HalfSquaredError, black_box(&xs), &ys).unwrap()))
        });
    };
    let fresh = || Trainer::<IN, 1, N, Sgd, 1>::with_scratch(net.clone(), sgd, 7);
    bench("plain", fresh());
    bench(
        "weight_noise",
        fresh().with_weight_noise(&additive).unwrap(),
    );
    bench(
        "weight_noise_per_batch",
        fresh().with_weight_noise(&per_batch).unwrap(),
    );
    bench(
        "weight_noise_flipout",
        fresh().with_weight_noise(&flipout).unwrap(),
    );
    bench(
        "weight_noise_local_reparam",
        fresh().with_weight_noise(&local).unwrap(),
    );
    let penalty = WeightNoiseConfig::new(NoiseKind::Additive, ETA)
        .unwrap()
        .with_noise_on(NoiseOn::Weights);
    bench("explicit_penalty", fresh().with_penalty(&penalty).unwrap());
    let mut noise = WeightNoise::new(&additive, 9);
    let widest = layers.iter().map(|l| l.0).max().unwrap_or(1);
    let (mut row, clean) = (vec![0.0f32; widest], vec![0.25f32; widest]);
    g.bench_function(BenchmarkId::from_parameter("draw_only"), |b| {
        b.iter(|| draw_only(&mut noise, layers, &mut row, &clean))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    group::<16, Mlp2<16, 32, 32, 1, Tanh>>(c, "train_16_32_32_1", &[(16, 32), (32, 32), (32, 1)]);
    group::<10, Mlp1<10, 16, 1, Tanh>>(c, "train_10_16_1", &[(10, 16), (16, 1)]);
}

criterion_group!(train, benches);
criterion_main!(train);
