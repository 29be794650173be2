use super::{ACCUMULATORS, BLOCK, LANES, load, reduce};
use wide::f32x8;

/// Squared Euclidean norm `Σ xᵢ²`, vectorised.
///
/// Empty input gives `0.0`; NaN or infinity in `x` propagates into the result.
///
/// # Accuracy
///
/// Every term is non-negative, so the relative error is at most
/// `(⌈n / BLOCK⌉ + LANES + 4) · 2⁻²⁴` with `BLOCK` = 32 (64 with AVX), far
/// tighter than the `n · 2⁻²⁴` of a sequential loop ([`sq_norm_scalar`]).
///
/// # Examples
///
/// ```
/// assert_eq!(noisereg::sq_norm(&[3.0, 4.0]), 25.0);
/// ```
#[inline]
pub fn sq_norm(x: &[f32]) -> f32 {
    let mut acc = [f32x8::ZERO; ACCUMULATORS];
    // Two blocks per iteration halve the loop overhead; each accumulator still
    // sees its elements in the same order.
    let (pairs, rest) = x.as_chunks::<{ 2 * BLOCK }>();
    for pair in pairs {
        let (blocks, _) = pair.as_chunks::<BLOCK>();
        for block in blocks {
            accumulate(&mut acc, block);
        }
    }
    let (blocks, rest) = rest.as_chunks::<BLOCK>();
    for block in blocks {
        accumulate(&mut acc, block);
    }
    let (vectors, tail) = rest.as_chunks::<LANES>();
    for (a, v) in acc.iter_mut().zip(vectors) {
        let v = load(v);
        *a = v.mul_add(v, *a);
    }
    reduce(acc) + sq_norm_scalar(tail)
}

#[inline(always)]
fn accumulate(acc: &mut [f32x8; ACCUMULATORS], block: &[f32; BLOCK]) {
    let (vectors, _) = block.as_chunks::<LANES>();
    for (a, v) in acc.iter_mut().zip(vectors) {
        let v = load(v);
        *a = v.mul_add(v, *a);
    }
}

/// Scalar twin of [`sq_norm`]: a plain left-to-right loop, the test oracle.
///
/// # Examples
///
/// ```
/// assert_eq!(noisereg::sq_norm_scalar(&[3.0, 4.0]), 25.0);
/// ```
#[inline]
pub fn sq_norm_scalar(x: &[f32]) -> f32 {
    x.iter().fold(0.0, |s, &v| s + v * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sq_norm_of_small_integers_is_exact() {
        for n in 0..100 {
            let x: [f32; 100] = core::array::from_fn(|i| (i % 7) as f32 - 3.0);
            let exact: f32 = x[..n].iter().map(|v| v * v).sum();
            assert_eq!(sq_norm(&x[..n]), exact, "n = {n}");
        }
    }

    #[test]
    fn sq_norm_propagates_nan_and_infinity() {
        let mut x = [1.0f32; 40];
        x[37] = f32::NAN;
        assert!(sq_norm(&x).is_nan());
        x[37] = f32::NEG_INFINITY;
        assert_eq!(sq_norm(&x), f32::INFINITY);
    }
}
