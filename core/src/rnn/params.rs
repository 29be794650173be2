//! The five parameter slices of a one-cell network (Elman, GRU) and their
//! draws, shared by both cells; the draw of one noise layer and η.

use super::RnnDims;
use super::ops::{axpy, sq};
use crate::error::{Error, check_len};
use crate::perturbation::Perturbation;

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

/// η per noise layer, padded with zeros (at most 5 layers).
pub(super) type Eta = [f32; 5];

/// `eta` as [`Eta`]; it must have `layers` entries.
pub(super) fn check_eta(eta: &[f32], layers: usize) -> Result<Eta, Error> {
    check_len(eta.len(), layers)?;
    let mut e = [0.0; 5];
    for (e, &v) in e.iter_mut().zip(eta) {
        *e = v;
    }
    Ok(e)
}

/// Checks five slice lengths against `d` for a cell of `gates` row blocks.
pub(super) fn check_lens(lens: [usize; 5], d: &RnnDims, gates: usize) -> Result<(), Error> {
    let (di, h, k) = (d.input, d.hidden, d.output);
    let want = [gates * h * di, gates * h, gates * h * h, k * h, k];
    for (l, w) in lens.into_iter().zip(want) {
        check_len(l, w)?;
    }
    Ok(())
}

/// Carves five parameter slices for a cell of `gates` row blocks off `buf`.
pub(super) fn split<'a>(
    buf: &'a mut [f32],
    d: &RnnDims,
    gates: usize,
) -> (ElmanParamsMut<'a>, &'a mut [f32]) {
    let (di, h, k) = (d.input, d.hidden, d.output);
    let (wx, r) = buf.split_at_mut(gates * h * di);
    let (b, r) = r.split_at_mut(gates * h);
    let (wh, r) = r.split_at_mut(gates * h * h);
    let (v, r) = r.split_at_mut(k * h);
    let (c, r) = r.split_at_mut(k);
    (ElmanParamsMut { wx, b, wh, v, c }, r)
}

/// Draws noise layer `layer` (`w` with `cols` columns, bias `b`) into `wo`, `bo`.
#[inline(always)]
pub(super) fn draw_layer<P: Perturbation>(
    p: &mut P,
    layer: usize,
    (w, b): (&[f32], &[f32]),
    cols: usize,
    (wo, bo): (&mut [f32], &mut [f32]),
) {
    p.begin_layer(layer);
    for (c, o) in w.chunks_exact(cols).zip(wo.chunks_exact_mut(cols)) {
        p.weight_row(c, o);
    }
    p.bias(b, bo);
}

impl ElmanParams<'_> {
    pub(super) fn lens(&self) -> [usize; 5] {
        [
            self.wx.len(),
            self.b.len(),
            self.wh.len(),
            self.v.len(),
            self.c.len(),
        ]
    }

    /// Draws the cell's layers 0 (input weights and bias) and 1 (recurrent
    /// weights) for `step` into `noisy`; with `input` false only layer 1.
    pub(super) fn draw_cell<P: Perturbation>(
        &self,
        p: &mut P,
        step: usize,
        input: bool,
        d: &RnnDims,
        noisy: &mut ElmanParamsMut<'_>,
    ) {
        p.begin_step(step);
        if input {
            draw_layer(p, 0, (self.wx, self.b), d.input, (noisy.wx, noisy.b));
        }
        draw_layer(p, 1, (self.wh, &[]), d.hidden, (noisy.wh, &mut []));
    }

    /// Draws the readout (layer 2) keyed on `key` into `noisy`.
    pub(super) fn draw_readout<P: Perturbation>(
        &self,
        p: &mut P,
        key: usize,
        d: &RnnDims,
        noisy: &mut ElmanParamsMut<'_>,
    ) {
        p.begin_step(key);
        draw_layer(p, 2, (self.v, self.c), d.hidden, (noisy.v, noisy.c));
    }
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

    pub(super) fn check(&self, dims: &RnnDims, gates: usize) -> Result<(), Error> {
        check_lens(self.as_ref().lens(), dims, gates)
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

    /// `Σ_l η_l ‖θ_l‖²` over the three noise layers, biases weighted by `beta`.
    pub(super) fn weighted_sq(&self, e: &Eta, beta: f32) -> f32 {
        e[0] * (sq(self.wx) + beta * sq(self.b))
            + e[1] * sq(self.wh)
            + e[2] * (sq(self.v) + beta * sq(self.c))
    }

    /// `self += coef · from`.
    pub(super) fn add_scaled(&mut self, coef: f32, from: ElmanParams<'_>) {
        for (o, s) in [
            (&mut *self.wx, from.wx),
            (&mut *self.b, from.b),
            (&mut *self.wh, from.wh),
            (&mut *self.v, from.v),
            (&mut *self.c, from.c),
        ] {
            axpy(coef, s, o);
        }
    }

    /// `self = η ⊙ self` (biases also by `beta`).
    pub(super) fn scale(&mut self, e: &Eta, beta: f32) {
        for (s, a) in [
            (&mut *self.wx, e[0]),
            (&mut *self.b, e[0] * beta),
            (&mut *self.wh, e[1]),
            (&mut *self.v, e[2]),
            (&mut *self.c, e[2] * beta),
        ] {
            s.iter_mut().for_each(|v| *v *= a);
        }
    }
}
