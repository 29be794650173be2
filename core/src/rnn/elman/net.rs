//! The const-generic Elman network: owns arrays, calls [`ElmanRef`].

use super::{ElmanRef, ElmanScratch};
use crate::error::Error;
use crate::nn::{Activation, Init, Tanh};
use crate::parameters::Parameters;
use crate::rnn::params::{ElmanParams, ElmanParamsMut};
use crate::rnn::{Readout, RecurrentNoise, RnnDims};
use rand_core::Rng;

/// An Elman network with `D` inputs per step, `H` hidden units and `K`
/// outputs: `h_t = φ(W_x x_t + W_h h_{t−1} + b)`, `h_0 = 0`, readout
/// `f = V h_T + c`.
///
/// It is a [`Model`](crate::Model) of [`Sequence<T, D>`](crate::Sequence) inputs for any length `T`: with
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
/// The trainer rejects, when the noise is set, what it cannot run exactly
/// ([`RecurrentNoise::check_weight_noise`]): Flipout and local
/// reparameterisation, and per step a per-batch draw or multiplicative
/// noise. Additive per-sample noise, the penalty and the trace follow either
/// semantics exactly.
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
/// net.forward(&Sequence([[1.0], [2.0], [3.0]]), &mut y)?;
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

one_cell_model!(Elman, ElmanRef, ElmanWork);
