//! The blocked R-operator pass of the trainer's explicit penalty: the summing
//! form of [`Network::loss_penalty_grad_batch`], the same rows in the same
//! order (its driver is internal to `nn`), so the gradient sums are the same.

use crate::error::{Error, check_len};
use crate::nn::{BLOCK, Loss, Network, NoiseOn};

/// ADDS `Σ_s ∇_θ (ℓ_s + ½ P_s)`, `P_s = Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x_s)‖²`, into
/// `grad` and every loss `ℓ_s` into `total`, at the clean weights.
///
/// The rows of a block are the pairs (sample, output `k`), sample-major,
/// [`BLOCK`] at a time: every gradient contribution is added in the
/// one-sample pass's order, so the bits do not depend on [`BLOCK`] or on how
/// the batch is split into calls, and differ from the one-sample pass
/// ([`Network::loss_penalty_grad`]) only through the forward sums.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `xs` and `targets` differ in length or
/// `eta.len() != DEPTH`, and the loss's errors; `grad` and `total` are
/// unspecified after a loss error.
#[allow(clippy::too_many_arguments)]
pub(super) fn loss_penalty_grad_sum<
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
    grad: &mut N,
    total: &mut f32,
) -> Result<(), Error> {
    check_len(xs.len(), targets.len())?;
    N::check_eta(eta)?;
    let mut blk = N::new_block();
    net.prepare_block(&mut blk);
    let mut rows = [[0.0f32; IN]; BLOCK];
    let mut at = [(0usize, 0usize); BLOCK];
    let (mut acc, mut cs) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
    let mut dy = [0.0f32; OUT];
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
                let t = targets.get(s).ok_or(Error::LengthMismatch {
                    left: s,
                    right: targets.len(),
                })?;
                *total += loss.value_grad(y, t, &mut dy)?;
            }
            for (j, v) in g.iter_mut().enumerate() {
                *v = if j == k { 1.0 } else { 0.0 };
            }
            *c = dy.get(k).copied().unwrap_or(0.0);
        }
        // The penalty sweep leaves the backward vectors the R-passes read.
        let acc = &mut acc[..n];
        acc.fill(0.0);
        net.penalty_block(0, rows, &mut blk, eta, on, acc, None);
        net.r_forward_block(0, rows, &mut blk, eta, on, None);
        N::block_rseed(&mut blk).fill([0.0; OUT]);
        net.r_backward_block(0, rows, &mut blk, &cs[..n], eta, None, grad, None);
    }
}
