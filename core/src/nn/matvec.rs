//! The inner loops every layer pass is built from (private; the public
//! per-layer functions in this module are the stable surface).

use crate::kernels::dot_unchecked;

/// SIMD vector for the row kernels: 8 lanes where AVX makes them one
/// register, else 4 (one SSE/NEON register; plain scalars elsewhere).
#[cfg(target_feature = "avx")]
pub(crate) type V = wide::f32x8;
#[cfg(target_feature = "avx")]
pub(crate) const W: usize = 8;
#[cfg(not(target_feature = "avx"))]
pub(crate) type V = wide::f32x4;
#[cfg(not(target_feature = "avx"))]
pub(crate) const W: usize = 4;

/// For rows of `n ≥ W` elements with `n mod W ≠ 0`: a mask keeping the last
/// `n mod W` lanes, so the row's last `W` elements (overlapping the last full
/// chunk) finish it in one vector operation instead of a scalar loop. Masking
/// the product (not an operand) keeps `0·∞` out of the sums.
#[inline(always)]
pub(crate) fn tail_mask(n: usize) -> Option<V> {
    let t = n % W;
    if n >= W && t != 0 {
        MASKS.get(t).map(|m| V::from(*m))
    } else {
        None
    }
}

/// `MASKS[t]`: all-ones bits in the last `t` lanes, zeros elsewhere.
const MASKS: [[f32; W]; W] = {
    let mut m = [[0.0f32; W]; W];
    let mut t = 0;
    while t < W {
        let mut l = W - t;
        while l < W {
            m[t][l] = f32::from_bits(u32::MAX);
            l += 1;
        }
        t += 1;
    }
    m
};

/// `Σ row ⊙ x` as `W` partial sums: one accumulator over the full chunks in
/// order, then the masked last chunk. The block kernels keep exactly this
/// chain per (sample, row), so every block size gives the same bits.
#[inline(always)]
pub(crate) fn row_acc(row: &[f32], x: &[f32], mask: Option<V>) -> V {
    let (rv, _) = row.as_chunks::<W>();
    let (xv, _) = x.as_chunks::<W>();
    let mut acc = V::ZERO;
    for (w, xc) in rv.iter().zip(xv) {
        acc = V::from(*w).mul_add(V::from(*xc), acc);
    }
    masked_tail(acc, row, x, mask)
}

/// `acc + (last chunk of row ⊙ last chunk of x) & mask` (no-op without a mask).
#[inline(always)]
pub(crate) fn masked_tail(acc: V, row: &[f32], x: &[f32], mask: Option<V>) -> V {
    match (mask, row.last_chunk::<W>(), x.last_chunk::<W>()) {
        (Some(m), Some(r), Some(xl)) => acc + ((V::from(*r) * V::from(*xl)) & m),
        _ => acc,
    }
}

/// `out[o] = w_o · x` for the rows `w_o` of a row-major matrix with
/// `x.len()` columns: each row with the bits of [`row_dot`].
///
/// Rows are taken `W` at a time: the `W` row accumulators are summed by one
/// transpose instead of `W` horizontal reductions. The last `OUT mod W` rows
/// (e.g. a scalar output) go through [`row_dot`] one by one.
#[inline(always)]
pub(crate) fn rows_dot(w: &[f32], x: &[f32], out: &mut [f32]) {
    let n = x.len().max(1);
    let mut rows = w.chunks_exact(n);
    if n >= W {
        let mask = tail_mask(n);
        let (blocks, rest) = out.as_chunks_mut::<W>();
        for ob in blocks {
            let mut acc = [V::ZERO; W];
            for (a, row) in acc.iter_mut().zip(rows.by_ref()) {
                *a = row_acc(row, x, mask);
            }
            *ob = transposed_sum(acc).to_array();
        }
        for (o, row) in rest.iter_mut().zip(rows) {
            *o = lane_sum(row_acc(row, x, mask));
        }
    } else {
        for (o, row) in out.iter_mut().zip(rows) {
            *o = dot_unchecked(row, x);
        }
    }
}

/// `row · x` (common prefix) with exactly the bits [`rows_dot`] gives this
/// row wherever it stands in a matrix: [`row_acc`], then its lanes summed
/// left to right, as [`transposed_sum`] does per row; rows shorter than `W`
/// use the crate's dot kernel. Weight noise runs each perturbed row through
/// this, so a row copied unchanged keeps the clean bits.
#[inline(always)]
pub(crate) fn row_dot(row: &[f32], x: &[f32]) -> f32 {
    let n = x.len().min(row.len());
    let (row, x) = (row.get(..n).unwrap_or(row), x.get(..n).unwrap_or(x));
    if n >= W {
        lane_sum(row_acc(row, x, tail_mask(n)))
    } else {
        dot_unchecked(row, x)
    }
}

/// `((l0 + l1) + l2) + …`: one row's share of [`transposed_sum`].
#[inline(always)]
pub(crate) fn lane_sum(acc: V) -> f32 {
    let l = acc.to_array();
    l.iter().skip(1).fold(l[0], |s, &v| s + v)
}

/// The lane sums `((l0 + l1) + l2) + …` of `acc[0]`, …, `acc[W−1]`.
#[inline(always)]
pub(crate) fn transposed_sum(acc: [V; W]) -> V {
    let t = V::transpose(acc);
    t.iter().skip(1).fold(t[0], |s, &v| s + v)
}

// The read-modify-write kernels below keep scalar tails: an overlapping
// masked last chunk would load bytes just stored by the previous chunk and
// stall store-to-load forwarding (measured: 2× slower for 10-wide rows).

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

/// `g ← (((g + c0·w0) + c1·w1) + c2·w2) + c3·w3`, elementwise: the same bits
/// as four [`axpy_into`] calls, with one load and store of `g`.
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
