//! The training loop: noisy gradients against finite differences in f64,
//! bit-identity at η = 0, determinism, all-or-nothing steps, validation,
//! schedules, optimisers, per-batch noise, the ring buffer and memory.

use noisereg::Model;
use noisereg::{
    Adam, AdamSettings, Clean, Dense, Error, EtaSchedule, HalfSquaredError, InputNoise, LabelNoise,
    Loss, Mlp1, Momentum, MomentumSettings, Network, NoiseKind, NoiseOn, Optimizer, Parameters,
    Perturbation, Redraw, SampleRing, ScheduleShape, Sgd, SmoothedCrossEntropy, Tanh, Trainer,
    WeightNoise, WeightNoiseConfig,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

type Net = Mlp1<2, 3, 1, Tanh>;

fn net(seed: u64) -> Net {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut n = Net::zeroed();
    n.init(noisereg::Init::Glorot, &mut rng);
    n.0.b = [0.1, -0.2, 0.05];
    n.1.b = [0.3];
    n
}

fn data(n: usize) -> (Vec<[f32; 2]>, Vec<[f32; 1]>) {
    let xs: Vec<[f32; 2]> = (0..n)
        .map(|i| {
            let t = i as f32 * 0.37;
            [t.sin(), (1.3 * t).cos()]
        })
        .collect();
    let ys = xs.iter().map(|x| [x[0] * x[1] + 0.5 * x[0]]).collect();
    (xs, ys)
}

fn flat<P: Parameters>(p: &P) -> Vec<f32> {
    (0..p.slice_count())
        .flat_map(|i| p.slice(i).to_vec())
        .collect()
}

fn bits<P: Parameters>(p: &P) -> Vec<u32> {
    flat(p).iter().map(|v| v.to_bits()).collect()
}

fn set_flat(p: &mut Net, v: &[f64]) {
    let mut k = 0;
    for i in 0..p.slice_count() {
        for e in p.slice_mut(i) {
            *e = v[k] as f32;
            k += 1;
        }
    }
}

// ---------------------------------------------------------------- f64 reference

/// How the f64 reference perturbs the 2→3→1 tanh network.
enum Mode<'a> {
    /// Parameters used as given (θ̃ already applied).
    AsIs,
    /// `θ ⊙ m`, multipliers per parameter.
    Times(&'a [f64]),
    /// Pre-activation noise `s·√(‖a‖² + c)·ξ_l` per layer.
    Local { s: f64, c: f64, xi: [&'a [f64]; 2] },
}

/// ½(f − y)² of the reference network in f64; params in `Parameters` order.
fn loss64(p: &[f64], x: [f64; 2], y: f64, mode: &Mode) -> f64 {
    let q: Vec<f64> = match mode {
        Mode::Times(m) => p.iter().zip(m.iter()).map(|(a, b)| a * b).collect(),
        _ => p.to_vec(),
    };
    let (w1, b1, w2, b2) = (&q[0..6], &q[6..9], &q[9..12], q[12]);
    let mut h = [0.0; 3];
    for o in 0..3 {
        let mut z = w1[2 * o] * x[0] + w1[2 * o + 1] * x[1] + b1[o];
        if let Mode::Local { s, c, xi } = mode {
            z += s * (x[0] * x[0] + x[1] * x[1] + c).sqrt() * xi[0][o];
        }
        h[o] = z.tanh();
    }
    let mut f = w2.iter().zip(&h).map(|(a, b)| a * b).sum::<f64>() + b2;
    if let Mode::Local { s, c, xi } = mode {
        f += s * (h.iter().map(|v| v * v).sum::<f64>() + c).sqrt() * xi[1][0];
    }
    0.5 * (f - y) * (f - y)
}

fn finite_differences(p: &[f64], x: [f64; 2], y: f64, mode: &Mode) -> Vec<f64> {
    let h = 1e-6;
    (0..p.len())
        .map(|i| {
            let (mut a, mut b) = (p.to_vec(), p.to_vec());
            a[i] += h;
            b[i] -= h;
            (loss64(&a, x, y, mode) - loss64(&b, x, y, mode)) / (2.0 * h)
        })
        .collect()
}

#[track_caller]
fn assert_grad_close(got: &[f32], want: &[f64]) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 2e-5 + 2e-4 * w.abs();
        assert!(
            (f64::from(g) - w).abs() <= tol,
            "component {i}: got {g}, finite differences {w}"
        );
    }
}

/// Gradient the library computes for one sample through `noise`.
fn noisy_grad(n: &Net, noise: &mut WeightNoise, x: [f32; 2], y: f32) -> Net {
    let (mut cache, mut out, mut g) = (Net::zeroed().workspace(), [0.0], Net::zeroed());
    n.forward_with(&x, noise, &mut cache, &mut out).unwrap();
    n.backward_with(&mut cache, &[out[0] - y], noise, &mut g)
        .unwrap();
    noise.scale_gradient(&mut g);
    g
}

#[test]
fn additive_noise_gradient_matches_finite_differences_at_perturbed_weights() {
    let n = net(1);
    let (x, y) = ([0.7f32, -0.4], 0.3f32);
    for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
        let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.05)
            .unwrap()
            .with_noise_on(on);
        let mut noise = WeightNoise::new(&cfg, 11);
        noise.next_draw();
        let g = noisy_grad(&n, &mut noise, x, y);
        let mut tilde = Net::zeroed();
        noise.perturb_parameters(&n, &mut tilde);
        assert_ne!(bits(&tilde), bits(&n));
        let p: Vec<f64> = flat(&tilde).iter().map(|&v| f64::from(v)).collect();
        let fd = finite_differences(&p, [0.7, -0.4], 0.3, &Mode::AsIs);
        assert_grad_close(&flat(&g), &fd);
    }
}

#[test]
fn multiplicative_noise_gradient_matches_finite_differences_wrt_clean_weights() {
    let n = net(2);
    let cfg = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.04)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases);
    let mut noise = WeightNoise::new(&cfg, 12);
    let g = noisy_grad(&n, &mut noise, [0.7, -0.4], 0.3);
    // Multipliers 1 + ε: the same draw applied to a network of ones.
    let mut ones = Net::zeroed();
    set_flat(&mut ones, &[1.0; 13]);
    let mut m = Net::zeroed();
    noise.perturb_parameters(&ones, &mut m);
    let m: Vec<f64> = flat(&m).iter().map(|&v| f64::from(v)).collect();
    assert!(m.iter().all(|&v| v != 1.0));
    let p: Vec<f64> = flat(&n).iter().map(|&v| f64::from(v)).collect();
    let fd = finite_differences(&p, [0.7, -0.4], 0.3, &Mode::Times(&m));
    assert_grad_close(&flat(&g), &fd);
}

#[test]
fn local_reparam_gradient_matches_finite_differences() {
    let n = net(3);
    for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
        let eta = 0.09f32;
        let cfg = WeightNoiseConfig::new(NoiseKind::LocalReparam, eta)
            .unwrap()
            .with_noise_on(on);
        let mut noise = WeightNoise::new(&cfg, 13);
        let g = noisy_grad(&n, &mut noise, [0.7, -0.4], 0.3);
        // Recover ξ: with ‖a‖² + c = 1 the pre-activation moves by √η·ξ.
        let c = if on == NoiseOn::Weights { 0.0 } else { 1.0 };
        let unit = if c == 0.0 { 1.0 } else { 0.0 };
        let s = f64::from(eta.sqrt());
        let mut xi0 = [0.0f32; 3];
        noise.begin_layer(0);
        noise.pre_activation(0, &[unit, 0.0], &mut xi0);
        let mut xi1 = [0.0f32; 1];
        noise.begin_layer(1);
        noise.pre_activation(1, &[unit, 0.0, 0.0], &mut xi1);
        let xi0: Vec<f64> = xi0.iter().map(|&v| f64::from(v) / s).collect();
        let xi1: Vec<f64> = xi1.iter().map(|&v| f64::from(v) / s).collect();
        let p: Vec<f64> = flat(&n).iter().map(|&v| f64::from(v)).collect();
        let mode = Mode::Local {
            s,
            c,
            xi: [&xi0, &xi1],
        };
        let fd = finite_differences(&p, [0.7, -0.4], 0.3, &mode);
        assert_grad_close(&flat(&g), &fd);
    }
}

#[test]
fn smoothed_cross_entropy_gradient_matches_finite_differences() {
    let loss = SmoothedCrossEntropy::new(0.2).unwrap();
    let y = [0.3f32, -1.2, 0.8];
    let mut dy = [0.0; 3];
    let v = loss.value_grad(&y, &2, &mut dy).unwrap();
    let q = [0.2 / 3.0, 0.2 / 3.0, 0.8 + 0.2 / 3.0];
    let l64 = |y: &[f64; 3]| {
        let m = y.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + y.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        lse - y.iter().zip(&q).map(|(a, b)| a * b).sum::<f64>()
    };
    let y64 = y.map(f64::from);
    assert!((f64::from(v) - l64(&y64)).abs() < 1e-6);
    for j in 0..3 {
        let (mut a, mut b) = (y64, y64);
        a[j] += 1e-6;
        b[j] -= 1e-6;
        let fd = (l64(&a) - l64(&b)) / 2e-6;
        assert!(
            (f64::from(dy[j]) - fd).abs() < 1e-6,
            "{j}: {} vs {fd}",
            dy[j]
        );
    }
}

// ---------------------------------------------------------------- bit-identity, determinism

type T0<O> = Trainer<2, 1, Net, O>;

fn run<O: Optimizer<Net>>(mut t: T0<O>, steps: usize) -> Net {
    let (xs, ys) = data(40);
    for s in 0..steps {
        let i = (s * 8) % 40;
        t.step(&HalfSquaredError, &xs[i..i + 8], &ys[i..i + 8])
            .unwrap();
    }
    t.into_network()
}

fn adam(n: &Net) -> Adam<Net> {
    Adam::with_defaults(0.01, n).unwrap()
}

#[test]
fn trainer_with_zero_eta_is_bit_identical_to_plain_training() {
    let n = net(4);
    let plain = bits(&run(T0::new(n, adam(&n), 1), 30));
    for kind in [
        NoiseKind::Additive,
        NoiseKind::Multiplicative,
        NoiseKind::LocalReparam,
    ] {
        let cfg = WeightNoiseConfig::new(kind, 0.0)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases);
        let t = T0::new(n, adam(&n), 1).with_weight_noise(&cfg).unwrap();
        assert_eq!(bits(&run(t, 30)), plain, "{kind:?}");
        let t = T0::new(n, adam(&n), 1).with_penalty(&cfg).unwrap();
        assert_eq!(bits(&run(t, 30)), plain, "penalty");
    }
    let t = T0::new(n, adam(&n), 1)
        .with_input_noise(0.0)
        .unwrap()
        .with_label_noise(0.0)
        .unwrap();
    assert_eq!(bits(&run(t, 30)), plain, "input/label");
    // And a positive η really changes the result (the test can fail).
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 1e-6).unwrap();
    let t = T0::new(n, adam(&n), 1).with_weight_noise(&cfg).unwrap();
    assert_ne!(bits(&run(t, 30)), plain);
}

#[test]
fn perturbation_at_zero_eta_gives_clean_passes_bit_for_bit() {
    let n = net(5);
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.0).unwrap();
    let mut noise = WeightNoise::new(&cfg, 5);
    let (mut c1, mut c2) = (Net::zeroed().workspace(), Net::zeroed().workspace());
    let (mut y1, mut y2) = ([0.0f32], [0.0f32]);
    let (mut g1, mut g2) = (Net::zeroed(), Net::zeroed());
    n.forward_with(&[0.3, 0.9], &mut Clean, &mut c1, &mut y1)
        .unwrap();
    n.forward_with(&[0.3, 0.9], &mut noise, &mut c2, &mut y2)
        .unwrap();
    n.backward_with(&mut c1, &[1.0], &mut Clean, &mut g1)
        .unwrap();
    n.backward_with(&mut c2, &[1.0], &mut noise, &mut g2)
        .unwrap();
    assert_eq!(y1[0].to_bits(), y2[0].to_bits());
    assert_eq!(bits(&g1), bits(&g2));
}

/// Widths where blocked and row-by-row kernels take different paths.
type Wide = noisereg::Mlp2<16, 32, 32, 1, Tanh>;
type Odd = Mlp1<10, 16, 1, Tanh>;

fn init_net<const IN: usize, N: Network<IN, 1>>(seed: u64) -> N {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut n = N::zeroed();
    n.init(noisereg::Init::Glorot, &mut rng);
    n
}

fn data_in<const IN: usize>(n: usize) -> (Vec<[f32; IN]>, Vec<[f32; 1]>) {
    let xs: Vec<[f32; IN]> = (0..n)
        .map(|i| core::array::from_fn(|j| ((i * IN + j) as f32 * 0.37).sin()))
        .collect();
    let ys = xs.iter().map(|x| [x[0] * x[IN - 1] + 0.5 * x[1]]).collect();
    (xs, ys)
}

/// 12 Adam steps of batch 8, with the weight noise `cfg` (if any); weight bits.
fn run_wide<const IN: usize, N: Network<IN, 1>>(
    n: &N,
    weight: Option<&WeightNoiseConfig>,
    penalty: Option<&WeightNoiseConfig>,
) -> Vec<u32> {
    run_wide_s::<IN, N, 0>(n, weight, penalty)
}

/// [`run_wide`] with `S` scratch networks.
fn run_wide_s<const IN: usize, N: Network<IN, 1>, const S: usize>(
    n: &N,
    weight: Option<&WeightNoiseConfig>,
    penalty: Option<&WeightNoiseConfig>,
) -> Vec<u32> {
    let (xs, ys) = data_in::<IN>(24);
    let mut t: Trainer<IN, 1, N, Adam<N>, S> =
        Trainer::with_scratch(n.clone(), Adam::with_defaults(0.01, n).unwrap(), 1);
    if let Some(c) = weight {
        t = t.with_weight_noise(c).unwrap();
    }
    if let Some(c) = penalty {
        t = t.with_penalty(c).unwrap();
    }
    for s in 0..12 {
        let i = (s * 8) % 24;
        t.step(&HalfSquaredError, &xs[i..i + 8], &ys[i..i + 8])
            .unwrap();
    }
    bits(t.network())
}

fn zero_eta_is_plain_training<const IN: usize, N: Network<IN, 1>>(seed: u64) {
    let n: N = init_net::<IN, N>(seed);
    let plain = run_wide::<IN, N>(&n, None, None);
    for kind in [
        NoiseKind::Additive,
        NoiseKind::Multiplicative,
        NoiseKind::LocalReparam,
    ] {
        let cfg = WeightNoiseConfig::new(kind, 0.0)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases);
        assert_eq!(run_wide::<IN, N>(&n, Some(&cfg), None), plain, "{kind:?}");
        assert_eq!(run_wide::<IN, N>(&n, None, Some(&cfg)), plain, "penalty");
    }
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 1e-6).unwrap();
    assert_ne!(run_wide::<IN, N>(&n, Some(&cfg), None), plain);
}

#[test]
fn trainer_with_zero_eta_is_bit_identical_to_plain_training_on_wide_and_odd_nets() {
    zero_eta_is_plain_training::<16, Wide>(21);
    zero_eta_is_plain_training::<10, Odd>(22);
}

/// Forward and backward through `p` equal the clean passes bit for bit.
fn clean_passes<const IN: usize, N: Network<IN, 1>, P: Perturbation>(n: &N, p: &mut P) {
    let (xs, _) = data_in::<IN>(3);
    for x in &xs {
        let (mut c1, mut c2) = (N::zeroed().workspace(), N::zeroed().workspace());
        let (mut y1, mut y2) = ([0.0], [0.0]);
        let (mut g1, mut g2) = (N::zeroed(), N::zeroed());
        n.forward_with(x, &mut Clean, &mut c1, &mut y1).unwrap();
        n.forward_with(x, p, &mut c2, &mut y2).unwrap();
        n.backward_with(&mut c1, &[1.0], &mut Clean, &mut g1)
            .unwrap();
        n.backward_with(&mut c2, &[1.0], p, &mut g2).unwrap();
        assert_eq!(y1[0].to_bits(), y2[0].to_bits());
        assert_eq!(bits(&g1), bits(&g2));
    }
}

fn zero_eta_perturbations_are_clean<const IN: usize, N: Network<IN, 1>>(seed: u64) {
    let n: N = init_net::<IN, N>(seed);
    for kind in [
        NoiseKind::Additive,
        NoiseKind::Multiplicative,
        NoiseKind::LocalReparam,
    ] {
        let cfg = WeightNoiseConfig::new(kind, 0.0)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases);
        let mut noise = WeightNoise::new(&cfg, seed);
        // η = 0 must take the clean kernels, not a copy-through of them.
        assert!(!noise.perturbs_weights(), "{kind:?}");
        clean_passes::<IN, N, _>(&n, &mut noise);
        let mut add = noisereg::AdditiveNoise::new(&cfg, seed);
        assert!(!add.perturbs_weights());
        clean_passes::<IN, N, _>(&n, &mut add);
        let mut mul = noisereg::MultiplicativeNoise::new(&cfg, seed);
        assert!(!mul.perturbs_weights());
        clean_passes::<IN, N, _>(&n, &mut mul);
    }
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    assert!(WeightNoise::new(&cfg, seed).perturbs_weights());
}

#[test]
fn perturbation_at_zero_eta_gives_clean_passes_bit_for_bit_on_wide_and_odd_nets() {
    zero_eta_perturbations_are_clean::<16, Wide>(23);
    zero_eta_perturbations_are_clean::<10, Odd>(24);
}

fn noisy_trainer(seed: u64) -> T0<Adam<Net>> {
    let n = net(6);
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases);
    T0::new(n, adam(&n), seed)
        .with_weight_noise(&cfg)
        .unwrap()
        .with_input_noise(0.05)
        .unwrap()
        .with_label_noise(0.05)
        .unwrap()
}

/// `steps` steps of `t` on the batches `from..from + steps` of [`run`].
fn run_from<O: Optimizer<Net>>(t: &mut T0<O>, from: usize, steps: usize) {
    let (xs, ys) = data(40);
    for s in from..from + steps {
        let i = (s * 8) % 40;
        t.step(&HalfSquaredError, &xs[i..i + 8], &ys[i..i + 8])
            .unwrap();
    }
}

#[test]
fn saved_state_restored_into_fresh_trainer_continues_bit_identically() {
    // Adam and momentum: weights, optimiser state, step and noise positions
    // saved after 13 steps and put into a fresh trainer continue exactly.
    let mut full = noisy_trainer(31);
    run_from(&mut full, 0, 30);
    let mut first = noisy_trainer(31);
    run_from(&mut first, 0, 13);
    let mut resumed = noisy_trainer(31);
    *resumed.network_mut() = *first.network();
    let o = first.optimizer();
    let (b1, b2) = o.beta_powers();
    let (m, v) = (*o.first_moment(), *o.second_moment());
    resumed.optimizer_mut().restore(&m, &v, b1, b2).unwrap();
    resumed.resume(first.steps(), first.noise_positions());
    run_from(&mut resumed, 13, 17);
    assert_eq!(bits(resumed.network()), bits(full.network()));
    assert_eq!(resumed.optimizer(), full.optimizer());
    assert_eq!(resumed.noise_positions(), full.noise_positions());
    // Without the optimiser state it does not (the test can fail).
    let mut cold = noisy_trainer(31);
    *cold.network_mut() = *first.network();
    cold.resume(first.steps(), first.noise_positions());
    run_from(&mut cold, 13, 17);
    assert_ne!(bits(cold.network()), bits(full.network()));

    let n = net(6);
    let mom = || {
        T0::new(
            n,
            Momentum::new(MomentumSettings { lr: 0.01, mu: 0.9 }, &n).unwrap(),
            2,
        )
    };
    let (mut full, mut first, mut resumed) = (mom(), mom(), mom());
    run_from(&mut full, 0, 20);
    run_from(&mut first, 0, 7);
    *resumed.network_mut() = *first.network();
    resumed
        .optimizer_mut()
        .restore(first.optimizer().velocity())
        .unwrap();
    resumed.resume(first.steps(), first.noise_positions());
    run_from(&mut resumed, 7, 13);
    assert_eq!(bits(resumed.network()), bits(full.network()));
}

#[test]
fn optimizer_restore_rejects_bad_state_and_changes_nothing() {
    let n = net(8);
    let mut a = adam(&n);
    let mut p = n;
    a.step(&mut p, &n).unwrap();
    let before = a.clone();
    let (m, v) = (*a.first_moment(), *a.second_moment());
    let (b1, b2) = a.beta_powers();
    let mut nan = m;
    nan.1.b = [f32::NAN];
    assert!(matches!(
        a.restore(&nan, &v, b1, b2),
        Err(Error::NonFinite { .. })
    ));
    let mut neg = v;
    neg.0.w[0][0] = -1.0;
    assert!(matches!(
        a.restore(&m, &neg, b1, b2),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(a.restore(&m, &v, 1.5, b2).is_err());
    assert!(a.restore(&m, &v, b1, f32::NAN).is_err());
    assert_eq!(a, before);
    let mut mo = Momentum::new(MomentumSettings { lr: 0.1, mu: 0.5 }, &n).unwrap();
    let mut inf = n;
    inf.0.b[1] = f32::INFINITY;
    assert!(mo.restore(&inf).is_err());
    assert_eq!(bits(mo.velocity()), bits(&Net::zeroed()));
}

#[test]
fn noise_on_slices_equals_noise_on_arrays() {
    let (mut a, mut b) = (
        InputNoise::gaussian(0.3, 9).unwrap(),
        InputNoise::gaussian(0.3, 9).unwrap(),
    );
    let (mut la, mut lb) = (
        LabelNoise::gaussian(0.2, 4).unwrap(),
        LabelNoise::gaussian(0.2, 4).unwrap(),
    );
    let x = [0.5f32, -1.0, 2.0, 0.25, 3.0];
    for _ in 0..3 {
        let (mut o1, mut o2) = ([0.0f32; 5], vec![0.0f32; 5]);
        a.perturb(&x, &mut o1);
        b.perturb_slice(&x, &mut o2).unwrap();
        assert_eq!(
            o1.map(f32::to_bits).to_vec(),
            o2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        la.perturb(&x, &mut o1);
        lb.perturb_slice(&x, &mut o2).unwrap();
        assert_eq!(
            o1.map(f32::to_bits).to_vec(),
            o2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    assert_eq!(a.draw_index(), b.draw_index());
    assert_eq!(la.draw_index(), lb.draw_index());
    let mut short = vec![0.0f32; 4];
    assert!(matches!(
        b.perturb_slice(&x, &mut short),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(lb.perturb_slice(&x, &mut short).is_err());
    assert_eq!(a.draw_index(), b.draw_index());
}

#[test]
fn same_seed_gives_bit_identical_weights_after_many_steps() {
    let a = bits(&run(noisy_trainer(77), 100));
    let b = bits(&run(noisy_trainer(77), 100));
    let c = bits(&run(noisy_trainer(78), 100));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn clean_weights_are_never_written_with_noise() {
    // A step with zero gradient (learning rate tiny, targets = outputs) under
    // strong noise must not move the weights by the noise.
    let n = net(7);
    let (xs, _) = data(8);
    let ys: Vec<[f32; 1]> = xs
        .iter()
        .map(|x| {
            let mut y = [0.0];
            n.forward(x, &mut y).unwrap();
            y
        })
        .collect();
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.5).unwrap();
    let mut t = T0::new(n, Sgd::new(1e-30).unwrap(), 7)
        .with_weight_noise(&cfg)
        .unwrap();
    t.step(&HalfSquaredError, &xs, &ys).unwrap();
    // lr·g is far below half an ulp of every weight: θ − lr·g == θ exactly,
    // so any add-then-subtract of the noise would show in the bits.
    assert!(flat(t.gradient()).iter().any(|&g| g != 0.0));
    assert_eq!(bits(t.network()), bits(&n));
}

// ---------------------------------------------------------------- all or nothing

fn snapshot(t: &T0<Adam<Net>>) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    (
        bits(t.network()),
        bits(t.optimizer().first_moment()),
        bits(t.optimizer().second_moment()),
    )
}

#[test]
fn bad_input_or_non_finite_update_changes_nothing() {
    let (xs, ys) = data(8);
    let mut t = noisy_trainer(9);
    for _ in 0..3 {
        t.step(&HalfSquaredError, &xs, &ys).unwrap();
    }
    let before = snapshot(&t);
    let twin = t.clone();
    let mut bad_x = xs.clone();
    bad_x[3][1] = f32::NAN;
    assert_eq!(
        t.step(&HalfSquaredError, &bad_x, &ys),
        Err(Error::NonFinite { what: "input" })
    );
    let mut bad_y = ys.clone();
    bad_y[5][0] = f32::INFINITY;
    assert_eq!(
        t.step(&HalfSquaredError, &xs, &bad_y),
        Err(Error::NonFinite { what: "target" })
    );
    // Targets so large that the gradient itself overflows.
    let huge: Vec<[f32; 1]> = ys.iter().map(|_| [3e38]).collect();
    assert!(matches!(
        t.step(&HalfSquaredError, &xs, &huge),
        Err(Error::NonFinite { .. })
    ));
    assert_eq!(snapshot(&t), before);
    // |g| ≈ 1e20: the gradient, m and the weights stay finite, but g² = ∞
    // would make Adam's second moment infinite.
    let big: Vec<[f32; 1]> = ys.iter().map(|_| [1e20]).collect();
    assert_eq!(
        t.step(&HalfSquaredError, &xs, &big),
        Err(Error::NonFinite {
            what: "optimiser state"
        })
    );
    let g = flat(t.gradient());
    assert!(g.iter().all(|g| g.is_finite()) && g.iter().any(|g| g.abs() > 1e19));
    assert_eq!(
        t.step(&HalfSquaredError, &xs[..0], &ys[..0]),
        Err(Error::InvalidParameter {
            name: "batch",
            requirement: "at least one sample"
        })
    );
    assert!(matches!(
        t.step(&HalfSquaredError, &xs, &ys[..3]),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(snapshot(&t), before);
    assert_eq!(t.steps(), 3);
    // The noise generators were rolled back too: the next step is the one
    // the untouched twin takes.
    let mut twin = twin;
    t.step(&HalfSquaredError, &xs, &ys).unwrap();
    twin.step(&HalfSquaredError, &xs, &ys).unwrap();
    assert_eq!(snapshot(&t), snapshot(&twin));
}

#[test]
fn sgd_step_to_infinite_weights_is_refused() {
    let n = net(10);
    let mut t = T0::new(n, Sgd::new(1e30).unwrap(), 1);
    let (xs, ys) = data(4);
    let big: Vec<[f32; 1]> = ys.iter().map(|_| [1e20]).collect();
    assert_eq!(
        t.step(&HalfSquaredError, &xs, &big),
        Err(Error::NonFinite {
            what: "updated weights"
        })
    );
    assert_eq!(bits(t.network()), bits(&n));
}

#[test]
fn invalid_settings_are_rejected_naming_the_setting() {
    let name = |e: Error| match e {
        Error::InvalidParameter { name, .. } => name,
        other => panic!("{other:?}"),
    };
    let n = net(0);
    assert_eq!(
        name(WeightNoiseConfig::new(NoiseKind::Additive, -0.1).unwrap_err()),
        "eta"
    );
    assert_eq!(
        name(WeightNoiseConfig::new(NoiseKind::Additive, f32::NAN).unwrap_err()),
        "eta"
    );
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.1).unwrap();
    assert_eq!(
        name(cfg.with_layer_eta(&[0.1, f32::INFINITY]).unwrap_err()),
        "eta"
    );
    assert_eq!(name(cfg.with_layer_eta(&[0.1; 9]).unwrap_err()), "layers");
    assert_eq!(name(Sgd::new(0.0).unwrap_err()), "learning_rate");
    assert_eq!(name(Sgd::new(-1.0).unwrap_err()), "learning_rate");
    assert_eq!(
        name(Momentum::new(MomentumSettings { lr: 0.1, mu: 1.0 }, &n).unwrap_err()),
        "momentum"
    );
    assert_eq!(
        name(
            Adam::new(
                AdamSettings {
                    lr: 0.1,
                    beta1: 1.0,
                    beta2: 0.9,
                    ..Default::default()
                },
                &n
            )
            .unwrap_err()
        ),
        "beta1"
    );
    assert_eq!(
        name(
            Adam::new(
                AdamSettings {
                    lr: 0.1,
                    beta2: -0.1,
                    ..Default::default()
                },
                &n
            )
            .unwrap_err()
        ),
        "beta2"
    );
    assert_eq!(
        name(
            Adam::new(
                AdamSettings {
                    lr: 0.1,
                    beta2: 0.9,
                    eps: 0.0,
                    ..Default::default()
                },
                &n
            )
            .unwrap_err()
        ),
        "epsilon"
    );
    assert_eq!(
        name(
            Adam::new(
                AdamSettings {
                    lr: f32::NAN,
                    beta2: 0.9,
                    ..Default::default()
                },
                &n
            )
            .unwrap_err()
        ),
        "learning_rate"
    );
    assert_eq!(
        name(InputNoise::gaussian(f32::INFINITY, 0).unwrap_err()),
        "input_std"
    );
    assert_eq!(
        name(LabelNoise::gaussian(-1.0, 0).unwrap_err()),
        "label_std"
    );
    assert_eq!(
        name(SmoothedCrossEntropy::new(1.0).unwrap_err()),
        "label_smoothing"
    );
    assert_eq!(
        name(EtaSchedule::new(0, ScheduleShape::Linear, 0, 0.0, 1.0).unwrap_err()),
        "ramp"
    );
    assert_eq!(
        name(EtaSchedule::new(0, ScheduleShape::Linear, 5, -1.0, 1.0).unwrap_err()),
        "from"
    );
    let t = || T0::new(n, Sgd::new(0.1).unwrap(), 0);
    let three = cfg.with_layer_eta(&[0.1, 0.1, 0.1]).unwrap();
    assert_eq!(
        t().with_weight_noise(&three).unwrap_err(),
        Error::LengthMismatch { left: 3, right: 2 }
    );
    let local = WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.1)
        .unwrap()
        .with_redraw(Redraw::PerBatch);
    assert_eq!(name(t().with_weight_noise(&local).unwrap_err()), "redraw");
    assert_eq!(name(t().with_input_noise(-0.5).unwrap_err()), "input_std");
}

// ---------------------------------------------------------------- modes

#[test]
fn per_batch_noise_with_scratch_matches_regeneration() {
    let n = net(11);
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.02)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases)
        .with_redraw(Redraw::PerBatch);
    let a = run(T0::new(n, adam(&n), 5).with_weight_noise(&cfg).unwrap(), 20);
    let t1: Trainer<2, 1, Net, Adam<Net>, 1> = Trainer::with_scratch(n, adam(&n), 5)
        .with_weight_noise(&cfg)
        .unwrap();
    let (xs, ys) = data(40);
    let mut t1 = t1;
    for s in 0..20 {
        let i = (s * 8) % 40;
        t1.step(&HalfSquaredError, &xs[i..i + 8], &ys[i..i + 8])
            .unwrap();
    }
    // The same draw; with scratch the clean batch pass sums in another
    // order, so the results agree to rounding (Adam amplifies it a little).
    let close = |a: &[u32], b: &[u32]| {
        assert_eq!(a.len(), b.len());
        for (k, (&x, &y)) in a.iter().zip(b).enumerate() {
            let (x, y) = (f32::from_bits(x), f32::from_bits(y));
            assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{k}: {x} vs {y}");
        }
    };
    close(&bits(&a), &bits(t1.network()));
    for kind in [NoiseKind::Additive, NoiseKind::Multiplicative] {
        let cfg = WeightNoiseConfig::new(kind, 0.02)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases)
            .with_redraw(Redraw::PerBatch);
        let w: Wide = init_net::<16, Wide>(25);
        let regenerated = run_wide_s::<16, Wide, 0>(&w, Some(&cfg), None);
        close(
            &run_wide_s::<16, Wide, 1>(&w, Some(&cfg), None),
            &regenerated,
        );
        let o: Odd = init_net::<10, Odd>(26);
        let regenerated = run_wide_s::<10, Odd, 0>(&o, Some(&cfg), None);
        close(
            &run_wide_s::<10, Odd, 1>(&o, Some(&cfg), None),
            &regenerated,
        );
        // A different draw is far from it: the check sees the noise.
        let other = WeightNoiseConfig::new(kind, 0.03)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases)
            .with_redraw(Redraw::PerBatch);
        let far = run_wide_s::<10, Odd, 1>(&o, Some(&other), None);
        assert!(
            far.iter()
                .zip(&regenerated)
                .any(|(&x, &y)| (f32::from_bits(x) - f32::from_bits(y)).abs() > 1e-3)
        );
    }
}

#[test]
fn per_batch_noise_uses_one_draw_for_the_whole_batch() {
    // Two identical samples in one batch: with one draw they see the same
    // weights, so the batch gradient equals the single-sample gradient.
    let n = net(12);
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.05)
        .unwrap()
        .with_redraw(Redraw::PerBatch);
    let mk = || {
        T0::new(n, Sgd::new(0.1).unwrap(), 3)
            .with_weight_noise(&cfg)
            .unwrap()
    };
    let (mut one, mut two) = (mk(), mk());
    one.step(&HalfSquaredError, &[[0.2, 0.4]], &[[1.0]])
        .unwrap();
    two.step(&HalfSquaredError, &[[0.2, 0.4]; 2], &[[1.0]; 2])
        .unwrap();
    assert_eq!(bits(one.gradient()), bits(two.gradient()));
    // Per sample, the two copies see different weights.
    let per = cfg.with_redraw(Redraw::PerSample);
    let mut t = T0::new(n, Sgd::new(0.1).unwrap(), 3)
        .with_weight_noise(&per)
        .unwrap();
    t.step(&HalfSquaredError, &[[0.2, 0.4]; 2], &[[1.0]; 2])
        .unwrap();
    assert_ne!(bits(one.gradient()), bits(t.gradient()));
}

#[test]
fn multiplicative_per_sample_batches_need_scratch_and_average_sample_gradients() {
    let n = net(13);
    let cfg = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.05).unwrap();
    let (xs, ys) = data(4);
    let mut t0 = T0::new(n, Sgd::new(0.1).unwrap(), 8)
        .with_weight_noise(&cfg)
        .unwrap();
    assert_eq!(
        t0.step(&HalfSquaredError, &xs, &ys)
            .map_err(|e| matches!(e, Error::InvalidParameter { name: "batch", .. })),
        Err(true)
    );
    let mut t1: Trainer<2, 1, Net, Sgd, 1> = Trainer::with_scratch(n, Sgd::new(0.1).unwrap(), 8)
        .with_weight_noise(&cfg)
        .unwrap();
    t1.step(&HalfSquaredError, &xs, &ys).unwrap();
    // Reference: one-sample steps (batch of 1 is allowed without scratch),
    // same draws in the same order, gradients averaged.
    let mut mean = vec![0.0f32; 13];
    // A learning rate so small the weights stay put while draws advance.
    let mut t = T0::new(n, Sgd::new(1e-30).unwrap(), 8)
        .with_weight_noise(&cfg)
        .unwrap();
    for (x, y) in xs.iter().zip(&ys) {
        t.step(&HalfSquaredError, &[*x], &[*y]).unwrap();
        assert_eq!(bits(t.network()), bits(&n));
        for (m, g) in mean.iter_mut().zip(flat(t.gradient())) {
            *m += g / 4.0;
        }
    }
    for (a, b) in flat(t1.gradient()).iter().zip(&mean) {
        assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
    }
}

#[test]
fn warm_up_and_ramp_schedules_control_eta() {
    let s = EtaSchedule::new(10, ScheduleShape::Linear, 10, 0.0, 1.0).unwrap();
    assert_eq!(
        [0, 9, 10, 15, 20, 99].map(|k| s.factor(k)),
        [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    );
    let c = EtaSchedule::new(0, ScheduleShape::Cosine, 4, 1.0, 0.0).unwrap();
    let f = [0, 1, 2, 3, 4].map(|k| c.factor(k));
    assert!((f[0] - 1.0).abs() < 1e-7 && (f[2] - 0.5).abs() < 1e-6 && f[4] == 0.0);
    assert!(f.windows(2).all(|w| w[1] < w[0]));
    // Warm-up: the first 5 steps are plain training, then noise starts.
    let n = net(14);
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01)
        .unwrap()
        .with_schedule(EtaSchedule::warm_up(5));
    let plain5 = bits(&run(T0::new(n, adam(&n), 2), 5));
    let warm5 = run(T0::new(n, adam(&n), 2).with_weight_noise(&cfg).unwrap(), 5);
    assert_eq!(bits(&warm5), plain5);
    let plain6 = bits(&run(T0::new(n, adam(&n), 2), 6));
    let warm6 = run(T0::new(n, adam(&n), 2).with_weight_noise(&cfg).unwrap(), 6);
    assert_ne!(bits(&warm6), plain6);
}

#[test]
fn ring_buffer_batches_equal_slice_batches() {
    let n = net(15);
    let (xs, ys) = data(16);
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let mut a = T0::new(n, adam(&n), 4).with_weight_noise(&cfg).unwrap();
    let mut b = a.clone();
    let mut ring: SampleRing<2, [f32; 1], 8> = SampleRing::new();
    for (k, (x, y)) in xs.iter().zip(&ys).enumerate() {
        ring.push(*x, *y).unwrap();
        if ring.is_full() {
            let la = a.step_ring(&HalfSquaredError, &ring).unwrap();
            let lb = b
                .step(&HalfSquaredError, &xs[k - 7..=k], &ys[k - 7..=k])
                .unwrap();
            assert_eq!(la.to_bits(), lb.to_bits());
            ring.clear();
        }
    }
    assert_eq!(a.steps(), 2);
    assert_eq!(bits(a.network()), bits(b.network()));
}

#[test]
fn explicit_penalty_step_uses_the_networks_penalty_gradient() {
    let n = net(16);
    let (xs, ys) = data(8);
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.03)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases);
    let mut t = T0::new(n, Sgd::new(0.1).unwrap(), 1)
        .with_penalty(&cfg)
        .unwrap();
    t.step(&HalfSquaredError, &xs, &ys).unwrap();
    let mut want = Net::zeroed();
    n.loss_penalty_grad_batch(
        &HalfSquaredError,
        &xs,
        &ys,
        &[0.03, 0.03],
        NoiseOn::WeightsAndBiases,
        &mut want,
    )
    .unwrap();
    // The batch pass runs blocked (its sums in another order): within 1e-5
    // of the largest entry, far below the penalty's share of the gradient.
    let (got, want) = (flat(t.gradient()), flat(&want));
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5 * scale, "{g} vs {w}");
    }
}

// ---------------------------------------------------------------- optimisers

#[test]
fn optimizers_follow_their_update_rules() {
    let mut p = Dense::<1, 1>::zeroed();
    p.w = [[1.0]];
    let mut g = Dense::<1, 1>::zeroed();
    g.w = [[0.5]];
    g.b = [-2.0];
    let mut m = Momentum::new(MomentumSettings { lr: 0.1, mu: 0.9 }, &p).unwrap();
    let mut q = p;
    m.step(&mut q, &g).unwrap();
    m.step(&mut q, &g).unwrap();
    // v1 = g, v2 = 0.9g + g = 1.9g; w = 1 − 0.1(0.5 + 0.95)
    assert!((q.w[0][0] - (1.0 - 0.1 * (0.5 + 0.95))).abs() < 1e-7);
    let mut a = Adam::new(
        AdamSettings {
            lr: 0.1,
            beta2: 0.99,
            ..Default::default()
        },
        &p,
    )
    .unwrap();
    let mut r = p;
    let (mut m1, mut v1) = (0.0f64, 0.0f64);
    let mut w = 1.0f64;
    for t in 1..=5 {
        a.step(&mut r, &g).unwrap();
        m1 = 0.9 * m1 + 0.1 * 0.5;
        v1 = 0.99 * v1 + 0.01 * 0.25;
        let (mh, vh) = (m1 / (1.0 - 0.9f64.powi(t)), v1 / (1.0 - 0.99f64.powi(t)));
        w -= 0.1 * mh / (vh.sqrt() + 1e-8);
    }
    assert!(
        (f64::from(r.w[0][0]) - w).abs() < 1e-5,
        "{} vs {w}",
        r.w[0][0]
    );
}

// ---------------------------------------------------------------- memory

#[test]
fn weight_noise_state_is_a_few_rng_states() {
    // Documented in WeightNoise and Trainer: nothing weight-sized.
    assert_eq!(size_of::<WeightNoise>(), 456);
    assert_eq!(size_of::<InputNoise>(), 24);
    assert_eq!(size_of::<LabelNoise>(), 24);
    assert_eq!(size_of::<Xoshiro128PlusPlus>(), 16);
    type Big = noisereg::Mlp2<16, 32, 32, 1, Tanh>;
    // The trainer is the network, the gradient, S scratch networks, the
    // optimiser, one cache and the documented noise state, plus the penalty
    // settings, the seed and the step counter: nothing else weight-sized
    // (a second cache or gradient copy would break the bound).
    let fixed = size_of::<Big>() * 2
        + size_of::<<Big as Model<[f32; 16], [f32; 1]>>::Workspace>()
        + size_of::<Option<WeightNoise>>()
        + size_of::<Option<WeightNoiseConfig>>()
        + 24 * 2
        + 2 * 8 // seed, step
        + 8; // alignment padding
    let sgd = size_of::<Trainer<16, 1, Big, Sgd>>();
    assert!(sgd <= fixed + size_of::<Sgd>(), "{sgd} > {fixed}");
    let adam = size_of::<Trainer<16, 1, Big, Adam<Big>, 1>>();
    let bound = fixed + size_of::<Adam<Big>>() + size_of::<Big>();
    assert!(adam <= bound, "{adam} > {bound}");
    assert!(size_of::<Option<WeightNoise>>() <= 456 + 8);
    // The trainer's only weight-noise state is the WeightNoise itself: eight
    // xoshiro128++ lanes, 32 normals drawn ahead, settings and counters, and
    // local reparameterisation's per-layer stream offsets (40).
    assert!(size_of::<WeightNoise>() <= 8 * size_of::<Xoshiro128PlusPlus>() + 32 * 4 + 160 + 40);
}

#[test]
fn per_batch_multiplicative_noise_leaves_the_penalty_gradient_unscaled() {
    // Trainer with penalty minus trainer without, same noise draws: the
    // difference is the clean mean penalty gradient, not (1 + ε) times it.
    let n = net(17);
    let (xs, ys) = data(8);
    let noise = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.2)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases)
        .with_redraw(Redraw::PerBatch);
    let pen = WeightNoiseConfig::new(NoiseKind::Additive, 0.05)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases);
    type T1 = Trainer<2, 1, Net, Sgd, 1>;
    let mut a: T1 = Trainer::with_scratch(n, Sgd::new(0.1).unwrap(), 4)
        .with_weight_noise(&noise)
        .unwrap()
        .with_penalty(&pen)
        .unwrap();
    let mut b: T1 = Trainer::with_scratch(n, Sgd::new(0.1).unwrap(), 4)
        .with_weight_noise(&noise)
        .unwrap();
    a.step(&HalfSquaredError, &xs, &ys).unwrap();
    b.step(&HalfSquaredError, &xs, &ys).unwrap();
    let mut want = Net::zeroed();
    let mut cache = Net::zeroed().workspace();
    for x in &xs {
        n.penalty_grad(
            x,
            &[0.05, 0.05],
            NoiseOn::WeightsAndBiases,
            &mut cache,
            &mut want,
        )
        .unwrap();
    }
    let want: Vec<f32> = flat(&want).iter().map(|g| g / 8.0).collect();
    let scale = want.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(scale > 1e-4, "penalty gradient too small to test: {scale}");
    for ((ga, gb), w) in flat(a.gradient()).iter().zip(flat(b.gradient())).zip(&want) {
        assert!(
            (ga - gb - w).abs() <= 1e-5 * scale.max(1.0),
            "{} vs {w}",
            ga - gb
        );
    }
}

#[test]
fn input_and_label_noise_draw_n_is_keyed_stream_16n() {
    // One generator for every noise source: draw n of input or label noise is
    // `fill_normal` over `XoshiroLanes::keyed(seed, 16·n)`, bit for bit.
    let x: [f32; 37] = core::array::from_fn(|i| i as f32 * 0.1);
    let mut input = InputNoise::gaussian(0.3, 11).unwrap();
    let mut label = LabelNoise::gaussian(0.3, 11).unwrap();
    for n in 0..3u64 {
        let mut z = [0.0f32; 37];
        noisereg::fill_normal(&mut noisereg::XoshiroLanes::keyed(11, 16 * n), &mut z);
        let want: Vec<u32> = x
            .iter()
            .zip(z)
            .map(|(x, z)| (x + 0.3 * z).to_bits())
            .collect();
        let (mut a, mut b) = ([0.0f32; 37], [0.0f32; 37]);
        input.perturb(&x, &mut a);
        label.perturb(&x, &mut b);
        assert_eq!(a.map(f32::to_bits).to_vec(), want, "input draw {n}");
        assert_eq!(b.map(f32::to_bits).to_vec(), want, "label draw {n}");
    }
    assert_eq!((input.draw_index(), label.draw_index()), (3, 3));
}

/// A clean trainer step takes the batch pass (`BLOCK` samples at a time,
/// partial blocks included): its gradient is `loss_grad_batch`'s, bit for
/// bit, and its loss the same mean.
#[test]
fn clean_step_uses_the_batch_pass() {
    use noisereg::{
        BLOCK, Clean, HalfSquaredError, Init, Mlp2, Network, Parameters, Sgd, Tanh, Trainer,
    };
    type N = Mlp2<16, 32, 32, 1, Tanh>;
    let mut net = N::zeroed();
    net.init(
        Init::Glorot,
        &mut rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(7),
    );
    let n = 2 * BLOCK + 3;
    let xs: Vec<[f32; 16]> = (0..n)
        .map(|s| core::array::from_fn(|i| ((s * 16 + i) as f32 * 0.37).sin()))
        .collect();
    let ys: Vec<[f32; 1]> = (0..n).map(|s| [(s as f32 * 0.11).cos()]).collect();
    let mut want = N::zeroed();
    let loss = net
        .loss_grad_batch(&HalfSquaredError, &xs, &ys, &mut Clean, &mut want)
        .unwrap();
    let mut t: Trainer<16, 1, N, Sgd> = Trainer::new(net, Sgd::new(0.1).unwrap(), 3);
    let got = t.step(&HalfSquaredError, &xs, &ys).unwrap();
    assert!((got - loss).abs() <= 1e-6 * loss.abs(), "{got} vs {loss}");
    for i in 0..want.slice_count() {
        let (a, b) = (want.slice(i), t.gradient().slice(i));
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "slice {i}"
        );
    }
}

// ---------------------------------------------------------------- returned loss, every path

/// The mean loss a step must return, computed independently of the
/// trainer's `accumulate`: each sample through a copy of the trainer's own
/// weight noise (taken before the step), following the documented draw
/// protocol (one draw per sample, or one per batch), in f64.
fn reference_step_loss(
    n: &Net,
    noise: Option<&WeightNoise>,
    xs: &[[f32; 2]],
    ys: &[[f32; 1]],
) -> f64 {
    let mut cache = Net::zeroed().workspace();
    let mut total = 0.0f64;
    let mut noise = noise.cloned();
    if let Some(w) = noise.as_mut().filter(|w| w.per_batch()) {
        w.next_draw();
    }
    for (x, y) in xs.iter().zip(ys) {
        let mut out = [0.0f32];
        match noise.as_mut() {
            Some(w) => {
                if !w.per_batch() {
                    w.next_draw();
                }
                n.forward_with(x, w, &mut cache, &mut out).unwrap();
            }
            None => n.forward_with(x, &mut Clean, &mut cache, &mut out).unwrap(),
        }
        let d = f64::from(out[0]) - f64::from(y[0]);
        total += 0.5 * d * d;
    }
    total / xs.len() as f64
}

/// Three steps of a trainer with scratch count `S`; each returned loss must
/// equal the independent reference (and, with noise, differ from the clean
/// loss, so the noise path is really taken).
fn check_step_losses<const S: usize>(
    what: &str,
    noise: Option<WeightNoiseConfig>,
    penalty: bool,
    batch: usize,
    seed: u64,
) {
    let n = net(seed);
    let mut t: Trainer<2, 1, Net, Sgd, S> = Trainer::with_scratch(n, Sgd::new(0.05).unwrap(), seed);
    if let Some(cfg) = &noise {
        t.set_weight_noise(cfg).unwrap();
    }
    if penalty {
        let pen = WeightNoiseConfig::new(NoiseKind::Additive, 0.03)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases);
        t = t.with_penalty(&pen).unwrap();
    }
    let (xs, ys) = data(3 * batch);
    for s in 0..3 {
        let (x, y) = (&xs[s * batch..][..batch], &ys[s * batch..][..batch]);
        let before = *t.network();
        let want = reference_step_loss(&before, t.weight_noise(), x, y);
        let got = t.step(&HalfSquaredError, x, y).unwrap();
        assert!(
            (f64::from(got) - want).abs() <= 1e-6 + 1e-5 * want.abs(),
            "{what}, step {s}: returned loss {got}, reference {want}"
        );
        if noise.is_some() {
            let clean = reference_step_loss(&before, None, x, y);
            assert!(
                (want - clean).abs() > 1e-6,
                "{what}: the noise does not change the loss ({want} vs {clean})"
            );
        }
    }
}

#[test]
fn step_returns_the_mean_noisy_loss_on_every_path() {
    let cfg = |kind: NoiseKind, redraw: Redraw| {
        Some(
            WeightNoiseConfig::new(kind, 0.05)
                .unwrap()
                .with_noise_on(NoiseOn::WeightsAndBiases)
                .with_redraw(redraw),
        )
    };
    use NoiseKind::{Additive, LocalReparam, Multiplicative};
    use Redraw::{PerBatch, PerSample};
    for penalty in [false, true] {
        let p = if penalty { " + penalty" } else { "" };
        check_step_losses::<0>(&format!("plain{p}"), None, penalty, 4, 40);
        for (kind, name) in [(Additive, "additive"), (LocalReparam, "local reparam")] {
            check_step_losses::<0>(
                &format!("{name} per sample{p}"),
                cfg(kind, PerSample),
                penalty,
                4,
                41,
            );
        }
        check_step_losses::<0>(
            &format!("multiplicative per sample, batch 1{p}"),
            cfg(Multiplicative, PerSample),
            penalty,
            1,
            42,
        );
        check_step_losses::<1>(
            &format!("multiplicative per sample, batch 4{p}"),
            cfg(Multiplicative, PerSample),
            penalty,
            4,
            43,
        );
        for kind in [Additive, Multiplicative] {
            check_step_losses::<0>(
                &format!("{kind:?} per batch, regenerated{p}"),
                cfg(kind, PerBatch),
                penalty,
                4,
                44,
            );
            check_step_losses::<1>(
                &format!("{kind:?} per batch, materialised{p}"),
                cfg(kind, PerBatch),
                penalty,
                4,
                45,
            );
        }
    }
}

// ---------------------------------------------------------------- local reparam, the trainer's path

#[test]
fn trainer_local_reparam_gradient_matches_finite_differences() {
    // The gradient the trainer hands to the optimiser, through its own
    // `WeightNoise`, includes the path through the noise scale √(η‖a‖²).
    let n = net(46);
    let (x, y) = ([0.7f32, -0.4], 0.3f32);
    for on in [NoiseOn::Weights, NoiseOn::WeightsAndBiases] {
        let eta = 0.09f32;
        let cfg = WeightNoiseConfig::new(NoiseKind::LocalReparam, eta)
            .unwrap()
            .with_noise_on(on);
        let mut t = T0::new(n, Sgd::new(0.1).unwrap(), 47)
            .with_weight_noise(&cfg)
            .unwrap();
        let mut noise = t.weight_noise().unwrap().clone();
        t.step(&HalfSquaredError, &[x], &[[y]]).unwrap();
        // The trainer's draw for this sample; recover ξ as in
        // `local_reparam_gradient_matches_finite_differences`.
        noise.next_draw();
        let c = if on == NoiseOn::Weights { 0.0 } else { 1.0 };
        let unit = if c == 0.0 { 1.0 } else { 0.0 };
        let s = f64::from(eta.sqrt());
        let mut xi0 = [0.0f32; 3];
        noise.begin_layer(0);
        noise.pre_activation(0, &[unit, 0.0], &mut xi0);
        let mut xi1 = [0.0f32; 1];
        noise.begin_layer(1);
        noise.pre_activation(1, &[unit, 0.0, 0.0], &mut xi1);
        let xi0: Vec<f64> = xi0.iter().map(|&v| f64::from(v) / s).collect();
        let xi1: Vec<f64> = xi1.iter().map(|&v| f64::from(v) / s).collect();
        let p: Vec<f64> = flat(&n).iter().map(|&v| f64::from(v)).collect();
        let mode = Mode::Local {
            s,
            c,
            xi: [&xi0, &xi1],
        };
        let fd = finite_differences(&p, [0.7, -0.4], 0.3, &mode);
        assert_grad_close(&flat(t.gradient()), &fd);
        // The noise-scale path matters here: without it the gradient differs.
        let mut clean_scale = Net::zeroed();
        let mut cache = Net::zeroed().workspace();
        let mut out = [0.0];
        let mut same_draw = noise.clone();
        n.forward_with(&x, &mut same_draw, &mut cache, &mut out)
            .unwrap();
        n.backward_with(&mut cache, &[out[0] - y], &mut Clean, &mut clean_scale)
            .unwrap();
        let differs = flat(&clean_scale)
            .iter()
            .zip(&fd)
            .any(|(&g, &w)| (f64::from(g) - w).abs() > 1e-3);
        assert!(differs, "the noise-scale term is too small to test");
    }
}

// ---- Estimators (issue 11) ----

#[test]
fn estimators_that_cannot_run_are_rejected_when_the_noise_is_set() {
    use noisereg::Estimator;
    let add = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let mul = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    let sgd = Sgd::new(0.1).unwrap();
    let flip = add.with_estimator(Estimator::Flipout);
    // Flipout keeps ΔŴ in a scratch network: none here.
    let t0: Trainer<2, 1, Net, Sgd> = Trainer::new(net(1), sgd, 7);
    let e = t0.clone().with_weight_noise(&flip).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "scratch",
                ..
            }
        ),
        "{e:?}"
    );
    // Multiplicative Flipout also needs the second one.
    let t1: Trainer<2, 1, Net, Sgd, 1> = Trainer::with_scratch(net(1), sgd, 7);
    assert!(t1.clone().with_weight_noise(&flip).is_ok());
    let mflip = mul.with_estimator(Estimator::Flipout);
    let e = t1.clone().with_weight_noise(&mflip).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "scratch",
                ..
            }
        ),
        "{e:?}"
    );
    let t2: Trainer<2, 1, Net, Sgd, 2> = Trainer::with_scratch(net(1), sgd, 7);
    assert!(t2.clone().with_weight_noise(&mflip).is_ok());
    // Local reparameterisation is additive only.
    let e = t2
        .clone()
        .with_weight_noise(&mul.with_estimator(Estimator::LocalReparam))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "estimator",
                ..
            }
        ),
        "{e:?}"
    );
    // The kind LocalReparam with Flipout or per-batch draws is a contradiction.
    let lr = WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.01).unwrap();
    assert!(
        t2.clone()
            .with_weight_noise(&lr.with_estimator(Estimator::Flipout))
            .is_err()
    );
    assert!(
        t2.clone()
            .with_weight_noise(&lr.with_redraw(Redraw::PerBatch))
            .is_err()
    );
    // Additive noise with the LocalReparam estimator is local reparameterisation.
    let t = t0
        .with_weight_noise(&add.with_estimator(Estimator::LocalReparam))
        .unwrap();
    assert_eq!(
        t.weight_noise().unwrap().estimator(),
        Estimator::LocalReparam
    );
    assert!(!t.weight_noise().unwrap().perturbs_weights());
}

/// The same steps with and without the scratch network that keeps a sample's
/// draw: independent noise (one draw per weight instead of two) and local
/// reparameterisation (normals read once) give the same bits.
#[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
#[test]
fn one_draw_per_sample_with_scratch_is_bit_identical_to_regenerating() {
    let (xs, ys) = data(12);
    for cfg in [
        WeightNoiseConfig::new(NoiseKind::Additive, 0.02).unwrap(),
        WeightNoiseConfig::new(NoiseKind::Additive, 0.02)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases),
        WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.02).unwrap(),
        WeightNoiseConfig::new(NoiseKind::LocalReparam, 0.02)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases)
            .with_layer_eta(&[0.0, 0.03])
            .unwrap(),
    ] {
        let sgd = Sgd::new(0.05).unwrap();
        let mut a: Trainer<2, 1, Net, Sgd> = Trainer::new(net(3), sgd, 9);
        let mut b: Trainer<2, 1, Net, Sgd, 1> = Trainer::with_scratch(net(3), sgd, 9);
        a.set_weight_noise(&cfg).unwrap();
        b.set_weight_noise(&cfg).unwrap();
        for s in 0..5 {
            let (x, y) = (&xs[s..s + 4], &ys[s..s + 4]);
            let (la, lb) = (
                a.step(&HalfSquaredError, x, y).unwrap(),
                b.step(&HalfSquaredError, x, y).unwrap(),
            );
            assert_eq!(la.to_bits(), lb.to_bits(), "{cfg:?} step {s}");
        }
        let (fa, fb) = (flat(a.network()), flat(b.network()));
        assert_eq!(fa, fb, "{cfg:?}");
    }
}

/// Gradient variance over noise draws at a fixed θ and batch (diabetes,
/// 10→16→1): sharing one draw (per batch) is much noisier than independent
/// draws for a large batch; Flipout lies between, close to independent.
#[test]
fn gradient_variances_of_the_estimators_are_ordered() {
    use noisereg::{Estimator, Init};
    use noisereg_harness::estimators::{Net as DNet, config, diabetes, gradient_variance};
    let (xs, ys) = diabetes().unwrap();
    let mut theta = DNet::zeroed();
    theta.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(3));
    let (xs, ys) = (&xs[..128], &ys[..128]);
    for kind in [NoiseKind::Additive, NoiseKind::Multiplicative] {
        let var = |e| {
            let cfg = config(e, kind, 0.02).unwrap();
            gradient_variance(&theta, &cfg, xs, ys, 300, 5).unwrap()
        };
        let (ind, batch, flip) = (
            var(Estimator::Independent),
            var(Estimator::PerBatch),
            var(Estimator::Flipout),
        );
        assert!(ind > 0.0 && ind.is_finite());
        assert!(
            batch > 5.0 * ind,
            "{kind:?}: per-batch {batch} vs independent {ind}"
        );
        assert!(
            flip < 2.0 * ind,
            "{kind:?}: Flipout {flip} vs independent {ind}"
        );
        assert!(
            flip < batch / 3.0,
            "{kind:?}: Flipout {flip} vs per-batch {batch}"
        );
        if kind == NoiseKind::Additive {
            let local = var(Estimator::LocalReparam);
            assert!(local < 2.0 * ind, "local {local} vs independent {ind}");
        }
    }
}

/// `train --estimator` through the binary: recorded in the model file,
/// contradictions are usage errors; `estimators --quick` writes its table.
#[test]
#[cfg_attr(
    target_arch = "aarch64",
    ignore = "runs the binary; CI runs only the library tests under qemu-user"
)]
fn cli_estimator_flag_and_comparison() {
    let bin = env!("CARGO_BIN_EXE_noisereg");
    let dir = tempfile::tempdir().unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/diabetes.csv");
    let train = |extra: &[&str], out: &str| {
        std::process::Command::new(bin)
            .args([
                "train", "--data", data, "--target", "target", "--epochs", "2",
            ])
            .args(["--weight-noise", "0.01", "--out"])
            .arg(dir.path().join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    for (extra, kind, est) in [
        (&["--estimator", "flipout"][..], "additive", Some("flipout")),
        (
            &["--estimator", "flipout", "--multiplicative"],
            "multiplicative",
            Some("flipout"),
        ),
        (&["--estimator", "per-batch"], "additive", Some("per-batch")),
        (&["--estimator", "local-reparam"], "local-reparam", None),
        (&[], "additive", None),
    ] {
        let o = train(extra, "m.json");
        assert!(
            o.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join("m.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["settings"]["noise_kind"], kind, "{extra:?}");
        assert_eq!(v["settings"]["estimator"].as_str(), est, "{extra:?}");
    }
    for bad in [
        &["--estimator", "local-reparam", "--multiplicative"][..],
        &["--estimator", "flipout", "--local-reparam"],
    ] {
        let o = train(bad, "x.json");
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    // A Flipout or per-batch run resumes from its checkpoint (one weight
    // draw per step) to the same model.
    for est in ["flipout", "per-batch"] {
        let ck = dir.path().join("ck.json");
        let _ = std::fs::remove_file(&ck);
        let o = std::process::Command::new(bin)
            .args([
                "train",
                "--data",
                data,
                "--target",
                "target",
                "--weight-noise",
                "0.01",
            ])
            .args(["--estimator", est, "--epochs", "3", "--checkpoint"])
            .arg(&ck)
            .args(["--checkpoint-every", "5", "--out"])
            .arg(dir.path().join("full.json"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = std::process::Command::new(bin)
            .args([
                "train",
                "--data",
                data,
                "--target",
                "target",
                "--weight-noise",
                "0.01",
            ])
            .args(["--estimator", est, "--epochs", "3", "--resume"])
            .arg(&ck)
            .arg("--out")
            .arg(dir.path().join("resumed.json"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{est}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        assert_eq!(read("full.json"), read("resumed.json"), "{est}");
    }
    let csv = dir.path().join("t.csv");
    let o = std::process::Command::new(bin)
        .args(["estimators", "--quick", "--out"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(&csv).unwrap();
    let names: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(
        names,
        ["independent", "per-batch", "flipout", "local-reparam"]
    );
}

/// Every estimator's batch gradient has the independent one's expectation:
/// `‖ḡ_e − ḡ_ind‖²` is within its sampling spread `(v_e + v_ind)/R`.
#[test]
fn estimators_are_unbiased_against_the_independent_reference() {
    use noisereg::{Estimator, Init};
    use noisereg_harness::estimators::{Net as DNet, config, diabetes, gradient_moments};
    let (xs, ys) = diabetes().unwrap();
    let mut theta = DNet::zeroed();
    theta.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(8));
    let (xs, ys) = (&xs[..16], &ys[..16]);
    let draws = 3000;
    for kind in [NoiseKind::Additive, NoiseKind::Multiplicative] {
        let moments = |e| {
            let cfg = config(e, kind, 0.1).unwrap();
            gradient_moments(&theta, &cfg, xs, ys, draws, 13).unwrap()
        };
        let (m0, v0) = moments(Estimator::Independent);
        let mut others = vec![Estimator::PerBatch, Estimator::Flipout];
        if kind == NoiseKind::Additive {
            others.push(Estimator::LocalReparam);
        }
        for e in others {
            let (m, v) = moments(e);
            let d2: f64 = m.iter().zip(&m0).map(|(a, b)| (a - b) * (a - b)).sum();
            let spread = (v + v0) / draws as f64;
            assert!(d2 < 3.0 * spread, "{kind:?} {e:?}: {d2} vs {spread}");
        }
    }
}
