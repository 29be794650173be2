//! Access to a model's parameters as contiguous slices.

/// A model whose parameters are a sequence of contiguous `f32` slices.
///
/// For networks of dense layers, slice `2l` holds layer `l`'s weights
/// (row-major, `OUT × IN`, counting layers from the input) and slice `2l + 1`
/// its bias. Gradients and optimiser state use the same type as the model, so
/// slice `i` of each lines up element for element.
///
/// The counts are methods, not constants, so that a network sized at run time
/// (in the std harness) shares the optimisers and noise of the const-generic
/// ones; a fixed-size network also knows them at compile time
/// ([`Network::PARAMS`](crate::Network::PARAMS)).
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, Network, Parameters};
/// let layer = Dense::<3, 2>::zeroed();
/// assert_eq!(layer.slice_count(), 2);
/// assert_eq!(layer.param_count(), 3 * 2 + 2);
/// assert!(layer.slice(2).is_empty());
/// ```
pub trait Parameters {
    /// Number of slices.
    fn slice_count(&self) -> usize;

    /// Slice `i`; empty when `i >= slice_count()`.
    fn slice(&self, i: usize) -> &[f32];

    /// Slice `i`, mutable; empty when `i >= slice_count()`.
    fn slice_mut(&mut self, i: usize) -> &mut [f32];

    /// Total number of parameters over all slices.
    fn param_count(&self) -> usize {
        (0..self.slice_count()).map(|i| self.slice(i).len()).sum()
    }

    /// Whether slice `i` holds weights (as opposed to biases).
    fn is_weight_slice(i: usize) -> bool {
        i.is_multiple_of(2)
    }
}
