//! Exact `tr ∇²_θ f_k` by propagating the full Hessian of `f_k` with respect
//! to each layer's activations backwards:
//! `∂²f/∂z² = diag(σ') (∂²f/∂a²) diag(σ') + diag(σ'' ⊙ g)`,
//! `∂²f/∂x² = Wᵀ (∂²f/∂z²) W`. A layer contributes
//! `(‖x‖² + b)·tr(∂²f/∂z²)` (the diagonal of `∂²f/∂W²` is `x_j²·∂²f/∂z_i²`).
//! Cost `O(n_in·n_out·(n_in + n_out))` per layer and output; for small widths.

use super::activation::Activation;
use super::dense::DenseRef;
use super::matvec::{axpy_into, rows_axpy};
use crate::error::{Error, check_len};

impl<A: Activation> DenseRef<'_, A> {
    /// One backward step of the Hessian of `f_k`.
    ///
    /// On entry `hess` (row-major, outputs × outputs) holds `∂²f_k/∂a²` and
    /// `g = ∂f_k/∂a`; on return `hess` holds `∂²f_k/∂z²`, and, when given,
    /// `hess_x` (inputs × inputs) holds `∂²f_k/∂x² = Wᵀ (∂²f_k/∂z²) W`.
    /// `u` is scratch with [`outputs`](Self::outputs) elements. Returns
    /// `tr ∂²f_k/∂z²`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if a buffer's length does not match the layer.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Activation, DenseRef, Tanh};
    /// // f = tanh(z): ∂²f/∂z² = tanh''(z).
    /// let layer = DenseRef::new(&[2.0], &[0.0], 1, Tanh).unwrap();
    /// let (z, a) = ([0.5], [Tanh.f(0.5)]);
    /// let (mut hess, mut hx) = ([0.0], [0.0]);
    /// let t = layer.hessian_backward(&z, &a, &[1.0], &mut hess, &mut [0.0], Some(&mut hx)).unwrap();
    /// assert_eq!(t, Tanh.d2f_given(0.5, a[0]));
    /// assert_eq!(hx, [4.0 * t]);
    /// ```
    #[inline]
    pub fn hessian_backward(
        &self,
        z: &[f32],
        a: &[f32],
        g: &[f32],
        hess: &mut [f32],
        u: &mut [f32],
        hess_x: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let n_out = self.b.len();
        let n_in = self.n_in;
        self.check(&[], &[z.len(), a.len(), g.len(), u.len()])?;
        check_len(hess.len(), n_out.saturating_mul(n_out))?;
        if let Some(h) = &hess_x {
            check_len(h.len(), n_in.saturating_mul(n_in))?;
        }
        Ok(self.hessian_backward_unchecked(z, a, g, hess, u, hess_x))
    }

    /// [`hessian_backward`](Self::hessian_backward) without the length checks.
    #[inline]
    pub(crate) fn hessian_backward_unchecked(
        &self,
        z: &[f32],
        a: &[f32],
        g: &[f32],
        hess: &mut [f32],
        u: &mut [f32],
        hess_x: Option<&mut [f32]>,
    ) -> f32 {
        let (n_out, n_in) = (self.b.len(), self.n_in);
        // u = σ'(z) for the scaling, then the diagonal term.
        for ((uo, zo), ao) in u.iter_mut().zip(z).zip(a) {
            *uo = self.act.df_given(*zo, *ao);
        }
        let mut trace = 0.0;
        for (o, hrow) in hess.chunks_exact_mut(n_out).enumerate() {
            let (zo, ao, go, so) = match (z.get(o), a.get(o), g.get(o), u.get(o)) {
                (Some(zo), Some(ao), Some(go), Some(so)) => (*zo, *ao, *go, *so),
                _ => break,
            };
            for (h, sp) in hrow.iter_mut().zip(u.iter()) {
                *h *= so * sp;
            }
            if let Some(h) = hrow.get_mut(o) {
                *h += self.act.d2f_given(zo, ao) * go;
                trace += *h;
            }
        }
        if let Some(hx) = hess_x {
            // Row i of Wᵀ Hz W: u = Σ_o W[o][i]·Hz[o], then Σ_p u_p·W[p].
            for (i, hxrow) in hx.chunks_exact_mut(n_in).enumerate() {
                u.fill(0.0);
                for (wrow, hrow) in self.w.chunks_exact(n_in).zip(hess.chunks_exact(n_out)) {
                    let woi = wrow.get(i).copied().unwrap_or(0.0);
                    axpy_into(woi, hrow, u);
                }
                rows_axpy(self.w, u, hxrow);
            }
        }
        trace
    }
}
