//! The layer visitor: a stack of dense layers ([`LayerStack`]) supplies the
//! traversal (order, layer numbers, per-layer buffers, the vectors carried
//! between layers); a pass ([`UpPass`], [`DownPass`], [`BackPass`]) does one
//! layer's arithmetic on [`DenseRef`] slices. The passes and their entry
//! points (`passes.rs`) are written once for every stack, so a network sized
//! at run time gets the bits of the const-generic one by construction.

use super::activation::Activation;
use super::dense::DenseRef;
use crate::error::Error;

/// One layer's per-sample values as slices (the fields of a
/// [`DenseCache`](crate::DenseCache)): `x` input, `z` pre-activation, `a`
/// output, `g = ∂f_k/∂a`, `delta = ∂f_k/∂z`, `rz = R{z}`, `ra = R{a}`.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct LayerCache<'a> {
    pub x: &'a mut [f32],
    pub z: &'a mut [f32],
    pub a: &'a mut [f32],
    pub g: &'a mut [f32],
    pub delta: &'a mut [f32],
    pub rz: &'a mut [f32],
    pub ra: &'a mut [f32],
}

/// What the layer below left in its cache: its output `a` (this layer's
/// input) and `ra = R{a}`.
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub struct Below<'a> {
    pub a: &'a [f32],
    pub ra: &'a [f32],
}

/// A layer's gradient: weights (row-major) and bias.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct LayerGrad<'a> {
    pub w: &'a mut [f32],
    pub b: &'a mut [f32],
}

/// The value a downward pass carries across the boundary between two
/// layers of width `W`: a vector `v` (`W`) and, for passes with
/// [`DownPass::MATRIX`], a matrix `m` (`W×W`, row-major; empty otherwise).
/// Zeroed when the walk starts.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Carry<'a> {
    pub v: &'a mut [f32],
    pub m: &'a mut [f32],
}

/// The vector a downward walk starts from at the output.
#[derive(Debug, Clone, Copy)]
pub enum Seed<'a> {
    /// The unit vector `e_k`.
    Unit(usize),
    /// Zeros.
    Zero,
    /// These values.
    Given(&'a [f32]),
}

impl Seed<'_> {
    /// Writes the seed into `out` (as many entries as `out` has).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut v = [9.0; 3];
    /// noisereg::Seed::Unit(1).write(&mut v);
    /// assert_eq!(v, [0.0, 1.0, 0.0]);
    /// ```
    #[inline(always)]
    pub fn write(self, out: &mut [f32]) {
        match self {
            Seed::Unit(k) => {
                for (j, s) in out.iter_mut().enumerate() {
                    *s = if j == k { 1.0 } else { 0.0 };
                }
            }
            Seed::Zero => out.fill(0.0),
            Seed::Given(v) => copy(v, out),
        }
    }
}

/// `dst[i] = src[i]` over the common prefix.
#[inline(always)]
pub(crate) fn copy(src: &[f32], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// A pass that visits the layers from the input up (forward, R-forward).
pub trait UpPass {
    /// Layer `index` (`below` is `None` at layer 0); `row` is scratch of the
    /// layer's input width.
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        cache: LayerCache<'_>,
        below: Option<Below<'_>>,
        row: &mut [f32],
    );
}

/// A pass that visits the layers from the output down with a mutable cache
/// (penalty, R-backward, Hessian trace).
pub trait DownPass {
    /// Whether the carries hold a `W×W` matrix.
    const MATRIX: bool = false;

    /// Layer `index`: `above` is the carry at its output (the seed at the
    /// last layer), `beneath` the one at its input (`None` at layer 0);
    /// `scratch` has the layer's output width.
    #[allow(clippy::too_many_arguments)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        cache: LayerCache<'_>,
        below: Option<Below<'_>>,
        grad: Option<LayerGrad<'_>>,
        above: Carry<'_>,
        beneath: Option<Carry<'_>>,
        scratch: &mut [f32],
    );
}

/// A pass that visits the layers from the output down reading the cache
/// (back-propagation of a loss gradient).
pub trait BackPass {
    /// Layer `index` with its input `x`, pre-activation `z` and output `a`:
    /// `g` is `∂ℓ/∂a` on entry, `gx` (`None` at layer 0) receives `∂ℓ/∂x`;
    /// `row` is scratch of the input width.
    #[allow(clippy::too_many_arguments)]
    fn layer<A: Activation>(
        &mut self,
        index: usize,
        layer: DenseRef<'_, A>,
        xza: [&[f32]; 3],
        grad: LayerGrad<'_>,
        g: &mut [f32],
        gx: Option<&mut [f32]>,
        row: &mut [f32],
    );
}

/// A stack of dense layers the passes walk, with its per-sample cache `C`.
///
/// A network sized at run time (the harness's `DynMlp`) implements it to
/// run the passes every [`Network`](crate::Network) runs: the stack supplies
/// the traversal, the passes ([`passes::forward_with`](crate::passes::forward_with),
/// [`passes::penalty`](crate::passes::penalty), …) the arithmetic, so two
/// stacks of the same layers give the same bits.
///
/// A walk visits every layer once, numbered from 0 at the input, with the
/// layer's cache, the layer below's (`None` at layer 0), its gradient (when
/// one is given) and the carries between layers, sized to the layers'
/// widths: a stack whose buffers do not fit its layers gives unspecified
/// values (never a panic in the passes).
pub trait LayerStack<C> {
    /// Where the passes add gradients (the network's own type for a
    /// network sized at run time).
    type Grad;

    /// Number of layers.
    fn layer_count(&self) -> usize;

    /// Input width.
    fn input_width(&self) -> usize;

    /// Output width.
    fn output_width(&self) -> usize;

    /// The last layer's output in `cache`.
    fn output_of<'c>(&self, cache: &'c C) -> &'c [f32];

    /// Visits layers `0, 1, …` with `cache`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `cache` does not fit the stack.
    fn walk_up<V: UpPass>(&self, cache: &mut C, pass: &mut V) -> Result<(), Error>;

    /// Visits layers `…, 1, 0` with `cache`, `grad`'s layers if given and
    /// the carries, the one at the output holding `seed`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `cache` or `grad` does not fit the stack.
    fn walk_down<V: DownPass>(
        &self,
        cache: &mut C,
        grad: Option<&mut Self::Grad>,
        seed: Seed<'_>,
        pass: &mut V,
    ) -> Result<(), Error>;

    /// Visits layers `…, 1, 0` reading `cache`, `g` at the output holding `seed`.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `cache` or `grad` does not fit the stack.
    fn walk_back<V: BackPass>(
        &self,
        cache: &C,
        grad: &mut Self::Grad,
        seed: Seed<'_>,
        pass: &mut V,
    ) -> Result<(), Error>;
}
