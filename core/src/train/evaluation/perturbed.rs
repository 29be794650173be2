//! The loss under weight perturbation, `E_ε J(θ + ε)`, estimated from
//! antithetic pairs `(θ + ε, θ − ε)` with its Monte Carlo standard error.

use super::super::model::{Buffer, Model};
use super::{clean_loss, loss_sum};
use crate::error::{Error, check_len, nonempty};
use crate::nn::{BLOCK, Loss};
use crate::noise::config::{MAX_LAYERS, NoiseKind, WeightNoiseConfig};
use crate::noise::weight::WeightNoise;

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
        let n = nonempty("data", xs.len())? as f64;
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
                    net.forward_with(x, noise, ws, y)?;
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
