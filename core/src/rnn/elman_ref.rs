//! The Elman network over borrowed slices, sized at run time: every pass's
//! arithmetic, written once.

use super::{Readout, RecurrentNoise, RnnDims};
use crate::error::{Error, check_len};
use crate::nn::{Activation, NoiseOn};
use crate::perturbation::{Clean, Perturbation};

/// The parameters of an Elman network, borrowed: `wx` (`H×D`, row-major),
/// the cell bias `b` (`H`), `wh` (`H×H`), the readout `v` (`K×H`) and `c` (`K`).
///
/// As the noise sees them these are three layers: 0 = (`wx`, `b`),
/// 1 = (`wh`, no bias), 2 = (`v`, `c`), each with its own η.
///
/// # Examples
///
/// ```
/// use noisereg::ElmanParams;
/// let p = ElmanParams { wx: &[0.0; 2], b: &[0.0], wh: &[0.0], v: &[0.0], c: &[0.0] };
/// assert_eq!(p.b.len(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElmanParams<'a> {
    /// Input weights, `H` rows of `D`.
    pub wx: &'a [f32],
    /// Cell bias, `H`.
    pub b: &'a [f32],
    /// Recurrent weights, `H` rows of `H`.
    pub wh: &'a [f32],
    /// Readout weights, `K` rows of `H`.
    pub v: &'a [f32],
    /// Readout bias, `K`.
    pub c: &'a [f32],
}

/// The parameters of an Elman network (or its gradient), mutably borrowed;
/// shapes as [`ElmanParams`].
///
/// # Examples
///
/// ```
/// use noisereg::ElmanParamsMut;
/// let (mut wx, mut b, mut wh, mut v, mut c) = ([0.0; 2], [0.0], [0.0], [0.0], [0.0]);
/// let g = ElmanParamsMut { wx: &mut wx, b: &mut b, wh: &mut wh, v: &mut v, c: &mut c };
/// assert_eq!(g.wx.len(), 2);
/// ```
#[derive(Debug, PartialEq)]
pub struct ElmanParamsMut<'a> {
    /// Input weights, `H` rows of `D`.
    pub wx: &'a mut [f32],
    /// Cell bias, `H`.
    pub b: &'a mut [f32],
    /// Recurrent weights, `H` rows of `H`.
    pub wh: &'a mut [f32],
    /// Readout weights, `K` rows of `H`.
    pub v: &'a mut [f32],
    /// Readout bias, `K`.
    pub c: &'a mut [f32],
}

impl ElmanParamsMut<'_> {
    pub(super) fn fill(&mut self, value: f32) {
        for s in [
            &mut *self.wx,
            &mut *self.b,
            &mut *self.wh,
            &mut *self.v,
            &mut *self.c,
        ] {
            s.fill(value);
        }
    }

    fn check(&self, dims: &RnnDims) -> Result<(), Error> {
        check_params(
            [
                self.wx.len(),
                self.b.len(),
                self.wh.len(),
                self.v.len(),
                self.c.len(),
            ],
            dims,
        )
    }

    pub(super) fn as_ref(&self) -> ElmanParams<'_> {
        ElmanParams {
            wx: self.wx,
            b: self.b,
            wh: self.wh,
            v: self.v,
            c: self.c,
        }
    }
}

fn check_params(lens: [usize; 5], d: &RnnDims) -> Result<(), Error> {
    let want = [
        d.hidden * d.input,
        d.hidden,
        d.hidden * d.hidden,
        d.output * d.hidden,
        d.output,
    ];
    for (l, w) in lens.into_iter().zip(want) {
        check_len(l, w)?;
    }
    Ok(())
}

/// The per-sequence values of the passes of an [`ElmanRef`], borrowed.
///
/// With `T` steps, `D` inputs, `H` hidden units and `K` outputs: `x` (`T·D`,
/// the input), `z`, `h` (`T·H`: pre-activations and states `h_1..h_T`;
/// `h_0 = 0` is not stored), `y` (`T·K`, the readout at each step where it
/// is applied), `g = ∂(s·f)/∂h_t` and `delta = ∂(s·f)/∂z_t` (`T·H`) for the
/// seed `seed` (`T·K`), the R-operator's `rz`, `rh`, `rdelta` (`T·H`), `tmp`
/// (`2·H`), the noisy weights of the current draw `noisy` and a
/// parameter-shaped buffer `dir` (the materialised gradient or direction).
///
/// Its length in floats is [`required_len`](Self::required_len):
/// `T·D + 7·T·H + 2·T·K + 2·H + 2·(H·D + H + H·H + K·H + K)`.
///
/// # Examples
///
/// ```
/// use noisereg::{ElmanScratch, Readout, RnnDims};
/// let dims = RnnDims { input: 2, hidden: 4, output: 1, steps: 5, readout: Readout::Last };
/// let mut buf = vec![0.0; ElmanScratch::required_len(&dims)];
/// let ws = ElmanScratch::split(&mut buf, &dims).unwrap();
/// assert_eq!(ws.h.len(), 20);
/// ```
#[derive(Debug, PartialEq)]
pub struct ElmanScratch<'a> {
    /// Input, `T·D`.
    pub x: &'a mut [f32],
    /// Pre-activations, `T·H`.
    pub z: &'a mut [f32],
    /// States `h_1..h_T`, `T·H`.
    pub h: &'a mut [f32],
    /// Readouts, `T·K`.
    pub y: &'a mut [f32],
    /// `∂(s·f)/∂h_t`, `T·H`.
    pub g: &'a mut [f32],
    /// `∂(s·f)/∂z_t`, `T·H`.
    pub delta: &'a mut [f32],
    /// `R{z_t}`, `T·H`.
    pub rz: &'a mut [f32],
    /// `R{h_t}`, `T·H`.
    pub rh: &'a mut [f32],
    /// `R{δ_t}`, `T·H`.
    pub rdelta: &'a mut [f32],
    /// Two vectors of `H`.
    pub tmp: &'a mut [f32],
    /// The seed `s` of the backward passes, `T·K`.
    pub seed: &'a mut [f32],
    /// The weights of the current noise draw.
    pub noisy: ElmanParamsMut<'a>,
    /// A materialised gradient or R-operator direction.
    pub dir: ElmanParamsMut<'a>,
}

impl<'a> ElmanScratch<'a> {
    /// Floats needed for `dims` (see the type's docs).
    pub fn required_len(d: &RnnDims) -> usize {
        let (t, di, h, k) = (d.steps, d.input, d.hidden, d.output);
        t * di + 7 * t * h + 2 * t * k + 2 * h + 2 * (h * di + h + h * h + k * h + k)
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
        let (z, r) = r.split_at_mut(t * h);
        let (hh, r) = r.split_at_mut(t * h);
        let (y, r) = r.split_at_mut(t * k);
        let (g, r) = r.split_at_mut(t * h);
        let (delta, r) = r.split_at_mut(t * h);
        let (rz, r) = r.split_at_mut(t * h);
        let (rh, r) = r.split_at_mut(t * h);
        let (rdelta, r) = r.split_at_mut(t * h);
        let (tmp, r) = r.split_at_mut(2 * h);
        let (seed, r) = r.split_at_mut(t * k);
        let (noisy, r) = split_params(r, d);
        let (dir, _) = split_params(r, d);
        Ok(Self {
            x,
            z,
            h: hh,
            y,
            g,
            delta,
            rz,
            rh,
            rdelta,
            tmp,
            seed,
            noisy,
            dir,
        })
    }

    fn check(&self, d: &RnnDims) -> Result<(), Error> {
        let (t, h, k) = (d.steps, d.hidden, d.output);
        check_len(self.x.len(), t * d.input)?;
        for s in [
            &*self.z,
            &*self.h,
            &*self.g,
            &*self.delta,
            &*self.rz,
            &*self.rh,
            &*self.rdelta,
        ] {
            check_len(s.len(), t * h)?;
        }
        check_len(self.y.len(), t * k)?;
        check_len(self.seed.len(), t * k)?;
        check_len(self.tmp.len(), 2 * h)?;
        self.noisy.check(d)?;
        self.dir.check(d)
    }
}

fn split_params<'a>(buf: &'a mut [f32], d: &RnnDims) -> (ElmanParamsMut<'a>, &'a mut [f32]) {
    let (di, h, k) = (d.input, d.hidden, d.output);
    let (wx, r) = buf.split_at_mut(h * di);
    let (b, r) = r.split_at_mut(h);
    let (wh, r) = r.split_at_mut(h * h);
    let (v, r) = r.split_at_mut(k * h);
    let (c, r) = r.split_at_mut(k);
    (ElmanParamsMut { wx, b, wh, v, c }, r)
}

/// Row `t` of `n` values of `s` (empty if out of range).
#[inline(always)]
pub(super) fn row(s: &[f32], t: usize, n: usize) -> &[f32] {
    s.get(t * n..(t + 1) * n).unwrap_or(&[])
}

#[inline(always)]
pub(super) fn row_mut(s: &mut [f32], t: usize, n: usize) -> &mut [f32] {
    s.get_mut(t * n..(t + 1) * n).unwrap_or(&mut [])
}

/// `h_{t−1}` (row `t − 1` of `h`, empty for `t = 0`: `h_0 = 0`).
#[inline(always)]
pub(super) fn prev(h: &[f32], t: usize, n: usize) -> &[f32] {
    if t == 0 { &[] } else { row(h, t - 1, n) }
}

#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y)
}

#[inline(always)]
pub(super) fn sq(a: &[f32]) -> f32 {
    dot(a, a)
}

/// `out += W x`, `W` row-major with `cols` columns.
#[inline(always)]
pub(super) fn mv_add(w: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    for (o, r) in out.iter_mut().zip(w.chunks_exact(cols)) {
        *o += dot(r, x);
    }
}

/// `out += Wᵀ d`.
#[inline(always)]
pub(super) fn mtv_add(w: &[f32], cols: usize, d: &[f32], out: &mut [f32]) {
    for (r, &di) in w.chunks_exact(cols).zip(d) {
        for (o, &wij) in out.iter_mut().zip(r) {
            *o += wij * di;
        }
    }
}

/// `out += a · u vᵀ` (`out` row-major, `u.len()` rows of `v.len()`).
#[inline(always)]
pub(super) fn outer_add(a: f32, u: &[f32], v: &[f32], out: &mut [f32]) {
    if v.is_empty() {
        return;
    }
    for (r, &ui) in out.chunks_exact_mut(v.len()).zip(u) {
        let s = a * ui;
        for (o, &vj) in r.iter_mut().zip(v) {
            *o += s * vj;
        }
    }
}

#[inline(always)]
pub(super) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// A direction of the R-operator pass.
#[derive(Debug, Clone, Copy)]
enum Dir {
    /// `dir` in the scratch, the same at every step (per sequence).
    Shared,
    /// Per step: at copy t, `η ⊙ G_t` with `G_t = δ_t [x_t; h_{t−1}; 1]ᵀ`
    /// (and `s_t h_tᵀ` for the readout), never materialised.
    Rank1 { e: [f32; 3], beta: f32 },
    /// A unit change of the pre-activation `z_{step, unit}` alone.
    UnitZ { step: usize, unit: usize },
    /// A unit change of `wx[i][j]` at every step.
    Wx(usize, usize),
    /// A unit change of `b[i]` at every step.
    B(usize),
    /// A unit change of `wh[i][j]` at every step.
    Wh(usize, usize),
}

/// An Elman network over borrowed slices, sized at run time:
/// `h_t = φ(W_x x_t + W_h h_{t−1} + b)`, `h_0 = 0`, with the readout
/// `f = V h_T + c` ([`Readout::Last`]) or `f_t = V h_t + c`
/// ([`Readout::EveryStep`]). The const-generic [`Elman`](crate::Elman)
/// calls exactly these functions; a network sized at run time (the
/// harness's) gets the same bits by calling them on its own buffers.
///
/// Inputs are the `T·D` values of a sequence, step after step; outputs are
/// `K` values (sequence to one) or `T·K` (sequence to sequence). Per-layer
/// `eta` has 3 entries ([`ElmanParams`] lists the layers). Penalties follow
/// the crate's convention: the returned value is `Σ_k Σ_l η_l ‖·‖²`, the
/// noisy cost is `ℓ + penalty/2` (`docs/theory.md` §8).
///
/// Weight noise reaches the passes through [`Perturbation`]: per sequence,
/// one draw of the cell's and the readout's weights is materialised in the
/// scratch (`noisy`, `H·D + H + H·H + K·H + K` floats) with
/// [`begin_step(0)`](Perturbation::begin_step); per step, the draw for step
/// `t` is made with `begin_step(t)` before step t's forward and again before
/// its backward (the keyed streams reproduce it; steps `t` and `t + 65536`
/// share a draw); every pass ends with
/// `begin_step(0)`. Sequence to one, the readout is drawn once (step 0's
/// key). Local reparameterisation's
/// pre-activation hooks are not called: recurrent networks do not support it.
///
/// # Examples
///
/// ```
/// use noisereg::{Clean, ElmanParams, ElmanRef, ElmanScratch, Readout, RecurrentNoise, RnnDims, Tanh};
/// let dims = RnnDims { input: 1, hidden: 1, output: 1, steps: 2, readout: Readout::Last };
/// let p = ElmanParams { wx: &[1.0], b: &[0.0], wh: &[0.5], v: &[2.0], c: &[0.0] };
/// let net = ElmanRef::new(p, Tanh, dims, RecurrentNoise::PerSequence)?;
/// let mut buf = vec![0.0; ElmanScratch::required_len(&dims)];
/// let mut ws = ElmanScratch::split(&mut buf, &dims)?;
/// net.forward(&[0.5, 0.0], &mut Clean, &mut ws)?;
/// let h1 = 0.5f32.tanh();
/// assert!((net.output(&ws)[0] - 2.0 * (0.5 * h1).tanh()).abs() < 1e-6);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElmanRef<'a, A: Activation> {
    p: ElmanParams<'a>,
    act: A,
    dims: RnnDims,
    noise: RecurrentNoise,
}

impl<'a, A: Activation> ElmanRef<'a, A> {
    /// A view of `params` with activation `act` (the cell's φ).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if a size in `dims` is 0,
    /// [`Error::LengthMismatch`] if a slice does not fit `dims`.
    pub fn new(
        params: ElmanParams<'a>,
        act: A,
        dims: RnnDims,
        noise: RecurrentNoise,
    ) -> Result<Self, Error> {
        dims.check()?;
        let p = &params;
        check_params(
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

    /// The noise semantics.
    pub fn noise(&self) -> RecurrentNoise {
        self.noise
    }

    fn readout_at(&self, t: usize) -> bool {
        match self.dims.readout {
            Readout::Last => t + 1 == self.dims.steps,
            Readout::EveryStep => true,
        }
    }

    /// The outputs of the last forward pass in `ws`: `K` values (sequence to
    /// one) or `T·K`.
    pub fn output<'w>(&self, ws: &'w ElmanScratch<'_>) -> &'w [f32] {
        let (t, k) = (self.dims.steps, self.dims.output);
        match self.dims.readout {
            Readout::Last => row(ws.y, t - 1, k),
            Readout::EveryStep => ws.y,
        }
    }

    /// Draws the cell's weights for `step` into `noisy`.
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

    /// Draws only the recurrent weights `W_h` for `step` into `noisy`.
    fn draw_recurrent<P: Perturbation>(
        &self,
        p: &mut P,
        step: usize,
        noisy: &mut ElmanParamsMut<'_>,
    ) {
        let h = self.dims.hidden;
        p.begin_step(step);
        p.begin_layer(1);
        for (c, o) in self.p.wh.chunks_exact(h).zip(noisy.wh.chunks_exact_mut(h)) {
            p.weight_row(c, o);
        }
        p.bias(&[], &mut []);
    }

    /// Draws the readout's weights for `step` into `noisy` (sequence to one:
    /// the one readout is keyed on step 0).
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

    /// The step on which a per-sequence draw is keyed, or `None` per step.
    fn shared_draw<P: Perturbation>(&self, p: &P) -> (bool, bool) {
        let noisy = p.perturbs_weights();
        (noisy, noisy && self.noise == RecurrentNoise::PerStep)
    }

    /// Forward pass of the sequence `x` (`T·D` values) with the weights `p`
    /// supplies; the outputs are then [`output`](Self::output).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `x` or `ws` does not fit.
    pub fn forward<P: Perturbation>(
        &self,
        x: &[f32],
        p: &mut P,
        ws: &mut ElmanScratch<'_>,
    ) -> Result<(), Error> {
        ws.check(&self.dims)?;
        check_len(x.len(), ws.x.len())?;
        ws.x.copy_from_slice(x);
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        let (noisy, per_step) = self.shared_draw(p);
        if noisy && !per_step {
            self.draw_cell(p, 0, &mut ws.noisy);
            self.draw_readout(p, 0, &mut ws.noisy);
        }
        for t in 0..steps {
            if per_step {
                self.draw_cell(p, t, &mut ws.noisy);
            }
            let w = if noisy { ws.noisy.as_ref() } else { self.p };
            let (hp, hc) = ws.h.split_at_mut(t * h);
            let hprev = if t == 0 { &[][..] } else { row(hp, t - 1, h) };
            let z = row_mut(ws.z, t, h);
            z.copy_from_slice(w.b);
            mv_add(w.wx, di, row(ws.x, t, di), z);
            mv_add(w.wh, h, hprev, z);
            let ht = hc.get_mut(..h).unwrap_or(&mut []);
            self.act.f_slice(z, ht);
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
            // Back to the feedforward key for whatever draws next.
            p.begin_step(0);
        }
        Ok(())
    }

    /// Writes `dy` (`K` or `T·K` values) into the scratch's seed.
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

    /// Back-propagation through time of the seed in `ws` with the weights
    /// `p` supplies: fills `g` and `delta`.
    fn bptt<P: Perturbation>(&self, p: &mut P, ws: &mut ElmanScratch<'_>) {
        let RnnDims {
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        let (noisy, per_step) = self.shared_draw(p);
        if noisy && !per_step {
            self.draw_cell(p, 0, &mut ws.noisy);
            self.draw_readout(p, 0, &mut ws.noisy);
        }
        let (gn, _) = ws.tmp.split_at_mut(h);
        gn.fill(0.0);
        for t in (0..steps).rev() {
            if per_step {
                // BPTT reads only W̃_h (and Ṽ): layer 0 is not redrawn (the
                // streams are keyed per layer, so W̃_h's bits are the same).
                self.draw_recurrent(p, t, &mut ws.noisy);
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
            let d = row_mut(ws.delta, t, h);
            let (z, a) = (row(ws.z, t, h), row(ws.h, t, h));
            for (((d, &g), &z), &a) in d.iter_mut().zip(&*g).zip(z).zip(a) {
                *d = self.act.df_given(z, a) * g;
            }
            gn.fill(0.0);
            mtv_add(w.wh, h, d, gn);
        }
        if per_step {
            p.begin_step(0);
        }
    }

    /// `out += coef · ∇_θ (s·f)` from the `delta` of [`bptt`](Self::bptt).
    fn add_grad(
        &self,
        x: &[f32],
        hs: &[f32],
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
            let d = row(delta, t, h);
            outer_add(coef, d, row(x, t, di), out.wx);
            axpy(coef, d, out.b);
            outer_add(coef, d, prev(hs, t, h), out.wh);
            if self.readout_at(t) {
                let s = row(seed, t, k);
                outer_add(coef, s, row(hs, t, h), out.v);
                axpy(coef, s, out.c);
            }
        }
    }

    /// Adds `∂(dy·f)/∂θ` into `grad`, given a forward pass with the same `p`
    /// in `ws` (`dy`: `K` or `T·K` values). `p` must supply the forward
    /// pass's draw again (a restarted keyed stream does).
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `dy`, `ws` or `grad` does not fit.
    pub fn backward<P: Perturbation>(
        &self,
        ws: &mut ElmanScratch<'_>,
        dy: &[f32],
        p: &mut P,
        grad: &mut ElmanParamsMut<'_>,
    ) -> Result<(), Error> {
        ws.check(&self.dims)?;
        grad.check(&self.dims)?;
        self.set_seed(dy, ws.seed)?;
        self.bptt(p, ws);
        self.add_grad(ws.x, ws.h, ws.delta, ws.seed, 1.0, grad);
        Ok(())
    }

    fn check_eta(eta: &[f32]) -> Result<[f32; 3], Error> {
        check_len(eta.len(), 3)?;
        Ok([
            eta.first().copied().unwrap_or(0.0),
            eta.get(1).copied().unwrap_or(0.0),
            eta.get(2).copied().unwrap_or(0.0),
        ])
    }

    /// The penalty of the seed in `ws` (a clean forward pass there); with
    /// `grad`, also adds `coef·∇(s·f) + H_{s·f} v` (`v = η ⊙ G`, per copy
    /// for per-step noise). Leaves the materialised gradient in `ws.dir`
    /// scaled to the direction.
    fn seed_penalty(
        &self,
        ws: &mut ElmanScratch<'_>,
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
        self.add_grad(ws.x, ws.h, ws.delta, ws.seed, 1.0, &mut ws.dir);
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
                    let d2 = sq(row(ws.delta, t, h));
                    s += d2 * (e[0] * (sq(row(ws.x, t, di)) + beta) + e[1] * sq(prev(ws.h, t, h)));
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

    /// R-forward and R-backward along `dir` at the clean weights, after
    /// [`bptt`](Self::bptt) with the clean weights: fills `rz`, `rh`,
    /// `rdelta`.
    fn r_pass(&self, ws: &mut ElmanScratch<'_>, dir: Dir) {
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        let w = self.p;
        for t in 0..steps {
            let (rhp, rhc) = ws.rh.split_at_mut(t * h);
            let rz = row_mut(ws.rz, t, h);
            rz.fill(0.0);
            mv_add(w.wh, h, prev(rhp, t, h), rz);
            let (xt, hprev) = (row(ws.x, t, di), prev(ws.h, t, h));
            match dir {
                Dir::Shared => {
                    let d = &ws.dir;
                    mv_add(d.wx, di, xt, rz);
                    mv_add(d.wh, h, hprev, rz);
                    axpy(1.0, d.b, rz);
                }
                Dir::Rank1 { e, beta } => {
                    let a = e[0] * (sq(xt) + beta) + e[1] * sq(hprev);
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
            let (z, a) = (row(ws.z, t, h), row(ws.h, t, h));
            for (((r, &rz), &z), &a) in rht.iter_mut().zip(&*rz).zip(z).zip(a) {
                *r = self.act.df_given(z, a) * rz;
            }
        }
        let (rgn, rg) = ws.tmp.split_at_mut(h);
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
            let (z, a, g, rz) = (
                row(ws.z, t, h),
                row(ws.h, t, h),
                row(ws.g, t, h),
                row(ws.rz, t, h),
            );
            let rd = row_mut(ws.rdelta, t, h);
            let it = rd.iter_mut().zip(&*rg).zip(z).zip(a).zip(g).zip(rz);
            for (((((rd, &rg), &z), &a), &g), &rz) in it {
                *rd = self.act.d2f_given(z, a) * rz * g + self.act.df_given(z, a) * rg;
            }
            rgn.fill(0.0);
            mtv_add(w.wh, h, rd, rgn);
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
    }

    /// `out += R{∇_θ (s·f)}` from the R-pass in `ws`.
    fn add_r_grad(&self, ws: &ElmanScratch<'_>, out: &mut ElmanParamsMut<'_>) {
        let RnnDims {
            input: di,
            hidden: h,
            output: k,
            steps,
            ..
        } = self.dims;
        for t in 0..steps {
            let rd = row(ws.rdelta, t, h);
            outer_add(1.0, rd, row(ws.x, t, di), out.wx);
            axpy(1.0, rd, out.b);
            outer_add(1.0, rd, prev(ws.h, t, h), out.wh);
            outer_add(1.0, row(ws.delta, t, h), prev(ws.rh, t, h), out.wh);
            if self.readout_at(t) {
                outer_add(1.0, row(ws.seed, t, k), row(ws.rh, t, h), out.v);
            }
        }
    }

    /// Sets `seed = e_j` (output `j` of `K` or `T·K`).
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

    /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` at the clean weights, per
    /// sequence `‖Σ_t G_t‖²` or per step `Σ_t ‖G_t‖²` (`docs/theory.md` §8);
    /// runs a clean forward pass of `x` into `ws`. `eta` has 3 entries.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x` or `ws` does not fit.
    pub fn penalty(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut ElmanScratch<'_>,
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
    /// given a clean forward pass in `ws`. The penalty's gradient is the
    /// Hessian–vector product `H_f (η ⊙ ∇f)` by the R-operator through time;
    /// per step, the direction of unrolled copy t is `η ⊙ G_t`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `dy`, `ws` or `grad` does not fit;
    /// `grad` is unchanged then.
    pub fn penalty_grad(
        &self,
        ws: &mut ElmanScratch<'_>,
        dy: &[f32],
        eta: &[f32],
        on: NoiseOn,
        grad: &mut ElmanParamsMut<'_>,
    ) -> Result<f32, Error> {
        let e = Self::check_eta(eta)?;
        ws.check(&self.dims)?;
        grad.check(&self.dims)?;
        check_len(dy.len(), self.dims.outputs())?;
        let mut total = 0.0;
        for (j, &c) in dy.iter().enumerate() {
            self.unit_seed(j, ws.seed);
            total += self.seed_penalty(ws, e, on, Some((grad, c)));
        }
        Ok(total)
    }

    /// The penalty of one seed `s` (`K` or `T·K` values):
    /// `Σ_l η_l ‖∇_{θ_l}(s·f)‖²` (per step: the sum over copies), given a
    /// clean forward pass in `ws`; with `grad`, also adds the gradient of half
    /// of it with `s` held fixed.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `seed`, `ws` or `grad` does not fit.
    pub fn seeded_penalty(
        &self,
        ws: &mut ElmanScratch<'_>,
        seed: &[f32],
        eta: &[f32],
        on: NoiseOn,
        grad: Option<&mut ElmanParamsMut<'_>>,
    ) -> Result<f32, Error> {
        let e = Self::check_eta(eta)?;
        ws.check(&self.dims)?;
        if let Some(g) = &grad {
            g.check(&self.dims)?;
        }
        self.set_seed(seed, ws.seed)?;
        Ok(self.seed_penalty(ws, e, on, grad.map(|g| (g, 0.0))))
    }

    /// The η-weighted trace of the Hessian of each output over the noisy
    /// parameters, at the clean weights (runs a clean forward pass of `x`):
    /// per sequence `Σ_l η_l tr ∇²_{θ_l} f_k`, per step the diagonal blocks
    /// `Σ_t Σ_l η_l tr ∇²_{θ_{l,t} θ_{l,t}} f_k` (`docs/theory.md` §8). The
    /// readout is linear in its parameters and adds nothing.
    ///
    /// Cost per output: per sequence one R-operator pass per noisy cell
    /// parameter, `O(H·(D+H) · T·H·(D+H))`; per step one per step and hidden
    /// unit (`∂²f/∂θ²_{t,ij} = a_{t,j}² ∂²f/∂z²_{t,i}`), `O(T²·H³)`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `eta`, `x`, `ws` or `traces` does not fit.
    pub fn hessian_trace(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut ElmanScratch<'_>,
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

    fn seed_trace(&self, ws: &mut ElmanScratch<'_>, e: [f32; 3], beta: f32) -> f32 {
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
                    let a = e[0] * (sq(row(ws.x, s, di)) + beta) + e[1] * sq(prev(ws.h, s, h));
                    if a == 0.0 {
                        continue;
                    }
                    for i in 0..h {
                        self.r_pass(ws, Dir::UnitZ { step: s, unit: i });
                        total += a * row(ws.rdelta, s, h).get(i).copied().unwrap_or(0.0);
                    }
                }
            }
            RecurrentNoise::PerSequence => {
                let rd_at = |ws: &ElmanScratch<'_>, t: usize, i: usize| {
                    row(ws.rdelta, t, h).get(i).copied().unwrap_or(0.0)
                };
                for i in 0..h {
                    if e[0] != 0.0 {
                        for j in 0..di {
                            self.r_pass(ws, Dir::Wx(i, j));
                            let v: f32 = (0..steps)
                                .map(|t| {
                                    rd_at(ws, t, i)
                                        * row(ws.x, t, di).get(j).copied().unwrap_or(0.0)
                                })
                                .sum();
                            total += e[0] * v;
                        }
                        if beta != 0.0 {
                            self.r_pass(ws, Dir::B(i));
                            let v: f32 = (0..steps).map(|t| rd_at(ws, t, i)).sum();
                            total += e[0] * beta * v;
                        }
                    }
                    if e[1] != 0.0 {
                        for j in 0..h {
                            self.r_pass(ws, Dir::Wh(i, j));
                            let v: f32 = (0..steps)
                                .map(|t| {
                                    let hp = prev(ws.h, t, h).get(j).copied().unwrap_or(0.0);
                                    let rhp = prev(ws.rh, t, h).get(j).copied().unwrap_or(0.0);
                                    let d = row(ws.delta, t, h).get(i).copied().unwrap_or(0.0);
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
