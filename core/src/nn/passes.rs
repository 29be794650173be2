//! The one-sample passes over any [`LayerStack`], written once: each is a
//! layer visitor calling one [`DenseRef`] function per layer, the stack
//! supplying the order and the buffers. [`Network`](crate::Network)'s
//! methods of the same names are these on a const-generic stack; a network
//! sized at run time implements [`LayerStack`] and calls them directly.
//!
//! The lengths of `x`, `y`, `dy`, `eta`, … are checked here; the walks and
//! the per-layer functions run unchecked on buffers the stack sized.

use super::activation::Activation;
use super::dense::DenseRef;
use super::penalty::NoiseOn;
use super::stack::{
    BackPass, Below, Carry, DownPass, LayerCache, LayerGrad, LayerStack, Seed, UpPass, copy,
};
use crate::error::{Error, check_len};
use crate::kernels::sq_norm;
use crate::perturbation::{Clean, Perturbation};

/// Entry `l` of `eta` (checked by the callers; `0` past the end).
#[inline(always)]
fn eta_at(eta: &[f32], l: usize) -> f32 {
    eta.get(l).copied().unwrap_or(0.0)
}

/// `sum + t`, or `t` for the first term (terms are summed from the output down).
#[inline(always)]
fn add(sum: Option<f32>, t: f32) -> Option<f32> {
    Some(match sum {
        Some(s) => s + t,
        None => t,
    })
}

/// Forward pass through the perturbed layers, input `x` at layer 0.
struct Forward<'a, P> {
    x: &'a [f32],
    p: &'a mut P,
}

impl<P: Perturbation> UpPass for Forward<'_, P> {
    #[inline(always)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        c: LayerCache<'_>,
        below: Option<Below<'_>>,
        row: &mut [f32],
    ) {
        copy(below.map_or(self.x, |b| b.a), c.x);
        layer.forward_unchecked(index, c.x, self.p, row, c.z, c.a);
    }
}

/// R-forward along `v = η ⊙ ∇_θ f_k` (`R{x} = 0` at layer 0).
struct RForward<'a> {
    eta: &'a [f32],
    on: NoiseOn,
}

impl UpPass for RForward<'_> {
    #[inline(always)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        c: LayerCache<'_>,
        below: Option<Below<'_>>,
        _row: &mut [f32],
    ) {
        let rx = below.map(|b| b.ra);
        let e = eta_at(self.eta, index);
        layer.r_forward_unchecked(c.x, c.z, c.a, c.delta, rx, e, self.on, c.rz, c.ra);
    }
}

/// Back-propagation of `∂ℓ/∂y`, adding `∂ℓ/∂θ` into the gradient.
struct Backward<'a, P> {
    p: &'a mut P,
}

impl<P: Perturbation> BackPass for Backward<'_, P> {
    #[inline(always)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        [x, z, a]: [&[f32]; 3],
        grad: LayerGrad<'_>,
        g: &mut [f32],
        gx: Option<&mut [f32]>,
        row: &mut [f32],
    ) {
        layer.backward_unchecked(index, x, z, a, g, self.p, row, grad.w, grad.b, gx);
    }
}

/// The penalty sweep of one seed: stores `g`, `δ` per layer and sums
/// `η_l (‖x_l‖² + b)‖δ_l‖²`.
struct Penalty<'a> {
    eta: &'a [f32],
    on: NoiseOn,
    sum: Option<f32>,
}

impl DownPass for Penalty<'_> {
    #[inline(always)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        c: LayerCache<'_>,
        _below: Option<Below<'_>>,
        _grad: Option<LayerGrad<'_>>,
        above: Carry<'_>,
        beneath: Option<Carry<'_>>,
        _scratch: &mut [f32],
    ) {
        copy(above.v, c.g);
        layer.delta_unchecked(c.z, c.a, c.g, c.delta);
        if let Some(b) = beneath {
            layer.input_grad_unchecked(c.delta, b.v);
        }
        let e = eta_at(self.eta, index);
        self.sum = add(
            self.sum,
            layer.penalty_term_unchecked(c.x, c.delta, e, self.on),
        );
    }
}

/// R-backward with `R{g}` carried down, adding `H_{f_k} v + c·∇_θ f_k`.
struct RBackward<'a> {
    c: f32,
    eta: &'a [f32],
}

impl DownPass for RBackward<'_> {
    #[inline(always)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        k: LayerCache<'_>,
        below: Option<Below<'_>>,
        grad: Option<LayerGrad<'_>>,
        above: Carry<'_>,
        beneath: Option<Carry<'_>>,
        _scratch: &mut [f32],
    ) {
        let Some(grad) = grad else { return };
        let (rx, rgx) = (below.map(|b| b.ra), beneath.map(|b| b.v));
        let e = eta_at(self.eta, index);
        layer.r_backward_unchecked(
            k.x, k.z, k.a, k.g, k.delta, k.rz, rx, above.v, self.c, e, grad.w, grad.b, rgx,
        );
    }
}

/// `g = ∂f_k/∂y` and `∂²f_k/∂y²` carried down, summing
/// `η_l (‖x_l‖² + b)·tr ∂²f_k/∂z_l²`.
struct Trace<'a> {
    eta: &'a [f32],
    on: NoiseOn,
    sum: Option<f32>,
}

impl DownPass for Trace<'_> {
    const MATRIX: bool = true;

    #[inline(always)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        c: LayerCache<'_>,
        _below: Option<Below<'_>>,
        _grad: Option<LayerGrad<'_>>,
        above: Carry<'_>,
        beneath: Option<Carry<'_>>,
        u: &mut [f32],
    ) {
        let (dx, hx) = match beneath {
            Some(b) => (Some(b.v), Some(b.m)),
            None => (None, None),
        };
        let g = &*above.v;
        let tr = layer.hessian_backward_unchecked(c.z, c.a, g, above.m, u, hx);
        if let Some(dx) = dx {
            layer.delta_unchecked(c.z, c.a, g, u);
            layer.input_grad_unchecked(u, dx);
        }
        let e = eta_at(self.eta, index);
        self.sum = add(self.sum, e * ((sq_norm(c.x) + self.on.bias_term()) * tr));
    }
}

/// Forward pass through the perturbed stack, keeping every layer's values in
/// `cache`; `y` receives the output.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `x` or `y` has the wrong width or `cache`
/// does not fit.
#[inline]
pub fn forward_with<S: LayerStack<C>, C, P: Perturbation>(
    net: &S,
    x: &[f32],
    p: &mut P,
    cache: &mut C,
    y: &mut [f32],
) -> Result<(), Error> {
    check_len(y.len(), net.output_width())?;
    forward_into(net, x, p, cache)?;
    copy(net.output_of(cache), y);
    Ok(())
}

/// [`forward_with`] without copying the output.
#[inline(always)]
fn forward_into<S: LayerStack<C>, C, P: Perturbation>(
    net: &S,
    x: &[f32],
    p: &mut P,
    cache: &mut C,
) -> Result<(), Error> {
    check_len(x.len(), net.input_width())?;
    net.walk_up(cache, &mut Forward { x, p })
}

/// Given `dy = ∂ℓ/∂y`, ADDS `∂ℓ/∂θ` at the weights used by the
/// [`forward_with`] that filled `cache` into `grad`, layers from the output
/// down (no input gradient at layer 0).
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `dy` has the wrong width or `cache` or
/// `grad` does not fit.
#[inline]
pub fn backward_with<S: LayerStack<C>, C, P: Perturbation>(
    net: &S,
    cache: &C,
    dy: &[f32],
    p: &mut P,
    grad: &mut S::Grad,
) -> Result<(), Error> {
    check_len(dy.len(), net.output_width())?;
    net.walk_back(cache, grad, Seed::Given(dy), &mut Backward { p })
}

/// The penalty sweep of `seed` on the clean forward pass in `cache`.
#[inline(always)]
fn sweep<S: LayerStack<C>, C>(
    net: &S,
    cache: &mut C,
    seed: Seed<'_>,
    eta: &[f32],
    on: NoiseOn,
) -> Result<f32, Error> {
    let mut pass = Penalty { eta, on, sum: None };
    net.walk_down(cache, None, seed, &mut pass)?;
    Ok(pass.sum.unwrap_or(0.0))
}

/// R-forward and R-backward after a [`sweep`], adding `H v + c·∇_θ (s·f)`.
#[inline(always)]
fn r_sweep<S: LayerStack<C>, C>(
    net: &S,
    cache: &mut C,
    c: f32,
    eta: &[f32],
    on: NoiseOn,
    grad: &mut S::Grad,
) -> Result<(), Error> {
    net.walk_up(cache, &mut RForward { eta, on })?;
    net.walk_down(cache, Some(grad), Seed::Zero, &mut RBackward { c, eta })
}

/// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k(x)‖²` at the clean weights
/// ([`Model::penalty`](crate::Model::penalty)); runs a clean forward
/// pass into `cache`.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `eta.len()` is not the depth, `x` has the
/// wrong width or `cache` does not fit.
#[inline]
pub fn penalty<S: LayerStack<C>, C>(
    net: &S,
    x: &[f32],
    eta: &[f32],
    on: NoiseOn,
    cache: &mut C,
) -> Result<f32, Error> {
    check_len(eta.len(), net.layer_count())?;
    forward_into(net, x, &mut Clean, cache)?;
    let mut total = 0.0;
    for k in 0..net.output_width() {
        total += sweep(net, cache, Seed::Unit(k), eta, on)?;
    }
    Ok(total)
}

/// Adds `∇_θ [dy·f + ½ Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²]` into `grad` and returns
/// the penalty, given a clean forward pass in `cache`
/// ([`Model::penalty_grad_with`](crate::Model::penalty_grad_with));
/// `dy = None` is zeros.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `eta.len()` is not the depth, `dy` has the
/// wrong width or `cache` or `grad` does not fit; `grad` is unchanged then.
#[inline]
pub fn penalty_grad_from_cache<S: LayerStack<C>, C>(
    net: &S,
    cache: &mut C,
    dy: Option<&[f32]>,
    eta: &[f32],
    on: NoiseOn,
    grad: &mut S::Grad,
) -> Result<f32, Error> {
    check_len(eta.len(), net.layer_count())?;
    if let Some(dy) = dy {
        check_len(dy.len(), net.output_width())?;
    }
    let mut total = 0.0;
    for k in 0..net.output_width() {
        let c = dy.and_then(|d| d.get(k)).copied().unwrap_or(0.0);
        total += sweep(net, cache, Seed::Unit(k), eta, on)?;
        r_sweep(net, cache, c, eta, on, grad)?;
    }
    Ok(total)
}

/// The penalty of one seed `s`, `Σ_l η_l ‖∇_{θ_l} (s·f)‖²`, given a clean
/// forward pass in `cache`; with `grad`, also adds `H_{s·f} (η ⊙ ∇_θ (s·f))`
/// ([`Model::seeded_penalty_with`](crate::Model::seeded_penalty_with)).
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `eta.len()` is not the depth, `seed` has
/// the wrong width or `cache` or `grad` does not fit.
#[inline]
pub fn seeded_penalty_from_cache<S: LayerStack<C>, C>(
    net: &S,
    cache: &mut C,
    seed: &[f32],
    eta: &[f32],
    on: NoiseOn,
    grad: Option<&mut S::Grad>,
) -> Result<f32, Error> {
    check_len(eta.len(), net.layer_count())?;
    check_len(seed.len(), net.output_width())?;
    let total = sweep(net, cache, Seed::Given(seed), eta, on)?;
    if let Some(grad) = grad {
        r_sweep(net, cache, 0.0, eta, on, grad)?;
    }
    Ok(total)
}

/// Adds `H_f v`, the gradient of half the penalty, into `grad` and returns
/// the penalty; runs a clean forward pass into `cache`
/// ([`Model::penalty_grad`](crate::Model::penalty_grad)).
///
/// # Errors
///
/// As [`penalty`], and if `grad` does not fit.
#[inline]
pub fn penalty_grad<S: LayerStack<C>, C>(
    net: &S,
    x: &[f32],
    eta: &[f32],
    on: NoiseOn,
    cache: &mut C,
    grad: &mut S::Grad,
) -> Result<f32, Error> {
    check_len(eta.len(), net.layer_count())?;
    forward_into(net, x, &mut Clean, cache)?;
    penalty_grad_from_cache(net, cache, None, eta, on, grad)
}

/// Exact `Σ_l η_l tr ∇²_{θ_l} f_k(x)` for every output `k` into `traces`;
/// runs a clean forward pass into `cache`
/// ([`Model::hessian_trace`](crate::Model::hessian_trace)).
///
/// # Errors
///
/// As [`penalty`], and if `traces` has the wrong width.
#[inline]
pub fn hessian_trace<S: LayerStack<C>, C>(
    net: &S,
    x: &[f32],
    eta: &[f32],
    on: NoiseOn,
    cache: &mut C,
    traces: &mut [f32],
) -> Result<(), Error> {
    check_len(eta.len(), net.layer_count())?;
    check_len(traces.len(), net.output_width())?;
    forward_into(net, x, &mut Clean, cache)?;
    for (k, t) in traces.iter_mut().enumerate() {
        let mut pass = Trace { eta, on, sum: None };
        net.walk_down(cache, None, Seed::Unit(k), &mut pass)?;
        *t = pass.sum.unwrap_or(0.0);
    }
    Ok(())
}
