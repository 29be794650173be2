//! The batch passes of [`Network`]: mini-batch loss gradients, forward and
//! penalty passes [`BLOCK`] samples at a time through the per-layer block
//! buffers.

use super::super::block::BLOCK;
use super::super::loss::Loss;
use super::super::penalty::{LossAndPenalty, NoiseOn};
use super::sealed::TOKEN;
use super::{Network, nonempty, unit};
use crate::error::{Error, check_len};
use crate::perturbation::Perturbation;
use crate::train::parameter_ops::{fill_zero, scale_all};

/// The body of [`Network::loss_grad_batch`].
pub(super) fn loss_grad_batch<
    const IN: usize,
    const OUT: usize,
    N: Network<IN, OUT>,
    T,
    L: Loss<T>,
    P: Perturbation,
>(
    net: &N,
    loss: &L,
    xs: &[[f32; IN]],
    targets: &[T],
    p: &mut P,
    grad: &mut N,
) -> Result<f32, Error> {
    check_len(xs.len(), targets.len())?;
    let n = nonempty(xs.len())?;
    fill_zero(grad);
    let mut total = 0.0;
    if p.is_clean() {
        net.loss_grad_sum(loss, xs, targets, grad, &mut total)?;
    } else {
        let mut ws = net.workspace();
        let (mut y, mut dy) = ([0.0; OUT], [0.0; OUT]);
        for (x, t) in xs.iter().zip(targets) {
            net.forward_with(x, p, &mut ws, &mut y)?;
            total += loss.value_grad(&y, t, &mut dy)?;
            net.backward_with(&mut ws, &dy, p, grad)?;
        }
    }
    scale_all(grad, 1.0 / n);
    Ok(total / n)
}

/// The body of [`Model::forward_batch`].
pub(super) fn forward_batch<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    xs: &[[f32; IN]],
    ys: &mut [[f32; OUT]],
) -> Result<(), Error> {
    check_len(ys.len(), xs.len())?;
    let mut blk = N::new_block(TOKEN);
    net.prepare_block(&mut blk);
    for (xb, yb) in xs.chunks(BLOCK).zip(ys.chunks_mut(BLOCK)) {
        net.forward_block(xb, &mut blk);
        for (y, o) in yb.iter_mut().zip(N::block_output(&blk)) {
            *y = *o;
        }
    }
    Ok(())
}

/// The body of [`Model::loss_grad_sum`].
pub(super) fn loss_grad_sum<
    const IN: usize,
    const OUT: usize,
    N: Network<IN, OUT>,
    T,
    L: Loss<T>,
>(
    net: &N,
    loss: &L,
    xs: &[[f32; IN]],
    targets: &[T],
    grad: &mut N,
    total: &mut f32,
) -> Result<(), Error> {
    check_len(xs.len(), targets.len())?;
    let mut blk = N::new_block(TOKEN);
    net.prepare_block(&mut blk);
    for (xb, tb) in xs.chunks(BLOCK).zip(targets.chunks(BLOCK)) {
        net.forward_block(xb, &mut blk);
        let ys = *N::block_output(&blk);
        let seeds = N::block_seed(&mut blk);
        for ((y, t), dy) in ys.iter().zip(tb).zip(seeds.iter_mut()) {
            *total += loss.value_grad(y, t, dy)?;
        }
        net.backward_block(xb, &mut blk, grad, None);
    }
    Ok(())
}

/// The body of [`Network::penalty_batch`].
pub(super) fn penalty_batch<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    xs: &[[f32; IN]],
    eta: &[f32],
    on: NoiseOn,
    out: &mut [f32],
) -> Result<(), Error> {
    check_len(out.len(), xs.len())?;
    N::check_eta(eta)?;
    let mut blk = N::new_block(TOKEN);
    net.prepare_block(&mut blk);
    let mut acc = [0.0; BLOCK];
    for (xb, ob) in xs.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        net.forward_block(xb, &mut blk);
        ob.fill(0.0);
        for k in 0..OUT {
            for seed in N::block_seed(&mut blk).iter_mut() {
                unit(seed, k);
            }
            acc.fill(0.0);
            let acc = &mut acc[..xb.len()];
            net.penalty_block(0, xb, &mut blk, eta, on, acc, None);
            for (o, a) in ob.iter_mut().zip(acc.iter()) {
                *o += *a;
            }
        }
    }
    Ok(())
}

/// The body of [`Network::gauss_newton_penalty_batch`].
pub(super) fn gauss_newton_penalty_batch<
    const IN: usize,
    const OUT: usize,
    N: Network<IN, OUT>,
    T,
    L: Loss<T>,
>(
    net: &N,
    loss: &L,
    xs: &[[f32; IN]],
    targets: &[T],
    eta: &[f32],
    on: NoiseOn,
    out: &mut [f32],
) -> Result<(), Error> {
    check_len(out.len(), xs.len())?;
    check_len(targets.len(), xs.len())?;
    N::check_eta(eta)?;
    let mut blk = N::new_block(TOKEN);
    net.prepare_block(&mut blk);
    let mut acc = [0.0; BLOCK];
    let chunks = xs.chunks(BLOCK).zip(targets.chunks(BLOCK));
    for ((xb, tb), ob) in chunks.zip(out.chunks_mut(BLOCK)) {
        net.forward_block(xb, &mut blk);
        let ys = *N::block_output(&blk);
        ob.fill(0.0);
        for j in 0..OUT {
            let seeds = N::block_seed(&mut blk);
            for ((seed, y), t) in seeds.iter_mut().zip(&ys).zip(tb) {
                loss.hessian_factor(y, t, j, seed)?;
            }
            acc.fill(0.0);
            let acc = &mut acc[..xb.len()];
            net.penalty_block(0, xb, &mut blk, eta, on, acc, None);
            for (o, a) in ob.iter_mut().zip(acc.iter()) {
                *o += *a;
            }
        }
    }
    Ok(())
}

/// The blocked R-operator pass behind [`Network::loss_penalty_grad_batch`] and
/// [`Network::penalty_grad_batch`]: adds, for every sample `s` in order,
/// `Σ_k H_{f_k} v + (∂ℓ/∂y_k)·∇_θ f_k` into `grad` and its loss (`seed`
/// returns it and writes `∂ℓ/∂y`) and penalty into `sum`.
///
/// The rows of a block are the pairs (sample, output `k`), sample-major, so
/// every gradient contribution is added in the one-sample pass's order and the
/// bits do not depend on [`BLOCK`] or on where the batch is split. They differ
/// from the one-sample pass only through the forward sums (`W x`, `W R{x}`,
/// see [`DenseRef::forward_block`](crate::DenseRef::forward_block)).
pub(super) fn r_op_sum<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    xs: &[[f32; IN]],
    eta: &[f32],
    on: NoiseOn,
    grad: &mut N,
    sum: &mut LossAndPenalty,
    mut seed: impl FnMut(usize, &[f32; OUT], &mut [f32; OUT]) -> Result<f32, Error>,
) -> Result<(), Error> {
    N::check_eta(eta)?;
    let mut blk = N::new_block(TOKEN);
    net.prepare_block(&mut blk);
    let mut rows = [[0.0f32; IN]; BLOCK];
    let mut at = [(0usize, 0usize); BLOCK];
    let (mut acc, mut cs) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
    let (mut dy, mut pen) = ([0.0f32; OUT], 0.0f32);
    let mut pairs = xs
        .iter()
        .enumerate()
        .flat_map(|(s, x)| (0..OUT).map(move |k| (s, k, x)));
    loop {
        let mut n = 0;
        for ((row, a), (s, k, x)) in rows.iter_mut().zip(at.iter_mut()).zip(pairs.by_ref()) {
            *row = *x;
            *a = (s, k);
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        let rows = &rows[..n];
        net.forward_block(rows, &mut blk);
        let ys = *N::block_output(&blk);
        let seeds = N::block_seed(&mut blk);
        for (((g, c), y), &(s, k)) in seeds.iter_mut().zip(cs.iter_mut()).zip(&ys).zip(&at[..n]) {
            if k == 0 {
                sum.loss += seed(s, y, &mut dy)?;
            }
            unit(g, k);
            *c = dy.get(k).copied().unwrap_or(0.0);
        }
        let acc = &mut acc[..n];
        acc.fill(0.0);
        net.penalty_block(0, rows, &mut blk, eta, on, acc, None);
        net.r_forward_block(0, rows, &mut blk, eta, on, None);
        N::block_rseed(&mut blk).fill([0.0; OUT]);
        net.r_backward_block(0, rows, &mut blk, &cs[..n], eta, None, grad, None);
        for (a, &(_, k)) in acc.iter().zip(&at[..n]) {
            pen += *a;
            if k + 1 == OUT {
                sum.penalty += pen;
                pen = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parameters::Parameters;
    use crate::{Dense, Identity, Tanh};

    type Net = (
        Dense<3, 5, Tanh>,
        (Dense<5, 4, Tanh>, Dense<4, 3, Identity>),
    );

    fn values(seed: u32) -> impl Iterator<Item = f32> {
        let mut s = seed;
        core::iter::from_fn(move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            Some((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        })
    }

    fn bits(net: &Net) -> [u32; 3 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3] {
        let mut out = [0; 3 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3];
        let all = (0..net.slice_count()).flat_map(|i| net.slice(i).iter());
        for (o, v) in out.iter_mut().zip(all) {
            *o = v.to_bits();
        }
        out
    }

    /// Where the batch is split (and so where the blocks start) does not
    /// change a bit of the R-operator's sums; OUT = 3 puts some samples' rows
    /// in two blocks.
    #[test]
    fn r_op_sum_does_not_depend_on_the_block_split() {
        let mut net = Net::zeroed();
        let mut v = values(7);
        for i in 0..net.slice_count() {
            for (p, x) in net.slice_mut(i).iter_mut().zip(v.by_ref()) {
                *p = 1.5 * x;
            }
        }
        let mut xs = [[0.0f32; 3]; 2 * BLOCK + 3];
        for (x, u) in xs.as_flattened_mut().iter_mut().zip(v.by_ref()) {
            *x = 2.0 * u;
        }
        let (eta, on) = ([0.01, 0.02, 0.03], NoiseOn::WeightsAndBiases);
        let seed = |s: usize, y: &[f32; 3], dy: &mut [f32; 3]| {
            for (k, (d, yo)) in dy.iter_mut().zip(y).enumerate() {
                *d = yo - 0.1 * (s + k) as f32;
            }
            Ok(0.5 * dy.iter().map(|d| d * d).sum::<f32>())
        };
        let run = |parts: &[&[[f32; 3]]]| {
            let (mut grad, mut sum) = (Net::zeroed(), LossAndPenalty::default());
            let mut first = 0;
            for part in parts {
                let shifted = |s: usize, y: &[f32; 3], dy: &mut [f32; 3]| seed(first + s, y, dy);
                r_op_sum(&net, part, &eta, on, &mut grad, &mut sum, shifted).unwrap();
                first += part.len();
            }
            (bits(&grad), sum.loss.to_bits(), sum.penalty.to_bits())
        };
        let whole = run(&[&xs]);
        assert_ne!(whole.0, bits(&Net::zeroed()));
        for m in [1, 5, BLOCK - 1, BLOCK + 2, xs.len() - 1] {
            let m = m.min(xs.len());
            assert_eq!(run(&[&xs[..m], &xs[m..]]), whole, "split at {m}");
        }
    }
}
