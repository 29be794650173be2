//! The Gaussian samplers against the normal distribution (KS, moments, tails),
//! against an f64 Box–Muller reference, and the lanes against rand_xoshiro.

use noisereg::{
    BoxMuller, Error, XoshiroLanes, fill_normal, fill_normal_fast, fill_normal_fast_scalar,
    fill_normal_scalar, fill_normal_with,
};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

const N: usize = 1_000_000;

/// Standard normal CDF Φ.
fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x / core::f64::consts::SQRT_2)
}

fn simd_samples(seed: u64, n: usize) -> Vec<f32> {
    let mut z = vec![0.0f32; n];
    fill_normal(&mut XoshiroLanes::seed_from_u64(seed), &mut z);
    z
}

fn scalar_samples(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut normal = BoxMuller::standard();
    (0..n).map(|_| normal.sample(&mut rng)).collect()
}

/// Kolmogorov–Smirnov distance between the sample and Φ.
fn ks_distance(z: &[f32]) -> f64 {
    let mut x: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    x.iter().enumerate().fold(0.0, |d, (i, &v)| {
        let f = phi(v);
        d.max(f - i as f64 / n).max((i + 1) as f64 / n - f)
    })
}

fn check_ks(name: &str, z: &[f32]) {
    let d = ks_distance(z);
    let limit = 1.95 / (z.len() as f64).sqrt();
    assert!(d < limit, "{name}: KS distance {d:.2e} >= {limit:.2e}");
}

/// Raw moments E[z^k], k = 1..4, each within 5 standard errors of 0, 1, 0, 3.
fn check_moments(name: &str, z: &[f32]) {
    let n = z.len() as f64;
    let mut m = [0.0f64; 4];
    for &v in z {
        let v = f64::from(v);
        m[0] += v;
        m[1] += v * v;
        m[2] += v * v * v;
        m[3] += v * v * v * v;
    }
    let exact = [0.0, 1.0, 0.0, 3.0];
    // Var(z^k) = E[z^2k] − E[z^k]²: 1, 3 − 1, 15, 105 − 9.
    let var = [1.0, 2.0, 15.0, 96.0];
    for k in 0..4 {
        let got = m[k] / n;
        let se = (var[k] / n).sqrt();
        assert!(
            (got - exact[k]).abs() < 5.0 * se,
            "{name}: moment {} = {got:.5}, expected {} ± 5·{se:.1e}",
            k + 1,
            exact[k]
        );
    }
}

/// Frequencies of |z| > 3 and |z| > 4 within 5 standard errors of exact.
fn check_tails(name: &str, z: &[f32]) {
    let n = z.len() as f64;
    for t in [3.0f32, 4.0] {
        let p = libm::erfc(f64::from(t) / core::f64::consts::SQRT_2);
        let count = z.iter().filter(|v| v.abs() > t).count() as f64;
        let se = (n * p * (1.0 - p)).sqrt();
        assert!(
            (count - n * p).abs() < 5.0 * se,
            "{name}: {count} beyond {t}σ, expected {:.1} ± 5·{se:.1}",
            n * p
        );
    }
}

fn check_normal(name: &str, z: &[f32]) {
    check_ks(name, z);
    check_moments(name, z);
    check_tails(name, z);
}

/// Each coordinate of the pairs `(z0[i], z1[i])` alone is N(0, 1), and the two
/// are uncorrelated, also in their squares (E[z0·z1] = 0, E[z0²·z1²] = 1).
fn check_pairs(name: &str, z0: &[f32], z1: &[f32]) {
    check_normal(&format!("{name} first of pair"), z0);
    check_normal(&format!("{name} second of pair"), z1);
    let n = z0.len() as f64;
    let (mut p, mut q) = (0.0f64, 0.0f64);
    for (&a, &b) in z0.iter().zip(z1) {
        let ab = f64::from(a) * f64::from(b);
        p += ab;
        q += ab * ab;
    }
    assert!(
        (p / n).abs() < 5.0 / n.sqrt(),
        "{name}: E[z0 z1] = {}",
        p / n
    );
    // Var(z0²z1²) = E[z0⁴]E[z1⁴] − 1 = 8.
    assert!(
        (q / n - 1.0).abs() < 5.0 * (8.0 / n).sqrt(),
        "{name}: E[z0² z1²] = {}",
        q / n
    );
}

#[test]
#[cfg_attr(debug_assertions, ignore)]
fn fill_normal_passes_ks_moments_and_tails() {
    let z = simd_samples(0x5eed_0001, N);
    check_normal("fill_normal", &z);
    // out[16j + k] = r·cos θ and out[16j + 8 + k] = r·sin θ of one pair.
    let (z0, z1): (Vec<f32>, Vec<f32>) = z
        .chunks(16)
        .flat_map(|g| g[..8].iter().zip(&g[8..]))
        .unzip();
    check_pairs("fill_normal", &z0, &z1);
}

#[test]
#[cfg_attr(debug_assertions, ignore)]
fn box_muller_passes_ks_moments_and_tails() {
    let z = scalar_samples(0x5eed_0002, N);
    check_normal("BoxMuller", &z);
    let (z0, z1): (Vec<f32>, Vec<f32>) = z.chunks(2).map(|p| (p[0], p[1])).unzip();
    check_pairs("BoxMuller", &z0, &z1);
}

#[test]
fn samplers_stay_within_the_24_bit_tail_bound() {
    let bound = (48.0 * core::f64::consts::LN_2).sqrt() as f32 * (1.0 + 4.0 * f32::EPSILON);
    for z in [simd_samples(3, 100_000), scalar_samples(3, 100_000)] {
        assert!(z.iter().all(|v| v.is_finite() && v.abs() <= bound));
    }
}

/// The documented angle of a word: index bits 1..=22 give `φ`, bit 30 swaps
/// (`π/2 − φ`), bit 31 adds `π`.
fn angle(b: u32) -> f64 {
    use core::f64::consts::{FRAC_PI_2, PI};
    let j = f64::from((b >> 1) & 0x3f_ffff);
    let phi = FRAC_PI_2 * ((j + 0.5) / 4_194_304.0 - 0.5);
    let theta = if b & (1 << 30) != 0 {
        FRAC_PI_2 - phi
    } else {
        phi
    };
    if b & (1 << 31) != 0 {
        theta + PI
    } else {
        theta
    }
}

/// Every output against Box–Muller computed in f64 with libm from the same words.
#[test]
fn fill_normal_matches_f64_box_muller_of_the_same_words() {
    let n = 100_000;
    let z = simd_samples(0x5eed_0003, n);
    let mut lanes = XoshiroLanes::seed_from_u64(0x5eed_0003);
    for (j, group) in z.chunks(16).enumerate() {
        let (a, b) = (lanes.next_block(), lanes.next_block());
        for (i, &got) in group.iter().enumerate() {
            let k = i % 8;
            let u1 = f64::from((a[k] >> 8) + 1) / 16_777_216.0;
            let theta = angle(b[k]);
            let r = (-2.0 * libm::log(u1)).sqrt();
            let want = if i < 8 {
                r * libm::cos(theta)
            } else {
                r * libm::sin(theta)
            };
            let tol = 4.0 * f64::from(f32::EPSILON) * want.abs() + 1e-7 * r;
            assert!(
                (f64::from(got) - want).abs() <= tol,
                "element {}: {got} vs {want}",
                16 * j + i
            );
        }
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore)]
fn fill_normal_with_honours_mean_and_std() {
    let (mean, std) = (3.0f32, 0.5f32);
    let mut rng = XoshiroLanes::seed_from_u64(0x5eed_0004);
    let mut x = vec![0.0f32; N];
    fill_normal_with(&mut rng, mean, std, &mut x).unwrap();
    check_mean_std("fill_normal_with", &x, mean, std);

    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0x5eed_0005);
    let mut normal = BoxMuller::new(mean, std).unwrap();
    let x: Vec<f32> = (0..N).map(|_| normal.sample(&mut rng)).collect();
    check_mean_std("BoxMuller", &x, mean, std);
}

fn check_mean_std(name: &str, x: &[f32], mean: f32, std: f32) {
    let n = x.len() as f64;
    let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let s = (x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let (mean, std) = (f64::from(mean), f64::from(std));
    assert!((m - mean).abs() < 5.0 * std / n.sqrt(), "{name}: mean {m}");
    assert!(
        (s - std).abs() < 5.0 * std / (2.0 * n).sqrt(),
        "{name}: std {s}"
    );
}

#[test]
fn zero_std_gives_the_mean_exactly() {
    let mut x = [0.0f32; 19];
    fill_normal_with(&mut XoshiroLanes::seed_from_u64(6), -2.5, 0.0, &mut x).unwrap();
    assert!(x.iter().all(|&v| v == -2.5));
    let mut normal = BoxMuller::new(7.0, 0.0).unwrap();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(6);
    assert!((0..9).all(|_| normal.sample(&mut rng) == 7.0));
}

#[test]
fn invalid_mean_or_std_is_an_error() {
    let mut x = [0.0f32; 4];
    let mut rng = XoshiroLanes::seed_from_u64(7);
    for (m, s) in [(f32::NAN, 1.0), (0.0, -1e-30), (0.0, f32::INFINITY)] {
        assert!(matches!(
            fill_normal_with(&mut rng, m, s, &mut x),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            BoxMuller::new(m, s),
            Err(Error::InvalidParameter { .. })
        ));
    }
}

#[test]
fn same_seed_same_bits_different_seed_differs() {
    let bits = |z: Vec<f32>| z.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(simd_samples(8, 1000)), bits(simd_samples(8, 1000)));
    assert_eq!(bits(scalar_samples(8, 1000)), bits(scalar_samples(8, 1000)));
    assert_ne!(bits(simd_samples(8, 1000)), bits(simd_samples(9, 1000)));
    assert_ne!(bits(scalar_samples(8, 1000)), bits(scalar_samples(9, 1000)));
}

#[test]
fn fill_normal_of_any_length_is_a_prefix_and_equals_the_scalar_twin() {
    let full = simd_samples(10, 200);
    for n in 0..=200 {
        let mut a = vec![0.0f32; n];
        let mut b = vec![0.0f32; n];
        fill_normal(&mut XoshiroLanes::seed_from_u64(10), &mut a);
        fill_normal_scalar(&mut XoshiroLanes::seed_from_u64(10), &mut b);
        assert_eq!(a, full[..n], "n = {n}");
        assert_eq!(a, b, "n = {n}");
    }
}

#[test]
fn fill_normal_calls_continue_the_stream_in_multiples_of_16() {
    let full = simd_samples(11, 96);
    let mut rng = XoshiroLanes::seed_from_u64(11);
    let mut parts = vec![0.0f32; 96];
    let (a, rest) = parts.split_at_mut(16);
    let (b, c) = rest.split_at_mut(48);
    fill_normal(&mut rng, a);
    fill_normal(&mut rng, b);
    fill_normal(&mut rng, c);
    assert_eq!(parts, full);
}

#[test]
fn xoshiro_lanes_are_jumped_rand_xoshiro_generators() {
    let seed = 0x5eed_0006;
    let mut lanes = XoshiroLanes::seed_from_u64(seed);
    let words: Vec<u32> = (0..8 * 1000).map(|_| lanes.next_u32()).collect();
    let mut lane = Xoshiro128PlusPlus::seed_from_u64(seed);
    for k in 0..8 {
        let mut g = lane.clone();
        for step in 0..1000 {
            assert_eq!(words[8 * step + k], g.next_u32(), "lane {k} step {step}");
        }
        lane.jump();
    }
    let mut from_seed = XoshiroLanes::from_seed([3; 16]);
    let mut reference = Xoshiro128PlusPlus::from_seed([3; 16]);
    assert_eq!(from_seed.next_block()[0], reference.next_u32());
}

fn keyed_samples(seed: u64, key: u64, n: usize) -> Vec<f32> {
    let mut z = vec![0.0f32; n];
    fill_normal(&mut XoshiroLanes::keyed(seed, key), &mut z);
    z
}

#[test]
#[cfg_attr(debug_assertions, ignore)]
fn keyed_lanes_pass_ks_moments_and_tails() {
    check_normal("keyed, one stream", &keyed_samples(0x5eed_0002, 5, N));
    // As weight noise uses them: short streams of consecutive keys
    // (key = 16·draw + layer), concatenated.
    let z: Vec<f32> = (0..N / 64)
        .flat_map(|k| keyed_samples(0x5eed_0003, k as u64, 64))
        .collect();
    check_normal("keyed, 64 per key", &z);
}

#[test]
#[cfg_attr(debug_assertions, ignore)]
fn keyed_lanes_of_different_keys_are_uncorrelated() {
    let seed = 0x5eed_0004;
    // Whole streams of neighbouring keys: same layer next draw (+16), next
    // layer (+1), far apart.
    for (ka, kb) in [(0, 1), (3, 19), (7, 7 + 16 * 1000)] {
        let a = keyed_samples(seed, ka, N / 4);
        let b = keyed_samples(seed, kb, N / 4);
        check_pairs(&format!("keys {ka}, {kb}"), &a, &b);
    }
    // The first values of consecutive keys (the ε of one weight in
    // consecutive layers or draws).
    let firsts: Vec<[f32; 2]> = (0..N as u64 / 4)
        .map(|k| {
            let z = keyed_samples(seed, k, 16);
            [z[0], z[8]]
        })
        .collect();
    let a: Vec<f32> = firsts.iter().map(|p| p[0]).collect();
    let b: Vec<f32> = a[1..].to_vec();
    check_pairs("first of key k, k + 1", &a[..a.len() - 1], &b);
    let c: Vec<f32> = firsts.iter().map(|p| p[1]).collect();
    check_pairs("lanes 0 and 8 of one key", &a, &c);
}

#[test]
fn box_muller_reset_discards_the_spare_and_reproduces_the_first_draws() {
    let mut normal = BoxMuller::new(0.5, 2.0).unwrap();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0x5eed_0005);
    let first: Vec<u32> = (0..3).map(|_| normal.sample(&mut rng).to_bits()).collect();
    // Three draws leave a spare normal behind; `reset` drops it, so with
    // the generator rewound the sampler repeats its first draws.
    normal.reset();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0x5eed_0005);
    let again: Vec<u32> = (0..3).map(|_| normal.sample(&mut rng).to_bits()).collect();
    assert_eq!(again, first);
    // Without the reset the spare would come first: a different value.
    let mut kept = BoxMuller::new(0.5, 2.0).unwrap();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0x5eed_0005);
    (0..3).for_each(|_| {
        kept.sample(&mut rng);
    });
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0x5eed_0005);
    assert_ne!(kept.sample(&mut rng).to_bits(), first[0]);
    // A fresh sampler (no spare) agrees with the reset one.
    let mut fresh = BoxMuller::new(0.5, 2.0).unwrap();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0x5eed_0005);
    assert_eq!(fresh.sample(&mut rng).to_bits(), first[0]);
}

/// Streaming statistics of many normals: raw moment sums, a binned CDF on
/// [−6, 6] (bins of 1/4096) and tail counts, so 10⁸ values need no sort.
struct Stats {
    n: f64,
    sums: [f64; 4],
    bins: Vec<u64>,
    tails: [u64; 4],
}

const BINS_PER_UNIT: f64 = 4096.0;

impl Stats {
    fn new() -> Self {
        Self {
            n: 0.0,
            sums: [0.0; 4],
            bins: vec![0; 12 * BINS_PER_UNIT as usize + 1],
            tails: [0; 4],
        }
    }

    fn add(&mut self, z: &[f32]) {
        let last = self.bins.len() - 1;
        let mut s = [0.0f64; 4];
        for &v in z {
            let x = f64::from(v);
            let x2 = x * x;
            s[0] += x;
            s[1] += x2;
            s[2] += x2 * x;
            s[3] += x2 * x2;
            // Bin i holds [−6 + i/4096, −6 + (i + 1)/4096); below −6 in bin 0.
            let i = ((x + 6.0) * BINS_PER_UNIT).max(0.0) as usize;
            self.bins[i.min(last)] += 1;
            let a = v.abs();
            for (t, c) in self.tails.iter_mut().enumerate() {
                *c += u64::from(a > (t + 2) as f32);
            }
        }
        for (t, v) in self.sums.iter_mut().zip(s) {
            *t += v;
        }
        self.n += z.len() as f64;
    }

    /// Largest |F_n(x) − Φ(x)| over the bin edges: a KS statistic on a grid,
    /// never above the full one, so its usual critical value is conservative.
    fn ks_on_edges(&self) -> f64 {
        let mut below = 0u64;
        let mut d = 0.0f64;
        for (i, c) in self.bins.iter().enumerate().take(self.bins.len() - 1) {
            below += c;
            let edge = -6.0 + (i + 1) as f64 / BINS_PER_UNIT;
            d = d.max((below as f64 / self.n - phi(edge)).abs());
        }
        d
    }

    /// Mean, variance, skewness and excess kurtosis, each with its standard
    /// error under N(0, 1): 1/√n, √(2/n), √(6/n), √(24/n).
    fn moments(&self) -> [(f64, f64, f64); 4] {
        let n = self.n;
        let [m1, m2, m3, m4] = self.sums.map(|s| s / n);
        let var = m2 - m1 * m1;
        let skew = (m3 - 3.0 * m1 * m2 + 2.0 * m1.powi(3)) / var.powf(1.5);
        let kurt = (m4 - 4.0 * m1 * m3 + 6.0 * m1 * m1 * m2 - 3.0 * m1.powi(4)) / (var * var) - 3.0;
        [
            (m1, 0.0, (1.0 / n).sqrt()),
            (var, 1.0, (2.0 / n).sqrt()),
            (skew, 0.0, (6.0 / n).sqrt()),
            (kurt, 0.0, (24.0 / n).sqrt()),
        ]
    }

    fn check(&self, name: &str) {
        let d = self.ks_on_edges();
        let limit = 1.95 / self.n.sqrt();
        println!(
            "{name}: n = {:.0e}, KS (on a 1/4096 grid) {d:.3e}, limit {limit:.3e}",
            self.n
        );
        assert!(d < limit, "{name}: KS {d:.3e} >= {limit:.3e}");
        for ((got, want, se), what) in
            self.moments()
                .into_iter()
                .zip(["mean", "variance", "skewness", "excess kurtosis"])
        {
            println!(
                "{name}: {what} {got:.6} (exact {want}, SE {se:.1e}, {:.2} SE)",
                (got - want) / se
            );
            assert!(
                (got - want).abs() < 5.0 * se,
                "{name}: {what} {got} vs {want} ± 5·{se:.1e}"
            );
        }
        for (t, &c) in self.tails.iter().enumerate() {
            let k = (t + 2) as f64;
            let p = libm::erfc(k / core::f64::consts::SQRT_2);
            let (want, se) = (self.n * p, (self.n * p * (1.0 - p)).sqrt());
            println!("{name}: beyond {k}σ {c} (exact {want:.1} ± {se:.1})");
            assert!(
                (c as f64 - want).abs() < 5.0 * se,
                "{name}: {c} beyond {k}σ, expected {want:.1} ± 5·{se:.1}"
            );
        }
    }
}

/// 10⁸ values of `fill_normal_fast` against N(0, 1): KS, moments, tails
/// beyond 2–5σ (release only; a few seconds).
#[test]
#[cfg_attr(debug_assertions, ignore)]
fn fill_normal_fast_is_normal_at_1e8() {
    let mut rng = XoshiroLanes::seed_from_u64(0x5eed_0008);
    let mut stats = Stats::new();
    let mut z = vec![0.0f32; 1 << 16];
    let total = 100_000_000usize;
    let mut done = 0;
    while done < total {
        let m = z.len().min(total - done);
        fill_normal_fast(&mut rng, &mut z[..m]);
        stats.add(&z[..m]);
        done += m;
    }
    stats.check("fill_normal_fast");
}

/// `fill_normal_fast` against Box–Muller in `f64` of the documented words:
/// lane `k` is rand_xoshiro's `Xoshiro128Plus` after `k` jumps.
#[test]
fn fill_normal_fast_matches_f64_box_muller_of_xoshiro128plus_words() {
    use rand_xoshiro::Xoshiro128Plus;
    let groups = 20_000;
    let mut z = vec![0.0f32; 16 * groups];
    fill_normal_fast(&mut XoshiroLanes::seed_from_u64(77), &mut z);
    let mut lanes: Vec<Xoshiro128Plus> = Vec::new();
    let mut g = Xoshiro128Plus::seed_from_u64(77);
    for _ in 0..8 {
        lanes.push(g.clone());
        g.jump();
    }
    let mut worst = 0.0f64;
    for j in 0..groups {
        let a: Vec<u32> = lanes.iter_mut().map(|l| l.next_u32()).collect();
        let b: Vec<u32> = lanes.iter_mut().map(|l| l.next_u32()).collect();
        for k in 0..8 {
            let u1 = f64::from((a[k] >> 8) + 1) / 16_777_216.0;
            let r = (-2.0 * u1.ln()).sqrt();
            let y = (f64::from((b[k] >> 9) & 0x3f_ffff) + 0.5) / 4_194_304.0 - 0.5;
            let theta = core::f64::consts::PI * (y + f64::from(b[k] >> 31));
            let (sin, cos) = theta.sin_cos();
            worst = worst
                .max((f64::from(z[16 * j + k]) - r * cos).abs())
                .max((f64::from(z[16 * j + 8 + k]) - r * sin).abs());
        }
    }
    // Documented bound 6.9e-6, plus the final product's rounding.
    assert!(worst < 7.2e-6, "{worst}");
}

#[test]
fn fill_normal_fast_of_any_length_is_a_prefix_and_matches_its_scalar_twin() {
    let mut long = [0.0f32; 80];
    fill_normal_fast(&mut XoshiroLanes::seed_from_u64(3), &mut long);
    for n in 0..80 {
        let (mut a, mut b) = ([0.0f32; 80], [0.0f32; 80]);
        let (mut ra, mut rb) = (
            XoshiroLanes::seed_from_u64(3),
            XoshiroLanes::seed_from_u64(3),
        );
        fill_normal_fast(&mut ra, &mut a[..n]);
        fill_normal_fast_scalar(&mut rb, &mut b[..n]);
        assert_eq!(ra, rb, "n = {n}");
        assert_eq!(a[..n], long[..n], "n = {n}");
        for (x, y) in a[..n].iter().zip(&b[..n]) {
            // Equal bits without FMA; with it the multiply-adds fuse.
            if cfg!(any(target_feature = "fma", target_arch = "aarch64")) {
                assert!((x - y).abs() < 1e-6, "n = {n}");
            } else {
                assert_eq!(x.to_bits(), y.to_bits(), "n = {n}");
            }
        }
    }
}
