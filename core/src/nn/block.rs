//! The dense layer's passes over a block of samples (sample-major slices).
//!
//! Each function gives, sample by sample, the bits of its one-sample twin
//! with the clean weights ([`DenseRef::forward`], [`DenseRef::backward`],
//! [`DenseRef::delta`], [`DenseRef::penalty_term`]); the weights stay in
//! registers across the block.

use super::activation::Activation;
use super::dense::DenseRef;
use super::matmat::{
    matmul_block, outer_acc_block, outer_acc2_block, rows_axpy_block, sum_rows_into, transpose_into,
};
use super::matvec::axpy_into;
use super::penalty::NoiseOn;
use crate::error::{Error, check_len};
use crate::kernels::sq_norm;

/// Samples per block in the networks' batch passes: 16 where `wide` has SIMD
/// registers, 1 elsewhere (microcontrollers: no extra RAM). The results do
/// not depend on it.
#[cfg(any(
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
))]
pub const BLOCK: usize = 16;
/// Samples per block in the networks' batch passes (see the SIMD targets' value).
#[cfg(not(any(
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
)))]
pub const BLOCK: usize = 1;

impl<A: Activation> DenseRef<'_, A> {
    /// Number of samples in a block of `n_in`-vectors `xs`, checking that
    /// every output buffer holds that many `n_out`-vectors.
    fn block_len(&self, xs: usize, outs: &[usize]) -> Result<usize, Error> {
        let n = xs / self.n_in;
        check_len(xs, n * self.n_in)?;
        for &o in outs {
            check_len(o, n * self.b.len())?;
        }
        Ok(n)
    }

    /// `wt = Wᵀ` (`inputs` rows of `outputs`), the packed weights
    /// [`forward_block`](Self::forward_block) reads.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless `wt` has as many elements as the weights.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity};
    /// let layer = DenseRef::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.0; 2], 3, Identity).unwrap();
    /// let mut wt = [0.0; 6];
    /// layer.transpose_into(&mut wt).unwrap();
    /// assert_eq!(wt, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// ```
    pub fn transpose_into(&self, wt: &mut [f32]) -> Result<(), Error> {
        check_len(wt.len(), self.w.len())?;
        self.transpose_into_unchecked(wt);
        Ok(())
    }

    /// [`transpose_into`](Self::transpose_into) without the length check.
    pub(crate) fn transpose_into_unchecked(&self, wt: &mut [f32]) {
        transpose_into(self.w, wt, self.n_in, self.b.len());
    }

    /// Clean forward pass of a block: `zs[s] = W xs[s] + b`, `as_[s] = σ(zs[s])`,
    /// with `wt = Wᵀ` from [`transpose_into`](Self::transpose_into).
    ///
    /// Each `(W x)_o` is summed over the inputs in order from zero, with the
    /// outputs in SIMD lanes (no horizontal sums): the same bits on every
    /// target without fused multiply-add (the default `x86_64` build and
    /// Cortex-M), whatever the block size. The one-sample
    /// [`forward`](Self::forward) sums each row in SIMD lanes first, so the two
    /// differ in the last bits (relative difference within
    /// `2·inputs·ε·Σ|w x| / |W x|`, ε = 2⁻²⁴; tested against f64).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] unless `wt` has as many elements as the
    /// weights, `xs` holds `n` inputs and `zs`, `as_` `n` outputs; nothing is
    /// written then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Relu};
    /// let layer = DenseRef::new(&[1.0, -1.0], &[0.5], 2, Relu).unwrap();
    /// let mut wt = [0.0; 2];
    /// layer.transpose_into(&mut wt).unwrap();
    /// let (mut z, mut a) = ([0.0; 2], [0.0; 2]);
    /// layer.forward_block(&wt, &[1.0, 3.0, 3.0, 1.0], &mut z, &mut a).unwrap();
    /// assert_eq!((z, a), ([-1.5, 2.5], [0.0, 2.5]));
    /// ```
    #[inline(always)]
    pub fn forward_block(
        &self,
        wt: &[f32],
        xs: &[f32],
        zs: &mut [f32],
        as_: &mut [f32],
    ) -> Result<(), Error> {
        self.block_len(xs.len(), &[zs.len(), as_.len()])?;
        check_len(wt.len(), self.w.len())?;
        self.forward_block_unchecked(wt, xs, zs, as_);
        Ok(())
    }

    /// [`forward_block`](Self::forward_block) without the length checks.
    #[inline(always)]
    pub(crate) fn forward_block_unchecked(
        &self,
        wt: &[f32],
        xs: &[f32],
        zs: &mut [f32],
        as_: &mut [f32],
    ) {
        let n_out = self.b.len();
        matmul_block(wt, xs, zs, self.n_in, n_out);
        for z in zs.chunks_exact_mut(n_out) {
            for (zo, bo) in z.iter_mut().zip(self.b) {
                *zo += *bo;
            }
        }
        self.act.f_slice(zs, as_);
    }

    /// Clean backward pass of a block: on entry `gs[s] = ∂ℓ/∂a`, on return
    /// `δ = ∂ℓ/∂z`; adds `Σ_s δ_s xs[s]ᵀ` to `gw` and `Σ_s δ_s` to `gb`
    /// (samples in order), and writes `gxs[s] = Wᵀ δ_s` when given.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if a buffer does not hold `n` vectors of
    /// its width (`gw`: the weights); nothing is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity};
    /// let layer = DenseRef::new(&[1.0, 2.0], &[0.0], 2, Identity).unwrap();
    /// let (xs, zs) = ([1.0, -1.0, 2.0, 0.0], [-1.0, 2.0]);
    /// let (mut g, mut gw, mut gb, mut gx) = ([3.0, 1.0], [0.0; 2], [0.0], [0.0; 4]);
    /// layer.backward_block(&xs, &zs, &zs, &mut g, &mut gw, &mut gb, Some(&mut gx)).unwrap();
    /// assert_eq!((gw, gb, gx), ([5.0, -3.0], [4.0], [3.0, 6.0, 1.0, 2.0]));
    /// ```
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn backward_block(
        &self,
        xs: &[f32],
        zs: &[f32],
        as_: &[f32],
        gs: &mut [f32],
        gw: &mut [f32],
        gb: &mut [f32],
        gxs: Option<&mut [f32]>,
    ) -> Result<(), Error> {
        let n = self.block_len(xs.len(), &[zs.len(), as_.len(), gs.len()])?;
        check_len(gw.len(), self.w.len())?;
        check_len(gb.len(), self.b.len())?;
        if let Some(gx) = gxs.as_ref() {
            check_len(gx.len(), n * self.n_in)?;
        }
        self.backward_block_unchecked(xs, zs, as_, gs, gw, gb, gxs);
        Ok(())
    }

    /// [`backward_block`](Self::backward_block) without the length checks.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn backward_block_unchecked(
        &self,
        xs: &[f32],
        zs: &[f32],
        as_: &[f32],
        gs: &mut [f32],
        gw: &mut [f32],
        gb: &mut [f32],
        gxs: Option<&mut [f32]>,
    ) {
        for ((g, z), a) in gs.iter_mut().zip(zs).zip(as_) {
            *g *= self.act.df_given(*z, *a);
        }
        let n_out = self.b.len();
        outer_acc_block(gw, gs, xs, self.n_in, n_out);
        sum_rows_into(gb, gs);
        if let Some(gx) = gxs {
            rows_axpy_block(self.w, gs, gx, self.n_in, n_out);
        }
    }

    /// One backward sweep of the penalty over a block: `deltas[s] = σ'(z) ⊙
    /// gs[s]`, adds the layer's term `η·(‖xs[s]‖² + b)·‖δ_s‖²` to `acc[s]`
    /// and writes `gxs[s] = Wᵀ δ_s` when given.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if a buffer does not hold `n` vectors of its
    /// width (`acc`: `n` values); nothing is written then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Identity, NoiseOn};
    /// let layer = DenseRef::new(&[1.0, 2.0], &[0.0], 2, Identity).unwrap();
    /// let (xs, zs) = ([1.0, 2.0, 0.0, 1.0], [0.0; 2]);
    /// let (mut d, mut acc) = ([0.0; 2], [0.0; 2]);
    /// layer
    ///     .penalty_block(&xs, &zs, &zs, &[1.0, 2.0], &mut d, 0.5, NoiseOn::Weights, &mut acc, None)
    ///     .unwrap();
    /// assert_eq!(acc, [0.5 * 5.0, 0.5 * 1.0 * 4.0]);
    /// ```
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn penalty_block(
        &self,
        xs: &[f32],
        zs: &[f32],
        as_: &[f32],
        gs: &[f32],
        deltas: &mut [f32],
        eta: f32,
        on: NoiseOn,
        acc: &mut [f32],
        gxs: Option<&mut [f32]>,
    ) -> Result<(), Error> {
        let n = self.block_len(xs.len(), &[zs.len(), as_.len(), gs.len(), deltas.len()])?;
        check_len(acc.len(), n)?;
        if let Some(gx) = gxs.as_ref() {
            check_len(gx.len(), n * self.n_in)?;
        }
        self.penalty_block_unchecked(xs, zs, as_, gs, deltas, eta, on, acc, gxs);
        Ok(())
    }

    /// [`penalty_block`](Self::penalty_block) without the length checks.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn penalty_block_unchecked(
        &self,
        xs: &[f32],
        zs: &[f32],
        as_: &[f32],
        gs: &[f32],
        deltas: &mut [f32],
        eta: f32,
        on: NoiseOn,
        acc: &mut [f32],
        gxs: Option<&mut [f32]>,
    ) {
        for (((d, z), a), g) in deltas.iter_mut().zip(zs).zip(as_).zip(gs) {
            *d = self.act.df_given(*z, *a) * g;
        }
        let n_out = self.b.len();
        for ((t, x), d) in acc
            .iter_mut()
            .zip(xs.chunks_exact(self.n_in))
            .zip(deltas.chunks_exact(n_out))
        {
            *t += self.penalty_term_unchecked(x, d, eta, on);
        }
        if let Some(gx) = gxs {
            rows_axpy_block(self.w, deltas, gx, self.n_in, n_out);
        }
    }

    /// R-forward of a block ([`r_forward`](Self::r_forward) per sample):
    /// `rzs[s] = W rxs[s] + η(‖xs[s]‖² + b)·ds[s]` (`rxs = None`: `R{x} = 0`),
    /// `ras[s] = σ'(z) ⊙ rzs[s]`. `W R{x}` is summed as in
    /// [`forward_block`](Self::forward_block), so the bits differ from the
    /// one-sample pass in the same way.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn r_forward_block_unchecked(
        &self,
        wt: &[f32],
        xs: &[f32],
        zs: &[f32],
        as_: &[f32],
        ds: &[f32],
        rxs: Option<&[f32]>,
        eta: f32,
        on: NoiseOn,
        rzs: &mut [f32],
        ras: &mut [f32],
    ) {
        let n_out = self.b.len();
        if let Some(rx) = rxs {
            matmul_block(wt, rx, rzs, self.n_in, n_out);
        } else {
            rzs.fill(0.0);
        }
        let rows = xs
            .chunks_exact(self.n_in)
            .zip(ds.chunks_exact(n_out))
            .zip(rzs.chunks_exact_mut(n_out));
        for ((x, d), rz) in rows {
            let s = eta * (sq_norm(x) + on.bias_term());
            for (r, d) in rz.iter_mut().zip(d) {
                *r += s * d;
            }
        }
        for (((q, r), zo), ao) in ras.iter_mut().zip(rzs.iter()).zip(zs).zip(as_) {
            *q = self.act.df_given(*zo, *ao) * r;
        }
    }

    /// R-backward of a block ([`r_backward`](Self::r_backward) per sample,
    /// with `c = cs[s]`): on entry `rgs[s] = R{g}`, on return `R{δ}`; `gs` is
    /// overwritten with `c·δ + R{δ}`. Adds `Σ_s (c·δ + R{δ}) xᵀ + δ R{x}ᵀ`
    /// to `gw` and `Σ_s c·δ + R{δ}` to `gb` (samples in order, each with the
    /// one-sample pass's chain of operations) and writes `R{g_x}` into `rgxs` when given.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn r_backward_block_unchecked(
        &self,
        xs: &[f32],
        zs: &[f32],
        as_: &[f32],
        gs: &mut [f32],
        ds: &[f32],
        rzs: &[f32],
        rxs: Option<&[f32]>,
        rgs: &mut [f32],
        cs: &[f32],
        eta: f32,
        gw: &mut [f32],
        gb: &mut [f32],
        rgxs: Option<&mut [f32]>,
    ) {
        let n_out = self.b.len();
        let per = zs
            .iter()
            .zip(as_)
            .zip(rzs)
            .zip(gs.iter_mut())
            .zip(rgs.iter_mut());
        for ((((zo, ao), rzo), go), r) in per {
            let (d1, d2) = (self.act.df_given(*zo, *ao), self.act.d2f_given(*zo, *ao));
            *r = d2 * rzo * *go + d1 * *r;
        }
        let rows = gs
            .chunks_exact_mut(n_out)
            .zip(ds.chunks_exact(n_out))
            .zip(rgs.chunks_exact(n_out))
            .zip(cs);
        for (((s, d), r), c) in rows {
            for ((so, dd), rr) in s.iter_mut().zip(d).zip(r) {
                *so = c * dd + rr;
            }
        }
        match rxs {
            Some(rx) => outer_acc2_block(gw, gs, xs, ds, rx, self.n_in, n_out),
            None => outer_acc_block(gw, gs, xs, self.n_in, n_out),
        }
        sum_rows_into(gb, gs);
        if let Some(rgx) = rgxs {
            rows_axpy_block(self.w, rgs, rgx, self.n_in, n_out);
            let rows = rgx
                .chunks_exact_mut(self.n_in)
                .zip(xs.chunks_exact(self.n_in))
                .zip(ds.chunks_exact(n_out));
            for ((g, x), d) in rows {
                axpy_into(eta * sq_norm(d), x, g);
            }
        }
    }
}
