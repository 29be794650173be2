//! Int8 inference against f32, quantisation and one bit-flip evaluation
//! (`noisereg::quant`), on a 16→32→32→1 tanh network, batch of 1024.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noisereg::Model;
use noisereg::{
    Granularity, HalfSquaredError, Init, Int8Network, Mlp2, Network, NoiseOn, Tanh, ToInt8,
    clean_loss, flip_bits_f32,
};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use std::hint::black_box;

const BATCH: usize = 1024;
type Net = Mlp2<16, 32, 32, 1, Tanh>;

fn uniform(rng: &mut impl Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 / 8_388_608.0 - 1.0
}

fn quant(c: &mut Criterion) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut net = Net::zeroed();
    net.init(Init::Glorot, &mut rng);
    let xs: Vec<[f32; 16]> = (0..BATCH)
        .map(|_| core::array::from_fn(|_| uniform(&mut rng)))
        .collect();
    let ys: Vec<[f32; 1]> = (0..BATCH).map(|_| [uniform(&mut rng)]).collect();
    let q = net.to_int8(8, Granularity::PerRow).unwrap();
    let mut out = vec![[0.0f32; 1]; BATCH];

    let mut g = c.benchmark_group("quant_16_32_32_1");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("forward_f32", |b| {
        b.iter(|| {
            black_box(&net)
                .forward_batch(black_box(&xs), &mut out)
                .unwrap();
            black_box(&out);
        })
    });
    g.bench_function("forward_f32_per_sample", |b| {
        b.iter(|| {
            for (x, y) in xs.iter().zip(out.iter_mut()) {
                black_box(&net).forward(x, y).unwrap();
            }
            black_box(&out);
        })
    });
    g.bench_function("forward_int8", |b| {
        b.iter(|| {
            for (x, y) in xs.iter().zip(out.iter_mut()) {
                black_box(&q).forward(x, y);
            }
            black_box(&out);
        })
    });
    g.bench_function("quantize", |b| {
        b.iter(|| black_box(black_box(&net).to_int8(8, Granularity::PerRow).unwrap()))
    });
    g.bench_function("bitflip_eval", |b| {
        let mut r = Xoshiro128PlusPlus::seed_from_u64(2);
        b.iter(|| {
            let mut p = net;
            flip_bits_f32(&mut p, 1e-4, NoiseOn::Weights, &mut r).unwrap();
            black_box(clean_loss(&p, &HalfSquaredError, &xs, &ys).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, quant);
criterion_main!(benches);
