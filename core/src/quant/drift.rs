//! Analog in-memory weights after IBM aihwkit's phase-change-memory (PCM)
//! statistical model (`PCMLikeNoiseModel` in
//! `src/aihwkit/inference/noise/pcm.py`, Nandakumar et al., IEDM 2019; Joshi
//! et al., Nat. Commun. 11, 2473, 2020) with its default preset, and its
//! `GlobalDriftCompensation` (`src/aihwkit/inference/compensation/drift.py`).
//!
//! Each layer is one tile. A weight `w` is the difference of two devices,
//! `g⁺ = max(w, 0)·g_max/w_max` and `g⁻ = max(−w, 0)·g_max/w_max`, with
//! `w_max` the largest `|w|` of the layer and `g_max = 25 µS`. Per device:
//!
//! 1. programming noise `g_p = max(0, g + N(0, σ_p²))`,
//!    `σ_p = 0.26348 + 1.9650 r − 1.1731 r²` µS, `r = g/g_max`
//!    (σ_p relative to the largest weight: `σ_p/g_max · w_max`);
//! 2. drift `g(t) = g_p (t/t₀)^{−ν}` at `t = t_inference + t₀`, `t₀ = 20 s`,
//!    `ν = |μ_ν + σ_ν N(0, 1)|` drawn per device with
//!    `μ_ν = clamp(−0.0155 ln r + 0.0244, 0.049, 0.1)`,
//!    `σ_ν = clamp(−0.0125 ln r − 0.0059, 0.008, 0.045)`, `r ≥ 10⁻⁷`;
//! 3. read (1/f) noise accumulated up to `t`:
//!    `g_f = max(0, g(t) + |g(t)| σ_n N(0, 1))`,
//!    `σ_n = Q_s √ln((t + t_r)/(2 t_r))`, `t_r = 250 ns`,
//!    `Q_s = min(0.0088 / max((g_p/g_max)^0.65, 10⁻³), 0.2)`.
//!
//! Drawn afresh at every evaluation (each Monte Carlo draw re-programs and
//! re-reads the array), so read noise is part of every pass's weights.
//! Global drift compensation multiplies the layer's output (its weights; the
//! bias is digital) by `α = mean|W_p| / mean|W(t)|`, the mean absolute
//! response to the identity input before and after drift.

use super::quantize::{layer_count, layer_shape, max_abs};
use crate::error::Error;
use crate::parameters::Parameters;
use crate::sampler::BoxMuller;
use rand_core::Rng;

/// The PCM drift model of aihwkit, at one inference time.
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, Network, PcmDrift};
/// use rand_core::SeedableRng;
/// let mut layer = Dense::<2, 1>::zeroed();
/// layer.w = [[1.0, -0.5]];
/// let year = PcmDrift::new(365.25 * 86400.0, false).unwrap();
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// year.apply(&mut layer, &mut rng).unwrap();
/// assert!(layer.w[0][0] < 1.0 && layer.w[0][0] > 0.3); // drifted down
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PcmDrift {
    t_inference: f32,
    compensation: bool,
    prog_noise_scale: f32,
    read_noise_scale: f32,
    drift_scale: f32,
}

impl PcmDrift {
    /// `g_max` of the preset, µS.
    pub const G_MAX: f32 = 25.0;
    /// First reading time `t₀`, s.
    pub const T0: f32 = 20.0;
    /// Read time of the 1/f fit `t_r`, s.
    pub const T_READ: f32 = 250.0e-9;
    /// Programming-noise polynomial in `r = g/g_max` (µS).
    pub const PROG_COEFF: [f32; 3] = [0.26348, 1.9650, -1.1731];

    /// The model at `t_inference` seconds after programming, with or
    /// without global drift compensation, all noise scales 1.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `t_inference` unless finite and `>= 0`.
    pub fn new(t_inference: f32, compensation: bool) -> Result<Self, Error> {
        if !(t_inference.is_finite() && t_inference >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "t_inference",
                requirement: "finite and >= 0 (seconds)",
            });
        }
        Ok(Self {
            t_inference,
            compensation,
            prog_noise_scale: 1.0,
            read_noise_scale: 1.0,
            drift_scale: 1.0,
        })
    }

    /// The same model with aihwkit's `prog_noise_scale`: the programming
    /// noise's standard deviation times `scale` (0 programs exactly).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `programming_scale` unless finite and `>= 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::PcmDrift;
    /// let exact = PcmDrift::new(0.0, false)?
    ///     .with_programming_scale(0.0)?
    ///     .with_read_scale(0.0)?
    ///     .with_drift_scale(0.5)?;
    /// assert_eq!((exact.programming_scale(), exact.read_scale(), exact.drift_scale()), (0.0, 0.0, 0.5));
    /// assert!(exact.with_programming_scale(-1.0).is_err());
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    pub fn with_programming_scale(mut self, scale: f32) -> Result<Self, Error> {
        self.prog_noise_scale = noise_scale("programming_scale", scale)?;
        Ok(self)
    }

    /// The same model with aihwkit's `read_noise_scale`: the read (1/f)
    /// noise's standard deviation times `scale`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `read_scale` unless finite and `>= 0`.
    pub fn with_read_scale(mut self, scale: f32) -> Result<Self, Error> {
        self.read_noise_scale = noise_scale("read_scale", scale)?;
        Ok(self)
    }

    /// The same model with aihwkit's `drift_scale`: every drift exponent `ν`
    /// times `scale` (0 switches drift off).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `drift_scale` unless finite and `>= 0`.
    pub fn with_drift_scale(mut self, scale: f32) -> Result<Self, Error> {
        self.drift_scale = noise_scale("drift_scale", scale)?;
        Ok(self)
    }

    /// The programming-noise scale (1 unless set).
    pub fn programming_scale(&self) -> f32 {
        self.prog_noise_scale
    }

    /// The read-noise scale (1 unless set).
    pub fn read_scale(&self) -> f32 {
        self.read_noise_scale
    }

    /// The drift scale (1 unless set).
    pub fn drift_scale(&self) -> f32 {
        self.drift_scale
    }

    /// Seconds after programming.
    pub fn t_inference(&self) -> f32 {
        self.t_inference
    }

    /// One device: target `g` → (programmed, final) conductance.
    fn device<R: Rng + ?Sized>(&self, g: f32, normal: &mut BoxMuller, rng: &mut R) -> (f32, f32) {
        let r = g / Self::G_MAX;
        let [c0, c1, c2] = Self::PROG_COEFF;
        let sig_prog = c0 + c1 * r + c2 * r * r;
        let gp = (g + self.prog_noise_scale * sig_prog * normal.sample(rng)).max(0.0);
        let lr = libm::logf(r.max(1e-7));
        let mu = (-0.0155 * lr + 0.0244).clamp(0.049, 0.1);
        let sig = (-0.0125 * lr - 0.0059).clamp(0.008, 0.045);
        let nu = libm::fabsf(mu + sig * normal.sample(rng)) * self.drift_scale;
        let z_read = normal.sample(rng);
        let t = self.t_inference + Self::T0;
        let gd = if t > Self::T0 {
            gp * libm::powf(t / Self::T0, -nu)
        } else {
            gp
        };
        let qs = (0.0088 / libm::powf(gp / Self::G_MAX, 0.65).max(1e-3)).min(0.2);
        let sig_n = qs * libm::sqrtf(libm::logf((t + Self::T_READ) / (2.0 * Self::T_READ)));
        let gf = (gd + libm::fabsf(gd) * self.read_noise_scale * sig_n * z_read).max(0.0);
        (gp, gf)
    }

    /// Programs every weight matrix of `params` (biases stay digital) and
    /// replaces it by its value read at `t_inference`, compensated when
    /// configured. Layers in order, weights in order, `g⁺` then `g⁻`, three
    /// normals per device from a scalar [`BoxMuller`]: a seed fixes the bits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `network layout` for a layout that
    /// is not dense layers; [`Error::NonFinite`] naming `weights` for a NaN
    /// or infinite weight (nothing changed then).
    pub fn apply<P: Parameters + ?Sized, R: Rng + ?Sized>(
        &self,
        params: &mut P,
        rng: &mut R,
    ) -> Result<(), Error> {
        for l in 0..layer_count(params) {
            layer_shape(params, l)?;
            if params.slice(2 * l).iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite { what: "weights" });
            }
        }
        let mut normal = BoxMuller::standard();
        for l in 0..layer_count(params) {
            let w = params.slice_mut(2 * l);
            let w_max = max_abs(w);
            if w_max == 0.0 {
                continue;
            }
            let to_w = w_max / Self::G_MAX;
            let (mut sum_prog, mut sum_t) = (0.0f32, 0.0f32);
            for v in w.iter_mut() {
                let g_pos = v.max(0.0) / w_max * Self::G_MAX;
                let g_neg = (-*v).max(0.0) / w_max * Self::G_MAX;
                let (p_pos, f_pos) = self.device(g_pos, &mut normal, rng);
                let (p_neg, f_neg) = self.device(g_neg, &mut normal, rng);
                sum_prog += libm::fabsf(p_pos - p_neg) * to_w;
                *v = (f_pos - f_neg) * to_w;
                sum_t += libm::fabsf(*v);
            }
            if self.compensation {
                let n = w.len() as f32;
                let alpha = (sum_prog / n).max(1e-4) / (sum_t / n).max(1e-4);
                for v in w.iter_mut() {
                    *v *= alpha;
                }
            }
        }
        Ok(())
    }
}

/// `scale` if finite and `>= 0`, else an error naming `name`.
fn noise_scale(name: &'static str, scale: f32) -> Result<f32, Error> {
    if scale.is_finite() && scale >= 0.0 {
        Ok(scale)
    } else {
        Err(Error::InvalidParameter {
            name,
            requirement: "finite and >= 0",
        })
    }
}
