//! The GRU network's R-operator steps and Hessian trace.

use super::passes::prev;
use super::{GruRef, GruScratch};
use crate::nn::{Activation, Sigmoid};
use crate::rnn::RnnDims;
use crate::rnn::one_cell::CellDir as Dir;
use crate::rnn::ops::{at, axpy, mtv_add, mv_add, outer_add, row, row_mut, sq};
use crate::rnn::params::ElmanParamsMut;

impl<A: Activation> GruRef<'_, A> {
    /// R-forward step `t` along `dir` at the clean weights: `rz`, `ra`,
    /// `rq`, `rh`.
    pub(super) fn r_forward(&self, ws: &mut GruScratch<'_>, t: usize, dir: Dir) {
        let RnnDims {
            input: di,
            hidden: h,
            steps: _,
            ..
        } = self.dims;
        let w = self.p;
        let (uru, un) = self.wh_split(w.wh);
        let (rhp_rows, rhc) = ws.rh.split_at_mut(t * h);
        let rhp = prev(rhp_rows, ws.zero, t, h);
        let (xt, hp) = (row(ws.x, t, di), prev(ws.h, ws.zero, t, h));
        let (a, z) = (row(ws.a, t, 3 * h), row(ws.z, t, 3 * h));
        let q = row(ws.q, t, h);
        let delta = row(ws.delta, t, 3 * h);
        let rz = row_mut(ws.rz, t, 3 * h);
        rz.fill(0.0);
        // Input-side direction terms (every gate row).
        match dir {
            Dir::Shared => {
                mv_add(ws.dir.wx, di, xt, rz);
                axpy(1.0, ws.dir.b, rz);
                let (dru, _) = ws.dir.wh.split_at(2 * h * h);
                mv_add(dru, h, hp, rz.get_mut(..2 * h).unwrap_or(&mut []));
            }
            Dir::Rank1 { e, beta } => {
                axpy(e[0] * (sq(xt) + beta), delta, rz);
                let (dru, _) = delta.split_at(2 * h);
                axpy(e[1] * sq(hp), dru, rz.get_mut(..2 * h).unwrap_or(&mut []));
            }
            Dir::UnitZ { step, unit } => {
                if t == step
                    && let Some(r) = rz.get_mut(unit)
                {
                    *r += 1.0;
                }
            }
            Dir::Wx(i, j) => {
                if let Some(r) = rz.get_mut(i) {
                    *r += at(xt, j);
                }
            }
            Dir::B(i) => {
                if let Some(r) = rz.get_mut(i) {
                    *r += 1.0;
                }
            }
            Dir::Wh(i, j) => {
                if i < 2 * h
                    && let Some(r) = rz.get_mut(i)
                {
                    *r += at(hp, j);
                }
            }
        }
        let (rzru, rzn) = rz.split_at_mut(2 * h);
        mv_add(uru, h, rhp, rzru);
        let ra = row_mut(ws.ra, t, 3 * h);
        let (raru, ran) = ra.split_at_mut(2 * h);
        for ((ra, &rz), &a) in raru.iter_mut().zip(&*rzru).zip(a) {
            *ra = Sigmoid.df_given(0.0, a) * rz;
        }
        let rq = row_mut(ws.rq, t, h);
        for (i, rq) in rq.iter_mut().enumerate() {
            *rq = at(raru, i) * at(hp, i) + at(a, i) * at(rhp, i);
        }
        mv_add(un, h, rq, rzn);
        match dir {
            Dir::Shared => {
                let (_, dn) = ws.dir.wh.split_at(2 * h * h);
                mv_add(dn, h, q, rzn);
            }
            Dir::Rank1 { e, .. } => {
                let (_, dn) = delta.split_at(2 * h);
                axpy(e[1] * sq(q), dn, rzn);
            }
            Dir::Wh(i, j) if i >= 2 * h => {
                if let Some(r) = rzn.get_mut(i - 2 * h) {
                    *r += at(q, j);
                }
            }
            _ => {}
        }
        for (i, ra) in ran.iter_mut().enumerate() {
            *ra = self.act.df_given(at(z, 2 * h + i), at(a, 2 * h + i)) * at(rzn, i);
        }
        let rht = rhc.get_mut(..h).unwrap_or(&mut []);
        for (i, r) in rht.iter_mut().enumerate() {
            let (u, n, hpi) = (at(a, h + i), at(a, 2 * h + i), at(hp, i));
            let (ru, rn) = (at(raru, h + i), at(ran, i));
            *r = ru * (hpi - n) + (1.0 - u) * rn + u * at(rhp, i);
        }
    }

    /// R-backward step `t`: `rdelta` (with `tmp` holding `R{g}` of the next
    /// step, `R{g_t}` and `R{e_t}`).
    pub(super) fn r_backward(&self, ws: &mut GruScratch<'_>, t: usize, out: bool, dir: Dir) {
        let RnnDims {
            hidden: h,
            output: k,
            steps: _,
            ..
        } = self.dims;
        let w = self.p;
        let (uru, un) = self.wh_split(w.wh);
        let (rgn, rest) = ws.tmp.split_at_mut(h);
        let (rg, rest) = rest.split_at_mut(h);
        let (re, _) = rest.split_at_mut(h);
        rg.copy_from_slice(rgn);
        if out {
            let s = row(ws.seed, t, k);
            match dir {
                Dir::Shared => mtv_add(ws.dir.v, h, s, rg),
                Dir::Rank1 { e, .. } => axpy(e[2] * sq(s), row(ws.h, t, h), rg),
                _ => {}
            }
        }
        let (z, a, g, e) = (
            row(ws.z, t, 3 * h),
            row(ws.a, t, 3 * h),
            row(ws.g, t, h),
            row(ws.e, t, h),
        );
        let (rz, ra) = (row(ws.rz, t, 3 * h), row(ws.ra, t, 3 * h));
        let (hp, rhp) = (prev(ws.h, ws.zero, t, h), prev(ws.rh, ws.zero, t, h));
        let q = row(ws.q, t, h);
        let delta = row(ws.delta, t, 3 * h);
        let rd = row_mut(ws.rdelta, t, 3 * h);
        let (rdru, rdn) = rd.split_at_mut(2 * h);
        for i in 0..h {
            let (u, n) = (at(a, h + i), at(a, 2 * h + i));
            let (ru, rn) = (at(ra, h + i), at(ra, 2 * h + i));
            let (gi, rgi, hpi) = (at(g, i), at(rg, i), at(hp, i));
            let zn = at(z, 2 * h + i);
            let gg = gi * (1.0 - u);
            let rgg = rgi * (1.0 - u) - gi * ru;
            if let Some(d) = rdn.get_mut(i) {
                *d = self.act.d2f_given(zn, n) * at(rz, 2 * h + i) * gg
                    + self.act.df_given(zn, n) * rgg;
            }
            let gh = gi * (hpi - n);
            let rgh = rgi * (hpi - n) + gi * (at(rhp, i) - rn);
            if let Some(d) = rdru.get_mut(h + i) {
                *d =
                    Sigmoid.d2f_given(0.0, u) * at(rz, h + i) * gh + Sigmoid.df_given(0.0, u) * rgh;
            }
        }
        re.fill(0.0);
        mtv_add(un, h, rdn, re);
        let (dru, dn) = delta.split_at(2 * h);
        match dir {
            Dir::Shared => {
                let (_, an) = ws.dir.wh.split_at(2 * h * h);
                mtv_add(an, h, dn, re);
            }
            Dir::Rank1 { e, .. } => axpy(e[1] * sq(dn), q, re),
            Dir::Wh(i, j) if i >= 2 * h => {
                if let Some(r) = re.get_mut(j) {
                    *r += at(dn, i - 2 * h);
                }
            }
            _ => {}
        }
        for i in 0..h {
            let r = at(a, i);
            let dr = at(e, i) * at(hp, i);
            let rdr = at(re, i) * at(hp, i) + at(e, i) * at(rhp, i);
            if let Some(d) = rdru.get_mut(i) {
                *d = Sigmoid.d2f_given(0.0, r) * at(rz, i) * dr + Sigmoid.df_given(0.0, r) * rdr;
            }
        }
        for (i, o) in rgn.iter_mut().enumerate() {
            let (r, u) = (at(a, i), at(a, h + i));
            let (rr, ru) = (at(ra, i), at(ra, h + i));
            *o = at(rg, i) * u + at(g, i) * ru + at(re, i) * r + at(e, i) * rr;
        }
        mtv_add(uru, h, rdru, rgn);
        match dir {
            Dir::Shared => {
                let (aru, _) = ws.dir.wh.split_at(2 * h * h);
                mtv_add(aru, h, dru, rgn);
            }
            Dir::Rank1 { e, .. } => axpy(e[1] * sq(dru), hp, rgn),
            Dir::Wh(i, j) if i < 2 * h => {
                if let Some(r) = rgn.get_mut(j) {
                    *r += at(dru, i);
                }
            }
            _ => {}
        }
    }

    pub(super) fn add_r_grad(&self, ws: &GruScratch<'_>, out: &mut ElmanParamsMut<'_>) {
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        for t in 0..steps {
            let rd = row(ws.rdelta, t, 3 * h);
            outer_add(1.0, rd, row(ws.x, t, di), out.wx);
            axpy(1.0, rd, out.b);
            let (wru, wn) = out.wh.split_at_mut(2 * h * h);
            let (rdru, rdn) = rd.split_at(2 * h);
            let d = row(ws.delta, t, 3 * h);
            let (dru, dn) = d.split_at(2 * h);
            outer_add(1.0, rdru, prev(ws.h, ws.zero, t, h), wru);
            outer_add(1.0, dru, prev(ws.rh, ws.zero, t, h), wru);
            outer_add(1.0, rdn, row(ws.q, t, h), wn);
            outer_add(1.0, dn, row(ws.rq, t, h), wn);
            if self.dims.readout_at(t) {
                outer_add(1.0, row(ws.seed, t, k), row(ws.rh, t, h), out.v);
            }
        }
    }
}
