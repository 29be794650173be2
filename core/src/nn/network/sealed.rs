//! The plumbing of [`Network`](super::Network), sealed: the walks of the
//! layer visitor through nested pairs (layer numbering, the stack arrays
//! carried between layers) and the block buffers of the batch passes. The
//! trait is public in a private module, so users can neither name nor
//! implement it (nor `Network`); the walks, [`Nested::output`] and
//! [`Nested::new_block`] take a [`Token`] only this crate makes, so they
//! cannot be called from outside either (the other block methods need a
//! block from `new_block`).

use super::super::block::BLOCK;
use super::super::penalty::NoiseOn;
use super::super::stack::{BackPass, Below, Carry, DownPass, UpPass};
use core::fmt::Debug;

/// Proof that the caller is this crate.
#[derive(Debug, Clone, Copy)]
pub struct Token(());

/// The crate's [`Token`].
pub(super) const TOKEN: Token = Token(());

/// The walks and block passes of a const-generic stack with cache `C`,
/// numbering its first layer `first`.
pub trait Nested<const IN: usize, const OUT: usize, C>: Sized {
    /// Visits the layers from the input up; `below` is the layer under the
    /// first one.
    fn walk_up_from<V: UpPass>(
        &self,
        _: Token,
        first: usize,
        cache: &mut C,
        below: Option<Below<'_>>,
        pass: &mut V,
    );

    /// Visits the layers from the output down; `above` is the carry at the
    /// output, `beneath` the one at the input (`None`: the input layer).
    #[allow(clippy::too_many_arguments)]
    fn walk_down_from<V: DownPass>(
        &self,
        _: Token,
        first: usize,
        cache: &mut C,
        below: Option<Below<'_>>,
        grad: Option<&mut Self>,
        above: Carry<'_>,
        beneath: Option<Carry<'_>>,
        pass: &mut V,
    );

    /// Visits the layers from the output down reading `cache`; `g` at the
    /// output, `gx` at the input (`None`: the input layer).
    #[allow(clippy::too_many_arguments)]
    fn walk_back_from<V: BackPass>(
        &self,
        _: Token,
        first: usize,
        cache: &C,
        grad: &mut Self,
        g: &mut [f32; OUT],
        gx: Option<&mut [f32; IN]>,
        pass: &mut V,
    );

    /// The last layer's output.
    fn output(_: Token, cache: &C) -> &[f32; OUT];

    /// Per-layer values of a block of up to [`BLOCK`] samples.
    type Block: Clone + Debug;

    /// A zeroed block.
    fn new_block(_: Token) -> Self::Block;

    /// Packs what the block passes read once per batch (`Wᵀ` of every layer).
    fn prepare_block(&self, blk: &mut Self::Block);

    /// Clean forward pass of `xs` (at most [`BLOCK`] samples) into `blk`,
    /// prepared by [`prepare_block`](Self::prepare_block).
    fn forward_block(&self, xs: &[[f32; IN]], blk: &mut Self::Block);

    /// The outputs of the last [`forward_block`](Self::forward_block).
    fn block_output(blk: &Self::Block) -> &[[f32; OUT]; BLOCK];

    /// Where the caller puts the output seeds (`∂ℓ/∂y` or `∂f_k/∂y`) of the
    /// block before [`backward_block`](Self::backward_block) or
    /// [`penalty_block`](Self::penalty_block).
    fn block_seed(blk: &mut Self::Block) -> &mut [[f32; OUT]; BLOCK];

    /// Clean backward pass of the block from the seeds: adds the gradient
    /// into `grad`, samples in order; writes `∂ℓ/∂x` into `dxs` when given.
    fn backward_block(
        &self,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        grad: &mut Self,
        dxs: Option<&mut [[f32; IN]]>,
    );

    /// The penalty sweep of the block from the seeds `∂f_k/∂y`: adds
    /// `Σ_l η_l (‖x_l‖² + b)‖δ_l‖²` (from the output layer down) to `acc[s]`.
    #[allow(clippy::too_many_arguments)]
    fn penalty_block(
        &self,
        first: usize,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        eta: &[f32],
        on: NoiseOn,
        acc: &mut [f32],
        dxs: Option<&mut [[f32; IN]]>,
    );

    /// Where the caller puts `R{g}` at the output (zero for the penalty)
    /// before [`r_backward_block`](Self::r_backward_block).
    fn block_rseed(blk: &mut Self::Block) -> &mut [[f32; OUT]; BLOCK];

    /// R-forward of the block through every layer from the input (`rxs =
    /// None`: `R{x} = 0`); needs [`penalty_block`](Self::penalty_block) first.
    fn r_forward_block(
        &self,
        first: usize,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        eta: &[f32],
        on: NoiseOn,
        rxs: Option<&[[f32; IN]]>,
    );

    /// R-backward of the block from the output (`R{g}` from
    /// [`block_rseed`](Self::block_rseed)), adding `H_{f_k} v + cs[s]·∇_θ f_k`
    /// of every sample into `grad`; `rxs` as given to
    /// [`r_forward_block`](Self::r_forward_block).
    #[allow(clippy::too_many_arguments)]
    fn r_backward_block(
        &self,
        first: usize,
        xs: &[[f32; IN]],
        blk: &mut Self::Block,
        cs: &[f32],
        eta: &[f32],
        rxs: Option<&[[f32; IN]]>,
        grad: &mut Self,
        rgxs: Option<&mut [[f32; IN]]>,
    );
}
