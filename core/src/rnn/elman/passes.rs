//! The Elman network's steps as the driver runs them.

use super::cell::{self, Cell, CellMut};
use super::{ElmanRef, ElmanScratch};
use crate::error::{Error, check_len};
use crate::nn::Activation;
use crate::perturbation::Perturbation;
use crate::rnn::driver::{self, Draw, Unrolled};
use crate::rnn::ops::{at, axpy, mtv_add, outer_add, prev, row, row_mut, sq};
use crate::rnn::params::{ElmanParams, ElmanParamsMut, Eta};
use crate::rnn::{RecurrentNoise, RnnDims, readout};

/// A direction of the R-operator pass.
#[derive(Debug, Clone, Copy)]
pub(in crate::rnn) enum Dir {
    /// `dir` in the scratch, the same at every step (per sequence).
    Shared,
    /// Per step: at copy t, `η ⊙ G_t` with `G_t = δ_t [x_t; h_{t−1}; 1]ᵀ`
    /// (and `s_t h_tᵀ` for the readout), never materialised.
    Rank1 { e: Eta, beta: f32 },
    /// A unit change of the pre-activation `z_{step, unit}` alone.
    UnitZ { step: usize, unit: usize },
    /// A unit change of `wx[i][j]` at every step.
    Wx(usize, usize),
    /// A unit change of `b[i]` at every step.
    B(usize),
    /// A unit change of `wh[i][j]` at every step.
    Wh(usize, usize),
}

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
    type Grad<'g> = ElmanParamsMut<'g>;
    type Dir = Dir;

    fn dims(&self) -> RnnDims {
        self.dims
    }

    fn noise(&self) -> RecurrentNoise {
        self.noise
    }

    fn layers(&self) -> usize {
        3
    }

    fn check(&self, ws: &ElmanScratch<'_>) -> Result<(), Error> {
        ws.check(&self.dims)
    }

    fn check_grad(&self, g: &ElmanParamsMut<'_>) -> Result<(), Error> {
        g.check(&self.dims, 1)
    }

    fn load(&self, x: &[f32], ws: &mut ElmanScratch<'_>) -> Result<(), Error> {
        ws.check(&self.dims)?;
        check_len(x.len(), ws.x.len())?;
        ws.x.copy_from_slice(x);
        Ok(())
    }

    fn seed<'w>(&self, ws: &'w mut ElmanScratch<'_>) -> &'w mut [f32] {
        ws.seed
    }

    fn draw<P: Perturbation>(&self, p: &mut P, step: usize, what: Draw, ws: &mut ElmanScratch<'_>) {
        let (d, n) = (&self.dims, &mut ws.noisy);
        match what {
            Draw::All => {
                self.p.draw_cell(p, 0, true, d, n);
                self.p.draw_readout(p, 0, d, n);
            }
            Draw::Cell => self.p.draw_cell(p, step, true, d, n),
            // BPTT reads only W̃_h (and Ṽ): layer 0 is not redrawn (the
            // streams are keyed per layer, so W̃_h's bits are the same).
            Draw::Back => self.p.draw_cell(p, step, false, d, n),
            Draw::Readout => self.p.draw_readout(p, step, d, n),
        }
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
    fn readout_step(&self, ws: &mut ElmanScratch<'_>, t: usize, noisy: bool) {
        let (h, k) = (self.dims.hidden, self.dims.output);
        let w = if noisy { ws.noisy.as_ref() } else { self.p };
        readout::forward(w.v, w.c, h, row(ws.h, t, h), row_mut(ws.y, t, k));
    }

    fn backward_start(&self, ws: &mut ElmanScratch<'_>) {
        let (gn, _) = ws.tmp.split_at_mut(self.dims.hidden);
        gn.fill(0.0);
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

    fn dir_penalty(&self, ws: &ElmanScratch<'_>, e: &Eta, beta: f32) -> f32 {
        ws.dir.weighted_sq(e, beta)
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

    fn add_dir(&self, ws: &ElmanScratch<'_>, coef: f32, grad: &mut ElmanParamsMut<'_>) {
        grad.add_scaled(coef, ws.dir.as_ref());
    }

    fn scale_dir(&self, ws: &mut ElmanScratch<'_>, e: &Eta, beta: f32) -> Dir {
        ws.dir.scale(e, beta);
        Dir::Shared
    }

    fn rank1(&self, e: &Eta, beta: f32) -> Dir {
        Dir::Rank1 { e: *e, beta }
    }

    #[inline(always)]
    fn r_forward_step(&self, ws: &mut ElmanScratch<'_>, t: usize, dir: Dir) {
        let (di, h) = (self.dims.input, self.dims.hidden);
        let (rhp, rhc) = ws.rh.split_at_mut(t * h);
        let rz = row_mut(ws.rz, t, h);
        self.cell(self.p).r_z(None, prev(rhp, t, h), rz);
        let (xt, hprev) = (row(ws.x, t, di), prev(ws.h, t, h));
        match dir {
            Dir::Shared => self.cell(ws.dir.as_ref()).dir_z(xt, hprev, rz),
            Dir::Rank1 { e, beta } => {
                let a = cell::step_coef(e[0], e[1], beta, xt, hprev);
                axpy(a, row(ws.delta, t, h), rz);
            }
            Dir::UnitZ { step, unit } => {
                if t == step
                    && let Some(r) = rz.get_mut(unit)
                {
                    *r += 1.0;
                }
            }
            Dir::Wx(i, j) => {
                if let (Some(r), Some(&xj)) = (rz.get_mut(i), xt.get(j)) {
                    *r += xj;
                }
            }
            Dir::B(i) => {
                if let Some(r) = rz.get_mut(i) {
                    *r += 1.0;
                }
            }
            Dir::Wh(i, j) => {
                if let (Some(r), Some(&hj)) = (rz.get_mut(i), hprev.get(j)) {
                    *r += hj;
                }
            }
        }
        let rht = rhc.get_mut(..h).unwrap_or(&mut []);
        cell::r_h(&self.act, row(ws.z, t, h), row(ws.h, t, h), rz, rht);
    }

    fn r_backward_start(&self, ws: &mut ElmanScratch<'_>) {
        let (rgn, _) = ws.tmp.split_at_mut(self.dims.hidden);
        rgn.fill(0.0);
    }

    #[inline(always)]
    fn r_backward_step(&self, ws: &mut ElmanScratch<'_>, t: usize, out: bool, dir: Dir) {
        let (h, k) = (self.dims.hidden, self.dims.output);
        let (rgn, rg) = ws.tmp.split_at_mut(h);
        rg.copy_from_slice(rgn);
        if out {
            let s = row(ws.seed, t, k);
            match dir {
                Dir::Shared => readout::backward(ws.dir.v, h, s, rg),
                Dir::Rank1 { e, .. } => axpy(e[2] * sq(s), row(ws.h, t, h), rg),
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
            Dir::Shared => mtv_add(ws.dir.wh, h, d, rgn),
            Dir::Rank1 { e, .. } => axpy(e[1] * sq(d), prev(ws.h, t, h), rgn),
            Dir::Wh(i, j) => {
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

    fn seed_trace(&self, ws: &mut ElmanScratch<'_>, e: &Eta, beta: f32) -> f32 {
        let RnnDims {
            input: di,
            hidden: h,
            steps,
            ..
        } = self.dims;
        let mut total = 0.0;
        match self.noise {
            RecurrentNoise::PerStep => {
                for s in 0..steps {
                    let a = cell::step_coef(e[0], e[1], beta, row(ws.x, s, di), prev(ws.h, s, h));
                    if a == 0.0 {
                        continue;
                    }
                    for i in 0..h {
                        driver::r_pass(self, ws, Dir::UnitZ { step: s, unit: i });
                        total += a * at(row(ws.rdelta, s, h), i);
                    }
                }
            }
            RecurrentNoise::PerSequence => {
                let rd_at = |ws: &ElmanScratch<'_>, t: usize, i: usize| at(row(ws.rdelta, t, h), i);
                for i in 0..h {
                    if e[0] != 0.0 {
                        for j in 0..di {
                            driver::r_pass(self, ws, Dir::Wx(i, j));
                            let v: f32 = (0..steps)
                                .map(|t| rd_at(ws, t, i) * at(row(ws.x, t, di), j))
                                .sum();
                            total += e[0] * v;
                        }
                        if beta != 0.0 {
                            driver::r_pass(self, ws, Dir::B(i));
                            let v: f32 = (0..steps).map(|t| rd_at(ws, t, i)).sum();
                            total += e[0] * beta * v;
                        }
                    }
                    if e[1] != 0.0 {
                        for j in 0..h {
                            driver::r_pass(self, ws, Dir::Wh(i, j));
                            let v: f32 = (0..steps)
                                .map(|t| {
                                    let hp = at(prev(ws.h, t, h), j);
                                    let rhp = at(prev(ws.rh, t, h), j);
                                    let d = at(row(ws.delta, t, h), i);
                                    rd_at(ws, t, i) * hp + d * rhp
                                })
                                .sum();
                            total += e[1] * v;
                        }
                    }
                }
            }
        }
        total
    }
}
