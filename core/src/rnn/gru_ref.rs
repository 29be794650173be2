//! The GRU network over borrowed slices, sized at run time.

use super::elman_ref::{
    ElmanParams, ElmanParamsMut, axpy, mtv_add, mv_add, outer_add, row, row_mut, sq,
};
use super::{Readout, RecurrentNoise, RnnDims};
use crate::error::{Error, check_len};
use crate::nn::{Activation, NoiseOn, Sigmoid};
use crate::perturbation::{Clean, Perturbation};

/// The parameters of a GRU network, borrowed: the same five slices as an
/// Elman network with three gate blocks stacked in the cell's rows, in the
/// order reset `r`, update `u`, candidate `n`: `wx` (`3H×D`), `b` (`3H`),
/// `wh` (`3H×H`), then the readout `v` (`K×H`) and `c` (`K`).
pub type GruParams<'a> = ElmanParams<'a>;

/// [`GruParams`], mutably borrowed.
pub type GruParamsMut<'a> = ElmanParamsMut<'a>;

fn check_gru_params(lens: [usize; 5], d: &RnnDims) -> Result<(), Error> {
    let want = [
        3 * d.hidden * d.input,
        3 * d.hidden,
        3 * d.hidden * d.hidden,
        d.output * d.hidden,
        d.output,
    ];
    for (l, w) in lens.into_iter().zip(want) {
        check_len(l, w)?;
    }
    Ok(())
}

fn check_mut(p: &ElmanParamsMut<'_>, d: &RnnDims) -> Result<(), Error> {
    check_gru_params([p.wx.len(), p.b.len(), p.wh.len(), p.v.len(), p.c.len()], d)
}

/// The per-sequence values of the passes of a [`GruRef`], borrowed.
///
/// With `T` steps, `D` inputs, `H` hidden units and `K` outputs: `x`
/// (`T·D`); per step the gate pre-activations `z` and values `a = (r, u, n)`
/// (`T·3H`), the states `h` (`T·H`), `q = r ⊙ h_{t−1}` (`T·H`), `zero` (`H`,
/// kept zero: `h_0`), readouts `y` and seeds `seed` (`T·K`), `g = ∂(s·f)/∂h_t`
/// and `e = U_nᵀ δ^n_t` (`T·H`), `delta` (`T·3H`), the R-operator's `rz`,
/// `ra`, `rdelta` (`T·3H`) and `rh`, `rq` (`T·H`), `tmp` (`4·H`), and two
/// parameter-shaped buffers (`noisy`, `dir`).
///
/// Its length in floats is [`required_len`](Self::required_len):
/// `T·D + 18·T·H + 6·T·H + 5·H + 2·T·K + 2·(3H·D + 3H + 3H·H + K·H + K)`.
///
/// # Examples
///
/// ```
/// use noisereg::{GruScratch, Readout, RnnDims};
/// let dims = RnnDims { input: 2, hidden: 4, output: 1, steps: 5, readout: Readout::Last };
/// let mut buf = vec![0.0; GruScratch::required_len(&dims)];
/// let ws = GruScratch::split(&mut buf, &dims).unwrap();
/// assert_eq!(ws.z.len(), 60);
/// ```
#[derive(Debug, PartialEq)]
pub struct GruScratch<'a> {
    /// Input, `T·D`.
    pub x: &'a mut [f32],
    /// Gate pre-activations, `T·3H`.
    pub z: &'a mut [f32],
    /// Gate values `(r, u, n)`, `T·3H`.
    pub a: &'a mut [f32],
    /// States `h_1..h_T`, `T·H`.
    pub h: &'a mut [f32],
    /// `r_t ⊙ h_{t−1}`, `T·H`.
    pub q: &'a mut [f32],
    /// `h_0 = 0`, `H` (kept zero).
    pub zero: &'a mut [f32],
    /// Readouts, `T·K`.
    pub y: &'a mut [f32],
    /// Backward seeds, `T·K`.
    pub seed: &'a mut [f32],
    /// `∂(s·f)/∂h_t`, `T·H`.
    pub g: &'a mut [f32],
    /// `U_nᵀ δ^n_t`, `T·H`.
    pub e: &'a mut [f32],
    /// `∂(s·f)/∂z_t`, `T·3H`.
    pub delta: &'a mut [f32],
    /// `R{z_t}`, `T·3H`.
    pub rz: &'a mut [f32],
    /// `R{a_t}`, `T·3H`.
    pub ra: &'a mut [f32],
    /// `R{δ_t}`, `T·3H`.
    pub rdelta: &'a mut [f32],
    /// `R{h_t}`, `T·H`.
    pub rh: &'a mut [f32],
    /// `R{q_t}`, `T·H`.
    pub rq: &'a mut [f32],
    /// Four vectors of `H`.
    pub tmp: &'a mut [f32],
    /// The weights of the current noise draw.
    pub noisy: ElmanParamsMut<'a>,
    /// A materialised gradient or R-operator direction.
    pub dir: ElmanParamsMut<'a>,
}

impl<'a> GruScratch<'a> {
    /// Floats needed for `dims` (see the type's docs).
    pub fn required_len(d: &RnnDims) -> usize {
        let (t, di, h, k) = (d.steps, d.input, d.hidden, d.output);
        t * di + 24 * t * h + 5 * h + 2 * t * k + 2 * (3 * h * di + 3 * h + 3 * h * h + k * h + k)
    }

    /// Carves the scratch for `dims` out of one buffer.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `buf.len() != required_len(dims)`,
    /// [`Error::InvalidParameter`] if a size is 0.
    pub fn split(buf: &'a mut [f32], d: &RnnDims) -> Result<Self, Error> {
        d.check()?;
        check_len(buf.len(), Self::required_len(d))?;
        let (t, di, h, k) = (d.steps, d.input, d.hidden, d.output);
        let (x, r) = buf.split_at_mut(t * di);
        let (z, r) = r.split_at_mut(3 * t * h);
        let (a, r) = r.split_at_mut(3 * t * h);
        let (hh, r) = r.split_at_mut(t * h);
        let (q, r) = r.split_at_mut(t * h);
        let (zero, r) = r.split_at_mut(h);
        let (y, r) = r.split_at_mut(t * k);
        let (seed, r) = r.split_at_mut(t * k);
        let (g, r) = r.split_at_mut(t * h);
        let (e, r) = r.split_at_mut(t * h);
        let (delta, r) = r.split_at_mut(3 * t * h);
        let (rz, r) = r.split_at_mut(3 * t * h);
        let (ra, r) = r.split_at_mut(3 * t * h);
        let (rdelta, r) = r.split_at_mut(3 * t * h);
        let (rh, r) = r.split_at_mut(t * h);
        let (rq, r) = r.split_at_mut(t * h);
        let (tmp, r) = r.split_at_mut(4 * h);
        let (noisy, r) = split_gru_params(r, d);
        let (dir, _) = split_gru_params(r, d);
        Ok(Self {
            x,
            z,
            a,
            h: hh,
            q,
            zero,
            y,
            seed,
            g,
            e,
            delta,
            rz,
            ra,
            rdelta,
            rh,
            rq,
            tmp,
            noisy,
            dir,
        })
    }

    fn check(&self, d: &RnnDims) -> Result<(), Error> {
        let (t, h, k) = (d.steps, d.hidden, d.output);
        check_len(self.x.len(), t * d.input)?;
        for s in [
            &*self.z,
            &*self.a,
            &*self.delta,
            &*self.rz,
            &*self.ra,
            &*self.rdelta,
        ] {
            check_len(s.len(), 3 * t * h)?;
        }
        for s in [&*self.h, &*self.q, &*self.g, &*self.e, &*self.rh, &*self.rq] {
            check_len(s.len(), t * h)?;
        }
        check_len(self.zero.len(), h)?;
        check_len(self.tmp.len(), 4 * h)?;
        check_len(self.y.len(), t * k)?;
        check_len(self.seed.len(), t * k)?;
        check_mut(&self.noisy, d)?;
        check_mut(&self.dir, d)
    }
}

fn split_gru_params<'a>(buf: &'a mut [f32], d: &RnnDims) -> (ElmanParamsMut<'a>, &'a mut [f32]) {
    let (di, h, k) = (d.input, d.hidden, d.output);
    let (wx, r) = buf.split_at_mut(3 * h * di);
    let (b, r) = r.split_at_mut(3 * h);
    let (wh, r) = r.split_at_mut(3 * h * h);
    let (v, r) = r.split_at_mut(k * h);
    let (c, r) = r.split_at_mut(k);
    (ElmanParamsMut { wx, b, wh, v, c }, r)
}

/// `h_{t−1}`: row `t − 1` of `h`, or `zero` at `t = 0`.
#[inline(always)]
fn prev<'s>(h: &'s [f32], zero: &'s [f32], t: usize, n: usize) -> &'s [f32] {
    if t == 0 { zero } else { row(h, t - 1, n) }
}

#[inline(always)]
fn at(s: &[f32], i: usize) -> f32 {
    s.get(i).copied().unwrap_or(0.0)
}

/// A direction of the R-operator pass (as for the Elman network).
#[derive(Debug, Clone, Copy)]
enum Dir {
    Shared,
    Rank1 { e: [f32; 3], beta: f32 },
    UnitZ { step: usize, unit: usize },
    Wx(usize, usize),
    B(usize),
    Wh(usize, usize),
}

/// A GRU network over borrowed slices, sized at run time:
///
/// ```text
/// r_t = σ(W_r x_t + U_r h_{t−1} + b_r)      u_t = σ(W_u x_t + U_u h_{t−1} + b_u)
/// n_t = φ(W_n x_t + U_n (r_t ⊙ h_{t−1}) + b_n)
/// h_t = (1 − u_t) ⊙ n_t + u_t ⊙ h_{t−1}      h_0 = 0
/// ```
///
/// with the readout of [`Readout`]; the gates use the logistic sigmoid, the
/// candidate `φ`. The noise sees the same three layers as for
/// [`ElmanRef`](crate::ElmanRef) (input weights of all gates with their
/// biases, recurrent weights of all gates, readout), and the passes, the
/// penalty semantics and the draws are those of `ElmanRef` with
/// `G_t` the gate blocks' `δ^g_t [x_t; h_{t−1} (r, u) or q_t (n); 1]ᵀ`
/// (`docs/theory.md` §8). The const-generic [`Gru`](crate::Gru) calls
/// exactly these functions.
///
/// # Examples
///
/// ```
/// use noisereg::{Clean, GruParams, GruRef, GruScratch, Readout, RecurrentNoise, RnnDims, Tanh};
/// let dims = RnnDims { input: 1, hidden: 1, output: 1, steps: 1, readout: Readout::Last };
/// // r, u, n rows; u = σ(0) = ½, n = tanh(x): h = ½ tanh(x).
/// let p = GruParams { wx: &[0.0, 0.0, 1.0], b: &[0.0; 3], wh: &[0.0; 3], v: &[1.0], c: &[0.0] };
/// let net = GruRef::new(p, Tanh, dims, RecurrentNoise::PerSequence)?;
/// let mut buf = vec![0.0; GruScratch::required_len(&dims)];
/// let mut ws = GruScratch::split(&mut buf, &dims)?;
/// net.forward(&[0.5], &mut Clean, &mut ws)?;
/// assert!((net.output(&ws)[0] - 0.5 * 0.5f32.tanh()).abs() < 1e-6);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GruRef<'a, A: Activation> {
    p: ElmanParams<'a>,
    act: A,
    dims: RnnDims,
    noise: RecurrentNoise,
}

impl<'a, A: Activation> GruRef<'a, A> {
    /// A view of `params` with candidate activation `act`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if a size in `dims` is 0,
    /// [`Error::LengthMismatch`] if a slice does not fit `dims`.
    pub fn new(
        params: GruParams<'a>,
        act: A,
        dims: RnnDims,
        noise: RecurrentNoise,
    ) -> Result<Self, Error> {
        dims.check()?;
        let p = &params;
        check_gru_params(
            [p.wx.len(), p.b.len(), p.wh.len(), p.v.len(), p.c.len()],
            &dims,
        )?;
        Ok(Self {
            p: params,
            act,
            dims,
            noise,
        })
    }

    /// The sizes.
    pub fn dims(&self) -> RnnDims {
        self.dims
    }

    fn readout_at(&self, t: usize) -> bool {
        match self.dims.readout {
            Readout::Last => t + 1 == self.dims.steps,
            Readout::EveryStep => true,
        }
    }

    /// The outputs of the last forward pass: `K` or `T·K` values.
    pub fn output<'w>(&self, ws: &'w GruScratch<'_>) -> &'w [f32] {
        let (t, k) = (self.dims.steps, self.dims.output);
        match self.dims.readout {
            Readout::Last => row(ws.y, t - 1, k),
            Readout::EveryStep => ws.y,
        }
    }

    fn draw_cell<P: Perturbation>(&self, p: &mut P, step: usize, noisy: &mut ElmanParamsMut<'_>) {
        let (di, h) = (self.dims.input, self.dims.hidden);
        p.begin_step(step);
        p.begin_layer(0);
        for (c, o) in self
            .p
            .wx
            .chunks_exact(di)
            .zip(noisy.wx.chunks_exact_mut(di))
        {
            p.weight_row(c, o);
        }
        p.bias(self.p.b, noisy.b);
        p.begin_layer(1);
        for (c, o) in self.p.wh.chunks_exact(h).zip(noisy.wh.chunks_exact_mut(h)) {
            p.weight_row(c, o);
        }
        p.bias(&[], &mut []);
    }

    fn draw_readout<P: Perturbation>(
        &self,
        p: &mut P,
        step: usize,
        noisy: &mut ElmanParamsMut<'_>,
    ) {
        let h = self.dims.hidden;
        let step = match self.dims.readout {
            Readout::Last => 0,
            Readout::EveryStep => step,
        };
        p.begin_step(step);
        p.begin_layer(2);
        for (c, o) in self.p.v.chunks_exact(h).zip(noisy.v.chunks_exact_mut(h)) {
            p.weight_row(c, o);
        }
        p.bias(self.p.c, noisy.c);
    }

    fn modes<P: Perturbation>(&self, p: &P) -> (bool, bool) {
        let noisy = p.perturbs_weights();
        (noisy, noisy && self.noise == RecurrentNoise::PerStep)
    }

    /// Forward pass of the sequence `x` (`T·D` values) with the weights `p`
    /// supplies (draws as [`ElmanRef::forward`](crate::ElmanRef::forward)).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `ws` does not fit.
    pub fn forward<P: Perturbation>(
        &self,
        x: &[f32],
        p: &mut P,
        ws: &mut GruScratch<'_>,
    ) -> Result<(), Error> {
        ws.check(&self.dims)?;
        check_len(x.len(), ws.x.len())?;
        ws.x.copy_from_slice(x);
        ws.zero.fill(0.0);
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        let (noisy, per_step) = self.modes(p);
        if noisy && !per_step {
            self.draw_cell(p, 0, &mut ws.noisy);
            self.draw_readout(p, 0, &mut ws.noisy);
        }
        for t in 0..steps {
            if per_step {
                self.draw_cell(p, t, &mut ws.noisy);
            }
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
            if self.readout_at(t) {
                if per_step {
                    self.draw_readout(p, t, &mut ws.noisy);
                }
                let w = if noisy { ws.noisy.as_ref() } else { self.p };
                let y = row_mut(ws.y, t, k);
                y.copy_from_slice(w.c);
                mv_add(w.v, h, row(ws.h, t, h), y);
            }
        }
        if per_step {
            p.begin_step(0);
        }
        Ok(())
    }

    fn set_seed(&self, dy: &[f32], seed: &mut [f32]) -> Result<(), Error> {
        check_len(dy.len(), self.dims.outputs())?;
        match self.dims.readout {
            Readout::Last => {
                seed.fill(0.0);
                let (t, k) = (self.dims.steps, self.dims.output);
                row_mut(seed, t - 1, k).copy_from_slice(dy);
            }
            Readout::EveryStep => seed.copy_from_slice(dy),
        }
        Ok(())
    }

    /// BPTT of the seed in `ws` with the weights `p` supplies: fills `g`,
    /// `e` and `delta`.
    fn bptt<P: Perturbation>(&self, p: &mut P, ws: &mut GruScratch<'_>) {
        let RnnDims {
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        let (noisy, per_step) = self.modes(p);
        if noisy && !per_step {
            self.draw_cell(p, 0, &mut ws.noisy);
            self.draw_readout(p, 0, &mut ws.noisy);
        }
        let (gn, _) = ws.tmp.split_at_mut(h);
        gn.fill(0.0);
        for t in (0..steps).rev() {
            if per_step {
                self.draw_cell(p, t, &mut ws.noisy);
                if self.readout_at(t) {
                    self.draw_readout(p, t, &mut ws.noisy);
                }
            }
            let w = if noisy { ws.noisy.as_ref() } else { self.p };
            let g = row_mut(ws.g, t, h);
            g.copy_from_slice(gn);
            if self.readout_at(t) {
                mtv_add(w.v, h, row(ws.seed, t, k), g);
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
        if per_step {
            p.begin_step(0);
        }
    }

    fn wh_split<'w>(&self, wh: &'w [f32]) -> (&'w [f32], &'w [f32]) {
        let h = self.dims.hidden;
        wh.split_at(2 * h * h)
    }

    /// `out += coef · ∇_θ (s·f)` from the `delta` of the last BPTT.
    #[allow(clippy::too_many_arguments)]
    fn add_grad(
        &self,
        x: &[f32],
        hs: &[f32],
        q: &[f32],
        zero: &[f32],
        delta: &[f32],
        seed: &[f32],
        coef: f32,
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
            let d = row(delta, t, 3 * h);
            outer_add(coef, d, row(x, t, di), out.wx);
            axpy(coef, d, out.b);
            let (wru, wn) = out.wh.split_at_mut(2 * h * h);
            let (dru, dn) = d.split_at(2 * h);
            outer_add(coef, dru, prev(hs, zero, t, h), wru);
            outer_add(coef, dn, row(q, t, h), wn);
            if self.readout_at(t) {
                let s = row(seed, t, k);
                outer_add(coef, s, row(hs, t, h), out.v);
                axpy(coef, s, out.c);
            }
        }
    }

    /// Adds `∂(dy·f)/∂θ` into `grad`, given a forward pass with the same `p`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `dy`, `ws` or `grad` does not fit.
    pub fn backward<P: Perturbation>(
        &self,
        ws: &mut GruScratch<'_>,
        dy: &[f32],
        p: &mut P,
        grad: &mut GruParamsMut<'_>,
    ) -> Result<(), Error> {
        ws.check(&self.dims)?;
        check_mut(grad, &self.dims)?;
        self.set_seed(dy, ws.seed)?;
        self.bptt(p, ws);
        self.add_grad(ws.x, ws.h, ws.q, ws.zero, ws.delta, ws.seed, 1.0, grad);
        Ok(())
    }

    fn check_eta(eta: &[f32]) -> Result<[f32; 3], Error> {
        check_len(eta.len(), 3)?;
        Ok([at(eta, 0), at(eta, 1), at(eta, 2)])
    }

    fn seed_penalty(
        &self,
        ws: &mut GruScratch<'_>,
        e: [f32; 3],
        on: NoiseOn,
        grad: Option<(&mut ElmanParamsMut<'_>, f32)>,
    ) -> f32 {
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        let beta = on.bias_term();
        self.bptt(&mut Clean, ws);
        ws.dir.fill(0.0);
        self.add_grad(
            ws.x,
            ws.h,
            ws.q,
            ws.zero,
            ws.delta,
            ws.seed,
            1.0,
            &mut ws.dir,
        );
        let pen = match self.noise {
            RecurrentNoise::PerSequence => {
                let d = &ws.dir;
                e[0] * (sq(d.wx) + beta * sq(d.b))
                    + e[1] * sq(d.wh)
                    + e[2] * (sq(d.v) + beta * sq(d.c))
            }
            RecurrentNoise::PerStep => {
                let mut s = 0.0;
                for t in 0..steps {
                    let d = row(ws.delta, t, 3 * h);
                    let (dru, dn) = d.split_at(2 * h);
                    s += e[0] * sq(d) * (sq(row(ws.x, t, di)) + beta);
                    s += e[1]
                        * (sq(dru) * sq(prev(ws.h, ws.zero, t, h)) + sq(dn) * sq(row(ws.q, t, h)));
                    if self.readout_at(t) {
                        s += e[2] * sq(row(ws.seed, t, k)) * (sq(row(ws.h, t, h)) + beta);
                    }
                }
                s
            }
        };
        if let Some((grad, coef)) = grad {
            if coef != 0.0 {
                let d = ws.dir.as_ref();
                for (o, s) in [
                    (&mut *grad.wx, d.wx),
                    (&mut *grad.b, d.b),
                    (&mut *grad.wh, d.wh),
                    (&mut *grad.v, d.v),
                    (&mut *grad.c, d.c),
                ] {
                    axpy(coef, s, o);
                }
            }
            let dir = match self.noise {
                RecurrentNoise::PerSequence => {
                    let d = &mut ws.dir;
                    for (s, a) in [
                        (&mut *d.wx, e[0]),
                        (&mut *d.b, e[0] * beta),
                        (&mut *d.wh, e[1]),
                        (&mut *d.v, e[2]),
                        (&mut *d.c, e[2] * beta),
                    ] {
                        s.iter_mut().for_each(|v| *v *= a);
                    }
                    Dir::Shared
                }
                RecurrentNoise::PerStep => Dir::Rank1 { e, beta },
            };
            self.r_pass(ws, dir);
            self.add_r_grad(ws, grad);
        }
        pen
    }

    /// R-forward and R-backward along `dir` at the clean weights, after a
    /// clean BPTT: fills `rz`, `ra`, `rh`, `rq`, `rdelta`.
    fn r_pass(&self, ws: &mut GruScratch<'_>, dir: Dir) {
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        let w = self.p;
        let (uru, un) = self.wh_split(w.wh);
        for t in 0..steps {
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
        let (rgn, rest) = ws.tmp.split_at_mut(h);
        let (rg, rest) = rest.split_at_mut(h);
        let (re, _) = rest.split_at_mut(h);
        rgn.fill(0.0);
        for t in (0..steps).rev() {
            rg.copy_from_slice(rgn);
            if self.readout_at(t) {
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
                    *d = Sigmoid.d2f_given(0.0, u) * at(rz, h + i) * gh
                        + Sigmoid.df_given(0.0, u) * rgh;
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
                    *d =
                        Sigmoid.d2f_given(0.0, r) * at(rz, i) * dr + Sigmoid.df_given(0.0, r) * rdr;
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
    }

    fn add_r_grad(&self, ws: &GruScratch<'_>, out: &mut ElmanParamsMut<'_>) {
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
            if self.readout_at(t) {
                outer_add(1.0, row(ws.seed, t, k), row(ws.rh, t, h), out.v);
            }
        }
    }

    fn unit_seed(&self, j: usize, seed: &mut [f32]) {
        seed.fill(0.0);
        let at = match self.dims.readout {
            Readout::Last => (self.dims.steps - 1) * self.dims.output + j,
            Readout::EveryStep => j,
        };
        if let Some(s) = seed.get_mut(at) {
            *s = 1.0;
        }
    }

    /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` at the clean weights (as
    /// [`ElmanRef::penalty`](crate::ElmanRef::penalty)).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x` or `ws` does not fit.
    pub fn penalty(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut GruScratch<'_>,
    ) -> Result<f32, Error> {
        let e = Self::check_eta(eta)?;
        self.forward(x, &mut Clean, ws)?;
        let mut total = 0.0;
        for j in 0..self.dims.outputs() {
            self.unit_seed(j, ws.seed);
            total += self.seed_penalty(ws, e, on, None);
        }
        Ok(total)
    }

    /// Adds `∇_θ [dy·f + ½ penalty]` into `grad` and returns the penalty,
    /// given a clean forward pass in `ws` (as
    /// [`ElmanRef::penalty_grad`](crate::ElmanRef::penalty_grad)).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `dy`, `ws` or `grad` does not fit.
    pub fn penalty_grad(
        &self,
        ws: &mut GruScratch<'_>,
        dy: &[f32],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut GruParamsMut<'_>,
    ) -> Result<f32, Error> {
        let e = Self::check_eta(eta)?;
        ws.check(&self.dims)?;
        check_mut(grad, &self.dims)?;
        check_len(dy.len(), self.dims.outputs())?;
        let mut total = 0.0;
        for (j, &c) in dy.iter().enumerate() {
            self.unit_seed(j, ws.seed);
            total += self.seed_penalty(ws, e, on, Some((grad, c)));
        }
        Ok(total)
    }

    /// The penalty of one seed, with `grad` the gradient of half of it (as
    /// [`ElmanRef::seeded_penalty`](crate::ElmanRef::seeded_penalty)).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `seed`, `ws` or `grad` does not fit.
    pub fn seeded_penalty(
        &self,
        ws: &mut GruScratch<'_>,
        seed: &[f32],
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut GruParamsMut<'_>>,
    ) -> Result<f32, Error> {
        let e = Self::check_eta(eta)?;
        ws.check(&self.dims)?;
        if let Some(g) = &grad {
            check_mut(g, &self.dims)?;
        }
        self.set_seed(seed, ws.seed)?;
        Ok(self.seed_penalty(ws, e, on, grad.map(|g| (g, 0.0))))
    }

    /// The η-weighted Hessian trace of each output over the noisy parameters
    /// (as [`ElmanRef::hessian_trace`](crate::ElmanRef::hessian_trace); the
    /// per-step form uses the coefficient `q_{t,j}²` for the candidate's
    /// recurrent rows). Cost per output: per sequence `3H·(D+H+1)` R passes,
    /// per step `3·T·H`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x`, `ws` or `traces` does not fit.
    pub fn hessian_trace(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut GruScratch<'_>,
        traces: &mut [f32],
    ) -> Result<(), Error> {
        let e = Self::check_eta(eta)?;
        check_len(traces.len(), self.dims.outputs())?;
        self.forward(x, &mut Clean, ws)?;
        for (j, tr) in traces.iter_mut().enumerate() {
            self.unit_seed(j, ws.seed);
            self.bptt(&mut Clean, ws);
            *tr = self.seed_trace(ws, e, on.bias_term());
        }
        Ok(())
    }

    fn seed_trace(&self, ws: &mut GruScratch<'_>, e: [f32; 3], beta: f32) -> f32 {
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
                    let cx = e[0] * (sq(row(ws.x, s, di)) + beta);
                    let chp = e[1] * sq(prev(ws.h, ws.zero, s, h));
                    let cq = e[1] * sq(row(ws.q, s, h));
                    for i in 0..3 * h {
                        let c = cx + if i < 2 * h { chp } else { cq };
                        if c == 0.0 {
                            continue;
                        }
                        self.r_pass(ws, Dir::UnitZ { step: s, unit: i });
                        total += c * at(row(ws.rdelta, s, 3 * h), i);
                    }
                }
            }
            RecurrentNoise::PerSequence => {
                let rd = |ws: &GruScratch<'_>, t: usize, i: usize| at(row(ws.rdelta, t, 3 * h), i);
                for i in 0..3 * h {
                    if e[0] != 0.0 {
                        for j in 0..di {
                            self.r_pass(ws, Dir::Wx(i, j));
                            let v: f32 = (0..steps)
                                .map(|t| rd(ws, t, i) * at(row(ws.x, t, di), j))
                                .sum();
                            total += e[0] * v;
                        }
                        if beta != 0.0 {
                            self.r_pass(ws, Dir::B(i));
                            let v: f32 = (0..steps).map(|t| rd(ws, t, i)).sum();
                            total += e[0] * beta * v;
                        }
                    }
                    if e[1] != 0.0 {
                        for j in 0..h {
                            self.r_pass(ws, Dir::Wh(i, j));
                            let v: f32 = (0..steps)
                                .map(|t| {
                                    let d = at(row(ws.delta, t, 3 * h), i);
                                    let (a, ra) = if i < 2 * h {
                                        (prev(ws.h, ws.zero, t, h), prev(ws.rh, ws.zero, t, h))
                                    } else {
                                        (row(ws.q, t, h), row(ws.rq, t, h))
                                    };
                                    rd(ws, t, i) * at(a, j) + d * at(ra, j)
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
