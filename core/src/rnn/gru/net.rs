//! The const-generic GRU network: owns arrays, calls [`GruRef`].

use super::{GruRef, GruScratch};
use crate::error::Error;
use crate::nn::{Activation, Identity, Init, Tanh};
use crate::parameters::Parameters;
use crate::rnn::params::{ElmanParams, ElmanParamsMut};
use crate::rnn::{Readout, RecurrentNoise, RnnDims};
use rand_core::Rng;

/// A GRU network with `D` inputs per step, `H` hidden units and `K`
/// outputs (the cell is documented at [`GruRef`]): gates in the order
/// reset, update, candidate (`wx[g]`, `b[g]`, `wh[g]` for gate `g`), the
/// gates sigmoid, the candidate `A`.
///
/// A [`Model`](crate::Model) of [`Sequence<T, D>`](crate::Sequence) inputs
/// exactly as [`Elman`](crate::Elman) is (sequence to one with `[f32; K]`
/// outputs, sequence to sequence with `Sequence<T, K>`), with the same three
/// noise layers (slices 0 `wx`, 1 `b`, 2 `wh`, 3 empty, 4 `v`, 5 `c`), the
/// same [`RecurrentNoise`] semantics and the same limits in the trainer.
///
/// # Memory
///
/// Parameters: `4·(3H·D + 3H + 3H·H + K·H + K)` bytes; a workspace
/// ([`GruWork`]) `T·D + 24·T·H + 5·H + 2·T·K` floats and two parameter-sized
/// buffers.
///
/// # Examples
///
/// ```
/// use noisereg::{Gru, Model, Sequence};
/// let mut net = Gru::<1, 2, 1>::zeroed();
/// net.c = [0.25];
/// let mut y = [0.0];
/// net.forward(&Sequence([[1.0], [2.0]]), &mut y)?;
/// assert_eq!(y, [0.25]);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gru<const D: usize, const H: usize, const K: usize, A: Activation = Tanh> {
    /// Input weights: gate, then `H` rows of `D`.
    pub wx: [[[f32; D]; H]; 3],
    /// Gate biases.
    pub b: [[f32; H]; 3],
    /// Recurrent weights: gate, then `H` rows of `H`.
    pub wh: [[[f32; H]; H]; 3],
    /// Readout weights, `K` rows of `H`.
    pub v: [[f32; H]; K],
    /// Readout bias.
    pub c: [f32; K],
    /// The candidate's activation φ.
    pub act: A,
    /// Per-sequence or per-step weight noise.
    pub noise: RecurrentNoise,
}

impl<const D: usize, const H: usize, const K: usize, A: Activation> Gru<D, H, K, A> {
    const NONEMPTY: () = assert!(D > 0 && H > 0 && K > 0, "a GRU network needs D, H, K > 0");

    /// Every parameter zero, per-sequence noise.
    pub fn zeroed() -> Self {
        let () = Self::NONEMPTY;
        Self {
            wx: [[[0.0; D]; H]; 3],
            b: [[0.0; H]; 3],
            wh: [[[0.0; H]; H]; 3],
            v: [[0.0; H]; K],
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

    /// Random weights (fan-in `D` for `wx`, `H` for `wh` and `v`; biases 0).
    pub fn init<R: Rng + ?Sized>(&mut self, init: Init, rng: &mut R) {
        init.fill(
            D,
            self.wx.as_flattened_mut().as_flattened_mut(),
            self.b.as_flattened_mut(),
            rng,
        );
        init.fill(
            H,
            self.wh.as_flattened_mut().as_flattened_mut(),
            &mut [],
            rng,
        );
        init.fill(H, self.v.as_flattened_mut(), &mut self.c, rng);
    }

    /// The network as a run-time-sized view for sequences of `steps` steps.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `steps` is 0.
    pub fn view(&self, steps: usize, readout: Readout) -> Result<GruRef<'_, A>, Error> {
        let () = Self::NONEMPTY;
        let dims = RnnDims {
            input: D,
            hidden: H,
            output: K,
            steps,
            readout,
        };
        GruRef::new(
            ElmanParams {
                wx: self.wx.as_flattened().as_flattened(),
                b: self.b.as_flattened(),
                wh: self.wh.as_flattened().as_flattened(),
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
            wx: self.wx.as_flattened_mut().as_flattened_mut(),
            b: self.b.as_flattened_mut(),
            wh: self.wh.as_flattened_mut().as_flattened_mut(),
            v: self.v.as_flattened_mut(),
            c: &mut self.c,
        }
    }
}

impl<const D: usize, const H: usize, const K: usize, A: Activation> Parameters for Gru<D, H, K, A> {
    fn slice_count(&self) -> usize {
        6
    }

    fn slice(&self, i: usize) -> &[f32] {
        match i {
            0 => self.wx.as_flattened().as_flattened(),
            1 => self.b.as_flattened(),
            2 => self.wh.as_flattened().as_flattened(),
            4 => self.v.as_flattened(),
            5 => &self.c,
            _ => &[],
        }
    }

    fn slice_mut(&mut self, i: usize) -> &mut [f32] {
        match i {
            0 => self.wx.as_flattened_mut().as_flattened_mut(),
            1 => self.b.as_flattened_mut(),
            2 => self.wh.as_flattened_mut().as_flattened_mut(),
            4 => self.v.as_flattened_mut(),
            5 => &mut self.c,
            _ => &mut [],
        }
    }
}

/// The workspace of a [`Gru`] network on sequences of `T` steps (see
/// [`GruScratch`] for the fields).
///
/// # Examples
///
/// ```
/// let mut w = noisereg::GruWork::<2, 4, 1, 5>::new();
/// assert_eq!(w.scratch().z.len(), 60);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GruWork<const D: usize, const H: usize, const K: usize, const T: usize> {
    x: [[f32; D]; T],
    z: [[[f32; H]; 3]; T],
    a: [[[f32; H]; 3]; T],
    h: [[f32; H]; T],
    q: [[f32; H]; T],
    zero: [f32; H],
    y: [[f32; K]; T],
    seed: [[f32; K]; T],
    g: [[f32; H]; T],
    e: [[f32; H]; T],
    delta: [[[f32; H]; 3]; T],
    rz: [[[f32; H]; 3]; T],
    ra: [[[f32; H]; 3]; T],
    rdelta: [[[f32; H]; 3]; T],
    rh: [[f32; H]; T],
    rq: [[f32; H]; T],
    tmp: [[f32; H]; 4],
    noisy: Gru<D, H, K, Identity>,
    dir: Gru<D, H, K, Identity>,
}

impl<const D: usize, const H: usize, const K: usize, const T: usize> GruWork<D, H, K, T> {
    /// All zeros.
    pub fn new() -> Self {
        let z3 = [[[0.0; H]; 3]; T];
        let z1 = [[0.0; H]; T];
        Self {
            x: [[0.0; D]; T],
            z: z3,
            a: z3,
            h: z1,
            q: z1,
            zero: [0.0; H],
            y: [[0.0; K]; T],
            seed: [[0.0; K]; T],
            g: z1,
            e: z1,
            delta: z3,
            rz: z3,
            ra: z3,
            rdelta: z3,
            rh: z1,
            rq: z1,
            tmp: [[0.0; H]; 4],
            noisy: Gru::zeroed(),
            dir: Gru::zeroed(),
        }
    }

    /// The workspace as the slices [`GruRef`]'s passes take.
    pub fn scratch(&mut self) -> GruScratch<'_> {
        GruScratch {
            x: self.x.as_flattened_mut(),
            z: self.z.as_flattened_mut().as_flattened_mut(),
            a: self.a.as_flattened_mut().as_flattened_mut(),
            h: self.h.as_flattened_mut(),
            q: self.q.as_flattened_mut(),
            zero: &mut self.zero,
            y: self.y.as_flattened_mut(),
            seed: self.seed.as_flattened_mut(),
            g: self.g.as_flattened_mut(),
            e: self.e.as_flattened_mut(),
            delta: self.delta.as_flattened_mut().as_flattened_mut(),
            rz: self.rz.as_flattened_mut().as_flattened_mut(),
            ra: self.ra.as_flattened_mut().as_flattened_mut(),
            rdelta: self.rdelta.as_flattened_mut().as_flattened_mut(),
            rh: self.rh.as_flattened_mut(),
            rq: self.rq.as_flattened_mut(),
            tmp: self.tmp.as_flattened_mut(),
            noisy: self.noisy.params_mut(),
            dir: self.dir.params_mut(),
        }
    }
}

one_cell_model!(Gru, GruRef, GruWork);
