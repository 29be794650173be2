//! Plain stochastic gradient descent.

use super::optimizer::{Optimizer, finite};
use super::validate::finite_positive;
use crate::error::Error;
use crate::parameters::Parameters;

/// Stochastic gradient descent: `θ ← θ − lr·g`. No state.
///
/// # Examples
///
/// ```
/// use noisereg::{Optimizer, Sgd, Dense};
/// let mut p: Dense<1, 1> = Dense { w: [[1.0]], b: [0.0], act: Default::default() };
/// let g: Dense<1, 1> = Dense { w: [[2.0]], b: [1.0], act: Default::default() };
/// let mut sgd = Sgd::new(0.5).unwrap();
/// sgd.step(&mut p, &g).unwrap();
/// assert_eq!((p.w[0][0], p.b[0]), (0.0, -0.5));
/// assert!(Sgd::new(0.0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    lr: f32,
}

impl Sgd {
    /// SGD with learning rate `lr`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `learning_rate` unless it is finite and `> 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Network, Optimizer, Sgd};
    /// let mut p = Dense::<1, 1>::zeroed();
    /// let mut g = Dense::<1, 1>::zeroed();
    /// g.b = [2.0];
    /// Sgd::new(0.5).unwrap().step(&mut p, &g).unwrap();
    /// assert_eq!(p.b, [-1.0]);
    /// assert!(Sgd::new(0.0).is_err());
    /// ```
    pub fn new(lr: f32) -> Result<Self, Error> {
        Ok(Self {
            lr: finite_positive("learning_rate", lr)?,
        })
    }

    #[inline(always)]
    fn update(&self, p: f32, g: f32) -> f32 {
        p - self.lr * g
    }
}

impl<P: Parameters> Optimizer<P> for Sgd {
    fn check(&self, params: &P, grad: &P) -> Result<(), Error> {
        for i in 0..params.slice_count() {
            for (&p, &g) in params.slice(i).iter().zip(grad.slice(i)) {
                finite(self.update(p, g), "updated weights")?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, params: &mut P, grad: &P) {
        for i in 0..params.slice_count() {
            for (p, &g) in params.slice_mut(i).iter_mut().zip(grad.slice(i)) {
                *p = self.update(*p, g);
            }
        }
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }
}
