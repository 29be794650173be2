//! Losses on a network's output: value and gradient.

use crate::error::{Error, check_len};

/// A loss `ℓ(y, t)` of a network output `y` and a target `t`.
///
/// # Examples
///
/// ```
/// use noisereg::{HalfSquaredError, Loss};
/// let mut dy = [0.0; 2];
/// let l = HalfSquaredError.value_grad(&[1.0, 2.0], &[0.0, 2.0], &mut dy).unwrap();
/// assert_eq!((l, dy), (0.5, [1.0, 0.0]));
/// ```
pub trait Loss<T: ?Sized> {
    /// `ℓ(y, t)`, with `∂ℓ/∂y` written into `dy`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `dy` or the target does not fit `y`;
    /// [`Error::InvalidParameter`] for an invalid target (a class label out
    /// of range). `dy` is unchanged then.
    fn value_grad(&self, y: &[f32], target: &T, dy: &mut [f32]) -> Result<f32, Error>;

    /// `ℓ(y, t)`.
    ///
    /// # Errors
    ///
    /// As [`value_grad`](Self::value_grad).
    fn value(&self, y: &[f32], target: &T) -> Result<f32, Error>;
}

/// Half squared error `ℓ = ½‖y − t‖²`, gradient `y − t`.
///
/// # Examples
///
/// ```
/// use noisereg::{HalfSquaredError, Loss};
/// assert_eq!(HalfSquaredError.value(&[3.0], &[1.0]), Ok(2.0));
/// assert!(HalfSquaredError.value(&[3.0], &[1.0, 2.0][..]).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HalfSquaredError;

impl Loss<[f32]> for HalfSquaredError {
    #[inline]
    fn value_grad(&self, y: &[f32], target: &[f32], dy: &mut [f32]) -> Result<f32, Error> {
        check_len(target.len(), y.len())?;
        check_len(dy.len(), y.len())?;
        let mut s = 0.0;
        for ((d, yo), to) in dy.iter_mut().zip(y).zip(target) {
            *d = yo - to;
            s += *d * *d;
        }
        Ok(0.5 * s)
    }

    #[inline]
    fn value(&self, y: &[f32], target: &[f32]) -> Result<f32, Error> {
        check_len(target.len(), y.len())?;
        let s: f32 = y.iter().zip(target).fold(0.0, |s, (yo, to)| {
            let d = yo - to;
            s + d * d
        });
        Ok(0.5 * s)
    }
}

impl<const K: usize> Loss<[f32; K]> for HalfSquaredError {
    #[inline]
    fn value_grad(&self, y: &[f32], target: &[f32; K], dy: &mut [f32]) -> Result<f32, Error> {
        <Self as Loss<[f32]>>::value_grad(self, y, target, dy)
    }

    #[inline]
    fn value(&self, y: &[f32], target: &[f32; K]) -> Result<f32, Error> {
        <Self as Loss<[f32]>>::value(self, y, target)
    }
}

/// Softmax cross-entropy of logits `y` and a class label `t`:
/// `ℓ = log Σ_j e^{y_j} − y_t` (stable log-sum-exp), gradient `softmax(y) − e_t`.
///
/// # Examples
///
/// ```
/// use noisereg::{Loss, SoftmaxCrossEntropy};
/// let mut dy = [0.0; 2];
/// let l = SoftmaxCrossEntropy.value_grad(&[0.0, 0.0], &1, &mut dy).unwrap();
/// assert!((l - core::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(dy, [0.5, -0.5]);
/// assert!(SoftmaxCrossEntropy.value(&[1000.0, 0.0], &0).unwrap().abs() < 1e-6);
/// assert!(SoftmaxCrossEntropy.value(&[0.0, 0.0], &2).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SoftmaxCrossEntropy;

impl SoftmaxCrossEntropy {
    /// `(max y, Σ e^{y_j − max})`; NaN anywhere makes the max NaN.
    #[inline]
    fn max_and_sum(y: &[f32]) -> (f32, f32) {
        let m = y.iter().fold(f32::NEG_INFINITY, |m, &v| {
            if v > m || v.is_nan() || m.is_nan() {
                if m.is_nan() { m } else { v }
            } else {
                m
            }
        });
        let s = y.iter().fold(0.0, |s, &v| s + libm::expf(v - m));
        (m, s)
    }

    #[inline]
    fn check_label(y: &[f32], label: usize) -> Result<f32, Error> {
        y.get(label).copied().ok_or(Error::InvalidParameter {
            name: "label",
            requirement: "less than the number of outputs",
        })
    }
}

impl Loss<usize> for SoftmaxCrossEntropy {
    #[inline]
    fn value_grad(&self, y: &[f32], target: &usize, dy: &mut [f32]) -> Result<f32, Error> {
        let yt = Self::check_label(y, *target)?;
        check_len(dy.len(), y.len())?;
        let (m, s) = Self::max_and_sum(y);
        let inv = 1.0 / s;
        for (j, (d, &v)) in dy.iter_mut().zip(y).enumerate() {
            let e = libm::expf(v - m) * inv;
            *d = if j == *target { e - 1.0 } else { e };
        }
        Ok(m + libm::logf(s) - yt)
    }

    #[inline]
    fn value(&self, y: &[f32], target: &usize) -> Result<f32, Error> {
        let yt = Self::check_label(y, *target)?;
        let (m, s) = Self::max_and_sum(y);
        Ok(m + libm::logf(s) - yt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_cross_entropy_gradient_matches_finite_differences() {
        let y = [0.3f32, -1.2, 2.0, 0.1];
        let mut dy = [0.0; 4];
        let l0 = SoftmaxCrossEntropy.value_grad(&y, &2, &mut dy).unwrap();
        assert!((l0 - SoftmaxCrossEntropy.value(&y, &2).unwrap()).abs() < 1e-7);
        for j in 0..4 {
            let h = 1e-2;
            let (mut yp, mut ym) = (y, y);
            yp[j] += h;
            ym[j] -= h;
            let fd = (SoftmaxCrossEntropy.value(&yp, &2).unwrap() as f64
                - SoftmaxCrossEntropy.value(&ym, &2).unwrap() as f64)
                / (2.0 * h as f64);
            assert!((fd - dy[j] as f64).abs() < 1e-4, "j = {j}");
        }
    }

    #[test]
    fn softmax_cross_entropy_propagates_nan_without_panicking() {
        let mut dy = [0.0; 3];
        let l = SoftmaxCrossEntropy
            .value_grad(&[0.0, f32::NAN, 1.0], &0, &mut dy)
            .unwrap();
        assert!(l.is_nan() && dy.iter().all(|d| d.is_nan()));
        assert!(SoftmaxCrossEntropy.value(&[], &0).is_err());
        let _ = SoftmaxCrossEntropy.value(&[f32::INFINITY, 0.0], &0);
    }

    #[test]
    fn half_squared_error_rejects_mismatched_lengths() {
        let mut dy = [0.0; 1];
        assert_eq!(
            HalfSquaredError.value_grad(&[1.0, 2.0], &[1.0, 2.0][..], &mut dy),
            Err(Error::LengthMismatch { left: 1, right: 2 })
        );
    }
}
