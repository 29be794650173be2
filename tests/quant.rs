//! Deployment perturbations of the core (`noisereg::quant`, docs/theory.md §9):
//! quantiser error distributions, the predicted loss increase under dithered
//! and stochastic quantisation against Monte Carlo, fault rates, the PCM drift
//! model's moments, and the int8 kernel against the dequantised network.
//! Monte Carlo acceptance: `|MC − exact| ≤ 4·SE`, a fixed seed per test.

use noisereg::Model;
use noisereg::{
    ActivationKind, BoxMuller, Clean, Dense, Granularity, HalfSquaredError, Init, Int8Network,
    Mlp1, Network, NoiseKind, NoiseOn, Parameters, PcmDrift, QuantConfig, Rounding, Tanh, ToInt8,
    WeightNoiseConfig, clean_loss, dither_variance, flip_bits_f32, flip_bits_i8,
    flip_bits_int8_weights, noisy_cost_expansion, predicted_increase, prediction_scratch_len,
    quantization_steps, quantize_weights, stochastic_rounding_variance, stuck_at_zero,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

type Net = Mlp1<4, 8, 1, Tanh>;

/// Mean and standard error of `f(i)` over `n` draws.
fn mc(n: u64, mut f: impl FnMut(u64) -> f64) -> (f64, f64) {
    let (mut s, mut s2) = (0.0, 0.0);
    for i in 0..n {
        let v = f(i);
        s += v;
        s2 += v * v;
    }
    let m = s / n as f64;
    let var = (s2 - n as f64 * m * m) / (n as f64 - 1.0);
    (m, (var.max(0.0) / n as f64).sqrt())
}

#[track_caller]
fn assert_within_4se(what: &str, (m, se): (f64, f64), exact: f64) {
    assert!(
        (m - exact).abs() <= 4.0 * se,
        "{what}: MC {m} ± {se} vs exact {exact} ({:.2} SE)",
        (m - exact) / se
    );
}

fn rng(seed: u64) -> Xoshiro128PlusPlus {
    Xoshiro128PlusPlus::seed_from_u64(seed)
}

/// A Glorot-initialised 4→8→1 tanh network with weights scaled by `gain`,
/// and 64 rows of data `y = sin(x₀) + x₁x₂/2`.
fn setup(gain: f32) -> (Net, Vec<[f32; 4]>, Vec<[f32; 1]>) {
    let mut net = Net::zeroed();
    net.init(Init::Glorot, &mut rng(1));
    for i in 0..net.slice_count() {
        for v in net.slice_mut(i) {
            *v *= gain;
        }
    }
    net.1.b = [0.3];
    let mut normal = BoxMuller::standard();
    let mut r = rng(2);
    let xs: Vec<[f32; 4]> = (0..64)
        .map(|_| core::array::from_fn(|_| normal.sample(&mut r)))
        .collect();
    let ys = xs
        .iter()
        .map(|x| [x[0].sin() + 0.5 * x[1] * x[2]])
        .collect();
    (net, xs, ys)
}

fn flat(rows: &[[f32; 4]]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

fn acts() -> [ActivationKind; 2] {
    [ActivationKind::Tanh, ActivationKind::Identity]
}

fn predict(net: &Net, var: &Net, xs: &[[f32; 4]], ys: &[[f32; 1]]) -> noisereg::PredictedIncrease {
    let mut scratch = vec![0.0; prediction_scratch_len(net)];
    let yf: Vec<f32> = ys.iter().flatten().copied().collect();
    predicted_increase(net, var, &acts(), &flat(xs), &yf, &mut scratch).unwrap()
}

#[test]
fn dither_error_is_uniform_with_variance_step_squared_over_12() {
    let cfg = QuantConfig::new(4, Rounding::SubtractiveDither, Granularity::PerRow).unwrap();
    let w: Vec<f32> = (0..256)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let step = cfg.step(1.0);
    let mut r = rng(3);
    let mut errs = Vec::new();
    for _ in 0..400 {
        let mut layer = Dense::<256, 1>::zeroed();
        layer.w[0].copy_from_slice(&w);
        quantize_weights(&mut layer, &cfg, &mut r).unwrap();
        for (q, x) in layer.w[0].iter().zip(&w) {
            let e = f64::from((q - x) / step);
            assert!((-0.5 - 1e-5..0.5 + 1e-5).contains(&e), "error {e} Δ");
            errs.push(e);
        }
    }
    let n = errs.len() as u64;
    assert_within_4se("mean error / Δ", mc(n, |i| errs[i as usize]), 0.0);
    assert_within_4se("E e² / Δ²", mc(n, |i| errs[i as usize].powi(2)), 1.0 / 12.0);
    assert_within_4se("E e⁴ / Δ⁴", mc(n, |i| errs[i as usize].powi(4)), 1.0 / 80.0);
}

#[test]
fn stochastic_rounding_is_unbiased_with_variance_step_squared_p_one_minus_p() {
    let cfg = QuantConfig::new(3, Rounding::Stochastic, Granularity::PerRow).unwrap();
    // Δ = 1.5 / 3 = 0.5; 0.2 sits at fractional position 0.4.
    let mut r = rng(4);
    let mut qs = Vec::new();
    for _ in 0..20_000 {
        let mut layer = Dense::<2, 1>::zeroed();
        layer.w = [[1.5, 0.2]];
        quantize_weights(&mut layer, &cfg, &mut r).unwrap();
        assert!(layer.w[0][1] == 0.0 || layer.w[0][1] == 0.5);
        assert_eq!(layer.w[0][0], 1.5);
        qs.push(f64::from(layer.w[0][1]));
    }
    let n = qs.len() as u64;
    assert_within_4se("E q", mc(n, |i| qs[i as usize]), 0.2);
    let want = 0.25 * 0.4 * 0.6;
    assert_within_4se("Var q", mc(n, |i| (qs[i as usize] - 0.2).powi(2)), want);
    let mut var = Dense::<2, 1>::zeroed();
    let mut layer = Dense::<2, 1>::zeroed();
    layer.w = [[1.5, 0.2]];
    stochastic_rounding_variance(&layer, &cfg, &mut var).unwrap();
    assert!((f64::from(var.w[0][1]) - want).abs() < 1e-7);
}

#[test]
fn nearest_rounding_stays_on_the_grid_within_half_a_step() {
    let (net, _, _) = setup(1.0);
    for bits in 2..=8 {
        for g in [Granularity::PerRow, Granularity::PerLayer] {
            let cfg = QuantConfig::new(bits, Rounding::Nearest, g).unwrap();
            let mut q = net;
            quantize_weights(&mut q, &cfg, &mut rng(0)).unwrap();
            let mut steps = net;
            quantization_steps(&net, &cfg, &mut steps).unwrap();
            for l in 0..2 {
                for ((w, qw), s) in net
                    .slice(2 * l)
                    .iter()
                    .zip(q.slice(2 * l))
                    .zip(steps.slice(2 * l))
                {
                    assert!((qw - w).abs() <= 0.5 * s * (1.0 + 1e-5), "{bits} bits");
                    let level = qw / s;
                    assert!((level - level.round()).abs() < 1e-4);
                    assert!(level.abs() <= cfg.max_level() as f32 + 1e-4);
                }
                assert_eq!(net.slice(2 * l + 1), q.slice(2 * l + 1), "biases untouched");
            }
            let mut again = q;
            quantize_weights(&mut again, &cfg, &mut rng(0)).unwrap();
            assert_eq!(again, q, "idempotent");
        }
    }
}

#[test]
fn per_row_prediction_with_equal_variances_is_the_per_layer_expansion() {
    let (net, xs, ys) = setup(1.0);
    let mut var = net;
    for l in 0..2 {
        var.slice_mut(2 * l).fill(if l == 0 { 0.01 } else { 0.003 });
        var.slice_mut(2 * l + 1).fill(0.0);
    }
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01)
        .unwrap()
        .with_layer_eta(&[0.01, 0.003])
        .unwrap();
    let e = noisy_cost_expansion(&net, &xs, &ys, &cfg).unwrap();
    let p = predict(&net, &var, &xs, &ys);
    let (seed, exact) = (e.seed_formula - e.clean, e.exact_formula - e.clean);
    assert!((p.seed - seed).abs() <= 1e-5 * seed.abs(), "{p:?} vs {e:?}");
    assert!(
        (p.exact - exact).abs() <= 1e-5 * exact.abs(),
        "{p:?} vs {e:?}"
    );
}

/// The loss increase under one dithered quantisation minus its first-order
/// term `∇J·e` (zero mean, a control variate), Monte Carlo over draws.
fn mc_quantised_increase(
    cfg: &QuantConfig,
    draws: u64,
    gain: f32,
) -> (
    (f64, f64),
    noisereg::PredictedIncrease,
    noisereg::PredictedIncrease,
) {
    let (net, xs, ys) = setup(gain);
    let clean = clean_loss(&net, &HalfSquaredError, &xs, &ys).unwrap();
    let mut grad = Net::zeroed();
    net.loss_grad_batch(&HalfSquaredError, &xs, &ys, &mut Clean, &mut grad)
        .unwrap();
    let mut r = rng(7);
    let stats = mc(draws, |_| {
        let mut q = net;
        quantize_weights(&mut q, cfg, &mut r).unwrap();
        let mut linear = 0.0f64;
        for i in 0..q.slice_count() {
            for ((a, b), g) in q.slice(i).iter().zip(net.slice(i)).zip(grad.slice(i)) {
                linear += f64::from(a - b) * f64::from(*g);
            }
        }
        clean_loss(&q, &HalfSquaredError, &xs, &ys).unwrap() - clean - linear
    });
    let mut dither = net;
    dither_variance(&net, cfg, &mut dither).unwrap();
    let mut stoch = net;
    stochastic_rounding_variance(&net, cfg, &mut stoch).unwrap();
    (
        stats,
        predict(&net, &dither, &xs, &ys),
        predict(&net, &stoch, &xs, &ys),
    )
}

#[test]
fn dithered_quantisation_increase_matches_the_exact_prediction() {
    for (bits, g) in [(6, Granularity::PerRow), (5, Granularity::PerLayer)] {
        let cfg = QuantConfig::new(bits, Rounding::SubtractiveDither, g).unwrap();
        let (stats, p, _) = mc_quantised_increase(&cfg, 4000, 2.0);
        assert_within_4se(&format!("{bits} bits {g:?}, exact"), stats, p.exact);
        // The test can tell the formulas apart: the seed's is off by > 4 SE.
        assert!((stats.0 - p.seed).abs() > 4.0 * stats.1, "{stats:?} {p:?}");
    }
}

#[test]
fn stochastic_rounding_increase_matches_its_prediction() {
    let cfg = QuantConfig::new(6, Rounding::Stochastic, Granularity::PerRow).unwrap();
    let (stats, _, p) = mc_quantised_increase(&cfg, 4000, 2.0);
    assert_within_4se("stochastic rounding, exact", stats, p.exact);
}

#[test]
fn same_seed_same_bits_for_every_perturbation() {
    let (net, _, _) = setup(1.0);
    let run = |seed: u64| {
        let mut r = rng(seed);
        let mut a = net;
        let cfg = QuantConfig::new(4, Rounding::SubtractiveDither, Granularity::PerRow).unwrap();
        quantize_weights(&mut a, &cfg, &mut r).unwrap();
        flip_bits_f32(&mut a, 0.01, NoiseOn::WeightsAndBiases, &mut r).unwrap();
        flip_bits_int8_weights(&mut a, Granularity::PerRow, 0.01, &mut r).unwrap();
        stuck_at_zero(&mut a, 0.05, NoiseOn::Weights, &mut r).unwrap();
        PcmDrift::new(86400.0, true)
            .unwrap()
            .apply(&mut a, &mut r)
            .unwrap();
        (0..a.slice_count())
            .flat_map(|i| a.slice(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect::<Vec<u32>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn bit_flip_counts_are_binomial_and_hit_every_bit_position() {
    for rate in [1e-3f32, 0.05] {
        let mut r = rng(8);
        let mut per_bit = [0u64; 32];
        let trials = 200u64;
        let counts: Vec<f64> = (0..trials)
            .map(|_| {
                let mut layer = Dense::<100, 50>::zeroed();
                let n = flip_bits_f32(&mut layer, rate, NoiseOn::WeightsAndBiases, &mut r).unwrap();
                for v in layer.w.as_flattened().iter().chain(&layer.b) {
                    for (k, c) in per_bit.iter_mut().enumerate() {
                        *c += u64::from(v.to_bits() >> k & 1);
                    }
                }
                n as f64
            })
            .collect();
        let bits = (5050 * 32) as f64;
        let p = f64::from(rate);
        assert_within_4se(
            "flips per network",
            mc(trials, |i| counts[i as usize]),
            bits * p,
        );
        let (m, _) = mc(trials, |i| counts[i as usize]);
        let var = mc(trials, |i| (counts[i as usize] - m).powi(2));
        assert_within_4se("variance of flips", var, bits * p * (1.0 - p));
        let per_pos = bits / 32.0 * trials as f64 * p;
        for (k, c) in per_bit.iter().enumerate() {
            assert!(
                (*c as f64 - per_pos).abs() <= 4.0 * per_pos.sqrt(),
                "bit {k}: {c} vs {per_pos}"
            );
        }
    }
}

#[test]
fn int8_flips_and_stuck_cells_have_their_rates() {
    let mut r = rng(9);
    let p = 0.01f32;
    let mut codes = vec![0i8; 100_000];
    let n = flip_bits_i8(&mut codes, p, &mut r).unwrap();
    let expect = 800_000.0 * f64::from(p);
    assert!((n as f64 - expect).abs() <= 4.0 * expect.sqrt(), "{n}");
    let ones: u32 = codes.iter().map(|c| (*c as u8).count_ones()).sum();
    assert_eq!(u64::from(ones), n);
    let mut layer = Dense::<100, 100>::zeroed();
    layer.w = [[1.0; 100]; 100];
    let hits = stuck_at_zero(&mut layer, 0.1, NoiseOn::Weights, &mut r).unwrap();
    let zeros = layer.w.as_flattened().iter().filter(|w| **w == 0.0).count() as u64;
    assert_eq!(zeros, hits);
    assert!(
        (hits as f64 - 1000.0).abs() <= 4.0 * (900.0f64).sqrt(),
        "{hits}"
    );
    // An int8 flip of bit k moves a weight by ±2^k Δ.
    let mut one = Dense::<1, 1>::zeroed();
    one.w = [[1.0]];
    assert_eq!(
        flip_bits_int8_weights(&mut one, Granularity::PerRow, 1.0, &mut r),
        Ok(8)
    );
    assert_eq!(one.w, [[-128.0 / 127.0]]); // 127 = 0x7f → 0x80
    assert!(flip_bits_f32(&mut one, 1.5, NoiseOn::Weights, &mut r).is_err());
    assert!(stuck_at_zero(&mut one, f32::NAN, NoiseOn::Weights, &mut r).is_err());
}

#[test]
fn pcm_drift_moments_follow_the_aihwkit_model() {
    // Every weight at the layer maximum: r = 1, μ_ν = 0.049, σ_ν = 0.008,
    // E (t/t₀)^{−ν} = exp(−μL + σ²L²/2) with L = ln(t/t₀) (|·| of ν negligible).
    let t = 365.25f32 * 86400.0;
    let drift_only = PcmDrift::new(t, false)
        .unwrap()
        .with_programming_scale(0.0)
        .and_then(|d| d.with_read_scale(0.0))
        .unwrap();
    let mut layer = Dense::<100, 100>::zeroed();
    layer.w = [[1.0; 100]; 100];
    drift_only.apply(&mut layer, &mut rng(10)).unwrap();
    let w: Vec<f64> = layer
        .w
        .as_flattened()
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let big_l = f64::from((t + 20.0) / 20.0).ln();
    let want = (-0.049 * big_l + 0.5 * 0.008f64.powi(2) * big_l * big_l).exp();
    assert_within_4se("E w(t)/w", mc(w.len() as u64, |i| w[i as usize]), want);

    // Programming noise alone: g⁺ = g_max gets N(0, σ_p(1)²), g⁻ = 0 gets
    // max(0, N(0, σ_p(0)²)).
    let prog_only = PcmDrift::new(0.0, false)
        .unwrap()
        .with_read_scale(0.0)
        .and_then(|d| d.with_drift_scale(0.0))
        .unwrap();
    let mut layer = Dense::<100, 100>::zeroed();
    layer.w = [[1.0; 100]; 100];
    prog_only.apply(&mut layer, &mut rng(11)).unwrap();
    let w: Vec<f64> = layer
        .w
        .as_flattened()
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let (s1, s0) = (0.26348f64 + 1.9650 - 1.1731, 0.26348f64);
    let pi = std::f64::consts::PI;
    let mean = 1.0 - s0 / (2.0 * pi).sqrt() / 25.0;
    let var = (s1 * s1 + s0 * s0 * (0.5 - 1.0 / (2.0 * pi))) / 625.0;
    assert_within_4se("E w_prog", mc(w.len() as u64, |i| w[i as usize]), mean);
    assert_within_4se(
        "Var w_prog",
        mc(w.len() as u64, |i| (w[i as usize] - mean).powi(2)),
        var,
    );

    // Compensation restores the mean |w| of the programmed array.
    let comp = PcmDrift::new(t, true)
        .unwrap()
        .with_programming_scale(0.0)
        .and_then(|d| d.with_read_scale(0.0))
        .unwrap();
    let mut layer = Dense::<100, 100>::zeroed();
    layer.w = [[1.0; 100]; 100];
    comp.apply(&mut layer, &mut rng(10)).unwrap();
    let m: f32 = layer.w.as_flattened().iter().sum::<f32>() / 10_000.0;
    assert!((m - 1.0).abs() < 1e-4, "{m}");
    assert!(PcmDrift::new(-1.0, false).is_err());
    // Each scale is checked, and named, when set.
    let year = PcmDrift::new(1.0, false).unwrap();
    let name = |r: Result<PcmDrift, noisereg::Error>| match r {
        Err(noisereg::Error::InvalidParameter { name, .. }) => name,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        name(year.with_programming_scale(f32::NAN)),
        "programming_scale"
    );
    assert_eq!(name(year.with_read_scale(-1.0)), "read_scale");
    assert_eq!(name(year.with_drift_scale(f32::INFINITY)), "drift_scale");
    let set = year
        .with_programming_scale(0.5)
        .and_then(|d| d.with_read_scale(0.25))
        .and_then(|d| d.with_drift_scale(2.0))
        .unwrap();
    assert_eq!(
        (set.programming_scale(), set.read_scale(), set.drift_scale()),
        (0.5, 0.25, 2.0)
    );
}

#[test]
fn int8_network_matches_the_dequantised_network_within_a_bound() {
    let (net, xs, _) = setup(1.0);
    for g in [Granularity::PerRow, Granularity::PerLayer] {
        let q = net.to_int8(8, g).unwrap();
        let mut deq = net;
        let cfg = QuantConfig::new(8, Rounding::Nearest, g).unwrap();
        quantize_weights(&mut deq, &cfg, &mut rng(0)).unwrap();
        for x in &xs {
            let (mut a, mut b) = ([0.0], [0.0]);
            q.forward(x, &mut a);
            deq.forward(x, &mut b).unwrap();
            // Only the order of the f32 sums differs: a few ulp of the terms.
            assert!(
                (a[0] - b[0]).abs() <= 1e-5 * (1.0 + b[0].abs()),
                "{a:?} {b:?}"
            );
        }
    }
    assert_eq!(
        <<Net as ToInt8<4, 1>>::Int8 as Int8Network<4, 1>>::BYTES,
        4 * 8 + 8 * 8 + 8 + 8
    );
    assert!(net.to_int8(9, Granularity::PerRow).is_err());
    let mut bad = net;
    bad.0.w[0][0] = f32::NAN;
    assert!(bad.to_int8(8, Granularity::PerRow).is_err());
}
