//! The Elman cell's steps `h_t = φ(W_x x_t + W_h h_{t−1} + b)`: forward,
//! backward, R-operator and gradient, shared by [`ElmanRef`](super::ElmanRef)
//! and the two cells of [`StackedElman`](crate::StackedElman).

use crate::nn::Activation;
use crate::rnn::ops::{axpy, mtv_add, mv_add, outer_add, sq};

/// One cell's weights: `wx` (`H` rows of `inputs`), `b`, `wh` (`H×H`).
#[derive(Debug, Clone, Copy)]
pub(in crate::rnn) struct Cell<'a> {
    pub wx: &'a [f32],
    pub b: &'a [f32],
    pub wh: &'a [f32],
    pub inputs: usize,
    pub hidden: usize,
}

/// One cell's weights (a gradient), mutably borrowed.
pub(in crate::rnn) struct CellMut<'a> {
    pub wx: &'a mut [f32],
    pub b: &'a mut [f32],
    pub wh: &'a mut [f32],
}

impl Cell<'_> {
    /// `z = W_x x_t + W_h h_{t−1} + b`, `h_t = φ(z)`.
    #[inline(always)]
    pub fn forward<A: Activation>(
        &self,
        act: &A,
        x_t: &[f32],
        h_prev: &[f32],
        z: &mut [f32],
        h_t: &mut [f32],
    ) {
        z.copy_from_slice(self.b);
        mv_add(self.wx, self.inputs, x_t, z);
        mv_add(self.wh, self.hidden, h_prev, z);
        act.f_slice(z, h_t);
    }

    /// `δ_t = φ'(z_t) ⊙ g_t`, then `g_next = W_hᵀ δ_t` (the recurrent part
    /// of `∂/∂h_{t−1}`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn backward<A: Activation>(
        &self,
        act: &A,
        z: &[f32],
        h_t: &[f32],
        g: &[f32],
        delta: &mut [f32],
        g_next: &mut [f32],
    ) {
        for (((d, &g), &z), &a) in delta.iter_mut().zip(g).zip(z).zip(h_t) {
            *d = act.df_given(z, a) * g;
        }
        g_next.fill(0.0);
        mtv_add(self.wh, self.hidden, delta, g_next);
    }

    /// `R{z_t} = W_x R{x_t} + W_h R{h_{t−1}}` (`rx` `None`: the input is
    /// data); the direction's terms are added after.
    #[inline(always)]
    pub fn r_z(&self, rx: Option<&[f32]>, rh_prev: &[f32], rz: &mut [f32]) {
        rz.fill(0.0);
        if let Some(rx) = rx {
            mv_add(self.wx, self.inputs, rx, rz);
        }
        mv_add(self.wh, self.hidden, rh_prev, rz);
    }

    /// `R{δ_t} = φ''(z) R{z} g + φ'(z) R{g}`, then
    /// `R{g_next} = W_hᵀ R{δ_t}`; the direction's terms are added after.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn r_backward<A: Activation>(
        &self,
        act: &A,
        (z, h_t, g, rz): (&[f32], &[f32], &[f32], &[f32]),
        rg: &[f32],
        rdelta: &mut [f32],
        rg_next: &mut [f32],
    ) {
        let it = rdelta.iter_mut().zip(rg).zip(z).zip(h_t).zip(g).zip(rz);
        for (((((rd, &rg), &z), &a), &g), &rz) in it {
            *rd = act.d2f_given(z, a) * rz * g + act.df_given(z, a) * rg;
        }
        rg_next.fill(0.0);
        mtv_add(self.wh, self.hidden, rdelta, rg_next);
    }
}

impl Cell<'_> {
    /// The direction `self` (a materialised `dir`): `R{z} += D_x x_t + D_h h_{t−1} + d_b`.
    #[inline(always)]
    pub fn dir_z(&self, x_t: &[f32], h_prev: &[f32], rz: &mut [f32]) {
        mv_add(self.wx, self.inputs, x_t, rz);
        mv_add(self.wh, self.hidden, h_prev, rz);
        axpy(1.0, self.b, rz);
    }
}

/// `R{h_t} = φ'(z_t) R{z_t}`.
#[inline(always)]
pub(in crate::rnn) fn r_h<A: Activation>(
    act: &A,
    z: &[f32],
    h_t: &[f32],
    rz: &[f32],
    rh: &mut [f32],
) {
    for (((r, &rz), &z), &a) in rh.iter_mut().zip(rz).zip(z).zip(h_t) {
        *r = act.df_given(z, a) * rz;
    }
}

/// Copy t's per-step coefficient `η_x (‖x_t‖² + β) + η_h ‖h_{t−1}‖²`:
/// `‖G_t‖² = ‖δ_t‖²` times it, and `η ⊙ G_t` moves `z_t` by `δ_t` times it.
#[inline(always)]
pub(in crate::rnn) fn step_coef(e_x: f32, e_h: f32, beta: f32, x_t: &[f32], h_prev: &[f32]) -> f32 {
    e_x * (sq(x_t) + beta) + e_h * sq(h_prev)
}

/// `out += ∇ (s·f)` of step t: `δ_t x_tᵀ`, `δ_t`, `δ_t h_{t−1}ᵀ`.
#[inline(always)]
pub(in crate::rnn) fn add_grad(delta: &[f32], x_t: &[f32], h_prev: &[f32], out: CellMut<'_>) {
    outer_add(1.0, delta, x_t, out.wx);
    axpy(1.0, delta, out.b);
    outer_add(1.0, delta, h_prev, out.wh);
}

/// `out += R{∇ (s·f)}` of step t (`rx`: `R{x_t}` if the input moves).
#[inline(always)]
pub(in crate::rnn) fn add_r_grad(
    (delta, rdelta): (&[f32], &[f32]),
    (x_t, rx): (&[f32], Option<&[f32]>),
    (h_prev, rh_prev): (&[f32], &[f32]),
    out: CellMut<'_>,
) {
    outer_add(1.0, rdelta, x_t, out.wx);
    if let Some(rx) = rx {
        outer_add(1.0, delta, rx, out.wx);
    }
    axpy(1.0, rdelta, out.b);
    outer_add(1.0, rdelta, h_prev, out.wh);
    outer_add(1.0, delta, rh_prev, out.wh);
}
