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

    /// Column `j` of a factor `S` of the loss's Hessian in the output,
    /// `H_ℓ(y) = ∂²ℓ/∂y² = S Sᵀ`, written into `s` (`j < y.len()`). The
    /// loss-correct penalty (docs/theory.md §11) is `Σ_j ‖J_fᵀ s_j‖²_η`.
    ///
    /// # Errors
    ///
    /// By default [`Error::InvalidParameter`] naming `loss`: a loss must
    /// supply its Hessian to be used with the loss-correct penalty.
    /// [`Error::LengthMismatch`] if `s` does not fit `y`, and the errors of
    /// [`value`](Self::value); `j` out of range is [`Error::InvalidParameter`].
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Loss, SoftmaxCrossEntropy};
    /// // p = (½, ½): H = diag(p) − ppᵀ = ¼ [[1, −1], [−1, 1]], S = √½·(I − p 1ᵀ).
    /// let mut s = [0.0; 2];
    /// SoftmaxCrossEntropy.hessian_factor(&[0.0, 0.0], &0, 0, &mut s).unwrap();
    /// assert!((s[0] - 0.5f32.sqrt() * 0.5).abs() < 1e-7 && (s[1] + 0.5f32.sqrt() * 0.5).abs() < 1e-7);
    /// ```
    fn hessian_factor(&self, y: &[f32], target: &T, j: usize, s: &mut [f32]) -> Result<(), Error> {
        let _ = (y, target, j, s);
        Err(NO_HESSIAN)
    }

    /// `true` when `H_ℓ = I` for every output (½ squared error): the
    /// loss-correct penalty is then the squared-error form, and its gradient
    /// takes the fused path of
    /// [`Model::penalty_grad_with`](crate::Model::penalty_grad_with).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{HalfSquaredError, Loss, SoftmaxCrossEntropy};
    /// assert!(<HalfSquaredError as Loss<[f32]>>::identity_hessian(&HalfSquaredError));
    /// assert!(!SoftmaxCrossEntropy.identity_hessian());
    /// ```
    fn identity_hessian(&self) -> bool {
        false
    }

    /// `c = ∂/∂y [½ tr(H_ℓ(y) G)]` for a fixed symmetric `G`, given only
    /// `r_j = s_jᵀ G s_j` for the columns of [`hessian_factor`](Self::hessian_factor)
    /// (enough for the crate's losses): the loss side of the gradient of the
    /// loss-correct penalty, which also moves with `y`.
    ///
    /// # Errors
    ///
    /// As [`hessian_factor`](Self::hessian_factor); [`Error::LengthMismatch`]
    /// if `r` or `c` does not fit `y`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{HalfSquaredError, Loss};
    /// // Constant Hessian: nothing moves with y.
    /// let mut c = [1.0; 2];
    /// HalfSquaredError.hessian_factor_derivative(&[1.0, 2.0], &[0.0, 0.0][..], &[3.0, 4.0], &mut c).unwrap();
    /// assert_eq!(c, [0.0, 0.0]);
    /// ```
    fn hessian_factor_derivative(
        &self,
        y: &[f32],
        target: &T,
        r: &[f32],
        c: &mut [f32],
    ) -> Result<(), Error> {
        let _ = (y, target, r, c);
        Err(NO_HESSIAN)
    }
}

/// The default of the curvature methods of [`Loss`].
const NO_HESSIAN: Error = Error::InvalidParameter {
    name: "loss",
    requirement: "a loss that supplies its Hessian (Loss::hessian_factor)",
};

/// `Ok` when `j` indexes an output.
#[inline]
fn check_column(j: usize, outputs: usize) -> Result<(), Error> {
    if j < outputs {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "j",
            requirement: "less than the number of outputs",
        })
    }
}

/// `H = I`: column `j` is `e_j`.
#[inline]
fn identity_factor(y: &[f32], j: usize, s: &mut [f32]) -> Result<(), Error> {
    check_len(s.len(), y.len())?;
    check_column(j, y.len())?;
    for (i, v) in s.iter_mut().enumerate() {
        *v = if i == j { 1.0 } else { 0.0 };
    }
    Ok(())
}

/// `p = softmax(y)` into `p` (stable; NaN propagates).
#[inline]
fn softmax_into(y: &[f32], p: &mut [f32]) {
    let (m, sum) = SoftmaxCrossEntropy::max_and_sum(y);
    let inv = 1.0 / sum;
    for (q, &v) in p.iter_mut().zip(y) {
        *q = libm::expf(v - m) * inv;
    }
}

/// The softmax Hessian `diag(p) − ppᵀ = Σ_j p_j (e_j − p)(e_j − p)ᵀ`
/// (as `Σ_j p_j = 1`): column `j` of the factor is `√p_j (e_j − p)`, which
/// has no cancellation and no negative weight.
#[inline]
pub(crate) fn softmax_hessian_factor(y: &[f32], j: usize, s: &mut [f32]) -> Result<(), Error> {
    check_len(s.len(), y.len())?;
    check_column(j, y.len())?;
    softmax_into(y, s);
    let pj = s.get(j).copied().unwrap_or(0.0);
    let root = super::sqrt_f32(pj);
    for (i, v) in s.iter_mut().enumerate() {
        *v = root * (if i == j { 1.0 } else { 0.0 } - *v);
    }
    Ok(())
}

/// For the softmax factor, `r_j = p_j q_j` with `q_j = (e_j − p)ᵀG(e_j − p)`
/// and `½ tr(HG) = ½ Σ_j r_j = P/2`; its derivative is
/// `c_m = ½ (r_m − p_m P)` (docs/theory.md §11).
#[inline]
pub(crate) fn softmax_hessian_derivative(y: &[f32], r: &[f32], c: &mut [f32]) -> Result<(), Error> {
    check_len(r.len(), y.len())?;
    check_len(c.len(), y.len())?;
    softmax_into(y, c);
    let total: f32 = r.iter().sum();
    for (cm, rm) in c.iter_mut().zip(r) {
        *cm = 0.5 * (rm - *cm * total);
    }
    Ok(())
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

    fn identity_hessian(&self) -> bool {
        true
    }

    #[inline]
    fn hessian_factor(
        &self,
        y: &[f32],
        target: &[f32],
        j: usize,
        s: &mut [f32],
    ) -> Result<(), Error> {
        check_len(target.len(), y.len())?;
        identity_factor(y, j, s)
    }

    #[inline]
    fn hessian_factor_derivative(
        &self,
        y: &[f32],
        target: &[f32],
        r: &[f32],
        c: &mut [f32],
    ) -> Result<(), Error> {
        check_len(target.len(), y.len())?;
        check_len(r.len(), y.len())?;
        check_len(c.len(), y.len())?;
        c.fill(0.0);
        Ok(())
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

    fn identity_hessian(&self) -> bool {
        true
    }

    #[inline]
    fn hessian_factor(
        &self,
        y: &[f32],
        target: &[f32; K],
        j: usize,
        s: &mut [f32],
    ) -> Result<(), Error> {
        <Self as Loss<[f32]>>::hessian_factor(self, y, target, j, s)
    }

    #[inline]
    fn hessian_factor_derivative(
        &self,
        y: &[f32],
        target: &[f32; K],
        r: &[f32],
        c: &mut [f32],
    ) -> Result<(), Error> {
        <Self as Loss<[f32]>>::hessian_factor_derivative(self, y, target, r, c)
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
    pub(crate) fn max_and_sum(y: &[f32]) -> (f32, f32) {
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

    #[inline]
    fn hessian_factor(
        &self,
        y: &[f32],
        target: &usize,
        j: usize,
        s: &mut [f32],
    ) -> Result<(), Error> {
        Self::check_label(y, *target)?;
        softmax_hessian_factor(y, j, s)
    }

    #[inline]
    fn hessian_factor_derivative(
        &self,
        y: &[f32],
        target: &usize,
        r: &[f32],
        c: &mut [f32],
    ) -> Result<(), Error> {
        Self::check_label(y, *target)?;
        softmax_hessian_derivative(y, r, c)
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
