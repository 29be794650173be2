//! Label noise: Gaussian noise on regression targets.

use super::noise_stream::NoiseStream;
use super::validate::finite_non_negative;
use crate::error::Error;

/// Noise on the targets.
///
/// Gaussian `ỹ = y + ζ`, `ζ ~ N(0, σ² I)`, adds the constant `σ²K/2` to the
/// expected ½-squared-error loss and leaves its expected gradient unchanged
/// (THEORY §5). For classification the usual form of label noise is label
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
    std: f32,
    stream: NoiseStream,
}

impl LabelNoise {
    /// No label noise.
    pub fn none() -> Self {
        Self {
            std: 0.0,
            stream: NoiseStream::new(0),
        }
    }

    /// Gaussian noise of standard deviation `std` on regression targets.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `label_std` unless it is finite and `≥ 0`.
    pub fn gaussian(std: f32, seed: u64) -> Result<Self, Error> {
        Ok(Self {
            std: finite_non_negative("label_std", std)?,
            stream: NoiseStream::new(seed),
        })
    }

    /// The standard deviation.
    pub fn std(&self) -> f32 {
        self.std
    }

    /// Writes `y + ζ` into `out` with a fresh ζ (copies `y` when σ = 0).
    pub fn perturb<const K: usize>(&mut self, y: &[f32; K], out: &mut [f32; K]) {
        if self.std == 0.0 {
            *out = *y;
            return;
        }
        self.stream.restart(0);
        for (o, &v) in out.iter_mut().zip(y) {
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
