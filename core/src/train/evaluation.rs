//! Evaluation: clean loss, loss under weight perturbation with its Monte
//! Carlo standard error, flatness, and the second-order noisy-cost formulas.

use super::weight_noise::WeightNoise;
use super::weight_noise_config::{MAX_LAYERS, NoiseKind, WeightNoiseConfig};
use crate::error::{Error, check_len};
use crate::nn::{HalfSquaredError, Loss, Network, NoiseOn};
use crate::perturbation::Clean;

fn nonempty(n: usize) -> Result<f64, Error> {
    if n == 0 {
        Err(Error::InvalidParameter {
            name: "data",
            requirement: "at least one sample",
        })
    } else {
        Ok(n as f64)
    }
}

/// Mean loss over a data set at the clean weights (accumulated in `f64`).
///
/// # Errors
///
/// [`Error::LengthMismatch`] if `xs` and `targets` differ in length,
/// [`Error::InvalidParameter`] naming `data` if they are empty, and the
/// loss's errors.
///
/// # Examples
///
/// ```
/// use noisereg::{clean_loss, Dense, HalfSquaredError, Network};
/// let net = Dense::<1, 1>::zeroed();
/// assert_eq!(clean_loss(&net, &HalfSquaredError, &[[1.0], [2.0]], &[[1.0], [3.0]]), Ok(2.5));
/// ```
pub fn clean_loss<const IN: usize, const OUT: usize, N, T, L>(
    net: &N,
    loss: &L,
    xs: &[[f32; IN]],
    targets: &[T],
) -> Result<f32, Error>
where
    N: Network<IN, OUT>,
    L: Loss<T>,
{
    check_len(xs.len(), targets.len())?;
    let n = nonempty(xs.len())?;
    let mut y = [0.0; OUT];
    let mut total = 0.0f64;
    for (x, t) in xs.iter().zip(targets) {
        net.forward(x, &mut y);
        total += f64::from(loss.value(&y, t)?);
    }
    Ok((total / n) as f32)
}

/// A Monte Carlo estimate of the cost under weight noise, `E_ε J(θ + ε)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisyLoss {
    /// `J(θ)`, the clean mean loss.
    pub clean: f64,
    /// The estimate of `E_ε J(θ + ε)`.
    pub mean: f64,
    /// Its standard error (from the spread of the antithetic pair means).
    pub std_error: f64,
    /// Number of antithetic pairs `(ε, −ε)` drawn.
    pub pairs: u32,
}

impl NoisyLoss {
    /// `E_ε J(θ + ε) − J(θ)`; its standard error is [`std_error`](Self::std_error)
    /// (the clean cost is exact).
    pub fn excess(&self) -> f64 {
        self.mean - self.clean
    }
}

/// Estimates the mean loss under weight noise `E_ε J(θ + ε)` with antithetic
/// pairs `(ε, −ε)`, and its standard error.
///
/// For additive and multiplicative noise each draw is one perturbed network
/// (materialised once in a stack copy of `net`) evaluated on every sample:
/// the loss a network with perturbed weights really has. For local
/// reparameterisation each sample gets its own draw. The schedule in
/// `config` is ignored (η as given). Pair `p` uses draw `p` of `seed`.
///
/// # Errors
///
/// As [`clean_loss`], and [`Error::InvalidParameter`] naming `pairs` if it is
/// below 2 or `layers` if the network is deeper than [`MAX_LAYERS`]
/// ([`Error::LengthMismatch`] if per-layer η do not match the depth).
///
/// # Examples
///
/// ```
/// use noisereg::{perturbed_loss, Dense, HalfSquaredError, Network, NoiseKind, WeightNoiseConfig};
/// let net = Dense::<2, 1>::zeroed();
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
/// let r = perturbed_loss(&net, &HalfSquaredError, &[[1.0, 2.0]], &[[0.0]], &cfg, 2000, 1).unwrap();
/// // ½·E(εᵀx)² = ½·η‖x‖² = 0.025
/// assert!((r.excess() - 0.025).abs() < 4.0 * r.std_error + 1e-6);
/// ```
pub fn perturbed_loss<const IN: usize, const OUT: usize, N, T, L>(
    net: &N,
    loss: &L,
    xs: &[[f32; IN]],
    targets: &[T],
    config: &WeightNoiseConfig,
    pairs: u32,
    seed: u64,
) -> Result<NoisyLoss, Error>
where
    N: Network<IN, OUT>,
    L: Loss<T>,
{
    config.check_depth(N::DEPTH)?;
    if pairs < 2 {
        return Err(Error::InvalidParameter {
            name: "pairs",
            requirement: ">= 2",
        });
    }
    let clean = f64::from(clean_loss(net, loss, xs, targets)?);
    let n = nonempty(xs.len())?;
    let mut noise = WeightNoise::new(config, seed);
    let eta: [f32; MAX_LAYERS] = *config.etas();
    noise.set_eta(&eta);
    let per_sample = config.kind() == NoiseKind::LocalReparam;
    let mut noisy = net.clone();
    let mut cache = N::new_cache();
    let mut y = [0.0; OUT];
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    for p in 0..u64::from(pairs) {
        let mut pair = 0.0f64;
        for negated in [false, true] {
            noise.set_negated(negated);
            let mut total = 0.0f64;
            if per_sample {
                for (i, (x, t)) in xs.iter().zip(targets).enumerate() {
                    noise.set_draw_index(p.wrapping_mul(xs.len() as u64).wrapping_add(i as u64));
                    net.forward_with(x, &mut noise, &mut cache, &mut y);
                    total += f64::from(loss.value(&y, t)?);
                }
            } else {
                noise.set_draw_index(p);
                noise.perturb_parameters(net, &mut noisy);
                for (x, t) in xs.iter().zip(targets) {
                    noisy.forward(x, &mut y);
                    total += f64::from(loss.value(&y, t)?);
                }
            }
            pair += 0.5 * total / n;
        }
        sum += pair;
        sum_sq += pair * pair;
    }
    let m = f64::from(pairs);
    let mean = sum / m;
    let var = ((sum_sq - m * mean * mean) / (m - 1.0)).max(0.0);
    Ok(NoisyLoss {
        clean,
        mean,
        std_error: libm::sqrt(var / m),
        pairs,
    })
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
pub fn flatness<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    xs: &[[f32; IN]],
    on: NoiseOn,
) -> Result<f32, Error> {
    let n = nonempty(xs.len())?;
    let ones = unit_eta::<IN, OUT, N>()?;
    let mut cache = N::new_cache();
    let mut total = 0.0f64;
    for x in xs {
        total += f64::from(net.penalty(x, &ones, on, &mut cache)?);
    }
    Ok((total / n) as f32)
}

fn unit_eta<const IN: usize, const OUT: usize, N: Network<IN, OUT>>()
-> Result<heapless::Vec<f32, MAX_LAYERS>, Error> {
    let mut v = heapless::Vec::new();
    for _ in 0..N::DEPTH {
        v.push(1.0).map_err(|_| Error::InvalidParameter {
            name: "layers",
            requirement: "network depth <= MAX_LAYERS",
        })?;
    }
    Ok(v)
}

/// The noisy cost of the ½-squared-error loss to first order in η (THEORY §1–§2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisyCostExpansion {
    /// `J(θ)`.
    pub clean: f64,
    /// The seed's formula `J + ½ E Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²`.
    pub seed_formula: f64,
    /// The exact first-order formula
    /// `J + ½ E Σ_k [Σ_l η_l ‖∇_{θ_l} f_k‖² − (y_k − f_k) Σ_l η_l tr ∇²_{θ_l} f_k]`.
    pub exact_formula: f64,
}

/// Evaluates the seed's and the exact first-order formula for the noisy cost
/// `E_ε J(θ + ε)` of the ½-squared-error loss, for additive noise of
/// per-layer variance `config.eta(l)` on the parameters `config` selects.
///
/// # Errors
///
/// As [`clean_loss`] and [`flatness`].
///
/// # Examples
///
/// ```
/// use noisereg::{noisy_cost_expansion, Dense, Network, NoiseKind, WeightNoiseConfig};
/// // Linear model: no curvature, so both formulas agree (THEORY T1, halved).
/// let mut net = Dense::<2, 1>::zeroed();
/// net.w = [[0.3, -0.1]];
/// net.b = [0.05];
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap()
///     .on(noisereg::NoiseOn::WeightsAndBiases);
/// let e = noisy_cost_expansion(&net, &[[1.0, 2.0]], &[[0.2]], &cfg).unwrap();
/// assert!((2.0 * e.exact_formula - 0.0625).abs() < 1e-7);
/// assert_eq!(e.seed_formula, e.exact_formula);
/// ```
pub fn noisy_cost_expansion<const IN: usize, const OUT: usize, N: Network<IN, OUT>>(
    net: &N,
    xs: &[[f32; IN]],
    targets: &[[f32; OUT]],
    config: &WeightNoiseConfig,
) -> Result<NoisyCostExpansion, Error> {
    config.check_depth(N::DEPTH)?;
    check_len(xs.len(), targets.len())?;
    let n = nonempty(xs.len())?;
    let eta = config.etas().get(..N::DEPTH).unwrap_or(config.etas());
    let on = config.noise_on();
    let mut cache = N::new_cache();
    let (mut y, mut tr) = ([0.0; OUT], [0.0; OUT]);
    let (mut j, mut pen, mut curv) = (0.0f64, 0.0f64, 0.0f64);
    for (x, t) in xs.iter().zip(targets) {
        net.forward_with(x, &mut Clean, &mut cache, &mut y);
        j += f64::from(HalfSquaredError.value(&y, t)?);
        pen += f64::from(net.penalty(x, eta, on, &mut cache)?);
        net.hessian_trace(x, eta, on, &mut cache, &mut tr)?;
        for ((&yk, &tk), &trk) in y.iter().zip(t).zip(&tr) {
            curv += (f64::from(tk) - f64::from(yk)) * f64::from(trk);
        }
    }
    let clean = j / n;
    Ok(NoisyCostExpansion {
        clean,
        seed_formula: clean + 0.5 * pen / n,
        exact_formula: clean + 0.5 * (pen - curv) / n,
    })
}
