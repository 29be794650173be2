//! Evaluation: clean loss, flatness and the second-order noisy-cost
//! formulas here; the loss under weight perturbation with its Monte Carlo
//! standard error in [`perturbed`].

mod perturbed;
pub use perturbed::{AntitheticPairs, NoisyLoss, perturbed_loss};

use super::model::{Buffer, Model};
use crate::error::{Error, check_len, nonempty};
use crate::nn::{BLOCK, HalfSquaredError, Loss, NoiseOn};
use crate::noise::config::{MAX_LAYERS, NoiseKind, WeightNoiseConfig};
use crate::perturbation::Clean;

/// Mean loss over a data set at the clean weights (accumulated in `f64`).
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `xs` and `targets` differ in length (or an
/// input does not fit the model), [`Error::InvalidParameter`] naming `data`
/// if they are empty, and the loss's errors.
///
/// # Examples
///
/// ```
/// use noisereg::{clean_loss, Dense, HalfSquaredError, Network};
/// let net = Dense::<1, 1>::zeroed();
/// assert_eq!(clean_loss(&net, &HalfSquaredError, &[[1.0], [2.0]], &[[1.0], [3.0]]), Ok(2.5));
/// ```
pub fn clean_loss<X, Y, N, T, L>(net: &N, loss: &L, xs: &[X], targets: &[T]) -> Result<f64, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    L: Loss<T>,
{
    check_len(xs.len(), targets.len())?;
    let n = nonempty("data", xs.len())? as f64;
    let mut ys = core::array::from_fn(|_| net.output_buffer());
    Ok(loss_sum(net, loss, xs, targets, &mut ys)? / n)
}

/// `Σ_s ℓ(f(xs[s]), targets[s])` in f64, samples in order, the forward
/// passes [`BLOCK`] at a time through `ys`.
fn loss_sum<X, Y, N, T, L>(
    net: &N,
    loss: &L,
    xs: &[X],
    targets: &[T],
    ys: &mut [Y; BLOCK],
) -> Result<f64, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    L: Loss<T>,
{
    let mut total = 0.0f64;
    for (xb, tb) in xs.chunks(BLOCK).zip(targets.chunks(BLOCK)) {
        let yb = ys.get_mut(..xb.len()).unwrap_or_default();
        net.forward_batch(xb, yb)?;
        for (y, t) in yb.iter().zip(tb) {
            total += f64::from(loss.value(y.as_ref(), t)?);
        }
    }
    Ok(total)
}

/// Flatness `E_data Σ_k ‖∇_θ f_k(x)‖²` over the parameters `on` selects
/// (weights only: `E‖∇_W f‖²`), at the clean weights.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `data` for an empty `xs`, or `layers`
/// for a network deeper than [`MAX_LAYERS`].
///
/// # Examples
///
/// ```
/// use noisereg::{flatness, Dense, Network, NoiseOn};
/// // Linear model: ∇_w f = x.
/// let f = flatness(&Dense::<2, 1>::zeroed(), &[[1.0, 2.0], [0.0, 1.0]], NoiseOn::Weights).unwrap();
/// assert_eq!(f, 3.0);
/// ```
pub fn flatness<X, Y, N: Model<X, Y>>(net: &N, xs: &[X], on: NoiseOn) -> Result<f32, Error> {
    let n = nonempty("data", xs.len())? as f64;
    let ones = unit_eta(net.depth())?;
    let mut cache = net.workspace();
    let mut total = 0.0f64;
    for x in xs {
        total += f64::from(net.penalty(x, &ones, on, &mut cache)?);
    }
    Ok((total / n) as f32)
}

fn unit_eta(depth: usize) -> Result<heapless::Vec<f32, MAX_LAYERS>, Error> {
    let mut v = heapless::Vec::new();
    for _ in 0..depth {
        v.push(1.0).map_err(|_| Error::InvalidParameter {
            name: "layers",
            requirement: "network depth <= MAX_LAYERS",
        })?;
    }
    Ok(v)
}

/// The noisy cost of the ½-squared-error loss to first order in η (`docs/theory.md` §1–§2).
/// For every loss (softmax cross-entropy, label smoothing) see
/// [`loss_cost_expansion`](crate::loss_cost_expansion) (docs/theory.md §11).
///
/// # Examples
///
/// ```
/// use noisereg::{noisy_cost_expansion, Dense, Network, NoiseKind, WeightNoiseConfig};
/// let net = Dense::<1, 1>::zeroed();
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.1).unwrap();
/// let e = noisy_cost_expansion(&net, &[[2.0]], &[[1.0]], &cfg).unwrap();
/// // J = ½, ‖∇_w f‖² = x² = 4: seed formula ½ + ½·0.1·4.
/// assert_eq!((e.clean, e.trace), (0.5, 0.0));
/// assert!((e.seed_formula - 0.7).abs() < 1e-7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisyCostExpansion {
    /// `J(θ)`.
    pub clean: f64,
    /// The seed's formula `J + ½ E Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²`.
    pub seed_formula: f64,
    /// The exact first-order formula
    /// `J + ½ E Σ_k [Σ_l η_l ‖∇_{θ_l} f_k‖² − (y_k − f_k) Σ_l η_l tr ∇²_{θ_l} f_k]`.
    pub exact_formula: f64,
    /// `E Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²`.
    pub grad_sq: f64,
    /// `E Σ_k Σ_l η_l tr ∇²_{θ_l} f_k`.
    pub trace: f64,
    /// `E Σ_k (y_k − f_k) Σ_l η_l tr ∇²_{θ_l} f_k`.
    pub residual_trace: f64,
}

/// Evaluates the seed's and the exact first-order formula for the noisy cost
/// `E_ε J(θ + ε)` of the ½-squared-error loss (any loss:
/// [`loss_cost_expansion`](crate::loss_cost_expansion)), for additive noise of
/// per-layer variance `config.eta(l)` on the parameters `config` selects.
///
/// Local reparameterisation is accepted too: per sample its pre-activations
/// have exactly the joint distribution additive weight noise gives them, so
/// the expected loss, and these formulas, are the same. Multiplicative noise
/// (variance `η w²` per weight) is not covered.
///
/// # Errors
///
/// As [`clean_loss`] and [`flatness`]; [`Error::InvalidParameter`] naming
/// `kind` for [`NoiseKind::Multiplicative`].
///
/// # Examples
///
/// ```
/// use noisereg::{noisy_cost_expansion, Dense, Network, NoiseKind, WeightNoiseConfig};
/// // Linear model: no curvature, so both formulas agree (docs/theory.md §6, T1, halved).
/// let mut net = Dense::<2, 1>::zeroed();
/// net.w = [[0.3, -0.1]];
/// net.b = [0.05];
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap()
///     .with_noise_on(noisereg::NoiseOn::WeightsAndBiases);
/// let e = noisy_cost_expansion(&net, &[[1.0, 2.0]], &[[0.2]], &cfg).unwrap();
/// assert!((2.0 * e.exact_formula - 0.0625).abs() < 1e-7);
/// assert_eq!(e.seed_formula, e.exact_formula);
/// ```
pub fn noisy_cost_expansion<X, Y: Buffer, N: Model<X, Y>>(
    net: &N,
    xs: &[X],
    targets: &[Y],
    config: &WeightNoiseConfig,
) -> Result<NoisyCostExpansion, Error> {
    if config.kind() == NoiseKind::Multiplicative {
        return Err(Error::InvalidParameter {
            name: "kind",
            requirement: "additive or local reparameterisation noise",
        });
    }
    config.check_depth(net.depth())?;
    check_len(xs.len(), targets.len())?;
    let n = nonempty("data", xs.len())? as f64;
    let eta = config.etas().get(..net.depth()).unwrap_or(config.etas());
    let on = config.noise_on();
    let mut cache = net.workspace();
    let (mut y, mut tr) = (net.output_buffer(), net.output_buffer());
    let (mut j, mut pen, mut trace, mut curv) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (x, t) in xs.iter().zip(targets) {
        net.forward_with(x, &mut Clean, &mut cache, &mut y)?;
        j += f64::from(HalfSquaredError.value(y.as_ref(), t.as_ref())?);
        pen += f64::from(net.penalty(x, eta, on, &mut cache)?);
        net.hessian_trace(x, eta, on, &mut cache, &mut tr)?;
        let it = y.as_ref().iter().zip(t.as_ref()).zip(tr.as_ref());
        for ((&yk, &tk), &trk) in it {
            trace += f64::from(trk);
            curv += (f64::from(tk) - f64::from(yk)) * f64::from(trk);
        }
    }
    let clean = j / n;
    Ok(NoisyCostExpansion {
        clean,
        seed_formula: clean + 0.5 * pen / n,
        exact_formula: clean + 0.5 * (pen - curv) / n,
        grad_sq: pen / n,
        trace: trace / n,
        residual_trace: curv / n,
    })
}
