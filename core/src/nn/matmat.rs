//! The row kernels of `matvec` over a block of samples.
//!
//! A block holds `n` samples sample-major (sample `s`'s vector contiguous).
//! Weights are loaded once per register tile and reused for every sample of
//! the tile; each (sample, output) value still runs through exactly the chain
//! of operations of the one-sample kernel, so a block gives the bits of its
//! samples taken one at a time, whatever the block size.

#[cfg(test)]
use super::matvec::rows_axpy;
use super::matvec::{V, W, axpy_into};

#[cfg(any(
    test,
    not(any(
        target_feature = "sse2",
        target_feature = "neon",
        target_feature = "simd128"
    ))
))]
mod device;
#[cfg(any(
    test,
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
))]
mod tiled;

#[cfg(not(any(
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
)))]
pub(crate) use device::{matmul_block, outer_acc_block, rows_axpy_block};
#[cfg(any(
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
))]
pub(crate) use tiled::{matmul_block, outer_acc_block, rows_axpy_block};

/// `wt = Wᵀ` (`n_in` rows of `n_out`) for [`matmul_block`].
#[inline]
pub(crate) fn transpose_into(w: &[f32], wt: &mut [f32], n_in: usize, n_out: usize) {
    let (n_in, n_out) = (n_in.max(1), n_out.max(1));
    for (o, row) in w.chunks_exact(n_in).enumerate() {
        for (i, v) in row.iter().enumerate() {
            if let Some(t) = wt.get_mut(i * n_out + o) {
                *t = *v;
            }
        }
    }
}

/// `gw_o += Σ_s (ds[s][o]·xs[s] + es[s][o]·us[s])` for every row `o`,
/// samples in order: the bits of one [`axpy2_into`](super::matvec::axpy2_into)
/// per sample and row.
#[inline]
pub(crate) fn outer_acc2_block(
    gw: &mut [f32],
    ds: &[f32],
    xs: &[f32],
    es: &[f32],
    us: &[f32],
    n_in: usize,
    n_out: usize,
) {
    let (n_in, n_out) = (n_in.max(1), n_out.max(1));
    let samples = || {
        xs.chunks_exact(n_in)
            .zip(ds.chunks_exact(n_out))
            .zip(us.chunks_exact(n_in).zip(es.chunks_exact(n_out)))
    };
    for (o, row) in gw.chunks_exact_mut(n_in).enumerate() {
        let (chunks, tail) = row.as_chunks_mut::<W>();
        let (groups, rest) = chunks.as_chunks_mut::<4>();
        for (g, acc_mem) in groups.iter_mut().enumerate() {
            let mut acc = acc_mem.map(V::from);
            for ((x, d), (u, e)) in samples() {
                let (Some(xg), Some(ug), Some(&c), Some(&f)) = (
                    x.as_chunks::<W>().0.as_chunks::<4>().0.get(g),
                    u.as_chunks::<W>().0.as_chunks::<4>().0.get(g),
                    d.get(o),
                    e.get(o),
                ) else {
                    continue;
                };
                let (c, f) = (V::splat(c), V::splat(f));
                for ((a, p), q) in acc.iter_mut().zip(xg).zip(ug) {
                    let t = c.mul_add(V::from(*p), *a);
                    *a = f.mul_add(V::from(*q), t);
                }
            }
            *acc_mem = acc.map(|a| a.to_array());
        }
        let first_rest = groups.len() * 4;
        for (j, acc_mem) in rest.iter_mut().enumerate() {
            let mut acc = V::from(*acc_mem);
            for ((x, d), (u, e)) in samples() {
                if let (Some(p), Some(q), Some(&c), Some(&f)) = (
                    x.as_chunks::<W>().0.get(first_rest + j),
                    u.as_chunks::<W>().0.get(first_rest + j),
                    d.get(o),
                    e.get(o),
                ) {
                    let t = V::splat(c).mul_add(V::from(*p), acc);
                    acc = V::splat(f).mul_add(V::from(*q), t);
                }
            }
            *acc_mem = acc.to_array();
        }
        let first_tail = n_in - tail.len();
        for ((x, d), (u, e)) in samples() {
            if let (Some(p), Some(q), Some(&c), Some(&f)) =
                (x.get(first_tail..), u.get(first_tail..), d.get(o), e.get(o))
            {
                for ((v, p), q) in tail.iter_mut().zip(p).zip(q) {
                    *v = (*v + c * p) + f * q;
                }
            }
        }
    }
}

/// `gb += Σ_s ds[s]`, samples in order (one [`axpy_into`] of 1 per sample).
#[inline]
pub(crate) fn sum_rows_into(gb: &mut [f32], ds: &[f32]) {
    for d in ds.chunks_exact(gb.len().max(1)) {
        axpy_into(1.0, d, gb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> impl Iterator<Item = f32> {
        (0..n as u32).map(move |i| {
            let h = (i.wrapping_add(seed)).wrapping_mul(2_654_435_761) >> 8;
            h as f32 / 8_388_608.0 - 1.0
        })
    }

    /// Every kernel, every block size 0..=17 (past two 8-sample lane groups and
    /// every tile remainder), widths 1..=19: the bits of the one-sample kernels.
    type Kernel = fn(&[f32], &[f32], &mut [f32], usize, usize);
    type Outer = fn(&mut [f32], &[f32], &[f32], usize, usize);

    /// The tiled kernels (SIMD targets) and the device's loops (no SIMD).
    const KERNELS: [(&str, Kernel, Kernel, Outer); 2] = [
        (
            "tiled",
            tiled::matmul_block,
            tiled::rows_axpy_block,
            tiled::outer_acc_block,
        ),
        (
            "device",
            device::matmul_block,
            device::rows_axpy_block,
            device::outer_acc_block,
        ),
    ];

    #[test]
    fn block_kernels_match_their_one_sample_order_bit_for_bit() {
        for (name, matmul_block, rows_axpy_block, outer_acc_block) in KERNELS {
            check_kernels(name, matmul_block, rows_axpy_block, outer_acc_block);
        }
    }

    fn check_kernels(
        name: &str,
        matmul_block: Kernel,
        rows_axpy_block: Kernel,
        outer_acc_block: Outer,
    ) {
        for n_in in 1..=19 {
            for n_out in 1..=19 {
                let w: [f32; 19 * 19] =
                    core::array::from_fn(|i| values(19 * 19, 7).nth(i).unwrap_or(0.0) * 0.7);
                let w = &w[..n_in * n_out];
                for n in 0..=17 {
                    let mut xs = [0.0f32; 17 * 19];
                    let mut ds = [0.0f32; 17 * 19];
                    for (v, u) in xs.iter_mut().zip(values(17 * 19, n as u32)) {
                        *v = u;
                    }
                    for (v, u) in ds.iter_mut().zip(values(17 * 19, 99 + n as u32)) {
                        *v = u;
                    }
                    let (xs, ds) = (&xs[..n * n_in], &ds[..n * n_out]);

                    let mut wt = [0.0f32; 19 * 19];
                    transpose_into(w, &mut wt[..n_in * n_out], n_in, n_out);
                    let mut zb = [0.0f32; 17 * 19];
                    matmul_block(&wt[..n_in * n_out], xs, &mut zb[..n * n_out], n_in, n_out);
                    for (x, z) in xs.chunks_exact(n_in).zip(zb.chunks_exact(n_out)) {
                        for (row, zo) in w.chunks_exact(n_in).zip(z) {
                            // Summed over the inputs in order from zero.
                            let want = row.iter().zip(x).fold(0.0f32, |a, (p, q)| a + p * q);
                            if cfg!(any(target_feature = "fma", target_arch = "aarch64")) {
                                let scale: f32 =
                                    row.iter().zip(x).map(|(p, q)| (p * q).abs()).sum();
                                assert!((want - zo).abs() <= 1e-6 * scale, "{n_in}x{n_out}");
                            } else {
                                assert_eq!(
                                    want.to_bits(),
                                    zo.to_bits(),
                                    "{name} matmul {n_in}x{n_out} n={n}"
                                );
                            }
                        }
                    }

                    let mut gb = [0.0f32; 17 * 19];
                    rows_axpy_block(w, ds, &mut gb[..n * n_in], n_in, n_out);
                    for (d, g) in ds.chunks_exact(n_out).zip(gb.chunks_exact(n_in)) {
                        let mut one = [1.0f32; 19];
                        rows_axpy(w, d, &mut one[..n_in]);
                        assert_eq!(
                            one[..n_in].map_bits(),
                            g.map_bits(),
                            "{name} axpy {n_in}x{n_out} n={n}"
                        );
                    }

                    let mut gw_block = [0.25f32; 19 * 19];
                    let mut gw_one = gw_block;
                    outer_acc_block(&mut gw_block[..n_in * n_out], ds, xs, n_in, n_out);
                    for (x, d) in xs.chunks_exact(n_in).zip(ds.chunks_exact(n_out)) {
                        for (row, &c) in gw_one[..n_in * n_out].chunks_exact_mut(n_in).zip(d) {
                            axpy_into(c, x, row);
                        }
                    }
                    assert_eq!(
                        gw_one.map_bits(),
                        gw_block.map_bits(),
                        "{name} outer {n_in}x{n_out} n={n}"
                    );
                }
            }
        }
    }

    trait Bits {
        fn map_bits(&self) -> [u32; 19 * 19];
    }

    impl Bits for [f32] {
        fn map_bits(&self) -> [u32; 19 * 19] {
            let mut b = [0u32; 19 * 19];
            for (o, v) in b.iter_mut().zip(self) {
                *o = v.to_bits();
            }
            b
        }
    }
}
