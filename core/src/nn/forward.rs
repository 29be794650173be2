//! The dense layer's forward pass.

use super::activation::Activation;
use super::dense::DenseRef;
use super::matvec::{row_dot, rows_dot};
use crate::error::Error;
use crate::perturbation::Perturbation;

impl<A: Activation> DenseRef<'_, A> {
    /// Forward pass of one sample through layer number `layer`: `z = W̃x + b̃`,
    /// then [`Perturbation::pre_activation`], then `a = σ(z)`.
    ///
    /// Keeps the [`Perturbation`] contract: `begin_layer(layer)`; when
    /// `p.perturbs_weights()`, every row through `weight_row` into `row` (in
    /// ascending order) and then the bias through `bias`; otherwise the clean
    /// parameters are read directly and `row` is not touched.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless `x` and `row` have [`inputs`](Self::inputs)
    /// elements and `z`, `a` have [`outputs`](Self::outputs); nothing is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, DenseRef, Relu};
    /// let layer = DenseRef::new(&[1.0, -1.0], &[0.0], 2, Relu).unwrap();
    /// let (mut row, mut z, mut a) = ([0.0; 2], [0.0], [0.0]);
    /// layer.forward(0, &[1.0, 3.0], &mut Clean, &mut row, &mut z, &mut a).unwrap();
    /// assert_eq!((z, a), ([-2.0], [0.0]));
    /// ```
    #[inline(always)]
    pub fn forward<P: Perturbation>(
        &self,
        layer: usize,
        x: &[f32],
        p: &mut P,
        row: &mut [f32],
        z: &mut [f32],
        a: &mut [f32],
    ) -> Result<(), Error> {
        self.check(&[x.len(), row.len()], &[z.len(), a.len()])?;
        self.forward_unchecked(layer, x, p, row, z, a);
        Ok(())
    }

    /// [`forward`](Self::forward) without the length check (callers whose
    /// lengths are fixed by their types).
    #[inline(always)]
    pub(crate) fn forward_unchecked<P: Perturbation>(
        &self,
        layer: usize,
        x: &[f32],
        p: &mut P,
        row: &mut [f32],
        z: &mut [f32],
        a: &mut [f32],
    ) {
        p.begin_layer(layer);
        if p.perturbs_weights() {
            for (zo, wo) in z.iter_mut().zip(self.w.chunks_exact(self.n_in)) {
                p.weight_row(wo, row);
                *zo = row_dot(row, x);
            }
            // `a` holds the perturbed bias until the activation overwrites it.
            p.bias(self.b, a);
            for (zo, bo) in z.iter_mut().zip(a.iter()) {
                *zo += *bo;
            }
        } else {
            rows_dot(self.w, x, z);
            for (zo, bo) in z.iter_mut().zip(self.b) {
                *zo += *bo;
            }
        }
        p.pre_activation(layer, x, z);
        self.act.f_slice(z, a);
    }

    /// Clean forward pass keeping only the output: `a = σ(Wx + b)`, the same
    /// bits as [`forward`](Self::forward) with [`Clean`](crate::Clean).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless `x` has [`inputs`](Self::inputs) and
    /// `a` [`outputs`](Self::outputs) elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity};
    /// let layer = DenseRef::new(&[2.0], &[1.0], 1, Identity).unwrap();
    /// let mut a = [0.0];
    /// layer.forward_clean(&[3.0], &mut a).unwrap();
    /// assert_eq!(a, [7.0]);
    /// ```
    #[inline(always)]
    pub fn forward_clean(&self, x: &[f32], a: &mut [f32]) -> Result<(), Error> {
        self.check(&[x.len()], &[a.len()])?;
        self.forward_clean_unchecked(x, a);
        Ok(())
    }

    /// [`forward_clean`](Self::forward_clean) without the length check.
    #[inline(always)]
    pub(crate) fn forward_clean_unchecked(&self, x: &[f32], a: &mut [f32]) {
        rows_dot(self.w, x, a);
        for (ao, bo) in a.iter_mut().zip(self.b) {
            *ao = self.act.f(*ao + *bo);
        }
    }
}
