//! Input noise `x̃ = x + ξ`, `ξ ~ N(0, σ² I)`.

use crate::error::Error;
use crate::sampler::GaussianShift;
use crate::train::validate::finite_non_negative;

/// Gaussian noise on the inputs (data augmentation; for a linear model
/// exactly ridge regression, `docs/theory.md` §5).
///
/// Sample `n` of a run gets stream `n` of a counter-keyed generator, so the
/// noise is reproducible from the seed alone.
///
/// # Examples
///
/// ```
/// use noisereg::InputNoise;
/// let mut noise = InputNoise::gaussian(0.1, 3).unwrap();
/// let x = [1.0f32, 2.0];
/// let mut a = [0.0f32; 2];
/// noise.perturb(&x, &mut a);
/// assert_ne!(a, x);
/// assert!(InputNoise::gaussian(-0.1, 3).is_err());
/// let mut off = InputNoise::gaussian(0.0, 3).unwrap();
/// off.perturb(&x, &mut a);
/// assert_eq!(a, x);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InputNoise {
    shift: GaussianShift,
}

impl InputNoise {
    /// Noise of standard deviation `std` on every input (variance `std²`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `input_std` unless it is finite and `≥ 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::InputNoise;
    /// let mut noise = InputNoise::gaussian(0.5, 1).unwrap();
    /// let mut out = [0.0f32; 3];
    /// noise.perturb(&[1.0; 3], &mut out);
    /// assert!(out.iter().all(|&v| v != 1.0));
    /// assert_eq!(noise.draw_index(), 1);
    /// assert!(InputNoise::gaussian(f32::INFINITY, 1).is_err());
    /// ```
    pub fn gaussian(std: f32, seed: u64) -> Result<Self, Error> {
        Ok(Self {
            shift: GaussianShift::new(finite_non_negative("input_std", std)?, seed),
        })
    }

    /// No input noise.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::InputNoise;
    /// let mut off = InputNoise::none();
    /// let mut out = [0.0f32; 2];
    /// off.perturb(&[1.0, 2.0], &mut out);
    /// assert_eq!((out, off.std()), ([1.0, 2.0], 0.0));
    /// ```
    pub fn none() -> Self {
        Self {
            shift: GaussianShift::new(0.0, 0),
        }
    }

    /// The standard deviation.
    pub fn std(&self) -> f32 {
        self.shift.std()
    }

    /// Writes `x + ξ` into `out` with a fresh ξ (copies `x` when σ = 0).
    #[inline]
    pub fn perturb<const IN: usize>(&mut self, x: &[f32; IN], out: &mut [f32; IN]) {
        self.shift.perturb_equal(x, out);
    }

    /// [`perturb_slice`](Self::perturb_slice) for lengths equal by
    /// construction (an input and its clone): unchecked.
    #[inline]
    pub(crate) fn perturb_equal(&mut self, x: &[f32], out: &mut [f32]) {
        self.shift.perturb_equal(x, out);
    }

    /// [`perturb`](Self::perturb) for slices of any (equal) length: the
    /// values are those of the array form of that length.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `out` and `x` differ in length; nothing
    /// is drawn then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::InputNoise;
    /// let (mut a, mut b) = (InputNoise::gaussian(0.5, 1).unwrap(), InputNoise::gaussian(0.5, 1).unwrap());
    /// let (mut o1, mut o2) = ([0.0f32; 3], vec![0.0f32; 3]);
    /// a.perturb(&[1.0, 2.0, 3.0], &mut o1);
    /// b.perturb_slice(&[1.0, 2.0, 3.0], &mut o2)?;
    /// assert_eq!(o1.to_vec(), o2);
    /// assert!(b.perturb_slice(&[1.0], &mut o2).is_err());
    /// # Ok::<(), noisereg::Error>(())
    /// ```
    pub fn perturb_slice(&mut self, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        self.shift.perturb(x, out)
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
