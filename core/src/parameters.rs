//! Access to a model's parameters as contiguous slices.

/// A model whose parameters are a fixed sequence of contiguous `f32` slices.
///
/// For networks of dense layers, slice `2l` holds layer `l`'s weights
/// (row-major, `OUT × IN`, counting layers from the input) and slice `2l + 1`
/// its bias. Gradients and optimiser state use the same type as the model, so
/// slice `i` of each lines up element for element.
pub trait Parameters {
    /// Number of slices.
    const SLICES: usize;
    /// Total number of parameters over all slices.
    const LEN: usize;

    /// Slice `i`; empty when `i >= SLICES`.
    fn slice(&self, i: usize) -> &[f32];

    /// Slice `i`, mutable; empty when `i >= SLICES`.
    fn slice_mut(&mut self, i: usize) -> &mut [f32];

    /// Whether slice `i` holds weights (as opposed to biases).
    fn is_weight_slice(i: usize) -> bool {
        i % 2 == 0
    }
}
