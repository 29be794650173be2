//! The block kernels where `wide` has no SIMD registers (`BLOCK` = 1: the
//! microcontrollers). There the register tiles of [`tiled`](super::tiled)
//! only spill (on the Cortex-M4F they cost 30–60 % more instructions per
//! training sample and 3 KB of flash); these loops keep the one-sample
//! chain per element too, so both give the same bits (tested on the host).

use super::super::matvec::{V, W, rows_axpy};

/// Samples per register tile of [`matmul_block`].
const MS: usize = 4;

/// `zs[s][o] = Σ_i xs[s][i]·wt[i][o]`, summed over `i` in order from zero,
/// for every sample: outputs in SIMD lanes, `MS` samples × two vectors of
/// outputs per register tile, no horizontal sums. `wt = Wᵀ`
/// ([`transpose_into`]).
#[inline]
pub(crate) fn matmul_block(wt: &[f32], xs: &[f32], zs: &mut [f32], n_in: usize, n_out: usize) {
    let (n_in, n_out) = (n_in.max(1), n_out.max(1));
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

/// [`matmul_block`] for `M` samples.
#[inline(always)]
fn matmul_tile<const M: usize>(wt: &[f32], xs: &[f32], zs: &mut [f32], n_in: usize, n_out: usize) {
    let x: [&[f32]; M] = core::array::from_fn(|s| xs.get(s * n_in..(s + 1) * n_in).unwrap_or(&[]));
    let full = n_out / W;
    let mut o = 0;
    // Two vectors of outputs at a time, then one.
    while o + 2 <= full {
        let mut acc = [[V::ZERO; 2]; M];
        for (i, row) in wt.chunks_exact(n_out).enumerate() {
            let (Some(w0), Some(w1)) = (chunk(row, o), chunk(row, o + 1)) else {
                break;
            };
            for (a, xs) in acc.iter_mut().zip(x) {
                let xb = V::splat(xs.get(i).copied().unwrap_or(0.0));
                a[0] = xb.mul_add(w0, a[0]);
                a[1] = xb.mul_add(w1, a[1]);
            }
        }
        for (s, a) in acc.iter().enumerate() {
            store(zs, s * n_out + o * W, a[0]);
            store(zs, s * n_out + (o + 1) * W, a[1]);
        }
        o += 2;
    }
    if o < full {
        let mut acc = [V::ZERO; M];
        for (i, row) in wt.chunks_exact(n_out).enumerate() {
            let Some(w0) = chunk(row, o) else { break };
            for (a, xs) in acc.iter_mut().zip(x) {
                *a = V::splat(xs.get(i).copied().unwrap_or(0.0)).mul_add(w0, *a);
            }
        }
        for (s, a) in acc.iter().enumerate() {
            store(zs, s * n_out + o * W, *a);
        }
    }
    // Outputs past the last full vector: the same chain, one lane at a time.
    for j in full * W..n_out {
        for (s, xs) in x.iter().enumerate() {
            let mut acc = 0.0;
            for (row, xv) in wt.chunks_exact(n_out).zip(xs.iter()) {
                acc += xv * row.get(j).copied().unwrap_or(0.0);
            }
            if let Some(z) = zs.get_mut(s * n_out + j) {
                *z = acc;
            }
        }
    }
}

/// Vector `k` of a row.
#[inline(always)]
fn chunk(row: &[f32], k: usize) -> Option<V> {
    row.as_chunks::<W>().0.get(k).map(|c| V::from(*c))
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
/// of one [`axpy_into`] per sample and row.
#[inline]
pub(crate) fn outer_acc_block(gw: &mut [f32], ds: &[f32], xs: &[f32], n_in: usize, n_out: usize) {
    let (n_in, n_out) = (n_in.max(1), n_out.max(1));
    for (o, row) in gw.chunks_exact_mut(n_in).enumerate() {
        let (chunks, tail) = row.as_chunks_mut::<W>();
        let (groups, rest) = chunks.as_chunks_mut::<4>();
        for (g, acc_mem) in groups.iter_mut().enumerate() {
            let mut acc = acc_mem.map(V::from);
            for (x, d) in xs.chunks_exact(n_in).zip(ds.chunks_exact(n_out)) {
                let (Some(xg), Some(&c)) =
                    (x.as_chunks::<W>().0.as_chunks::<4>().0.get(g), d.get(o))
                else {
                    continue;
                };
                let c = V::splat(c);
                for (a, u) in acc.iter_mut().zip(xg) {
                    *a = c.mul_add(V::from(*u), *a);
                }
            }
            *acc_mem = acc.map(|a| a.to_array());
        }
        let first_rest = groups.len() * 4;
        for (j, acc_mem) in rest.iter_mut().enumerate() {
            let mut acc = V::from(*acc_mem);
            for (x, d) in xs.chunks_exact(n_in).zip(ds.chunks_exact(n_out)) {
                if let (Some(u), Some(&c)) = (x.as_chunks::<W>().0.get(first_rest + j), d.get(o)) {
                    acc = V::splat(c).mul_add(V::from(*u), acc);
                }
            }
            *acc_mem = acc.to_array();
        }
        let first_tail = n_in - tail.len();
        for (x, d) in xs.chunks_exact(n_in).zip(ds.chunks_exact(n_out)) {
            if let (Some(u), Some(&c)) = (x.get(first_tail..), d.get(o)) {
                for (v, u) in tail.iter_mut().zip(u) {
                    *v += c * u;
                }
            }
        }
    }
}

/// `gxs[s] = Wᵀ ds[s]` for every sample: [`rows_axpy`]'s bits per sample.
#[inline]
pub(crate) fn rows_axpy_block(w: &[f32], ds: &[f32], gxs: &mut [f32], n_in: usize, n_out: usize) {
    let (n_in, n_out) = (n_in.max(1), n_out.max(1));
    let mut di = ds.chunks_exact(n_out);
    let mut gi = gxs.chunks_exact_mut(n_in);
    loop {
        match (di.next(), gi.next(), di.next(), gi.next()) {
            (Some(d0), Some(g0), Some(d1), Some(g1)) => rows_axpy_pair(w, [d0, d1], [g0, g1]),
            (Some(d0), Some(g0), _, _) => {
                rows_axpy(w, d0, g0);
                return;
            }
            _ => return,
        }
    }
}

/// Two samples, four chunks of the input gradient per register tile, rows
/// in ascending order from zero.
#[inline(always)]
fn rows_axpy_pair(w: &[f32], d: [&[f32]; 2], g: [&mut [f32]; 2]) {
    let [g0, g1] = g;
    let n = g0.len();
    let (c0, t0) = g0.as_chunks_mut::<W>();
    let (c1, t1) = g1.as_chunks_mut::<W>();
    let (q0, r0) = c0.as_chunks_mut::<4>();
    let (q1, r1) = c1.as_chunks_mut::<4>();
    for (k, (m0, m1)) in q0.iter_mut().zip(q1.iter_mut()).enumerate() {
        let (mut a, mut b) = ([V::ZERO; 4], [V::ZERO; 4]);
        for ((row, &e0), &e1) in w.chunks_exact(n).zip(d[0]).zip(d[1]) {
            let Some(wg) = row.as_chunks::<W>().0.as_chunks::<4>().0.get(k) else {
                continue;
            };
            let (e0, e1) = (V::splat(e0), V::splat(e1));
            for ((p, q), wc) in a.iter_mut().zip(b.iter_mut()).zip(wg) {
                let wv = V::from(*wc);
                *p = e0.mul_add(wv, *p);
                *q = e1.mul_add(wv, *q);
            }
        }
        *m0 = a.map(|v| v.to_array());
        *m1 = b.map(|v| v.to_array());
    }
    let first = q0.len() * 4;
    for (j, (m0, m1)) in r0.iter_mut().zip(r1.iter_mut()).enumerate() {
        let (mut a, mut b) = (V::ZERO, V::ZERO);
        for ((row, &e0), &e1) in w.chunks_exact(n).zip(d[0]).zip(d[1]) {
            if let Some(wc) = row.as_chunks::<W>().0.get(first + j) {
                let wv = V::from(*wc);
                a = V::splat(e0).mul_add(wv, a);
                b = V::splat(e1).mul_add(wv, b);
            }
        }
        *m0 = a.to_array();
        *m1 = b.to_array();
    }
    let first_tail = n - t0.len();
    t0.fill(0.0);
    t1.fill(0.0);
    for ((row, &e0), &e1) in w.chunks_exact(n).zip(d[0]).zip(d[1]) {
        let Some(wt) = row.get(first_tail..) else {
            continue;
        };
        for ((p, q), u) in t0.iter_mut().zip(t1.iter_mut()).zip(wt) {
            *p += e0 * u;
            *q += e1 * u;
        }
    }
}
