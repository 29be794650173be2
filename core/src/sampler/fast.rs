//! `fill_normal_fast`: Box–Muller on the words of `fill_normal` with shorter,
//! division-free polynomials.

use super::fill_normal::fill;
use super::polynomials::{Lanes, fold_quarter, quarter_residual, split_uniform};
use super::xoshiro_lanes::XoshiroLanes;
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
// sin((π/2)·y) = y·(S0 + S1·y² + S2·y⁴), |y| ≤ ½: relative error 1.5e-6.
const S0: f32 = 1.570_794;
const S1: f32 = -6.457_98e-1;
const S2: f32 = 7.793_993e-2;
// cos((π/2)·y) = 1 + y²·(C0 + C1·y² + C2·y⁴), |y| ≤ ½: relative error 3.8e-8.
const C0: f32 = -1.233_697_7;
const C1: f32 = 2.536_032_2e-1;
const C2: f32 = -2.041_728_2e-2;

/// Fills `out` with standard normals like [`fill_normal`](crate::fill_normal),
/// from the same words, with cheaper and coarser arithmetic.
///
/// The stream, its consumption (`2·⌈n/16⌉` blocks), the layout and the
/// angle map are those of [`fill_normal`](crate::fill_normal); only the
/// functions differ: `−2 ln u1` is a degree-7 polynomial of the folded
/// mantissa (no division; relative error 1.1·10⁻⁶), `sin`/`cos` of the
/// quarter-turn residual have three terms each (1.5·10⁻⁶ and 3.8·10⁻⁸).
/// Over every possible input (tested exhaustively), `r` is within
/// 7.2·10⁻⁷ (relative) and `cos θ`, `sin θ` within 1.1·10⁻⁶ (absolute) of
/// the accurate ones, so each value is within `1.1·10⁻⁶·r + 5.4·10⁻⁷ ≤
/// 6.7·10⁻⁶` of what [`fill_normal`](crate::fill_normal) writes for the same
/// state: the same distribution up to that perturbation. The release test
/// `fill_normal_fast_is_normal_at_1e8` checks KS, moments and
/// tails on 10⁸ values.
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
/// use noisereg::{XoshiroLanes, fill_normal, fill_normal_fast};
/// use rand_core::SeedableRng;
///
/// let (mut fast, mut exact) = ([0.0f32; 100], [0.0f32; 100]);
/// fill_normal_fast(&mut XoshiroLanes::seed_from_u64(1), &mut fast);
/// fill_normal(&mut XoshiroLanes::seed_from_u64(1), &mut exact);
/// assert!(fast.iter().zip(&exact).all(|(f, e)| (f - e).abs() < 7e-6));
/// ```
#[inline]
pub fn fill_normal_fast(rng: &mut XoshiroLanes, out: &mut [f32]) {
    fill(rng, out, box_muller_pair_fast::<f32x8>, |z| z);
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
    let _ = rng.take_state(); // discard a partly read block
    for g in out.chunks_mut(2 * super::xoshiro_lanes::LANES) {
        let (a, b) = (rng.next_block(), rng.next_block());
        for (i, o) in g.iter_mut().enumerate() {
            let k = i % super::xoshiro_lanes::LANES;
            let (z0, z1) = box_muller_pair_fast::<f32>(a[k], b[k]);
            *o = if i < super::xoshiro_lanes::LANES {
                z0
            } else {
                z1
            };
        }
    }
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

/// Box–Muller from two raw words, the fast polynomials.
#[inline(always)]
pub(crate) fn box_muller_pair_fast<L: Lanes>(a: L::Bits, b: L::Bits) -> (L, L) {
    let r = minus_two_ln_uniform_fast::<L>(a).sqrt();
    let y = quarter_residual::<L>(b);
    let z = y * y;
    let sin = y * L::splat(S2)
        .mul_add(z, L::splat(S1))
        .mul_add(z, L::splat(S0));
    let cos = (L::splat(C2)
        .mul_add(z, L::splat(C1))
        .mul_add(z, L::splat(C0)))
    .mul_add(z, L::splat(1.0));
    let (c, s, sign) = fold_quarter::<L>(cos, sin, b);
    let r = L::from_bits(L::xor(L::to_bits(r), sign));
    (r * c, r * s)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::polynomials::{box_muller_pair, minus_two_ln_uniform};
    use super::*;

    /// Every one of the 2²⁴ values of `u1` and of the angle (release only):
    /// the fast `r` and `(cos θ, sin θ)` against the accurate ones.
    #[test]
    #[cfg_attr(debug_assertions, ignore)]
    fn fast_kernel_is_within_its_stated_error_of_the_accurate_one() {
        let (mut rel_r, mut abs_r, mut trig) = (0.0f64, 0.0f64, 0.0f64);
        for x in 0..1u32 << 24 {
            let a = x << 8;
            let fast = f64::from(minus_two_ln_uniform_fast::<f32>(a).sqrt());
            let acc = f64::from(minus_two_ln_uniform::<f32>(a).sqrt());
            abs_r = abs_r.max((fast - acc).abs());
            if acc > 0.0 {
                rel_r = rel_r.max((fast - acc).abs() / acc);
            }
            // u1 = 1 (r = 0) for the angle: the pair is then (cos θ, sin θ)·r
            // with r = 1 from a word whose u1 is e⁻¹ᐟ².
            let b = ((x & 0x3f_ffff) << 1) | ((x >> 22) << 30);
            let one = 0x9b45_9800; // u1 ≈ e^(−1/2): r ≈ 1
            let (fc, fs) = box_muller_pair_fast::<f32>(one, b);
            let (ac, as_) = box_muller_pair::<f32>(one, b);
            let rf = minus_two_ln_uniform_fast::<f32>(one).sqrt();
            let ra = minus_two_ln_uniform::<f32>(one).sqrt();
            let d = (f64::from(fc / rf) - f64::from(ac / ra))
                .abs()
                .max((f64::from(fs / rf) - f64::from(as_ / ra)).abs());
            trig = trig.max(d);
        }
        std::println!(
            "fast vs accurate: r relative {rel_r:.3e}, absolute {abs_r:.3e}; cos/sin absolute {trig:.3e}"
        );
        assert!(rel_r < 1.0e-6, "{rel_r}");
        assert!(trig < 1.2e-6, "{trig}");
        // |z_fast − z| ≤ r·trig + |Δr|·1 with r ≤ 5.78: within 1e-5.
        assert!(5.78 * trig + abs_r < 1.0e-5, "{}", 5.78 * trig + abs_r);
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
