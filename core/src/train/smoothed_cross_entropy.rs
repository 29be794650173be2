//! Softmax cross-entropy against a smoothed label (label smoothing).

use super::validate::unit_half_open;
use crate::error::{Error, check_len};
use crate::nn::Loss;
use crate::nn::{softmax_hessian_derivative, softmax_hessian_factor};

/// Softmax cross-entropy against the smoothed target `q = (1 − α)e_t + α/K`:
/// `ℓ = log Σ_j e^{y_j} − Σ_j q_j y_j`, gradient `softmax(y) − q`.
///
/// Label smoothing is the usual way to model label noise in classification;
/// with `α = 0` this is [`SoftmaxCrossEntropy`](crate::SoftmaxCrossEntropy).
///
/// # Examples
///
/// ```
/// use noisereg::{Loss, SmoothedCrossEntropy};
/// let loss = SmoothedCrossEntropy::new(0.1).unwrap();
/// let mut dy = [0.0; 2];
/// loss.value_grad(&[0.0, 0.0], &0, &mut dy).unwrap();
/// assert!((dy[0] + 0.45).abs() < 1e-6 && (dy[1] - 0.45).abs() < 1e-6);
/// assert!(SmoothedCrossEntropy::new(1.0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothedCrossEntropy {
    alpha: f32,
}

impl SmoothedCrossEntropy {
    /// Smoothing weight `alpha`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `label_smoothing` unless it is in `[0, 1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Loss, SmoothedCrossEntropy};
    /// let ce = SmoothedCrossEntropy::new(0.1).unwrap();
    /// // Equal logits over two classes: −ln ½ whatever the smoothing.
    /// assert!((ce.value(&[0.0, 0.0], &1).unwrap() - core::f32::consts::LN_2).abs() < 1e-6);
    /// assert!(SmoothedCrossEntropy::new(1.0).is_err());
    /// ```
    pub fn new(alpha: f32) -> Result<Self, Error> {
        Ok(Self {
            alpha: unit_half_open("label_smoothing", alpha)?,
        })
    }

    fn parts(&self, y: &[f32], label: usize) -> Result<(f32, f32, f32), Error> {
        if label >= y.len() {
            return Err(Error::InvalidParameter {
                name: "label",
                requirement: "less than the number of outputs",
            });
        }
        let m = y.iter().fold(f32::NEG_INFINITY, |m, &v| {
            if m.is_nan() || v.is_nan() {
                f32::NAN
            } else {
                m.max(v)
            }
        });
        let s = y.iter().fold(0.0, |s, &v| s + libm::expf(v - m));
        let u = self.alpha / y.len() as f32;
        let mut qy = 0.0;
        for (j, &v) in y.iter().enumerate() {
            let q = if j == label { 1.0 - self.alpha + u } else { u };
            qy += q * (v - m);
        }
        Ok((m, s, qy))
    }
}

impl Loss<usize> for SmoothedCrossEntropy {
    fn value_grad(&self, y: &[f32], target: &usize, dy: &mut [f32]) -> Result<f32, Error> {
        check_len(dy.len(), y.len())?;
        let (m, s, qy) = self.parts(y, *target)?;
        let (inv, u) = (1.0 / s, self.alpha / y.len() as f32);
        for (j, (d, &v)) in dy.iter_mut().zip(y).enumerate() {
            let q = if j == *target {
                1.0 - self.alpha + u
            } else {
                u
            };
            *d = libm::expf(v - m) * inv - q;
        }
        Ok(libm::logf(s) - qy)
    }

    fn value(&self, y: &[f32], target: &usize) -> Result<f32, Error> {
        let (_, s, qy) = self.parts(y, *target)?;
        Ok(libm::logf(s) - qy)
    }

    /// The Hessian does not depend on the target: as [`SoftmaxCrossEntropy`](crate::SoftmaxCrossEntropy).
    fn hessian_factor(
        &self,
        y: &[f32],
        target: &usize,
        j: usize,
        s: &mut [f32],
    ) -> Result<(), Error> {
        self.parts(y, *target)?;
        softmax_hessian_factor(y, j, s)
    }

    fn hessian_factor_derivative(
        &self,
        y: &[f32],
        target: &usize,
        r: &[f32],
        c: &mut [f32],
    ) -> Result<(), Error> {
        self.parts(y, *target)?;
        softmax_hessian_derivative(y, r, c)
    }
}
