//! What a training target must offer: a finiteness check and label noise.

use crate::noise::label::LabelNoise;

/// A training target: a regression vector `[f32; K]` or a class label `usize`.
///
/// # Examples
///
/// ```
/// use noisereg::{LabelNoise, Target};
/// assert!(![1.0, f32::NAN].is_finite_target());
/// let mut off = LabelNoise::none();
/// assert_eq!(3usize.with_label_noise(&mut off), 3);
/// ```
pub trait Target: Clone {
    /// Whether every component is finite.
    fn is_finite_target(&self) -> bool;

    /// The target with label noise applied (class labels are returned
    /// unchanged: use [`SmoothedCrossEntropy`](crate::SmoothedCrossEntropy)).
    fn with_label_noise(&self, noise: &mut LabelNoise) -> Self;
}

impl<const K: usize> Target for [f32; K] {
    fn is_finite_target(&self) -> bool {
        self.iter().all(|v| v.is_finite())
    }

    fn with_label_noise(&self, noise: &mut LabelNoise) -> Self {
        let mut out = *self;
        noise.perturb(self, &mut out);
        out
    }
}

impl Target for usize {
    fn is_finite_target(&self) -> bool {
        true
    }

    fn with_label_noise(&self, _noise: &mut LabelNoise) -> Self {
        *self
    }
}
