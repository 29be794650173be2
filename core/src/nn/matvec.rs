//! The inner loops every layer pass is built from (private; the public
//! per-layer functions in this module are the stable surface).

use crate::kernels::dot_unchecked;

/// SIMD vector for the row kernels: 8 lanes where AVX makes them one
/// register, else 4 (one SSE/NEON register; plain scalars elsewhere).
#[cfg(target_feature = "avx")]
type V = wide::f32x8;
#[cfg(target_feature = "avx")]
const W: usize = 8;
#[cfg(not(target_feature = "avx"))]
type V = wide::f32x4;
#[cfg(not(target_feature = "avx"))]
const W: usize = 4;

/// `Σ` over full `W`-chunks of `row ⊙ x`, as one vector, with two
/// interleaved accumulators (even and odd chunks) added at the end.
#[inline(always)]
fn row_acc(row: &[[f32; W]], x: &[[f32; W]]) -> V {
    let (mut a0, mut a1) = (V::ZERO, V::ZERO);
    let mut it = row.iter().zip(x);
    while let Some((w0, x0)) = it.next() {
        a0 = V::from(*w0).mul_add(V::from(*x0), a0);
        if let Some((w1, x1)) = it.next() {
            a1 = V::from(*w1).mul_add(V::from(*x1), a1);
        }
    }
    a0 + a1
}

/// Scalar tail of a row.
#[inline(always)]
fn tail_dot(row: &[f32], x: &[f32]) -> f32 {
    row.iter().zip(x).fold(0.0, |s, (a, b)| s + a * b)
}

/// `out[o] = w_o · x` for the rows `w_o` of a row-major matrix with
/// `x.len()` columns.
///
/// Rows are taken `W` at a time: the `W` row accumulators are summed by one
/// transpose instead of `W` horizontal reductions (each row: lanes summed
/// left to right, then the scalar tail). The last `OUT mod W` rows (e.g. a
/// scalar output) use the crate's dot kernel, whose several accumulators
/// suit one long row.
#[inline(always)]
pub(crate) fn rows_dot(w: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len().max(1);
    let (xv, xt) = x.as_chunks::<W>();
    let split = xv.len() * W;
    let mut rows = w.chunks_exact(n);
    let (blocks, rest) = out.as_chunks_mut::<W>();
    for ob in blocks {
        let mut acc = [V::ZERO; W];
        let mut tails = [0.0f32; W];
        for (a, t) in acc.iter_mut().zip(tails.iter_mut()) {
            if let Some(row) = rows.next() {
                let (head, tail) = row.split_at(split.min(row.len()));
                *a = row_acc(head.as_chunks::<W>().0, xv);
                *t = tail_dot(tail, xt);
            }
        }
        let sums = transposed_sum(acc) + V::from(tails);
        *ob = sums.to_array();
    }
    for (o, row) in rest.iter_mut().zip(rows) {
        *o = dot_unchecked(row, x);
    }
}

/// The lane sums `((l0 + l1) + l2) + …` of `acc[0]`, …, `acc[W−1]`.
#[inline(always)]
fn transposed_sum(acc: [V; W]) -> V {
    let t = V::transpose(acc);
    t.iter().skip(1).fold(t[0], |s, &v| s + v)
}

/// `y ← y + a·x` over the common prefix (`mul_add`: fused where FMA is enabled).
#[inline(always)]
pub(crate) fn axpy_into(a: f32, x: &[f32], y: &mut [f32]) {
    let av = V::splat(a);
    let (xv, xt) = x.as_chunks::<W>();
    let (yv, yt) = y.as_chunks_mut::<W>();
    for (u, v) in xv.iter().zip(yv) {
        *v = av.mul_add(V::from(*u), V::from(*v)).to_array();
    }
    for (u, v) in xt.iter().zip(yt) {
        *v += a * u;
    }
}

/// `y ← (y + a·x) + b·u` over the common prefix (one pass over `y`).
#[inline(always)]
pub(crate) fn axpy2_into(a: f32, x: &[f32], b: f32, u: &[f32], y: &mut [f32]) {
    let (av, bv) = (V::splat(a), V::splat(b));
    let (xv, xt) = x.as_chunks::<W>();
    let (uv, ut) = u.as_chunks::<W>();
    let (yv, yt) = y.as_chunks_mut::<W>();
    for ((p, q), v) in xv.iter().zip(uv).zip(yv) {
        let t = av.mul_add(V::from(*p), V::from(*v));
        *v = bv.mul_add(V::from(*q), t).to_array();
    }
    for ((p, q), v) in xt.iter().zip(ut).zip(yt) {
        *v = (*v + a * p) + b * q;
    }
}

/// `g = Σ_o d[o]·w_o` (`Wᵀd`) for the rows `w_o` of a row-major matrix with
/// `g.len()` columns: rows added in ascending order, four at a time per
/// chunk of `g` (the same bits as one [`axpy_into`] per row).
#[inline(always)]
pub(crate) fn rows_axpy(w: &[f32], d: &[f32], g: &mut [f32]) {
    let n = g.len().max(1);
    g.fill(0.0);
    let mut rows = w.chunks_exact(n).zip(d);
    loop {
        match (rows.next(), rows.next(), rows.next(), rows.next()) {
            (Some(r0), Some(r1), Some(r2), Some(r3)) => axpy4_into([r0, r1, r2, r3], g),
            (r0, r1, r2, _) => {
                for (row, c) in [r0, r1, r2].into_iter().flatten() {
                    axpy_into(*c, row, g);
                }
                break;
            }
        }
    }
}

/// `g ← (((g + c0·w0) + c1·w1) + c2·w2) + c3·w3`, elementwise.
#[inline(always)]
fn axpy4_into(r: [(&[f32], &f32); 4], g: &mut [f32]) {
    let [(w0, c0), (w1, c1), (w2, c2), (w3, c3)] = r;
    let c = [V::splat(*c0), V::splat(*c1), V::splat(*c2), V::splat(*c3)];
    let (gv, gt) = g.as_chunks_mut::<W>();
    let (v0, t0) = w0.as_chunks::<W>();
    let (v1, t1) = w1.as_chunks::<W>();
    let (v2, t2) = w2.as_chunks::<W>();
    let (v3, t3) = w3.as_chunks::<W>();
    for ((((gc, a), b), e), f) in gv.iter_mut().zip(v0).zip(v1).zip(v2).zip(v3) {
        let mut acc = V::from(*gc);
        acc = c[0].mul_add(V::from(*a), acc);
        acc = c[1].mul_add(V::from(*b), acc);
        acc = c[2].mul_add(V::from(*e), acc);
        acc = c[3].mul_add(V::from(*f), acc);
        *gc = acc.to_array();
    }
    for ((((gs, a), b), e), f) in gt.iter_mut().zip(t0).zip(t1).zip(t2).zip(t3) {
        *gs = (((*gs + c0 * a) + c1 * b) + c2 * e) + c3 * f;
    }
}
