//! Standard-normal fill throughput: noisereg's SIMD batch fill (accurate,
//! and the fast variant `noisereg_simd_fast`) and scalar Box–Muller against
//! rand_distr's ziggurat and a naive std Box–Muller, in one group so the
//! ratios come from one run.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use noisereg::{BoxMuller, XoshiroLanes, fill_normal, fill_normal_fast};
use rand_core::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::{Xoshiro128PlusPlus, Xoshiro256PlusPlus};
use std::hint::black_box;

fn normal_fill(c: &mut Criterion) {
    let mut group = c.benchmark_group("normal_fill");
    for n in [4096usize, 1_048_576] {
        let mut out = vec![0.0f32; n];
        group.throughput(Throughput::Elements(n as u64));

        let mut lanes = XoshiroLanes::seed_from_u64(1);
        group.bench_function(BenchmarkId::new("noisereg_simd", n), |b| {
            b.iter(|| fill_normal(&mut lanes, black_box(&mut out)))
        });

        let mut lanes = XoshiroLanes::seed_from_u64(1);
        group.bench_function(BenchmarkId::new("noisereg_simd_fast", n), |b| {
            b.iter(|| fill_normal_fast(&mut lanes, black_box(&mut out)))
        });

        let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
        let mut normal = BoxMuller::standard();
        group.bench_function(BenchmarkId::new("noisereg_scalar", n), |b| {
            b.iter(|| {
                for o in black_box(&mut out).iter_mut() {
                    *o = normal.sample(&mut rng);
                }
            })
        });

        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        group.bench_function(BenchmarkId::new("rand_distr_ziggurat", n), |b| {
            b.iter(|| {
                for o in black_box(&mut out).iter_mut() {
                    *o = StandardNormal.sample(&mut rng);
                }
            })
        });

        let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
        group.bench_function(BenchmarkId::new("naive_box_muller", n), |b| {
            b.iter(|| {
                for pair in black_box(&mut out).chunks_exact_mut(2) {
                    let u1 = ((rng.next_u32() >> 8) + 1) as f32 / 16_777_216.0;
                    let u2 = (rng.next_u32() >> 8) as f32 / 16_777_216.0;
                    let r = (-2.0 * u1.ln()).sqrt();
                    let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
                    pair[0] = r * c;
                    pair[1] = r * s;
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, normal_fill);
criterion_main!(benches);
