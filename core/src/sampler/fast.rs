//! `fill_normal_fast`: Box–Muller with shorter, division-free polynomials on
//! xoshiro128+ words.

use super::fill_normal::fill_with;
use super::xoshiro_lanes::{LANES, XoshiroLanes, step_plus};
use crate::math::box_muller::{Lanes, split_uniform};
use wide::f32x8;

// −2·ln(1 + f) = f·(L0 + L1·f + … + L6·f⁶) on [√2/2 − 1, √2 − 1]: minimax,
// relative error 1.1e-6 (`coefficients.py fast`).
const L0: f32 = -2.000_002;
const L1: f32 = 1.000_022_3;
const L2: f32 = -6.662_901_6e-1;
const L3: f32 = 4.981_949e-1;
const L4: f32 = -4.099_266e-1;
const L5: f32 = 3.733_570_6e-1;
const L6: f32 = -2.379_220_1e-1;
/// −2·ln 2 rounded to `f32`.
const NEG_TWO_LN_2: f32 = -1.386_294_4;
// sin(πy) = y·(S0 + S1·y² + S2·y⁴ + S3·y⁶), |y| ≤ ½: relative error 9.4e-7.
const S0: f32 = 3.141_589_6;
const S1: f32 = -5.167_368;
const S2: f32 = 2.543_604_9;
const S3: f32 = -5.583_960_4e-1;
// cos(πy) = 1 + y²·(C0 + C1·y² + C2·y⁴ + C3·y⁶), |y| ≤ ½: absolute error 5.3e-8.
const C0: f32 = -4.934_795_4;
const C1: f32 = 4.058_451;
const C2: f32 = -1.332_093_8;
const C3: f32 = 2.200_806_6e-1;
/// Bits 9..=30 of a word shifted down to bits 1..=22: the half-turn residual.
const RESIDUAL_MASK: u32 = 0x007f_fffe;
/// Bits of 1.0 with the lowest mantissa bit set (`y` is never 0).
const HALF_STEP_ONE_BITS: u32 = 0x3f80_0001;

/// Fills `out` with standard normals `N(0, 1)`: a faster, coarser variant of
/// [`fill_normal`](crate::fill_normal) (Box–Muller, 16 values per two blocks).
///
/// # Differences from `fill_normal`
///
/// - Words: each lane's xoshiro128+ output `s0 + s3` (Blackman & Vigna's
///   generator for floating point: one add instead of the `++` scrambler's
///   five operations), on the same state and state transition, so lane `k`
///   is bit for bit rand_xoshiro's `Xoshiro128Plus` from lane `k`'s state.
///   Only the top 24 bits of each word are used (the low bits of `+` are
///   weak): `u1 = ((a >> 8) + 1)·2⁻²⁴` as in `fill_normal`, and the angle
///   `θ = π·y`, `y = (j + ½)·2⁻²² − ½` with `j = (b >> 9) & 0x3f_ffff`
///   (bits 9..=30), plus `π` when bit 31 of `b` is set (23 bits of angle).
/// - Functions: `−2 ln u1` is a degree-7 polynomial of the folded mantissa
///   (no division, relative error 1.1·10⁻⁶); `sin πy` and `cos πy` on
///   `|y| ≤ ½` are four-term polynomials (no quarter-turn fold).
///
/// Over every possible input (exhaustive release test), `r` is within
/// 6.6·10⁻⁷ (relative; 5.3·10⁻⁷ absolute) of `√(−2 ln u1)` and `cos θ`,
/// `sin θ` within 1.10·10⁻⁶ (absolute; 1.09·10⁻⁶ without FMA) of the exact
/// values, so each output is within `r·1.1·10⁻⁶ + 5.3·10⁻⁷ ≤ 6.9·10⁻⁶` of
/// exact Box–Muller of its uniforms; `fill_normal` is within
/// `5.77·8.7·10⁻⁸ + 1.03 ulp ≤ 1.0·10⁻⁶`, so the two differ by at most
/// 7.9·10⁻⁶ on the same uniforms. The release test
/// `fill_normal_fast_is_normal_at_1e8` checks KS, moments and tails beyond
/// 2–5σ on 10⁸ values. Tails: `|z| ≤ 5.77`, as for `fill_normal`.
///
/// Consumption and layout are those of `fill_normal`: `2·⌈n/16⌉` blocks
/// (after discarding a partly read block), `out[16j + k] = r_k·cos θ_k`,
/// `out[16j + 8 + k] = r_k·sin θ_k`, a fill of `n` values is a prefix of a
/// longer one. The stream differs from `fill_normal`'s (other words).
///
/// # Platform-specific behaviour
///
/// Polynomials use multiply-adds: fused (one rounding) where `f32x8` has FMA
/// (`-C target-cpu=x86-64-v3`), two roundings elsewhere. So the bits are the
/// same on the default `x86_64` build and Cortex-M (and equal to
/// [`fill_normal_fast_scalar`]), and differ in the last bits with FMA.
///
/// # Examples
///
/// ```
/// use noisereg::{XoshiroLanes, fill_normal_fast};
/// use rand_core::SeedableRng;
///
/// let mut z = [0.0f32; 1000];
/// fill_normal_fast(&mut XoshiroLanes::seed_from_u64(1), &mut z);
/// let mean = z.iter().sum::<f32>() / 1000.0;
/// assert!(mean.abs() < 0.2 && z.iter().all(|v| v.abs() < 5.8));
/// ```
#[inline]
pub fn fill_normal_fast(rng: &mut XoshiroLanes, out: &mut [f32]) {
    fill_with(rng, out, step_plus, box_muller_pair_fast::<f32x8>, |z| z);
}

/// Scalar twin of [`fill_normal_fast`]: the same stream and formulas, one
/// value at a time (the same bits without FMA); the test oracle.
///
/// # Examples
///
/// ```
/// use noisereg::{XoshiroLanes, fill_normal_fast, fill_normal_fast_scalar};
/// use rand_core::SeedableRng;
///
/// let (mut a, mut b) = ([0.0f32; 37], [0.0f32; 37]);
/// fill_normal_fast(&mut XoshiroLanes::seed_from_u64(5), &mut a);
/// fill_normal_fast_scalar(&mut XoshiroLanes::seed_from_u64(5), &mut b);
/// assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6));
/// ```
pub fn fill_normal_fast_scalar(rng: &mut XoshiroLanes, out: &mut [f32]) {
    if out.is_empty() {
        return;
    }
    let mut s = rng.take_state();
    for g in out.chunks_mut(2 * LANES) {
        let (a, b) = (step_plus(&mut s).to_array(), step_plus(&mut s).to_array());
        for (i, o) in g.iter_mut().enumerate() {
            let k = i % LANES;
            let (z0, z1) = box_muller_pair_fast::<f32>(a[k], b[k]);
            *o = if i < LANES { z0 } else { z1 };
        }
    }
    rng.put_state(s);
}

/// `−2·ln u1` for the `u1` of [`split_uniform`], without division.
#[inline(always)]
pub(crate) fn minus_two_ln_uniform_fast<L: Lanes>(a: L::Bits) -> L {
    let (k, f) = split_uniform::<L>(a);
    let p = L::splat(L6).mul_add(f, L::splat(L5));
    let p = p.mul_add(f, L::splat(L4));
    let p = p.mul_add(f, L::splat(L3));
    let p = p.mul_add(f, L::splat(L2));
    let p = p.mul_add(f, L::splat(L1));
    let p = p.mul_add(f, L::splat(L0));
    k.mul_add(L::splat(NEG_TWO_LN_2), f * p)
}

/// `(cos θ, sin θ)` for the angle of `b` (see [`fill_normal_fast`]).
#[inline(always)]
pub(crate) fn unit_vector_fast<L: Lanes>(b: L::Bits) -> (L, L) {
    let one_plus = L::from_bits(L::xor(
        L::and(L::shr::<8>(b), L::bits_splat(RESIDUAL_MASK)),
        L::bits_splat(HALF_STEP_ONE_BITS),
    ));
    let y = one_plus - L::splat(1.5);
    let z = y * y;
    let sin = y * L::splat(S3)
        .mul_add(z, L::splat(S2))
        .mul_add(z, L::splat(S1))
        .mul_add(z, L::splat(S0));
    let cos = L::splat(C3)
        .mul_add(z, L::splat(C2))
        .mul_add(z, L::splat(C1))
        .mul_add(z, L::splat(C0))
        .mul_add(z, L::splat(1.0));
    (cos, sin)
}

/// Box–Muller from two raw words, the fast polynomials.
#[inline(always)]
pub(crate) fn box_muller_pair_fast<L: Lanes>(a: L::Bits, b: L::Bits) -> (L, L) {
    let r = minus_two_ln_uniform_fast::<L>(a).sqrt();
    let (c, s) = unit_vector_fast::<L>(b);
    let sign = L::and(b, L::bits_splat(0x8000_0000));
    let r = L::from_bits(L::xor(L::to_bits(r), sign));
    (r * c, r * s)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use wide::u32x8;

    /// Every one of the 2²⁴ values of `u1` and the 2²³ angles (release
    /// only): `r` and `(cos θ, sin θ)` against `libm` in `f64`.
    #[test]
    #[cfg_attr(debug_assertions, ignore)]
    fn fast_kernel_is_within_its_stated_error_of_exact_box_muller() {
        let (mut rel_r, mut abs_r, mut trig) = (0.0f64, 0.0f64, 0.0f64);
        // Through `f32x8`, eight inputs at a time: the path the fill takes
        // (fused multiply-adds on FMA targets).
        for x0 in (0..1u32 << 24).step_by(8) {
            let a = u32x8::new(core::array::from_fn(|k| (x0 + k as u32) << 8));
            let got = minus_two_ln_uniform_fast::<f32x8>(a).sqrt().to_array();
            for (k, got) in got.into_iter().enumerate() {
                let u1 = f64::from(x0 + k as u32 + 1) / 16_777_216.0;
                let want = libm::sqrt(-2.0 * libm::log(u1));
                let got = f64::from(got);
                abs_r = abs_r.max((got - want).abs());
                if want > 0.0 {
                    rel_r = rel_r.max((got - want).abs() / want);
                }
            }
        }
        for i0 in (0..1u32 << 23).step_by(8) {
            let b = u32x8::new(core::array::from_fn(|k| (i0 + k as u32) << 9));
            let (c, s) = unit_vector_fast::<f32x8>(b);
            for (k, (c, s)) in c.to_array().into_iter().zip(s.to_array()).enumerate() {
                let b = b.to_array()[k];
                let j = f64::from((b >> 9) & 0x3f_ffff);
                let mut theta = core::f64::consts::PI * ((j + 0.5) / 4_194_304.0 - 0.5);
                if b >> 31 == 1 {
                    theta += core::f64::consts::PI;
                }
                let sign = if b >> 31 == 1 { -1.0 } else { 1.0 };
                let (ws, wc) = libm::sincos(theta);
                trig = trig
                    .max((sign * f64::from(c) - wc).abs())
                    .max((sign * f64::from(s) - ws).abs());
            }
        }
        std::println!(
            "fast: r relative {rel_r:.3e}, absolute {abs_r:.3e}; cos/sin absolute {trig:.3e}"
        );
        assert!(rel_r < 6.7e-7, "{rel_r}");
        assert!(abs_r < 5.4e-7, "{abs_r}");
        assert!(trig < 1.1e-6, "{trig}");
    }

    #[test]
    fn fast_kernel_endpoints() {
        assert_eq!(minus_two_ln_uniform_fast::<f32>(u32::MAX), 0.0);
        let top = f64::from(minus_two_ln_uniform_fast::<f32>(0));
        let want = 48.0 * core::f64::consts::LN_2;
        assert!((top - want).abs() < 1e-4, "{top} vs {want}");
    }

    #[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
    #[test]
    fn fast_simd_kernel_equals_scalar_kernel_bit_for_bit() {
        let mut rng = <XoshiroLanes as rand_core::SeedableRng>::seed_from_u64(21);
        for _ in 0..5000 {
            let (a, b) = (rng.next_block(), rng.next_block());
            let (z0, z1) = box_muller_pair_fast::<f32x8>(a.into(), b.into());
            for k in 0..8 {
                let (s0, s1) = box_muller_pair_fast::<f32>(a[k], b[k]);
                assert_eq!(z0.as_array()[k].to_bits(), s0.to_bits());
                assert_eq!(z1.as_array()[k].to_bits(), s1.to_bits());
            }
        }
    }
}
