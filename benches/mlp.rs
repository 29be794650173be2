//! MLP passes over a batch of 1024 samples: forward, the mean ½-squared-error
//! gradient, the per-sample penalty `‖∇_W f‖²`, the gradient of loss +
//! (η/2)·penalty, and the same loss gradient written with nalgebra `SMatrix`
//! (the peer), in one group per network so the ratios come from one run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::{SMatrix, SVector};
use noisereg::{Clean, HalfSquaredError, Init, Mlp1, Mlp2, Network, NoiseOn, Tanh};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use std::hint::black_box;

const BATCH: usize = 1024;
const ETA: f32 = 0.01;

fn uniform(rng: &mut impl Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 / 8_388_608.0 - 1.0
}

fn data<const IN: usize>(seed: u64) -> (Vec<[f32; IN]>, Vec<[f32; 1]>) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let xs = (0..BATCH)
        .map(|_| core::array::from_fn(|_| uniform(&mut rng)))
        .collect();
    let ys = (0..BATCH).map(|_| [uniform(&mut rng)]).collect();
    (xs, ys)
}

/// Dense layer as nalgebra sees it.
struct NaDense<const I: usize, const O: usize> {
    w: SMatrix<f32, O, I>,
    b: SVector<f32, O>,
}

impl<const I: usize, const O: usize> NaDense<I, O> {
    fn from(w: &[[f32; I]; O], b: &[f32; O]) -> Self {
        Self {
            w: SMatrix::from_fn(|o, i| w[o][i]),
            b: SVector::from_column_slice(b),
        }
    }
    fn zero() -> Self {
        Self {
            w: SMatrix::zeros(),
            b: SVector::zeros(),
        }
    }
}

/// The peer as a nalgebra user writes it: std's `tanh`. (noisereg, being
/// `no_std`, brings its own vectorisable tanh; swapping it into the peer is
/// reported alongside the results in the docs.)
fn tanh(v: f32) -> f32 {
    v.tanh()
}

/// 16→32→32→1 mean ½-squared-error gradient with nalgebra.
fn na_loss_grad_2<const I: usize, const H1: usize, const H2: usize>(
    net: &(NaDense<I, H1>, NaDense<H1, H2>, NaDense<H2, 1>),
    xs: &[[f32; I]],
    ys: &[[f32; 1]],
    g: &mut (NaDense<I, H1>, NaDense<H1, H2>, NaDense<H2, 1>),
) -> f32 {
    *g = (NaDense::zero(), NaDense::zero(), NaDense::zero());
    let mut loss = 0.0;
    for (x, y) in xs.iter().zip(ys) {
        let x = SVector::<f32, I>::from_column_slice(x);
        let a1 = (net.0.w * x + net.0.b).map(tanh);
        let a2 = (net.1.w * a1 + net.1.b).map(tanh);
        let f = net.2.w * a2 + net.2.b;
        let d3 = f - SVector::<f32, 1>::new(y[0]);
        loss += 0.5 * d3.norm_squared();
        g.2.w.ger(1.0, &d3, &a2, 1.0);
        g.2.b += d3;
        let d2 = net.2.w.tr_mul(&d3).component_mul(&a2.map(|a| 1.0 - a * a));
        g.1.w.ger(1.0, &d2, &a1, 1.0);
        g.1.b += d2;
        let d1 = net.1.w.tr_mul(&d2).component_mul(&a1.map(|a| 1.0 - a * a));
        g.0.w.ger(1.0, &d1, &x, 1.0);
        g.0.b += d1;
    }
    let s = 1.0 / xs.len() as f32;
    g.0.w *= s;
    g.0.b *= s;
    g.1.w *= s;
    g.1.b *= s;
    g.2.w *= s;
    g.2.b *= s;
    loss * s
}

/// 10→16→1 mean ½-squared-error gradient with nalgebra.
fn na_loss_grad_1<const I: usize, const H: usize>(
    net: &(NaDense<I, H>, NaDense<H, 1>),
    xs: &[[f32; I]],
    ys: &[[f32; 1]],
    g: &mut (NaDense<I, H>, NaDense<H, 1>),
) -> f32 {
    *g = (NaDense::zero(), NaDense::zero());
    let mut loss = 0.0;
    for (x, y) in xs.iter().zip(ys) {
        let x = SVector::<f32, I>::from_column_slice(x);
        let a1 = (net.0.w * x + net.0.b).map(tanh);
        let f = net.1.w * a1 + net.1.b;
        let d2 = f - SVector::<f32, 1>::new(y[0]);
        loss += 0.5 * d2.norm_squared();
        g.1.w.ger(1.0, &d2, &a1, 1.0);
        g.1.b += d2;
        let d1 = net.1.w.tr_mul(&d2).component_mul(&a1.map(|a| 1.0 - a * a));
        g.0.w.ger(1.0, &d1, &x, 1.0);
        g.0.b += d1;
    }
    let s = 1.0 / xs.len() as f32;
    g.0.w *= s;
    g.0.b *= s;
    g.1.w *= s;
    g.1.b *= s;
    loss * s
}

/// The four noisereg benchmarks of one network.
fn ours<const IN: usize, N: Network<IN, 1>>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    net: &N,
    xs: &[[f32; IN]],
    ys: &[[f32; 1]],
) {
    let eta = vec![ETA; N::DEPTH];
    let mut out = vec![[0.0f32; 1]; BATCH];
    group.bench_function("forward", |b| {
        b.iter(|| {
            for (x, y) in black_box(xs).iter().zip(out.iter_mut()) {
                net.forward(x, y);
            }
            black_box(&out);
        })
    });
    let mut grad = N::zeroed();
    group.bench_function("loss_grad", |b| {
        b.iter(|| {
            net.loss_grad_batch(&HalfSquaredError, black_box(xs), ys, &mut Clean, &mut grad)
                .unwrap()
        })
    });
    let mut pen = vec![0.0f32; BATCH];
    group.bench_function("penalty", |b| {
        b.iter(|| {
            net.penalty_batch(black_box(xs), &eta, NoiseOn::Weights, &mut pen)
                .unwrap();
            black_box(&pen);
        })
    });
    group.bench_function("penalty_grad", |b| {
        b.iter(|| {
            net.loss_penalty_grad_batch(
                &HalfSquaredError,
                black_box(xs),
                ys,
                &eta,
                NoiseOn::Weights,
                &mut grad,
            )
            .unwrap()
        })
    });
}

fn mlp_16_32_32_1(c: &mut Criterion) {
    type N = Mlp2<16, 32, 32, 1, Tanh>;
    let mut net = N::zeroed();
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(1));
    let (xs, ys) = data::<16>(2);
    let mut group = c.benchmark_group("mlp_16_32_32_1");
    group.throughput(Throughput::Elements(BATCH as u64));
    ours(&mut group, &net, &xs, &ys);
    let na = (
        NaDense::from(&net.0.w, &net.0.b),
        NaDense::from(&net.1.0.w, &net.1.0.b),
        NaDense::from(&net.1.1.w, &net.1.1.b),
    );
    let mut g = (NaDense::zero(), NaDense::zero(), NaDense::zero());
    group.bench_function("nalgebra_loss_grad", |b| {
        b.iter(|| na_loss_grad_2(&na, black_box(&xs), &ys, &mut g))
    });
    group.finish();
}

fn mlp_10_16_1(c: &mut Criterion) {
    type N = Mlp1<10, 16, 1, Tanh>;
    let mut net = N::zeroed();
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(3));
    let (xs, ys) = data::<10>(4);
    let mut group = c.benchmark_group("mlp_10_16_1");
    group.throughput(Throughput::Elements(BATCH as u64));
    ours(&mut group, &net, &xs, &ys);
    let na = (
        NaDense::from(&net.0.w, &net.0.b),
        NaDense::from(&net.1.w, &net.1.b),
    );
    let mut g = (NaDense::zero(), NaDense::zero());
    group.bench_function("nalgebra_loss_grad", |b| {
        b.iter(|| na_loss_grad_1(&na, black_box(&xs), &ys, &mut g))
    });
    group.finish();
}

criterion_group!(benches, mlp_16_32_32_1, mlp_10_16_1);
criterion_main!(benches);
