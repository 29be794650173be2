//! Box–Muller's logarithm, square root and sine/cosine on bounded inputs,
//! written once, generic over `f32` (scalar path) and `f32x8` (batch fill).
//!
//! Only `+ − × ÷ √` (each correctly rounded by IEEE 754) and integer bit
//! operations are used, never `mul_add`, so every target computes the same
//! bits. Coefficients are minimax fits made by `coefficients.py` (same folder).

use core::ops::{Add, Div, Mul, Sub};
use wide::{f32x8, i32x8, u32x8};

/// Arithmetic the kernel needs, for one value (`f32`) or eight (`f32x8`).
pub(crate) trait Lanes:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    /// Raw random words: `u32` or `u32x8`.
    type Bits: Copy;
    fn splat(v: f32) -> Self;
    fn sqrt(self) -> Self;
    fn to_bits(self) -> Self::Bits;
    fn from_bits(b: Self::Bits) -> Self;
    /// The words read as `i32`, converted to `f32` (rounded to nearest).
    fn from_signed(b: Self::Bits) -> Self;
    fn bits_splat(v: u32) -> Self::Bits;
    fn wrapping_add(a: Self::Bits, b: Self::Bits) -> Self::Bits;
    fn wrapping_sub(a: Self::Bits, b: Self::Bits) -> Self::Bits;
    fn and(a: Self::Bits, b: Self::Bits) -> Self::Bits;
    fn xor(a: Self::Bits, b: Self::Bits) -> Self::Bits;
    fn shl<const N: u32>(a: Self::Bits) -> Self::Bits;
    fn shr<const N: u32>(a: Self::Bits) -> Self::Bits;
    /// Arithmetic (sign-extending) right shift of the words read as `i32`.
    fn sar<const N: u32>(a: Self::Bits) -> Self::Bits;
    /// `self·m + a`: fused (one rounding) on `f32x8` where the target has
    /// FMA, two roundings otherwise and always on `f32`.
    fn mul_add(self, m: Self, a: Self) -> Self;
}

impl Lanes for f32 {
    type Bits = u32;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    #[inline(always)]
    fn to_bits(self) -> u32 {
        f32::to_bits(self)
    }
    #[inline(always)]
    fn from_bits(b: u32) -> Self {
        f32::from_bits(b)
    }
    #[inline(always)]
    fn from_signed(b: u32) -> Self {
        b.cast_signed() as f32
    }
    #[inline(always)]
    fn bits_splat(v: u32) -> u32 {
        v
    }
    #[inline(always)]
    fn wrapping_add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn wrapping_sub(a: u32, b: u32) -> u32 {
        a.wrapping_sub(b)
    }
    #[inline(always)]
    fn and(a: u32, b: u32) -> u32 {
        a & b
    }
    #[inline(always)]
    fn xor(a: u32, b: u32) -> u32 {
        a ^ b
    }
    #[inline(always)]
    fn shl<const N: u32>(a: u32) -> u32 {
        a << N
    }
    #[inline(always)]
    fn shr<const N: u32>(a: u32) -> u32 {
        a >> N
    }
    #[inline(always)]
    fn sar<const N: u32>(a: u32) -> u32 {
        (a.cast_signed() >> N).cast_unsigned()
    }
    #[inline(always)]
    fn mul_add(self, m: f32, a: f32) -> f32 {
        self * m + a
    }
}

impl Lanes for f32x8 {
    type Bits = u32x8;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        f32x8::splat(v)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        // wide's fallback without SIMD is a slow bit-by-bit f64 square root;
        // libm's is as exact (every correctly rounded sqrt gives the same bits).
        #[cfg(any(
            target_feature = "sse",
            target_feature = "simd128",
            all(target_feature = "neon", target_arch = "aarch64")
        ))]
        {
            f32x8::sqrt(self)
        }
        #[cfg(not(any(
            target_feature = "sse",
            target_feature = "simd128",
            all(target_feature = "neon", target_arch = "aarch64")
        )))]
        {
            f32x8::new(self.to_array().map(libm::sqrtf))
        }
    }
    #[inline(always)]
    fn to_bits(self) -> u32x8 {
        wide::bytemuck::cast(self)
    }
    #[inline(always)]
    fn from_bits(b: u32x8) -> Self {
        wide::bytemuck::cast(b)
    }
    #[inline(always)]
    fn from_signed(b: u32x8) -> Self {
        b.cast_signed().round_float()
    }
    #[inline(always)]
    fn bits_splat(v: u32) -> u32x8 {
        u32x8::splat(v)
    }
    #[inline(always)]
    fn wrapping_add(a: u32x8, b: u32x8) -> u32x8 {
        a + b
    }
    #[inline(always)]
    fn wrapping_sub(a: u32x8, b: u32x8) -> u32x8 {
        a - b
    }
    #[inline(always)]
    fn and(a: u32x8, b: u32x8) -> u32x8 {
        a & b
    }
    #[inline(always)]
    fn xor(a: u32x8, b: u32x8) -> u32x8 {
        a ^ b
    }
    #[inline(always)]
    fn shl<const N: u32>(a: u32x8) -> u32x8 {
        a.unbounded_shl_scalar(N)
    }
    #[inline(always)]
    fn shr<const N: u32>(a: u32x8) -> u32x8 {
        a.unbounded_shr_scalar(N)
    }
    #[inline(always)]
    fn sar<const N: u32>(a: u32x8) -> u32x8 {
        let s: i32x8 = a.cast_signed().unbounded_shr_scalar(N);
        s.cast_unsigned()
    }
    #[inline(always)]
    fn mul_add(self, m: f32x8, a: f32x8) -> f32x8 {
        #[cfg(target_feature = "fma")]
        {
            f32x8::mul_add(self, m, a)
        }
        #[cfg(not(target_feature = "fma"))]
        {
            self * m + a
        }
    }
}

// ln m = 2·atanh(s), s = (m − 1)/(m + 1) = f/(2 + f), |s| ≤ 3 − 2√2, with the
// minimax fit atanh(s) = s + s³·(c1 + c2·w + c3·w²), w = s² (relative error
// 8.0e-10). Since 2s = f − s·f exactly, −2·ln m = −2f + s·(2f + w·Q(w)) with
// Q = −4·(c1 + c2·w + c3·w²): the large term −2f is exact.
const Q0: f32 = -4.0 * 3.333_338_8e-1;
const Q1: f32 = -4.0 * 1.998_878_7e-1;
const Q2: f32 = -4.0 * 1.493_546_8e-1;
/// −2·ln 2 = `NEG_TWO_LN_2_HI + NEG_TWO_LN_2_LO`; the high part has 16
/// significant bits, so `k·NEG_TWO_LN_2_HI` is exact for `|k| ≤ 24`.
const NEG_TWO_LN_2_HI: f32 = -45_426.0 / 32_768.0;
const NEG_TWO_LN_2_LO: f32 = -2.857_213_6e-6;
/// Bits of √2/2 (rounded down): mantissas are folded into [√2/2, √2).
const SQRT_HALF_BITS: u32 = 0x3f35_04f3;

// With φ = (π/2)·y, |y| ≤ 1/2 (φ ≤ π/4), minimax fits in y (relative errors
// 3.8e-9 and 6.4e-11); y is exact, so no rounded 2π/2²⁴ enters the argument.
// sin φ = y·(S0 + z·(S1 + z·(S2 + z·S3))), z = y².
const S0: f32 = 1.570_796_4;
const S1: f32 = -6.459_635e-1;
const S2: f32 = 7.968_003e-2;
const S3: f32 = -4.601_658e-3;
// cos φ = 1 + z·(C0 + z·(C1 + z·(C2 + z·C3))).
const C0: f32 = -1.233_700_5;
const C1: f32 = 2.536_692_3e-1;
const C2: f32 = -2.086_016_5e-2;
const C3: f32 = 9.037_665_4e-4;

/// `−2·ln u1` for `u1 = ((a >> 8) + 1)·2⁻²⁴ ∈ [2⁻²⁴, 1]`, always in `[0, 33.28]`.
///
/// `x = (a >> 8) + 1` converts to `f32` exactly; its exponent field gives `k`
/// and its mantissa `m ∈ [√2/2, √2)` with `u1 = 2^k·m`, `−24 ≤ k ≤ 0`.
#[inline(always)]
pub(crate) fn minus_two_ln_uniform<L: Lanes>(a: L::Bits) -> L {
    let (k, f) = split_uniform::<L>(a);
    let s = f / (f + L::splat(2.0));
    let w = s * s;
    let q = ((L::splat(Q2) * w + L::splat(Q1)) * w + L::splat(Q0)) * w;
    let two_f = f + f;
    (k * L::splat(NEG_TWO_LN_2_HI) - two_f) + (s * (two_f + q) + k * L::splat(NEG_TWO_LN_2_LO))
}

/// `(k, f)` with `u1 = ((a >> 8) + 1)·2⁻²⁴ = 2^k·(1 + f)`, `1 + f ∈ [√2/2, √2)`,
/// both exact: `x = (a >> 8) + 1` converts to `f32` exactly, its exponent
/// field gives `k` and its mantissa, folded, `1 + f`.
#[inline(always)]
pub(crate) fn split_uniform<L: Lanes>(a: L::Bits) -> (L, L) {
    let one = L::bits_splat(1);
    let x = L::from_signed(L::wrapping_add(L::shr::<8>(a), one));
    // Subtracting √2/2's bits (and 24 from the exponent, for the 2⁻²⁴) leaves
    // k in the exponent field and the folded mantissa in the low 23 bits.
    let ix = L::wrapping_sub(L::to_bits(x), L::bits_splat(SQRT_HALF_BITS + (24 << 23)));
    let k = L::from_signed(L::sar::<23>(ix));
    let m_bits = L::wrapping_add(
        L::and(ix, L::bits_splat(0x007f_ffff)),
        L::bits_splat(SQRT_HALF_BITS),
    );
    (k, L::from_bits(m_bits) - L::splat(1.0))
}

/// `sin(πy/2)` for `|y| ≤ ½` (the polynomial of [`quarter_turn`]; within
/// 1.7 ulp plus the rounding of `y²`).
#[inline(always)]
pub(crate) fn sin_half_pi<L: Lanes>(y: L) -> L {
    let z = y * y;
    y * (((L::splat(S3) * z + L::splat(S2)) * z + L::splat(S1)) * z + L::splat(S0))
}

/// `cos(πy/2)` for `|y| ≤ ½` (the polynomial of [`quarter_turn`]).
#[inline(always)]
pub(crate) fn cos_half_pi<L: Lanes>(y: L) -> L {
    let z = y * y;
    (((L::splat(C3) * z + L::splat(C2)) * z + L::splat(C1)) * z + L::splat(C0)) * z + L::splat(1.0)
}

/// Bits of 1.0 with the lowest mantissa bit set: `y` below is never 0.
const HALF_STEP_ONE_BITS: u32 = 0x3f80_0001;
/// Bits 1..=22 of a word: the angle inside its quarter turn.
const RESIDUAL_MASK: u32 = 0x007f_fffe;

/// `(cos φ, sin φ)` and the angle's remaining bits, for [`box_muller_pair`].
///
/// The angle `θ = 2π·(i + ½)/2²⁴` takes a 24-bit index `i` from bits 1..=22,
/// 30 and 31 of `b` (a bijection, so `θ` is uniform on that grid): bits
/// 1..=22 give `φ = (π/2)·y` with `y = (j + ½)·2⁻²² − ½ ∈ (−½, ½)`, exact,
/// built by putting `j` in a mantissa; `(cos θ, sin θ)` is `(cos φ, sin φ)`,
/// swapped when bit 30 is set (`θ = π/2 − φ`), negated when bit 31 is set
/// (`θ + π`). Returned: the pair after the swap, and bit 31 as a sign mask.
#[inline(always)]
fn quarter_turn<L: Lanes>(b: L::Bits) -> (L, L, L::Bits) {
    let y = quarter_residual::<L>(b);
    fold_quarter::<L>(cos_half_pi(y), sin_half_pi(y), b)
}

/// `y ∈ (−½, ½)` of [`quarter_turn`], exact: bits 1..=22 of `b` put in a mantissa.
#[inline(always)]
pub(crate) fn quarter_residual<L: Lanes>(b: L::Bits) -> L {
    let one_plus = L::from_bits(L::xor(
        L::and(b, L::bits_splat(RESIDUAL_MASK)),
        L::bits_splat(HALF_STEP_ONE_BITS),
    ));
    one_plus - L::splat(1.5)
}

/// [`quarter_turn`]'s folding of `(cos φ, sin φ)` by bits 30 and 31 of `b`.
#[inline(always)]
pub(crate) fn fold_quarter<L: Lanes>(cos: L, sin: L, b: L::Bits) -> (L, L, L::Bits) {
    let swap = L::sar::<31>(L::shl::<1>(b));
    let (sb, cb) = (L::to_bits(sin), L::to_bits(cos));
    let d = L::and(L::xor(sb, cb), swap);
    let sign = L::and(b, L::bits_splat(0x8000_0000));
    (
        L::from_bits(L::xor(cb, d)),
        L::from_bits(L::xor(sb, d)),
        sign,
    )
}

/// `(cos θ, sin θ)` for the angle `θ` that [`quarter_turn`] reads from `b`.
#[cfg(test)]
fn unit_vector<L: Lanes>(b: L::Bits) -> (L, L) {
    let (c, s, sign) = quarter_turn::<L>(b);
    (
        L::from_bits(L::xor(L::to_bits(c), sign)),
        L::from_bits(L::xor(L::to_bits(s), sign)),
    )
}

/// Box–Muller: two standard normals `(r·cos θ, r·sin θ)` from two raw words.
#[inline(always)]
pub(crate) fn box_muller_pair<L: Lanes>(a: L::Bits, b: L::Bits) -> (L, L) {
    let r = minus_two_ln_uniform::<L>(a).sqrt();
    let (c, s, sign) = quarter_turn::<L>(b);
    let r = L::from_bits(L::xor(L::to_bits(r), sign));
    (r * c, r * s)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// Error of `got` in ulps of the binade of the exact value `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let (_, e) = libm::frexp(want);
        let ulp = libm::ldexp(1.0, (e - 24).max(-149));
        (got as f64 - want).abs() / ulp
    }

    fn u1(a: u32) -> f64 {
        ((a >> 8) + 1) as f64 / 16_777_216.0
    }

    /// The word whose angle index (see `quarter_turn`) is `i < 2²⁴`.
    fn word_of_index(i: u32) -> u32 {
        ((i & 0x3f_ffff) << 1) | ((i >> 22) << 30)
    }

    /// `(cos θ, sin θ)` in f64 from the documented angle of `b`.
    fn unit_vector_reference(b: u32) -> (f64, f64) {
        use core::f64::consts::{FRAC_PI_2, PI};
        let j = f64::from((b >> 1) & 0x3f_ffff);
        let phi = FRAC_PI_2 * ((j + 0.5) / 4_194_304.0 - 0.5);
        let mut theta = if b & (1 << 30) != 0 {
            FRAC_PI_2 - phi
        } else {
            phi
        };
        if b & (1 << 31) != 0 {
            theta += PI;
        }
        let (s, c) = libm::sincos(theta);
        (c, s)
    }

    #[test]
    fn minus_two_ln_uniform_endpoints_are_exact() {
        assert_eq!(minus_two_ln_uniform::<f32>(u32::MAX), 0.0);
        let top = minus_two_ln_uniform::<f32>(0) as f64;
        let want = 48.0 * core::f64::consts::LN_2;
        assert!((top - want).abs() < 4e-6, "{top} vs {want}");
    }

    #[test]
    fn unit_vector_folds_quarter_turns() {
        // Bits 1..=22 all set: y just below ½, φ just below π/4.
        let c = libm::cosf(core::f32::consts::FRAC_PI_4);
        for (bits, (x, y)) in [
            (0u32, (1.0, 1.0)),
            (1, (1.0, 1.0)),
            (2, (-1.0, -1.0)),
            (3, (-1.0, -1.0)),
        ] {
            let (cos, sin) = unit_vector::<f32>((bits << 30) | RESIDUAL_MASK);
            assert!(
                (cos - x * c).abs() < 1e-6 && (sin - y * c).abs() < 1e-6,
                "{bits}: {cos} {sin}"
            );
        }
        // Bits 1..=22 clear: φ just above −π/4.
        let (cos, sin) = unit_vector::<f32>(1 << 30);
        assert!(
            (cos + c).abs() < 1e-6 && (sin - c).abs() < 1e-6,
            "{cos} {sin}"
        );
    }

    /// Every one of the 2²⁴ values of `u1` (release only: ~0.2 s).
    #[test]
    #[cfg_attr(debug_assertions, ignore)]
    fn minus_two_ln_uniform_max_error_is_under_1_ulp() {
        let mut worst = (0.0f64, 0u32);
        let mut worst_r = 0.0f64;
        for x in 0..1u32 << 24 {
            let a = x << 8;
            let want = -2.0 * libm::log(u1(a));
            let got = minus_two_ln_uniform::<f32>(a);
            let e = ulps(got, want);
            if e > worst.0 {
                worst = (e, x);
            }
            worst_r = worst_r.max(ulps(libm::sqrtf(got), libm::sqrt(want)));
        }
        std::println!(
            "max error: -2 ln u1 {:.3} ulp (x = {}), r {:.3} ulp",
            worst.0,
            worst.1,
            worst_r
        );
        assert!(worst.0 < 1.0, "{worst:?}");
        assert!(worst_r < 1.05, "{worst_r}");
    }

    /// Every one of the 2²⁴ angles (release only: ~0.4 s). Errors are
    /// measured in ulps of the exact value's binade, and absolutely.
    #[test]
    #[cfg_attr(debug_assertions, ignore)]
    fn unit_vector_max_error_is_under_1_75_ulp() {
        let (mut wc, mut ws, mut abs) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..1u32 << 24 {
            let b = word_of_index(i);
            let (c, s) = unit_vector::<f32>(b);
            let (tc, ts) = unit_vector_reference(b);
            wc = wc.max(ulps(c, tc));
            ws = ws.max(ulps(s, ts));
            abs = abs.max((c as f64 - tc).abs()).max((s as f64 - ts).abs());
        }
        std::println!("max error: cos {wc:.3} ulp, sin {ws:.3} ulp, absolute {abs:.3e}");
        assert!(ws < 1.75 && wc < 1.75, "sin {ws} cos {wc}");
        assert!(abs < 9e-8, "{abs}");
    }

    #[test]
    fn half_pi_sin_cos_match_libm_on_their_range() {
        for i in -1000..=1000 {
            let y = i as f32 / 2000.0;
            let phi = core::f64::consts::FRAC_PI_2 * f64::from(y);
            assert!(
                (f64::from(sin_half_pi::<f32>(y)) - libm::sin(phi)).abs() < 1.2e-7,
                "{y}"
            );
            assert!(
                (f64::from(cos_half_pi::<f32>(y)) - libm::cos(phi)).abs() < 1.2e-7,
                "{y}"
            );
        }
    }

    #[test]
    fn simd_kernel_equals_scalar_kernel_bit_for_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut word = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 32) as u32
        };
        for i in 0..20_000 {
            let mut a: [u32; 8] = core::array::from_fn(|_| word());
            let b: [u32; 8] = core::array::from_fn(|_| word());
            if i == 0 {
                a = [0, u32::MAX, 255, 256, 1 << 31, 0xb504_f300, 0xb504_f200, 7];
            }
            let (z0, z1) = box_muller_pair::<f32x8>(u32x8::new(a), u32x8::new(b));
            let (z0, z1) = (z0.to_array(), z1.to_array());
            for k in 0..8 {
                let (s0, s1) = box_muller_pair::<f32>(a[k], b[k]);
                assert_eq!(
                    (z0[k].to_bits(), z1[k].to_bits()),
                    (s0.to_bits(), s1.to_bits())
                );
            }
        }
    }
}
