//! Squared-norm throughput: noisereg's SIMD kernel against its scalar twin, a
//! naive iterator and nalgebra, in one group so the ratios come from one run.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::DVector;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use std::hint::black_box;

fn data(n: usize) -> Vec<f32> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(n as u64);
    (0..n)
        .map(|_| (rng.next_u32() >> 8) as f32 / 16_777_216.0 - 0.5)
        .collect()
}

fn sq_norm(c: &mut Criterion) {
    let mut group = c.benchmark_group("sq_norm");
    for n in [256usize, 4096, 65536, 4_194_304] {
        let x = data(n);
        let v = DVector::from_column_slice(&x);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("noisereg", n), &x, |b, x| {
            b.iter(|| noisereg::sq_norm(black_box(x)))
        });
        group.bench_with_input(BenchmarkId::new("scalar_twin", n), &x, |b, x| {
            b.iter(|| noisereg::sq_norm_scalar(black_box(x)))
        });
        group.bench_with_input(BenchmarkId::new("naive_iter", n), &x, |b, x| {
            b.iter(|| black_box(x).iter().map(|v| v * v).sum::<f32>())
        });
        group.bench_with_input(BenchmarkId::new("nalgebra", n), &v, |b, v| {
            b.iter(|| black_box(v).norm_squared())
        });
    }
    group.finish();
}

criterion_group!(benches, sq_norm);
criterion_main!(benches);
