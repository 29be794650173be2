//! The stacked network's steps as the driver runs them: two Elman cells
//! (their steps are [`elman::cell`](crate::rnn::elman::cell)'s), the second
//! reading `h¹_t`, under one readout.

use super::{ParamsMut, StackedElman, StackedElmanWork, W};
use crate::error::{Error, check_len};
use crate::nn::Activation;
use crate::perturbation::Perturbation;
use crate::rnn::driver::{self, Draw, Unrolled};
use crate::rnn::elman::cell::{self, Cell};
use crate::rnn::ops::{at, axpy, mtv_add, prev, row, row_mut, sq};
use crate::rnn::params::Eta;
use crate::rnn::{Readout, RecurrentNoise, RnnDims, readout};

/// A [`StackedElman`] on sequences of `T` steps with a readout, as the
/// driver runs it.
pub(in crate::rnn) struct StackedView<
    'n,
    const D: usize,
    const H1: usize,
    const H2: usize,
    const K: usize,
    const T: usize,
    A: Activation,
> {
    pub net: &'n StackedElman<D, H1, H2, K, A>,
    pub readout: Readout,
}

/// A direction of the R-operator pass.
#[derive(Clone, Copy)]
pub(in crate::rnn) enum Dir {
    /// `dir` in the workspace, the same at every step (per sequence).
    Shared,
    /// Per step: copy t's `η ⊙ G_t`, rank one per layer, never materialised.
    Rank1 { e: Eta, beta: f32 },
    /// A unit change of the pre-activation of cell `cell` (1 or 2) at
    /// `step`, unit `unit`, alone.
    UnitZ { cell: u8, step: usize, unit: usize },
}

/// Adds 1 to `rz[unit]` if `on`.
pub(super) fn unit_z(on: bool, unit: usize, rz: &mut [f32]) {
    if on && let Some(r) = rz.get_mut(unit) {
        *r += 1.0;
    }
}

/// The two cells of weights `w`.
pub(super) fn cells<'w, const D: usize, const H1: usize, const H2: usize>(
    w: &W<'w>,
) -> [Cell<'w>; 2] {
    [
        Cell {
            wx: w.wx1,
            b: w.b1,
            wh: w.wh1,
            inputs: D,
            hidden: H1,
        },
        Cell {
            wx: w.wx2,
            b: w.b2,
            wh: w.wh2,
            inputs: H1,
            hidden: H2,
        },
    ]
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize, A>
    StackedView<'_, D, H1, H2, K, T, A>
where
    A: Activation,
{
    /// `out += ∇_θ (s·f)` from the `d1`, `d2` of the BPTT.
    fn add_grad_to(
        &self,
        (x, h1, h2): (&[f32], &[f32], &[f32]),
        (d1s, d2s, seed): (&[f32], &[f32], &[f32]),
        out: &mut ParamsMut<'_>,
    ) {
        let dims = self.dims();
        for t in 0..T {
            let h1t = row(h1, t, H1);
            let [c1, c2] = out.cells_mut();
            cell::add_grad(row(d1s, t, H1), row(x, t, D), prev(h1, t, H1), c1);
            cell::add_grad(row(d2s, t, H2), h1t, prev(h2, t, H2), c2);
            if dims.readout_at(t) {
                let (v, c) = (&mut *out.v, &mut *out.c);
                readout::add_grad(row(seed, t, K), row(h2, t, H2), v, c);
            }
        }
    }
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize, A> Unrolled
    for StackedView<'_, D, H1, H2, K, T, A>
where
    A: Activation,
{
    type Scratch<'s> = &'s mut StackedElmanWork<D, H1, H2, K, T>;
    type Grad<'g> = ParamsMut<'g>;
    type Dir = Dir;

    fn dims(&self) -> RnnDims {
        RnnDims {
            input: D,
            hidden: H2,
            output: K,
            steps: T,
            readout: self.readout,
        }
    }

    fn noise(&self) -> RecurrentNoise {
        self.net.noise
    }

    fn layers(&self) -> usize {
        5
    }

    fn check(&self, _: &Self::Scratch<'_>) -> Result<(), Error> {
        Ok(())
    }

    fn check_grad(&self, _: &Self::Grad<'_>) -> Result<(), Error> {
        Ok(())
    }

    fn load(&self, x: &[f32], ws: &mut Self::Scratch<'_>) -> Result<(), Error> {
        let () = StackedElman::<D, H1, H2, K, A>::NONEMPTY;
        check_len(x.len(), T * D)?;
        if T == 0 {
            return Err(Error::InvalidParameter {
                name: "steps",
                requirement: "positive",
            });
        }
        ws.x.as_flattened_mut().copy_from_slice(x);
        Ok(())
    }

    fn outputs<'w>(&self, ws: &'w Self::Scratch<'_>) -> &'w [f32] {
        self.dims().output(ws.y.as_flattened())
    }

    fn seed<'w>(&self, ws: &'w mut Self::Scratch<'_>) -> &'w mut [f32] {
        ws.seed.as_flattened_mut()
    }

    fn draw<P: Perturbation>(
        &self,
        p: &mut P,
        step: usize,
        what: Draw,
        ws: &mut Self::Scratch<'_>,
    ) {
        let layers = match what {
            Draw::All => [true; 5],
            Draw::Cell => [true, true, true, true, false],
            Draw::Back => [false, true, true, true, false],
            Draw::Readout => [false, false, false, false, true],
        };
        self.net.draw_layers(p, step, layers, &mut ws.noisy);
    }

    #[inline(always)]
    fn forward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, noisy: bool) {
        let w = if noisy { ws.noisy.w() } else { self.net.w() };
        let [c1, c2] = cells::<D, H1, H2>(&w);
        let act = &self.net.act;
        let (hp, hc) = ws.h1.as_flattened_mut().split_at_mut(t * H1);
        let h1t = hc.get_mut(..H1).unwrap_or(&mut []);
        let z = row_mut(ws.z1.as_flattened_mut(), t, H1);
        c1.forward(act, row(ws.x.as_flattened(), t, D), prev(hp, t, H1), z, h1t);
        let (hp, hc) = ws.h2.as_flattened_mut().split_at_mut(t * H2);
        let h2t = hc.get_mut(..H2).unwrap_or(&mut []);
        let z = row_mut(ws.z2.as_flattened_mut(), t, H2);
        c2.forward(act, h1t, prev(hp, t, H2), z, h2t);
    }

    #[inline(always)]
    fn readout_step(&self, ws: &mut Self::Scratch<'_>, t: usize, noisy: bool) {
        let w = if noisy { ws.noisy.w() } else { self.net.w() };
        let (h2, y) = (ws.h2.as_flattened(), ws.y.as_flattened_mut());
        readout::forward(w.v, w.c, H2, row(h2, t, H2), row_mut(y, t, K));
    }

    fn backward_start(&self, ws: &mut Self::Scratch<'_>) {
        ws.g1[0].fill(0.0);
        ws.g2[0].fill(0.0);
    }

    #[inline(always)]
    fn backward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, out: bool, noisy: bool) {
        let w = if noisy { ws.noisy.w() } else { self.net.w() };
        let [c1, c2] = cells::<D, H1, H2>(&w);
        let act = &self.net.act;
        let [g1n, g1] = &mut ws.g1;
        let [g2n, g2] = &mut ws.g2;
        g2.copy_from_slice(g2n);
        if out {
            readout::backward(w.v, H2, row(ws.seed.as_flattened(), t, K), g2);
        }
        row_mut(ws.g2s.as_flattened_mut(), t, H2).copy_from_slice(g2);
        let d2 = row_mut(ws.d2.as_flattened_mut(), t, H2);
        let (z, a) = (
            row(ws.z2.as_flattened(), t, H2),
            row(ws.h2.as_flattened(), t, H2),
        );
        c2.backward(act, z, a, g2, d2, g2n);
        g1.copy_from_slice(g1n);
        mtv_add(w.wx2, H1, d2, g1);
        row_mut(ws.g1s.as_flattened_mut(), t, H1).copy_from_slice(g1);
        let d1 = row_mut(ws.d1.as_flattened_mut(), t, H1);
        let (z, a) = (
            row(ws.z1.as_flattened(), t, H1),
            row(ws.h1.as_flattened(), t, H1),
        );
        c1.backward(act, z, a, g1, d1, g1n);
    }

    fn add_grad(&self, ws: &Self::Scratch<'_>, grad: &mut Self::Grad<'_>) {
        self.add_grad_to(ws.states(), ws.deltas(), grad);
    }

    fn grad_to_dir(&self, ws: &mut Self::Scratch<'_>) {
        ws.dir.fill(0.0);
        let s = (
            ws.x.as_flattened(),
            ws.h1.as_flattened(),
            ws.h2.as_flattened(),
        );
        let d = (
            ws.d1.as_flattened(),
            ws.d2.as_flattened(),
            ws.seed.as_flattened(),
        );
        self.add_grad_to(s, d, &mut ws.dir.params_mut());
    }

    fn dir_penalty(&self, ws: &Self::Scratch<'_>, e: &Eta, beta: f32) -> f32 {
        let d = &ws.dir;
        e[0] * (sq(d.wx1.as_flattened()) + beta * sq(&d.b1))
            + e[1] * sq(d.wh1.as_flattened())
            + e[2] * (sq(d.wx2.as_flattened()) + beta * sq(&d.b2))
            + e[3] * sq(d.wh2.as_flattened())
            + e[4] * (sq(d.v.as_flattened()) + beta * sq(&d.c))
    }

    fn step_penalty(
        &self,
        ws: &Self::Scratch<'_>,
        t: usize,
        out: bool,
        e: &Eta,
        beta: f32,
        s: &mut f32,
    ) {
        let (x, h1, h2) = ws.states();
        let d1 = sq(row(ws.d1.as_flattened(), t, H1));
        let d2 = sq(row(ws.d2.as_flattened(), t, H2));
        let h1t = row(h1, t, H1);
        *s += d1 * cell::step_coef(e[0], e[1], beta, row(x, t, D), prev(h1, t, H1));
        *s += d2 * cell::step_coef(e[2], e[3], beta, h1t, prev(h2, t, H2));
        if out {
            let st = row(ws.seed.as_flattened(), t, K);
            *s += readout::step_penalty(e[4], st, row(h2, t, H2), beta);
        }
    }

    fn add_dir(&self, ws: &Self::Scratch<'_>, coef: f32, grad: &mut Self::Grad<'_>) {
        use crate::parameters::Parameters;
        for i in 0..10 {
            axpy(coef, ws.dir.slice(i), grad.slice_mut(i));
        }
    }

    fn scale_dir(&self, ws: &mut Self::Scratch<'_>, e: &Eta, beta: f32) -> Dir {
        use crate::parameters::Parameters;
        let scale = [e[0], e[0] * beta, e[1], 0.0, e[2], e[2] * beta, e[3], 0.0];
        for (i, a) in scale.into_iter().chain([e[4], e[4] * beta]).enumerate() {
            ws.dir.slice_mut(i).iter_mut().for_each(|v| *v *= a);
        }
        Dir::Shared
    }

    fn rank1(&self, e: &Eta, beta: f32) -> Dir {
        Dir::Rank1 { e: *e, beta }
    }

    #[inline(always)]
    fn r_forward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, dir: Dir) {
        self.r_forward(ws, t, dir);
    }

    fn r_backward_start(&self, ws: &mut Self::Scratch<'_>) {
        ws.g1[0].fill(0.0);
        ws.g2[0].fill(0.0);
    }

    #[inline(always)]
    fn r_backward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, out: bool, dir: Dir) {
        self.r_backward(ws, t, out, dir);
    }

    fn add_r_grad(&self, ws: &Self::Scratch<'_>, grad: &mut Self::Grad<'_>) {
        self.add_r_grad_to(ws, grad);
    }

    fn units(&self) -> usize {
        H1 + H2
    }

    /// Cell 1's units, then cell 2's.
    fn unit_coef(&self, ws: &Self::Scratch<'_>, t: usize, i: usize, e: &Eta, beta: f32) -> f32 {
        let (x, h1, h2) = ws.states();
        if i < H1 {
            cell::step_coef(e[0], e[1], beta, row(x, t, D), prev(h1, t, H1))
        } else {
            cell::step_coef(e[2], e[3], beta, row(h1, t, H1), prev(h2, t, H2))
        }
    }

    fn unit_dir(&self, step: usize, i: usize) -> Dir {
        if i < H1 {
            Dir::UnitZ {
                cell: 1,
                step,
                unit: i,
            }
        } else {
            Dir::UnitZ {
                cell: 2,
                step,
                unit: i - H1,
            }
        }
    }

    fn rdelta_at(&self, ws: &Self::Scratch<'_>, t: usize, i: usize) -> f32 {
        if i < H1 {
            at(row(ws.rd1.as_flattened(), t, H1), i)
        } else {
            at(row(ws.rd2.as_flattened(), t, H2), i - H1)
        }
    }

    /// One R pass per cell parameter along its unit direction (materialised
    /// in `dir`), the Hessian–vector product's own entry.
    fn per_sequence_trace(&self, ws: &mut Self::Scratch<'_>, e: &Eta, beta: f32) -> f32 {
        use crate::parameters::Parameters;
        let mut total = 0.0;
        // Slices 0..8 are the cell layers 0–3 (weights, bias).
        let weight = [e[0], e[0] * beta, e[1], 0.0, e[2], e[2] * beta, e[3], 0.0];
        for (i, w) in weight.into_iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            for p in 0..ws.dir.slice(i).len() {
                ws.dir.fill(0.0);
                if let Some(v) = ws.dir.slice_mut(i).get_mut(p) {
                    *v = 1.0;
                }
                driver::r_pass(self, ws, Dir::Shared);
                ws.hv.fill(0.0);
                let mut hv = ws.hv;
                self.add_r_grad_to(ws, &mut hv.params_mut());
                total += w * at(hv.slice(i), p);
            }
        }
        total
    }
}
