//! The batch gradient: one branch per weight-noise estimator, the explicit
//! penalty added per sample.

use super::ModelTrainer;
use super::penalty::{PenaltyForm, PenaltyTerm};
use super::settings::FLIPOUT_SCRATCH;
use crate::error::Error;
use crate::nn::{BLOCK, Loss};
use crate::noise::config::Estimator;
use crate::noise::flipout::{FlipoutPass, add_product};
use crate::noise::input::InputNoise;
use crate::noise::label::LabelNoise;
use crate::perturbation::{Clean, Perturbation};
use crate::train::model::{Buffer, Model};
use crate::train::optimizer::Optimizer;
use crate::train::parameter_ops::{add_into, fill_zero, scale_all};
use crate::train::target::Target;

impl<X: Buffer, Y: Buffer, N: Model<X, Y>, O: Optimizer<N>, const S: usize>
    ModelTrainer<X, Y, N, O, S>
{
    /// Fills `self.grad` with the batch-mean gradient; returns the mean loss.
    pub(super) fn accumulate<'a, T: Target + 'a, L: Loss<T>>(
        &mut self,
        loss: &L,
        samples: impl Iterator<Item = (&'a X, &'a T)> + Clone,
        n: usize,
    ) -> Result<f32, Error>
    where
        X: 'a,
    {
        let Self {
            net,
            grad,
            scratch,
            cache,
            weight_noise,
            penalty,
            input_noise,
            label_noise,
            step,
            ..
        } = self;
        let step = *step;
        if let Some(w) = weight_noise.as_mut() {
            w.set_step(step);
        }
        let noise = weight_noise.as_mut().filter(|w| w.is_active());
        let penalty = penalty
            .as_ref()
            .map(|p| (p, p.schedule().factor(step), PenaltyForm::of(p)));
        let pen = PenaltyTerm::new(penalty);
        fill_zero(grad);
        let mut total = 0.0;
        match noise {
            None if !pen.is_on() => {
                // Clean: the batch pass, `BLOCK` samples at a time.
                block_pass(
                    &*net,
                    loss,
                    samples,
                    input_noise,
                    label_noise,
                    grad,
                    &mut total,
                )?;
            }
            None => {
                for (x, t) in samples {
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += pen.loss_and_add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) if noise.estimator() == Estimator::Flipout => {
                noise.next_draw();
                let mult = noise.needs_gradient_scaling();
                let (biases, seed, draw) = (noise.noisy_biases(), noise.seed(), noise.draw_index());
                let Some((eps, rest)) = scratch.split_first_mut() else {
                    return Err(FLIPOUT_SCRATCH);
                };
                noise.draw_eps(eps);
                let mut g2 = rest.first_mut().filter(|_| mult);
                if let Some(g2) = g2.as_deref_mut() {
                    fill_zero(g2);
                }
                if mult && g2.is_none() {
                    return Err(FLIPOUT_SCRATCH);
                }
                let clean = mult.then_some(&*net);
                let mut pass = FlipoutPass::new(&*eps, clean, g2, biases, seed, draw);
                for (i, (x, t)) in samples.enumerate() {
                    pass.set_sample(i);
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += sample_grad(net, loss, &x, &t, &mut pass, cache, grad)?;
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
                if let Some(g2) = rest.first().filter(|_| mult) {
                    add_product(grad, eps, g2);
                }
            }
            Some(noise) if noise.per_batch() && noise.needs_gradient_scaling() && pen.is_on() => {
                // (1 + ε) scales the noisy gradient only: loss gradients
                // first, scaled, then a second pass adds the penalty with the
                // same noisy inputs (input noise rewound).
                noise.next_draw();
                let rewind = input_noise.draw_index();
                let mut noisy = scratch.first_mut();
                if let Some(noisy) = noisy.as_deref_mut() {
                    noise.perturb_parameters(net, noisy);
                }
                for (x, t) in samples.clone() {
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += match noisy.as_deref_mut() {
                        Some(noisy) => sample_grad(noisy, loss, &x, &t, &mut Clean, cache, grad)?,
                        None => sample_grad(net, loss, &x, &t, noise, cache, grad)?,
                    };
                }
                noise.scale_gradient(grad);
                let after = input_noise.draw_index();
                input_noise.set_draw_index(rewind);
                for (x, t) in samples {
                    let mut x_noisy = x.clone();
                    input_noise.perturb_equal(x.as_ref(), x_noisy.as_mut());
                    pen.add(net, loss, &x_noisy, t, cache, grad)?;
                }
                input_noise.set_draw_index(after);
            }
            Some(noise) if noise.per_batch() => {
                noise.next_draw();
                match scratch.first_mut() {
                    Some(noisy) if !pen.is_on() => {
                        // θ̃ materialised once, then the clean batch pass on it.
                        noise.perturb_parameters(net, noisy);
                        block_pass(
                            &*noisy,
                            loss,
                            samples,
                            input_noise,
                            label_noise,
                            grad,
                            &mut total,
                        )?;
                    }
                    Some(noisy) => {
                        // θ̃ materialised once; the gradient at θ̃ goes to θ.
                        noise.perturb_parameters(net, noisy);
                        for (x, t) in samples {
                            let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                            total += sample_grad(noisy, loss, &x, &t, &mut Clean, cache, grad)?;
                            pen.add(net, loss, &x, &t, cache, grad)?;
                        }
                    }
                    None => {
                        for (x, t) in samples {
                            let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                            total += sample_grad(net, loss, &x, &t, noise, cache, grad)?;
                            pen.add(net, loss, &x, &t, cache, grad)?;
                        }
                    }
                }
                // A no-op for additive noise, so the penalty order is free.
                noise.scale_gradient(grad);
            }
            Some(noise) if noise.needs_gradient_scaling() && n > 1 => {
                let Some(g) = scratch.first_mut() else {
                    return Err(Error::InvalidParameter {
                        name: "batch",
                        requirement: "1 for per-sample multiplicative noise without a scratch network (S = 1)",
                    });
                };
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    fill_zero(g);
                    total += sample_grad(net, loss, &x, &t, noise, cache, g)?;
                    noise.scale_gradient(g);
                    add_into(grad, g);
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) if noise.estimator() == Estimator::LocalReparam && S > 0 => {
                // The sample's Σ OUT_l normals drawn once into the scratch
                // network's biases (the values the passes would regenerate).
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    let Some(mut pass) = scratch.first_mut().and_then(|xi| noise.local_pass(xi))
                    else {
                        return Err(UNREACHABLE);
                    };
                    total += sample_grad(net, loss, &x, &t, &mut pass, cache, grad)?;
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) if noise.perturbs_weights() && !noise.needs_gradient_scaling() && S > 0 => {
                // One draw per weight: W̃ materialised in the scratch network,
                // then a clean pass on it (the same bits as regenerating).
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    let Some(noisy) = scratch.first_mut() else {
                        return Err(UNREACHABLE);
                    };
                    noise.perturb_parameters(net, noisy);
                    total += sample_grad(noisy, loss, &x, &t, &mut Clean, cache, grad)?;
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
            Some(noise) => {
                for (x, t) in samples {
                    noise.next_draw();
                    let (x, t) = noisy_sample(input_noise, label_noise, x, t);
                    total += sample_grad(net, loss, &x, &t, noise, cache, grad)?;
                    // A no-op except for multiplicative noise (batch of 1 here).
                    noise.scale_gradient(grad);
                    pen.add(net, loss, &x, &t, cache, grad)?;
                }
            }
        }
        let inv = 1.0 / n as f32;
        scale_all(grad, inv);
        Ok(total * inv)
    }
}

/// A trainer branch taken without what its guard checked (not reached).
const UNREACHABLE: Error = Error::InvalidParameter {
    name: "estimator",
    requirement: "a scratch network and a matching noise kind",
};

/// A push into a block just emptied (not reached: `BLOCK >= 1`).
const BLOCK_FULL: Error = Error::InvalidParameter {
    name: "batch",
    requirement: "room in the block just emptied",
};

/// The clean batch pass over `samples` (input and label noise applied),
/// `BLOCK` samples at a time: ADDS the summed gradient into `grad` and the
/// losses into `total`.
#[inline(always)]
fn block_pass<'a, X: Buffer + 'a, Y: Buffer, N: Model<X, Y>, T: Target + 'a, L: Loss<T>>(
    net: &N,
    loss: &L,
    samples: impl Iterator<Item = (&'a X, &'a T)>,
    input_noise: &mut InputNoise,
    label_noise: &mut LabelNoise,
    grad: &mut N,
    total: &mut f32,
) -> Result<(), Error> {
    let mut xb: heapless::Vec<X, BLOCK> = heapless::Vec::new();
    let mut tb: heapless::Vec<T, BLOCK> = heapless::Vec::new();
    for (x, t) in samples {
        let (x, t) = noisy_sample(input_noise, label_noise, x, t);
        if xb.is_full() {
            net.loss_grad_sum(loss, &xb, &tb, grad, total)?;
            xb.clear();
            tb.clear();
        }
        xb.push(x).map_err(|_| BLOCK_FULL)?;
        tb.push(t).map_err(|_| BLOCK_FULL)?;
    }
    net.loss_grad_sum(loss, &xb, &tb, grad, total)
}

/// One sample with input and label noise applied.
#[inline]
fn noisy_sample<X: Buffer, T: Target>(
    input_noise: &mut InputNoise,
    label_noise: &mut LabelNoise,
    x: &X,
    t: &T,
) -> (X, T) {
    let mut x_noisy = x.clone();
    input_noise.perturb_equal(x.as_ref(), x_noisy.as_mut());
    (x_noisy, t.with_label_noise(label_noise))
}

/// Forward, loss and backward of one sample; adds the gradient into `grad`.
#[inline(always)]
pub(super) fn sample_grad<X, Y, N, T, L, P>(
    net: &N,
    loss: &L,
    x: &X,
    t: &T,
    p: &mut P,
    cache: &mut N::Workspace,
    grad: &mut N,
) -> Result<f32, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    L: Loss<T>,
    P: Perturbation,
{
    let (mut y, mut dy) = (net.output_buffer(), net.output_buffer());
    net.forward_with(x, p, cache, &mut y)?;
    let l = loss.value_grad(y.as_ref(), t, dy.as_mut())?;
    net.backward_with(cache, &dy, p, grad)?;
    Ok(l)
}
