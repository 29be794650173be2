//! Branch-free `exp` and `tanh` in plain `f32` arithmetic for the
//! activations: they vectorise over a layer's outputs, where `libm`'s scalar
//! routines cost more than the layer's matrix–vector product. Same bits on
//! every target (no fused operations). Coefficients: fits made with mpmath
//! (`chebyfit`, and a reweighted rational least-squares fit) on the stated
//! intervals.

/// `1.5·2²³`: adding and subtracting it rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;
const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` split so that `k·LN2_HI` is exact for `|k| < 512` (Cody–Waite).
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// `(eʳ − 1 − r)/r²` on `|r| ≤ ln2/2`, degree 4 (fit error 6.5·10⁻⁸).
const EXP_Q: [f32; 5] = [
    0.001_392_617_6,
    0.008_363_173,
    0.041_666_555,
    0.166_665_77,
    0.5,
];
/// `tanh x ≈ x·P(x²)/Q(x²)` on `|x| ≤ 9` (beyond, `tanh` rounds to `±1`):
/// a rational least-squares fit of the relative error, reweighted towards its
/// maximum (Lawson), max relative error 1.6·10⁻⁸ before rounding. Highest
/// degree first.
const TANH_P: [f32; 7] = [
    -7.484_968e-14,
    4.859_984_4e-11,
    -1.930_402_4e-8,
    1.091_681_4e-5,
    3.080_676_3e-3,
    0.130_630_12,
    0.999_999_99,
];
const TANH_Q: [f32; 4] = [2.512_579e-4, 0.024_401_967, 0.463_963_33, 1.0];
/// Inputs are clamped to `±TANH_CLAMP`.
const TANH_CLAMP: f32 = 9.0;

#[inline(always)]
fn horner<const N: usize>(c: &[f32; N], x: f32) -> f32 {
    c.iter().fold(0.0, |acc, &v| acc * x + v)
}

/// `eˣ` for `x` clamped to `[−87, 87]` (so `±∞` give finite values), within
/// 2 ulp; NaN propagates.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // `clamp` keeps NaN.
    let x = x.clamp(-87.0, 87.0);
    let shifted = x * LOG2_E + ROUND;
    let k = shifted - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let er = 1.0 + (r + r * r * horner(&EXP_Q, r));
    // 2^k from the low bits of `shifted` (= ROUND's bits + k): integer
    // operations only, so the loop stays vectorised. NaN: `er` is NaN.
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    er * f32::from_bits(biased << 23)
}

/// `tanh x` within 6 ulp (measured 5.5); NaN propagates, `±∞` give `±1`.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP); // keeps NaN
    let s = x * x;
    // Estrin's scheme: a shallower dependency chain than Horner, so several
    // vectors of a layer overlap in the pipeline.
    let [p6, p5, p4, p3, p2, p1, p0] = TANH_P;
    let [q3, q2, q1, q0] = TANH_Q;
    let s2 = s * s;
    let s4 = s2 * s2;
    let p = ((p0 + p1 * s) + s2 * (p2 + p3 * s)) + s4 * ((p4 + p5 * s) + s2 * p6);
    let q = (q0 + q1 * s) + s2 * (q2 + q3 * s);
    let r = (x * p) / q;
    // At the clamp the true value rounds to ±1 (it does from |x| ≈ 8.7 on),
    // and rounding must not push the fit past ±1. The fit gives at least 1
    // at ±TANH_CLAMP (tested), so capping `r` alone is enough: written as
    // `minps`/`maxps` operand order, NaN and −0 fall through.
    let r = if r > 1.0 { 1.0 } else { r };
    if r < -1.0 { -1.0 } else { r }
}

/// The logistic function `1/(1 + e^{−x})`.
#[inline(always)]
pub(crate) fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Correctly rounded `√x`. Under SSE it is the hardware instruction through
/// `wide`, which the compiler VEX-encodes in AVX builds; `libm::sqrtf` is an
/// inline-assembly legacy `sqrtss`, which after 256-bit AVX code costs an
/// SSE/AVX transition (on this Intel machine it tripled the x86-64-v3 cost
/// of local reparameterisation). Elsewhere `libm::sqrtf`. Same bits either way.
#[inline(always)]
pub(crate) fn sqrt(x: f32) -> f32 {
    #[cfg(target_feature = "sse")]
    {
        let [r, ..] = wide::f32x4::splat(x).sqrt().to_array();
        r
    }
    #[cfg(not(target_feature = "sse"))]
    {
        libm::sqrtf(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    /// Max error in units of the f32 spacing at the true value.
    fn max_ulp(f: impl Fn(f32) -> f32, g: impl Fn(f64) -> f64, lo: f32, hi: f32) -> f64 {
        let n = 200_000;
        let mut worst = 0.0f64;
        for i in 0..=n {
            let x = lo + (hi - lo) * (i as f32 / n as f32);
            let want = g(x as f64);
            let ulp = (want.abs() as f32).max(f32::MIN_POSITIVE);
            let ulp = f32::from_bits(ulp.to_bits() + 1) - ulp;
            worst = worst.max((f(x) as f64 - want).abs() / ulp as f64);
        }
        worst
    }

    #[test]
    fn exp_is_within_two_ulp() {
        let e = max_ulp(exp, libm::exp, -87.0, 87.0);
        assert!(e <= 2.0, "exp: {e} ulp");
    }

    #[test]
    fn tanh_is_within_six_ulp() {
        let e = max_ulp(tanh, libm::tanh, -10.0, 10.0);
        std::println!("tanh max error {e} ulp");
        assert!(e <= 6.0, "tanh: {e} ulp");
        let e = max_ulp(tanh, libm::tanh, -1e-3, 1e-3);
        assert!(e <= 2.0, "tanh near 0: {e} ulp");
        assert_eq!((tanh(f32::INFINITY), tanh(f32::NEG_INFINITY)), (1.0, -1.0));
        assert!(tanh(f32::NAN).is_nan() && exp(f32::NAN).is_nan());
        let mut x = 0.0f32;
        while x < 20.0 {
            assert!(tanh(x) <= 1.0 && tanh(-x) >= -1.0, "|tanh({x})| > 1");
            x += 1e-3;
        }
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    /// The previous form, which also tested `x` against the clamp.
    fn tanh_with_clamp_tests(x: f32) -> f32 {
        let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
        let s = x * x;
        let [p6, p5, p4, p3, p2, p1, p0] = TANH_P;
        let [q3, q2, q1, q0] = TANH_Q;
        let (s2, s4) = (s * s, s * s * (s * s));
        let p = ((p0 + p1 * s) + s2 * (p2 + p3 * s)) + s4 * ((p4 + p5 * s) + s2 * p6);
        let q = (q0 + q1 * s) + s2 * (q2 + q3 * s);
        let r = (x * p) / q;
        let r = if (x >= TANH_CLAMP) | (r > 1.0) {
            1.0
        } else {
            r
        };
        if (x <= -TANH_CLAMP) | (r < -1.0) {
            -1.0
        } else {
            r
        }
    }

    #[test]
    fn tanh_caps_without_testing_the_clamp_bit_for_bit() {
        // The two differ at most where `x` reaches the clamp: every f32 with
        // 8.5 ≤ |x| ≤ 10, a stride through the rest, ±∞.
        let mut bits = 0u32;
        while bits < 0x7f80_0000 {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                assert_eq!(tanh(x).to_bits(), tanh_with_clamp_tests(x).to_bits(), "{x}");
            }
            let near = (0x4108_0000..0x4120_0000).contains(&bits);
            bits += if near { 1 } else { 7919 };
        }
        for x in [f32::INFINITY, f32::NEG_INFINITY, TANH_CLAMP, -TANH_CLAMP] {
            assert_eq!(tanh(x).to_bits(), tanh_with_clamp_tests(x).to_bits(), "{x}");
        }
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn logistic_is_accurate() {
        let e = max_ulp(logistic, |x| 1.0 / (1.0 + libm::exp(-x)), -80.0, 80.0);
        assert!(e <= 4.0, "logistic: {e} ulp");
    }

    #[test]
    fn sqrt_is_libm_bit_for_bit() {
        let mut x = 1.0e-30f32;
        while x < 1.0e30 {
            for v in [x, x * 1.000_001, x * 1.7] {
                assert_eq!(super::sqrt(v).to_bits(), libm::sqrtf(v).to_bits(), "{v}");
            }
            x *= 1.37;
        }
        assert_eq!(super::sqrt(0.0), 0.0);
        assert!(super::sqrt(-1.0).is_nan());
    }
}
