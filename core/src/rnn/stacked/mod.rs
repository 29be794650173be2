//! The two-layer stacked Elman network (issue 12).

use super::ops::{axpy, mtv_add, mv_add, outer_add, prev, row, row_mut, sq};
use super::{Readout, RecurrentNoise};
use crate::error::{Error, check_len};
use crate::nn::{Activation, Identity, Init, NoiseOn, Tanh};
use crate::parameters::Parameters;
use crate::perturbation::{Clean, Perturbation};
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
struct W<'a> {
    wx1: &'a [f32],
    b1: &'a [f32],
    wh1: &'a [f32],
    wx2: &'a [f32],
    b2: &'a [f32],
    wh2: &'a [f32],
    v: &'a [f32],
    c: &'a [f32],
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, A: Activation>
    StackedElman<D, H1, H2, K, A>
{
    const NONEMPTY: () = assert!(
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

fn readout_at(readout: Readout, t: usize, steps: usize) -> bool {
    match readout {
        Readout::Last => t + 1 == steps,
        Readout::EveryStep => true,
    }
}

/// The forward and BPTT values a gradient reads.
#[derive(Clone, Copy)]
struct Fwd<'a> {
    x: &'a [f32],
    h1: &'a [f32],
    h2: &'a [f32],
    d1: &'a [f32],
    d2: &'a [f32],
    seed: &'a [f32],
}

/// A direction of the R-operator pass.
#[derive(Clone, Copy)]
enum Dir {
    /// `dir` in the workspace, the same at every step (per sequence).
    Shared,
    /// Per step: copy t's `η ⊙ G_t`, rank one per layer, never materialised.
    Rank1 { e: [f32; 5], beta: f32 },
    /// A unit change of the pre-activation of cell `cell` (1 or 2) at
    /// `step`, unit `unit`, alone.
    UnitZ { cell: u8, step: usize, unit: usize },
}

/// Adds 1 to `rz[unit]` if `on`.
fn unit_z(on: bool, unit: usize, rz: &mut [f32]) {
    if on && let Some(r) = rz.get_mut(unit) {
        *r += 1.0;
    }
}

/// One noise layer to draw: clean weights, clean bias, columns, outputs.
type Part<'a> = (&'a [f32], &'a [f32], usize, &'a mut [f32], &'a mut [f32]);

/// Draws layer `layer` (`w` with `cols` columns, bias `b`) into `wo`, `bo`.
fn draw_layer<P: Perturbation>(
    p: &mut P,
    layer: usize,
    (w, b): (&[f32], &[f32]),
    cols: usize,
    (wo, bo): (&mut [f32], &mut [f32]),
) {
    p.begin_layer(layer);
    for (c, o) in w.chunks_exact(cols).zip(wo.chunks_exact_mut(cols)) {
        p.weight_row(c, o);
    }
    p.bias(b, bo);
}

/// The workspace of a [`StackedElman`] network on sequences of `T` steps.
///
/// # Examples
///
/// ```
/// let w = noisereg::StackedElmanWork::<2, 4, 3, 1, 5>::new();
/// assert_eq!(w, noisereg::StackedElmanWork::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StackedElmanWork<
    const D: usize,
    const H1: usize,
    const H2: usize,
    const K: usize,
    const T: usize,
> {
    x: [[f32; D]; T],
    z1: [[f32; H1]; T],
    h1: [[f32; H1]; T],
    z2: [[f32; H2]; T],
    h2: [[f32; H2]; T],
    y: [[f32; K]; T],
    d1: [[f32; H1]; T],
    d2: [[f32; H2]; T],
    seed: [[f32; K]; T],
    g1: [[f32; H1]; 2],
    g2: [[f32; H2]; 2],
    g1s: [[f32; H1]; T],
    g2s: [[f32; H2]; T],
    rz1: [[f32; H1]; T],
    rh1: [[f32; H1]; T],
    rd1: [[f32; H1]; T],
    rz2: [[f32; H2]; T],
    rh2: [[f32; H2]; T],
    rd2: [[f32; H2]; T],
    noisy: StackedElman<D, H1, H2, K, Identity>,
    dir: StackedElman<D, H1, H2, K, Identity>,
    hv: StackedElman<D, H1, H2, K, Identity>,
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize>
    StackedElmanWork<D, H1, H2, K, T>
{
    /// All zeros.
    pub fn new() -> Self {
        Self {
            x: [[0.0; D]; T],
            z1: [[0.0; H1]; T],
            h1: [[0.0; H1]; T],
            z2: [[0.0; H2]; T],
            h2: [[0.0; H2]; T],
            y: [[0.0; K]; T],
            d1: [[0.0; H1]; T],
            d2: [[0.0; H2]; T],
            seed: [[0.0; K]; T],
            g1: [[0.0; H1]; 2],
            g2: [[0.0; H2]; 2],
            g1s: [[0.0; H1]; T],
            g2s: [[0.0; H2]; T],
            rz1: [[0.0; H1]; T],
            rh1: [[0.0; H1]; T],
            rd1: [[0.0; H1]; T],
            rz2: [[0.0; H2]; T],
            rh2: [[0.0; H2]; T],
            rd2: [[0.0; H2]; T],
            noisy: StackedElman::zeroed(),
            dir: StackedElman::zeroed(),
            hv: StackedElman::zeroed(),
        }
    }

    fn fwd(&self) -> Fwd<'_> {
        Fwd {
            x: self.x.as_flattened(),
            h1: self.h1.as_flattened(),
            h2: self.h2.as_flattened(),
            d1: self.d1.as_flattened(),
            d2: self.d2.as_flattened(),
            seed: self.seed.as_flattened(),
        }
    }

    fn output(&self, readout: Readout) -> &[f32] {
        match readout {
            Readout::Last => self.y.last().map_or(&[][..], |r| &r[..]),
            Readout::EveryStep => self.y.as_flattened(),
        }
    }

    /// Writes `dy` (`K` or `T·K` values) into the seed.
    fn set_seed(&mut self, dy: &[f32], readout: Readout) -> Result<(), Error> {
        let seed = self.seed.as_flattened_mut();
        match readout {
            Readout::Last => {
                check_len(dy.len(), K)?;
                seed.fill(0.0);
                row_mut(seed, T - 1, K).copy_from_slice(dy);
            }
            Readout::EveryStep => {
                check_len(dy.len(), T * K)?;
                seed.copy_from_slice(dy);
            }
        }
        Ok(())
    }
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, const T: usize> Default
    for StackedElmanWork<D, H1, H2, K, T>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const D: usize, const H1: usize, const H2: usize, const K: usize, A: Activation>
    StackedElman<D, H1, H2, K, A>
{
    /// Draws `layers` (a mask of the 5 noise layers) for `step` into `noisy`.
    fn draw<P: Perturbation>(
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

    /// Forward pass of `x` (`T·D` values) with the weights `p` supplies.
    fn forward_ws<const T: usize, P: Perturbation>(
        &self,
        x: &[f32],
        p: &mut P,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        readout: Readout,
    ) -> Result<(), Error> {
        let () = Self::NONEMPTY;
        check_len(x.len(), T * D)?;
        if T == 0 {
            return Err(Error::InvalidParameter {
                name: "steps",
                requirement: "positive",
            });
        }
        ws.x.as_flattened_mut().copy_from_slice(x);
        let noisy = p.perturbs_weights();
        let per_step = noisy && self.noise == RecurrentNoise::PerStep;
        if noisy && !per_step {
            self.draw(p, 0, [true; 5], &mut ws.noisy);
        }
        for t in 0..T {
            if per_step {
                self.draw(p, t, [true, true, true, true, false], &mut ws.noisy);
            }
            let w = if noisy { ws.noisy.w() } else { self.w() };
            let h1 = ws.h1.as_flattened_mut();
            let (hp, hc) = h1.split_at_mut(t * H1);
            let z = row_mut(ws.z1.as_flattened_mut(), t, H1);
            z.copy_from_slice(w.b1);
            mv_add(w.wx1, D, row(ws.x.as_flattened(), t, D), z);
            mv_add(w.wh1, H1, prev(hp, t, H1), z);
            let h1t = hc.get_mut(..H1).unwrap_or(&mut []);
            self.act.f_slice(z, h1t);
            let h2 = ws.h2.as_flattened_mut();
            let (hp, hc) = h2.split_at_mut(t * H2);
            let z = row_mut(ws.z2.as_flattened_mut(), t, H2);
            z.copy_from_slice(w.b2);
            mv_add(w.wx2, H1, h1t, z);
            mv_add(w.wh2, H2, prev(hp, t, H2), z);
            let h2t = hc.get_mut(..H2).unwrap_or(&mut []);
            self.act.f_slice(z, h2t);
            if readout_at(readout, t, T) {
                if per_step {
                    let key = if readout == Readout::Last { 0 } else { t };
                    self.draw(p, key, [false, false, false, false, true], &mut ws.noisy);
                }
                let w = if noisy { ws.noisy.w() } else { self.w() };
                let y = row_mut(ws.y.as_flattened_mut(), t, K);
                y.copy_from_slice(w.c);
                mv_add(w.v, H2, row(ws.h2.as_flattened(), t, H2), y);
            }
        }
        if per_step {
            p.begin_step(0);
        }
        Ok(())
    }

    /// Back-propagation through time of the seed in `ws`: fills `d1`, `d2`.
    fn bptt<const T: usize, P: Perturbation>(
        &self,
        p: &mut P,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        readout: Readout,
    ) {
        let noisy = p.perturbs_weights();
        let per_step = noisy && self.noise == RecurrentNoise::PerStep;
        if noisy && !per_step {
            self.draw(p, 0, [true; 5], &mut ws.noisy);
        }
        let [g1n, g1] = &mut ws.g1;
        let [g2n, g2] = &mut ws.g2;
        g1n.fill(0.0);
        g2n.fill(0.0);
        for t in (0..T).rev() {
            let out = readout_at(readout, t, T);
            if per_step {
                self.draw(p, t, [false, true, true, true, false], &mut ws.noisy);
                if out {
                    let key = if readout == Readout::Last { 0 } else { t };
                    self.draw(p, key, [false, false, false, false, true], &mut ws.noisy);
                }
            }
            let w = if noisy { ws.noisy.w() } else { self.w() };
            g2.copy_from_slice(g2n);
            if out {
                mtv_add(w.v, H2, row(ws.seed.as_flattened(), t, K), g2);
            }
            row_mut(ws.g2s.as_flattened_mut(), t, H2).copy_from_slice(g2);
            let d2 = row_mut(ws.d2.as_flattened_mut(), t, H2);
            let (z, a) = (
                row(ws.z2.as_flattened(), t, H2),
                row(ws.h2.as_flattened(), t, H2),
            );
            for (((d, &g), &z), &a) in d2.iter_mut().zip(&*g2).zip(z).zip(a) {
                *d = self.act.df_given(z, a) * g;
            }
            g2n.fill(0.0);
            mtv_add(w.wh2, H2, d2, g2n);
            g1.copy_from_slice(g1n);
            mtv_add(w.wx2, H1, d2, g1);
            row_mut(ws.g1s.as_flattened_mut(), t, H1).copy_from_slice(g1);
            let d1 = row_mut(ws.d1.as_flattened_mut(), t, H1);
            let (z, a) = (
                row(ws.z1.as_flattened(), t, H1),
                row(ws.h1.as_flattened(), t, H1),
            );
            for (((d, &g), &z), &a) in d1.iter_mut().zip(&*g1).zip(z).zip(a) {
                *d = self.act.df_given(z, a) * g;
            }
            g1n.fill(0.0);
            mtv_add(w.wh1, H1, d1, g1n);
        }
        if per_step {
            p.begin_step(0);
        }
    }

    /// `out += ∇_θ (s·f)` from the `d1`, `d2` of [`bptt`](Self::bptt).
    fn add_grad<const T: usize, B: Activation>(
        ws: Fwd<'_>,
        readout: Readout,
        out: &mut StackedElman<D, H1, H2, K, B>,
    ) {
        let Fwd {
            x,
            h1,
            h2,
            d1: d1s,
            d2: d2s,
            seed,
        } = ws;
        for t in 0..T {
            let d1 = row(d1s, t, H1);
            let d2 = row(d2s, t, H2);
            outer_add(1.0, d1, row(x, t, D), out.wx1.as_flattened_mut());
            axpy(1.0, d1, &mut out.b1);
            outer_add(1.0, d1, prev(h1, t, H1), out.wh1.as_flattened_mut());
            outer_add(1.0, d2, row(h1, t, H1), out.wx2.as_flattened_mut());
            axpy(1.0, d2, &mut out.b2);
            outer_add(1.0, d2, prev(h2, t, H2), out.wh2.as_flattened_mut());
            if readout_at(readout, t, T) {
                let s = row(seed, t, K);
                outer_add(1.0, s, row(h2, t, H2), out.v.as_flattened_mut());
                axpy(1.0, s, &mut out.c);
            }
        }
    }

    /// The penalty of the seed in `ws` (after a clean forward pass):
    /// `Σ_l η_l ‖∇_{θ_l}(s·f)‖²`, per step summed over the unrolled copies.
    fn seed_penalty<const T: usize>(
        &self,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        e: [f32; 5],
        beta: f32,
        readout: Readout,
        grad: Option<(&mut Self, f32)>,
    ) -> f32 {
        self.bptt(&mut Clean, ws, readout);
        ws.dir.fill(0.0);
        Self::add_grad::<T, Identity>(
            Fwd {
                x: ws.x.as_flattened(),
                h1: ws.h1.as_flattened(),
                h2: ws.h2.as_flattened(),
                d1: ws.d1.as_flattened(),
                d2: ws.d2.as_flattened(),
                seed: ws.seed.as_flattened(),
            },
            readout,
            &mut ws.dir,
        );
        let pen = match self.noise {
            RecurrentNoise::PerSequence => {
                let d = &ws.dir;
                e[0] * (sq(d.wx1.as_flattened()) + beta * sq(&d.b1))
                    + e[1] * sq(d.wh1.as_flattened())
                    + e[2] * (sq(d.wx2.as_flattened()) + beta * sq(&d.b2))
                    + e[3] * sq(d.wh2.as_flattened())
                    + e[4] * (sq(d.v.as_flattened()) + beta * sq(&d.c))
            }
            RecurrentNoise::PerStep => {
                let (x, h1, h2) = (
                    ws.x.as_flattened(),
                    ws.h1.as_flattened(),
                    ws.h2.as_flattened(),
                );
                let mut s = 0.0;
                for t in 0..T {
                    let d1 = sq(row(ws.d1.as_flattened(), t, H1));
                    let d2 = sq(row(ws.d2.as_flattened(), t, H2));
                    s += d1 * (e[0] * (sq(row(x, t, D)) + beta) + e[1] * sq(prev(h1, t, H1)));
                    s += d2 * (e[2] * (sq(row(h1, t, H1)) + beta) + e[3] * sq(prev(h2, t, H2)));
                    if readout_at(readout, t, T) {
                        let st = sq(row(ws.seed.as_flattened(), t, K));
                        s += e[4] * st * (sq(row(h2, t, H2)) + beta);
                    }
                }
                s
            }
        };
        if let Some((grad, coef)) = grad {
            if coef != 0.0 {
                for i in 0..10 {
                    axpy(coef, ws.dir.slice(i), grad.slice_mut(i));
                }
            }
            let dir = match self.noise {
                RecurrentNoise::PerSequence => {
                    let scale = [e[0], e[0] * beta, e[1], 0.0, e[2], e[2] * beta, e[3], 0.0];
                    for (i, a) in scale.into_iter().chain([e[4], e[4] * beta]).enumerate() {
                        ws.dir.slice_mut(i).iter_mut().for_each(|v| *v *= a);
                    }
                    Dir::Shared
                }
                RecurrentNoise::PerStep => Dir::Rank1 { e, beta },
            };
            self.r_pass(ws, dir, readout);
            Self::add_r_grad::<T, A>(ws, readout, grad);
        }
        pen
    }

    /// R-forward and R-backward along `dir` at the clean weights, after a
    /// clean [`bptt`](Self::bptt): fills `rz*`, `rh*`, `rd*`.
    fn r_pass<const T: usize>(
        &self,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        dir: Dir,
        readout: Readout,
    ) {
        let w = self.w();
        let v = ws.dir.w();
        let (x, h1, h2) = (
            ws.x.as_flattened(),
            ws.h1.as_flattened(),
            ws.h2.as_flattened(),
        );
        let (d1s, d2s) = (ws.d1.as_flattened(), ws.d2.as_flattened());
        let (z1s, z2s) = (ws.z1.as_flattened(), ws.z2.as_flattened());
        for t in 0..T {
            let (xt, h1p, h1t, h2p) = (
                row(x, t, D),
                prev(h1, t, H1),
                row(h1, t, H1),
                prev(h2, t, H2),
            );
            let (rhp, rhc) = ws.rh1.as_flattened_mut().split_at_mut(t * H1);
            let rz = row_mut(ws.rz1.as_flattened_mut(), t, H1);
            rz.fill(0.0);
            mv_add(w.wh1, H1, prev(rhp, t, H1), rz);
            match dir {
                Dir::Shared => {
                    mv_add(v.wx1, D, xt, rz);
                    mv_add(v.wh1, H1, h1p, rz);
                    axpy(1.0, v.b1, rz);
                }
                Dir::Rank1 { e, beta } => {
                    let a = e[0] * (sq(xt) + beta) + e[1] * sq(h1p);
                    axpy(a, row(d1s, t, H1), rz);
                }
                Dir::UnitZ { cell, step, unit } => unit_z(cell == 1 && step == t, unit, rz),
            }
            let rh1t = rhc.get_mut(..H1).unwrap_or(&mut []);
            for (((r, &rz), &z), &a) in rh1t.iter_mut().zip(&*rz).zip(row(z1s, t, H1)).zip(h1t) {
                *r = self.act.df_given(z, a) * rz;
            }
            let (rhp, rhc) = ws.rh2.as_flattened_mut().split_at_mut(t * H2);
            let rz = row_mut(ws.rz2.as_flattened_mut(), t, H2);
            rz.fill(0.0);
            mv_add(w.wx2, H1, rh1t, rz);
            mv_add(w.wh2, H2, prev(rhp, t, H2), rz);
            match dir {
                Dir::Shared => {
                    mv_add(v.wx2, H1, h1t, rz);
                    mv_add(v.wh2, H2, h2p, rz);
                    axpy(1.0, v.b2, rz);
                }
                Dir::Rank1 { e, beta } => {
                    let a = e[2] * (sq(h1t) + beta) + e[3] * sq(h2p);
                    axpy(a, row(d2s, t, H2), rz);
                }
                Dir::UnitZ { cell, step, unit } => unit_z(cell == 2 && step == t, unit, rz),
            }
            let rh2t = rhc.get_mut(..H2).unwrap_or(&mut []);
            let (z2, a2) = (row(z2s, t, H2), row(h2, t, H2));
            for (((r, &rz), &z), &a) in rh2t.iter_mut().zip(&*rz).zip(z2).zip(a2) {
                *r = self.act.df_given(z, a) * rz;
            }
        }
        let [rg1n, rg1] = &mut ws.g1;
        let [rg2n, rg2] = &mut ws.g2;
        rg1n.fill(0.0);
        rg2n.fill(0.0);
        for t in (0..T).rev() {
            let (d1, d2) = (row(d1s, t, H1), row(d2s, t, H2));
            let (h1p, h1t, h2p, h2t) = (
                prev(h1, t, H1),
                row(h1, t, H1),
                prev(h2, t, H2),
                row(h2, t, H2),
            );
            rg2.copy_from_slice(rg2n);
            if readout_at(readout, t, T) {
                let s = row(ws.seed.as_flattened(), t, K);
                match dir {
                    Dir::Shared => mtv_add(v.v, H2, s, rg2),
                    Dir::Rank1 { e, .. } => axpy(e[4] * sq(s), h2t, rg2),
                    Dir::UnitZ { .. } => {}
                }
            }
            let rd2 = row_mut(ws.rd2.as_flattened_mut(), t, H2);
            let it = rd2
                .iter_mut()
                .zip(&*rg2)
                .zip(row(z2s, t, H2))
                .zip(h2t)
                .zip(row(ws.g2s.as_flattened(), t, H2))
                .zip(row(ws.rz2.as_flattened(), t, H2));
            for (((((rd, &rg), &z), &a), &g), &rz) in it {
                *rd = self.act.d2f_given(z, a) * rz * g + self.act.df_given(z, a) * rg;
            }
            rg2n.fill(0.0);
            mtv_add(w.wh2, H2, rd2, rg2n);
            rg1.copy_from_slice(rg1n);
            mtv_add(w.wx2, H1, rd2, rg1);
            match dir {
                Dir::Shared => {
                    mtv_add(v.wh2, H2, d2, rg2n);
                    mtv_add(v.wx2, H1, d2, rg1);
                }
                Dir::Rank1 { e, .. } => {
                    axpy(e[3] * sq(d2), h2p, rg2n);
                    axpy(e[2] * sq(d2), h1t, rg1);
                }
                Dir::UnitZ { .. } => {}
            }
            let rd1 = row_mut(ws.rd1.as_flattened_mut(), t, H1);
            let it = rd1
                .iter_mut()
                .zip(&*rg1)
                .zip(row(z1s, t, H1))
                .zip(h1t)
                .zip(row(ws.g1s.as_flattened(), t, H1))
                .zip(row(ws.rz1.as_flattened(), t, H1));
            for (((((rd, &rg), &z), &a), &g), &rz) in it {
                *rd = self.act.d2f_given(z, a) * rz * g + self.act.df_given(z, a) * rg;
            }
            rg1n.fill(0.0);
            mtv_add(w.wh1, H1, rd1, rg1n);
            match dir {
                Dir::Shared => mtv_add(v.wh1, H1, d1, rg1n),
                Dir::Rank1 { e, .. } => axpy(e[1] * sq(d1), h1p, rg1n),
                Dir::UnitZ { .. } => {}
            }
        }
    }

    /// `out += R{∇_θ (s·f)}` from the R pass in `ws`.
    fn add_r_grad<const T: usize, B: Activation>(
        ws: &StackedElmanWork<D, H1, H2, K, T>,
        readout: Readout,
        out: &mut StackedElman<D, H1, H2, K, B>,
    ) {
        let (x, h1, h2) = (
            ws.x.as_flattened(),
            ws.h1.as_flattened(),
            ws.h2.as_flattened(),
        );
        let (rh1, rh2) = (ws.rh1.as_flattened(), ws.rh2.as_flattened());
        for t in 0..T {
            let (d1, d2) = (
                row(ws.d1.as_flattened(), t, H1),
                row(ws.d2.as_flattened(), t, H2),
            );
            let (rd1, rd2) = (
                row(ws.rd1.as_flattened(), t, H1),
                row(ws.rd2.as_flattened(), t, H2),
            );
            outer_add(1.0, rd1, row(x, t, D), out.wx1.as_flattened_mut());
            axpy(1.0, rd1, &mut out.b1);
            outer_add(1.0, rd1, prev(h1, t, H1), out.wh1.as_flattened_mut());
            outer_add(1.0, d1, prev(rh1, t, H1), out.wh1.as_flattened_mut());
            outer_add(1.0, rd2, row(h1, t, H1), out.wx2.as_flattened_mut());
            outer_add(1.0, d2, row(rh1, t, H1), out.wx2.as_flattened_mut());
            axpy(1.0, rd2, &mut out.b2);
            outer_add(1.0, rd2, prev(h2, t, H2), out.wh2.as_flattened_mut());
            outer_add(1.0, d2, prev(rh2, t, H2), out.wh2.as_flattened_mut());
            if readout_at(readout, t, T) {
                let s = row(ws.seed.as_flattened(), t, K);
                outer_add(1.0, s, row(rh2, t, H2), out.v.as_flattened_mut());
            }
        }
    }

    /// The η-weighted trace of the Hessian of `s·f` over the noisy cell
    /// parameters (the readout is linear and adds nothing), after a clean
    /// [`bptt`](Self::bptt) of the seed: per sequence one R pass per cell
    /// parameter along its unit direction; per step, since copy t's weight
    /// `(i, j)` enters only `z_{t,i}` with coefficient `a_{t,j}`, one R pass
    /// per step, cell and unit (`R z_t = e_i`).
    fn seed_trace<const T: usize>(
        &self,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        e: [f32; 5],
        beta: f32,
        readout: Readout,
    ) -> f32 {
        let mut total = 0.0;
        match self.noise {
            RecurrentNoise::PerStep => {
                for t in 0..T {
                    let (x, h1, h2) = (
                        ws.x.as_flattened(),
                        ws.h1.as_flattened(),
                        ws.h2.as_flattened(),
                    );
                    let a1 = e[0] * (sq(row(x, t, D)) + beta) + e[1] * sq(prev(h1, t, H1));
                    let a2 = e[2] * (sq(row(h1, t, H1)) + beta) + e[3] * sq(prev(h2, t, H2));
                    for (cell, a, n) in [(1u8, a1, H1), (2, a2, H2)] {
                        if a == 0.0 {
                            continue;
                        }
                        for unit in 0..n {
                            self.r_pass(
                                ws,
                                Dir::UnitZ {
                                    cell,
                                    step: t,
                                    unit,
                                },
                                readout,
                            );
                            let rd = if cell == 1 {
                                row(ws.rd1.as_flattened(), t, H1)
                            } else {
                                row(ws.rd2.as_flattened(), t, H2)
                            };
                            total += a * rd.get(unit).copied().unwrap_or(0.0);
                        }
                    }
                }
            }
            RecurrentNoise::PerSequence => {
                // Slices 0..8 are the cell layers 0–3 (weights, bias).
                let weight = [e[0], e[0] * beta, e[1], 0.0, e[2], e[2] * beta, e[3], 0.0];
                for (i, w) in weight.into_iter().enumerate() {
                    if w == 0.0 {
                        continue;
                    }
                    for p in 0..ws.dir.slice(i).len() {
                        ws.dir.fill(0.0);
                        if let Some(v) = ws.dir.slice_mut(i).get_mut(p) {
                            *v = 1.0;
                        }
                        self.r_pass(ws, Dir::Shared, readout);
                        ws.hv.fill(0.0);
                        let mut hv = ws.hv;
                        Self::add_r_grad::<T, Identity>(ws, readout, &mut hv);
                        total += w * hv.slice(i).get(p).copied().unwrap_or(0.0);
                    }
                }
            }
        }
        total
    }

    fn check_eta(eta: &[f32]) -> Result<[f32; 5], Error> {
        check_len(eta.len(), 5)?;
        let mut e = [0.0; 5];
        e.copy_from_slice(eta);
        Ok(e)
    }

    /// Adds `∇_θ [dy·f + ½ penalty]` into `grad` and returns the penalty,
    /// given a clean forward pass in `ws` (R-operator through time).
    fn penalty_grad_ws<const T: usize>(
        &self,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        dy: &[f32],
        eta: &[f32],
        on: NoiseOn,
        readout: Readout,
        grad: &mut Self,
    ) -> Result<f32, Error> {
        let e = Self::check_eta(eta)?;
        let n = match readout {
            Readout::Last => K,
            Readout::EveryStep => T * K,
        };
        check_len(dy.len(), n)?;
        let mut total = 0.0;
        for (j, &c) in dy.iter().enumerate() {
            Self::unit_seed::<T>(ws.seed.as_flattened_mut(), j, readout);
            total += self.seed_penalty(ws, e, on.bias_term(), readout, Some((grad, c)));
        }
        Ok(total)
    }

    /// Sets `seed = e_j` (output `j` of `K` or `T·K`).
    fn unit_seed<const T: usize>(seed: &mut [f32], j: usize, readout: Readout) {
        seed.fill(0.0);
        let at = match readout {
            Readout::Last => (T - 1) * K + j,
            Readout::EveryStep => j,
        };
        if let Some(s) = seed.get_mut(at) {
            *s = 1.0;
        }
    }

    /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` at the clean weights (per
    /// sequence `‖Σ_t G_t‖²`, per step `Σ_t ‖G_t‖²`, `docs/theory.md` §8);
    /// runs a clean forward pass of `x` into `ws`. `eta` has 5 entries.
    fn penalty_ws<const T: usize>(
        &self,
        x: &[f32],
        eta: &[f32],
        on: NoiseOn,
        ws: &mut StackedElmanWork<D, H1, H2, K, T>,
        readout: Readout,
    ) -> Result<f32, Error> {
        let e = Self::check_eta(eta)?;
        self.forward_ws(x, &mut Clean, ws, readout)?;
        let n = match readout {
            Readout::Last => K,
            Readout::EveryStep => T * K,
        };
        let mut total = 0.0;
        for j in 0..n {
            Self::unit_seed::<T>(ws.seed.as_flattened_mut(), j, readout);
            total += self.seed_penalty(ws, e, on.bias_term(), readout, None);
        }
        Ok(total)
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
                <$y as super::model_impl::RnnOutput>::zeros()
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
                    <$y as super::model_impl::RnnOutput>::zeros(),
                    <$y as super::model_impl::RnnOutput>::zeros(),
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
                let r = <$y as super::model_impl::RnnOutput>::READOUT;
                self.forward_ws(x.as_ref(), p, ws, r)?;
                y.as_mut().copy_from_slice(ws.output(r));
                Ok(())
            }

            fn backward_traced<P: Perturbation>(
                &self,
                ws: &mut Self::Workspace,
                dy: &$y,
                p: &mut P,
                grad: &mut Self,
            ) -> Result<(), Error> {
                let r = <$y as super::model_impl::RnnOutput>::READOUT;
                ws.set_seed(dy.as_ref(), r)?;
                self.bptt(p, ws, r);
                Self::add_grad::<T, A>(ws.fwd(), r, grad);
                Ok(())
            }

            fn penalty_at(
                &self,
                x: &crate::Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
            ) -> Result<f32, Error> {
                let r = <$y as super::model_impl::RnnOutput>::READOUT;
                self.penalty_ws(x.as_ref(), eta, on, ws, r)
            }

            fn penalty_grad_at(
                &self,
                x: &crate::Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
                grad: &mut Self,
            ) -> Result<f32, Error> {
                let r = <$y as super::model_impl::RnnOutput>::READOUT;
                Self::check_eta(eta)?;
                self.forward_ws(x.as_ref(), &mut Clean, ws, r)?;
                let zero = <$y as super::model_impl::RnnOutput>::zeros();
                self.penalty_grad_ws(ws, zero.as_ref(), eta, on, r, grad)
            }

            fn penalty_grad_traced(
                &self,
                ws: &mut Self::Workspace,
                dy: &$y,
                eta: &[f32],
                on: NoiseOn,
                grad: &mut Self,
            ) -> Result<f32, Error> {
                let r = <$y as super::model_impl::RnnOutput>::READOUT;
                self.penalty_grad_ws(ws, dy.as_ref(), eta, on, r, grad)
            }

            fn seeded_penalty_traced(
                &self,
                ws: &mut Self::Workspace,
                seed: &$y,
                eta: &[f32],
                on: NoiseOn,
                grad: Option<&mut Self>,
            ) -> Result<f32, Error> {
                let r = <$y as super::model_impl::RnnOutput>::READOUT;
                let e = Self::check_eta(eta)?;
                ws.set_seed(seed.as_ref(), r)?;
                Ok(self.seed_penalty(ws, e, on.bias_term(), r, grad.map(|g| (g, 0.0))))
            }

            fn hessian_trace_at(
                &self,
                x: &crate::Sequence<T, D>,
                eta: &[f32],
                on: NoiseOn,
                ws: &mut Self::Workspace,
                traces: &mut $y,
            ) -> Result<(), Error> {
                let r = <$y as super::model_impl::RnnOutput>::READOUT;
                let e = Self::check_eta(eta)?;
                self.forward_ws(x.as_ref(), &mut Clean, ws, r)?;
                for (j, tr) in traces.as_mut().iter_mut().enumerate() {
                    Self::unit_seed::<T>(ws.seed.as_flattened_mut(), j, r);
                    self.bptt(&mut Clean, ws, r);
                    *tr = self.seed_trace(ws, e, on.bias_term(), r);
                }
                Ok(())
            }
        }
    };
}

stacked_model_for!([f32; K]);
stacked_model_for!(crate::Sequence<T, K>);
