use super::{ACCUMULATORS, BLOCK, LANES, load, reduce};
use crate::error::{Error, check_len};
use wide::f32x8;

/// Dot product `Σ xᵢ yᵢ`, vectorised.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `x` and `y` differ in length.
///
/// # Accuracy
///
/// The error is at most `(⌈n / BLOCK⌉ + LANES + 4) · 2⁻²⁴ · Σ |xᵢ yᵢ|`
/// (`BLOCK` = 32, or 64 with AVX); see the kernels' platform notes.
///
/// # Examples
///
/// ```
/// assert_eq!(noisereg::dot(&[1.0, 2.0], &[3.0, 4.0]), Ok(11.0));
/// assert!(noisereg::dot(&[1.0], &[1.0, 2.0]).is_err());
/// ```
#[inline]
pub fn dot(x: &[f32], y: &[f32]) -> Result<f32, Error> {
    check_len(x.len(), y.len())?;
    Ok(dot_unchecked(x, y))
}

/// [`dot`] over the common prefix; callers guarantee equal lengths.
#[inline]
pub(crate) fn dot_unchecked(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let (xb, xr) = x.as_chunks::<BLOCK>();
    let (yb, yr) = y.as_chunks::<BLOCK>();
    let mut acc = [f32x8::ZERO; ACCUMULATORS];
    for (bx, by) in xb.iter().zip(yb) {
        let (vx, _) = bx.as_chunks::<LANES>();
        let (vy, _) = by.as_chunks::<LANES>();
        for ((a, u), v) in acc.iter_mut().zip(vx).zip(vy) {
            *a = load(u).mul_add(load(v), *a);
        }
    }
    let (vx, xt) = xr.as_chunks::<LANES>();
    let (vy, yt) = yr.as_chunks::<LANES>();
    for ((a, u), v) in acc.iter_mut().zip(vx).zip(vy) {
        *a = load(u).mul_add(load(v), *a);
    }
    reduce(acc) + dot_tail(xt, yt)
}

#[inline]
fn dot_tail(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).fold(0.0, |s, (&a, &b)| s + a * b)
}

/// Scalar twin of [`dot`]: a plain left-to-right loop, the test oracle.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `x` and `y` differ in length.
///
/// # Examples
///
/// ```
/// assert_eq!(noisereg::dot_scalar(&[1.0, 2.0], &[3.0, 4.0]), Ok(11.0));
/// ```
#[inline]
pub fn dot_scalar(x: &[f32], y: &[f32]) -> Result<f32, Error> {
    check_len(x.len(), y.len())?;
    Ok(dot_tail(x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_rejects_unequal_lengths_both_ways() {
        let a = [1.0f32; 9];
        assert_eq!(
            dot(&a[..9], &a[..8]),
            Err(Error::LengthMismatch { left: 9, right: 8 })
        );
        assert_eq!(
            dot_scalar(&a[..0], &a[..1]),
            Err(Error::LengthMismatch { left: 0, right: 1 })
        );
    }

    #[test]
    fn dot_of_small_integers_is_exact() {
        let x: [f32; 77] = core::array::from_fn(|i| (i % 5) as f32 - 2.0);
        let y: [f32; 77] = core::array::from_fn(|i| (i % 3) as f32 + 1.0);
        for n in 0..=77 {
            let exact: f32 = x[..n].iter().zip(&y[..n]).map(|(a, b)| a * b).sum();
            assert_eq!(dot(&x[..n], &y[..n]), Ok(exact), "n = {n}");
        }
    }
}
