//! Branch-free `exp` and `tanh` in plain `f32` arithmetic for the
//! activations: they vectorise over a layer's outputs, where `libm`'s scalar
//! routines cost more than the layer's matrix–vector product. Same bits on
//! every target (no fused operations). Coefficients: Chebyshev fits made
//! with mpmath (`chebyfit`, 40 digits) on the stated intervals.

/// `1.5·2²³`: adding and subtracting it rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;
const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` split so that `k·LN2_HI` is exact for `|k| < 512` (Cody–Waite).
const LN2_HI: f32 = 0.693_145_751_953_125;
const LN2_LO: f32 = 1.428_606_8e-6;
/// `(eʳ − 1 − r)/r²` on `|r| ≤ ln2/2`, degree 4 (fit error 6.5·10⁻⁸).
const EXP_Q: [f32; 5] = [
    0.001_392_617_6,
    0.008_363_173,
    0.041_666_555,
    0.166_665_77,
    0.5,
];
/// `(tanh x − x)/x³` as a polynomial in `x²` on `|x| ≤ 0.625`, degree 5
/// (fit error 1.6·10⁻⁹).
const TANH_P: [f32; 6] = [
    0.002_292_744_8,
    -0.008_343_945,
    0.021_768_918,
    -0.053_959_26,
    0.133_333_04,
    -0.333_333_33,
];
/// Below this `|x|` tanh uses the odd polynomial, above it `1 − 2/(e^{2|x|}+1)`.
const TANH_SPLIT: f32 = 0.625;

#[inline(always)]
fn horner<const N: usize>(c: &[f32; N], x: f32) -> f32 {
    c.iter().fold(0.0, |acc, &v| acc * x + v)
}

/// `eˣ` for `x` clamped to `[−87, 87]` (so `±∞` give finite values), within
/// 2 ulp; NaN propagates.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // Comparisons written so that NaN falls through unchanged.
    let x = if x > 87.0 {
        87.0
    } else if x < -87.0 {
        -87.0
    } else {
        x
    };
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

/// `tanh x` within 3 ulp; NaN propagates, `±∞` give `±1`.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let sign = x.to_bits() & 0x8000_0000;
    let ax = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let s = ax * ax;
    let small = ax + ax * s * horner(&TANH_P, s);
    let large = 1.0 - 2.0 / (exp(2.0 * ax) + 1.0);
    let t = if ax < TANH_SPLIT { small } else { large };
    f32::from_bits(t.to_bits() | sign)
}

/// The logistic function `1/(1 + e^{−x})`.
#[inline(always)]
pub(crate) fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
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
    fn tanh_is_within_three_ulp() {
        let e = max_ulp(tanh, libm::tanh, -10.0, 10.0);
        std::println!("tanh max error {e} ulp");
        assert!(e <= 3.0, "tanh: {e} ulp");
        let e = max_ulp(tanh, libm::tanh, -1e-3, 1e-3);
        assert!(e <= 3.0, "tanh near 0: {e} ulp");
        assert_eq!((tanh(f32::INFINITY), tanh(f32::NEG_INFINITY)), (1.0, -1.0));
        assert!(tanh(f32::NAN).is_nan() && exp(f32::NAN).is_nan());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn logistic_is_accurate() {
        let e = max_ulp(logistic, |x| 1.0 / (1.0 + libm::exp(-x)), -80.0, 80.0);
        assert!(e <= 4.0, "logistic: {e} ulp");
    }
}
