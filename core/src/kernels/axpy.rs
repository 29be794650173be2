use super::{LANES, load};
use crate::error::{Error, check_len};
use wide::f32x8;

/// `y ← y + a·x`, vectorised; bit-identical to [`axpy_scalar`] on every target
/// (multiply and add round separately, never fused).
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `x` and `y` differ in length; `y` is then
/// left unchanged.
///
/// # Examples
///
/// ```
/// let mut y = [1.0, 1.0];
/// noisereg::axpy(2.0, &[1.0, 2.0], &mut y).unwrap();
/// assert_eq!(y, [3.0, 5.0]);
/// ```
#[inline]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
    check_len(x.len(), y.len())?;
    let av = f32x8::splat(a);
    let (xv, xt) = x.as_chunks::<LANES>();
    let (yv, yt) = y.as_chunks_mut::<LANES>();
    for (u, v) in xv.iter().zip(yv) {
        *v = (load(v) + av * load(u)).to_array();
    }
    axpy_tail(a, xt, yt);
    Ok(())
}

#[inline]
fn axpy_tail(a: f32, x: &[f32], y: &mut [f32]) {
    for (u, v) in x.iter().zip(y) {
        *v += a * u;
    }
}

/// Scalar twin of [`axpy`], the test oracle.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `x` and `y` differ in length; `y` is then
/// left unchanged.
///
/// # Examples
///
/// ```
/// let mut y = [1.0];
/// noisereg::axpy_scalar(-1.0, &[1.0], &mut y).unwrap();
/// assert_eq!(y, [0.0]);
/// ```
#[inline]
pub fn axpy_scalar(a: f32, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
    check_len(x.len(), y.len())?;
    axpy_tail(a, x, y);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axpy_leaves_y_untouched_on_length_mismatch() {
        let mut y = [7.0f32; 5];
        assert_eq!(
            axpy(1.0, &[1.0; 4], &mut y),
            Err(Error::LengthMismatch { left: 4, right: 5 })
        );
        assert_eq!(y, [7.0; 5]);
    }
}
