//! Property tests of the core's public API on arbitrary input: finite,
//! huge, subnormal, ±inf and NaN values in weights, inputs, targets and η,
//! and mismatched lengths. Nothing panics (the README's promise: "No function
//! in the core panics on any input"), NaN in an input reaches the output,
//! length mismatches are errors, the element-wise kernels compute exactly
//! their formula, and a training step that fails changes nothing.

use noisereg::{
    Adam, Clean, Error, HalfSquaredError, Mlp1, Mlp2, Momentum, Network, NoiseKind, NoiseOn,
    Optimizer, Parameters, Redraw, Sgd, Sigmoid, SoftmaxCrossEntropy, Tanh, Trainer, WeightNoise,
    WeightNoiseConfig, axpy, dot, scale, sq_norm,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Values chosen to break arithmetic: specials, extremes, subnormals, and
/// ordinary numbers (mostly, so that some computations stay finite).
fn wild() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -3.0f32..3.0,
        1 => prop::sample::select(vec![
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
            1e30,
            -1e20,
            f32::MIN_POSITIVE,
            1e-40,
            -1e-45,
            0.0,
            -0.0,
        ]),
        1 => any::<f32>(),
    ]
}

fn wild_vec(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(wild(), len)
}

/// A runner with a fixed seed: the same cases on every run.
fn runner(seed: u8, cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

fn set_params<P: Parameters>(p: &mut P, values: &[f32]) {
    let mut k = 0;
    for i in 0..p.slice_count() {
        for e in p.slice_mut(i) {
            *e = values.get(k).copied().unwrap_or(0.5);
            k += 1;
        }
    }
}

fn param_bits<P: Parameters>(p: &P) -> Vec<u32> {
    (0..p.slice_count())
        .flat_map(|i| p.slice(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

fn array<const N: usize>(v: &[f32]) -> [f32; N] {
    core::array::from_fn(|i| v.get(i).copied().unwrap_or(0.25))
}

/// Every pass of `N` on one case. Returns an error message instead of
/// asserting so that proptest can shrink.
fn exercise<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    params: &[f32],
    xs: &[f32],
    ys: &[f32],
    eta: &[f32],
    batch: usize,
    label: usize,
    on: NoiseOn,
) -> Result<(), TestCaseError> {
    let mut net = N::zeroed();
    set_params(&mut net, params);
    let x: [f32; IN] = array(xs);
    let y: [f32; OUT] = array(ys);
    let mut cache = net.workspace();
    let mut out = [0.0f32; OUT];
    net.forward(&x, &mut out).unwrap();
    if x.iter().any(|v| v.is_nan()) {
        prop_assert!(
            out.iter().all(|v| v.is_nan()),
            "NaN input {x:?} gave {out:?}"
        );
    }
    let mut out2 = [0.0f32; OUT];
    net.forward_with(&x, &mut Clean, &mut cache, &mut out2)
        .unwrap();
    // Same bits, except that any NaN equals any NaN (sign and payload are
    // not specified).
    let same = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    };
    prop_assert!(
        same(&out, &out2),
        "forward {:?} and forward_with(Clean) {:?} differ",
        out,
        out2
    );
    let mut grad = N::zeroed();
    net.backward_with(&mut cache, &y, &mut Clean, &mut grad)
        .unwrap();

    // Batches: `batch` copies of x (possibly 0: an error), targets maybe one short.
    let bx: Vec<[f32; IN]> = vec![x; batch];
    let by: Vec<[f32; OUT]> = vec![y; batch];
    let r = net.loss_grad_batch(&HalfSquaredError, &bx, &by, &mut Clean, &mut grad);
    prop_assert_eq!(r.is_err(), batch == 0, "batch {}: {:?}", batch, r);
    if batch > 0 {
        let r = net.loss_grad_batch(
            &HalfSquaredError,
            &bx,
            &by[..batch - 1],
            &mut Clean,
            &mut grad,
        );
        prop_assert!(matches!(r, Err(Error::LengthMismatch { .. })), "{:?}", r);
    }
    let labels = vec![label; batch];
    let r = net.loss_grad_batch(&SoftmaxCrossEntropy, &bx, &labels, &mut Clean, &mut grad);
    if label >= OUT {
        prop_assert!(r.is_err(), "label {} of {} accepted", label, OUT);
    }

    // η of the right length (N's depth is 2 or 3) or not.
    let depth_ok = N::DEPTH == eta.len();
    let r = net.penalty(&x, eta, on, &mut cache);
    prop_assert_eq!(r.is_ok(), depth_ok, "penalty: {:?}", r);
    let r = net.penalty_grad(&x, eta, on, &mut cache, &mut grad);
    prop_assert_eq!(r.is_ok(), depth_ok, "penalty_grad: {:?}", r);
    let r = net.loss_penalty_grad_batch(&HalfSquaredError, &bx, &by, eta, on, &mut grad);
    prop_assert_eq!(
        r.is_ok(),
        depth_ok && batch > 0,
        "loss_penalty_grad_batch: {:?}",
        r
    );
    let mut traces = [0.0f32; OUT];
    let r = net.hessian_trace(&x, eta, on, &mut cache, &mut traces);
    prop_assert_eq!(r.is_ok(), depth_ok, "hessian_trace: {:?}", r);

    // Through weight noise of every kind (η finite and ≥ 0 only: others are
    // rejected when the config is built).
    let e = eta.first().copied().unwrap_or(0.0);
    for kind in [
        NoiseKind::Additive,
        NoiseKind::Multiplicative,
        NoiseKind::LocalReparam,
    ] {
        match WeightNoiseConfig::new(kind, e) {
            Ok(cfg) => {
                let mut noise = WeightNoise::new(&cfg.with_noise_on(on), 3);
                noise.next_draw();
                net.forward_with(&x, &mut noise, &mut cache, &mut out)
                    .unwrap();
                net.backward_with(&mut cache, &y, &mut noise, &mut grad)
                    .unwrap();
                noise.scale_gradient(&mut grad);
            }
            Err(_) => prop_assert!(!(e.is_finite() && e >= 0.0), "η {} rejected", e),
        }
    }
    Ok(())
}

#[test]
fn network_passes_never_panic_on_wild_input() {
    let strategy = (
        wild_vec(0..40),
        wild_vec(0..4),
        wild_vec(0..3),
        wild_vec(0..4),
        0usize..3,
        0usize..4,
        any::<bool>(),
    );
    runner(1, 256)
        .run(&strategy, |(p, x, y, eta, batch, label, both)| {
            let on = if both {
                NoiseOn::WeightsAndBiases
            } else {
                NoiseOn::Weights
            };
            exercise::<2, 2, Mlp1<2, 3, 2, Tanh>>(&p, &x, &y, &eta, batch, label, on)?;
            exercise::<3, 1, Mlp2<3, 4, 3, 1, Sigmoid>>(&p, &x, &y, &eta, batch, label, on)
        })
        .unwrap();
}

#[test]
fn kernels_compute_their_formula_on_wild_input() {
    let strategy = (wild_vec(0..70), wild_vec(0..70), wild());
    runner(2, 512)
        .run(&strategy, |(x, y, a)| {
            // Reductions: any NaN makes the result NaN; lengths must match.
            let s = sq_norm(&x);
            if x.iter().any(|v| v.is_nan()) {
                prop_assert!(s.is_nan(), "sq_norm {:?} = {}", x, s);
            } else {
                prop_assert!(s >= 0.0 || s.is_nan(), "sq_norm {:?} = {}", x, s);
            }
            match dot(&x, &y) {
                Ok(d) => {
                    prop_assert_eq!(x.len(), y.len());
                    if x.iter().chain(&y).any(|v| v.is_nan()) {
                        prop_assert!(d.is_nan(), "dot = {}", d);
                    }
                }
                Err(e) => prop_assert_eq!(
                    e,
                    Error::LengthMismatch {
                        left: x.len(),
                        right: y.len()
                    }
                ),
            }
            // Element-wise kernels: exactly `a·x + y` and `a·x`, unfused.
            let same = |got: f32, want: f32| {
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
            };
            let mut z = y.clone();
            match axpy(a, &x, &mut z) {
                Ok(()) => {
                    prop_assert_eq!(x.len(), y.len());
                    for i in 0..x.len() {
                        prop_assert!(
                            same(z[i], a * x[i] + y[i]),
                            "axpy[{}]: {} vs {}",
                            i,
                            z[i],
                            a * x[i] + y[i]
                        );
                    }
                }
                Err(_) => {
                    prop_assert_ne!(x.len(), y.len());
                    prop_assert_eq!(param_bits_of(&z), param_bits_of(&y), "axpy wrote on error");
                }
            }
            let mut w = x.clone();
            scale(a, &mut w);
            for i in 0..x.len() {
                prop_assert!(
                    same(w[i], a * x[i]),
                    "scale[{}]: {} vs {}",
                    i,
                    w[i],
                    a * x[i]
                );
            }
            Ok(())
        })
        .unwrap();
}

fn param_bits_of(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

type Net = Mlp1<2, 3, 1, Tanh>;

/// The trainer's whole observable state, as bits.
fn state<O: Optimizer<Net> + std::fmt::Debug, const S: usize>(
    t: &Trainer<2, 1, Net, O, S>,
) -> (Vec<u32>, String, u64, noisereg::NoisePositions) {
    (
        param_bits(t.network()),
        format!("{:?}", t.optimizer()),
        t.steps(),
        t.noise_positions(),
    )
}

/// Steps `t` on every batch; a failed step must leave the state unchanged,
/// a successful one must leave finite weights and count one step.
fn check_steps<O: Optimizer<Net> + std::fmt::Debug, const S: usize>(
    t: &mut Trainer<2, 1, Net, O, S>,
    xs: &[[f32; 2]],
    ys: &[[f32; 1]],
) -> Result<(), TestCaseError> {
    for chunk in [0..xs.len(), 0..0, 0..xs.len().min(1)] {
        let before = state(t);
        let (bx, by) = (&xs[chunk.clone()], &ys[chunk]);
        match t.step(&HalfSquaredError, bx, by) {
            Ok(_) => {
                prop_assert_eq!(t.steps(), before.2 + 1);
                prop_assert!(
                    (0..t.network().slice_count()).all(|i| t
                        .network()
                        .slice(i)
                        .iter()
                        .all(|v| v.is_finite())),
                    "a successful step left non-finite weights"
                );
            }
            Err(_) => prop_assert_eq!(state(t), before, "a failed step changed the trainer"),
        }
    }
    Ok(())
}

#[test]
fn failed_training_steps_change_nothing_and_none_panics() {
    let strategy = (
        wild_vec(13..14),
        prop::collection::vec((wild(), wild(), wild()), 1..5),
        0.0f32..0.5,
        0.0f32..2.0,
    );
    runner(3, 128)
        .run(&strategy, |(p, samples, eta, lr)| {
            let mut net = Net::zeroed();
            set_params(&mut net, &p);
            let xs: Vec<[f32; 2]> = samples.iter().map(|s| [s.0, s.1]).collect();
            let ys: Vec<[f32; 1]> = samples.iter().map(|s| [s.2]).collect();
            let lr = lr.max(1e-6);
            // Plain SGD.
            let mut t: Trainer<2, 1, Net, Sgd> = Trainer::new(net, Sgd::new(lr).unwrap(), 5);
            check_steps(&mut t, &xs, &ys)?;
            // Weight noise of every kind and redraw policy, Adam, scratch 1.
            for kind in [
                NoiseKind::Additive,
                NoiseKind::Multiplicative,
                NoiseKind::LocalReparam,
            ] {
                for redraw in [Redraw::PerSample, Redraw::PerBatch] {
                    let cfg = WeightNoiseConfig::new(kind, eta)
                        .unwrap()
                        .with_noise_on(NoiseOn::WeightsAndBiases)
                        .with_redraw(redraw);
                    let t: Trainer<2, 1, Net, Adam<Net>, 1> =
                        Trainer::with_scratch(net, Adam::with_defaults(lr, &net).unwrap(), 6);
                    match t.with_weight_noise(&cfg) {
                        Ok(mut t) => check_steps(&mut t, &xs, &ys)?,
                        Err(_) => prop_assert!(
                            kind == NoiseKind::LocalReparam && redraw == Redraw::PerBatch
                        ),
                    }
                }
            }
            // Explicit penalty with momentum, plus input and label noise.
            let cfg = WeightNoiseConfig::new(NoiseKind::Additive, eta).unwrap();
            let mut t: Trainer<2, 1, Net, Momentum<Net>> = Trainer::new(
                net,
                Momentum::new(noisereg::MomentumSettings { lr, mu: 0.9 }, &net).unwrap(),
                7,
            )
            .with_penalty(&cfg)
            .unwrap()
            .with_input_noise(0.1)
            .unwrap()
            .with_label_noise(0.1)
            .unwrap();
            check_steps(&mut t, &xs, &ys)
        })
        .unwrap();
}
