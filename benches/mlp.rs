//! MLP passes over a batch of 1024 samples: forward, the mean ½-squared-error
//! gradient, the per-sample penalty `‖∇_W f‖²`, the gradient of loss +
//! (η/2)·penalty, and the same loss gradient written with nalgebra `SMatrix`
//! (the peer), in one group per network so the ratios come from one run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nalgebra::{SMatrix, SVector};
use noisereg::{
    Activation, Clean, HalfSquaredError, Init, Mlp1, Mlp2, Network, NoiseOn, Parameters,
    SoftmaxCrossEntropy, Tanh, loss_gauss_newton_grad_batch,
};
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
/// The same network as batched matrix products through `matrixmultiply`'s
/// sgemm: activations `B × width`, row-major; weights `out × in`, row-major.
struct GemmMlp {
    layers: Vec<(Vec<f32>, Vec<f32>, usize, usize)>,
    /// Per layer: input activations, pre-activation gradient (scratch).
    acts: Vec<Vec<f32>>,
    deltas: Vec<Vec<f32>>,
}

impl GemmMlp {
    fn new<N: Parameters>(net: &N, sizes: &[usize]) -> Self {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                (
                    net.slice(2 * l).to_vec(),
                    net.slice(2 * l + 1).to_vec(),
                    w[0],
                    w[1],
                )
            })
            .collect();
        let acts = sizes.iter().map(|&n| vec![0.0; BATCH * n]).collect();
        let deltas = sizes.iter().map(|&n| vec![0.0; BATCH * n]).collect();
        Self {
            layers,
            acts,
            deltas,
        }
    }

    /// `c (m×n) = a (m×k) · b (k×n)` with explicit strides, `c = beta·c + …`.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        sa: (isize, isize),
        b: &[f32],
        sb: (isize, isize),
        beta: f32,
        c: &mut [f32],
    ) {
        assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
        // SAFETY: the asserts above bound every index the strides reach.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                sa.0,
                sa.1,
                b.as_ptr(),
                sb.0,
                sb.1,
                beta,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    }

    fn loss_grad(
        &mut self,
        xs: &[f32],
        ys: &[[f32; 1]],
        grads: &mut [(Vec<f32>, Vec<f32>)],
    ) -> f32 {
        let bsz = ys.len();
        self.acts[0].copy_from_slice(xs);
        let depth = self.layers.len();
        for (l, (w, b, ni, no)) in self.layers.iter().enumerate() {
            let (lo, hi) = self.acts.split_at_mut(l + 1);
            let (x, z) = (&lo[l], &mut hi[0]);
            // Z = X Wᵀ: b[k=i, n=o] = w[o][i] → row stride 1, column stride ni.
            Self::gemm(
                bsz,
                *ni,
                *no,
                x,
                (*ni as isize, 1),
                w,
                (1, *ni as isize),
                0.0,
                z,
            );
            for row in z.chunks_exact_mut(*no) {
                for (v, bo) in row.iter_mut().zip(b) {
                    *v += bo;
                    if l + 1 < depth {
                        *v = Tanh.f(*v);
                    }
                }
            }
        }
        let mut loss = 0.0;
        let out = &self.acts[depth];
        for ((d, f), y) in self.deltas[depth].iter_mut().zip(out).zip(ys) {
            *d = f - y[0];
            loss += 0.5 * *d * *d;
        }
        let scale = 1.0 / bsz as f32;
        for l in (0..depth).rev() {
            let (w, _, ni, no) = &self.layers[l];
            let (gw, gb) = &mut grads[l];
            let d = &self.deltas[l + 1];
            // GW (no × ni) = Dᵀ X / B.
            Self::gemm(
                *no,
                bsz,
                *ni,
                d,
                (1, *no as isize),
                &self.acts[l],
                (*ni as isize, 1),
                0.0,
                gw,
            );
            gb.fill(0.0);
            for row in d.chunks_exact(*no) {
                for (g, v) in gb.iter_mut().zip(row) {
                    *g += v;
                }
            }
            gw.iter_mut().chain(gb.iter_mut()).for_each(|g| *g *= scale);
            if l > 0 {
                let (lo, hi) = self.deltas.split_at_mut(l + 1);
                // G (B × ni) = D W, then ⊙ tanh'.
                Self::gemm(
                    bsz,
                    *no,
                    *ni,
                    &hi[0],
                    (*no as isize, 1),
                    w,
                    (*ni as isize, 1),
                    0.0,
                    &mut lo[l],
                );
                for (g, a) in lo[l].iter_mut().zip(&self.acts[l]) {
                    *g *= 1.0 - a * a;
                }
            }
        }
        loss * scale
    }
}

fn gemm_peer(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    net: &impl Parameters,
    sizes: &[usize],
    xs: &[f32],
    ys: &[[f32; 1]],
    (ours_loss, ours_grad): (f32, &impl Parameters),
) {
    let mut peer = GemmMlp::new(net, sizes);
    let mut grads: Vec<(Vec<f32>, Vec<f32>)> = sizes
        .windows(2)
        .map(|w| (vec![0.0; w[0] * w[1]], vec![0.0; w[1]]))
        .collect();
    // The peer computes what `loss_grad` computes (to rounding).
    let loss = peer.loss_grad(xs, ys, &mut grads);
    assert!(
        (loss - ours_loss).abs() <= 1e-4 * ours_loss.abs().max(1.0),
        "{loss} vs {ours_loss}"
    );
    for (l, (gw, gb)) in grads.iter().enumerate() {
        for (p, q) in gw.iter().chain(gb).zip(
            ours_grad
                .slice(2 * l)
                .iter()
                .chain(ours_grad.slice(2 * l + 1)),
        ) {
            assert!(
                (p - q).abs() <= 1e-4 * q.abs().max(1e-2),
                "layer {l}: {p} vs {q}"
            );
        }
    }
    group.bench_function("gemm_loss_grad", |b| {
        b.iter(|| peer.loss_grad(black_box(xs), ys, &mut grads))
    });
}

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
            net.forward_batch(black_box(xs), &mut out).unwrap();
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
    let mut grad = N::zeroed();
    let loss = net
        .loss_grad_batch(&HalfSquaredError, &xs, &ys, &mut Clean, &mut grad)
        .unwrap();
    gemm_peer(
        &mut group,
        &net,
        &[16, 32, 32, 1],
        xs.as_flattened(),
        &ys,
        (loss, &grad),
    );
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
    let mut grad = N::zeroed();
    let loss = net
        .loss_grad_batch(&HalfSquaredError, &xs, &ys, &mut Clean, &mut grad)
        .unwrap();
    gemm_peer(
        &mut group,
        &net,
        &[10, 16, 1],
        xs.as_flattened(),
        &ys,
        (loss, &grad),
    );
    group.finish();
}

/// A 4-class classifier under softmax cross-entropy: the loss gradient, the
/// loss-correct (Gauss–Newton) penalty and the gradient of loss + penalty/2.
fn mlp_16_32_32_4_ce(c: &mut Criterion) {
    type N = Mlp2<16, 32, 32, 4, Tanh>;
    let mut net = N::zeroed();
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(1));
    let (xs, _) = data::<16>(2);
    let ts: Vec<usize> = (0..BATCH).map(|i| (i * 7 + 3) % 4).collect();
    let eta = [ETA; 3];
    let mut group = c.benchmark_group("mlp_16_32_32_4_ce");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut grad = N::zeroed();
    group.bench_function("loss_grad", |b| {
        b.iter(|| {
            net.loss_grad_batch(
                &SoftmaxCrossEntropy,
                black_box(&xs),
                &ts,
                &mut Clean,
                &mut grad,
            )
            .unwrap()
        })
    });
    let mut pen = vec![0.0f32; BATCH];
    group.bench_function("penalty", |b| {
        b.iter(|| {
            net.gauss_newton_penalty_batch(
                &SoftmaxCrossEntropy,
                black_box(&xs),
                &ts,
                &eta,
                NoiseOn::Weights,
                &mut pen,
            )
            .unwrap();
            black_box(&pen);
        })
    });
    group.bench_function("penalty_grad", |b| {
        b.iter(|| {
            loss_gauss_newton_grad_batch(
                &net,
                &SoftmaxCrossEntropy,
                black_box(&xs),
                &ts,
                &eta,
                NoiseOn::Weights,
                &mut grad,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, mlp_16_32_32_1, mlp_10_16_1, mlp_16_32_32_4_ce);
criterion_main!(benches);
