//! The dense layer: const-generic storage and its run-time-sized view.

use super::activation::{Activation, Identity};
use super::block::BLOCK;
use crate::error::Error;
use crate::parameters::Parameters;

/// A dense layer `a = σ(W x + b)` with sizes fixed at compile time.
///
/// Weights are row-major: `w[o][i]` multiplies input `i` for output `o`.
/// The arithmetic lives in [`DenseRef`], the run-time-sized view returned by
/// [`Dense::view`], so a network sized at run time that calls the same
/// functions gets the same bits.
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, Model, Network, Tanh};
/// let mut layer = Dense::<2, 1, Tanh>::zeroed();
/// layer.w = [[1.0, -1.0]];
/// let mut y = [0.0];
/// layer.forward(&[0.5, 0.5], &mut y)?;
/// assert_eq!(y, [0.0]);
/// # Ok::<(), noisereg::Error>(())
/// ```
///
/// A layer without inputs or outputs does not compile:
///
/// ```compile_fail,E0080
/// use noisereg::{Dense, Network};
/// let _layer = Dense::<0, 3>::zeroed();
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dense<const IN: usize, const OUT: usize, A: Activation = Identity> {
    /// Weights, `OUT` rows of `IN`.
    pub w: [[f32; IN]; OUT],
    /// Bias.
    pub b: [f32; OUT],
    /// Activation.
    pub act: A,
}

impl<const IN: usize, const OUT: usize, A: Activation> Dense<IN, OUT, A> {
    /// Both sizes must be positive (checked at compile time).
    pub(crate) const NONEMPTY: () = assert!(IN > 0 && OUT > 0, "a layer needs IN > 0 and OUT > 0");

    /// Number of weights, `IN·OUT`.
    pub const WEIGHTS: usize = IN * OUT;

    /// The layer as a run-time-sized view.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Identity, Network};
    /// let layer = Dense::<3, 2, Identity>::zeroed();
    /// let v = layer.view();
    /// assert_eq!((v.inputs(), v.outputs()), (3, 2));
    /// ```
    #[inline(always)]
    pub fn view(&self) -> DenseRef<'_, A> {
        let () = Self::NONEMPTY;
        DenseRef {
            w: self.w.as_flattened(),
            b: &self.b,
            act: self.act,
            n_in: IN,
        }
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Parameters for Dense<IN, OUT, A> {
    fn slice_count(&self) -> usize {
        2
    }

    fn slice(&self, i: usize) -> &[f32] {
        match i {
            0 => self.w.as_flattened(),
            1 => &self.b,
            _ => &[],
        }
    }

    fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        match i {
            0 => self.w.as_flattened_mut(),
            1 => &mut self.b,
            _ => &mut [],
        }
    }
}

/// One layer's per-sample values, filled by the passes of a network.
///
/// `x` is the layer's input, `z` the pre-activation (after any
/// [`Perturbation::pre_activation`](crate::Perturbation::pre_activation)),
/// `a = σ(z)`; `g = ∂f_k/∂a` and `delta = ∂f_k/∂z` for the output `k` of the
/// last penalty pass; `rz`, `ra` the R-operator's `R{z}`, `R{a}`.
///
/// # Examples
///
/// ```
/// let c = noisereg::DenseCache::<3, 2>::new();
/// assert_eq!(c.x, [0.0; 3]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseCache<const IN: usize, const OUT: usize> {
    /// Input.
    pub x: [f32; IN],
    /// Pre-activation.
    pub z: [f32; OUT],
    /// Output `σ(z)`.
    pub a: [f32; OUT],
    /// `∂f_k/∂a`.
    pub g: [f32; OUT],
    /// `∂f_k/∂z`.
    pub delta: [f32; OUT],
    /// `R{z}`.
    pub rz: [f32; OUT],
    /// `R{a}`.
    pub ra: [f32; OUT],
}

impl<const IN: usize, const OUT: usize> DenseCache<IN, OUT> {
    /// All zeros.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(noisereg::DenseCache::<1, 1>::new().z, [0.0]);
    /// ```
    pub const fn new() -> Self {
        Self {
            x: [0.0; IN],
            z: [0.0; OUT],
            a: [0.0; OUT],
            g: [0.0; OUT],
            delta: [0.0; OUT],
            rz: [0.0; OUT],
            ra: [0.0; OUT],
        }
    }
}

impl<const IN: usize, const OUT: usize> Default for DenseCache<IN, OUT> {
    fn default() -> Self {
        Self::new()
    }
}

/// One layer's values for a block of up to [`BLOCK`](crate::BLOCK) samples,
/// filled by the networks' batch passes: the transposed weights `wt` (packed
/// once per batch), pre-activations `z`, outputs `a`, the backward seeds `g`
/// and `δ`.
///
/// # Examples
///
/// ```
/// let b = noisereg::DenseBlock::<3, 2>::new();
/// assert_eq!((b.a[0], b.wt[2]), ([0.0; 2], [0.0; 2]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseBlock<const IN: usize, const OUT: usize> {
    /// `Wᵀ`: `IN` rows of `OUT`.
    pub wt: [[f32; OUT]; IN],
    /// Pre-activations.
    pub z: [[f32; OUT]; BLOCK],
    /// Outputs `σ(z)`.
    pub a: [[f32; OUT]; BLOCK],
    /// Gradients with respect to the outputs.
    pub g: [[f32; OUT]; BLOCK],
    /// Gradients with respect to the pre-activations.
    pub d: [[f32; OUT]; BLOCK],
    /// R-operator values `R{z}` (R-forward).
    pub rz: [[f32; OUT]; BLOCK],
    /// R-operator values `R{a}` (R-forward).
    pub ra: [[f32; OUT]; BLOCK],
    /// `R{g}` on entry to the R-backward, `R{δ}` after it.
    pub rg: [[f32; OUT]; BLOCK],
}

impl<const IN: usize, const OUT: usize> DenseBlock<IN, OUT> {
    /// All zeros.
    pub const fn new() -> Self {
        Self {
            wt: [[0.0; OUT]; IN],
            z: [[0.0; OUT]; BLOCK],
            a: [[0.0; OUT]; BLOCK],
            g: [[0.0; OUT]; BLOCK],
            d: [[0.0; OUT]; BLOCK],
            rz: [[0.0; OUT]; BLOCK],
            ra: [[0.0; OUT]; BLOCK],
            rg: [[0.0; OUT]; BLOCK],
        }
    }
}

impl<const IN: usize, const OUT: usize> Default for DenseBlock<IN, OUT> {
    fn default() -> Self {
        Self::new()
    }
}

/// A dense layer over borrowed slices, sized at run time: the functions that
/// do every layer pass's arithmetic.
///
/// The passes of every network call exactly these functions, layer by layer
/// ([`passes`](crate::passes)). Each function checks the lengths of the
/// buffers it is given.
///
/// # Examples
///
/// ```
/// use noisereg::{Clean, DenseRef, Identity};
/// let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 rows of 3
/// let layer = DenseRef::new(&w, &[0.5, 0.0], 3, Identity).unwrap();
/// let (mut row, mut z, mut a) = ([0.0; 3], [0.0; 2], [0.0; 2]);
/// layer.forward(0, &[1.0, 0.0, 1.0], &mut Clean, &mut row, &mut z, &mut a).unwrap();
/// assert_eq!(a, [4.5, 10.0]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DenseRef<'a, A> {
    pub(crate) w: &'a [f32],
    pub(crate) b: &'a [f32],
    pub(crate) act: A,
    pub(crate) n_in: usize,
}

impl<'a, A: Activation> DenseRef<'a, A> {
    /// A view of weights `w` (row-major, `b.len()` rows of `inputs`) and bias `b`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `inputs` or `b.len()` is zero;
    /// [`Error::LengthMismatch`] if `w.len() != inputs · b.len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{DenseRef, Tanh};
    /// assert!(DenseRef::new(&[0.0; 6], &[0.0; 2], 3, Tanh).is_ok());
    /// assert!(DenseRef::new(&[0.0; 5], &[0.0; 2], 3, Tanh).is_err());
    /// ```
    pub fn new(w: &'a [f32], b: &'a [f32], inputs: usize, act: A) -> Result<Self, Error> {
        if inputs == 0 || b.is_empty() {
            return Err(Error::InvalidParameter {
                name: "layer size",
                requirement: "at least one input and one output",
            });
        }
        let want = inputs.saturating_mul(b.len());
        crate::error::check_len(w.len(), want)?;
        Ok(Self {
            w,
            b,
            act,
            n_in: inputs,
        })
    }

    /// Number of inputs.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = noisereg::DenseRef::new(&[0.0; 6], &[0.0; 3], 2, noisereg::Relu).unwrap();
    /// assert_eq!(v.inputs(), 2);
    /// ```
    #[inline(always)]
    pub fn inputs(&self) -> usize {
        self.n_in
    }

    /// Number of outputs.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = noisereg::DenseRef::new(&[0.0; 6], &[0.0; 3], 2, noisereg::Relu).unwrap();
    /// assert_eq!(v.outputs(), 3);
    /// ```
    #[inline(always)]
    pub fn outputs(&self) -> usize {
        self.b.len()
    }

    /// Weights, row-major.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = noisereg::DenseRef::new(&[1.0, 2.0], &[0.0], 2, noisereg::Relu).unwrap();
    /// assert_eq!(v.weights(), &[1.0, 2.0]);
    /// ```
    #[inline(always)]
    pub fn weights(&self) -> &'a [f32] {
        self.w
    }

    /// Bias.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = noisereg::DenseRef::new(&[1.0, 2.0], &[3.0], 2, noisereg::Relu).unwrap();
    /// assert_eq!(v.bias(), &[3.0]);
    /// ```
    #[inline(always)]
    pub fn bias(&self) -> &'a [f32] {
        self.b
    }

    /// `Ok` when every length in `ins` is `inputs()` and every one in `outs` is `outputs()`.
    #[inline(always)]
    pub(crate) fn check(&self, ins: &[usize], outs: &[usize]) -> Result<(), Error> {
        for &n in ins {
            crate::error::check_len(n, self.n_in)?;
        }
        for &n in outs {
            crate::error::check_len(n, self.b.len())?;
        }
        Ok(())
    }
}
