//! Fixed-size networks against an f64 reference: forward, loss gradients, the
//! factorised penalty, its R-operator gradient `H_f v` and the exact Hessian
//! trace, checked by central finite differences in f64 on random networks of
//! every activation, 1–3 hidden layers, scalar and vector outputs. Plus the
//! Perturbation hook contract and non-finite inputs.

use noisereg::{
    ActivationKind, Clean, Dense, HalfSquaredError, Init, Loss, Mlp1, Mlp2, Mlp3, Network, NoiseOn,
    Parameters, Perturbation, Relu, SoftmaxCrossEntropy, Tanh,
};
use noisereg::{Model, SmoothedCrossEntropy, gauss_newton_penalty, loss_gauss_newton_grad};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const KINDS: [ActivationKind; 5] = [
    ActivationKind::Identity,
    ActivationKind::Tanh,
    ActivationKind::Sigmoid,
    ActivationKind::Relu,
    ActivationKind::Softplus,
];

// ---------------------------------------------------------------- helpers

/// Uniform in [-1, 1).
fn uniform(rng: &mut impl Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
}

/// `|a − b| ≤ rtol·|b| + atol·max|b|` elementwise; prints the first mismatch.
fn assert_close(what: &str, a: &[f64], b: &[f64], rtol: f64, atol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-2);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= rtol * y.abs() + atol * scale,
            "{what}: element {i}: got {x}, want {y} (scale {scale})"
        );
    }
}

/// Per-network access the tests need: activation kinds per layer.
trait Acts {
    fn set_hidden(&mut self, k: ActivationKind);
    fn set_output(&mut self, k: ActivationKind);
    fn kinds(&self) -> Vec<ActivationKind>;
}

impl<const I: usize, const O: usize> Acts for Dense<I, O, ActivationKind> {
    fn set_hidden(&mut self, _: ActivationKind) {}
    fn set_output(&mut self, k: ActivationKind) {
        self.act = k;
    }
    fn kinds(&self) -> Vec<ActivationKind> {
        vec![self.act]
    }
}

impl<const I: usize, const H: usize, N: Acts> Acts for (Dense<I, H, ActivationKind>, N) {
    fn set_hidden(&mut self, k: ActivationKind) {
        self.0.act = k;
        self.1.set_hidden(k);
    }
    fn set_output(&mut self, k: ActivationKind) {
        self.1.set_output(k);
    }
    fn kinds(&self) -> Vec<ActivationKind> {
        let mut v = vec![self.0.act];
        v.extend(self.1.kinds());
        v
    }
}

// ------------------------------------------------------ the f64 reference

fn f64_f(k: ActivationKind, x: f64) -> f64 {
    match k {
        ActivationKind::Identity => x,
        ActivationKind::Tanh => x.tanh(),
        ActivationKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        ActivationKind::Relu => x.max(0.0),
        ActivationKind::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
    }
}

fn f64_df(k: ActivationKind, x: f64) -> f64 {
    match k {
        ActivationKind::Identity => 1.0,
        ActivationKind::Tanh => 1.0 - x.tanh().powi(2),
        ActivationKind::Sigmoid | ActivationKind::Softplus => {
            let s = 1.0 / (1.0 + (-x).exp());
            if k == ActivationKind::Sigmoid {
                s * (1.0 - s)
            } else {
                s
            }
        }
        ActivationKind::Relu => f64::from(u8::from(x > 0.0)),
    }
}

/// A run-time-sized f64 MLP: `(w row-major, b, n_in, activation)` per layer.
#[derive(Clone, Debug)]
struct Ref {
    layers: Vec<(Vec<f64>, Vec<f64>, usize, ActivationKind)>,
}

impl Ref {
    fn of<const I: usize, const O: usize, N: Network<I, O> + Acts>(net: &N) -> Self {
        let kinds = net.kinds();
        let layers = kinds
            .iter()
            .enumerate()
            .map(|(l, &k)| {
                let w: Vec<f64> = net.slice(2 * l).iter().map(|&v| v as f64).collect();
                let b: Vec<f64> = net.slice(2 * l + 1).iter().map(|&v| v as f64).collect();
                let n_in = w.len() / b.len();
                (w, b, n_in, k)
            })
            .collect();
        Ref { layers }
    }

    /// All parameters in `Parameters` order.
    fn params(&self) -> Vec<f64> {
        self.layers
            .iter()
            .flat_map(|(w, b, ..)| w.iter().chain(b).copied())
            .collect()
    }

    fn set_params(&mut self, p: &[f64]) {
        let mut i = 0;
        for (w, b, ..) in &mut self.layers {
            for v in w.iter_mut().chain(b.iter_mut()) {
                *v = p[i];
                i += 1;
            }
        }
    }

    /// Which flat parameters count for `on`, and each one's layer.
    fn noisy(&self, on: NoiseOn) -> Vec<(bool, usize)> {
        let mut v = Vec::new();
        for (l, (w, b, ..)) in self.layers.iter().enumerate() {
            v.extend(w.iter().map(|_| (true, l)));
            v.extend(b.iter().map(|_| (on == NoiseOn::WeightsAndBiases, l)));
        }
        v
    }

    /// Inputs and pre-activations of every layer, and the output.
    fn forward(&self, x: &[f64]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) {
        let (mut xs, mut zs) = (Vec::new(), Vec::new());
        let mut a = x.to_vec();
        for (w, b, n_in, k) in &self.layers {
            let z: Vec<f64> = b
                .iter()
                .enumerate()
                .map(|(o, bo)| (0..*n_in).map(|i| w[o * n_in + i] * a[i]).sum::<f64>() + bo)
                .collect();
            xs.push(a);
            a = z.iter().map(|&v| f64_f(*k, v)).collect();
            zs.push(z);
        }
        (xs, zs, a)
    }

    fn out(&self, x: &[f64]) -> Vec<f64> {
        self.forward(x).2
    }

    /// `δ_l = ∂f_k/∂z_l` for every layer by f64 back-propagation.
    fn deltas(&self, x: &[f64], k: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let (xs, zs, y) = self.forward(x);
        let mut g: Vec<f64> = (0..y.len()).map(|j| f64::from(u8::from(j == k))).collect();
        let mut ds = vec![Vec::new(); self.layers.len()];
        for (l, (w, _, n_in, act)) in self.layers.iter().enumerate().rev() {
            let d: Vec<f64> = g
                .iter()
                .zip(&zs[l])
                .map(|(g, z)| g * f64_df(*act, *z))
                .collect();
            g = (0..*n_in)
                .map(|i| d.iter().enumerate().map(|(o, d)| d * w[o * n_in + i]).sum())
                .collect();
            ds[l] = d;
        }
        (xs, ds)
    }

    /// `∇_θ f_k` in `Parameters` order, with every weight gradient formed as
    /// the explicit outer product `δ xᵀ`.
    fn grad_f(&self, x: &[f64], k: usize) -> Vec<f64> {
        let (xs, ds) = self.deltas(x, k);
        let mut g = Vec::new();
        for (l, d) in ds.iter().enumerate() {
            for dv in d {
                g.extend(xs[l].iter().map(|a| dv * a));
            }
            g.extend(d.iter().copied());
        }
        g
    }

    /// `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` from the explicit gradient.
    fn penalty(&self, x: &[f64], eta: &[f64], on: NoiseOn) -> f64 {
        let noisy = self.noisy(on);
        let k_out = self.layers.last().unwrap().1.len();
        (0..k_out)
            .map(|k| {
                let g = self.grad_f(x, k);
                g.iter()
                    .zip(&noisy)
                    .filter(|(_, n)| n.0)
                    .map(|(v, n)| eta[n.1] * v * v)
                    .sum::<f64>()
            })
            .sum()
    }
}

/// Central difference of `f` over every flat parameter of `r`.
fn fd_grad(r: &Ref, f: impl Fn(&Ref) -> f64, h: f64) -> Vec<f64> {
    let p0 = r.params();
    let mut q = r.clone();
    (0..p0.len())
        .map(|i| {
            let mut p = p0.clone();
            p[i] = p0[i] + h;
            q.set_params(&p);
            let up = f(&q);
            p[i] = p0[i] - h;
            q.set_params(&p);
            (up - f(&q)) / (2.0 * h)
        })
        .collect()
}

fn flat<const I: usize, const O: usize, N: Network<I, O>>(net: &N) -> Vec<f64> {
    (0..(2 * N::DEPTH))
        .flat_map(|i| net.slice(i).iter().map(|&v| v as f64).collect::<Vec<_>>())
        .collect()
}

// ---------------------------------------------------- random test networks

/// A random network: Glorot weights, small random biases, the given hidden
/// activation and output activation.
fn random_net<const I: usize, const O: usize, N: Network<I, O> + Acts>(
    seed: u64,
    hidden: ActivationKind,
    output: ActivationKind,
) -> N {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut net = N::zeroed();
    net.set_hidden(hidden);
    net.set_output(output);
    net.init(Init::Glorot, &mut rng);
    for i in (1..(2 * N::DEPTH)).step_by(2) {
        for b in net.slice_mut(i) {
            *b = 0.3 * uniform(&mut rng);
        }
    }
    // Scale weights up a little so the nonlinearities are exercised.
    for i in (0..(2 * N::DEPTH)).step_by(2) {
        for w in net.slice_mut(i) {
            *w *= 1.5;
        }
    }
    net
}

/// A random input whose pre-activations are all at least 0.05 away from
/// ReLU's kink.
fn random_input<const I: usize>(rng: &mut impl Rng, r: &Ref) -> [f32; I] {
    loop {
        let x: [f32; I] = core::array::from_fn(|_| uniform(rng));
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        if r.forward(&x64).1.iter().flatten().all(|z| z.abs() > 0.05) {
            return x;
        }
    }
}

fn x64<const I: usize>(x: &[f32; I]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Every check on one network shape, for every hidden activation.
fn check_all<const I: usize, const O: usize, N: Network<I, O> + Acts>(
    seed: u64,
    output: ActivationKind,
) {
    for (ki, &hidden) in KINDS.iter().enumerate() {
        let net: N = random_net(seed + ki as u64, hidden, output);
        let r = Ref::of(&net);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xabc ^ ki as u64);
        let eta: Vec<f32> = (0..N::DEPTH).map(|l| 0.01 * (l as f32 + 1.0)).collect();
        let eta64: Vec<f64> = eta.iter().map(|&v| v as f64).collect();
        let tag = format!("{}-layer {hidden:?}/{output:?}", N::DEPTH);
        let mut cache = net.workspace();
        for s in 0..2 {
            let x: [f32; I] = random_input(&mut rng, &r);
            let xr = x64(&x);
            let t: [f32; O] = core::array::from_fn(|_| uniform(&mut rng));

            // Forward.
            let mut y = [0.0; O];
            net.forward(&x, &mut y).unwrap();
            let y64: Vec<f64> = y.iter().map(|&v| v as f64).collect();
            assert_close(&format!("{tag} forward"), &y64, &r.out(&xr), 1e-5, 1e-5);
            let mut y2 = [0.0; O];
            net.forward_with(&x, &mut Clean, &mut cache, &mut y2)
                .unwrap();
            assert_eq!(y, y2, "{tag}: forward and forward_with differ");

            // Loss gradient (half squared error), one sample.
            let mut grad = N::zeroed();
            let mut dy = [0.0; O];
            HalfSquaredError.value_grad(&y, &t, &mut dy).unwrap();
            net.backward_with(&mut cache, &dy, &mut Clean, &mut grad)
                .unwrap();
            let t64: Vec<f64> = t.iter().map(|&v| v as f64).collect();
            let loss = |q: &Ref| {
                0.5 * q
                    .out(&xr)
                    .iter()
                    .zip(&t64)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>()
            };
            let fd = fd_grad(&r, loss, 1e-6);
            assert_close(
                &format!("{tag} loss gradient"),
                &flat(&grad),
                &fd,
                1e-3,
                2e-4,
            );

            for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
                // Penalty: factorised (f32) vs explicit outer products (f64) and
                // vs finite-difference gradients of f.
                let p = net.penalty(&x, &eta, on, &mut cache).unwrap();
                let want = r.penalty(&xr, &eta64, on);
                assert_close(
                    &format!("{tag} {on:?} penalty"),
                    &[p as f64],
                    &[want],
                    1e-4,
                    1e-4,
                );
                if s == 0 {
                    let noisy = r.noisy(on);
                    let fd_pen: f64 = (0..O)
                        .map(|k| {
                            let g = fd_grad(&r, |q| q.out(&xr)[k], 1e-6);
                            g.iter()
                                .zip(&noisy)
                                .filter(|(_, n)| n.0)
                                .map(|(v, n)| eta64[n.1] * v * v)
                                .sum::<f64>()
                        })
                        .sum();
                    assert_close(
                        &format!("{tag} {on:?} penalty vs fd"),
                        &[p as f64],
                        &[fd_pen],
                        1e-4,
                        1e-4,
                    );
                }

                // H_f v = ∇ ½ penalty vs central differences of the f64 penalty.
                let mut hv = N::zeroed();
                let p2 = net.penalty_grad(&x, &eta, on, &mut cache, &mut hv).unwrap();
                assert_eq!(p, p2, "{tag}: penalty and penalty_grad's penalty differ");
                let fd = fd_grad(&r, |q| 0.5 * q.penalty(&xr, &eta64, on), 1e-6);
                assert_close(&format!("{tag} {on:?} H_f v"), &flat(&hv), &fd, 2e-3, 5e-4);

                // Fused loss + penalty gradient.
                let mut lg = N::zeroed();
                let v = net
                    .loss_penalty_grad(&HalfSquaredError, &x, &t, &eta, on, &mut cache, &mut lg)
                    .unwrap();
                let obj = |q: &Ref| loss(q) + 0.5 * q.penalty(&xr, &eta64, on);
                let fd = fd_grad(&r, obj, 1e-6);
                assert_close(
                    &format!("{tag} {on:?} loss+penalty gradient"),
                    &flat(&lg),
                    &fd,
                    2e-3,
                    5e-4,
                );
                assert_close(
                    &format!("{tag} loss value"),
                    &[v.loss as f64],
                    &[loss(&r)],
                    1e-5,
                    1e-7,
                );

                // Exact trace vs second differences.
                let mut tr = [0.0; O];
                net.hessian_trace(&x, &eta, on, &mut cache, &mut tr)
                    .unwrap();
                let noisy = r.noisy(on);
                let p0 = r.params();
                let h = 1e-4;
                let want: Vec<f64> = (0..O)
                    .map(|k| {
                        let f0 = r.out(&xr)[k];
                        let mut q = r.clone();
                        let mut sum = 0.0;
                        for (i, n) in noisy.iter().enumerate().filter(|(_, n)| n.0) {
                            let mut pp = p0.clone();
                            pp[i] += h;
                            q.set_params(&pp);
                            let up = q.out(&xr)[k];
                            pp[i] = p0[i] - h;
                            q.set_params(&pp);
                            sum += eta64[n.1] * (up - 2.0 * f0 + q.out(&xr)[k]) / (h * h);
                        }
                        sum
                    })
                    .collect();
                let tr64: Vec<f64> = tr.iter().map(|&v| v as f64).collect();
                assert_close(&format!("{tag} {on:?} trace"), &tr64, &want, 1e-3, 1e-4);
            }
        }
    }
}

// -------------------------------------------------------------- the tests

type K = ActivationKind;

#[test]
fn network_one_hidden_layer_matches_f64_reference_and_finite_differences() {
    check_all::<3, 1, Mlp1<3, 5, 1, K, K>>(11, K::Identity);
    check_all::<2, 3, Mlp1<2, 4, 3, K, K>>(12, K::Identity);
}

#[test]
fn network_two_hidden_layers_match_f64_reference_and_finite_differences() {
    check_all::<3, 1, Mlp2<3, 4, 5, 1, K, K>>(21, K::Identity);
    check_all::<3, 2, Mlp2<3, 4, 3, 2, K, K>>(22, K::Sigmoid);
}

#[test]
fn network_three_hidden_layers_match_f64_reference_and_finite_differences() {
    check_all::<2, 1, Mlp3<2, 3, 4, 3, 1, K, K>>(31, K::Identity);
    check_all::<2, 2, Mlp3<2, 4, 3, 3, 2, K, K>>(32, K::Tanh);
}

#[test]
fn network_single_layer_matches_f64_reference_and_finite_differences() {
    check_all::<4, 1, Dense<4, 1, K>>(41, K::Tanh);
    check_all::<3, 2, Dense<3, 2, K>>(42, K::Softplus);
}

#[test]
fn penalty_term_equals_explicit_outer_product_norm() {
    // T9: ‖δ aᵀ‖²_F = ‖δ‖²‖a‖², against the materialised outer product.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let a: [f32; 7] = core::array::from_fn(|_| uniform(&mut rng));
    let d: [f32; 5] = core::array::from_fn(|_| uniform(&mut rng));
    let w = [0.0f32; 35];
    let layer = noisereg::DenseRef::new(&w, &[0.0; 5], 7, Tanh).unwrap();
    let t = layer.penalty_term(&a, &d, 1.0, NoiseOn::Weights).unwrap() as f64;
    let outer: f64 = d
        .iter()
        .flat_map(|dv| a.iter().map(move |av| (*dv as f64 * *av as f64).powi(2)))
        .sum();
    assert_close("outer product", &[t], &[outer], 1e-6, 0.0);
    let tb = layer
        .penalty_term(&a, &d, 0.5, NoiseOn::WeightsAndBiases)
        .unwrap() as f64;
    let dd: f64 = d.iter().map(|v| (*v as f64).powi(2)).sum();
    assert_close(
        "outer product + bias",
        &[tb],
        &[0.5 * (outer + dd)],
        1e-6,
        0.0,
    );
}

#[test]
fn batch_gradients_are_means_of_sample_gradients() {
    type N = Mlp2<3, 4, 4, 2, K, K>;
    let net: N = random_net(51, K::Tanh, K::Identity);
    let r = Ref::of(&net);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(52);
    let xs: Vec<[f32; 3]> = (0..5).map(|_| random_input(&mut rng, &r)).collect();
    let labels: Vec<usize> = (0..5).map(|i| i % 2).collect();
    let ts: Vec<[f32; 2]> = (0..5)
        .map(|_| [uniform(&mut rng), uniform(&mut rng)])
        .collect();
    let eta = [0.02, 0.01, 0.03];

    // Cross-entropy mean gradient vs finite differences of the f64 mean loss.
    let mut grad = N::zeroed();
    let l = net
        .loss_grad_batch(&SoftmaxCrossEntropy, &xs, &labels, &mut Clean, &mut grad)
        .unwrap();
    let ce = |q: &Ref| {
        xs.iter()
            .zip(&labels)
            .map(|(x, &c)| {
                let y = q.out(&x64(x));
                let m = y.iter().cloned().fold(f64::MIN, f64::max);
                m + y.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - y[c]
            })
            .sum::<f64>()
            / xs.len() as f64
    };
    assert_close("cross-entropy loss", &[l as f64], &[ce(&r)], 1e-5, 0.0);
    assert_close(
        "cross-entropy gradient",
        &flat(&grad),
        &fd_grad(&r, ce, 1e-6),
        1e-3,
        2e-4,
    );

    // Loss + penalty over the batch.
    let v = net
        .loss_penalty_grad_batch(
            &HalfSquaredError,
            &xs,
            &ts,
            &eta,
            NoiseOn::WeightsAndBiases,
            &mut grad,
        )
        .unwrap();
    let eta64 = eta.map(|v| v as f64);
    let obj = |q: &Ref| {
        xs.iter()
            .zip(&ts)
            .map(|(x, t)| {
                let xr = x64(x);
                let y = q.out(&xr);
                0.5 * y
                    .iter()
                    .zip(t)
                    .map(|(a, b)| (a - *b as f64).powi(2))
                    .sum::<f64>()
                    + 0.5 * q.penalty(&xr, &eta64, NoiseOn::WeightsAndBiases)
            })
            .sum::<f64>()
            / xs.len() as f64
    };
    assert_close("objective", &[v.objective() as f64], &[obj(&r)], 1e-5, 0.0);
    assert_close(
        "loss+penalty batch gradient",
        &flat(&grad),
        &fd_grad(&r, obj, 1e-6),
        2e-3,
        5e-4,
    );

    // Per-sample penalties.
    let mut out = [0.0; 5];
    net.penalty_batch(&xs, &eta, NoiseOn::Weights, &mut out)
        .unwrap();
    // The batch pass sums `W x` in another order than the one-sample pass
    // (within the bound checked in `batch_passes_agree_with_sample_passes…`).
    let mut cache = net.workspace();
    for (o, x) in out.iter().zip(&xs) {
        let one = net.penalty(x, &eta, NoiseOn::Weights, &mut cache).unwrap();
        assert_close(
            "penalty_batch",
            &[f64::from(*o)],
            &[f64::from(one)],
            1e-5,
            0.0,
        );
    }
}

#[test]
fn batch_and_penalty_functions_reject_bad_lengths() {
    type N = Mlp1<2, 3, 1, Tanh>;
    let net = N::zeroed();
    let mut grad = N::zeroed();
    let mut cache = net.workspace();
    let xs = [[0.0; 2]; 3];
    fn e<T>(left: usize, right: usize) -> Result<T, noisereg::Error> {
        Err(noisereg::Error::LengthMismatch { left, right })
    }
    assert_eq!(
        net.loss_grad_batch(&HalfSquaredError, &xs, &[[0.0]; 2], &mut Clean, &mut grad),
        e(3, 2)
    );
    assert!(
        net.loss_grad_batch(
            &HalfSquaredError,
            &xs[..0],
            &[[0.0f32; 1]; 0],
            &mut Clean,
            &mut grad
        )
        .is_err()
    );
    assert_eq!(
        net.penalty(&[0.0; 2], &[0.1], NoiseOn::Weights, &mut cache),
        e(1, 2)
    );
    assert_eq!(
        net.penalty_grad(
            &[0.0; 2],
            &[0.1; 3],
            NoiseOn::Weights,
            &mut cache,
            &mut grad
        ),
        e(3, 2)
    );
    assert_eq!(
        net.penalty_batch(&xs, &[0.1; 2], NoiseOn::Weights, &mut [0.0; 2]),
        e(2, 3)
    );
    let mut tr = [0.0];
    assert_eq!(
        net.hessian_trace(&[0.0; 2], &[], NoiseOn::Weights, &mut cache, &mut tr),
        e(0, 2)
    );
    type C = Mlp1<2, 3, 2, Tanh>;
    let mut g2 = C::zeroed();
    assert!(
        C::zeroed()
            .loss_grad_batch(
                &SoftmaxCrossEntropy,
                &xs[..1],
                &[2usize],
                &mut Clean,
                &mut g2
            )
            .is_err()
    );
}

#[test]
fn zero_sized_activation_types_agree_with_activation_kind_bit_for_bit() {
    type Z = Mlp2<3, 6, 5, 2, Tanh>;
    type N = Mlp2<3, 6, 5, 2, K, K>;
    let kn: N = random_net(61, K::Tanh, K::Identity);
    let mut zn = Z::zeroed();
    for i in 0..(2 * Z::DEPTH) {
        zn.slice_mut(i).copy_from_slice(kn.slice(i));
    }
    let x = [0.3, -0.7, 0.2];
    let eta = [0.1, 0.2, 0.3];
    let (mut gz, mut gk) = (Z::zeroed(), N::zeroed());
    let (mut cz, mut ck) = (Z::zeroed().workspace(), N::zeroed().workspace());
    let pz = zn.loss_penalty_grad(
        &HalfSquaredError,
        &x,
        &[0.5, 0.1],
        &eta,
        NoiseOn::Weights,
        &mut cz,
        &mut gz,
    );
    let pk = kn.loss_penalty_grad(
        &HalfSquaredError,
        &x,
        &[0.5, 0.1],
        &eta,
        NoiseOn::Weights,
        &mut ck,
        &mut gk,
    );
    assert_eq!(pz, pk);
    assert_eq!(flat(&gz), flat(&gk));
}

// ------------------------------------------------- the Perturbation contract

#[derive(Debug, PartialEq, Clone, Copy)]
enum Call {
    Begin(usize),
    Row(usize),
    Bias(usize),
    Pre(usize),
    PreBack(usize),
}

/// Records every call; perturbs nothing (copies the clean values).
#[derive(Default)]
struct Recorder {
    calls: Vec<Call>,
    layer: usize,
}

impl Perturbation for Recorder {
    fn perturbs_weights(&self) -> bool {
        true
    }
    fn begin_layer(&mut self, layer: usize) {
        self.layer = layer;
        self.calls.push(Call::Begin(layer));
    }
    fn weight_row(&mut self, clean: &[f32], out: &mut [f32]) {
        self.calls.push(Call::Row(self.layer));
        out.copy_from_slice(clean);
    }
    fn bias(&mut self, clean: &[f32], out: &mut [f32]) {
        self.calls.push(Call::Bias(self.layer));
        out.copy_from_slice(clean);
    }
    fn pre_activation(&mut self, layer: usize, _: &[f32], _: &mut [f32]) {
        self.calls.push(Call::Pre(layer));
    }
    fn pre_activation_backward(&mut self, layer: usize, _: &[f32], _: &[f32], _: &mut [f32]) {
        self.calls.push(Call::PreBack(layer));
    }
}

#[test]
fn perturbation_hooks_are_called_in_contract_order() {
    type N = Mlp2<3, 4, 2, 1, Tanh>;
    let net = N::zeroed();
    let mut p = Recorder::default();
    let (mut cache, mut y, mut grad) = (net.workspace(), [0.0], N::zeroed());
    net.forward_with(&[1.0, 2.0, 3.0], &mut p, &mut cache, &mut y)
        .unwrap();
    let outs = [4, 2, 1];
    let mut want = Vec::new();
    for (l, &n) in outs.iter().enumerate() {
        want.push(Call::Begin(l));
        want.extend(std::iter::repeat_n(Call::Row(l), n));
        want.push(Call::Bias(l));
        want.push(Call::Pre(l));
    }
    assert_eq!(p.calls, want, "forward");
    p.calls.clear();
    net.backward_with(&mut cache, &[1.0], &mut p, &mut grad)
        .unwrap();
    let mut want = Vec::new();
    for (l, &n) in outs.iter().enumerate().rev() {
        want.push(Call::Begin(l));
        if l > 0 {
            want.extend(std::iter::repeat_n(Call::Row(l), n));
            want.push(Call::PreBack(l));
        }
    }
    assert_eq!(p.calls, want, "backward");
}

/// Adds a fixed offset to every weight and bias, and optionally `s·x₀` to
/// every pre-activation of layer 0 (with its backward term).
struct Shift {
    dw: f32,
    db: f32,
    s: f32,
}

impl Perturbation for Shift {
    fn perturbs_weights(&self) -> bool {
        true
    }
    fn weight_row(&mut self, clean: &[f32], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(clean) {
            *o = c + self.dw;
        }
    }
    fn bias(&mut self, clean: &[f32], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(clean) {
            *o = c + self.db;
        }
    }
    fn pre_activation(&mut self, layer: usize, x: &[f32], z: &mut [f32]) {
        if layer == 1 {
            z.iter_mut().for_each(|v| *v += self.s * x[0]);
        }
    }
    fn pre_activation_backward(&mut self, layer: usize, _: &[f32], delta: &[f32], g: &mut [f32]) {
        if layer == 1 {
            g[0] += self.s * delta.iter().sum::<f32>();
        }
    }
}

#[test]
fn perturbed_passes_equal_passes_of_a_changed_network() {
    type N = Mlp2<3, 5, 4, 2, K, K>;
    let net: N = random_net(71, K::Softplus, K::Identity);
    let x = [0.4, -0.1, 0.8];
    let dy = [0.7, -0.3];
    // Weight and bias offsets only: bit-identical to the shifted network.
    let mut shifted = net;
    for i in 0..(2 * N::DEPTH) {
        let d = if i % 2 == 0 { 0.125 } else { -0.25 };
        shifted.slice_mut(i).iter_mut().for_each(|v| *v += d);
    }
    let mut p = Shift {
        dw: 0.125,
        db: -0.25,
        s: 0.0,
    };
    let (mut c1, mut c2) = (net.workspace(), net.workspace());
    let (mut y1, mut y2) = ([0.0; 2], [0.0; 2]);
    let (mut g1, mut g2) = (N::zeroed(), N::zeroed());
    net.forward_with(&x, &mut p, &mut c1, &mut y1).unwrap();
    shifted
        .forward_with(&x, &mut Clean, &mut c2, &mut y2)
        .unwrap();
    assert_eq!(y1, y2);
    net.backward_with(&mut c1, &dy, &mut p, &mut g1).unwrap();
    shifted
        .backward_with(&mut c2, &dy, &mut Clean, &mut g2)
        .unwrap();
    assert_eq!(flat(&g1), flat(&g2));

    // A pre-activation hook adding s·x₀ to layer 1 equals adding s to column 0
    // of layer 1's weights (up to rounding), including the first layer's gradient.
    let mut p = Shift {
        dw: 0.0,
        db: 0.0,
        s: 0.375,
    };
    let mut changed = net;
    changed
        .slice_mut(2)
        .chunks_mut(5)
        .for_each(|row| row[0] += 0.375);
    let (mut g1, mut g2) = (N::zeroed(), N::zeroed());
    net.forward_with(&x, &mut p, &mut c1, &mut y1).unwrap();
    changed
        .forward_with(&x, &mut Clean, &mut c2, &mut y2)
        .unwrap();
    assert_close(
        "hooked forward",
        &y1.map(f64::from),
        &y2.map(f64::from),
        1e-6,
        1e-6,
    );
    net.backward_with(&mut c1, &dy, &mut p, &mut g1).unwrap();
    changed
        .backward_with(&mut c2, &dy, &mut Clean, &mut g2)
        .unwrap();
    // Layer 1's weight gradient is the same δ xᵀ; all others must agree too.
    assert_close("hooked backward", &flat(&g1), &flat(&g2), 1e-5, 1e-6);
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// On `nets` random networks: the copy-through [`Recorder`] (which makes the
/// network take its perturbed path) gives the clean bits in the forward
/// output, in the backward pass from a clean cache (`g_a = W̃ᵀδ` row by row),
/// and in forward + backward together. Returns the number of networks that
/// differ, with a description of the first difference.
fn copy_through_mismatches<const I: usize, const O: usize, N: Network<I, O> + Acts>(
    seed: u64,
    nets: u64,
) -> (usize, String) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut bad, mut first) = (0, String::new());
    for k in 0..nets {
        let net: N = random_net(seed * 1000 + k, K::Tanh, K::Identity);
        let x: [f32; I] = core::array::from_fn(|_| uniform(&mut rng));
        let dy: [f32; O] = core::array::from_fn(|_| uniform(&mut rng));
        let (mut c1, mut c2) = (net.workspace(), net.workspace());
        let (mut y1, mut y2) = ([0.0; O], [0.0; O]);
        net.forward_with(&x, &mut Clean, &mut c1, &mut y1).unwrap();
        net.forward_with(&x, &mut Recorder::default(), &mut c2, &mut y2)
            .unwrap();
        // Backward alone, from the same clean cache.
        let (mut g1, mut g2) = (N::zeroed(), N::zeroed());
        net.backward_with(&mut c1, &dy, &mut Clean, &mut g1)
            .unwrap();
        net.backward_with(&mut c1, &dy, &mut Recorder::default(), &mut g2)
            .unwrap();
        // Forward + backward, each on its own path.
        let mut g3 = N::zeroed();
        net.backward_with(&mut c2, &dy, &mut Recorder::default(), &mut g3)
            .unwrap();
        let y_bits = |y: &[f32; O]| y.map(f32::to_bits);
        let what = if y_bits(&y1) != y_bits(&y2) {
            "forward"
        } else if bits(&flat(&g1)) != bits(&flat(&g2)) {
            "backward"
        } else if bits(&flat(&g1)) != bits(&flat(&g3)) {
            "forward + backward"
        } else {
            continue;
        };
        if bad == 0 {
            first = format!("network {k}: {what}");
        }
        bad += 1;
    }
    (bad, first)
}

/// The perturbed path sums every row in the clean path's order, so a
/// perturbation that copies the clean weights gives the clean bits, for
/// widths above and below the SIMD width, rows left over after the blocks of
/// rows, and odd row lengths.
#[test]
fn clean_and_identity_perturbation_give_identical_bits() {
    let checks = [
        (
            "4-8-8-8-1",
            copy_through_mismatches::<4, 1, Mlp3<4, 8, 8, 8, 1, K, K>>(81, 5),
        ),
        (
            "16-32-32-1",
            copy_through_mismatches::<16, 1, Mlp2<16, 32, 32, 1, K, K>>(82, 20),
        ),
        (
            "10-16-1",
            copy_through_mismatches::<10, 1, Mlp1<10, 16, 1, K, K>>(83, 20),
        ),
        (
            "13-7-3",
            copy_through_mismatches::<13, 3, Mlp1<13, 7, 3, K, K>>(84, 20),
        ),
        (
            "33-9-1",
            copy_through_mismatches::<33, 1, Mlp1<33, 9, 1, K, K>>(85, 20),
        ),
        (
            "9-17-11-5",
            copy_through_mismatches::<9, 5, Mlp2<9, 17, 11, 5, K, K>>(86, 20),
        ),
    ];
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, (bad, _))| *bad > 0)
        .map(|(name, (bad, first))| format!("{name}: {bad} networks differ ({first})"))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

// -------------------------------------------------------- robustness

#[test]
fn non_finite_inputs_and_weights_do_not_panic_and_propagate_nan() {
    fn run<N: Network<3, 2> + Acts>(net: &N, x: &[f32; 3]) -> Vec<f32> {
        let mut out = Vec::new();
        let mut cache = net.workspace();
        let mut y = [0.0; 2];
        net.forward(x, &mut y).unwrap();
        out.extend(y);
        let mut grad = N::zeroed();
        let l = net.loss_grad_batch(
            &SoftmaxCrossEntropy,
            &[*x],
            &[1usize],
            &mut Clean,
            &mut grad,
        );
        out.push(l.unwrap());
        let eta = vec![0.1; N::DEPTH];
        out.push(
            net.penalty(x, &eta, NoiseOn::WeightsAndBiases, &mut cache)
                .unwrap(),
        );
        let v = net
            .loss_penalty_grad(
                &HalfSquaredError,
                x,
                &[0.0, 1.0],
                &eta,
                NoiseOn::Weights,
                &mut cache,
                &mut grad,
            )
            .unwrap();
        out.push(v.objective());
        let mut tr = [0.0; 2];
        net.hessian_trace(x, &eta, NoiseOn::Weights, &mut cache, &mut tr)
            .unwrap();
        out.extend(tr);
        out
    }
    type N = Mlp2<3, 4, 4, 2, K, K>;
    for &k in &KINDS {
        let net: N = random_net(91, k, K::Identity);
        let out = run(&net, &[f32::NAN, 0.0, 1.0]);
        assert!(out.iter().all(|v| v.is_nan()), "{k:?}: {out:?}");
        for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::MAX] {
            let _ = run(&net, &[bad, -bad, 0.5]);
        }
        let mut broken = net;
        broken.1.0.w[2][1] = f32::NAN;
        let out = run(&broken, &[0.1, 0.2, 0.3]);
        assert!(
            out.iter().take(2).all(|v| v.is_nan()),
            "{k:?}: NaN weight: {out:?}"
        );
    }
}

#[test]
fn init_is_seeded_and_scaled() {
    type N = Mlp1<16, 32, 1, Relu>;
    let (mut a, mut b) = (N::zeroed(), N::zeroed());
    a.init(Init::He, &mut Xoshiro256PlusPlus::seed_from_u64(5));
    b.init(Init::He, &mut Xoshiro256PlusPlus::seed_from_u64(5));
    assert_eq!(a, b);
    let w = a.0.w.as_flattened();
    let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
    // He: variance 2/16; 512 draws give a relative standard error of ~6%.
    assert!((var / (2.0 / 16.0) - 1.0).abs() < 0.25, "variance {var}");
    assert_eq!(a.0.b, [0.0; 32]);
}

// ---------------------------------------------------------------- stack

/// The biggest tested network (the benchmark's).
type Biggest = Mlp2<16, 32, 32, 1, Tanh>;

/// Every pass on `Biggest`, its data (network, cache, gradient) on the stack.
fn all_passes() {
    let net = std::hint::black_box(Biggest::zeroed());
    let mut cache = net.workspace();
    let mut grad = Biggest::zeroed();
    let x = std::hint::black_box([0.5f32; 16]);
    let eta = [0.1; 3];
    let mut y = [0.0];
    net.forward_with(&x, &mut Clean, &mut cache, &mut y)
        .unwrap();
    net.backward_with(&mut cache, &[1.0], &mut Clean, &mut grad)
        .unwrap();
    let _ = net.loss_penalty_grad(
        &HalfSquaredError,
        &x,
        &[0.0],
        &eta,
        NoiseOn::Weights,
        &mut cache,
        &mut grad,
    );
    let mut tr = [0.0];
    let _ = net.hessian_trace(&x, &eta, NoiseOn::Weights, &mut cache, &mut tr);
    std::hint::black_box((&grad, &tr));
}

/// Recurses `depth` frames deep, then runs `f`; returns the address of this
/// frame's padding (to measure the frame size).
#[inline(never)]
fn burn(depth: usize, f: &dyn Fn(), addr: &mut Vec<usize>) {
    let pad = std::hint::black_box([depth as u8; 256]);
    addr.push(&pad as *const _ as usize);
    if depth == 0 {
        f();
    } else {
        burn(depth - 1, f, addr);
    }
    std::hint::black_box(&pad);
}

const PROBE_STACK: usize = 256 * 1024;

#[test]
#[ignore = "run by stack_bytes_of_the_biggest_network in a child process"]
fn stack_probe() {
    let depth: usize = std::env::var("NOISEREG_STACK_DEPTH").map_or(0, |v| v.parse().unwrap());
    let passes = std::env::var("NOISEREG_STACK_PASSES").is_ok();
    std::thread::Builder::new()
        .stack_size(PROBE_STACK)
        .spawn(move || {
            let mut addr = Vec::with_capacity(depth + 1);
            burn(depth, if passes { &all_passes } else { &|| () }, &mut addr);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Method: in a child process (a stack overflow aborts it), a thread with a
/// fixed stack recurses through `burn` frames of known size and then runs
/// every pass; the deepest recursion that still fits, with and without the
/// passes, differ by the stack the passes need (to one frame, ~300 B).
#[test]
#[cfg_attr(
    target_arch = "aarch64",
    ignore = "re-executes the test binary: not possible under qemu-user without binfmt_misc"
)]
fn stack_bytes_of_the_biggest_network() {
    let exe = std::env::current_exe().unwrap();
    let fits = |depth: usize, passes: bool| {
        let mut c = std::process::Command::new(&exe);
        c.args(["--ignored", "--exact", "stack_probe", "--test-threads=1"])
            .env("NOISEREG_STACK_DEPTH", depth.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if passes {
            c.env("NOISEREG_STACK_PASSES", "1");
        }
        c.status().unwrap().success()
    };
    let max_depth = |passes: bool| {
        let (mut lo, mut hi) = (0usize, PROBE_STACK / 256);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fits(mid, passes) {
                lo = mid
            } else {
                hi = mid
            }
        }
        lo
    };
    let mut addr = Vec::new();
    burn(2, &|| (), &mut addr);
    let frame = addr[0].abs_diff(addr[1]);
    let (d0, d1) = (max_depth(false), max_depth(true));
    let needed = (d0 - d1) * frame;
    println!(
        "Mlp2<16, 32, 32, 1, Tanh>: every pass needs {needed} B of stack (frame {frame} B); \
         of which network {} B, cache {} B, gradient {} B",
        size_of::<Biggest>(),
        size_of::<<Biggest as Model<[f32; 16], [f32; 1]>>::Workspace>(),
        size_of::<Biggest>()
    );
    let data =
        2 * size_of::<Biggest>() + size_of::<<Biggest as Model<[f32; 16], [f32; 1]>>::Workspace>();
    assert!(
        needed >= data,
        "the passes at least hold their data: {needed} < {data}"
    );
    assert!(needed < 96 * 1024, "stack need grew: {needed} B");
}

// ------------------------------------------- run-time-sized replication

/// A network sized at run time, looping over `DenseRef`s by hand in the
/// order of the passes (`noisereg::passes`), gets the const-generic
/// network's bits: the per-layer functions alone carry them.
#[test]
fn runtime_sized_loop_over_dense_ref_gives_identical_bits() {
    use noisereg::DenseRef;
    type N = Mlp2<3, 5, 4, 2, K, K>;
    let net: N = random_net(101, K::Softplus, K::Sigmoid);
    let kinds = net.kinds();
    let depth = kinds.len();
    let sizes: Vec<(usize, usize)> = (0..depth)
        .map(|l| {
            let o = net.slice(2 * l + 1).len();
            (net.slice(2 * l).len() / o, o)
        })
        .collect();
    let layer = |l: usize| {
        DenseRef::new(net.slice(2 * l), net.slice(2 * l + 1), sizes[l].0, kinds[l]).unwrap()
    };
    let x = [0.3f32, -0.8, 0.5];
    let dy = [0.25f32, -0.5];
    let eta = [0.02f32, 0.05, 0.01];
    let on = NoiseOn::WeightsAndBiases;

    // Forward, layers 0..L.
    let mut xs: Vec<Vec<f32>> = vec![x.to_vec()];
    let (mut zs, mut acts) = (Vec::new(), Vec::new());
    for l in 0..depth {
        let (n_in, n_out) = sizes[l];
        let (mut z, mut a, mut row) = (vec![0.0; n_out], vec![0.0; n_out], vec![0.0; n_in]);
        layer(l)
            .forward(l, &xs[l], &mut Clean, &mut row, &mut z, &mut a)
            .unwrap();
        zs.push(z);
        acts.push(a.clone());
        xs.push(a);
    }
    let mut y = [0.0; 2];
    let mut cache = net.workspace();
    net.forward_with(&x, &mut Clean, &mut cache, &mut y)
        .unwrap();
    assert_eq!(xs[depth], y);

    // Backward, layers L-1..=0.
    let mut grad: Vec<Vec<f32>> = (0..2 * depth)
        .map(|i| vec![0.0; net.slice(i).len()])
        .collect();
    let mut g = dy.to_vec();
    for l in (0..depth).rev() {
        let (n_in, _) = sizes[l];
        let mut gx = vec![0.0; n_in];
        let (gw, gb) = grad.split_at_mut(2 * l + 1);
        layer(l)
            .backward(
                l,
                &xs[l],
                &zs[l],
                &acts[l],
                &mut g,
                &mut Clean,
                &mut vec![0.0; n_in],
                &mut gw[2 * l],
                &mut gb[0],
                (l > 0).then_some(gx.as_mut_slice()),
            )
            .unwrap();
        g = gx;
    }
    let mut cgrad = N::zeroed();
    net.backward_with(&mut cache, &dy, &mut Clean, &mut cgrad)
        .unwrap();
    for (i, gi) in grad.iter().enumerate() {
        assert_eq!(cgrad.slice(i), gi.as_slice(), "backward slice {i}");
    }

    // Penalty and its gradient (loss seed dy folded in), per output k.
    let mut grad: Vec<Vec<f32>> = (0..2 * depth)
        .map(|i| vec![0.0; net.slice(i).len()])
        .collect();
    let mut total = 0.0f32;
    for (k, &c) in dy.iter().enumerate() {
        let mut gs = vec![Vec::new(); depth];
        let mut ds = vec![Vec::new(); depth];
        let mut g: Vec<f32> = (0..2).map(|j| if j == k { 1.0 } else { 0.0 }).collect();
        let mut sum = 0.0f32;
        for l in (0..depth).rev() {
            let v = layer(l);
            let mut d = vec![0.0; sizes[l].1];
            v.delta(&zs[l], &acts[l], &g, &mut d).unwrap();
            sum += v.penalty_term(&xs[l], &d, eta[l], on).unwrap();
            let mut gx = vec![0.0; sizes[l].0];
            v.input_grad(&d, &mut gx).unwrap();
            gs[l] = std::mem::replace(&mut g, gx);
            ds[l] = d;
        }
        total += sum;
        let (mut rzs, mut ras) = (Vec::new(), Vec::<Vec<f32>>::new());
        for l in 0..depth {
            let (mut rz, mut ra) = (vec![0.0; sizes[l].1], vec![0.0; sizes[l].1]);
            let rx = if l == 0 {
                None
            } else {
                Some(ras[l - 1].as_slice())
            };
            layer(l)
                .r_forward(
                    &xs[l], &zs[l], &acts[l], &ds[l], rx, eta[l], on, &mut rz, &mut ra,
                )
                .unwrap();
            rzs.push(rz);
            ras.push(ra);
        }
        let mut rg = vec![0.0; 2];
        for l in (0..depth).rev() {
            let rx = if l == 0 {
                None
            } else {
                Some(ras[l - 1].as_slice())
            };
            let mut rgx = vec![0.0; sizes[l].0];
            let (gw, gb) = grad.split_at_mut(2 * l + 1);
            layer(l)
                .r_backward(
                    &xs[l],
                    &zs[l],
                    &acts[l],
                    &gs[l],
                    &ds[l],
                    &rzs[l],
                    rx,
                    &mut rg,
                    c,
                    eta[l],
                    &mut gw[2 * l],
                    &mut gb[0],
                    (l > 0).then_some(rgx.as_mut_slice()),
                )
                .unwrap();
            rg = rgx;
        }
    }
    let mut cgrad = N::zeroed();
    let p = net
        .penalty_grad_with(&mut cache, &dy, &eta, on, &mut cgrad)
        .unwrap();
    assert_eq!(p, total);
    for (i, gi) in grad.iter().enumerate() {
        assert_eq!(cgrad.slice(i), gi.as_slice(), "penalty gradient slice {i}");
    }

    // Trace for output 1.
    let mut g: Vec<f32> = vec![0.0, 1.0];
    let mut hess = vec![0.0f32; 4];
    let mut tr = 0.0f32;
    for l in (0..depth).rev() {
        let v = layer(l);
        let (n_in, n_out) = sizes[l];
        let mut hx = vec![0.0; n_in * n_in];
        let t = v
            .hessian_backward(
                &zs[l],
                &acts[l],
                &g,
                &mut hess,
                &mut vec![0.0; n_out],
                Some(&mut hx),
            )
            .unwrap();
        let sq: f32 = noisereg::sq_norm(&xs[l]);
        tr += eta[l] * ((sq + on.bias_term()) * t);
        let mut d = vec![0.0; n_out];
        v.delta(&zs[l], &acts[l], &g, &mut d).unwrap();
        let mut gx = vec![0.0; n_in];
        v.input_grad(&d, &mut gx).unwrap();
        g = gx;
        hess = hx;
    }
    let mut ctr = [0.0; 2];
    net.hessian_trace(&x, &eta, on, &mut cache, &mut ctr)
        .unwrap();
    assert_eq!(ctr[1], tr);
}

// ------------------------------------------------------------ batch passes

/// The batch passes run [`noisereg::BLOCK`] samples at a time and sum each
/// `W x` over the inputs in order; the one-sample passes sum rows in SIMD
/// lanes first. Checked here: the batch results do not depend on where the
/// blocks start (bits), agree with the one-sample passes within the stated
/// rounding bound, and match the f64 reference.
fn check_batch_passes<const I: usize, const O: usize, N: Network<I, O> + Acts>(seed: u64) {
    let net: N = random_net(seed, K::Tanh, K::Identity);
    let r = Ref::of(&net);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed + 1);
    let n = 2 * noisereg::BLOCK + 3;
    let xs: Vec<[f32; I]> = (0..n)
        .map(|_| core::array::from_fn(|_| uniform(&mut rng)))
        .collect();
    let ts: Vec<[f32; O]> = (0..n)
        .map(|_| core::array::from_fn(|_| uniform(&mut rng)))
        .collect();
    let tag = format!("{I}→…→{O}");

    // Forward: any block split gives the same bits; close to one-sample and f64.
    let mut ys = vec![[0.0f32; O]; n];
    net.forward_batch(&xs, &mut ys).unwrap();
    for (k, (x, yb)) in xs.iter().zip(&ys).enumerate() {
        let mut alone = [[0.0f32; O]];
        net.forward_batch(core::slice::from_ref(x), &mut alone)
            .unwrap();
        assert_eq!(
            alone[0].map(f32::to_bits),
            yb.map(f32::to_bits),
            "{tag} sample {k}"
        );
        let mut y1 = [0.0f32; O];
        net.forward(x, &mut y1).unwrap();
        let want = r.out(&x64(x));
        let y64: Vec<f64> = yb.iter().map(|&v| v as f64).collect();
        let y164: Vec<f64> = y1.iter().map(|&v| v as f64).collect();
        assert_close(
            &format!("{tag} forward_batch vs f64"),
            &y64,
            &want,
            1e-5,
            1e-3,
        );
        assert_close(
            &format!("{tag} forward_batch vs forward"),
            &y64,
            &y164,
            1e-5,
            1e-3,
        );
    }
    let mut tail = vec![[0.0f32; O]; n - 5];
    net.forward_batch(&xs[5..], &mut tail).unwrap();
    for (a, b) in tail.iter().zip(&ys[5..]) {
        assert_eq!(
            a.map(f32::to_bits),
            b.map(f32::to_bits),
            "{tag} shifted blocks"
        );
    }

    // Loss gradient: the block path (Clean) against the one-sample path (a
    // copy-through perturbation) and against finite differences in f64.
    let (mut gb, mut gs) = (N::zeroed(), N::zeroed());
    let lb = net
        .loss_grad_batch(&HalfSquaredError, &xs, &ts, &mut Clean, &mut gb)
        .unwrap();
    let ls = net
        .loss_grad_batch(
            &HalfSquaredError,
            &xs,
            &ts,
            &mut Recorder::default(),
            &mut gs,
        )
        .unwrap();
    assert_close(
        &format!("{tag} loss"),
        &[lb as f64],
        &[ls as f64],
        1e-5,
        0.0,
    );
    assert_close(
        &format!("{tag} gradient"),
        &flat(&gb),
        &flat(&gs),
        1e-4,
        1e-6,
    );
    let mean_loss = |q: &Ref| {
        xs.iter()
            .zip(&ts)
            .map(|(x, t)| {
                let y = q.out(&x64(x));
                0.5 * y
                    .iter()
                    .zip(t)
                    .map(|(a, b)| (a - *b as f64).powi(2))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / n as f64
    };
    assert_close(
        &format!("{tag} gradient vs f64"),
        &flat(&gb),
        &fd_grad(&r, mean_loss, 1e-6),
        1e-3,
        2e-5,
    );

    // Penalty: per sample, against the one-sample pass and f64.
    let eta: Vec<f32> = (0..N::DEPTH).map(|l| 0.01 * (l as f32 + 1.0)).collect();
    let eta64: Vec<f64> = eta.iter().map(|&v| v as f64).collect();
    let mut pen = vec![0.0f32; n];
    net.penalty_batch(&xs, &eta, NoiseOn::WeightsAndBiases, &mut pen)
        .unwrap();
    let mut cache = net.workspace();
    for (x, p) in xs.iter().zip(&pen) {
        let one = net
            .penalty(x, &eta, NoiseOn::WeightsAndBiases, &mut cache)
            .unwrap();
        let want = r.penalty(&x64(x), &eta64, NoiseOn::WeightsAndBiases);
        assert_close(
            &format!("{tag} penalty_batch vs penalty"),
            &[*p as f64],
            &[one as f64],
            1e-5,
            0.0,
        );
        assert_close(
            &format!("{tag} penalty_batch vs f64"),
            &[*p as f64],
            &[want],
            1e-5,
            0.0,
        );
    }

    // The blocked R-operator: against the mean of the one-sample passes and
    // against finite differences of the f64 objective.
    let on = NoiseOn::WeightsAndBiases;
    let (mut gb, mut gs) = (N::zeroed(), N::zeroed());
    let vb = net
        .loss_penalty_grad_batch(&HalfSquaredError, &xs, &ts, &eta, on, &mut gb)
        .unwrap();
    let mut cache = net.workspace();
    let (mut ls, mut ps) = (0.0f64, 0.0f64);
    for (x, t) in xs.iter().zip(&ts) {
        let v = net
            .loss_penalty_grad(&HalfSquaredError, x, t, &eta, on, &mut cache, &mut gs)
            .unwrap();
        ls += v.loss as f64;
        ps += v.penalty as f64;
    }
    scale_params(&mut gs, 1.0 / n as f32);
    let nf = n as f64;
    assert_close(
        &format!("{tag} R-op loss"),
        &[vb.loss as f64],
        &[ls / nf],
        1e-5,
        0.0,
    );
    assert_close(
        &format!("{tag} R-op penalty"),
        &[vb.penalty as f64],
        &[ps / nf],
        1e-5,
        0.0,
    );
    // Bound: the forward sums differ in the last bits (f32 relative 1e-4 of
    // the largest gradient entry covers it with room).
    assert_close(
        &format!("{tag} R-op gradient vs one-sample"),
        &flat(&gb),
        &flat(&gs),
        1e-4,
        1e-5,
    );
    let obj = |q: &Ref| {
        xs.iter()
            .zip(&ts)
            .map(|(x, t)| {
                let xr = x64(x);
                let y = q.out(&xr);
                0.5 * y
                    .iter()
                    .zip(t)
                    .map(|(a, b)| (a - *b as f64).powi(2))
                    .sum::<f64>()
                    + 0.5 * q.penalty(&xr, &eta64, on)
            })
            .sum::<f64>()
            / nf
    };
    assert_close(
        &format!("{tag} R-op gradient vs f64"),
        &flat(&gb),
        &fd_grad(&r, obj, 1e-6),
        2e-3,
        5e-4,
    );
    let (mut hb, mut hs) = (N::zeroed(), N::zeroed());
    let pb = net.penalty_grad_batch(&xs, &eta, on, &mut hb).unwrap();
    let mut p1 = 0.0f64;
    for x in &xs {
        p1 += net.penalty_grad(x, &eta, on, &mut cache, &mut hs).unwrap() as f64;
    }
    scale_params(&mut hs, 1.0 / n as f32);
    assert_close(
        &format!("{tag} penalty_grad_batch value"),
        &[pb as f64],
        &[p1 / nf],
        1e-5,
        0.0,
    );
    assert_close(
        &format!("{tag} penalty_grad_batch gradient"),
        &flat(&hb),
        &flat(&hs),
        1e-4,
        1e-5,
    );
    let pen_only = |q: &Ref| {
        xs.iter()
            .map(|x| 0.5 * q.penalty(&x64(x), &eta64, on))
            .sum::<f64>()
            / nf
    };
    assert_close(
        &format!("{tag} penalty_grad_batch vs f64"),
        &flat(&hb),
        &fd_grad(&r, pen_only, 1e-6),
        2e-3,
        5e-4,
    );
}

#[test]
fn batch_passes_agree_with_sample_passes_and_do_not_depend_on_the_block_split() {
    check_batch_passes::<16, 1, Mlp2<16, 32, 32, 1, K, K>>(91);
    check_batch_passes::<10, 1, Mlp1<10, 16, 1, K, K>>(92);
    check_batch_passes::<9, 5, Mlp2<9, 17, 11, 5, K, K>>(93);
    check_batch_passes::<3, 2, Mlp1<3, 4, 2, K, K>>(94);
}

// ------------------------------------ the loss-correct (Gauss–Newton) penalty

/// The losses of the Gauss–Newton checks, with their f64 value and Hessian.
#[derive(Clone, Copy, Debug)]
enum GnLoss {
    Squared,
    Softmax,
    Smoothed(f32),
}

impl GnLoss {
    fn softmax(y: &[f64]) -> Vec<f64> {
        let m = y.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let e: Vec<f64> = y.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    /// `ℓ(y)` in f64 (`t` the real targets or, in `t[0]`, the class).
    fn value(self, y: &[f64], t: &[f64]) -> f64 {
        match self {
            GnLoss::Squared => 0.5 * y.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum::<f64>(),
            GnLoss::Softmax | GnLoss::Smoothed(_) => {
                let alpha = if let GnLoss::Smoothed(a) = self {
                    a as f64
                } else {
                    0.0
                };
                let m = y.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                let lse = m + y.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                let k = y.len() as f64;
                let label = t[0] as usize;
                let qy: f64 = y
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (if j == label { 1.0 - alpha } else { 0.0 } + alpha / k) * v)
                    .sum();
                lse - qy
            }
        }
    }

    /// `H_ℓ(y)` as an explicit matrix.
    fn hessian(self, y: &[f64]) -> Vec<Vec<f64>> {
        let k = y.len();
        match self {
            GnLoss::Squared => (0..k)
                .map(|i| (0..k).map(|j| f64::from(u8::from(i == j))).collect())
                .collect(),
            _ => {
                let p = Self::softmax(y);
                (0..k)
                    .map(|i| {
                        (0..k)
                            .map(|j| f64::from(u8::from(i == j)) * p[i] - p[i] * p[j])
                            .collect()
                    })
                    .collect()
            }
        }
    }
}

impl Ref {
    /// `Σ_{k,k'} H_ℓ[k,k'] ⟨∇f_k, ∇f_k'⟩_η` from explicit gradients and the
    /// explicit Hessian.
    fn gauss_newton(&self, x: &[f64], eta: &[f64], on: NoiseOn, loss: GnLoss) -> f64 {
        let noisy = self.noisy(on);
        let y = self.out(x);
        let h = loss.hessian(&y);
        let grads: Vec<Vec<f64>> = (0..y.len()).map(|k| self.grad_f(x, k)).collect();
        let mut total = 0.0;
        for (k, gk) in grads.iter().enumerate() {
            for (kk, gkk) in grads.iter().enumerate() {
                let dot: f64 = gk
                    .iter()
                    .zip(gkk)
                    .zip(&noisy)
                    .filter(|(_, n)| n.0)
                    .map(|((a, b), n)| eta[n.1] * a * b)
                    .sum();
                total += h[k][kk] * dot;
            }
        }
        total
    }
}

/// Penalty and gradient of `ℓ + ½ tr(J_fᵀ H_ℓ J_f)` against the f64 reference
/// and central finite differences, for one network shape and every loss.
fn check_gauss_newton<const I: usize, const O: usize, N: Network<I, O> + Acts>(seed: u64) {
    for (ki, &hidden) in [K::Tanh, K::Softplus, K::Sigmoid].iter().enumerate() {
        let net: N = random_net(seed + ki as u64, hidden, K::Identity);
        let r = Ref::of(&net);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed ^ ki as u64);
        let eta: Vec<f32> = (0..N::DEPTH).map(|l| 0.02 * (l as f32 + 1.0)).collect();
        let eta64: Vec<f64> = eta.iter().map(|&v| v as f64).collect();
        for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
            let x: [f32; I] = random_input(&mut rng, &r);
            let xr = x64(&x);
            let real: [f32; O] = core::array::from_fn(|_| uniform(&mut rng));
            let class = (rng.next_u32() as usize) % O;
            for loss in [GnLoss::Squared, GnLoss::Softmax, GnLoss::Smoothed(0.1)] {
                let tag = format!("{}-layer {hidden:?} {on:?} {loss:?}", N::DEPTH);
                let t64: Vec<f64> = match loss {
                    GnLoss::Squared => real.iter().map(|&v| v as f64).collect(),
                    _ => vec![class as f64],
                };
                let mut ws = net.workspace();
                let mut grad = N::zeroed();
                let (p, v) = match loss {
                    GnLoss::Squared => (
                        gauss_newton_penalty(&net, &HalfSquaredError, &x, &real, &eta, on, &mut ws),
                        loss_gauss_newton_grad(
                            &net,
                            &HalfSquaredError,
                            &x,
                            &real,
                            &eta,
                            on,
                            &mut ws,
                            &mut grad,
                        ),
                    ),
                    GnLoss::Softmax => (
                        gauss_newton_penalty(
                            &net,
                            &SoftmaxCrossEntropy,
                            &x,
                            &class,
                            &eta,
                            on,
                            &mut ws,
                        ),
                        loss_gauss_newton_grad(
                            &net,
                            &SoftmaxCrossEntropy,
                            &x,
                            &class,
                            &eta,
                            on,
                            &mut ws,
                            &mut grad,
                        ),
                    ),
                    GnLoss::Smoothed(a) => {
                        let l = SmoothedCrossEntropy::new(a).unwrap();
                        (
                            gauss_newton_penalty(&net, &l, &x, &class, &eta, on, &mut ws),
                            loss_gauss_newton_grad(
                                &net, &l, &x, &class, &eta, on, &mut ws, &mut grad,
                            ),
                        )
                    }
                };
                let (p, v) = (p.unwrap(), v.unwrap());
                let want = r.gauss_newton(&xr, &eta64, on, loss);
                assert_close(&format!("{tag} penalty"), &[p as f64], &[want], 2e-4, 1e-6);
                assert_eq!(v.penalty, p, "{tag}: penalty of the gradient pass");
                let want_loss = loss.value(&r.out(&xr), &t64);
                assert_close(
                    &format!("{tag} loss"),
                    &[v.loss as f64],
                    &[want_loss],
                    1e-5,
                    1e-6,
                );
                if let GnLoss::Squared = loss {
                    // H = I: the squared-error form, bit for bit in value.
                    let se = net.penalty(&x, &eta, on, &mut net.workspace()).unwrap();
                    assert_close(
                        &format!("{tag} = SE form"),
                        &[p as f64],
                        &[se as f64],
                        1e-6,
                        0.0,
                    );
                }
                let objective = |q: &Ref| {
                    loss.value(&q.out(&xr), &t64) + 0.5 * q.gauss_newton(&xr, &eta64, on, loss)
                };
                let fd = fd_grad(&r, objective, 1e-5);
                assert_close(&format!("{tag} gradient"), &flat(&grad), &fd, 2e-3, 2e-4);
            }
        }
    }
}

#[test]
fn gauss_newton_penalty_and_gradient_match_f64_reference_and_finite_differences() {
    check_gauss_newton::<3, 3, Mlp1<3, 5, 3, K, K>>(71);
    check_gauss_newton::<3, 4, Mlp2<3, 4, 5, 4, K, K>>(72);
    check_gauss_newton::<2, 2, Dense<2, 2, K>>(73);
}

#[test]
fn gauss_newton_softmax_penalty_is_the_per_layer_formula() {
    // ‖a‖² (Σ_k p_k ‖δ_k‖² − ‖Σ_k p_k δ_k‖²) per layer, from the f64 deltas.
    let net: Mlp1<3, 5, 3, K, K> = random_net(81, K::Tanh, K::Identity);
    let r = Ref::of(&net);
    let x = [0.4f32, -0.7, 0.2];
    let xr = x64(&x);
    let eta = [0.03f32, 0.05];
    let p = GnLoss::softmax(&r.out(&xr));
    let mut want = 0.0;
    let per_k: Vec<_> = (0..3).map(|k| r.deltas(&xr, k)).collect();
    for (l, &eta_l) in eta.iter().enumerate() {
        let a2: f64 = per_k[0].0[l].iter().map(|v| v * v).sum();
        let n = per_k[0].1[l].len();
        let mean: Vec<f64> = (0..n)
            .map(|i| (0..3).map(|k| p[k] * per_k[k].1[l][i]).sum())
            .collect();
        let spread: f64 = (0..3)
            .map(|k| p[k] * per_k[k].1[l].iter().map(|v| v * v).sum::<f64>())
            .sum::<f64>()
            - mean.iter().map(|v| v * v).sum::<f64>();
        want += eta_l as f64 * a2 * spread;
    }
    let mut ws = net.workspace();
    let got = gauss_newton_penalty(
        &net,
        &SoftmaxCrossEntropy,
        &x,
        &1,
        &eta,
        NoiseOn::Weights,
        &mut ws,
    )
    .unwrap();
    assert_close(
        "per-layer softmax formula",
        &[got as f64],
        &[want],
        1e-4,
        0.0,
    );
    // The squared-error form is a different (larger) number.
    let se = net
        .penalty(&x, &eta, NoiseOn::Weights, &mut net.workspace())
        .unwrap();
    assert!(se > 2.0 * got, "SE form {se} vs Gauss–Newton {got}");
}

#[test]
fn gauss_newton_rejects_bad_input_and_leaves_the_gradient_unchanged() {
    let net: Mlp1<2, 3, 2, K, K> = random_net(91, K::Tanh, K::Identity);
    let mut ws = net.workspace();
    let mut grad = net;
    let before = flat(&grad);
    let on = NoiseOn::Weights;
    let bad_eta = loss_gauss_newton_grad(
        &net,
        &SoftmaxCrossEntropy,
        &[0.1, 0.2],
        &0,
        &[0.1],
        on,
        &mut ws,
        &mut grad,
    );
    assert!(matches!(
        bad_eta,
        Err(noisereg::Error::LengthMismatch { .. })
    ));
    let bad_label = loss_gauss_newton_grad(
        &net,
        &SoftmaxCrossEntropy,
        &[0.1, 0.2],
        &2,
        &[0.1, 0.1],
        on,
        &mut ws,
        &mut grad,
    );
    assert!(matches!(
        bad_label,
        Err(noisereg::Error::InvalidParameter { .. })
    ));
    assert_eq!(flat(&grad), before);
    // NaN input: NaN out, no panic.
    let p = gauss_newton_penalty(
        &net,
        &SoftmaxCrossEntropy,
        &[f32::NAN, 0.0],
        &0,
        &[0.1, 0.1],
        on,
        &mut ws,
    )
    .unwrap();
    assert!(p.is_nan());
}

#[test]
fn trainer_penalty_is_the_loss_correct_one_and_the_squared_error_form_stays_by_name() {
    use noisereg::{NoiseKind, Sgd, Trainer, WeightNoiseConfig, loss_gauss_newton_grad_batch};
    type Net = Mlp1<3, 5, 3, K, K>;
    let net: Net = random_net(95, K::Tanh, K::Identity);
    let xs = [[0.3f32, -0.2, 0.9], [-0.5, 0.4, 0.1], [0.8, 0.7, -0.6]];
    let ts = [0usize, 2, 1];
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.05)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases);
    let (eta, on) = ([0.05, 0.05], NoiseOn::WeightsAndBiases);
    let new = || -> Trainer<3, 3, Net, Sgd> { Trainer::new(net, Sgd::new(0.1).unwrap(), 5) };
    let mut t = new().with_penalty(&cfg).unwrap();
    t.step(&SoftmaxCrossEntropy, &xs, &ts).unwrap();
    let mut want = Net::zeroed();
    loss_gauss_newton_grad_batch(&net, &SoftmaxCrossEntropy, &xs, &ts, &eta, on, &mut want)
        .unwrap();
    assert_eq!(
        flat(t.gradient()),
        flat(&want),
        "with_penalty: loss-correct"
    );
    let mut t = new().with_squared_error_penalty(&cfg).unwrap();
    t.step(&SoftmaxCrossEntropy, &xs, &ts).unwrap();
    // The trainer runs the one-sample R-operator: the mean of
    // `loss_penalty_grad`, bit for bit …
    want = want.zeros_like();
    let mut cache = net.workspace();
    for (x, t) in xs.iter().zip(&ts) {
        net.loss_penalty_grad(&SoftmaxCrossEntropy, x, t, &eta, on, &mut cache, &mut want)
            .unwrap();
    }
    scale_params(&mut want, 1.0 / xs.len() as f32);
    assert_eq!(
        flat(t.gradient()),
        flat(&want),
        "with_squared_error_penalty"
    );
    // … and the blocked batch pass within the forward sums' rounding.
    net.loss_penalty_grad_batch(&SoftmaxCrossEntropy, &xs, &ts, &eta, on, &mut want)
        .unwrap();
    assert_close(
        "with_squared_error_penalty vs the batch pass",
        &flat(t.gradient()),
        &flat(&want),
        1e-4,
        1e-5,
    );
}

#[test]
fn gauss_newton_penalty_batch_agrees_with_the_sample_penalty() {
    type Net = Mlp2<3, 4, 5, 4, K, K>;
    let net: Net = random_net(97, K::Tanh, K::Identity);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(98);
    let xs: Vec<[f32; 3]> = (0..37)
        .map(|_| core::array::from_fn(|_| uniform(&mut rng)))
        .collect();
    let ts: Vec<usize> = (0..37).map(|i| i % 4).collect();
    let (eta, on) = ([0.02, 0.03, 0.04], NoiseOn::WeightsAndBiases);
    let mut out = vec![0.0; 37];
    net.gauss_newton_penalty_batch(&SoftmaxCrossEntropy, &xs, &ts, &eta, on, &mut out)
        .unwrap();
    let mut ws = net.workspace();
    let want: Vec<f64> = xs
        .iter()
        .zip(&ts)
        .map(|(x, t)| {
            gauss_newton_penalty(&net, &SoftmaxCrossEntropy, x, t, &eta, on, &mut ws).unwrap()
                as f64
        })
        .collect();
    let got: Vec<f64> = out.iter().map(|&v| v as f64).collect();
    assert_close(
        "batch vs sample Gauss–Newton penalty",
        &got,
        &want,
        1e-5,
        0.0,
    );
    assert!(
        net.gauss_newton_penalty_batch(&SoftmaxCrossEntropy, &xs, &ts[1..], &eta, on, &mut out)
            .is_err()
    );
}

// -------------------------------------------- the passes on a run-time stack

/// Layers sized at run time over plain vectors: the public way to the passes
/// ([`noisereg::LayerStack`]), walked the simplest way.
#[derive(Debug, Clone)]
struct Flat {
    sizes: Vec<usize>,
    kind: Vec<ActivationKind>,
    /// Weights and bias of layer `l` at `2l`, `2l + 1`.
    params: Vec<Vec<f32>>,
}

/// Per layer: `x, z, a, g, delta, rz, ra`.
type FlatCache = Vec<[Vec<f32>; 7]>;

impl Flat {
    fn from_net<const I: usize, const O: usize, N: Network<I, O>>(
        net: &N,
        sizes: &[usize],
        kind: &[ActivationKind],
    ) -> Self {
        let params = (0..net.slice_count()).map(|i| net.slice(i).to_vec());
        Flat {
            sizes: sizes.to_vec(),
            kind: kind.to_vec(),
            params: params.collect(),
        }
    }

    fn cache(&self) -> FlatCache {
        let layer = |w: &[usize]| core::array::from_fn(|i| vec![0.0; w[usize::from(i > 0)]]);
        self.sizes.windows(2).map(layer).collect()
    }

    fn layer(&self, l: usize) -> noisereg::DenseRef<'_, ActivationKind> {
        let (w, b) = (&self.params[2 * l], &self.params[2 * l + 1]);
        noisereg::DenseRef::new(w, b, self.sizes[l], self.kind[l]).unwrap()
    }

    fn grad(&mut self, l: usize) -> noisereg::LayerGrad<'_> {
        let (w, b) = self.params.split_at_mut(2 * l + 1);
        noisereg::LayerGrad {
            w: &mut w[2 * l],
            b: &mut b[0],
        }
    }
}

fn slices(c: &mut [Vec<f32>; 7]) -> noisereg::LayerCache<'_> {
    let [x, z, a, g, delta, rz, ra] = c;
    noisereg::LayerCache {
        x,
        z,
        a,
        g,
        delta,
        rz,
        ra,
    }
}

fn below(c: &[Vec<f32>; 7]) -> noisereg::Below<'_> {
    noisereg::Below {
        a: &c[2],
        ra: &c[6],
    }
}

impl noisereg::LayerStack<FlatCache> for Flat {
    type Grad = Flat;

    fn layer_count(&self) -> usize {
        self.kind.len()
    }

    fn input_width(&self) -> usize {
        self.sizes[0]
    }

    fn output_width(&self) -> usize {
        self.sizes[self.kind.len()]
    }

    fn output_of<'c>(&self, cache: &'c FlatCache) -> &'c [f32] {
        &cache[cache.len() - 1][2]
    }

    fn walk_up<V: noisereg::UpPass>(
        &self,
        cache: &mut FlatCache,
        pass: &mut V,
    ) -> Result<(), noisereg::Error> {
        for l in 0..self.kind.len() {
            let (lo, hi) = cache.split_at_mut(l);
            let mut row = vec![0.0; self.sizes[l]];
            let b = lo.last().map(below);
            pass.layer(l, self.layer(l), slices(&mut hi[0]), b, &mut row);
        }
        Ok(())
    }

    fn walk_down<V: noisereg::DownPass>(
        &self,
        cache: &mut FlatCache,
        mut grad: Option<&mut Flat>,
        seed: noisereg::Seed<'_>,
        pass: &mut V,
    ) -> Result<(), noisereg::Error> {
        let carry = |w: usize| (vec![0.0; w], vec![0.0; if V::MATRIX { w * w } else { 0 }]);
        let mut above = carry(self.output_width());
        seed.write(&mut above.0);
        for l in (0..self.kind.len()).rev() {
            let mut beneath = (l > 0).then(|| carry(self.sizes[l]));
            let mut scratch = vec![0.0; self.sizes[l + 1]];
            let (lo, hi) = cache.split_at_mut(l);
            let top = noisereg::Carry {
                v: &mut above.0,
                m: &mut above.1,
            };
            let under = beneath.as_mut().map(|(v, m)| noisereg::Carry { v, m });
            let g = grad.as_deref_mut().map(|g| g.grad(l));
            let (c, b) = (slices(&mut hi[0]), lo.last().map(below));
            pass.layer(l, self.layer(l), c, b, g, top, under, &mut scratch);
            if let Some(b) = beneath {
                above = b;
            }
        }
        Ok(())
    }

    fn walk_back<V: noisereg::BackPass>(
        &self,
        cache: &FlatCache,
        grad: &mut Flat,
        seed: noisereg::Seed<'_>,
        pass: &mut V,
    ) -> Result<(), noisereg::Error> {
        let mut g = vec![0.0; self.output_width()];
        seed.write(&mut g);
        for l in (0..self.kind.len()).rev() {
            let mut gx = (l > 0).then(|| vec![0.0; self.sizes[l]]);
            let mut row = vec![0.0; self.sizes[l]];
            let [x, z, a, ..] = &cache[l];
            let xza = [&x[..], z, a];
            pass.layer(
                l,
                self.layer(l),
                xza,
                grad.grad(l),
                &mut g,
                gx.as_deref_mut(),
                &mut row,
            );
            if let Some(gx) = gx {
                g = gx;
            }
        }
        Ok(())
    }
}

/// The passes of [`noisereg::passes`] on a run-time stack give the bits of
/// the const-generic network's methods, and check the lengths they are given.
#[test]
fn passes_on_a_run_time_stack_match_the_network_bit_for_bit() {
    use noisereg::passes;
    type Net = Mlp2<3, 5, 4, 2, Tanh, noisereg::Sigmoid>;
    let kinds = [
        ActivationKind::Tanh,
        ActivationKind::Tanh,
        ActivationKind::Sigmoid,
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let mut net = Net::zeroed();
    net.init(Init::Glorot, &mut rng);
    let flat = Flat::from_net(&net, &[3, 5, 4, 2], &kinds);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let grad_bits = |g: &Flat| g.params.iter().map(|p| bits(p)).collect::<Vec<_>>();
    let net_grad_bits = |g: &Net| (0..6).map(|i| bits(g.slice(i))).collect::<Vec<_>>();
    let zeros = || Flat {
        params: flat.params.iter().map(|p| vec![0.0; p.len()]).collect(),
        ..flat.clone()
    };
    let (eta, on) = ([0.02, 0.03, 0.05], NoiseOn::WeightsAndBiases);
    for _ in 0..5 {
        let x: [f32; 3] = core::array::from_fn(|_| uniform(&mut rng));
        let dy: [f32; 2] = core::array::from_fn(|_| uniform(&mut rng));
        let (mut c1, mut c2) = (net.workspace(), flat.cache());
        let (mut y1, mut y2) = ([0.0; 2], [0.0; 2]);
        net.forward_with(&x, &mut Clean, &mut c1, &mut y1).unwrap();
        passes::forward_with(&flat, &x, &mut Clean, &mut c2, &mut y2).unwrap();
        assert_eq!(bits(&y1), bits(&y2), "forward");
        let (mut g1, mut g2) = (Net::zeroed(), zeros());
        net.backward_with(&mut c1, &dy, &mut Clean, &mut g1)
            .unwrap();
        passes::backward_with(&flat, &c2, &dy, &mut Clean, &mut g2).unwrap();
        assert_eq!(net_grad_bits(&g1), grad_bits(&g2), "backward");
        let p1 = net.penalty(&x, &eta, on, &mut c1).unwrap();
        let p2 = passes::penalty(&flat, &x, &eta, on, &mut c2).unwrap();
        assert_eq!(p1.to_bits(), p2.to_bits(), "penalty");
        let (mut g1, mut g2) = (Net::zeroed(), zeros());
        let p1 = net.penalty_grad_with(&mut c1, &dy, &eta, on, &mut g1);
        let p2 = passes::penalty_grad_from_cache(&flat, &mut c2, Some(&dy), &eta, on, &mut g2);
        assert_eq!(p1.unwrap().to_bits(), p2.unwrap().to_bits());
        assert_eq!(net_grad_bits(&g1), grad_bits(&g2), "penalty gradient");
        let (mut g1, mut g2) = (Net::zeroed(), zeros());
        let p1 = net.seeded_penalty_with(&mut c1, &dy, &eta, on, Some(&mut g1));
        let p2 = passes::seeded_penalty_from_cache(&flat, &mut c2, &dy, &eta, on, Some(&mut g2));
        assert_eq!(p1.unwrap().to_bits(), p2.unwrap().to_bits());
        assert_eq!(
            net_grad_bits(&g1),
            grad_bits(&g2),
            "seeded penalty gradient"
        );
        let (mut t1, mut t2) = ([0.0; 2], [0.0; 2]);
        net.hessian_trace(&x, &eta, on, &mut c1, &mut t1).unwrap();
        passes::hessian_trace(&flat, &x, &eta, on, &mut c2, &mut t2).unwrap();
        assert_eq!(bits(&t1), bits(&t2), "trace");
        assert!(t1.iter().all(|t| *t != 0.0));
    }
    // Lengths are checked before any walk.
    let mut c = flat.cache();
    let mut g = zeros();
    let short = passes::forward_with(&flat, &[0.0; 2], &mut Clean, &mut c, &mut [0.0; 2]);
    assert!(matches!(short, Err(noisereg::Error::LengthMismatch { .. })));
    assert!(passes::penalty(&flat, &[0.0; 3], &eta[..2], on, &mut c).is_err());
    assert!(passes::backward_with(&flat, &c, &[0.0; 3], &mut Clean, &mut g).is_err());
    let mut t = [0.0; 1];
    assert!(passes::hessian_trace(&flat, &[0.0; 3], &eta, on, &mut c, &mut t).is_err());
}

/// `p ← a·p` over every parameter (the trainer's scaling).
fn scale_params<P: Parameters>(p: &mut P, a: f32) {
    for i in 0..p.slice_count() {
        noisereg::scale(a, p.slice_mut(i));
    }
}
