use super::box_muller::check_mean_std;
use super::xoshiro_lanes::{LANES, XoshiroLanes, step};
use crate::error::Error;
use crate::math::box_muller::box_muller_pair;
use wide::{f32x8, u32x8};

/// Normals produced by one pair of blocks (16 uniforms).
pub(crate) const GROUP: usize = 2 * LANES;

/// Fills `out` with standard normals `N(0, 1)`, vectorised (Box–Muller).
///
/// Works in groups of 16: two blocks of [`XoshiroLanes`] (block `a` gives
/// `u1` and block `b` the angle `θ` for each lane `k`) become
/// `out[16j + k] = r_k·cos θ_k` and `out[16j + 8 + k] = r_k·sin θ_k`.
/// A last partial group is computed in full and its first `out.len() % 16`
/// values kept, so a call consumes exactly `2·⌈n/16⌉` blocks
/// (`16·⌈n/16⌉` words, none for an empty `out`) after discarding the unread
/// words of a block partly read through `next_u32`. Filling `n` values
/// therefore equals the first `n` values of a longer fill from the same state;
/// two calls continue the stream only when the first length is a multiple of 16.
///
/// # Algorithm and accuracy
///
/// Box & Muller (1958): `r = √(−2 ln u1)`, `(z0, z1) = (r·cos θ, r·sin θ)`.
/// `ln` is an exponent split plus a short `atanh` polynomial on the mantissa;
/// `cos`/`sin` are short polynomials on `|φ| ≤ π/4`, folded by two angle bits.
/// Maximum errors over all 2²⁴ possible inputs (tested exhaustively): `r`
/// 1.03 ulp, `cos θ`/`sin θ` 1.71 ulp. No fused multiply-add anywhere.
///
/// # Uniforms
///
/// Lane `k` of block `a` gives `u1 = ((a >> 8) + 1)·2⁻²⁴`; lane `k` of block
/// `b` gives the angle `θ = φ` for `φ = (π/2)·((j + ½)·2⁻²² − ½)`,
/// `j = (b >> 1) & 0x3f_ffff`, replaced by `π/2 − φ` when bit 30 of `b` is set
/// and increased by `π` when bit 31 is set. Bits 0 and 23..=29 are unused.
///
/// Tails: `|z| ≤ √(48 ln 2) ≈ 5.77` (24-bit `u1`); the cut-off mass beyond is
/// ≈ 8·10⁻⁹.
///
/// # Platform-specific behaviour
///
/// Only correctly rounded `+ − × ÷ √` and bit operations, never `mul_add`:
/// the same bits as [`fill_normal_scalar`] and [`BoxMuller`](crate::BoxMuller)'s
/// formulas on the default `x86_64` build, `x86-64-v3` (AVX2/FMA) builds and
/// Cortex-M, where `wide`'s `f32x8` is eight scalar lanes.
///
/// # Examples
///
/// ```
/// use noisereg::{XoshiroLanes, fill_normal};
/// use rand_core::SeedableRng;
///
/// let mut rng = XoshiroLanes::seed_from_u64(1);
/// let mut z = [0.0f32; 1000];
/// fill_normal(&mut rng, &mut z);
/// let mean = z.iter().sum::<f32>() / 1000.0;
/// assert!(mean.abs() < 0.2 && z.iter().all(|v| v.abs() < 5.8));
/// ```
#[inline]
pub fn fill_normal(rng: &mut XoshiroLanes, out: &mut [f32]) {
    fill(rng, out, group_kernel, |z| z);
}

/// Fills `out` with normals `N(mean, std²)`: `mean + std·z` for the `z` that
/// [`fill_normal`] would write (same stream, same consumption).
///
/// # Errors
///
/// [`Error::InvalidParameter`] if `mean` is not finite or `std` is not finite
/// and `≥ 0`; then neither `out` nor `rng` is touched.
///
/// # Examples
///
/// ```
/// use noisereg::{XoshiroLanes, fill_normal_with};
/// use rand_core::SeedableRng;
///
/// let mut rng = XoshiroLanes::seed_from_u64(2);
/// let mut w = [0.0f32; 64];
/// fill_normal_with(&mut rng, 10.0, 0.01, &mut w)?;
/// assert!(w.iter().all(|v| (v - 10.0).abs() < 0.06));
/// assert!(fill_normal_with(&mut rng, 0.0, -1.0, &mut w).is_err());
/// # Ok::<(), noisereg::Error>(())
/// ```
#[inline]
pub fn fill_normal_with(
    rng: &mut XoshiroLanes,
    mean: f32,
    std: f32,
    out: &mut [f32],
) -> Result<(), Error> {
    check_mean_std(mean, std)?;
    let (m, s) = (f32x8::splat(mean), f32x8::splat(std));
    fill(rng, out, group_kernel, |z| m + s * z);
    Ok(())
}

/// The batch loop: state in registers, 32 normals per iteration, then at
/// most two groups of 16 (the last one possibly partial).
#[inline(always)]
fn fill(
    rng: &mut XoshiroLanes,
    out: &mut [f32],
    kernel: impl Fn(u32x8, u32x8) -> (f32x8, f32x8),
    map: impl Fn(f32x8) -> f32x8,
) {
    fill_with(rng, out, step, kernel, map);
}

/// [`fill`] with the generator step `next` in place of xoshiro128++'s.
#[inline(always)]
pub(crate) fn fill_with(
    rng: &mut XoshiroLanes,
    out: &mut [f32],
    next: impl Fn(&mut [u32x8; 4]) -> u32x8,
    kernel: impl Fn(u32x8, u32x8) -> (f32x8, f32x8),
    map: impl Fn(f32x8) -> f32x8,
) {
    if out.is_empty() {
        return;
    }
    let mut s = rng.take_state();
    fill_state(&mut s, out, next, kernel, map);
    rng.put_state(s);
}

/// [`fill_normal`] on a bare lane state (for streams that keep it compact).
#[inline]
pub(crate) fn fill_normal_state(s: &mut [u32x8; 4], out: &mut [f32]) {
    fill_state(s, out, step, group_kernel, |z| z);
}

/// The loop of [`fill`] on a lane state held by the caller; `kernel` maps
/// blocks `a`, `b` to the group's two halves.
#[inline(always)]
fn fill_state(
    state: &mut [u32x8; 4],
    out: &mut [f32],
    step: impl Fn(&mut [u32x8; 4]) -> u32x8,
    kernel: impl Fn(u32x8, u32x8) -> (f32x8, f32x8),
    map: impl Fn(f32x8) -> f32x8,
) {
    // A local copy stays in registers through the loop.
    let mut st = *state;
    let s = &mut st;
    let group = |s: &mut [u32x8; 4]| {
        let a = step(s);
        let b = step(s);
        let (z0, z1) = kernel(a, b);
        (map(z0), map(z1))
    };
    if !SIMD {
        // Eight scalar lanes: one group at a time, one copy of the kernel.
        for g in out.chunks_mut(GROUP) {
            let (z0, z1) = group(s);
            store(g, z0, z1);
        }
        *state = st;
        return;
    }
    // Two groups per iteration: their dependency chains (÷, √) interleave.
    let (pairs, rest) = out.as_chunks_mut::<{ 2 * GROUP }>();
    for g in pairs {
        let (a0, b0) = (step(s), step(s));
        let (a1, b1) = (step(s), step(s));
        let (z0, z1) = kernel(a0, b0);
        let (z2, z3) = kernel(a1, b1);
        let (lo, hi) = g.split_at_mut(GROUP);
        store(lo, map(z0), map(z1));
        store(hi, map(z2), map(z3));
    }
    for g in rest.chunks_mut(GROUP) {
        let (z0, z1) = group(s);
        store(g, z0, z1);
    }
    *state = st;
}

/// Whether `wide` has a SIMD back end here (as in `Lanes::sqrt`); without
/// one `f32x8` is eight scalars and unrolling only costs flash.
const SIMD: bool = cfg!(any(
    target_feature = "sse",
    target_feature = "simd128",
    all(target_feature = "neon", target_arch = "aarch64")
));

/// One group's Box–Muller pair: vectorised with SIMD, otherwise the scalar
/// kernel lane by lane (the same bits; see the polynomials' tests), kept out
/// of line so a device's flash holds one copy.
#[inline(always)]
fn group_kernel(a: u32x8, b: u32x8) -> (f32x8, f32x8) {
    if SIMD {
        box_muller_pair::<f32x8>(a, b)
    } else {
        group_scalar(a.to_array(), b.to_array())
    }
}

/// [`box_muller_pair`] of each lane, scalar.
#[inline(never)]
fn group_scalar(a: [u32; LANES], b: [u32; LANES]) -> (f32x8, f32x8) {
    let (mut z0, mut z1) = ([0.0f32; LANES], [0.0f32; LANES]);
    for (((z0, z1), &a), &b) in z0.iter_mut().zip(z1.iter_mut()).zip(&a).zip(&b) {
        (*z0, *z1) = box_muller_pair::<f32>(a, b);
    }
    (f32x8::new(z0), f32x8::new(z1))
}

/// Writes one group (or the first `g.len() < 16` values of it): the
/// cosine half, then the sine half.
#[inline(always)]
fn store(g: &mut [f32], z0: f32x8, z1: f32x8) {
    let (lo, hi) = g.split_at_mut(LANES.min(g.len()));
    for (o, z) in lo.iter_mut().zip(z0.as_array()) {
        *o = *z;
    }
    for (o, z) in hi.iter_mut().zip(z1.as_array()) {
        *o = *z;
    }
}

/// Scalar twin of [`fill_normal`]: the same stream and formulas, one value at
/// a time (the same bits); the test oracle.
///
/// # Examples
///
/// ```
/// use noisereg::{XoshiroLanes, fill_normal, fill_normal_scalar};
/// use rand_core::SeedableRng;
///
/// let (mut a, mut b) = ([0.0f32; 37], [0.0f32; 37]);
/// fill_normal(&mut XoshiroLanes::seed_from_u64(5), &mut a);
/// fill_normal_scalar(&mut XoshiroLanes::seed_from_u64(5), &mut b);
/// assert_eq!(a, b);
/// ```
pub fn fill_normal_scalar(rng: &mut XoshiroLanes, out: &mut [f32]) {
    if out.is_empty() {
        return;
    }
    let _ = rng.take_state(); // discard a partly read block
    for g in out.chunks_mut(GROUP) {
        let (a, b) = (rng.next_block(), rng.next_block());
        for (i, o) in g.iter_mut().enumerate() {
            let k = i % LANES;
            let (z0, z1) = box_muller_pair::<f32>(a[k], b[k]);
            *o = if i < LANES { z0 } else { z1 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};

    #[test]
    fn fill_normal_equals_scalar_twin_for_lengths_0_to_70() {
        let mut buf = [0.0f32; 71];
        let mut want = [0.0f32; 71];
        for n in 0..=70 {
            for offset in 0..2 {
                let mut a = XoshiroLanes::seed_from_u64(n as u64);
                let mut b = a.clone();
                fill_normal(&mut a, &mut buf[offset..offset + n]);
                fill_normal_scalar(&mut b, &mut want[offset..offset + n]);
                assert_eq!(buf[offset..offset + n], want[offset..offset + n], "n = {n}");
                assert_eq!(a, b, "n = {n}: same state after the fill");
            }
        }
    }

    #[test]
    fn group_scalar_equals_simd_group_bit_for_bit() {
        let mut rng = XoshiroLanes::seed_from_u64(13);
        for _ in 0..1000 {
            let (a, b) = (rng.next_block(), rng.next_block());
            let (s0, s1) = group_scalar(a, b);
            let (v0, v1) = box_muller_pair::<f32x8>(u32x8::new(a), u32x8::new(b));
            assert_eq!(
                s0.to_array().map(f32::to_bits),
                v0.to_array().map(f32::to_bits)
            );
            assert_eq!(
                s1.to_array().map(f32::to_bits),
                v1.to_array().map(f32::to_bits)
            );
        }
    }

    #[test]
    fn fill_normal_consumes_two_blocks_per_16_values() {
        for n in [0usize, 1, 8, 15, 16, 17, 33] {
            let mut a = XoshiroLanes::seed_from_u64(9);
            let mut b = a.clone();
            let mut buf = [0.0f32; 33];
            fill_normal(&mut a, &mut buf[..n]);
            for _ in 0..2 * n.div_ceil(16) {
                b.next_block();
            }
            assert_eq!(a, b, "n = {n}");
        }
    }

    #[test]
    fn fill_normal_discards_a_partly_read_block() {
        let mut a = XoshiroLanes::seed_from_u64(4);
        let mut b = a.clone();
        a.next_u32();
        b.next_block();
        let (mut x, mut y) = ([0.0f32; 16], [0.0f32; 16]);
        fill_normal(&mut a, &mut x);
        fill_normal(&mut b, &mut y);
        assert_eq!(x, y);
    }

    #[test]
    fn fill_normal_with_is_mean_plus_std_times_standard() {
        let mut z = [0.0f32; 41];
        let mut w = [0.0f32; 41];
        fill_normal(&mut XoshiroLanes::seed_from_u64(11), &mut z);
        fill_normal_with(&mut XoshiroLanes::seed_from_u64(11), -3.0, 0.25, &mut w).unwrap();
        for (z, w) in z.iter().zip(&w) {
            assert_eq!(*w, -3.0 + 0.25 * z);
        }
    }

    #[test]
    fn fill_normal_with_rejects_bad_parameters_untouched() {
        let mut rng = XoshiroLanes::seed_from_u64(12);
        let before = rng.clone();
        let mut w = [1.0f32; 9];
        for (m, s) in [
            (f32::NAN, 1.0),
            (f32::INFINITY, 1.0),
            (0.0, -1.0),
            (0.0, f32::NAN),
            (0.0, f32::INFINITY),
        ] {
            assert!(matches!(
                fill_normal_with(&mut rng, m, s, &mut w),
                Err(Error::InvalidParameter { .. })
            ));
        }
        assert_eq!((rng, w), (before, [1.0; 9]));
    }
}
