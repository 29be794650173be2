//! The dense layer's backward pass (back-propagation of one sample).

use super::activation::Activation;
use super::dense::DenseRef;
use super::matvec::{axpy_into, rows_axpy};
use crate::error::Error;
use crate::perturbation::Perturbation;

impl<A: Activation> DenseRef<'_, A> {
    /// `δ = σ'(z) ⊙ g`, with `σ'` from `z` and `a = σ(z)`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless all four have [`outputs`](Self::outputs) elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Relu};
    /// let layer = DenseRef::new(&[0.0; 2], &[0.0; 2], 1, Relu).unwrap();
    /// let mut d = [0.0; 2];
    /// layer.delta(&[-1.0, 2.0], &[0.0, 2.0], &[5.0, 5.0], &mut d).unwrap();
    /// assert_eq!(d, [0.0, 5.0]);
    /// ```
    #[inline(always)]
    pub fn delta(&self, z: &[f32], a: &[f32], g: &[f32], delta: &mut [f32]) -> Result<(), Error> {
        self.check(&[], &[z.len(), a.len(), g.len(), delta.len()])?;
        self.delta_unchecked(z, a, g, delta);
        Ok(())
    }

    /// [`delta`](Self::delta) without the length check (callers whose
    /// lengths are fixed by their types).
    #[inline(always)]
    pub(crate) fn delta_unchecked(&self, z: &[f32], a: &[f32], g: &[f32], delta: &mut [f32]) {
        for (((d, zo), ao), go) in delta.iter_mut().zip(z).zip(a).zip(g) {
            *d = self.act.df_given(*zo, *ao) * go;
        }
    }

    /// `gx = Wᵀ δ` with the clean weights.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless `delta` has [`outputs`](Self::outputs)
    /// and `gx` [`inputs`](Self::inputs) elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity};
    /// let layer = DenseRef::new(&[1.0, 2.0, 3.0, 4.0], &[0.0; 2], 2, Identity).unwrap();
    /// let mut gx = [0.0; 2];
    /// layer.input_grad(&[1.0, 1.0], &mut gx).unwrap();
    /// assert_eq!(gx, [4.0, 6.0]);
    /// ```
    #[inline(always)]
    pub fn input_grad(&self, delta: &[f32], gx: &mut [f32]) -> Result<(), Error> {
        self.check(&[gx.len()], &[delta.len()])?;
        self.input_grad_unchecked(delta, gx);
        Ok(())
    }

    /// [`input_grad`](Self::input_grad) without the length check.
    #[inline(always)]
    pub(crate) fn input_grad_unchecked(&self, delta: &[f32], gx: &mut [f32]) {
        rows_axpy(self.w, delta, gx);
    }

    /// Backward pass of one sample through layer number `layer`.
    ///
    /// On entry `g = ∂ℓ/∂a`; on return `g = δ = ∂ℓ/∂z`. Adds `δ xᵀ` to `gw`
    /// and `δ` to `gb`. When `gx` is given, writes `gx = W̃ᵀδ` and then calls
    /// [`Perturbation::pre_activation_backward`]; without it (the first
    /// layer) no weight is read. Calls `begin_layer(layer)` first and asks
    /// for the rows in ascending order when `p.perturbs_weights()`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if a buffer's length does not match the
    /// layer (`x`, `row`, `gx`: inputs; `z`, `a`, `g`, `gb`: outputs; `gw`:
    /// weights); nothing is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Clean, DenseRef, Identity};
    /// let layer = DenseRef::new(&[1.0, 2.0], &[0.0], 2, Identity).unwrap();
    /// let (mut g, mut gw, mut gb, mut gx) = ([3.0], [0.0; 2], [0.0], [0.0; 2]);
    /// let (x, z) = ([1.0, -1.0], [-1.0]);
    /// layer
    ///     .backward(0, &x, &z, &z, &mut g, &mut Clean, &mut [0.0; 2], &mut gw, &mut gb, Some(&mut gx))
    ///     .unwrap();
    /// assert_eq!((gw, gb, gx), ([3.0, -3.0], [3.0], [3.0, 6.0]));
    /// ```
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn backward<P: Perturbation>(
        &self,
        layer: usize,
        x: &[f32],
        z: &[f32],
        a: &[f32],
        g: &mut [f32],
        p: &mut P,
        row: &mut [f32],
        gw: &mut [f32],
        gb: &mut [f32],
        gx: Option<&mut [f32]>,
    ) -> Result<(), Error> {
        let gx_len = gx.as_ref().map_or(self.n_in, |v| v.len());
        self.check(
            &[x.len(), row.len(), gx_len],
            &[z.len(), a.len(), g.len(), gb.len()],
        )?;
        crate::error::check_len(gw.len(), self.w.len())?;
        self.backward_unchecked(layer, x, z, a, g, p, row, gw, gb, gx);
        Ok(())
    }

    /// [`backward`](Self::backward) without the length checks.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn backward_unchecked<P: Perturbation>(
        &self,
        layer: usize,
        x: &[f32],
        z: &[f32],
        a: &[f32],
        g: &mut [f32],
        p: &mut P,
        row: &mut [f32],
        gw: &mut [f32],
        gb: &mut [f32],
        gx: Option<&mut [f32]>,
    ) {
        p.begin_layer(layer);
        for ((go, zo), ao) in g.iter_mut().zip(z).zip(a) {
            *go *= self.act.df_given(*zo, *ao);
        }
        p.backward_delta(layer, x, g);
        for (gwo, d) in gw.chunks_exact_mut(self.n_in).zip(g.iter()) {
            axpy_into(*d, x, gwo);
        }
        axpy_into(1.0, g, gb);
        if let Some(gx) = gx {
            if p.perturbs_weights() {
                gx.fill(0.0);
                for (wo, d) in self.w.chunks_exact(self.n_in).zip(g.iter()) {
                    p.weight_row(wo, row);
                    axpy_into(*d, row, gx);
                }
            } else {
                rows_axpy(self.w, g, gx);
            }
            p.pre_activation_backward(layer, x, g, gx);
        }
    }
}
