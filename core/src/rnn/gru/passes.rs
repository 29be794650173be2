//! The GRU network's steps as the driver runs them.

use super::{GruRef, GruScratch};
use crate::error::{Error, check_len};
use crate::nn::{Activation, Sigmoid};
use crate::rnn::driver::Unrolled;
use crate::rnn::one_cell::{CellDir, OneCell};
use crate::rnn::ops::{at, axpy, mtv_add, mv_add, outer_add, row, row_mut, sq};
use crate::rnn::params::{ElmanParamsMut, Eta};
use crate::rnn::{RnnDims, readout};

/// `h_{t−1}`: row `t − 1` of `h`, or `zero` at `t = 0`.
#[inline(always)]
pub(super) fn prev<'s>(h: &'s [f32], zero: &'s [f32], t: usize, n: usize) -> &'s [f32] {
    if t == 0 { zero } else { row(h, t - 1, n) }
}

impl<A: Activation> GruRef<'_, A> {
    /// The reset and update gates' recurrent rows, and the candidate's.
    pub(super) fn wh_split<'w>(&self, wh: &'w [f32]) -> (&'w [f32], &'w [f32]) {
        let h = self.dims.hidden;
        wh.split_at(2 * h * h)
    }

    /// `out += ∇_θ (s·f)` from the `delta` of the BPTT.
    fn add_grad_from(
        &self,
        ws: (&[f32], &[f32], &[f32], &[f32]),
        zero: &[f32],
        delta: &[f32],
        out: &mut ElmanParamsMut<'_>,
    ) {
        let (x, hs, q, seed) = ws;
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        for t in 0..steps {
            let d = row(delta, t, 3 * h);
            outer_add(1.0, d, row(x, t, di), out.wx);
            axpy(1.0, d, out.b);
            let (wru, wn) = out.wh.split_at_mut(2 * h * h);
            let (dru, dn) = d.split_at(2 * h);
            outer_add(1.0, dru, prev(hs, zero, t, h), wru);
            outer_add(1.0, dn, row(q, t, h), wn);
            if self.dims.readout_at(t) {
                readout::add_grad(row(seed, t, k), row(hs, t, h), out.v, out.c);
            }
        }
    }
}

impl<'a, A: Activation> Unrolled for GruRef<'a, A> {
    type Scratch<'s> = GruScratch<'s>;
    one_cell_hooks!(3, true);

    fn load(&self, x: &[f32], ws: &mut GruScratch<'_>) -> Result<(), Error> {
        ws.check(&self.dims)?;
        check_len(x.len(), ws.x.len())?;
        ws.x.copy_from_slice(x);
        ws.zero.fill(0.0);
        Ok(())
    }

    #[inline(always)]
    fn forward_step(&self, ws: &mut GruScratch<'_>, t: usize, noisy: bool) {
        let (di, h) = (self.dims.input, self.dims.hidden);
        let w = if noisy { ws.noisy.as_ref() } else { self.p };
        let (hp_rows, hc) = ws.h.split_at_mut(t * h);
        let hp = prev(hp_rows, ws.zero, t, h);
        let z = row_mut(ws.z, t, 3 * h);
        z.copy_from_slice(w.b);
        mv_add(w.wx, di, row(ws.x, t, di), z);
        let (zru, zn) = z.split_at_mut(2 * h);
        let (uru, un) = w.wh.split_at(2 * h * h);
        mv_add(uru, h, hp, zru);
        let a = row_mut(ws.a, t, 3 * h);
        let (aru, an) = a.split_at_mut(2 * h);
        Sigmoid.f_slice(zru, aru);
        let q = row_mut(ws.q, t, h);
        for ((q, &r), &hp) in q.iter_mut().zip(&*aru).zip(hp) {
            *q = r * hp;
        }
        mv_add(un, h, q, zn);
        self.act.f_slice(zn, an);
        let ht = hc.get_mut(..h).unwrap_or(&mut []);
        let u = aru.get(h..).unwrap_or(&[]);
        for (((ht, &u), &n), &hp) in ht.iter_mut().zip(u).zip(&*an).zip(hp) {
            *ht = (1.0 - u) * n + u * hp;
        }
    }

    #[inline(always)]
    fn backward_step(&self, ws: &mut GruScratch<'_>, t: usize, out: bool, noisy: bool) {
        let (h, k) = (self.dims.hidden, self.dims.output);
        let (gn, _) = ws.tmp.split_at_mut(h);
        let w = if noisy { ws.noisy.as_ref() } else { self.p };
        let g = row_mut(ws.g, t, h);
        g.copy_from_slice(gn);
        if out {
            readout::backward(w.v, h, row(ws.seed, t, k), g);
        }
        let hp = prev(ws.h, ws.zero, t, h);
        let (z, a) = (row(ws.z, t, 3 * h), row(ws.a, t, 3 * h));
        let d = row_mut(ws.delta, t, 3 * h);
        let (dru, dn) = d.split_at_mut(2 * h);
        let (dr, du) = dru.split_at_mut(h);
        for i in 0..h {
            let (u, n) = (at(a, h + i), at(a, 2 * h + i));
            let (gi, hpi) = (at(g, i), at(hp, i));
            if let Some(d) = dn.get_mut(i) {
                *d = self.act.df_given(at(z, 2 * h + i), n) * gi * (1.0 - u);
            }
            if let Some(d) = du.get_mut(i) {
                *d = Sigmoid.df_given(0.0, u) * gi * (hpi - n);
            }
        }
        let (uru, un) = self.wh_split(w.wh);
        let e = row_mut(ws.e, t, h);
        e.fill(0.0);
        mtv_add(un, h, dn, e);
        for i in 0..h {
            if let Some(d) = dr.get_mut(i) {
                let r = at(a, i);
                *d = Sigmoid.df_given(0.0, r) * at(e, i) * at(hp, i);
            }
        }
        for (i, gn) in gn.iter_mut().enumerate() {
            *gn = at(g, i) * at(a, h + i) + at(e, i) * at(a, i);
        }
        mtv_add(uru, h, dru, gn);
    }

    fn add_grad(&self, ws: &GruScratch<'_>, grad: &mut ElmanParamsMut<'_>) {
        self.add_grad_from((ws.x, ws.h, ws.q, ws.seed), ws.zero, ws.delta, grad);
    }

    fn grad_to_dir(&self, ws: &mut GruScratch<'_>) {
        ws.dir.fill(0.0);
        self.add_grad_from((ws.x, ws.h, ws.q, ws.seed), ws.zero, ws.delta, &mut ws.dir);
    }

    fn step_penalty(
        &self,
        ws: &GruScratch<'_>,
        t: usize,
        out: bool,
        e: &Eta,
        beta: f32,
        s: &mut f32,
    ) {
        let (di, h, k) = (self.dims.input, self.dims.hidden, self.dims.output);
        let d = row(ws.delta, t, 3 * h);
        let (dru, dn) = d.split_at(2 * h);
        *s += e[0] * sq(d) * (sq(row(ws.x, t, di)) + beta);
        *s += e[1] * (sq(dru) * sq(prev(ws.h, ws.zero, t, h)) + sq(dn) * sq(row(ws.q, t, h)));
        if out {
            *s += readout::step_penalty(e[2], row(ws.seed, t, k), row(ws.h, t, h), beta);
        }
    }

    #[inline(always)]
    fn r_forward_step(&self, ws: &mut GruScratch<'_>, t: usize, dir: CellDir) {
        self.r_forward(ws, t, dir);
    }

    #[inline(always)]
    fn r_backward_step(&self, ws: &mut GruScratch<'_>, t: usize, out: bool, dir: CellDir) {
        self.r_backward(ws, t, out, dir);
    }

    fn add_r_grad(&self, ws: &GruScratch<'_>, grad: &mut ElmanParamsMut<'_>) {
        self.add_r_grad(ws, grad);
    }

    fn units(&self) -> usize {
        3 * self.dims.hidden
    }

    fn unit_coef(&self, ws: &GruScratch<'_>, s: usize, i: usize, e: &Eta, beta: f32) -> f32 {
        let (di, h) = (self.dims.input, self.dims.hidden);
        let cx = e[0] * (sq(row(ws.x, s, di)) + beta);
        if i < 2 * h {
            cx + e[1] * sq(prev(ws.h, ws.zero, s, h))
        } else {
            cx + e[1] * sq(row(ws.q, s, h))
        }
    }

    fn rdelta_at(&self, ws: &GruScratch<'_>, s: usize, i: usize) -> f32 {
        at(row(ws.rdelta, s, 3 * self.dims.hidden), i)
    }
}

impl<A: Activation> OneCell for GruRef<'_, A> {
    fn rows(&self) -> usize {
        3 * self.dims.hidden
    }

    fn x_delta_rdelta<'w>(
        &self,
        ws: &'w GruScratch<'_>,
        t: usize,
    ) -> (&'w [f32], &'w [f32], &'w [f32]) {
        let (di, h) = (self.dims.input, self.dims.hidden);
        let (delta, rdelta) = (row(ws.delta, t, 3 * h), row(ws.rdelta, t, 3 * h));
        (row(ws.x, t, di), delta, rdelta)
    }

    /// `h_{t−1}` for the reset and update gates' rows, `q_t` for the
    /// candidate's.
    fn recurrent_input<'w>(
        &self,
        ws: &'w GruScratch<'_>,
        t: usize,
        i: usize,
    ) -> (&'w [f32], &'w [f32]) {
        let h = self.dims.hidden;
        if i < 2 * h {
            (prev(ws.h, ws.zero, t, h), prev(ws.rh, ws.zero, t, h))
        } else {
            (row(ws.q, t, h), row(ws.rq, t, h))
        }
    }
}
