//! Symmetric b-bit weight quantisation (docs/theory.md §9): round to nearest,
//! stochastic rounding or subtractive dither, with one scale per row or per
//! layer.

use crate::error::Error;
use crate::parameters::Parameters;
use rand_core::Rng;

/// How a weight is mapped to the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Round to the nearest level (halves away from zero): one fixed draw of
    /// the error, no randomness.
    Nearest,
    /// Up with probability equal to the fractional position, else down:
    /// unbiased, error variance `Δ² p (1 − p)`.
    Stochastic,
    /// Subtractive dither: `Δ·round(w/Δ + u) − u·Δ` with `u ~ U[−½, ½)`
    /// shared by quantiser and reader. The error is uniform on `[−Δ/2, Δ/2)`
    /// whatever `w` is, variance `Δ²/12`. The grid index is not clamped, so
    /// a row's largest weight may reach index `±2^{b−1}`.
    SubtractiveDither,
}

/// Which weights share one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    /// One scale per output row (per output channel).
    #[default]
    PerRow,
    /// One scale per layer.
    PerLayer,
}

/// A validated quantiser: `bits` in `2..=8`, symmetric grid
/// `Δ = max|w| / (2^{b−1} − 1)`, levels `−(2^{b−1} − 1)..=2^{b−1} − 1`.
///
/// # Examples
///
/// ```
/// use noisereg::{Granularity, QuantConfig, Rounding};
/// let q = QuantConfig::new(8, Rounding::Nearest, Granularity::PerRow).unwrap();
/// assert_eq!(q.max_level(), 127);
/// assert!(QuantConfig::new(1, Rounding::Nearest, Granularity::PerRow).is_err());
/// assert!(QuantConfig::new(9, Rounding::Nearest, Granularity::PerRow).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantConfig {
    bits: u8,
    rounding: Rounding,
    granularity: Granularity,
}

impl QuantConfig {
    /// A quantiser to `bits` bits.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `bits` unless `2 <= bits <= 8`.
    pub fn new(bits: u8, rounding: Rounding, granularity: Granularity) -> Result<Self, Error> {
        if !(2..=8).contains(&bits) {
            return Err(Error::InvalidParameter {
                name: "bits",
                requirement: "between 2 and 8",
            });
        }
        Ok(Self {
            bits,
            rounding,
            granularity,
        })
    }

    /// Bits per weight.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The rounding.
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }

    /// The scale granularity.
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// The largest level, `2^{b−1} − 1`.
    pub fn max_level(&self) -> i32 {
        (1i32 << (self.bits - 1)) - 1
    }

    /// The grid step for weights whose largest magnitude is `max_abs`:
    /// `max_abs / max_level` (0 for an all-zero group; NaN propagates).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Granularity, QuantConfig, Rounding};
    /// let q = QuantConfig::new(3, Rounding::Nearest, Granularity::PerRow).unwrap();
    /// assert_eq!(q.step(1.5), 0.5);
    /// ```
    pub fn step(&self, max_abs: f32) -> f32 {
        max_abs / self.max_level() as f32
    }
}

/// A uniform draw on `[0, 1)` with 24 bits, from one `u32`.
#[inline]
pub(crate) fn uniform01<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Largest `|w|` (NaN if any is NaN).
pub(crate) fn max_abs(w: &[f32]) -> f32 {
    let mut m = 0.0f32;
    for &v in w {
        let a = libm::fabsf(v);
        if a > m || a.is_nan() {
            m = a;
        }
        if m.is_nan() {
            return m;
        }
    }
    m
}

/// Layer `l`'s weights and its row length, from the [`Parameters`] layout
/// (slice `2l` weights, `2l + 1` bias).
pub(crate) fn layer_shape<P: Parameters + ?Sized>(p: &P, l: usize) -> Result<usize, Error> {
    let n_out = p.slice(2 * l + 1).len();
    let n_w = p.slice(2 * l).len();
    if n_out == 0 || n_w == 0 || !n_w.is_multiple_of(n_out) {
        return Err(Error::InvalidParameter {
            name: "network layout",
            requirement: "slice 2l a non-empty OUT×IN weight matrix, slice 2l+1 its OUT biases",
        });
    }
    Ok(n_w / n_out)
}

/// Number of dense layers in a [`Parameters`] layout.
pub(crate) fn layer_count<P: Parameters + ?Sized>(p: &P) -> usize {
    p.slice_count() / 2
}

/// Quantises one group of weights in place with step `step` (one draw of
/// `rng` per weight for the random roundings, in order).
pub(crate) fn quantize_group<R: Rng + ?Sized>(
    w: &mut [f32],
    step: f32,
    cfg: &QuantConfig,
    rng: &mut R,
) {
    if step == 0.0 {
        return; // an all-zero group is already on every grid
    }
    let top = cfg.max_level() as f32;
    for v in w.iter_mut() {
        let x = *v / step;
        *v = match cfg.rounding {
            Rounding::Nearest => libm::roundf(x).clamp(-top, top) * step,
            Rounding::Stochastic => {
                let lo = libm::floorf(x);
                let up = uniform01(rng) < x - lo;
                (lo + if up { 1.0 } else { 0.0 }) * step
            }
            Rounding::SubtractiveDither => {
                let u = uniform01(rng) - 0.5;
                (libm::roundf(x + u) - u) * step
            }
        };
    }
}

/// Quantises every weight matrix of `params` (biases stay `f32`), layer by
/// layer from the input, rows in order; the random roundings draw one `u32`
/// per weight from `rng` in that order, so a seed fixes the bits.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `network layout` if the slices are not
/// `OUT×IN` weights followed by `OUT` biases; [`Error::NonFinite`] naming
/// `weights` if a weight is NaN or infinite (nothing is changed then).
///
/// # Examples
///
/// ```
/// use noisereg::{quantize_weights, Dense, Granularity, Network, QuantConfig, Rounding};
/// use rand_core::SeedableRng;
/// let mut layer = Dense::<2, 1>::zeroed();
/// layer.w = [[1.0, 0.3]];
/// let q = QuantConfig::new(2, Rounding::Nearest, Granularity::PerRow).unwrap();
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// quantize_weights(&mut layer, &q, &mut rng).unwrap(); // levels −1, 0, 1 of Δ = 1
/// assert_eq!(layer.w, [[1.0, 0.0]]);
/// ```
pub fn quantize_weights<P: Parameters + ?Sized, R: Rng + ?Sized>(
    params: &mut P,
    cfg: &QuantConfig,
    rng: &mut R,
) -> Result<(), Error> {
    let layers = layer_count(params);
    for l in 0..layers {
        layer_shape(params, l)?;
        if params.slice(2 * l).iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "weights" });
        }
    }
    for l in 0..layers {
        let n_in = layer_shape(params, l)?;
        let w = params.slice_mut(2 * l);
        match cfg.granularity {
            Granularity::PerLayer => {
                let step = cfg.step(max_abs(w));
                quantize_group(w, step, cfg, rng);
            }
            Granularity::PerRow => {
                for row in w.chunks_exact_mut(n_in) {
                    let step = cfg.step(max_abs(row));
                    quantize_group(row, step, cfg, rng);
                }
            }
        }
    }
    Ok(())
}

/// Writes every weight's grid step into the weight slices of `steps` (same
/// layout as `params`; bias slots get 0): the `Δ` of its row or layer.
///
/// # Errors
///
/// As [`quantize_weights`], and [`Error::LengthMismatch`] if the layouts differ.
pub fn quantization_steps<P: Parameters + ?Sized, S: Parameters + ?Sized>(
    params: &P,
    cfg: &QuantConfig,
    steps: &mut S,
) -> Result<(), Error> {
    crate::error::check_len(steps.slice_count(), params.slice_count())?;
    for l in 0..layer_count(params) {
        let n_in = layer_shape(params, l)?;
        for k in [2 * l, 2 * l + 1] {
            crate::error::check_len(steps.slice(k).len(), params.slice(k).len())?;
        }
        let w = params.slice(2 * l);
        if w.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "weights" });
        }
        let layer_step = cfg.step(max_abs(w));
        let out = steps.slice_mut(2 * l);
        for (row, srow) in w.chunks_exact(n_in).zip(out.chunks_exact_mut(n_in)) {
            let step = match cfg.granularity {
                Granularity::PerLayer => layer_step,
                Granularity::PerRow => cfg.step(max_abs(row)),
            };
            srow.fill(step);
        }
        steps.slice_mut(2 * l + 1).fill(0.0);
    }
    Ok(())
}
