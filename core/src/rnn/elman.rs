//! The const-generic Elman network: owns arrays, calls [`ElmanRef`].

use super::elman_ref::{ElmanParams, ElmanParamsMut, ElmanRef, ElmanScratch};
use super::{Readout, RecurrentNoise, RnnDims, Sequence};
use crate::error::{Error, check_len};
use crate::nn::{Activation, Init, Loss, NoiseOn, Tanh};
use crate::parameters::Parameters;
use crate::perturbation::{Clean, Perturbation};
use crate::train::Model;
use rand_core::Rng;

/// An Elman network with `D` inputs per step, `H` hidden units and `K`
/// outputs: `h_t = φ(W_x x_t + W_h h_{t−1} + b)`, `h_0 = 0`, readout
/// `f = V h_T + c`.
///
/// It is a [`Model`] of [`Sequence<T, D>`] inputs for any length `T`: with
/// `[f32; K]` outputs it reads out after the last step (sequence to one),
/// with `Sequence<T, K>` outputs at every step (sequence to sequence, the
/// loss summed over t). [`noise`](Self::noise) chooses what weight noise
/// means (one draw per sequence or per step); the trainer's noise, the
/// penalty and the trace all follow it.
///
/// Parameter slices (for the optimisers and the noise): 0 `wx`, 1 `b`,
/// 2 `wh`, 3 (empty: the recurrent layer has no bias of its own), 4 `v`,
/// 5 `c`; so η has 3 entries: input weights and cell bias, recurrent
/// weights, readout.
///
/// The passes are those of [`ElmanRef`], over [`view`](Self::view).
///
/// # Memory
///
/// Parameters: `4·(H·D + H + H·H + K·H + K)` bytes. A workspace
/// ([`ElmanWork`]) holds `T·D + 7·T·H + 2·T·K + 2·H` floats and two more
/// parameter-sized buffers (the materialised weight-noise draw and the
/// gradient or R-operator direction).
///
/// # Examples
///
/// ```
/// use noisereg::{Elman, Model, Sequence, Tanh};
/// let mut net = Elman::<1, 2, 1, Tanh>::zeroed();
/// net.c = [0.5];
/// let mut y = [0.0];
/// net.predict(&Sequence([[1.0], [2.0], [3.0]]), &mut y)?;
/// assert_eq!(y, [0.5]);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elman<const D: usize, const H: usize, const K: usize, A: Activation = Tanh> {
    /// Input weights, `H` rows of `D`.
    pub wx: [[f32; D]; H],
    /// Cell bias.
    pub b: [f32; H],
    /// Recurrent weights, `H` rows of `H`.
    pub wh: [[f32; H]; H],
    /// Readout weights, `K` rows of `H`.
    pub v: [[f32; H]; K],
    /// Readout bias.
    pub c: [f32; K],
    /// The cell's activation φ.
    pub act: A,
    /// Per-sequence or per-step weight noise.
    pub noise: RecurrentNoise,
}

impl<const D: usize, const H: usize, const K: usize, A: Activation> Elman<D, H, K, A> {
    const NONEMPTY: () = assert!(
        D > 0 && H > 0 && K > 0,
        "an Elman network needs D, H, K > 0"
    );

    /// Every parameter zero, per-sequence noise.
    pub fn zeroed() -> Self {
        let () = Self::NONEMPTY;
        Self {
            wx: [[0.0; D]; H],
            b: [0.0; H],
            wh: [[0.0; H]; H],
            v: [[0.0; H]; K],
            c: [0.0; K],
            act: A::default(),
            noise: RecurrentNoise::PerSequence,
        }
    }

    /// The same network with noise semantics `noise`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Elman, RecurrentNoise};
    /// let net = Elman::<1, 1, 1>::zeroed().with_noise(RecurrentNoise::PerStep);
    /// assert_eq!(net.noise, RecurrentNoise::PerStep);
    /// ```
    pub fn with_noise(mut self, noise: RecurrentNoise) -> Self {
        self.noise = noise;
        self
    }

    /// Random weights: `wx` with fan-in `D`, `wh` with fan-in `H`, `v` with
    /// fan-in `H` (biases zero).
    pub fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        init.fill(D, self.wx.as_flattened_mut(), &mut self.b, rng);
        init.fill(H, self.wh.as_flattened_mut(), &mut [], rng);
        init.fill(H, self.v.as_flattened_mut(), &mut self.c, rng);
    }

    /// The network as a run-time-sized view for sequences of `steps` steps.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `steps` is 0.
    pub fn view(&self, steps: usize, readout: Readout) -> Result<ElmanRef<'_, A>, Error> {
        let () = Self::NONEMPTY;
        let dims = RnnDims {
            input: D,
            hidden: H,
            output: K,
            steps,
            readout,
        };
        ElmanRef::new(
            ElmanParams {
                wx: self.wx.as_flattened(),
                b: &self.b,
                wh: self.wh.as_flattened(),
                v: self.v.as_flattened(),
                c: &self.c,
            },
            self.act,
            dims,
            self.noise,
        )
    }

    /// The parameters as mutable slices (a gradient for the view's passes).
    pub fn params_mut(&mut self) -> ElmanParamsMut<'_> {
        ElmanParamsMut {
            wx: self.wx.as_flattened_mut(),
            b: &mut self.b,
            wh: self.wh.as_flattened_mut(),
            v: self.v.as_flattened_mut(),
            c: &mut self.c,
        }
    }
}

impl<const D: usize, const H: usize, const K: usize, A: Activation> Parameters
    for Elman<D, H, K, A>
{
    fn slice_count(&self) -> usize {
        6
    }

    fn slice(&self, i: usize) -> &[f32] {
        match i {
            0 => self.wx.as_flattened(),
            1 => &self.b,
            2 => self.wh.as_flattened(),
            4 => self.v.as_flattened(),
            5 => &self.c,
            _ => &[],
        }
    }

    fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        match i {
            0 => self.wx.as_flattened_mut(),
            1 => &mut self.b,
            2 => self.wh.as_flattened_mut(),
            4 => self.v.as_flattened_mut(),
            5 => &mut self.c,
            _ => &mut [],
        }
    }
}

/// The workspace of an [`Elman`] network on sequences of `T` steps (see
/// [`ElmanScratch`] for the fields).
///
/// # Examples
///
/// ```
/// let mut w = noisereg::ElmanWork::<2, 4, 1, 5>::new();
/// assert_eq!(w.scratch().h.len(), 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElmanWork<const D: usize, const H: usize, const K: usize, const T: usize> {
    x: [[f32; D]; T],
    z: [[f32; H]; T],
    h: [[f32; H]; T],
    y: [[f32; K]; T],
    g: [[f32; H]; T],
    delta: [[f32; H]; T],
    rz: [[f32; H]; T],
    rh: [[f32; H]; T],
    rdelta: [[f32; H]; T],
    tmp: [[f32; H]; 2],
    seed: [[f32; K]; T],
    noisy: Elman<D, H, K, crate::nn::Identity>,
    dir: Elman<D, H, K, crate::nn::Identity>,
}

impl<const D: usize, const H: usize, const K: usize, const T: usize> ElmanWork<D, H, K, T> {
    /// All zeros.
    pub fn new() -> Self {
        Self {
            x: [[0.0; D]; T],
            z: [[0.0; H]; T],
            h: [[0.0; H]; T],
            y: [[0.0; K]; T],
            g: [[0.0; H]; T],
            delta: [[0.0; H]; T],
            rz: [[0.0; H]; T],
            rh: [[0.0; H]; T],
            rdelta: [[0.0; H]; T],
            tmp: [[0.0; H]; 2],
            seed: [[0.0; K]; T],
            noisy: Elman::zeroed(),
            dir: Elman::zeroed(),
        }
    }

    /// The workspace as the slices [`ElmanRef`]'s passes take.
    pub fn scratch(&mut self) -> ElmanScratch<'_> {
        ElmanScratch {
            x: self.x.as_flattened_mut(),
            z: self.z.as_flattened_mut(),
            h: self.h.as_flattened_mut(),
            y: self.y.as_flattened_mut(),
            g: self.g.as_flattened_mut(),
            delta: self.delta.as_flattened_mut(),
            rz: self.rz.as_flattened_mut(),
            rh: self.rh.as_flattened_mut(),
            rdelta: self.rdelta.as_flattened_mut(),
            tmp: self.tmp.as_flattened_mut(),
            seed: self.seed.as_flattened_mut(),
            noisy: self.noisy.params_mut(),
            dir: self.dir.params_mut(),
        }
    }
}

impl<const D: usize, const H: usize, const K: usize, const T: usize> Default
    for ElmanWork<D, H, K, T>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The output side of a [`Model`] impl: where the readout goes.
trait RnnOutput: AsRef<[f32]> + AsMut<[f32]> + Clone {
    const READOUT: Readout;
    fn zeros() -> Self;
}

impl<const K: usize> RnnOutput for [f32; K] {
    const READOUT: Readout = Readout::Last;
    fn zeros() -> Self {
        [0.0; K]
    }
}

impl<const T: usize, const K: usize> RnnOutput for Sequence<T, K> {
    const READOUT: Readout = Readout::EveryStep;
    fn zeros() -> Self {
        Sequence::zeros()
    }
}

impl<const D: usize, const H: usize, const K: usize, A: Activation> Elman<D, H, K, A> {
    fn view_for<Y: RnnOutput, const T: usize>(&self) -> Result<ElmanRef<'_, A>, Error> {
        self.view(T, Y::READOUT)
    }
}

macro_rules! elman_model {
    ($y:ty, [$($gen:tt)*]) => {
        impl<const D: usize, const H: usize, const K: usize, const T: usize, A: Activation, $($gen)*>
            Model<Sequence<T, D>, $y> for Elman<D, H, K, A>
        {
            type Workspace = ElmanWork<D, H, K, T>;

            fn depth(&self) -> usize {
                3
            }

            fn zeros_like(&self) -> Self {
                Self::zeroed().with_noise(self.noise)
            }

            fn workspace(&self) -> Self::Workspace {
                ElmanWork::new()
            }

            fn output_buffer(&self) -> $y {
                <$y as RnnOutput>::zeros()
            }

            fn predict(&self, x: &Sequence<T, D>, y: &mut $y) -> Result<(), Error> {
                let mut ws = ElmanWork::<D, H, K, T>::new();
                self.forward_traced(x, &mut Clean, &mut ws, y)
            }

            fn predict_batch(&self, xs: &[Sequence<T, D>], ys: &mut [$y]) -> Result<(), Error> {
                check_len(xs.len(), ys.len())?;
                let mut ws = ElmanWork::<D, H, K, T>::new();
                for (x, y) in xs.iter().zip(ys) {
                    self.forward_traced(x, &mut Clean, &mut ws, y)?;
                }
                Ok(())
            }

            fn loss_grad_sum<Tg, L: Loss<Tg>>(
                &self,
                loss: &L,
                xs: &[Sequence<T, D>],
                targets: &[Tg],
                grad: &mut Self,
                total: &mut f32,
            ) -> Result<(), Error> {
                check_len(xs.len(), targets.len())?;
                let net = self.view_for::<$y, T>()?;
                let mut work = ElmanWork::<D, H, K, T>::new();
                let (mut y, mut dy) = (<$y as RnnOutput>::zeros(), <$y as RnnOutput>::zeros());
                for (x, t) in xs.iter().zip(targets) {
                    let mut ws = work.scratch();
                    net.forward(x.as_ref(), &mut Clean, &mut ws)?;
                    y.as_mut().copy_from_slice(net.output(&ws));
                    *total += loss.value_grad(y.as_ref(), t, dy.as_mut())?;
                    net.backward(&mut ws, dy.as_ref(), &mut Clean, &mut grad.params_mut())?;
                }
                Ok(())
            }

            fn forward_traced<P: Perturbation>(
                &self,
                x: &Sequence<T, D>,
                p: &mut P,
                ws: &mut Self::Workspace,
                y: &mut $y,
            ) -> Result<(), Error> {
                let net = self.view_for::<$y, T>()?;
                let mut s = ws.scratch();
                net.forward(x.as_ref(), p, &mut s)?;
                y.as_mut().copy_from_slice(net.output(&s));
                Ok(())
            }

            fn backward_traced<P: Perturbation>(
                &self,
                ws: &Self::Workspace,
                dy: &$y,
                p: &mut P,
                grad: &mut Self,
            ) -> Result<(), Error> {
                // The backward pass writes its own values (δ, the draw) into
                // a copy: the trait lends the workspace immutably.
                let mut w = *ws;
                let net = self.view_for::<$y, T>()?;
                net.backward(&mut w.scratch(), dy.as_ref(), p, &mut grad.params_mut())
            }

            fn penalty_at(
                &self,
                x: &Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
            ) -> Result<f32, Error> {
                self.view_for::<$y, T>()?.penalty(x.as_ref(), eta, on, &mut ws.scratch())
            }

            fn penalty_grad_at(
                &self,
                x: &Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
                grad: &mut Self,
            ) -> Result<f32, Error> {
                let net = self.view_for::<$y, T>()?;
                let mut s = ws.scratch();
                net.forward(x.as_ref(), &mut Clean, &mut s)?;
                let zero = <$y as RnnOutput>::zeros();
                net.penalty_grad(&mut s, zero.as_ref(), eta, on, &mut grad.params_mut())
            }

            fn penalty_grad_traced(
                &self,
                ws: &mut Self::Workspace,
                dy: &$y,
                eta: &[f32],
                on: NoiseOn,
                grad: &mut Self,
            ) -> Result<f32, Error> {
                let net = self.view_for::<$y, T>()?;
                net.penalty_grad(&mut ws.scratch(), dy.as_ref(), eta, on, &mut grad.params_mut())
            }

            fn seeded_penalty_traced(
                &self,
                ws: &mut Self::Workspace,
                seed: &$y,
                eta: &[f32],
                on: NoiseOn,
                grad: Option<&mut Self>,
            ) -> Result<f32, Error> {
                let net = self.view_for::<$y, T>()?;
                let mut g = grad.map(|g| g.params_mut());
                net.seeded_penalty(&mut ws.scratch(), seed.as_ref(), eta, on, g.as_mut())
            }

            fn hessian_trace_at(
                &self,
                x: &Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
                traces: &mut $y,
            ) -> Result<(), Error> {
                let net = self.view_for::<$y, T>()?;
                net.hessian_trace(x.as_ref(), eta, on, &mut ws.scratch(), traces.as_mut())
            }
        }
    };
}

elman_model!([f32; K], []);
elman_model!(Sequence<T, K>, []);
