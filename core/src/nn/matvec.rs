//! The inner loops every layer pass is built from (private; the public
//! per-layer functions in this module are the stable surface).

use crate::kernels::dot_unchecked;
use wide::f32x8;

const LANES: usize = 8;

/// `out[o] = w_o · x (+ b[o])` for the rows `w_o` of a row-major matrix.
#[inline(always)]
pub(crate) fn rows_dot(w: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len().max(1);
    for (o, row) in out.iter_mut().zip(w.chunks_exact(n)) {
        *o = dot_unchecked(row, x);
    }
}

/// `y ← y + a·x` over the common prefix (never fused, like [`crate::axpy`]).
#[inline(always)]
pub(crate) fn axpy_into(a: f32, x: &[f32], y: &mut [f32]) {
    let av = f32x8::splat(a);
    let (xv, xt) = x.as_chunks::<LANES>();
    let (yv, yt) = y.as_chunks_mut::<LANES>();
    for (u, v) in xv.iter().zip(yv) {
        *v = (f32x8::from(*v) + av * f32x8::from(*u)).to_array();
    }
    for (u, v) in xt.iter().zip(yt) {
        *v += a * u;
    }
}

/// `y ← y + a·x + b·u` over the common prefix (one pass over `y`).
#[inline(always)]
pub(crate) fn axpy2_into(a: f32, x: &[f32], b: f32, u: &[f32], y: &mut [f32]) {
    let av = f32x8::splat(a);
    let bv = f32x8::splat(b);
    let (xv, xt) = x.as_chunks::<LANES>();
    let (uv, ut) = u.as_chunks::<LANES>();
    let (yv, yt) = y.as_chunks_mut::<LANES>();
    for ((p, q), v) in xv.iter().zip(uv).zip(yv) {
        *v = ((f32x8::from(*v) + av * f32x8::from(*p)) + bv * f32x8::from(*q)).to_array();
    }
    for ((p, q), v) in xt.iter().zip(ut).zip(yt) {
        *v = (*v + a * p) + b * q;
    }
}

/// `g = Σ_o d[o]·w_o` (`Wᵀd`) for the rows `w_o` of a row-major matrix.
#[inline(always)]
pub(crate) fn rows_axpy(w: &[f32], d: &[f32], g: &mut [f32]) {
    let n = g.len().max(1);
    g.fill(0.0);
    for (row, &c) in w.chunks_exact(n).zip(d) {
        axpy_into(c, row, g);
    }
}
