//! Slice arithmetic of the recurrent passes.

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

/// `s[i]`, 0 out of range.
#[inline(always)]
pub(super) fn at(s: &[f32], i: usize) -> f32 {
    s.get(i).copied().unwrap_or(0.0)
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

/// `y += a x`.
#[inline(always)]
pub(super) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}
