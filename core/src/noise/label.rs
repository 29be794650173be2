//! Label noise: Gaussian noise on regression targets.

use crate::error::Error;
use crate::sampler::GaussianShift;
use crate::train::validate::finite_non_negative;

/// Noise on the targets.
///
/// Gaussian `ỹ = y + ζ`, `ζ ~ N(0, σ² I)`, adds the constant `σ²K/2` to the
/// expected ½-squared-error loss and leaves its expected gradient unchanged
/// (`docs/theory.md` §5). For classification the usual form of label noise is label
/// smoothing: see [`SmoothedCrossEntropy`](crate::SmoothedCrossEntropy).
///
/// # Examples
///
/// ```
/// use noisereg::LabelNoise;
/// let mut noise = LabelNoise::gaussian(0.1, 0).unwrap();
/// let mut y = [0.0f32; 2];
/// noise.perturb(&[1.0, 2.0], &mut y);
/// assert!(y != [1.0, 2.0] && (y[0] - 1.0).abs() < 0.6);
/// assert!(LabelNoise::gaussian(f32::INFINITY, 0).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LabelNoise {
    shift: GaussianShift,
}

impl LabelNoise {
    /// No label noise.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::LabelNoise;
    /// let mut none = LabelNoise::none();
    /// let mut out = [0.0f32; 1];
    /// none.perturb(&[3.0], &mut out);
    /// assert_eq!(out, [3.0]);
    /// ```
    pub fn none() -> Self {
        Self {
            shift: GaussianShift::new(0.0, 0),
        }
    }

    /// Gaussian noise of standard deviation `std` on regression targets.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `label_std` unless it is finite and `≥ 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::LabelNoise;
    /// let mut noise = LabelNoise::gaussian(0.5, 1).unwrap();
    /// let mut out = [0.0f32; 1];
    /// noise.perturb(&[1.0], &mut out);
    /// assert_ne!(out, [1.0]);
    /// assert!(LabelNoise::gaussian(-1.0, 1).is_err());
    /// ```
    pub fn gaussian(std: f32, seed: u64) -> Result<Self, Error> {
        Ok(Self {
            shift: GaussianShift::new(finite_non_negative("label_std", std)?, seed),
        })
    }

    /// The standard deviation.
    pub fn std(&self) -> f32 {
        self.shift.std()
    }

    /// Writes `y + ζ` into `out` with a fresh ζ (copies `y` when σ = 0).
    #[inline]
    pub fn perturb<const K: usize>(&mut self, y: &[f32; K], out: &mut [f32; K]) {
        self.shift.perturb_equal(y, out);
    }

    /// [`perturb`](Self::perturb) for targets of a length known at run time.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `out` and `y` differ in length; nothing
    /// is drawn then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::LabelNoise;
    /// let mut off = LabelNoise::none();
    /// let mut out = vec![0.0f32; 2];
    /// off.perturb_slice(&[1.0, 2.0], &mut out)?;
    /// assert_eq!(out, [1.0, 2.0]);
    /// assert!(off.perturb_slice(&[1.0], &mut out).is_err());
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    pub fn perturb_slice(&mut self, y: &[f32], out: &mut [f32]) -> Result<(), Error> {
        self.shift.perturb(y, out)
    }

    /// Index of the next draw.
    pub fn draw_index(&self) -> u64 {
        self.shift.draw_index()
    }

    /// Jumps to draw number `draw` (to restore a state).
    pub fn set_draw_index(&mut self, draw: u64) {
        self.shift.set_draw_index(draw);
    }
}
