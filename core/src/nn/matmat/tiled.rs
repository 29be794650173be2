//! The block kernels where `wide` has SIMD registers: register tiles of
//! samples × output vectors (the forward product and `Wᵀδ`) and of rows ×
//! vectors (the weight gradients).

use super::super::matvec::{V, W};

/// Samples × vectors of outputs per register tile of [`matmul_block`]: with
/// fused multiply-add eight accumulators hide its latency; without, fewer
/// samples per tile mean fewer broadcasts (shuffles) per multiply-add
/// (measured best on both builds).
#[cfg(target_feature = "avx")]
const MS: usize = 4;
#[cfg(target_feature = "avx")]
const MC: usize = 2;
#[cfg(not(target_feature = "avx"))]
const MS: usize = 2;
#[cfg(not(target_feature = "avx"))]
const MC: usize = 4;

/// `zs[s][o] = Σ_i xs[s][i]·wt[i][o]`, summed over `i` in order from zero,
/// for every sample: outputs in SIMD lanes, `MS` samples × `MC` vectors of
/// outputs per register tile, no horizontal sums. `wt = Wᵀ`
/// ([`transpose_into`]). Outputs past the last full vector take `W`
/// samples in the lanes instead ([`matmul_cols`]).
#[inline]
pub(crate) fn matmul_block(wt: &[f32], xs: &[f32], zs: &mut [f32], n_in: usize, n_out: usize) {
    let (n_in, n_out) = (n_in.max(1), n_out.max(1));
    if n_out >= W {
        let mut xi = xs.chunks_exact(n_in * MS);
        let mut zi = zs.chunks_exact_mut(n_out * MS);
        for (x, z) in xi.by_ref().zip(zi.by_ref()) {
            matmul_tile::<MS>(wt, x, z, n_in, n_out);
        }
        for (x, z) in xi
            .remainder()
            .chunks_exact(n_in)
            .zip(zi.into_remainder().chunks_exact_mut(n_out))
        {
            matmul_tile::<1>(wt, x, z, n_in, n_out);
        }
    }
    matmul_cols(wt, xs, zs, n_in, n_out);
}

/// The outputs `j ≥ W·⌊n_out/W⌋` of [`matmul_block`]: `W` samples in the
/// lanes (their inputs transposed `W` at a time), each lane the scalar chain
/// `((0 + x₀w₀) + x₁w₁) + …` unfused; leftover samples one at a time.
#[inline(never)]
fn matmul_cols(wt: &[f32], xs: &[f32], zs: &mut [f32], n_in: usize, n_out: usize) {
    let first = n_out / W * W;
    if first == n_out {
        return;
    }
    let mut xg = xs.chunks_exact(n_in * W * CG);
    let mut zg = zs.chunks_exact_mut(n_out * W * CG);
    for (x, z) in xg.by_ref().zip(zg.by_ref()) {
        cols_lanes::<CG>(wt, x, z, first, n_in, n_out);
    }
    let mut xi = xg.remainder().chunks_exact(n_in * W);
    let mut zi = zg.into_remainder().chunks_exact_mut(n_out * W);
    for (x, z) in xi.by_ref().zip(zi.by_ref()) {
        cols_lanes::<1>(wt, x, z, first, n_in, n_out);
    }
    for (x, z) in xi
        .remainder()
        .chunks_exact(n_in)
        .zip(zi.into_remainder().chunks_exact_mut(n_out))
    {
        for j in first..n_out {
            let mut acc = 0.0;
            for (row, xv) in wt.chunks_exact(n_out).zip(x) {
                acc += xv * row.get(j).copied().unwrap_or(0.0);
            }
            if let Some(zo) = z.get_mut(j) {
                *zo = acc;
            }
        }
    }
}

/// Lane groups of `W` samples at a time in [`matmul_cols`]: `G` independent
/// chains per output interleaved (each alone waits on its additions).
const CG: usize = if W < 16 { 16 / W } else { 1 };

/// [`matmul_cols`] for `G·W` samples: group `g`'s lane `l` is sample `g·W + l`.
#[inline(always)]
fn cols_lanes<const G: usize>(
    wt: &[f32],
    xs: &[f32],
    zs: &mut [f32],
    first: usize,
    n_in: usize,
    n_out: usize,
) {
    let mut rows: [[&[f32]; W]; G] = [[&[]; W]; G];
    for (r, x) in rows
        .as_flattened_mut()
        .iter_mut()
        .zip(xs.chunks_exact(n_in))
    {
        *r = x;
    }
    for j in first..n_out {
        let mut col = wt.iter().skip(j).step_by(n_out);
        let mut acc = [V::ZERO; G];
        let mut i = 0;
        while i + W <= n_in {
            let mut t = [[V::ZERO; W]; G];
            for (tg, rg) in t.iter_mut().zip(&rows) {
                for (v, r) in tg.iter_mut().zip(rg) {
                    if let Some(c) = r.get(i..i + W).and_then(|c| c.first_chunk::<W>()) {
                        *v = V::from(*c);
                    }
                }
                *tg = V::transpose(*tg);
            }
            for (k, w) in col.by_ref().take(W).enumerate() {
                let w = V::splat(*w);
                for (a, tg) in acc.iter_mut().zip(&t) {
                    *a += tg[k] * w;
                }
            }
            i += W;
        }
        for w in col {
            let w = V::splat(*w);
            for (a, rg) in acc.iter_mut().zip(&rows) {
                let mut xc = [0.0; W];
                for (v, r) in xc.iter_mut().zip(rg) {
                    *v = r.get(i).copied().unwrap_or(0.0);
                }
                *a += V::from(xc) * w;
            }
            i += 1;
        }
        for (g, a) in acc.iter().enumerate() {
            for (l, v) in a.to_array().iter().enumerate() {
                if let Some(zo) = zs.get_mut((g * W + l) * n_out + j) {
                    *zo = *v;
                }
            }
        }
    }
}

/// [`matmul_block`] for `M` samples: vectors of outputs `MC` at a time, then one.
#[inline(always)]
fn matmul_tile<const M: usize>(wt: &[f32], xs: &[f32], zs: &mut [f32], n_in: usize, n_out: usize) {
    let full = n_out / W;
    let mut o = 0;
    while o + MC <= full {
        matmul_vecs::<M, MC>(wt, xs, zs, o, n_in, n_out);
        o += MC;
    }
    while o < full {
        matmul_vecs::<M, 1>(wt, xs, zs, o, n_in, n_out);
        o += 1;
    }
}

/// Vectors `o..o + C` of the outputs of `M` samples, held in registers over the inputs.
#[inline(always)]
fn matmul_vecs<const M: usize, const C: usize>(
    wt: &[f32],
    xs: &[f32],
    zs: &mut [f32],
    o: usize,
    n_in: usize,
    n_out: usize,
) {
    let x: [&[f32]; M] = core::array::from_fn(|s| xs.get(s * n_in..(s + 1) * n_in).unwrap_or(&[]));
    let cols = o * W..(o + C) * W;
    let mut acc = [[V::ZERO; C]; M];
    for (i, row) in wt.chunks_exact(n_out).take(n_in).enumerate() {
        let Some(wc) = row
            .get(cols.clone())
            .and_then(|r| r.as_chunks::<W>().0.first_chunk::<C>())
        else {
            break;
        };
        let w = wc.map(V::from);
        for (a, xs) in acc.iter_mut().zip(x) {
            let xb = V::splat(xs.get(i).copied().unwrap_or(0.0));
            for (v, wv) in a.iter_mut().zip(w) {
                *v = xb.mul_add(wv, *v);
            }
        }
    }
    for (s, a) in acc.iter().enumerate() {
        for (c, v) in a.iter().enumerate() {
            store(zs, s * n_out + (o + c) * W, *v);
        }
    }
}

/// Writes `v` at `at` when it fits.
#[inline(always)]
fn store(zs: &mut [f32], at: usize, v: V) {
    if let Some(d) = zs
        .get_mut(at..at + W)
        .and_then(|d| d.first_chunk_mut::<W>())
    {
        *d = v.to_array();
    }
}

/// `gw_o += Σ_s ds[s][o]·xs[s]` for every row `o`, samples in order: the bits
/// of one [`axpy_into`] per sample and row. Register tiles of `R` rows × `C`
/// vectors (eight accumulators where the row allows: enough to hide the
/// add or fused multiply-add latency), each `xs` vector loaded once per tile.
#[inline]
pub(crate) fn outer_acc_block(gw: &mut [f32], ds: &[f32], xs: &[f32], n_in: usize, n_out: usize) {
    let (n_in, n_out) = (n_in.max(1), n_out.max(1));
    let full = n_in / W;
    let mut k = 0;
    while k + 8 <= full {
        outer_rows::<1, 8>(gw, ds, xs, k, n_in, n_out);
        k += 8;
    }
    while k + 4 <= full {
        outer_rows::<2, 4>(gw, ds, xs, k, n_in, n_out);
        k += 4;
    }
    match full - k {
        3 => outer_rows::<2, 3>(gw, ds, xs, k, n_in, n_out),
        2 => outer_rows::<4, 2>(gw, ds, xs, k, n_in, n_out),
        1 => outer_rows::<8, 1>(gw, ds, xs, k, n_in, n_out),
        _ => {}
    }
    let first = full * W;
    if first < n_in {
        for o in (0..n_out / W).map(|v| v * W) {
            let mut t = first;
            while t + 2 <= n_in {
                outer_tail_lanes::<2>(gw, ds, xs, o, t, n_in, n_out);
                t += 2;
            }
            if t < n_in {
                outer_tail_lanes::<1>(gw, ds, xs, o, t, n_in, n_out);
            }
        }
        for o in n_out / W * W..n_out {
            outer_tail::<1>(gw, ds, xs, o, first, n_in, n_out);
        }
    }
}

/// Columns `t..t + T` of rows `o..o + W` (past the last full vector of the
/// rows): the rows in the lanes, `ds[s][o..o + W]` one load per sample, each
/// lane the scalar chain `v + c·u` unfused.
#[inline(always)]
fn outer_tail_lanes<const T: usize>(
    gw: &mut [f32],
    ds: &[f32],
    xs: &[f32],
    o: usize,
    t: usize,
    n_in: usize,
    n_out: usize,
) {
    let at = |l: usize, c: usize| (o + l) * n_in + t + c;
    let mut acc = [V::ZERO; T];
    for (c, a) in acc.iter_mut().enumerate() {
        let mut g = [0.0; W];
        for (l, v) in g.iter_mut().enumerate() {
            *v = gw.get(at(l, c)).copied().unwrap_or(0.0);
        }
        *a = V::from(g);
    }
    for (x, d) in xs.chunks_exact(n_in).zip(ds.chunks_exact(n_out)) {
        let (Some(u), Some(dv)) = (
            x.get(t..).and_then(|u| u.first_chunk::<T>()),
            d.get(o..).and_then(|d| d.first_chunk::<W>()),
        ) else {
            continue;
        };
        let dv = V::from(*dv);
        for (a, &u) in acc.iter_mut().zip(u) {
            *a += dv * V::splat(u);
        }
    }
    for (c, a) in acc.iter().enumerate() {
        for (l, v) in a.to_array().iter().enumerate() {
            if let Some(g) = gw.get_mut(at(l, c)) {
                *g = *v;
            }
        }
    }
}

/// The last `n_in − first < W` columns of rows `o..o + R`, zero-padded into
/// one vector per row: each used lane is the scalar chain `v + c·u` unfused,
/// the padding is never stored.
#[inline(always)]
fn outer_tail<const R: usize>(
    gw: &mut [f32],
    ds: &[f32],
    xs: &[f32],
    o: usize,
    first: usize,
    n_in: usize,
    n_out: usize,
) {
    let padded = |v: &[f32]| V::from(core::array::from_fn(|l| v.get(l).copied().unwrap_or(0.0)));
    let row = |r: usize| (o + r) * n_in + first..(o + r + 1) * n_in;
    let mut acc: [V; R] = core::array::from_fn(|r| padded(gw.get(row(r)).unwrap_or(&[])));
    for (x, d) in xs.chunks_exact(n_in).zip(ds.chunks_exact(n_out)) {
        let (Some(u), Some(dr)) = (
            x.get(first..),
            d.get(o..).and_then(|d| d.first_chunk::<R>()),
        ) else {
            continue;
        };
        let u = padded(u);
        for (a, &c) in acc.iter_mut().zip(dr) {
            *a += V::splat(c) * u;
        }
    }
    for (r, a) in acc.iter().enumerate() {
        if let Some(m) = gw.get_mut(row(r)) {
            for (v, l) in m.iter_mut().zip(a.to_array()) {
                *v = l;
            }
        }
    }
}

/// [`outer_acc_block`] for vectors `k..k + C` of every row: rows `R` at a
/// time, then one at a time.
#[inline(always)]
fn outer_rows<const R: usize, const C: usize>(
    gw: &mut [f32],
    ds: &[f32],
    xs: &[f32],
    k: usize,
    n_in: usize,
    n_out: usize,
) {
    let mut o = 0;
    while o + R <= n_out {
        outer_tile::<R, C>(gw, ds, xs, o, k, n_in, n_out);
        o += R;
    }
    while o < n_out {
        outer_tile::<1, C>(gw, ds, xs, o, k, n_in, n_out);
        o += 1;
    }
}

/// Rows `o..o + R`, vectors `k..k + C` of `gw`, held in registers over the samples.
#[inline(always)]
fn outer_tile<const R: usize, const C: usize>(
    gw: &mut [f32],
    ds: &[f32],
    xs: &[f32],
    o: usize,
    k: usize,
    n_in: usize,
    n_out: usize,
) {
    let cols = k * W..(k + C) * W;
    let mut acc = [[V::ZERO; C]; R];
    for (r, a) in acc.iter_mut().enumerate() {
        if let Some(m) = gw
            .get((o + r) * n_in..)
            .and_then(|row| row.get(cols.clone()))
        {
            for (v, c) in a.iter_mut().zip(m.as_chunks::<W>().0) {
                *v = V::from(*c);
            }
        }
    }
    for (x, d) in xs.chunks_exact(n_in).zip(ds.chunks_exact(n_out)) {
        let (Some(xc), Some(dr)) = (
            x.get(cols.clone())
                .and_then(|c| c.as_chunks::<W>().0.first_chunk::<C>()),
            d.get(o..).and_then(|d| d.first_chunk::<R>()),
        ) else {
            continue;
        };
        let xv = xc.map(V::from);
        for (a, &c) in acc.iter_mut().zip(dr) {
            let c = V::splat(c);
            for (v, u) in a.iter_mut().zip(xv) {
                *v = c.mul_add(u, *v);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        if let Some(m) = gw
            .get_mut((o + r) * n_in..)
            .and_then(|row| row.get_mut(cols.clone()))
        {
            for (c, v) in m.as_chunks_mut::<W>().0.iter_mut().zip(a) {
                *c = v.to_array();
            }
        }
    }
}

/// `gxs[s] = Wᵀ ds[s]` for every sample: [`rows_axpy`](super::matvec::rows_axpy)'s bits per sample.
/// `Wᵀ ds[s]` is [`matmul_block`] with `W` in the place of `wt`: each
/// `gx[i]` summed over the rows in ascending order from zero, the same
/// chain (fused where [`axpy_into`] is; unfused scalar tails) as
/// [`rows_axpy`](super::matvec::rows_axpy).
#[inline]
pub(crate) fn rows_axpy_block(w: &[f32], ds: &[f32], gxs: &mut [f32], n_in: usize, n_out: usize) {
    matmul_block(w, ds, gxs, n_out, n_in);
}
