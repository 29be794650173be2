//! The Elman network's steps as the driver runs them.

use super::cell::{self, Cell, CellMut};
use super::{ElmanRef, ElmanScratch};
use crate::error::{Error, check_len};
use crate::nn::Activation;
use crate::rnn::driver::Unrolled;
use crate::rnn::one_cell::{CellDir, OneCell};
use crate::rnn::ops::{at, axpy, mtv_add, outer_add, prev, row, row_mut, sq};
use crate::rnn::params::{ElmanParams, ElmanParamsMut, Eta};
use crate::rnn::{RnnDims, readout};

impl<A: Activation> ElmanRef<'_, A> {
    fn cell<'w>(&self, w: ElmanParams<'w>) -> Cell<'w> {
        Cell {
            wx: w.wx,
            b: w.b,
            wh: w.wh,
            inputs: self.dims.input,
            hidden: self.dims.hidden,
        }
    }

    /// `out += ∇_θ (s·f)` from the `delta` of the BPTT.
    fn add_grad_from(
        &self,
        x: &[f32],
        hs: &[f32],
        delta: &[f32],
        seed: &[f32],
        out: &mut ElmanParamsMut<'_>,
    ) {
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        for t in 0..steps {
            let o = CellMut {
                wx: out.wx,
                b: out.b,
                wh: out.wh,
            };
            cell::add_grad(row(delta, t, h), row(x, t, di), prev(hs, t, h), o);
            if self.dims.readout_at(t) {
                readout::add_grad(row(seed, t, k), row(hs, t, h), out.v, out.c);
            }
        }
    }
}

impl<'a, A: Activation> Unrolled for ElmanRef<'a, A> {
    type Scratch<'s> = ElmanScratch<'s>;
    one_cell_hooks!(1, false);

    fn load(&self, x: &[f32], ws: &mut ElmanScratch<'_>) -> Result<(), Error> {
        ws.check(&self.dims)?;
        check_len(x.len(), ws.x.len())?;
        ws.x.copy_from_slice(x);
        Ok(())
    }

    #[inline(always)]
    fn forward_step(&self, ws: &mut ElmanScratch<'_>, t: usize, noisy: bool) {
        let (di, h) = (self.dims.input, self.dims.hidden);
        let w = if noisy { ws.noisy.as_ref() } else { self.p };
        let (hp, hc) = ws.h.split_at_mut(t * h);
        let ht = hc.get_mut(..h).unwrap_or(&mut []);
        let z = row_mut(ws.z, t, h);
        self.cell(w)
            .forward(&self.act, row(ws.x, t, di), prev(hp, t, h), z, ht);
    }

    #[inline(always)]
    fn backward_step(&self, ws: &mut ElmanScratch<'_>, t: usize, out: bool, noisy: bool) {
        let (h, k) = (self.dims.hidden, self.dims.output);
        let w = if noisy { ws.noisy.as_ref() } else { self.p };
        let (gn, _) = ws.tmp.split_at_mut(h);
        let g = row_mut(ws.g, t, h);
        g.copy_from_slice(gn);
        if out {
            readout::backward(w.v, h, row(ws.seed, t, k), g);
        }
        let (z, a) = (row(ws.z, t, h), row(ws.h, t, h));
        self.cell(w)
            .backward(&self.act, z, a, g, row_mut(ws.delta, t, h), gn);
    }

    fn add_grad(&self, ws: &ElmanScratch<'_>, grad: &mut ElmanParamsMut<'_>) {
        self.add_grad_from(ws.x, ws.h, ws.delta, ws.seed, grad);
    }

    fn grad_to_dir(&self, ws: &mut ElmanScratch<'_>) {
        ws.dir.fill(0.0);
        self.add_grad_from(ws.x, ws.h, ws.delta, ws.seed, &mut ws.dir);
    }

    fn step_penalty(
        &self,
        ws: &ElmanScratch<'_>,
        t: usize,
        out: bool,
        e: &Eta,
        beta: f32,
        s: &mut f32,
    ) {
        let (di, h, k) = (self.dims.input, self.dims.hidden, self.dims.output);
        let d2 = sq(row(ws.delta, t, h));
        *s += d2 * cell::step_coef(e[0], e[1], beta, row(ws.x, t, di), prev(ws.h, t, h));
        if out {
            *s += readout::step_penalty(e[2], row(ws.seed, t, k), row(ws.h, t, h), beta);
        }
    }

    #[inline(always)]
    fn r_forward_step(&self, ws: &mut ElmanScratch<'_>, t: usize, dir: CellDir) {
        let (di, h) = (self.dims.input, self.dims.hidden);
        let (rhp, rhc) = ws.rh.split_at_mut(t * h);
        let rz = row_mut(ws.rz, t, h);
        self.cell(self.p).r_z(None, prev(rhp, t, h), rz);
        let (xt, hprev) = (row(ws.x, t, di), prev(ws.h, t, h));
        match dir {
            CellDir::Shared => self.cell(ws.dir.as_ref()).dir_z(xt, hprev, rz),
            CellDir::Rank1 { e, beta } => {
                let a = cell::step_coef(e[0], e[1], beta, xt, hprev);
                axpy(a, row(ws.delta, t, h), rz);
            }
            CellDir::UnitZ { step, unit } => {
                if t == step
                    && let Some(r) = rz.get_mut(unit)
                {
                    *r += 1.0;
                }
            }
            CellDir::Wx(i, j) => {
                if let (Some(r), Some(&xj)) = (rz.get_mut(i), xt.get(j)) {
                    *r += xj;
                }
            }
            CellDir::B(i) => {
                if let Some(r) = rz.get_mut(i) {
                    *r += 1.0;
                }
            }
            CellDir::Wh(i, j) => {
                if let (Some(r), Some(&hj)) = (rz.get_mut(i), hprev.get(j)) {
                    *r += hj;
                }
            }
        }
        let rht = rhc.get_mut(..h).unwrap_or(&mut []);
        cell::r_h(&self.act, row(ws.z, t, h), row(ws.h, t, h), rz, rht);
    }

    #[inline(always)]
    fn r_backward_step(&self, ws: &mut ElmanScratch<'_>, t: usize, out: bool, dir: CellDir) {
        let (h, k) = (self.dims.hidden, self.dims.output);
        let (rgn, rg) = ws.tmp.split_at_mut(h);
        rg.copy_from_slice(rgn);
        if out {
            let s = row(ws.seed, t, k);
            match dir {
                CellDir::Shared => readout::backward(ws.dir.v, h, s, rg),
                CellDir::Rank1 { e, .. } => axpy(e[2] * sq(s), row(ws.h, t, h), rg),
                _ => {}
            }
        }
        let at_t = (
            row(ws.z, t, h),
            row(ws.h, t, h),
            row(ws.g, t, h),
            row(ws.rz, t, h),
        );
        let rd = row_mut(ws.rdelta, t, h);
        self.cell(self.p).r_backward(&self.act, at_t, rg, rd, rgn);
        let d = row(ws.delta, t, h);
        match dir {
            CellDir::Shared => mtv_add(ws.dir.wh, h, d, rgn),
            CellDir::Rank1 { e, .. } => axpy(e[1] * sq(d), prev(ws.h, t, h), rgn),
            CellDir::Wh(i, j) => {
                if let (Some(r), Some(&di)) = (rgn.get_mut(j), d.get(i)) {
                    *r += di;
                }
            }
            _ => {}
        }
    }

    fn add_r_grad(&self, ws: &ElmanScratch<'_>, out: &mut ElmanParamsMut<'_>) {
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        for t in 0..steps {
            let o = CellMut {
                wx: out.wx,
                b: out.b,
                wh: out.wh,
            };
            cell::add_r_grad(
                (row(ws.delta, t, h), row(ws.rdelta, t, h)),
                (row(ws.x, t, di), None),
                (prev(ws.h, t, h), prev(ws.rh, t, h)),
                o,
            );
            if self.dims.readout_at(t) {
                outer_add(1.0, row(ws.seed, t, k), row(ws.rh, t, h), out.v);
            }
        }
    }

    fn units(&self) -> usize {
        self.dims.hidden
    }

    fn unit_coef(&self, ws: &ElmanScratch<'_>, s: usize, _: usize, e: &Eta, beta: f32) -> f32 {
        let (di, h) = (self.dims.input, self.dims.hidden);
        cell::step_coef(e[0], e[1], beta, row(ws.x, s, di), prev(ws.h, s, h))
    }

    fn rdelta_at(&self, ws: &ElmanScratch<'_>, s: usize, i: usize) -> f32 {
        at(row(ws.rdelta, s, self.dims.hidden), i)
    }
}

impl<A: Activation> OneCell for ElmanRef<'_, A> {
    fn rows(&self) -> usize {
        self.dims.hidden
    }

    fn x_delta_rdelta<'w>(
        &self,
        ws: &'w ElmanScratch<'_>,
        t: usize,
    ) -> (&'w [f32], &'w [f32], &'w [f32]) {
        let (di, h) = (self.dims.input, self.dims.hidden);
        (row(ws.x, t, di), row(ws.delta, t, h), row(ws.rdelta, t, h))
    }

    fn recurrent_input<'w>(
        &self,
        ws: &'w ElmanScratch<'_>,
        t: usize,
        _: usize,
    ) -> (&'w [f32], &'w [f32]) {
        let h = self.dims.hidden;
        (prev(ws.h, t, h), prev(ws.rh, t, h))
    }
}
