//! Value-stability vectors, as rand_distr keeps them: the exact bits the
//! samplers, the generators, the keyed weight-noise streams and one short
//! training run produce today, committed in `tests/golden/`. Any change to
//! what they compute fails here, even a change made identically on the host
//! and on the device (which the firmware checksum comparison cannot see).
//!
//! The committed values are never typed by hand. To re-bless after an
//! intended change, on the default x86-64 build (no FMA):
//!
//! ```sh
//! NOISEREG_BLESS=1 cargo test -p noisereg-harness --test golden -- --nocapture
//! ```
//!
//! That rewrites `tests/golden/values.rs` (samplers and generators, test
//! `bless_sampler_values`) and `tests/golden/training.rs` (test
//! `golden_training_run`) and prints them; review the diff and commit it.
//! `golden_training_run` depends on the whole network engine, so it is the
//! one to re-bless when the passes change order of summation; it can be
//! re-blessed alone with `NOISEREG_BLESS=1 cargo test … golden_training_run`.
//! f32 values are stored as bit patterns (`u32`).
//!
//! The samplers use only correctly rounded `+ − × ÷ √`, so their bits are the
//! same with FMA (`-C target-cpu=x86-64-v3`) and on aarch64; the training run
//! goes through the SIMD kernels, whose multiply-adds fuse there, so it is
//! compared only on builds without fused multiply-adds.

use noisereg::rand_core::{Rng, SeedableRng};
use noisereg::{
    Adam, BoxMuller, HalfSquaredError, Init, Mlp1, Network, NoiseKind, NoiseOn, Parameters, Tanh,
    Trainer, WeightNoise, WeightNoiseConfig, XoshiroLanes, fill_normal, fill_normal_scalar,
    fill_normal_with,
};
use rand_xoshiro::Xoshiro128PlusPlus;
use std::fmt::Write as _;

mod values {
    include!("golden/values.rs");
}
mod training {
    include!("golden/training.rs");
}

/// Lengths for the fills: empty, one, odd, a whole group of 16, a group and
/// one, two groups and a partial one, and past the 32-per-iteration loop.
const LENGTHS: [usize; 8] = [0, 1, 7, 16, 17, 33, 40, 77];

fn blessing() -> bool {
    std::env::var_os("NOISEREG_BLESS").is_some_and(|v| v == "1")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn param_bits<P: Parameters>(p: &P) -> Vec<u32> {
    (0..p.slice_count())
        .flat_map(|i| bits(p.slice(i)))
        .collect()
}

// ------------------------------------------------------------ the generators

fn box_muller_standard() -> Vec<u32> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut normal = BoxMuller::standard();
    (0..33).map(|_| normal.sample(&mut rng).to_bits()).collect()
}

fn box_muller_mean_std() -> Vec<u32> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    let mut normal = BoxMuller::new(5.0, 0.5).unwrap();
    let mut v: Vec<u32> = (0..17).map(|_| normal.sample(&mut rng).to_bits()).collect();
    let mut normal = BoxMuller::new(-1.25, 3.0).unwrap();
    v.extend((0..17).map(|_| normal.sample(&mut rng).to_bits()));
    v
}

/// `BoxMuller` fed word by word from the lanes, as on a device.
fn box_muller_on_lanes() -> Vec<u32> {
    let mut rng = XoshiroLanes::seed_from_u64(3);
    let mut normal = BoxMuller::standard();
    (0..21).map(|_| normal.sample(&mut rng).to_bits()).collect()
}

fn fills(seed: u64, f: impl Fn(&mut XoshiroLanes, &mut [f32])) -> Vec<u32> {
    // One generator across all lengths, so each fill also pins where the
    // previous one left the lanes.
    let mut rng = XoshiroLanes::seed_from_u64(seed);
    let mut v = Vec::new();
    for n in LENGTHS {
        let mut out = vec![0.0f32; n];
        f(&mut rng, &mut out);
        v.extend(bits(&out));
    }
    v
}

fn fill_normal_simd() -> Vec<u32> {
    fills(4, fill_normal)
}

fn fill_normal_scalar_twin() -> Vec<u32> {
    fills(4, fill_normal_scalar)
}

fn fill_normal_mean_std() -> Vec<u32> {
    fills(5, |rng, out| {
        fill_normal_with(rng, 10.0, 0.25, out).unwrap()
    })
}

/// The fill after a partly read block (the unread words are discarded).
fn fill_normal_after_words() -> Vec<u32> {
    let mut rng = XoshiroLanes::seed_from_u64(6);
    let w = [rng.next_u32(), rng.next_u32(), rng.next_u32()];
    let mut out = [0.0f32; 19];
    fill_normal(&mut rng, &mut out);
    let mut v = w.to_vec();
    v.extend(bits(&out));
    v.push(rng.next_u32());
    v
}

fn xoshiro_lanes_seeded() -> Vec<u32> {
    let mut v = Vec::new();
    let mut rng = XoshiroLanes::seed_from_u64(7);
    for _ in 0..3 {
        v.extend(rng.next_block());
    }
    let x = rng.next_u64();
    v.extend([x as u32, (x >> 32) as u32]);
    let mut rng = XoshiroLanes::from_seed(*b"noisereg golden!");
    v.extend(rng.next_block());
    v.extend((0..5).map(|_| rng.next_u32()));
    v
}

fn xoshiro_lanes_keyed() -> Vec<u32> {
    let mut v = Vec::new();
    for (seed, key) in [(0, 0), (42, 1), (42, 16 * 3 + 2), (u64::MAX, 12345)] {
        let mut rng = XoshiroLanes::keyed(seed, key);
        v.extend(rng.next_block());
        v.extend(rng.next_block());
    }
    v
}

/// The keyed stream of weight noise: stream `id` of draw `draw` is the fill
/// over `XoshiroLanes::keyed(seed, 16·draw + id)`.
fn keyed_fill() -> Vec<u32> {
    let mut v = Vec::new();
    for (draw, id) in [(0u64, 0u64), (0, 1), (5, 2)] {
        let mut out = [0.0f32; 37];
        fill_normal(&mut XoshiroLanes::keyed(99, 16 * draw + id), &mut out);
        v.extend(bits(&out));
    }
    v
}

type Net = Mlp1<3, 5, 2, Tanh>;

fn small_net() -> Net {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(8);
    let mut net = Net::zeroed();
    net.init(Init::Glorot, &mut rng);
    net
}

/// `WeightNoise` as the trainer uses it: θ̃ of draws 0, 1 and 17 for the
/// additive (weights only, and weights and biases with per-layer η) and the
/// multiplicative kind, and the antithetic half of draw 1.
fn weight_noise_streams() -> Vec<u32> {
    let clean = small_net();
    let configs = [
        WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap(),
        WeightNoiseConfig::new(NoiseKind::Additive, 0.01)
            .unwrap()
            .with_layer_eta(&[0.04, 0.0025])
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases),
        WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.09)
            .unwrap()
            .with_noise_on(NoiseOn::WeightsAndBiases),
    ];
    let mut v = param_bits(&clean);
    for cfg in &configs {
        let mut noise = WeightNoise::new(cfg, 2024);
        for draw in [0, 1, 17] {
            noise.set_draw_index(draw);
            let mut noisy = Net::zeroed();
            noise.perturb_parameters(&clean, &mut noisy);
            v.extend(param_bits(&noisy));
        }
        noise.set_draw_index(1);
        noise.set_negated(true);
        let mut noisy = Net::zeroed();
        noise.perturb_parameters(&clean, &mut noisy);
        v.extend(param_bits(&noisy));
    }
    v
}

/// FNV-1a (64-bit) of the values' bits, as two words, low first.
fn fnv1a(v: &[f32]) -> [u32; 2] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in v {
        for b in x.to_bits().to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    [h as u32, (h >> 32) as u32]
}

/// Digests of long runs, so that a change too small to show in the short
/// vectors above (a last-bit change in a rarely reached part of a
/// polynomial) still fails: 2¹⁶ normals from each sampler and 64 keyed
/// streams of 1,000.
fn digests() -> Vec<u32> {
    const N: usize = 1 << 16;
    let mut v = Vec::new();
    let mut z = vec![0.0f32; N];
    fill_normal(&mut XoshiroLanes::seed_from_u64(10), &mut z);
    v.extend(fnv1a(&z));
    fill_normal_with(&mut XoshiroLanes::seed_from_u64(11), -3.0, 0.125, &mut z).unwrap();
    v.extend(fnv1a(&z));
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(12);
    let mut normal = BoxMuller::standard();
    z.iter_mut().for_each(|x| *x = normal.sample(&mut rng));
    v.extend(fnv1a(&z));
    let mut keyed = Vec::new();
    for key in 0..64 {
        let mut out = [0.0f32; 1000];
        fill_normal(&mut XoshiroLanes::keyed(13, key), &mut out);
        keyed.extend(out);
    }
    v.extend(fnv1a(&keyed));
    v
}

/// A golden vector: its name (also the constant's name) and its generator.
type Vector = (&'static str, fn() -> Vec<u32>);

/// Every sampler vector.
const SAMPLER_VECTORS: [Vector; 12] = [
    ("BOX_MULLER_STANDARD", box_muller_standard),
    ("BOX_MULLER_MEAN_STD", box_muller_mean_std),
    ("BOX_MULLER_ON_LANES", box_muller_on_lanes),
    ("FILL_NORMAL", fill_normal_simd),
    ("FILL_NORMAL_SCALAR", fill_normal_scalar_twin),
    ("FILL_NORMAL_WITH", fill_normal_mean_std),
    ("FILL_NORMAL_AFTER_WORDS", fill_normal_after_words),
    ("XOSHIRO_LANES_SEEDED", xoshiro_lanes_seeded),
    ("XOSHIRO_LANES_KEYED", xoshiro_lanes_keyed),
    ("KEYED_FILL", keyed_fill),
    ("WEIGHT_NOISE_STREAMS", weight_noise_streams),
    ("DIGESTS", digests),
];

// ------------------------------------------------------------ the training run

/// Ten Adam steps of a 2 → 8 (tanh) → 1 network with additive weight noise
/// η = 0.01 per sample, through the public API; the final parameters.
fn training_run() -> Vec<u32> {
    type Net = Mlp1<2, 8, 1, Tanh>;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut net = Net::zeroed();
    net.init(Init::Glorot, &mut rng);
    let xs = [[0.5, -1.0], [1.0, 0.25], [-0.3, 0.8], [0.0, -0.6]];
    let ys = [[0.3], [-0.2], [0.1], [0.4]];
    let noise = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let adam = Adam::with_defaults(0.01, &net).unwrap();
    let mut trainer: Trainer<2, 1, Net, _> = Trainer::new(net, adam, 42)
        .with_weight_noise(&noise)
        .unwrap();
    for _ in 0..10 {
        trainer.step(&HalfSquaredError, &xs, &ys).unwrap();
    }
    param_bits(&trainer.into_network())
}

// ------------------------------------------------------------ bless / compare

fn rust_const(name: &str, v: &[u32]) -> String {
    let mut s = format!("pub const {name}: [u32; {}] = [", v.len());
    for (i, x) in v.iter().enumerate() {
        s.push_str(if i % 6 == 0 { "\n    " } else { " " });
        write!(s, "0x{x:08x},").unwrap();
    }
    s.push_str("\n];\n");
    s
}

/// Writes `tests/golden/<file>` and prints it.
fn bless(file: &str, consts: &[(&str, Vec<u32>)]) {
    if cfg!(any(target_feature = "fma", target_arch = "aarch64")) {
        panic!("bless golden values on the default x86-64 build (no fused multiply-add)");
    }
    let mut s = String::from(
        "// @generated by tests/golden.rs with NOISEREG_BLESS=1; do not edit by hand.\n",
    );
    for (name, v) in consts {
        s.push('\n');
        s.push_str(&rust_const(name, v));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(file);
    std::fs::write(&path, &s).unwrap();
    println!("--- {} ---\n{s}", path.display());
}

/// Index and values of the first difference, or `None`.
fn compare(name: &str, got: &[u32], golden: &[u32]) -> Option<String> {
    if got == golden {
        return None;
    }
    if got.len() != golden.len() {
        return Some(format!(
            "{name}: {} values, golden has {}",
            got.len(),
            golden.len()
        ));
    }
    let diffs: Vec<usize> = (0..got.len()).filter(|&i| got[i] != golden[i]).collect();
    let i = diffs[0];
    Some(format!(
        "{name}: {} of {} values differ; first at [{i}]: {:e} (0x{:08x}), golden {:e} (0x{:08x})",
        diffs.len(),
        got.len(),
        f32::from_bits(got[i]),
        got[i],
        f32::from_bits(golden[i]),
        golden[i],
    ))
}

fn golden_sampler(name: &str) -> &'static [u32] {
    match name {
        "BOX_MULLER_STANDARD" => &values::BOX_MULLER_STANDARD,
        "BOX_MULLER_MEAN_STD" => &values::BOX_MULLER_MEAN_STD,
        "BOX_MULLER_ON_LANES" => &values::BOX_MULLER_ON_LANES,
        "FILL_NORMAL" => &values::FILL_NORMAL,
        "FILL_NORMAL_SCALAR" => &values::FILL_NORMAL_SCALAR,
        "FILL_NORMAL_WITH" => &values::FILL_NORMAL_WITH,
        "FILL_NORMAL_AFTER_WORDS" => &values::FILL_NORMAL_AFTER_WORDS,
        "XOSHIRO_LANES_SEEDED" => &values::XOSHIRO_LANES_SEEDED,
        "XOSHIRO_LANES_KEYED" => &values::XOSHIRO_LANES_KEYED,
        "KEYED_FILL" => &values::KEYED_FILL,
        "WEIGHT_NOISE_STREAMS" => &values::WEIGHT_NOISE_STREAMS,
        "DIGESTS" => &values::DIGESTS,
        _ => panic!("no golden vector {name}"),
    }
}

fn check(name: &str) {
    if blessing() {
        return; // bless_sampler_values rewrites them
    }
    let (_, f) = SAMPLER_VECTORS.iter().find(|(n, _)| *n == name).unwrap();
    if let Some(msg) = compare(name, &f(), golden_sampler(name)) {
        panic!("{msg}\n(an intended change? re-bless: see tests/golden.rs)");
    }
}

#[test]
fn bless_sampler_values() {
    if blessing() {
        let consts: Vec<_> = SAMPLER_VECTORS.iter().map(|(n, f)| (*n, f())).collect();
        bless("values.rs", &consts);
    }
}

#[test]
fn golden_box_muller_standard() {
    check("BOX_MULLER_STANDARD");
}

#[test]
fn golden_box_muller_mean_std() {
    check("BOX_MULLER_MEAN_STD");
}

#[test]
fn golden_box_muller_on_lanes() {
    check("BOX_MULLER_ON_LANES");
}

#[test]
fn golden_fill_normal() {
    check("FILL_NORMAL");
}

#[test]
fn golden_fill_normal_scalar() {
    check("FILL_NORMAL_SCALAR");
}

#[test]
fn golden_fill_normal_with() {
    check("FILL_NORMAL_WITH");
}

#[test]
fn golden_fill_normal_after_words() {
    check("FILL_NORMAL_AFTER_WORDS");
}

#[test]
fn golden_xoshiro_lanes_seeded() {
    check("XOSHIRO_LANES_SEEDED");
}

#[test]
fn golden_xoshiro_lanes_keyed() {
    check("XOSHIRO_LANES_KEYED");
}

#[test]
fn golden_keyed_fill() {
    check("KEYED_FILL");
}

#[test]
fn golden_weight_noise_streams() {
    check("WEIGHT_NOISE_STREAMS");
}

#[test]
fn golden_digests() {
    check("DIGESTS");
}

/// The SIMD fill and its scalar twin are one algorithm: equal bits.
#[test]
fn golden_fill_normal_and_scalar_twin_agree() {
    assert_eq!(fill_normal_simd(), fill_normal_scalar_twin());
}

/// Bit-exact only without fused multiply-adds: the network passes go through
/// the SIMD kernels, whose multiply-adds fuse under FMA and on aarch64.
#[test]
#[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
fn golden_training_run() {
    let got = training_run();
    if blessing() {
        bless("training.rs", &[("TRAINING_RUN", got)]);
    } else if let Some(msg) = compare("TRAINING_RUN", &got, &training::TRAINING_RUN) {
        panic!(
            "{msg}\n(the network engine changed its arithmetic? re-bless golden_training_run: see tests/golden.rs)"
        );
    }
}

/// Where the training run is not bit-exact, it stays within a small relative
/// distance of the golden parameters (ten steps barely amplify rounding).
#[test]
#[cfg(any(target_feature = "fma", target_arch = "aarch64"))]
fn golden_training_run_within_tolerance() {
    let got = training_run();
    assert_eq!(got.len(), training::TRAINING_RUN.len());
    let differ = got
        .iter()
        .zip(&training::TRAINING_RUN)
        .filter(|(g, w)| g != w)
        .count();
    println!(
        "{differ} of {} parameters differ from the golden bits",
        got.len()
    );
    for (i, (&g, &w)) in got.iter().zip(&training::TRAINING_RUN).enumerate() {
        let (g, w) = (f32::from_bits(g), f32::from_bits(w));
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "parameter {i}: {g} vs golden {w}"
        );
    }
}
