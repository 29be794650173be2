//! Pearlmutter's R-operator through a dense layer (`docs/theory.md` §4): the
//! directional derivative of the forward and backward passes along
//! `v = η ⊙ ∇_θ f_k`, which yields `H_{f_k} v`, the gradient of
//! `½ Σ_l η_l ‖∇_{θ_l} f_k‖²`.
//!
//! With `v` restricted to layer `l` equal to `η_l·(δ xᵀ, [δ])`, the products
//! with `V` factorise: `V x = η_l ‖x‖² δ` and `Vᵀδ = η_l ‖δ‖² x`, so no
//! matrix the size of the weights is formed.

use super::activation::Activation;
use super::dense::DenseRef;
use super::matvec::{axpy_into, axpy2_into, rows_axpy, rows_dot};
use super::penalty::NoiseOn;
use crate::error::{Error, check_len};
use crate::kernels::sq_norm;

impl<A: Activation> DenseRef<'_, A> {
    /// R-forward: `R{z} = η(‖x‖² + b)·δ + W R{x}`, `R{a} = σ'(z) ⊙ R{z}`
    /// (`b` = [`NoiseOn::bias_term`]; `rx = None` means `R{x} = 0`, the
    /// first layer).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if a buffer's length does not match the layer.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity, NoiseOn};
    /// let layer = DenseRef::new(&[1.0, 1.0], &[0.0], 2, Identity).unwrap();
    /// let (mut rz, mut ra) = ([0.0], [0.0]);
    /// let (x, z, delta) = ([1.0, 2.0], [3.0], [1.0]);
    /// layer.r_forward(&x, &z, &z, &delta, Some(&[1.0, 1.0]), 0.1, NoiseOn::Weights, &mut rz, &mut ra).unwrap();
    /// assert_eq!(rz, [0.1 * 5.0 + 2.0]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn r_forward(
        &self,
        x: &[f32],
        z: &[f32],
        a: &[f32],
        delta: &[f32],
        rx: Option<&[f32]>,
        eta: f32,
        on: NoiseOn,
        rz: &mut [f32],
        ra: &mut [f32],
    ) -> Result<(), Error> {
        let rx_len = rx.map_or(self.n_in, <[f32]>::len);
        self.check(
            &[x.len(), rx_len],
            &[z.len(), a.len(), delta.len(), rz.len(), ra.len()],
        )?;
        self.r_forward_unchecked(x, z, a, delta, rx, eta, on, rz, ra);
        Ok(())
    }

    /// [`r_forward`](Self::r_forward) without the length check.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn r_forward_unchecked(
        &self,
        x: &[f32],
        z: &[f32],
        a: &[f32],
        delta: &[f32],
        rx: Option<&[f32]>,
        eta: f32,
        on: NoiseOn,
        rz: &mut [f32],
        ra: &mut [f32],
    ) {
        let s = eta * (sq_norm(x) + on.bias_term());
        match rx {
            Some(rx) => {
                rows_dot(self.w, rx, rz);
                for (r, d) in rz.iter_mut().zip(delta) {
                    *r += s * d;
                }
            }
            None => {
                for (r, d) in rz.iter_mut().zip(delta) {
                    *r = s * d;
                }
            }
        }
        for (((q, r), zo), ao) in ra.iter_mut().zip(rz.iter()).zip(z).zip(a) {
            *q = self.act.df_given(*zo, *ao) * r;
        }
    }

    /// R-backward, fused with the loss gradient.
    ///
    /// On entry `rg = R{g}` (`g = ∂f_k/∂a`); on return `rg = R{δ} =
    /// σ''(z) ⊙ R{z} ⊙ g + σ'(z) ⊙ R{g}`. Adds `(c·δ + R{δ}) xᵀ + δ R{x}ᵀ`
    /// to `gw` and `c·δ + R{δ}` to `gb` — the R-operator's `R{∂W}`, `R{∂b}`
    /// plus `c` times `∂f_k/∂θ` (pass `c = ∂ℓ/∂y_k` to add the loss gradient
    /// in the same sweep, `0` for the penalty alone). When `rgx` is given,
    /// writes `R{g_x} = η‖δ‖²·x + Wᵀ R{δ}`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if a buffer's length does not match the layer.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity};
    /// // Linear layer: H_f = 0, so only c·∂f/∂θ is added.
    /// let layer = DenseRef::new(&[1.0, 1.0], &[0.0], 2, Identity).unwrap();
    /// let (x, z, g, delta, rz) = ([1.0, 2.0], [3.0], [1.0], [1.0], [0.5]);
    /// let (mut rg, mut gw, mut gb) = ([0.0], [0.0; 2], [0.0]);
    /// layer
    ///     .r_backward(&x, &z, &z, &g, &delta, &rz, None, &mut rg, 2.0, 0.1, &mut gw, &mut gb, None)
    ///     .unwrap();
    /// assert_eq!((rg, gw, gb), ([0.0], [2.0, 4.0], [2.0]));
    /// ```
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn r_backward(
        &self,
        x: &[f32],
        z: &[f32],
        a: &[f32],
        g: &[f32],
        delta: &[f32],
        rz: &[f32],
        rx: Option<&[f32]>,
        rg: &mut [f32],
        c: f32,
        eta: f32,
        gw: &mut [f32],
        gb: &mut [f32],
        rgx: Option<&mut [f32]>,
    ) -> Result<(), Error> {
        let rx_len = rx.map_or(self.n_in, <[f32]>::len);
        let rgx_len = rgx.as_ref().map_or(self.n_in, |v| v.len());
        self.check(
            &[x.len(), rx_len, rgx_len],
            &[
                z.len(),
                a.len(),
                g.len(),
                delta.len(),
                rz.len(),
                rg.len(),
                gb.len(),
            ],
        )?;
        check_len(gw.len(), self.w.len())?;
        self.r_backward_unchecked(x, z, a, g, delta, rz, rx, rg, c, eta, gw, gb, rgx);
        Ok(())
    }

    /// [`r_backward`](Self::r_backward) without the length checks.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn r_backward_unchecked(
        &self,
        x: &[f32],
        z: &[f32],
        a: &[f32],
        g: &[f32],
        delta: &[f32],
        rz: &[f32],
        rx: Option<&[f32]>,
        rg: &mut [f32],
        c: f32,
        eta: f32,
        gw: &mut [f32],
        gb: &mut [f32],
        rgx: Option<&mut [f32]>,
    ) {
        for ((((r, zo), ao), go), rzo) in rg.iter_mut().zip(z).zip(a).zip(g).zip(rz) {
            let (d1, d2) = (self.act.df_given(*zo, *ao), self.act.d2f_given(*zo, *ao));
            *r = d2 * rzo * go + d1 * *r;
        }
        let rows = gw
            .chunks_exact_mut(self.n_in)
            .zip(rg.iter())
            .zip(delta)
            .zip(gb);
        match rx {
            Some(rx) => {
                for (((gwo, r), d), gbo) in rows {
                    let s = c * d + r;
                    axpy2_into(s, x, *d, rx, gwo);
                    *gbo += s;
                }
            }
            None => {
                for (((gwo, r), d), gbo) in rows {
                    let s = c * d + r;
                    axpy_into(s, x, gwo);
                    *gbo += s;
                }
            }
        }
        if let Some(rgx) = rgx {
            rows_axpy(self.w, rg, rgx);
            axpy_into(eta * sq_norm(delta), x, rgx);
        }
    }
}
