//! The explicit penalty: its form and its per-sample gradient.

use super::accumulate::sample_grad;
use crate::error::Error;
use crate::nn::{Loss, NoiseOn, add_gauss_newton_grad};
use crate::noise::config::{MAX_LAYERS, Redraw, WeightNoiseConfig};
use crate::perturbation::Clean;
use crate::train::model::{Buffer, Model};

/// Which explicit penalty a trainer adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PenaltyForm {
    /// `½ tr(J_fᵀ H_ℓ J_f)` of the step's loss.
    LossCorrect,
    /// `½ Σ_k ‖∇_θ f_k‖²_η` whatever the loss.
    SquaredError,
}

impl PenaltyForm {
    /// The redraw policy that stands for this form in a stored penalty config.
    pub(super) const fn marker(self) -> Redraw {
        match self {
            PenaltyForm::LossCorrect => Redraw::PerSample,
            PenaltyForm::SquaredError => Redraw::PerBatch,
        }
    }

    pub(super) fn of(config: &WeightNoiseConfig) -> Self {
        match config.redraw() {
            Redraw::PerSample => PenaltyForm::LossCorrect,
            Redraw::PerBatch => PenaltyForm::SquaredError,
        }
    }
}

/// The explicit penalty's per-sample gradient, if configured.
pub(super) struct PenaltyTerm {
    /// Effective per-layer η (schedule applied), `None` when off.
    eta: Option<([f32; MAX_LAYERS], NoiseOn)>,
    form: PenaltyForm,
}

impl PenaltyTerm {
    pub(super) fn new(config: Option<(&WeightNoiseConfig, f32, PenaltyForm)>) -> Self {
        let form = config.map_or(PenaltyForm::LossCorrect, |c| c.2);
        let eta = config.map(|(c, f, _)| {
            let mut eta = *c.etas();
            for e in eta.iter_mut() {
                *e *= f;
            }
            (eta, c.noise_on())
        });
        // All η zero: plain training, bit for bit.
        let eta = eta.filter(|(e, _)| e.iter().any(|&v| v > 0.0));
        Self { eta, form }
    }

    /// Whether a penalty is added.
    pub(super) fn is_on(&self) -> bool {
        self.eta.is_some()
    }

    /// Adds the gradient of the loss-correct penalty `½ tr(J_fᵀ H_ℓ J_f)`
    /// (docs/theory.md §11; `½ Σ_l η_l ‖∇_{θ_l} f(x)‖²` for ½ squared error)
    /// at the clean `net` into `grad`.
    #[inline]
    pub(super) fn add<X, Y: Buffer, N: Model<X, Y>, T, L: Loss<T>>(
        &self,
        net: &N,
        loss: &L,
        x: &X,
        t: &T,
        cache: &mut N::Workspace,
        grad: &mut N,
    ) -> Result<(), Error> {
        if let Some((eta, on)) = &self.eta {
            let eta = eta.get(..net.depth()).unwrap_or(eta);
            if self.form == PenaltyForm::SquaredError {
                net.penalty_grad(x, eta, *on, cache, grad)?;
                return Ok(());
            }
            let (mut y, dy) = (net.output_buffer(), net.output_buffer());
            net.forward_with(x, &mut Clean, cache, &mut y)?;
            add_gauss_newton_grad(net, loss, y.as_ref(), t, &dy, eta, *on, cache, grad)?;
        }
        Ok(())
    }

    /// Loss gradient and penalty gradient of one clean sample, fused: one
    /// forward pass, then the R-operator sweeps carry the loss gradient too.
    #[inline]
    pub(super) fn loss_and_add<X, Y: Buffer, N: Model<X, Y>, T, L: Loss<T>>(
        &self,
        net: &N,
        loss: &L,
        x: &X,
        t: &T,
        cache: &mut N::Workspace,
        grad: &mut N,
    ) -> Result<f32, Error> {
        let Some((eta, on)) = &self.eta else {
            return sample_grad(net, loss, x, t, &mut Clean, cache, grad);
        };
        let eta = eta.get(..net.depth()).unwrap_or(eta);
        let (mut y, mut dy) = (net.output_buffer(), net.output_buffer());
        net.forward_with(x, &mut Clean, cache, &mut y)?;
        let l = loss.value_grad(y.as_ref(), t, dy.as_mut())?;
        match self.form {
            PenaltyForm::SquaredError => {
                net.penalty_grad_with(cache, &dy, eta, *on, grad)?;
            }
            PenaltyForm::LossCorrect => {
                add_gauss_newton_grad(net, loss, y.as_ref(), t, &dy, eta, *on, cache, grad)?;
            }
        }
        Ok(l)
    }
}
