//! Evaluation: clean loss, loss under weight perturbation with its Monte
//! Carlo standard error, flatness, and the second-order noisy-cost formulas.

use super::model::{Buffer, Model};
use super::weight_noise::WeightNoise;
use super::weight_noise_config::{MAX_LAYERS, NoiseKind, WeightNoiseConfig};
use crate::error::{Error, check_len};
use crate::nn::{BLOCK, HalfSquaredError, Loss, NoiseOn};
use crate::perturbation::Clean;

fn nonempty(n: usize) -> Result<f64, Error> {
    crate::error::nonempty("data", n).map(|n| n as f64)
}

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
    let n = nonempty(xs.len())?;
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
        net.predict_batch(xb, yb)?;
        for (y, t) in yb.iter().zip(tb) {
            total += f64::from(loss.value(y.as_ref(), t)?);
        }
    }
    Ok(total)
}

/// A Monte Carlo estimate of the cost under weight noise, `E_ε J(θ + ε)`.
///
/// # Examples
///
/// ```
/// use noisereg::NoisyLoss;
/// let r = NoisyLoss::from_pair_means(1.0, [1.5, 2.5]).unwrap();
/// assert_eq!((r.mean, r.std_error, r.pairs), (2.0, 0.5, 2));
/// assert_eq!(r.excess(), 1.0);
/// ```
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

impl NoisyLoss {
    /// The estimate from the clean cost and the means of the antithetic
    /// pairs (in pair order), as [`perturbed_loss`] computes it; lets a
    /// caller evaluate the pairs ([`AntitheticPairs`]) in parallel.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `pairs` for fewer than 2 means.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::NoisyLoss;
    /// let r = NoisyLoss::from_pair_means(1.0, [1.5, 2.5]).unwrap();
    /// assert_eq!((r.excess(), r.std_error, r.pairs), (1.0, 0.5, 2));
    /// assert!(NoisyLoss::from_pair_means(1.0, [1.5]).is_err());
    /// ```
    pub fn from_pair_means(
        clean: f64,
        means: impl IntoIterator<Item = f64>,
    ) -> Result<Self, Error> {
        let mut stats = PairStats::default();
        let mut pairs = 0u32;
        for v in means {
            stats.add(v);
            pairs = pairs.saturating_add(1);
        }
        stats.finish(clean, pairs)
    }
}

/// Welford's running mean and sum of squared deviations of the pair means:
/// no cancellation when the spread is tiny next to the mean.
#[derive(Default)]
struct PairStats {
    count: f64,
    mean: f64,
    m2: f64,
}

impl PairStats {
    #[inline]
    fn add(&mut self, v: f64) {
        self.count += 1.0;
        let d = v - self.mean;
        self.mean += d / self.count;
        self.m2 += d * (v - self.mean);
    }

    /// The estimate from `pairs` added means.
    fn finish(self, clean: f64, pairs: u32) -> Result<NoisyLoss, Error> {
        check_pairs(pairs)?;
        let m = f64::from(pairs);
        let mean = self.mean;
        let var = (self.m2 / (m - 1.0)).max(0.0);
        Ok(NoisyLoss {
            clean,
            mean,
            std_error: libm::sqrt(var / m),
            pairs,
        })
    }
}

fn check_pairs(pairs: u32) -> Result<(), Error> {
    if pairs < 2 {
        return Err(Error::InvalidParameter {
            name: "pairs",
            requirement: ">= 2",
        });
    }
    Ok(())
}

/// The antithetic pairs of [`perturbed_loss`], evaluated one at a time by
/// index: pair `p` is the same whichever order (or thread) evaluates it.
///
/// Holds one perturbed copy of the network, a workspace and an output buffer.
///
/// # Examples
///
/// ```
/// use noisereg::{clean_loss, perturbed_loss, AntitheticPairs, Dense, HalfSquaredError};
/// use noisereg::{Network, NoiseKind, NoisyLoss, WeightNoiseConfig};
/// let net = Dense::<2, 1>::zeroed();
/// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
/// let (xs, ys) = ([[1.0, 2.0]], [[0.5]]);
/// let mut pairs = AntitheticPairs::new(&net, &HalfSquaredError, &xs, &ys, &cfg, 1).unwrap();
/// let a = pairs.pair_mean(5).unwrap();
/// pairs.pair_mean(0).unwrap();
/// assert_eq!(pairs.pair_mean(5), Ok(a));
/// // In any order, the pairs combine to `perturbed_loss`.
/// let clean = clean_loss(&net, &HalfSquaredError, &xs, &ys).unwrap();
/// let means: Vec<f64> = (0..4).rev().map(|p| pairs.pair_mean(p).unwrap()).rev().collect();
/// let r = perturbed_loss(&net, &HalfSquaredError, &xs, &ys, &cfg, 4, 1);
/// assert_eq!(NoisyLoss::from_pair_means(clean, means), r);
/// ```
#[derive(Debug)]
pub struct AntitheticPairs<'a, X, Y, N: Model<X, Y>, T, L> {
    net: &'a N,
    loss: &'a L,
    xs: &'a [X],
    targets: &'a [T],
    n: f64,
    noise: WeightNoise,
    per_sample: bool,
    noisy: N,
    ws: N::Workspace,
    y: Y,
    ys: [Y; BLOCK],
}

impl<'a, X, Y: Buffer, N: Model<X, Y>, T, L: Loss<T>> AntitheticPairs<'a, X, Y, N, T, L> {
    /// Pairs of `config`'s noise (schedule ignored) drawn from `seed`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `xs` and `targets` differ in length or
    /// per-layer η do not match the depth, [`Error::InvalidParameter`]
    /// naming `data` if they are empty or `layers` for a network deeper than
    /// [`MAX_LAYERS`].
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{AntitheticPairs, Dense, HalfSquaredError, Network, NoiseKind, WeightNoiseConfig};
    /// let net = Dense::<1, 1>::zeroed();
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    /// let (xs, ys): ([[f32; 1]; 0], [[f32; 1]; 0]) = ([], []);
    /// assert!(AntitheticPairs::new(&net, &HalfSquaredError, &xs, &ys, &cfg, 1).is_err());
    /// let mut pairs = AntitheticPairs::new(&net, &HalfSquaredError, &[[1.0]], &[[0.0]], &cfg, 1).unwrap();
    /// assert!(pairs.pair_mean(0).unwrap() > 0.0);
    /// ```
    pub fn new(
        net: &'a N,
        loss: &'a L,
        xs: &'a [X],
        targets: &'a [T],
        config: &WeightNoiseConfig,
        seed: u64,
    ) -> Result<Self, Error> {
        config.check_depth(net.depth())?;
        check_len(xs.len(), targets.len())?;
        let n = nonempty(xs.len())?;
        let mut noise = WeightNoise::new(config, seed);
        let eta: [f32; MAX_LAYERS] = *config.etas();
        noise.set_eta(&eta)?;
        Ok(Self {
            net,
            loss,
            xs,
            targets,
            n,
            noise,
            per_sample: config.kind() == NoiseKind::LocalReparam,
            noisy: net.clone(),
            ws: net.workspace(),
            y: net.output_buffer(),
            ys: core::array::from_fn(|_| net.output_buffer()),
        })
    }

    /// `½ (J(θ + ε_p) + J(θ − ε_p))` for draw `p`.
    ///
    /// # Errors
    ///
    /// The loss's errors, and length mismatches of a run-time-sized model.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{AntitheticPairs, Dense, HalfSquaredError, Network, NoiseKind, WeightNoiseConfig};
    /// let net = Dense::<1, 1>::zeroed();
    /// let cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    /// let mut pairs = AntitheticPairs::new(&net, &HalfSquaredError, &[[1.0]], &[[0.0]], &cfg, 1).unwrap();
    /// // Linear model at 0: both halves of the pair see ½(εx)².
    /// let m = pairs.pair_mean(3).unwrap();
    /// assert!(m > 0.0 && m == pairs.pair_mean(3).unwrap());
    /// ```
    pub fn pair_mean(&mut self, p: u64) -> Result<f64, Error> {
        let Self {
            net,
            loss,
            xs,
            targets,
            n,
            noise,
            per_sample,
            noisy,
            ws,
            y,
            ys,
        } = self;
        let mut pair = 0.0f64;
        for negated in [false, true] {
            noise.set_negated(negated);
            let mut total = 0.0f64;
            if *per_sample {
                for (i, (x, t)) in xs.iter().zip(targets.iter()).enumerate() {
                    noise.set_draw_index(p.wrapping_mul(xs.len() as u64).wrapping_add(i as u64));
                    net.forward_traced(x, noise, ws, y)?;
                    total += f64::from(loss.value(y.as_ref(), t)?);
                }
            } else {
                noise.set_draw_index(p);
                noise.perturb_parameters(*net, noisy);
                total = loss_sum(noisy, *loss, xs, targets, ys)?;
            }
            pair += 0.5 * total / *n;
        }
        Ok(pair)
    }
}

/// Estimates the mean loss under weight noise `E_ε J(θ + ε)` with antithetic
/// pairs `(ε, −ε)`, and its standard error.
///
/// For additive and multiplicative noise each draw is one perturbed network
/// (materialised once in a copy of `net`) evaluated on every sample:
/// the loss a network with perturbed weights really has. For local
/// reparameterisation each sample gets its own draw. The schedule in
/// `config` is ignored (η as given). Pair `p` uses draw `p` of `seed`
/// ([`AntitheticPairs`]).
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
pub fn perturbed_loss<X, Y, N, T, L>(
    net: &N,
    loss: &L,
    xs: &[X],
    targets: &[T],
    config: &WeightNoiseConfig,
    pairs: u32,
    seed: u64,
) -> Result<NoisyLoss, Error>
where
    Y: Buffer,
    N: Model<X, Y>,
    L: Loss<T>,
{
    config.check_depth(net.depth())?;
    check_pairs(pairs)?;
    let clean = clean_loss(net, loss, xs, targets)?;
    let mut eval = AntitheticPairs::new(net, loss, xs, targets, config, seed)?;
    let mut stats = PairStats::default();
    for p in 0..u64::from(pairs) {
        stats.add(eval.pair_mean(p)?);
    }
    stats.finish(clean, pairs)
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
    let n = nonempty(xs.len())?;
    let ones = unit_eta(net.depth())?;
    let mut cache = net.workspace();
    let mut total = 0.0f64;
    for x in xs {
        total += f64::from(net.penalty_at(x, &ones, on, &mut cache)?);
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
    let n = nonempty(xs.len())?;
    let eta = config.etas().get(..net.depth()).unwrap_or(config.etas());
    let on = config.noise_on();
    let mut cache = net.workspace();
    let (mut y, mut tr) = (net.output_buffer(), net.output_buffer());
    let (mut j, mut pen, mut trace, mut curv) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (x, t) in xs.iter().zip(targets) {
        net.forward_traced(x, &mut Clean, &mut cache, &mut y)?;
        j += f64::from(HalfSquaredError.value(y.as_ref(), t.as_ref())?);
        pen += f64::from(net.penalty_at(x, eta, on, &mut cache)?);
        net.hessian_trace_at(x, eta, on, &mut cache, &mut tr)?;
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
