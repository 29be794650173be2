use super::{LANES, load};
use wide::f32x8;

/// `x ← a·x`, vectorised; bit-identical to [`scale_scalar`] on every target.
///
/// # Examples
///
/// ```
/// let mut x = [1.0, -2.0, 0.5];
/// noisereg::scale(2.0, &mut x);
/// assert_eq!(x, [2.0, -4.0, 1.0]);
/// ```
#[inline]
pub fn scale(a: f32, x: &mut [f32]) {
    let av = f32x8::splat(a);
    let (xv, xt) = x.as_chunks_mut::<LANES>();
    for v in xv {
        *v = (load(v) * av).to_array();
    }
    scale_scalar(a, xt);
}

/// Scalar twin of [`scale`], the test oracle.
///
/// # Examples
///
/// ```
/// let mut x = [3.0];
/// noisereg::scale_scalar(0.5, &mut x);
/// assert_eq!(x, [1.5]);
/// ```
#[inline]
pub fn scale_scalar(a: f32, x: &mut [f32]) {
    for v in x {
        *v *= a;
    }
}
