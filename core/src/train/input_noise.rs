//! Input noise `x̃ = x + ξ`, `ξ ~ N(0, σ² I)`.

use super::noise_stream::NoiseStream;
use super::validate::finite_non_negative;
use crate::error::Error;

/// Gaussian noise on the inputs (data augmentation; for a linear model
/// exactly ridge regression, THEORY §5).
///
/// Sample `n` of a run gets stream `n` of a counter-keyed generator, so the
/// noise is reproducible from the seed alone.
///
/// # Examples
///
/// ```
/// use noisereg::InputNoise;
/// let mut noise = InputNoise::new(0.1, 3).unwrap();
/// let x = [1.0f32, 2.0];
/// let mut a = [0.0f32; 2];
/// noise.perturb(&x, &mut a);
/// assert_ne!(a, x);
/// assert!(InputNoise::new(-0.1, 3).is_err());
/// let mut off = InputNoise::new(0.0, 3).unwrap();
/// off.perturb(&x, &mut a);
/// assert_eq!(a, x);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InputNoise {
    std: f32,
    stream: NoiseStream,
}

impl InputNoise {
    /// Noise of standard deviation `std` on every input (variance `std²`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `input_std` unless it is finite and `≥ 0`.
    pub fn new(std: f32, seed: u64) -> Result<Self, Error> {
        Ok(Self {
            std: finite_non_negative("input_std", std)?,
            stream: NoiseStream::new(seed),
        })
    }

    /// No input noise.
    pub fn off() -> Self {
        Self {
            std: 0.0,
            stream: NoiseStream::new(0),
        }
    }

    /// The standard deviation.
    pub fn std(&self) -> f32 {
        self.std
    }

    /// Writes `x + ξ` into `out` with a fresh ξ (copies `x` when σ = 0).
    pub fn perturb<const IN: usize>(&mut self, x: &[f32; IN], out: &mut [f32; IN]) {
        if self.std == 0.0 {
            *out = *x;
            return;
        }
        self.stream.restart(0);
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v + self.std * self.stream.next();
        }
        self.stream.advance();
    }

    /// Index of the next draw.
    pub fn draw_index(&self) -> u64 {
        self.stream.draw()
    }

    /// Jumps to draw number `draw` (to restore a state).
    pub fn set_draw_index(&mut self, draw: u64) {
        self.stream.set_draw(draw);
    }
}
