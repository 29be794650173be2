//! The two-layer stacked Elman network (issue 12): the type and its
//! [`Model`](crate::Model) impls; the workspace in [`work`], the steps the
//! driver runs in [`passes`].

mod passes;
mod rop;
mod work;

pub use work::StackedElmanWork;

use super::driver;
use super::elman::cell::CellMut;
use super::params::{check_eta, draw_layer};
use super::{Readout, RecurrentNoise};
use crate::error::{Error, check_len};
use crate::nn::{Activation, Identity, Init, NoiseOn, Tanh};
use crate::parameters::Parameters;
use crate::perturbation::{Clean, Perturbation};
use passes::Unroll;
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
/// net.predict(&Sequence([[1.0], [2.0]]), &mut y)?;
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

    /// The network on sequences of `T` steps, as the driver runs it.
    fn unroll<const T: usize>(&self, readout: Readout) -> Unroll<'_, D, H1, H2, K, T, A> {
        Unroll { net: self, readout }
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

    /// The cells' parameters of `out` as gradients.
    pub(super) fn cells_mut(&mut self) -> [CellMut<'_>; 2] {
        [
            CellMut {
                wx: self.wx1.as_flattened_mut(),
                b: &mut self.b1,
                wh: self.wh1.as_flattened_mut(),
            },
            CellMut {
                wx: self.wx2.as_flattened_mut(),
                b: &mut self.b2,
                wh: self.wh2.as_flattened_mut(),
            },
        ]
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

macro_rules! stacked_model_for {
    ($y:ty) => {
        impl<
            const D: usize,
            const H1: usize,
            const H2: usize,
            const K: usize,
            const T: usize,
            A: Activation,
        > crate::Model<crate::Sequence<T, D>, $y> for StackedElman<D, H1, H2, K, A>
        {
            type Workspace = StackedElmanWork<D, H1, H2, K, T>;

            fn depth(&self) -> usize {
                5
            }

            fn check_weight_noise(&self, config: &crate::WeightNoiseConfig) -> Result<(), Error> {
                self.noise.check_weight_noise(config)
            }

            fn zeros_like(&self) -> Self {
                Self::zeroed().with_noise(self.noise)
            }

            fn workspace(&self) -> Self::Workspace {
                StackedElmanWork::new()
            }

            fn output_buffer(&self) -> $y {
                <$y as crate::rnn::model_impl::RnnOutput>::zeros()
            }

            fn predict(&self, x: &crate::Sequence<T, D>, y: &mut $y) -> Result<(), Error> {
                let mut ws = StackedElmanWork::new();
                self.forward_traced(x, &mut Clean, &mut ws, y)
            }

            fn predict_batch(
                &self,
                xs: &[crate::Sequence<T, D>],
                ys: &mut [$y],
            ) -> Result<(), Error> {
                check_len(xs.len(), ys.len())?;
                let mut ws = StackedElmanWork::new();
                for (x, y) in xs.iter().zip(ys) {
                    self.forward_traced(x, &mut Clean, &mut ws, y)?;
                }
                Ok(())
            }

            fn loss_grad_sum<Tg, L: crate::Loss<Tg>>(
                &self,
                loss: &L,
                xs: &[crate::Sequence<T, D>],
                targets: &[Tg],
                grad: &mut Self,
                total: &mut f32,
            ) -> Result<(), Error> {
                check_len(xs.len(), targets.len())?;
                let mut ws = StackedElmanWork::new();
                let (mut y, mut dy) = (
                    <$y as crate::rnn::model_impl::RnnOutput>::zeros(),
                    <$y as crate::rnn::model_impl::RnnOutput>::zeros(),
                );
                for (x, t) in xs.iter().zip(targets) {
                    self.forward_traced(x, &mut Clean, &mut ws, &mut y)?;
                    *total += loss.value_grad(y.as_ref(), t, dy.as_mut())?;
                    self.backward_traced(&mut ws, &dy, &mut Clean, grad)?;
                }
                Ok(())
            }

            fn forward_traced<P: Perturbation>(
                &self,
                x: &crate::Sequence<T, D>,
                p: &mut P,
                ws: &mut Self::Workspace,
                y: &mut $y,
            ) -> Result<(), Error> {
                let n = self.unroll::<T>(<$y as crate::rnn::model_impl::RnnOutput>::READOUT);
                driver::forward(&n, x.as_ref(), p, ws)?;
                y.as_mut()
                    .copy_from_slice(driver::Unrolled::dims(&n).output(ws.y.as_flattened()));
                Ok(())
            }

            fn backward_traced<P: Perturbation>(
                &self,
                ws: &mut Self::Workspace,
                dy: &$y,
                p: &mut P,
                grad: &mut Self,
            ) -> Result<(), Error> {
                let n = self.unroll::<T>(<$y as crate::rnn::model_impl::RnnOutput>::READOUT);
                driver::backward(&n, ws, dy.as_ref(), p, grad)
            }

            fn penalty_at(
                &self,
                x: &crate::Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
            ) -> Result<f32, Error> {
                let n = self.unroll::<T>(<$y as crate::rnn::model_impl::RnnOutput>::READOUT);
                driver::penalty(&n, x.as_ref(), eta, on, ws)
            }

            fn penalty_grad_at(
                &self,
                x: &crate::Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
                grad: &mut Self,
            ) -> Result<f32, Error> {
                let n = self.unroll::<T>(<$y as crate::rnn::model_impl::RnnOutput>::READOUT);
                check_eta(eta, 5)?;
                driver::forward(&n, x.as_ref(), &mut Clean, ws)?;
                let zero = <$y as crate::rnn::model_impl::RnnOutput>::zeros();
                driver::penalty_grad(&n, ws, zero.as_ref(), eta, on, grad)
            }

            fn penalty_grad_traced(
                &self,
                ws: &mut Self::Workspace,
                dy: &$y,
                eta: &[f32],
                on: NoiseOn,
                grad: &mut Self,
            ) -> Result<f32, Error> {
                let n = self.unroll::<T>(<$y as crate::rnn::model_impl::RnnOutput>::READOUT);
                driver::penalty_grad(&n, ws, dy.as_ref(), eta, on, grad)
            }

            fn seeded_penalty_traced(
                &self,
                ws: &mut Self::Workspace,
                seed: &$y,
                eta: &[f32],
                on: NoiseOn,
                grad: Option<&mut Self>,
            ) -> Result<f32, Error> {
                let n = self.unroll::<T>(<$y as crate::rnn::model_impl::RnnOutput>::READOUT);
                driver::seeded_penalty(&n, ws, seed.as_ref(), eta, on, grad)
            }

            fn hessian_trace_at(
                &self,
                x: &crate::Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
                traces: &mut $y,
            ) -> Result<(), Error> {
                let n = self.unroll::<T>(<$y as crate::rnn::model_impl::RnnOutput>::READOUT);
                driver::hessian_trace(&n, x.as_ref(), eta, on, ws, traces.as_mut())
            }
        }
    };
}

stacked_model_for!([f32; K]);
stacked_model_for!(crate::Sequence<T, K>);
