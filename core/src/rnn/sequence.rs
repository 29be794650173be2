//! A fixed-length sequence of fixed-size vectors.

use crate::error::Error;
use crate::nn::{HalfSquaredError, Loss};
use crate::noise::LabelNoise;
use crate::train::Target;

/// `T` steps of `D` values, stored contiguously (`as_ref()` is the
/// `T·D` values step after step), so the trainer's input noise perturbs it
/// like any buffer.
///
/// # Memory
///
/// `4·T·D` bytes.
///
/// # Examples
///
/// ```
/// use noisereg::Sequence;
/// let s = Sequence([[1.0, 2.0], [3.0, 4.0]]);
/// assert_eq!(s.as_ref(), &[1.0, 2.0, 3.0, 4.0]);
/// assert_eq!(Sequence::<3, 2>::zeros().0, [[0.0; 2]; 3]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sequence<const T: usize, const D: usize>(pub [[f32; D]; T]);

impl<const T: usize, const D: usize> Sequence<T, D> {
    /// All zeros.
    pub const fn zeros() -> Self {
        Self([[0.0; D]; T])
    }
}

impl<const T: usize, const D: usize> Default for Sequence<T, D> {
    fn default() -> Self {
        Self::zeros()
    }
}

impl<const T: usize, const D: usize> AsRef<[f32]> for Sequence<T, D> {
    fn as_ref(&self) -> &[f32] {
        self.0.as_flattened()
    }
}

impl<const T: usize, const D: usize> AsMut<[f32]> for Sequence<T, D> {
    fn as_mut(&mut self) -> &mut [f32] {
        self.0.as_flattened_mut()
    }
}

impl<const T: usize, const K: usize> Target for Sequence<T, K> {
    fn is_finite_target(&self) -> bool {
        self.as_ref().iter().all(|v| v.is_finite())
    }

    fn with_label_noise(&self, noise: &mut LabelNoise) -> Self {
        let mut out = *self;
        for (o, s) in out.0.iter_mut().zip(&self.0) {
            *o = s.with_label_noise(noise);
        }
        out
    }
}

/// Sequence to sequence: `Σ_t ½‖y_t − f_t‖²` over the flattened outputs.
impl<const T: usize, const K: usize> Loss<Sequence<T, K>> for HalfSquaredError {
    fn value_grad(&self, y: &[f32], target: &Sequence<T, K>, dy: &mut [f32]) -> Result<f32, Error> {
        <Self as Loss<[f32]>>::value_grad(self, y, target.as_ref(), dy)
    }

    fn value(&self, y: &[f32], target: &Sequence<T, K>) -> Result<f32, Error> {
        <Self as Loss<[f32]>>::value(self, y, target.as_ref())
    }

    fn identity_hessian(&self) -> bool {
        true
    }

    fn hessian_factor(
        &self,
        y: &[f32],
        target: &Sequence<T, K>,
        j: usize,
        s: &mut [f32],
    ) -> Result<(), Error> {
        <Self as Loss<[f32]>>::hessian_factor(self, y, target.as_ref(), j, s)
    }

    fn hessian_factor_derivative(
        &self,
        y: &[f32],
        target: &Sequence<T, K>,
        r: &[f32],
        c: &mut [f32],
    ) -> Result<(), Error> {
        <Self as Loss<[f32]>>::hessian_factor_derivative(self, y, target.as_ref(), r, c)
    }
}
