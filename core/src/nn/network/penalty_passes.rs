//! The penalty gradients of [`Network`] with a loss, one sample and a
//! mini-batch at a time (`docs/theory.md` §4).

use super::super::loss::Loss;
use super::super::penalty::{LossAndPenalty, NoiseOn};
use super::{Network, nonempty};
use crate::error::{Error, check_len};
use crate::perturbation::Clean;
use crate::train::parameter_ops::{fill_zero, scale_all};

/// The body of [`Network::loss_penalty_grad`].
#[allow(clippy::too_many_arguments)]
pub(super) fn loss_penalty_grad<
    const IN: usize,
    const OUT: usize,
    N: Network<IN, OUT>,
    T: ?Sized,
    L: Loss<T>,
>(
    net: &N,
    loss: &L,
    x: &[f32; IN],
    target: &T,
    eta: &[f32],
    on: NoiseOn,
    cache: &mut N::Workspace,
    grad: &mut N,
) -> Result<LossAndPenalty, Error> {
    N::check_eta(eta)?;
    let (mut y, mut dy) = ([0.0; OUT], [0.0; OUT]);
    net.forward_with(x, &mut Clean, cache, &mut y)?;
    let l = loss.value_grad(&y, target, &mut dy)?;
    let penalty = net.penalty_grad_with(cache, &dy, eta, on, grad)?;
    Ok(LossAndPenalty { loss: l, penalty })
}

/// The body of [`Network::loss_penalty_grad_batch`].
pub(super) fn loss_penalty_grad_batch<
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
) -> Result<LossAndPenalty, Error> {
    check_len(xs.len(), targets.len())?;
    let n = nonempty(xs.len())?;
    N::check_eta(eta)?;
    fill_zero(grad);
    let mut sum = LossAndPenalty::default();
    super::batch::r_op_sum(net, xs, eta, on, grad, &mut sum, |s, y, dy| {
        match targets.get(s) {
            Some(t) => loss.value_grad(y, t, dy),
            None => Err(Error::LengthMismatch {
                left: s,
                right: targets.len(),
            }),
        }
    })?;
    scale_all(grad, 1.0 / n);
    Ok(LossAndPenalty {
        loss: sum.loss / n,
        penalty: sum.penalty / n,
    })
}

/// The body of [`Network::penalty_grad_batch`].
pub(super) fn penalty_grad_batch<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    xs: &[[f32; IN]],
    eta: &[f32],
    on: NoiseOn,
    grad: &mut N,
) -> Result<f32, Error> {
    let n = nonempty(xs.len())?;
    N::check_eta(eta)?;
    fill_zero(grad);
    let mut sum = LossAndPenalty::default();
    super::batch::r_op_sum(net, xs, eta, on, grad, &mut sum, |_, _, dy| {
        dy.fill(0.0);
        Ok(0.0)
    })?;
    scale_all(grad, 1.0 / n);
    Ok(sum.penalty / n)
}
