//! Guards against mutants that statistics cannot see: committed golden bits
//! of every noise stream (a sign flip `c + s·z → c − s·z` keeps every
//! moment), the antithetic negation, and the trainer's derived noise seeds.
//!
//! The golden values are generated, not hand-computed:
//! `NOISEREG_BLESS=1 cargo test -p noisereg-harness --test mutation_guards
//! -- --nocapture golden` prints the table below; paste it over `GOLDEN`.

use noisereg::{
    AntitheticPairs, BoxMuller, Dense, HalfSquaredError, InputNoise, LabelNoise, Network,
    NoiseKind, NoiseOn, Perturbation, Sgd, Trainer, WeightNoise, WeightNoiseConfig, XoshiroLanes,
    fill_normal,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Clean values with both signs and magnitudes, so `c ± s·z` differ.
fn clean(n: usize) -> Vec<f32> {
    (0..n).map(|i| 0.75 - 0.3 * i as f32).collect()
}

/// The first weight rows, biases and pre-activation shifts of two draws of
/// `kind` on a 2-layer shape (5 inputs → 3 → 2).
fn weight_noise_draws(kind: NoiseKind, seed: u64) -> Vec<u32> {
    let cfg = WeightNoiseConfig::new(kind, 0.04)
        .unwrap()
        .with_noise_on(NoiseOn::WeightsAndBiases);
    let mut noise = WeightNoise::new(&cfg, seed);
    let mut out = Vec::new();
    for _ in 0..2 {
        noise.next_draw();
        for (layer, (inputs, outputs)) in [(5, 3), (3, 2)].into_iter().enumerate() {
            noise.begin_layer(layer);
            if kind == NoiseKind::LocalReparam {
                let mut z = clean(outputs);
                noise.pre_activation(layer, &clean(inputs), &mut z);
                out.extend(bits(&z));
            } else {
                let mut w = vec![0.0; inputs * outputs];
                noise.weight_row(&clean(inputs * outputs), &mut w);
                let mut b = vec![0.0; outputs];
                noise.bias(&clean(outputs), &mut b);
                out.extend(bits(&w));
                out.extend(bits(&b));
            }
        }
    }
    out
}

/// `grad_b` after one step of a `Dense<1, 1>` trainer seeded with `seed`
/// with exactly one noise source on: input noise (w = 1, so
/// `grad_b = 1 + σξ`), label noise (`grad_b = −σξ`) or additive weight
/// noise on the weight (`grad_b = √η·ξ`), at x = 1, y = 0, σ = η = 1.
fn trainer_source(seed: u64, source: usize) -> f32 {
    let mut net = Dense::<1, 1>::zeroed();
    if source == 0 {
        net.w = [[1.0]];
    }
    let t: Trainer<1, 1, Dense<1, 1>, Sgd> = Trainer::new(net, Sgd::new(0.1).unwrap(), seed);
    let mut t = match source {
        0 => t.with_input_noise(1.0).unwrap(),
        1 => t.with_label_noise(1.0).unwrap(),
        _ => {
            let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 1.0).unwrap();
            t.with_weight_noise(&cfg).unwrap()
        }
    };
    t.step(&HalfSquaredError, &[[1.0]], &[[0.0]]).unwrap();
    t.gradient().b[0]
}

/// The standard normal each single-source trainer drew (see [`trainer_source`]).
fn trainer_xi(seed: u64) -> [f32; 3] {
    [
        trainer_source(seed, 0) - 1.0,
        -trainer_source(seed, 1),
        trainer_source(seed, 2),
    ]
}

/// Every golden vector, by name.
fn golden_vectors() -> Vec<(&'static str, Vec<u32>)> {
    let mut v = Vec::new();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(41);
    let mut bm = BoxMuller::new(1.5, 0.5).unwrap();
    let z: Vec<f32> = (0..8).map(|_| bm.sample(&mut rng)).collect();
    v.push(("box_muller_mean_1.5_std_0.5_seed_41", bits(&z)));
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(42);
    let mut bm = BoxMuller::new(-2.0, 3.0).unwrap();
    let z: Vec<f32> = (0..5).map(|_| bm.sample(&mut rng)).collect();
    v.push(("box_muller_mean_-2_std_3_seed_42", bits(&z)));
    let mut z = [0.0f32; 20];
    fill_normal(&mut XoshiroLanes::seed_from_u64(43), &mut z);
    v.push(("fill_normal_seed_43", bits(&z)));
    let mut z = [0.0f32; 20];
    fill_normal(&mut XoshiroLanes::keyed(44, 3), &mut z);
    v.push(("fill_normal_keyed_44_key_3", bits(&z)));
    let mut input = InputNoise::gaussian(0.3, 45).unwrap();
    let mut label = LabelNoise::gaussian(0.2, 46).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let mut x = [0.0f32; 5];
        input.perturb_slice(&clean(5), &mut x).unwrap();
        a.extend(bits(&x));
        let mut y = [0.0f32; 3];
        label.perturb_slice(&clean(3), &mut y).unwrap();
        b.extend(bits(&y));
    }
    v.push(("input_noise_std_0.3_seed_45", a));
    v.push(("label_noise_std_0.2_seed_46", b));
    v.push((
        "weight_noise_additive_seed_47",
        weight_noise_draws(NoiseKind::Additive, 47),
    ));
    v.push((
        "weight_noise_multiplicative_seed_48",
        weight_noise_draws(NoiseKind::Multiplicative, 48),
    ));
    v.push((
        "weight_noise_local_reparam_seed_49",
        weight_noise_draws(NoiseKind::LocalReparam, 49),
    ));
    v.push(("trainer_sources_seed_7", bits(&trainer_xi(7))));
    v.push(("trainer_sources_seed_max", bits(&trainer_xi(u64::MAX))));
    v
}

#[test]
fn golden_bits_of_every_noise_stream_are_stable() {
    let got = golden_vectors();
    if std::env::var_os("NOISEREG_BLESS").is_some_and(|v| v == "1") {
        println!("const GOLDEN: &[(&str, &[u32])] = &[");
        for (name, v) in &got {
            let hex: Vec<String> = v.iter().map(|b| format!("0x{b:08x}")).collect();
            println!("    (\"{name}\", &[{}]),", hex.join(", "));
        }
        println!("];");
        return;
    }
    assert_eq!(got.len(), GOLDEN.len(), "golden table out of date");
    for ((name, v), (gname, g)) in got.iter().zip(GOLDEN) {
        assert_eq!(name, gname, "golden table out of date");
        assert_eq!(&v[..], *g, "{name}: the stream changed");
    }
}

#[test]
fn trainer_noise_sources_draw_distinct_streams() {
    // Weight, input and label noise are independent sources: for every seed
    // (including all-ones, where a seed mix by `|` would collapse them) the
    // three single-source trainers see different normals.
    for seed in [0, 7, 0x9e37_79b9_7f4a_7c15, u64::MAX] {
        let xi = trainer_xi(seed);
        assert!(
            xi.iter().all(|v| v.is_finite() && *v != 0.0),
            "{seed}: {xi:?}"
        );
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            assert!(
                (xi[i] - xi[j]).abs() > 1e-4,
                "seed {seed}: sources {i} and {j} share a stream: {xi:?}"
            );
        }
    }
    // And different seeds give different streams.
    assert_ne!(bits(&trainer_xi(7)), bits(&trainer_xi(u64::MAX)));
}

#[test]
fn negated_weight_noise_is_the_exact_negation() {
    let x = [0.6f32, -0.8, 0.0];
    for kind in [
        NoiseKind::Additive,
        NoiseKind::Multiplicative,
        NoiseKind::LocalReparam,
    ] {
        let cfg = WeightNoiseConfig::new(kind, 0.05)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases);
        let mut noise = WeightNoise::new(&cfg, 50);
        noise.next_draw();
        // The shift each kind applies to zeros (additive, local) or the
        // factor it applies to ones (multiplicative), layer 1.
        let shift = |noise: &mut WeightNoise| -> Vec<f32> {
            noise.begin_layer(1);
            match kind {
                NoiseKind::Additive => {
                    let mut w = [0.0f32; 6];
                    noise.weight_row(&[0.0; 6], &mut w);
                    let mut b = [0.0f32; 3];
                    noise.bias(&[0.0; 3], &mut b);
                    w.iter().chain(&b).copied().collect()
                }
                NoiseKind::Multiplicative => {
                    let mut w = [0.0f32; 6];
                    noise.weight_row(&[1.0; 6], &mut w);
                    w.iter().map(|v| v - 1.0).collect()
                }
                NoiseKind::LocalReparam => {
                    let mut z = [0.0f32; 3];
                    noise.pre_activation(1, &x, &mut z);
                    z.to_vec()
                }
            }
        };
        let plus = shift(&mut noise);
        noise.set_negated(true);
        let minus = shift(&mut noise);
        noise.set_negated(false);
        assert_eq!(
            bits(&shift(&mut noise)),
            bits(&plus),
            "{kind:?}: negation undone"
        );
        assert!(plus.iter().all(|v| v.abs() > 1e-4), "{kind:?}: {plus:?}");
        for (p, m) in plus.iter().zip(&minus) {
            if kind == NoiseKind::Multiplicative {
                // (1 + sz) − 1 and (1 − sz) − 1 round differently near 1.
                assert!((p + m).abs() <= 2e-7, "{kind:?}: {p} vs {m}");
            } else {
                assert_eq!(m.to_bits(), (-p).to_bits(), "{kind:?}: {p} vs {m}");
            }
        }
    }
}

#[test]
fn antithetic_pair_mean_cancels_the_linear_term() {
    // For a linear model f = w·x + b with noise on w, the mean of the pair
    // (ε, −ε) is J(θ) + ½·mean((ε·x)²) exactly: the terms linear in ε cancel.
    let mut net = Dense::<2, 1>::zeroed();
    net.w = [[0.8, -0.5]];
    net.b = [0.1];
    let xs = [[1.0f32, 0.5], [-0.3, 2.0], [0.7, -1.1]];
    let ys = [[0.2f32], [-0.4], [1.0]];
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.04).unwrap();
    let mut pairs = AntitheticPairs::new(&net, &HalfSquaredError, &xs, &ys, &cfg, 51).unwrap();
    let mut noise = WeightNoise::new(&cfg, 51);
    for p in 0..3u64 {
        let got = pairs.pair_mean(p).unwrap();
        noise.set_draw_index(p);
        let mut tilde = net;
        noise.perturb_parameters(&net, &mut tilde);
        let eps = [tilde.w[0][0] - net.w[0][0], tilde.w[0][1] - net.w[0][1]];
        let mut want = 0.0f64;
        let mut linear = 0.0f64;
        for (x, y) in xs.iter().zip(&ys) {
            let f = f64::from(net.w[0][0] * x[0] + net.w[0][1] * x[1] + net.b[0]);
            let ex = f64::from(eps[0]) * f64::from(x[0]) + f64::from(eps[1]) * f64::from(x[1]);
            let r = f - f64::from(y[0]);
            want += 0.5 * r * r + 0.5 * ex * ex;
            linear += r * ex;
        }
        want /= 3.0;
        linear /= 3.0;
        assert!(
            linear.abs() > 1e-3,
            "draw {p}: linear term too small to test"
        );
        assert!(
            (got - want).abs() < 1e-5,
            "draw {p}: pair mean {got}, want {want}"
        );
    }
}

/// Generated by `golden_bits_of_every_noise_stream_are_stable` with
/// `NOISEREG_BLESS=1` (see the module docs); do not edit by hand.
#[rustfmt::skip]
const GOLDEN: &[(&str, &[u32])] = &[
    ("box_muller_mean_1.5_std_0.5_seed_41", &[0x3fcf8804, 0x3fa24015, 0x4009cf76, 0x3fafc297, 0x3fcae928, 0x3fcdd6a3, 0x3fd830f6, 0x3fcee474]),
    ("box_muller_mean_-2_std_3_seed_42", &[0xc074ae69, 0x3ea6f2c8, 0xc09b5d84, 0x3f859682, 0xc00e76de]),
    ("fill_normal_seed_43", &[0xc02e6ff3, 0x3f1c3c1a, 0xbed7c7d6, 0xbd2a833f, 0xbe9cf203, 0x3ff00502, 0x3e8f87be, 0xbeb00f12, 0x3faa2c9e, 0xbfa7edfd, 0x3f140e93, 0xbf2fe2fd, 0x3f8c6521, 0xbf5135fe, 0xbd83976c, 0x3f3c2877, 0x3fb12bea, 0x3c22470f, 0x3fad316e, 0x3fe73a27]),
    ("fill_normal_keyed_44_key_3", &[0xbeaa2c64, 0xbf42193e, 0xbe0101f8, 0xbf83af3d, 0xbfd3035f, 0xbdac2c00, 0xbd436758, 0x3f58e3a2, 0xbfe1977b, 0x3f26dd20, 0xbfeea54b, 0x3f864ddb, 0xbe5b800e, 0x3eb6ce15, 0x3f4d2451, 0xbfb7074f, 0x3ea51158, 0xbe86a93a, 0xbf3d799e, 0xbef4882d]),
    ("input_noise_std_0.3_seed_45", &[0x3f5477e8, 0x3eb27100, 0x3e493ecc, 0xbe50c88e, 0xbf2432bd, 0x3f939cb0, 0x3f16459e, 0x3dedbff5, 0xbebe3afe, 0xbed6de87]),
    ("label_noise_std_0.2_seed_46", &[0x3f104db1, 0x3f09fce7, 0x3e1478f9, 0x3f358c94, 0x3ef59440, 0x3e6568fb]),
    ("weight_noise_additive_seed_47", &[0x3f496d49, 0x3e2a0e2c, 0x3e54ab5c, 0xbf0bcb3a, 0xbeecbcbb, 0xbf114d4f, 0xbf3eff5e, 0xbfd10b37, 0xbfdc40f8, 0xbfe3774a, 0xc0195ffd, 0xc0115574, 0xc0371cb8, 0xc046a050, 0xc06df8e7, 0x3f230f70, 0x3ec77856, 0xbd1f7c4c, 0x3f8a1ef1, 0x3ec6b75a, 0xbd807baa, 0xbd2e962c, 0xbe312752, 0xbf1fea66, 0x3e952aa9, 0x3f3c1ef3, 0x3f28e596, 0x3eab66c0, 0x3d92ebcd, 0x3e688ef2, 0xbf04a5c3, 0xbee12a4a, 0xbfa5f406, 0xbfbe3c3d, 0xbfdd9270, 0xbff41a03, 0xc0112de2, 0xc0189d84, 0xc029c665, 0xc0577529, 0xc05c78d3, 0x3f347ab3, 0x3e88e678, 0x3e75325c, 0x3f091256, 0x3efe24bf, 0x3f207b18, 0xbe53fcfb, 0xbf5c1536, 0xbf2cfcf1, 0x3f0926ea, 0x3e69ebf2]),
    ("weight_noise_multiplicative_seed_48", &[0x3f7160f0, 0x3ec0df27, 0x3e2fe3bc, 0xbe24467f, 0xbf2de757, 0xbf2d495e, 0xbf8c82ac, 0xbfc0e3a4, 0xc007211f, 0xbfe4e1af, 0xbfbe2853, 0xc000bcd4, 0xc001aeb1, 0xc0264cf2, 0xc04f4a0a, 0x3f38588a, 0x3ee47793, 0x3e0397d4, 0x3f516460, 0x3eebb1a1, 0x3e2c4dc3, 0xbe555034, 0xbedfae02, 0xbf3d92e2, 0x3f5375b4, 0x3ed9a3bc, 0x3f229722, 0x3f0d454d, 0x3e1a24fc, 0xbdddfc7b, 0xbf02de58, 0xbf24f959, 0xbf3eb816, 0xbf78ae2b, 0xbfbce1ae, 0xbff7b75e, 0xc01fb013, 0xc02c3b59, 0xc0377a85, 0xc00740f3, 0xc040ee2c, 0x3f692108, 0x3f0fe77c, 0x3de61c76, 0x3f24ac86, 0x3f0c451a, 0x3df6fb99, 0xbe23cfcd, 0xbf00b387, 0xbf3b29a7, 0x3f39fbb9, 0x3f0a42d0]),
    ("weight_noise_local_reparam_seed_49", &[0x3f215f0d, 0x3e44f8a8, 0x3e853a15, 0x3f0280c4, 0x3f5e5a2c, 0x3f023a31, 0x3df0e424, 0x3e545ad9, 0x3f70d5a0, 0x3f2fdf2e]),
    ("trainer_sources_seed_7", &[0x3f001bd2, 0x3f3c1398, 0xbf5b4f67]),
    ("trainer_sources_seed_max", &[0x3fc2bf80, 0xbfdc5d8c, 0x3d214ba4]),
];

#[test]
fn set_eta_sets_the_draw_scale_and_rejects_invalid_eta() {
    // Warm-up: factor 0 at step 0, so no noise until `set_eta` sets η at
    // factor 1.
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 1.0)
        .unwrap()
        .with_schedule(noisereg::EtaSchedule::warm_up(5));
    let mut noise = WeightNoise::new(&cfg, 52);
    assert!(!noise.perturbs_weights());
    noise.set_eta(&[0.25; noisereg::MAX_LAYERS]).unwrap();
    assert!(noise.perturbs_weights());
    let draw = |n: &mut WeightNoise| {
        let mut w = [0.0f32; 6];
        n.begin_layer(0);
        n.weight_row(&[0.0; 6], &mut w);
        w
    };
    // √0.25 = 0.5 exactly: half the draw of η = 1 with the same seed.
    let unit = draw(&mut WeightNoise::new(
        &WeightNoiseConfig::new(NoiseKind::Additive, 1.0).unwrap(),
        52,
    ));
    let half = draw(&mut noise);
    assert!(unit.iter().all(|&v| v != 0.0));
    assert_eq!(bits(&half), bits(&unit.map(|v| 0.5 * v)));
    // Invalid η: an error, and the noise is unchanged.
    for bad in [-1.0, f32::NAN, f32::INFINITY] {
        let before = noise.clone();
        assert!(
            noise.set_eta(&[bad; noisereg::MAX_LAYERS]).is_err(),
            "{bad}"
        );
        assert_eq!(noise, before);
    }
    assert_eq!(bits(&draw(&mut noise)), bits(&half));
}
