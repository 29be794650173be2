//! The workspace of a [`StackedElman`] network.

use super::StackedElman;
use crate::nn::Identity;

/// The workspace of a [`StackedElman`] network on sequences of `T` steps.
///
/// # Examples
///
/// ```
/// let w = noisereg::StackedElmanWork::<2, 4, 3, 1, 5>::new();
/// assert_eq!(w, noisereg::StackedElmanWork::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StackedElmanWork<
    const D: usize,
    const H1: usize,
    const H2: usize,
    const K: usize,
    const T: usize,
> {
    pub(super) x: [[f32; D]; T],
    pub(super) z1: [[f32; H1]; T],
    pub(super) h1: [[f32; H1]; T],
    pub(super) z2: [[f32; H2]; T],
    pub(super) h2: [[f32; H2]; T],
    pub(super) y: [[f32; K]; T],
    pub(super) d1: [[f32; H1]; T],
    pub(super) d2: [[f32; H2]; T],
    pub(super) seed: [[f32; K]; T],
    pub(super) g1: [[f32; H1]; 2],
    pub(super) g2: [[f32; H2]; 2],
    pub(super) g1s: [[f32; H1]; T],
    pub(super) g2s: [[f32; H2]; T],
    pub(super) rz1: [[f32; H1]; T],
    pub(super) rh1: [[f32; H1]; T],
    pub(super) rd1: [[f32; H1]; T],
    pub(super) rz2: [[f32; H2]; T],
    pub(super) rh2: [[f32; H2]; T],
    pub(super) rd2: [[f32; H2]; T],
    pub(super) noisy: StackedElman<D, H1, H2, K, Identity>,
    pub(super) dir: StackedElman<D, H1, H2, K, Identity>,
    pub(super) hv: StackedElman<D, H1, H2, K, Identity>,
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize>
    StackedElmanWork<D, H1, H2, K, T>
{
    /// All zeros.
    pub fn new() -> Self {
        Self {
            x: [[0.0; D]; T],
            z1: [[0.0; H1]; T],
            h1: [[0.0; H1]; T],
            z2: [[0.0; H2]; T],
            h2: [[0.0; H2]; T],
            y: [[0.0; K]; T],
            d1: [[0.0; H1]; T],
            d2: [[0.0; H2]; T],
            seed: [[0.0; K]; T],
            g1: [[0.0; H1]; 2],
            g2: [[0.0; H2]; 2],
            g1s: [[0.0; H1]; T],
            g2s: [[0.0; H2]; T],
            rz1: [[0.0; H1]; T],
            rh1: [[0.0; H1]; T],
            rd1: [[0.0; H1]; T],
            rz2: [[0.0; H2]; T],
            rh2: [[0.0; H2]; T],
            rd2: [[0.0; H2]; T],
            noisy: StackedElman::zeroed(),
            dir: StackedElman::zeroed(),
            hv: StackedElman::zeroed(),
        }
    }

    /// The scratch the driver runs on: the workspace itself.
    pub(super) fn scratch(&mut self) -> &mut Self {
        self
    }

    /// The input and the states `h¹`, `h²`.
    pub(super) fn states(&self) -> (&[f32], &[f32], &[f32]) {
        (
            self.x.as_flattened(),
            self.h1.as_flattened(),
            self.h2.as_flattened(),
        )
    }

    /// `δ¹`, `δ²` and the seed.
    pub(super) fn deltas(&self) -> (&[f32], &[f32], &[f32]) {
        (
            self.d1.as_flattened(),
            self.d2.as_flattened(),
            self.seed.as_flattened(),
        )
    }
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize> Default
    for StackedElmanWork<D, H1, H2, K, T>
{
    fn default() -> Self {
        Self::new()
    }
}
