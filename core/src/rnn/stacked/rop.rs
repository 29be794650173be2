//! The stacked network's R-operator steps: both cells' (the Elman cell's
//! R steps), the second's input moving with `R{h¹_t}`.

use super::passes::{Dir, StackedView, cells, unit_z};
use super::{ParamsMut, StackedElmanWork};
use crate::nn::Activation;
use crate::rnn::driver::Unrolled;
use crate::rnn::elman::cell;
use crate::rnn::ops::{axpy, mtv_add, outer_add, prev, row, row_mut, sq};
use crate::rnn::readout;

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize, A>
    StackedView<'_, D, H1, H2, K, T, A>
where
    A: Activation,
{
    pub(super) fn r_forward(&self, ws: &mut StackedElmanWork<D, H1, H2, K, T>, t: usize, dir: Dir) {
        let w = self.net.w();
        let [c1, c2] = cells::<D, H1, H2>(&w);
        let v = ws.dir.w();
        let [v1, v2] = cells::<D, H1, H2>(&v);
        let act = &self.net.act;
        let (x, h1, h2) = (
            ws.x.as_flattened(),
            ws.h1.as_flattened(),
            ws.h2.as_flattened(),
        );
        let (xt, h1p, h1t, h2p) = (
            row(x, t, D),
            prev(h1, t, H1),
            row(h1, t, H1),
            prev(h2, t, H2),
        );
        let (rhp, rhc) = ws.rh1.as_flattened_mut().split_at_mut(t * H1);
        let rz = row_mut(ws.rz1.as_flattened_mut(), t, H1);
        c1.r_z(None, prev(rhp, t, H1), rz);
        match dir {
            Dir::Shared => v1.dir_z(xt, h1p, rz),
            Dir::Rank1 { e, beta } => {
                let a = cell::step_coef(e[0], e[1], beta, xt, h1p);
                axpy(a, row(ws.d1.as_flattened(), t, H1), rz);
            }
            Dir::UnitZ { cell, step, unit } => unit_z(cell == 1 && step == t, unit, rz),
        }
        let rh1t = rhc.get_mut(..H1).unwrap_or(&mut []);
        cell::r_h(act, row(ws.z1.as_flattened(), t, H1), h1t, rz, rh1t);
        let (rhp, rhc) = ws.rh2.as_flattened_mut().split_at_mut(t * H2);
        let rz = row_mut(ws.rz2.as_flattened_mut(), t, H2);
        c2.r_z(Some(rh1t), prev(rhp, t, H2), rz);
        match dir {
            Dir::Shared => v2.dir_z(h1t, h2p, rz),
            Dir::Rank1 { e, beta } => {
                let a = cell::step_coef(e[2], e[3], beta, h1t, h2p);
                axpy(a, row(ws.d2.as_flattened(), t, H2), rz);
            }
            Dir::UnitZ { cell, step, unit } => unit_z(cell == 2 && step == t, unit, rz),
        }
        let rh2t = rhc.get_mut(..H2).unwrap_or(&mut []);
        let (z2, a2) = (row(ws.z2.as_flattened(), t, H2), row(h2, t, H2));
        cell::r_h(act, z2, a2, rz, rh2t);
    }

    pub(super) fn r_backward(
        &self,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        t: usize,
        out: bool,
        dir: Dir,
    ) {
        let w = self.net.w();
        let [c1, c2] = cells::<D, H1, H2>(&w);
        let v = ws.dir.w();
        let act = &self.net.act;
        let (h1, h2) = (ws.h1.as_flattened(), ws.h2.as_flattened());
        let (d1, d2) = (
            row(ws.d1.as_flattened(), t, H1),
            row(ws.d2.as_flattened(), t, H2),
        );
        let (h1p, h1t, h2p, h2t) = (
            prev(h1, t, H1),
            row(h1, t, H1),
            prev(h2, t, H2),
            row(h2, t, H2),
        );
        let [rg1n, rg1] = &mut ws.g1;
        let [rg2n, rg2] = &mut ws.g2;
        rg2.copy_from_slice(rg2n);
        if out {
            let s = row(ws.seed.as_flattened(), t, K);
            match dir {
                Dir::Shared => readout::backward(v.v, H2, s, rg2),
                Dir::Rank1 { e, .. } => axpy(e[4] * sq(s), h2t, rg2),
                Dir::UnitZ { .. } => {}
            }
        }
        let at2 = (
            row(ws.z2.as_flattened(), t, H2),
            h2t,
            row(ws.g2s.as_flattened(), t, H2),
            row(ws.rz2.as_flattened(), t, H2),
        );
        let rd2 = row_mut(ws.rd2.as_flattened_mut(), t, H2);
        c2.r_backward(act, at2, rg2, rd2, rg2n);
        rg1.copy_from_slice(rg1n);
        mtv_add(w.wx2, H1, rd2, rg1);
        match dir {
            Dir::Shared => {
                mtv_add(v.wh2, H2, d2, rg2n);
                mtv_add(v.wx2, H1, d2, rg1);
            }
            Dir::Rank1 { e, .. } => {
                axpy(e[3] * sq(d2), h2p, rg2n);
                axpy(e[2] * sq(d2), h1t, rg1);
            }
            Dir::UnitZ { .. } => {}
        }
        let at1 = (
            row(ws.z1.as_flattened(), t, H1),
            h1t,
            row(ws.g1s.as_flattened(), t, H1),
            row(ws.rz1.as_flattened(), t, H1),
        );
        let rd1 = row_mut(ws.rd1.as_flattened_mut(), t, H1);
        c1.r_backward(act, at1, rg1, rd1, rg1n);
        match dir {
            Dir::Shared => mtv_add(v.wh1, H1, d1, rg1n),
            Dir::Rank1 { e, .. } => axpy(e[1] * sq(d1), h1p, rg1n),
            Dir::UnitZ { .. } => {}
        }
    }

    /// `out += R{∇_θ (s·f)}` from the R pass in `ws`.
    pub(super) fn add_r_grad_to(
        &self,
        ws: &StackedElmanWork<D, H1, H2, K, T>,
        out: &mut ParamsMut<'_>,
    ) {
        let dims = self.dims();
        let (x, h1, h2) = (
            ws.x.as_flattened(),
            ws.h1.as_flattened(),
            ws.h2.as_flattened(),
        );
        let (rh1, rh2) = (ws.rh1.as_flattened(), ws.rh2.as_flattened());
        for t in 0..T {
            let [c1, c2] = out.cells_mut();
            cell::add_r_grad(
                (
                    row(ws.d1.as_flattened(), t, H1),
                    row(ws.rd1.as_flattened(), t, H1),
                ),
                (row(x, t, D), None),
                (prev(h1, t, H1), prev(rh1, t, H1)),
                c1,
            );
            cell::add_r_grad(
                (
                    row(ws.d2.as_flattened(), t, H2),
                    row(ws.rd2.as_flattened(), t, H2),
                ),
                (row(h1, t, H1), Some(row(rh1, t, H1))),
                (prev(h2, t, H2), prev(rh2, t, H2)),
                c2,
            );
            if dims.readout_at(t) {
                let s = row(ws.seed.as_flattened(), t, K);
                outer_add(1.0, s, row(rh2, t, H2), out.v);
            }
        }
    }
}
