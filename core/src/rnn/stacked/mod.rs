//! The two-layer stacked Elman network (issue 12): the type and its
//! [`Model`](crate::Model) impls; the workspace in [`work`], the steps the
//! driver runs in [`passes`].

mod passes;
mod rop;
mod work;

pub use work::StackedElmanWork;

use super::elman::cell::CellMut;
use super::params::draw_layer;
use super::{Readout, RecurrentNoise};
use crate::error::Error;
use crate::nn::{Activation, Identity, Init, Tanh};
use crate::parameters::Parameters;
use crate::perturbation::Perturbation;
use passes::StackedView;
use rand_core::Rng;

/// A two-layer stacked Elman network with `D` inputs per step, `H1` and `H2`
/// hidden units and `K` outputs:
/// `h¹_t = φ(W¹_x x_t + W¹_h h¹_{t−1} + b¹)`,
/// `h²_t = φ(W²_x h¹_t + W²_h h²_{t−1} + b²)`, `h¹_0 = h²_0 = 0`, readout
/// `f = V h²_T + c` (or `f_t = V h²_t + c` at every step).
///
/// A [`Model`](crate::Model) of [`Sequence<T, D>`](crate::Sequence) inputs
/// like [`Elman`](crate::Elman): `[f32; K]` outputs read out after the last
/// step, `Sequence<T, K>` outputs at every step.
///
/// As the noise sees it the network has 5 layers, so η has 5 entries:
/// 0 = (`wx1`, `b1`), 1 = (`wh1`, no bias), 2 = (`wx2`, `b2`),
/// 3 = (`wh2`, no bias), 4 = (`v`, `c`). Parameter slice `2l` is layer `l`'s
/// weights, `2l + 1` its bias (empty for 1 and 3).
///
/// Weight noise follows [`noise`](Self::noise) as in the single cell: per
/// sequence one draw of all 5 layers keyed on step 0; per step the cell
/// layers 0–3 are drawn with `begin_step(t)` before step t's forward, and
/// layers 1–3 (what back-propagation reads) again before its backward; the
/// readout is drawn at each step where it is applied (sequence to one: once,
/// keyed on step 0).
///
/// Implemented exactly: forward, back-propagation through time (the loss
/// gradient, clean or noisy), the penalty of either noise semantics and its
/// gradient (the R-operator through both cells; per step along each copy's
/// rank-one `η ⊙ G_t`), so the trainer's penalty mode, and the exact
/// η-weighted Hessian trace. As for one cell, the trainer rejects when the
/// noise is set what it cannot run exactly
/// ([`RecurrentNoise::check_weight_noise`]).
///
/// Cost of the trace per output: per sequence one R pass per noisy cell
/// parameter; per step one per step and hidden unit; each pass `O(T·P)`,
/// `P` the number of parameters.
///
/// # Memory
///
/// Parameters: `4·(H1·D + H1 + H1² + H2·H1 + H2 + H2² + K·H2 + K)` bytes. A
/// workspace ([`StackedElmanWork`]) holds `T·D + 9·T·(H1 + H2) + 2·T·K +
/// 2·(H1 + H2)` floats and three parameter-sized buffers (the draw, the
/// gradient or direction, a Hessian–vector product).
///
/// # Examples
///
/// ```
/// use noisereg::{Model, Sequence, StackedElman, Tanh};
/// let mut net = StackedElman::<1, 2, 3, 1, Tanh>::zeroed();
/// net.c = [0.5];
/// let mut y = [0.0];
/// net.forward(&Sequence([[1.0], [2.0]]), &mut y)?;
/// assert_eq!(y, [0.5]);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StackedElman<
    const D: usize,
    const H1: usize,
    const H2: usize,
    const K: usize,
    A: Activation = Tanh,
> {
    /// First cell's input weights, `H1` rows of `D`.
    pub wx1: [[f32; D]; H1],
    /// First cell's bias.
    pub b1: [f32; H1],
    /// First cell's recurrent weights.
    pub wh1: [[f32; H1]; H1],
    /// Second cell's input weights (from `h¹_t`), `H2` rows of `H1`.
    pub wx2: [[f32; H1]; H2],
    /// Second cell's bias.
    pub b2: [f32; H2],
    /// Second cell's recurrent weights.
    pub wh2: [[f32; H2]; H2],
    /// Readout weights, `K` rows of `H2`.
    pub v: [[f32; H2]; K],
    /// Readout bias.
    pub c: [f32; K],
    /// The cells' activation φ.
    pub act: A,
    /// Per-sequence or per-step weight noise.
    pub noise: RecurrentNoise,
}

/// The parameters of a stacked network (a gradient), mutably borrowed.
pub(in crate::rnn) struct ParamsMut<'a> {
    wx1: &'a mut [f32],
    b1: &'a mut [f32],
    wh1: &'a mut [f32],
    wx2: &'a mut [f32],
    b2: &'a mut [f32],
    wh2: &'a mut [f32],
    pub(super) v: &'a mut [f32],
    pub(super) c: &'a mut [f32],
}

impl ParamsMut<'_> {
    /// The cells' parameters.
    pub(super) fn cells_mut(&mut self) -> [CellMut<'_>; 2] {
        [
            CellMut {
                wx: self.wx1,
                b: self.b1,
                wh: self.wh1,
            },
            CellMut {
                wx: self.wx2,
                b: self.b2,
                wh: self.wh2,
            },
        ]
    }

    /// Slice `i` as [`Parameters::slice_mut`] numbers them.
    pub(super) fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        match i {
            0 => self.wx1,
            1 => self.b1,
            2 => self.wh1,
            4 => self.wx2,
            5 => self.b2,
            6 => self.wh2,
            8 => self.v,
            9 => self.c,
            _ => &mut [],
        }
    }
}

/// The weights a pass reads (clean or drawn).
#[derive(Clone, Copy)]
pub(super) struct W<'a> {
    pub(super) wx1: &'a [f32],
    pub(super) b1: &'a [f32],
    pub(super) wh1: &'a [f32],
    pub(super) wx2: &'a [f32],
    pub(super) b2: &'a [f32],
    pub(super) wh2: &'a [f32],
    pub(super) v: &'a [f32],
    pub(super) c: &'a [f32],
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, A: Activation>
    StackedElman<D, H1, H2, K, A>
{
    pub(super) const NONEMPTY: () = assert!(
        D > 0 && H1 > 0 && H2 > 0 && K > 0,
        "a stacked Elman network needs D, H1, H2, K > 0"
    );

    /// Every parameter zero, per-sequence noise.
    pub fn zeroed() -> Self {
        let () = Self::NONEMPTY;
        Self {
            wx1: [[0.0; D]; H1],
            b1: [0.0; H1],
            wh1: [[0.0; H1]; H1],
            wx2: [[0.0; H1]; H2],
            b2: [0.0; H2],
            wh2: [[0.0; H2]; H2],
            v: [[0.0; H2]; K],
            c: [0.0; K],
            act: A::default(),
            noise: RecurrentNoise::PerSequence,
        }
    }

    /// The same network with noise semantics `noise`.
    pub fn with_noise(mut self, noise: RecurrentNoise) -> Self {
        self.noise = noise;
        self
    }

    /// Random weights, each matrix with its fan-in (biases zero).
    pub fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        init.fill(D, self.wx1.as_flattened_mut(), &mut self.b1, rng);
        init.fill(H1, self.wh1.as_flattened_mut(), &mut [], rng);
        init.fill(H1, self.wx2.as_flattened_mut(), &mut self.b2, rng);
        init.fill(H2, self.wh2.as_flattened_mut(), &mut [], rng);
        init.fill(H2, self.v.as_flattened_mut(), &mut self.c, rng);
    }

    /// The parameters as mutable slices (a gradient for the driver).
    fn params_mut(&mut self) -> ParamsMut<'_> {
        ParamsMut {
            wx1: self.wx1.as_flattened_mut(),
            b1: &mut self.b1,
            wh1: self.wh1.as_flattened_mut(),
            wx2: self.wx2.as_flattened_mut(),
            b2: &mut self.b2,
            wh2: self.wh2.as_flattened_mut(),
            v: self.v.as_flattened_mut(),
            c: &mut self.c,
        }
    }

    fn w(&self) -> W<'_> {
        W {
            wx1: self.wx1.as_flattened(),
            b1: &self.b1,
            wh1: self.wh1.as_flattened(),
            wx2: self.wx2.as_flattened(),
            b2: &self.b2,
            wh2: self.wh2.as_flattened(),
            v: self.v.as_flattened(),
            c: &self.c,
        }
    }

    fn fill(&mut self, value: f32) {
        for i in 0..10 {
            self.slice_mut(i).fill(value);
        }
    }
}

/// One noise layer to draw: clean weights, clean bias, columns, outputs.
type Part<'a> = (&'a [f32], &'a [f32], usize, &'a mut [f32], &'a mut [f32]);

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, A: Activation>
    StackedElman<D, H1, H2, K, A>
{
    /// Draws `layers` (a mask of the 5 noise layers) for `step` into `noisy`.
    pub(super) fn draw_layers<P: Perturbation>(
        &self,
        p: &mut P,
        step: usize,
        layers: [bool; 5],
        noisy: &mut StackedElman<D, H1, H2, K, Identity>,
    ) {
        p.begin_step(step);
        let n = noisy;
        let w = self.w();
        let parts: [Part<'_>; 5] = [
            (w.wx1, w.b1, D, n.wx1.as_flattened_mut(), &mut n.b1),
            (w.wh1, &[], H1, n.wh1.as_flattened_mut(), &mut []),
            (w.wx2, w.b2, H1, n.wx2.as_flattened_mut(), &mut n.b2),
            (w.wh2, &[], H2, n.wh2.as_flattened_mut(), &mut []),
            (w.v, w.c, H2, n.v.as_flattened_mut(), &mut n.c),
        ];
        for (l, ((cw, cb, cols, ow, ob), on)) in parts.into_iter().zip(layers).enumerate() {
            if on {
                draw_layer(p, l, (cw, cb), cols, (ow, ob));
            }
        }
    }
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, A: Activation> Parameters
    for StackedElman<D, H1, H2, K, A>
{
    fn slice_count(&self) -> usize {
        10
    }

    fn slice(&self, i: usize) -> &[f32] {
        match i {
            0 => self.wx1.as_flattened(),
            1 => &self.b1,
            2 => self.wh1.as_flattened(),
            4 => self.wx2.as_flattened(),
            5 => &self.b2,
            6 => self.wh2.as_flattened(),
            8 => self.v.as_flattened(),
            9 => &self.c,
            _ => &[],
        }
    }

    fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        match i {
            0 => self.wx1.as_flattened_mut(),
            1 => &mut self.b1,
            2 => self.wh1.as_flattened_mut(),
            4 => self.wx2.as_flattened_mut(),
            5 => &mut self.b2,
            6 => self.wh2.as_flattened_mut(),
            8 => self.v.as_flattened_mut(),
            9 => &mut self.c,
            _ => &mut [],
        }
    }
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize, A>
    crate::rnn::model_impl::Unroll<T> for StackedElman<D, H1, H2, K, A>
where
    A: Activation,
{
    type Net<'n>
        = StackedView<'n, D, H1, H2, K, T, A>
    where
        Self: 'n;

    fn unroll(&self, readout: Readout) -> Result<Self::Net<'_>, Error> {
        Ok(StackedView { net: self, readout })
    }
}

rnn_model!(StackedElman<D, H1, H2, K>, StackedElmanWork, 5);
