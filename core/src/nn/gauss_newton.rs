//! The loss-correct penalty of weight noise (docs/theory.md §11).
//!
//! For any twice-differentiable loss `ℓ(f)`, additive noise `ε ~ N(0, η)`
//! gives, up to `O(η²)`,
//! `E ℓ(θ + ε) = ℓ + (η/2)[tr(J_fᵀ H_ℓ J_f) + Σ_k ∂ℓ/∂f_k · tr ∇²_θ f_k]`
//! with `J_f = ∂f/∂θ` and `H_ℓ = ∂²ℓ/∂f²`. The first term, the
//! Gauss–Newton penalty, is what training on the explicit penalty should
//! use; for ½‖y − f‖² (`H_ℓ = I`) it is the squared-error form
//! `Σ_k ‖∇_θ f_k‖²` of [`Model::penalty`](crate::Model::penalty), for
//! softmax cross-entropy (`H_ℓ = diag(p) − ppᵀ`) it is, per dense layer,
//! `η ‖a‖² (Σ_k p_k ‖δ_k‖² − ‖Σ_k p_k δ_k‖²)` (plus `‖a‖²` → 1 for noisy
//! biases), much smaller than the squared-error form.
//!
//! The loss supplies a factor `H_ℓ = S Sᵀ` ([`Loss::hessian_factor`]); the
//! penalty is `Σ_j Σ_l η_l ‖∇_{θ_l} (s_j·f)‖²`, one backward sweep per column
//! with seed `s_j`, so the network code stays loss-agnostic and no gradient
//! is materialised. Its gradient is the R-operator along each column plus
//! the loss side `Σ_m c_m ∇_θ f_m`, `c = ∂/∂f ½ tr(H_ℓ G)`
//! ([`Loss::hessian_factor_derivative`]), in one more backward sweep.

use super::loss::Loss;
use super::penalty::{LossAndPenalty, NoiseOn};
use crate::error::{Error, check_len};
use crate::noise::{NoiseKind, WeightNoiseConfig};
use crate::perturbation::Clean;
use crate::train::{Buffer, Model};

/// `Ok` when `eta` has one entry per layer of `net`.
fn check_eta<X, Y, N: Model<X, Y>>(net: &N, eta: &[f32]) -> Result<(), Error> {
    check_len(eta.len(), net.depth())
}

/// The Gauss–Newton penalty `tr(J_fᵀ H_ℓ J_f) = Σ_j Σ_l η_l ‖∇_{θ_l} (s_j·f)‖²`
/// of one sample at the clean weights (not halved; the noisy cost is
/// `ℓ + penalty/2` to first order). Runs a clean forward pass into `ws`.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `eta` has not one entry per layer or `x`
/// does not fit; the loss's errors (also for a loss without a Hessian).
///
/// # Examples
///
/// ```
/// use noisereg::{gauss_newton_penalty, Dense, HalfSquaredError, Model, Network, NoiseOn, SoftmaxCrossEntropy};
/// // Linear model with two outputs, x = 1: ∇_W f_k = e_k xᵀ.
/// let net = Dense::<1, 2>::zeroed();
/// let mut ws = net.workspace();
/// let on = NoiseOn::Weights;
/// let se = gauss_newton_penalty(&net, &HalfSquaredError, &[1.0], &[0.0, 0.0][..], &[1.0], on, &mut ws).unwrap();
/// assert_eq!(se, 2.0); // tr I
/// let ce = gauss_newton_penalty(&net, &SoftmaxCrossEntropy, &[1.0], &0, &[1.0], on, &mut ws).unwrap();
/// assert!((ce - 0.5).abs() < 1e-6); // tr(diag(p) − ppᵀ) = 1 − ‖p‖², p = (½, ½)
/// ```
pub fn gauss_newton_penalty<X, Y, N, T, L>(
    net: &N,
    loss: &L,
    x: &X,
    target: &T,
    eta: &[f32],
    on: NoiseOn,
    ws: &mut N::Workspace,
) -> Result<f32, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    T: ?Sized,
    L: Loss<T>,
{
    check_eta(net, eta)?;
    let (mut y, mut seed) = (net.output_buffer(), net.output_buffer());
    net.forward_with(x, &mut Clean, ws, &mut y)?;
    let mut total = 0.0;
    for j in 0..y.as_ref().len() {
        loss.hessian_factor(y.as_ref(), target, j, seed.as_mut())?;
        total += net.seeded_penalty_with(ws, &seed, eta, on, None)?;
    }
    Ok(total)
}

/// Adds `∇_θ [ℓ(f(x), t) + ½ tr(J_fᵀ H_ℓ J_f)]` into `grad` (clean weights)
/// and returns the loss and the Gauss–Newton penalty
/// ([`gauss_newton_penalty`]). The gradient includes the derivative of
/// `H_ℓ` (for softmax, of `p`).
///
/// # Errors
///
/// As [`gauss_newton_penalty`]; `grad` is unchanged then.
///
/// # Examples
///
/// ```
/// use noisereg::{loss_gauss_newton_grad, Dense, Model, Network, NoiseOn, SoftmaxCrossEntropy};
/// let net = Dense::<1, 2>::zeroed();
/// let (mut ws, mut grad) = (net.workspace(), Dense::<1, 2>::zeroed());
/// let v = loss_gauss_newton_grad(&net, &SoftmaxCrossEntropy, &[1.0], &0, &[1.0], NoiseOn::Weights, &mut ws, &mut grad)
///     .unwrap();
/// assert!((v.loss - core::f32::consts::LN_2).abs() < 1e-6 && (v.penalty - 0.5).abs() < 1e-6);
/// // At p = (½, ½) the penalty 1 − ‖p‖² is at its maximum: only the loss pulls.
/// assert!((grad.w[0][0] + 0.5).abs() < 1e-6 && (grad.w[1][0] - 0.5).abs() < 1e-6);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn loss_gauss_newton_grad<X, Y, N, T, L>(
    net: &N,
    loss: &L,
    x: &X,
    target: &T,
    eta: &[f32],
    on: NoiseOn,
    ws: &mut N::Workspace,
    grad: &mut N,
) -> Result<LossAndPenalty, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    T: ?Sized,
    L: Loss<T>,
{
    check_eta(net, eta)?;
    let (mut y, mut dy) = (net.output_buffer(), net.output_buffer());
    net.forward_with(x, &mut Clean, ws, &mut y)?;
    let l = loss.value_grad(y.as_ref(), target, dy.as_mut())?;
    add_gauss_newton_grad(net, loss, y.as_ref(), target, &dy, eta, on, ws, grad)
        .map(|penalty| LossAndPenalty { loss: l, penalty })
}

/// Given a clean forward pass in `ws` with output `y`, adds
/// `∇_θ [dy·f + ½ tr(J_fᵀ H_ℓ(y) J_f)]` into `grad`; returns the penalty.
/// Errors leave `grad` unchanged (the loss is checked before any sweep).
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_gauss_newton_grad<X, Y, N, T, L>(
    net: &N,
    loss: &L,
    y: &[f32],
    target: &T,
    dy: &Y,
    eta: &[f32],
    on: NoiseOn,
    ws: &mut N::Workspace,
    grad: &mut N,
) -> Result<f32, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    T: ?Sized,
    L: Loss<T>,
{
    check_eta(net, eta)?;
    let (mut seed, mut r) = (net.output_buffer(), net.output_buffer());
    check_len(dy.as_ref().len(), y.len())?;
    check_len(seed.as_ref().len(), y.len())?;
    // Checks the loss (and the target) before `grad` is touched.
    loss.hessian_factor_derivative(y, target, r.as_ref(), seed.as_mut())?;
    if loss.identity_hessian() {
        // H = I: the squared-error form, its loss gradient fused into the sweeps.
        return net.penalty_grad_with(ws, dy, eta, on, grad);
    }
    let mut total = 0.0;
    for j in 0..y.len() {
        loss.hessian_factor(y, target, j, seed.as_mut())?;
        let rj = net.seeded_penalty_with(ws, &seed, eta, on, Some(grad))?;
        if let Some(v) = r.as_mut().get_mut(j) {
            *v = rj;
        }
        total += rj;
    }
    // The loss side: Σ_m (∂ℓ/∂f_m + c_m) ∇_θ f_m in one backward sweep.
    loss.hessian_factor_derivative(y, target, r.as_ref(), seed.as_mut())?;
    for (c, d) in seed.as_mut().iter_mut().zip(dy.as_ref()) {
        *c += d;
    }
    net.backward_with(ws, &seed, &mut Clean, grad)?;
    Ok(total)
}

/// Means of the loss and the Gauss–Newton penalty over a mini-batch;
/// `grad` is OVERWRITTEN with the mean gradient of `ℓ + penalty/2`.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `xs` and `targets` differ in length, and as
/// [`gauss_newton_penalty`]; [`Error::InvalidParameter`] for an empty batch.
/// `grad` is unspecified after an error.
///
/// # Examples
///
/// ```
/// use noisereg::{loss_gauss_newton_grad_batch, Dense, Network, NoiseOn, SoftmaxCrossEntropy};
/// let net = Dense::<1, 2>::zeroed();
/// let mut grad = Dense::<1, 2>::zeroed();
/// let v = loss_gauss_newton_grad_batch(&net, &SoftmaxCrossEntropy, &[[1.0], [1.0]], &[0, 1], &[1.0], NoiseOn::Weights, &mut grad)
///     .unwrap();
/// assert!((v.penalty - 0.5).abs() < 1e-6 && grad.w[0][0].abs() < 1e-6);
/// ```
pub fn loss_gauss_newton_grad_batch<X, Y, N, T, L>(
    net: &N,
    loss: &L,
    xs: &[X],
    targets: &[T],
    eta: &[f32],
    on: NoiseOn,
    grad: &mut N,
) -> Result<LossAndPenalty, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    L: Loss<T>,
{
    check_len(xs.len(), targets.len())?;
    let n = super::network::nonempty(xs.len())?;
    check_eta(net, eta)?;
    fill_zero(grad);
    let mut ws = net.workspace();
    let mut sum = LossAndPenalty::default();
    for (x, t) in xs.iter().zip(targets) {
        let v = loss_gauss_newton_grad(net, loss, x, t, eta, on, &mut ws, grad)?;
        sum.loss += v.loss;
        sum.penalty += v.penalty;
    }
    for i in 0..grad.slice_count() {
        crate::kernels::scale(1.0 / n, grad.slice_mut(i));
    }
    Ok(LossAndPenalty {
        loss: sum.loss / n,
        penalty: sum.penalty / n,
    })
}

fn fill_zero<P: crate::Parameters>(p: &mut P) {
    for i in 0..p.slice_count() {
        p.slice_mut(i).fill(0.0);
    }
}

/// The first-order noisy cost of any loss with a Hessian, over a data set
/// (means, in `f64`; docs/theory.md §11).
///
/// # Examples
///
/// ```
/// let e = noisereg::LossCostExpansion { clean: 1.0, squared_error_form: 3.0, gauss_newton: 0.5, curvature: -0.25 };
/// assert_eq!((e.first_order(), e.exact_formula(), e.seed_formula()), (1.25, 1.125, 2.5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossCostExpansion {
    /// `J(θ)`.
    pub clean: f64,
    /// `E Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²`, the squared-error form (the seed's).
    pub squared_error_form: f64,
    /// `E tr(J_fᵀ H_ℓ J_f)` (η-weighted), the Gauss–Newton penalty.
    pub gauss_newton: f64,
    /// `E Σ_k ∂ℓ/∂f_k Σ_l η_l tr ∇²_{θ_l} f_k`, the curvature term.
    pub curvature: f64,
}

impl LossCostExpansion {
    /// The seed's formula `J + ½ E Σ_k ‖∇f_k‖²_η`, right only for ½‖y − f‖².
    pub fn seed_formula(&self) -> f64 {
        self.clean + 0.5 * self.squared_error_form
    }

    /// `J + ½ E tr(J_fᵀ H_ℓ J_f)`: what training on the loss-correct penalty uses.
    pub fn first_order(&self) -> f64 {
        self.clean + 0.5 * self.gauss_newton
    }

    /// The exact first-order cost `J + ½ (gauss_newton + curvature)`.
    pub fn exact_formula(&self) -> f64 {
        self.clean + 0.5 * (self.gauss_newton + self.curvature)
    }
}

/// Evaluates [`LossCostExpansion`] for `loss` and additive (or locally
/// reparameterised) noise of per-layer variance `config.eta(l)` on the
/// parameters `config` selects: the generalisation of
/// [`noisy_cost_expansion`](crate::noisy_cost_expansion) to every loss.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `kind` for multiplicative noise or
/// `data` for no samples; [`Error::LengthMismatch`] if `xs` and `targets`
/// differ in length or the depth does not fit; the loss's errors.
///
/// # Examples
///
/// ```
/// use noisereg::{loss_cost_expansion, Dense, Network, NoiseKind, SoftmaxCrossEntropy, WeightNoiseConfig};
/// // Linear logits: no curvature, the Gauss–Newton term is exact.
/// let net = Dense::<1, 2>::zeroed();
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.1).unwrap();
/// let e = loss_cost_expansion(&net, &SoftmaxCrossEntropy, &[[1.0]], &[0], &cfg).unwrap();
/// assert!((e.gauss_newton - 0.05).abs() < 1e-7 && (e.squared_error_form - 0.2).abs() < 1e-7);
/// assert_eq!(e.curvature, 0.0);
/// ```
pub fn loss_cost_expansion<X, Y, N, T, L>(
    net: &N,
    loss: &L,
    xs: &[X],
    targets: &[T],
    config: &WeightNoiseConfig,
) -> Result<LossCostExpansion, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    L: Loss<T>,
{
    if config.kind() == NoiseKind::Multiplicative {
        return Err(Error::InvalidParameter {
            name: "kind",
            requirement: "additive or local reparameterisation noise",
        });
    }
    config.check_depth(net.depth())?;
    check_len(xs.len(), targets.len())?;
    let n = crate::error::nonempty("data", xs.len())? as f64;
    let eta = config.etas().get(..net.depth()).unwrap_or(config.etas());
    let on = config.noise_on();
    let mut ws = net.workspace();
    let (mut y, mut dy, mut tr) = (
        net.output_buffer(),
        net.output_buffer(),
        net.output_buffer(),
    );
    let (mut j, mut se, mut gn, mut curv) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (x, t) in xs.iter().zip(targets) {
        net.forward_with(x, &mut Clean, &mut ws, &mut y)?;
        j += f64::from(loss.value_grad(y.as_ref(), t, dy.as_mut())?);
        se += f64::from(net.penalty(x, eta, on, &mut ws)?);
        gn += f64::from(gauss_newton_penalty(net, loss, x, t, eta, on, &mut ws)?);
        net.hessian_trace(x, eta, on, &mut ws, &mut tr)?;
        for (&d, &trk) in dy.as_ref().iter().zip(tr.as_ref()) {
            curv += f64::from(d) * f64::from(trk);
        }
    }
    Ok(LossCostExpansion {
        clean: j / n,
        squared_error_form: se / n,
        gauss_newton: gn / n,
        curvature: curv / n,
    })
}
