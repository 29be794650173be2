//! The predicted loss increase under small independent zero-mean parameter
//! noise with known per-parameter variances `σ_i²` (docs/theory.md §9):
//! `J̃ − J ≈ ½ E Σ_k Σ_i σ_i² [(∂f_k/∂θ_i)² − (y_k − f_k) ∂²f_k/∂θ_i²]`
//! (the exact second-order formula) and its first term alone, the seed's
//! `(η/2) E‖∇f‖²` generalised to one `η` per parameter.
//!
//! For a dense layer `z = W x + b` the weight `W_oi` has
//! `∂f/∂W_oi = δ_o x_i` and `∂²f/∂W_oi² = x_i² ∂²f/∂z_o²`, so a layer adds
//! `Σ_o δ_o² v_o` and `Σ_o [∂²f/∂z²]_oo v_o` with `v_o = Σ_i σ²_oi x_i² + σ²_{b,o}`:
//! per-row `η_o = Δ_o²/12` (subtractive dither) is the case `σ²_oi = η_o`.

use super::quantize::{QuantConfig, layer_count, layer_shape};
use crate::error::{Error, check_len};
use crate::nn::{Activation, DenseRef};
use crate::parameters::Parameters;
use crate::perturbation::Clean;

/// A predicted mean loss increase over a data set (half squared error).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictedIncrease {
    /// `½ E Σ_k Σ_i σ_i² (∂f_k/∂θ_i)²`: the seed's formula, per parameter.
    pub seed: f64,
    /// The exact second-order formula, with the curvature–residual term.
    pub exact: f64,
}

/// Widths `x, a_0, …` of a dense layout: `(layers, sum of widths, max width)`.
fn widths<P: Parameters + ?Sized>(p: &P) -> Result<(usize, usize, usize), Error> {
    let layers = layer_count(p);
    if layers == 0 {
        return Err(Error::InvalidParameter {
            name: "network layout",
            requirement: "at least one dense layer",
        });
    }
    let (mut sum, mut max) = (layer_shape(p, 0)?, layer_shape(p, 0)?);
    for l in 0..layers {
        let n_in = layer_shape(p, l)?;
        if l > 0 && n_in != p.slice(2 * l - 1).len() {
            return Err(Error::InvalidParameter {
                name: "network layout",
                requirement: "each layer's inputs the outputs of the layer before",
            });
        }
        let n_out = p.slice(2 * l + 1).len();
        sum = sum.saturating_add(n_out);
        max = max.max(n_out);
    }
    Ok((layers, sum, max))
}

/// The scratch length [`predicted_increase`] needs for `params`: the
/// activations of every layer plus a few vectors and two matrices of the
/// largest width (0 for an invalid layout).
///
/// # Examples
///
/// ```
/// use noisereg::{prediction_scratch_len, Mlp1, Network, Tanh};
/// let net = Mlp1::<2, 4, 1, Tanh>::zeroed();
/// assert_eq!(prediction_scratch_len(&net), (2 + 4 + 1) * 2 + 4 * 5 + 2 * 16);
/// ```
pub fn prediction_scratch_len<P: Parameters + ?Sized>(params: &P) -> usize {
    match widths(params) {
        Ok((_, sum, max)) => sum
            .saturating_mul(2)
            .saturating_add(max.saturating_mul(5))
            .saturating_add(max.saturating_mul(max).saturating_mul(2)),
        Err(_) => 0,
    }
}

/// Writes the dithered quantiser's error variance `Δ²/12` of every weight
/// (its row's or layer's `Δ`, [`QuantConfig`]) into `variance` (same
/// layout; bias slots 0). The rounding of `cfg` is ignored.
///
/// # Errors
///
/// As [`quantization_steps`](crate::quantization_steps).
///
/// # Examples
///
/// ```
/// use noisereg::{dither_variance, Dense, Granularity, Network, QuantConfig, Rounding};
/// let mut layer = Dense::<2, 1>::zeroed();
/// layer.w = [[3.0, 1.0]];
/// let mut var = layer;
/// let q = QuantConfig::new(3, Rounding::SubtractiveDither, Granularity::PerRow).unwrap();
/// dither_variance(&layer, &q, &mut var).unwrap(); // Δ = 3/3 = 1
/// assert_eq!(var.w, [[1.0 / 12.0; 2]]);
/// ```
pub fn dither_variance<P: Parameters + ?Sized, V: Parameters + ?Sized>(
    params: &P,
    cfg: &QuantConfig,
    variance: &mut V,
) -> Result<(), Error> {
    super::quantize::quantization_steps(params, cfg, variance)?;
    for l in 0..layer_count(params) {
        for v in variance.slice_mut(2 * l) {
            *v = *v * *v / 12.0;
        }
    }
    Ok(())
}

/// Writes stochastic rounding's error variance `Δ² p (1 − p)` of every
/// weight (`p` its fractional position on the grid) into `variance`.
///
/// # Errors
///
/// As [`quantization_steps`](crate::quantization_steps).
///
/// # Examples
///
/// ```
/// use noisereg::{stochastic_rounding_variance, Dense, Granularity, Network, QuantConfig, Rounding};
/// let mut layer = Dense::<2, 1>::zeroed();
/// layer.w = [[3.0, 1.5]];
/// let mut var = layer;
/// let q = QuantConfig::new(3, Rounding::Stochastic, Granularity::PerRow).unwrap();
/// stochastic_rounding_variance(&layer, &q, &mut var).unwrap();
/// assert_eq!(var.w, [[0.0, 0.25]]); // 1.5 sits half-way between 1 and 2
/// ```
pub fn stochastic_rounding_variance<P: Parameters + ?Sized, V: Parameters + ?Sized>(
    params: &P,
    cfg: &QuantConfig,
    variance: &mut V,
) -> Result<(), Error> {
    super::quantize::quantization_steps(params, cfg, variance)?;
    for l in 0..layer_count(params) {
        let w = params.slice(2 * l);
        for (v, &x) in variance.slice_mut(2 * l).iter_mut().zip(w) {
            let step = *v;
            if step == 0.0 {
                continue;
            }
            let pos = x / step;
            let p = pos - libm::floorf(pos);
            *v = step * step * p * (1.0 - p);
        }
    }
    Ok(())
}

/// The predicted mean increase of the half squared error `½‖y − f‖²` over
/// the data when every parameter `θ_i` gets independent zero-mean noise of
/// variance `σ_i²` (slice for slice in `variance`). `acts[l]` is layer `l`'s
/// activation; `xs` holds the inputs row after row, `ys` the targets;
/// `scratch` needs [`prediction_scratch_len`] elements. Sums in `f64`.
///
/// # Errors
///
/// [`Error::LengthMismatch`] for data, variance, activations or scratch of
/// the wrong size; [`Error::InvalidParameter`] naming `network layout` for
/// a layout that is not a chain of dense layers, or naming `data` for no rows.
///
/// # Examples
///
/// ```
/// use noisereg::{predicted_increase, prediction_scratch_len, Dense, Identity, Network};
/// // f = w x: ½E(w+ε)²x² − ½w²x² = ½σ²x² whatever the target.
/// let mut layer = Dense::<1, 1>::zeroed();
/// layer.w = [[2.0]];
/// let mut var = Dense::<1, 1>::zeroed();
/// var.w = [[0.5]];
/// let mut scratch = [0.0; 16];
/// assert!(prediction_scratch_len(&layer) <= 16);
/// let n = prediction_scratch_len(&layer);
/// let p = predicted_increase(&layer, &var, &[Identity], &[3.0], &[1.0], &mut scratch[..n]).unwrap();
/// assert_eq!((p.seed, p.exact), (2.25, 2.25));
/// ```
pub fn predicted_increase<P, V, A>(
    params: &P,
    variance: &V,
    acts: &[A],
    xs: &[f32],
    ys: &[f32],
    scratch: &mut [f32],
) -> Result<PredictedIncrease, Error>
where
    P: Parameters + ?Sized,
    V: Parameters + ?Sized,
    A: Activation,
{
    let (layers, sum, max) = widths(params)?;
    check_len(acts.len(), layers)?;
    check_len(variance.slice_count(), params.slice_count())?;
    for i in 0..params.slice_count() {
        check_len(variance.slice(i).len(), params.slice(i).len())?;
    }
    check_len(scratch.len(), prediction_scratch_len(params))?;
    let n_in = layer_shape(params, 0)?;
    let n_out = params.slice(2 * layers - 1).len();
    if xs.is_empty() || !xs.len().is_multiple_of(n_in) {
        return Err(Error::InvalidParameter {
            name: "data",
            requirement: "at least one row of the network's inputs",
        });
    }
    let rows = xs.len() / n_in;
    check_len(ys.len(), rows.saturating_mul(n_out))?;

    let (act_buf, rest) = scratch.split_at_mut(sum);
    let (z_buf, rest) = rest.split_at_mut(sum);
    let (row, rest) = rest.split_at_mut(max);
    let (g_a, rest) = rest.split_at_mut(max);
    let (g_b, rest) = rest.split_at_mut(max);
    let (delta, rest) = rest.split_at_mut(max);
    let (u, rest) = rest.split_at_mut(max);
    let (h_a, h_b) = rest.split_at_mut(max * max);

    let layer = |l: usize| {
        let n_in = layer_shape(params, l)?;
        DenseRef::new(params.slice(2 * l), params.slice(2 * l + 1), n_in, acts[l])
    };
    let (mut seed_total, mut exact_total) = (0.0f64, 0.0f64);
    for (x, y) in xs.chunks_exact(n_in).zip(ys.chunks_exact(n_out)) {
        // Forward: act_buf holds x, a_0, a_1, …; z_buf the pre-activations at the same offsets.
        act_buf[..n_in].copy_from_slice(x);
        let mut off = 0;
        for l in 0..layers {
            let d = layer(l)?;
            let (ni, no) = (d.inputs(), d.outputs());
            let (below, above) = act_buf.split_at_mut(off + ni);
            d.forward(
                l,
                &below[off..],
                &mut Clean,
                &mut row[..ni],
                &mut z_buf[off + ni..off + ni + no],
                &mut above[..no],
            )?;
            off += ni;
        }
        let out_off = off;
        for k in 0..n_out {
            let resid = y[k] - act_buf[out_off + k];
            let (mut g, mut gx) = (&mut *g_a, &mut *g_b);
            let (mut h, mut hx) = (&mut *h_a, &mut *h_b);
            g[..n_out].fill(0.0);
            g[k] = 1.0;
            h[..n_out * n_out].fill(0.0);
            let (mut grad_term, mut curv_term) = (0.0f64, 0.0f64);
            let mut top = out_off;
            for l in (0..layers).rev() {
                let d = layer(l)?;
                let (ni, no) = (d.inputs(), d.outputs());
                let x_l = &act_buf[top - ni..top];
                let z = &z_buf[top..top + no];
                let a = &act_buf[top..top + no];
                d.delta(z, a, &g[..no], &mut delta[..no])?;
                d.hessian_backward(
                    z,
                    a,
                    &g[..no],
                    &mut h[..no * no],
                    &mut u[..no],
                    Some(&mut hx[..ni * ni]),
                )?;
                let var_w = variance.slice(2 * l);
                let var_b = variance.slice(2 * l + 1);
                for o in 0..no {
                    let mut v = f64::from(var_b[o]);
                    for (s, xi) in var_w[o * ni..(o + 1) * ni].iter().zip(x_l) {
                        v += f64::from(*s) * f64::from(*xi) * f64::from(*xi);
                    }
                    grad_term += f64::from(delta[o]) * f64::from(delta[o]) * v;
                    curv_term += f64::from(h[o * no + o]) * v;
                }
                if l > 0 {
                    d.input_grad(&delta[..no], &mut gx[..ni])?;
                    core::mem::swap(&mut g, &mut gx);
                    core::mem::swap(&mut h, &mut hx);
                }
                top -= ni;
            }
            seed_total += 0.5 * grad_term;
            exact_total += 0.5 * (grad_term - f64::from(resid) * curv_term);
        }
    }
    Ok(PredictedIncrease {
        seed: seed_total / rows as f64,
        exact: exact_total / rows as f64,
    })
}
