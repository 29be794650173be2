//! Seeded Glorot and He initialisation.

use crate::sampler::BoxMuller;
use rand_core::Rng;

/// How to draw initial weights (biases start at zero).
///
/// # Examples
///
/// ```
/// use noisereg::Init;
/// assert_eq!(Init::Glorot.std(16, 32), (2.0f32 / 48.0).sqrt());
/// assert_eq!(Init::He.std(16, 32), (2.0f32 / 16.0).sqrt());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Init {
    /// Glorot (Xavier) normal: `N(0, 2 / (fan_in + fan_out))`, for tanh,
    /// sigmoid and linear layers.
    #[default]
    Glorot,
    /// He normal: `N(0, 2 / fan_in)`, for ReLU and softplus layers.
    He,
}

impl Init {
    /// Standard deviation of the weights of a layer with the given fans
    /// (`0` when both are zero).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(noisereg::Init::He.std(2, 7), 1.0);
    /// ```
    pub fn std(self, fan_in: usize, fan_out: usize) -> f32 {
        let fan = match self {
            Init::Glorot => fan_in as f32 + fan_out as f32,
            Init::He => fan_in as f32,
        };
        if fan > 0.0 {
            libm::sqrtf(2.0 / fan)
        } else {
            0.0
        }
    }

    /// Fills `w` (row-major, `b.len()` rows of `inputs`) with draws of this
    /// scheme and sets `b` to zero. Weights are drawn row by row with
    /// [`BoxMuller::standard`] scaled by [`std`](Self::std).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::Init;
    /// use rand_core::SeedableRng;
    /// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
    /// let (mut w, mut b) = ([0.0f32; 6], [1.0f32; 2]);
    /// Init::He.fill(3, &mut w, &mut b, &mut rng);
    /// assert_eq!(b, [0.0; 2]);
    /// assert!(w.iter().all(|v| v.abs() < 6.0) && w.iter().any(|v| *v != 0.0));
    /// ```
    pub fn fill<R: Rng + ?Sized>(self, inputs: usize, w: &mut [f32], b: &mut [f32], rng: &mut R) {
        let std = self.std(inputs, b.len());
        let mut normal = BoxMuller::standard();
        for v in w.iter_mut() {
            *v = std * normal.sample(rng);
        }
        b.fill(0.0);
    }
}
