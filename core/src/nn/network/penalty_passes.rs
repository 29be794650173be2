//! The one-sample penalty passes of [`Network`]: the penalty, its gradient
//! by the R-operator and the exact Hessian trace, one output `k` at a time
//! (`docs/theory.md` §4).

use super::super::loss::Loss;
use super::super::penalty::{LossAndPenalty, NoiseOn};
use super::{Network, nonempty, unit};
use crate::error::{Error, check_len};
use crate::perturbation::Clean;

/// The body of [`Network::penalty`].
pub(super) fn penalty<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    x: &[f32; IN],
    eta: &[f32],
    on: NoiseOn,
    cache: &mut N::Cache,
) -> Result<f32, Error> {
    N::check_eta(eta)?;
    let mut y = [0.0; OUT];
    net.forward_from(0, x, &mut Clean, cache, &mut y);
    let mut seed = [0.0; OUT];
    let mut total = 0.0;
    for k in 0..OUT {
        unit(&mut seed, k);
        total += net.penalty_from(0, cache, &seed, eta, on, None);
    }
    Ok(total)
}

/// The body of [`Network::penalty_grad_from_cache`].
pub(super) fn penalty_grad_from_cache<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    cache: &mut N::Cache,
    dy: &[f32; OUT],
    eta: &[f32],
    on: NoiseOn,
    grad: &mut N,
) -> Result<f32, Error> {
    N::check_eta(eta)?;
    let mut seed = [0.0; OUT];
    let (mut ry, zero) = ([0.0; OUT], [0.0; OUT]);
    let mut total = 0.0;
    for (k, c) in dy.iter().enumerate() {
        unit(&mut seed, k);
        total += net.penalty_from(0, cache, &seed, eta, on, None);
        net.r_forward_from(0, cache, eta, on, None, &mut ry);
        net.r_backward_from(0, cache, *c, eta, &zero, None, grad, None);
    }
    Ok(total)
}

/// The body of [`Network::seeded_penalty_from_cache`].
pub(super) fn seeded_penalty_from_cache<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    cache: &mut N::Cache,
    seed: &[f32; OUT],
    eta: &[f32],
    on: NoiseOn,
    grad: Option<&mut N>,
) -> Result<f32, Error> {
    N::check_eta(eta)?;
    let total = net.penalty_from(0, cache, seed, eta, on, None);
    if let Some(grad) = grad {
        let (mut ry, zero) = ([0.0; OUT], [0.0; OUT]);
        net.r_forward_from(0, cache, eta, on, None, &mut ry);
        net.r_backward_from(0, cache, 0.0, eta, &zero, None, grad, None);
    }
    Ok(total)
}

/// The body of [`Network::penalty_grad`].
pub(super) fn penalty_grad<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    x: &[f32; IN],
    eta: &[f32],
    on: NoiseOn,
    cache: &mut N::Cache,
    grad: &mut N,
) -> Result<f32, Error> {
    N::check_eta(eta)?;
    let mut y = [0.0; OUT];
    net.forward_from(0, x, &mut Clean, cache, &mut y);
    net.penalty_grad_from_cache(cache, &[0.0; OUT], eta, on, grad)
}

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
    cache: &mut N::Cache,
    grad: &mut N,
) -> Result<LossAndPenalty, Error> {
    N::check_eta(eta)?;
    let (mut y, mut dy) = ([0.0; OUT], [0.0; OUT]);
    net.forward_from(0, x, &mut Clean, cache, &mut y);
    let l = loss.value_grad(&y, target, &mut dy)?;
    let penalty = net.penalty_grad_from_cache(cache, &dy, eta, on, grad)?;
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
    grad.fill_zero();
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
    grad.scale_all(1.0 / n);
    Ok(LossAndPenalty {
        loss: sum.loss / n,
        penalty: sum.penalty / n,
    })
}

/// The body of [`Network::hessian_trace`].
pub(super) fn hessian_trace<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    x: &[f32; IN],
    eta: &[f32],
    on: NoiseOn,
    cache: &mut N::Cache,
    traces: &mut [f32; OUT],
) -> Result<(), Error> {
    N::check_eta(eta)?;
    let mut y = [0.0; OUT];
    net.forward_from(0, x, &mut Clean, cache, &mut y);
    let mut seed = [0.0; OUT];
    for (k, t) in traces.iter_mut().enumerate() {
        unit(&mut seed, k);
        let mut hess = [[0.0; OUT]; OUT];
        *t = net.trace_from(0, cache, &seed, &mut hess, eta, on, None);
    }
    Ok(())
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
    grad.fill_zero();
    let mut sum = LossAndPenalty::default();
    super::batch::r_op_sum(net, xs, eta, on, grad, &mut sum, |_, _, dy| {
        dy.fill(0.0);
        Ok(0.0)
    })?;
    grad.scale_all(1.0 / n);
    Ok(sum.penalty / n)
}
