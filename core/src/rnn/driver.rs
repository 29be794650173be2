//! The unrolled-through-time driver, written once: the draw protocol of
//! weight noise, the time loops of the forward, BPTT and R-operator passes,
//! and the penalty, its gradient and the trace over the output seeds. A
//! network supplies its steps through [`Unrolled`].

use super::RecurrentNoise;
use super::RnnDims;
use super::params::{Eta, check_eta};
use crate::error::{Error, check_len};
use crate::nn::NoiseOn;
use crate::perturbation::{Clean, Perturbation};

/// Which weights a draw makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Draw {
    /// Every layer, once per sequence (keyed on step 0).
    All,
    /// The cell's layers, before a step's forward.
    Cell,
    /// The cell's layers back-propagation reads, before a step's backward.
    Back,
    /// The readout.
    Readout,
}

/// A recurrent network as the driver runs it: the per-step hooks.
pub(super) trait Unrolled {
    /// The per-sequence values.
    type Scratch<'s>;
    /// A parameter-shaped gradient.
    type Grad<'g>;
    /// A direction of the R-operator pass.
    type Dir: Copy;

    /// The sizes (`hidden`: the readout's input).
    fn dims(&self) -> RnnDims;
    /// The noise semantics.
    fn noise(&self) -> RecurrentNoise;
    /// Number of noise layers (entries of η).
    fn layers(&self) -> usize;
    /// Checks the scratch's lengths.
    fn check(&self, ws: &Self::Scratch<'_>) -> Result<(), Error>;
    /// Checks a gradient's lengths.
    fn check_grad(&self, g: &Self::Grad<'_>) -> Result<(), Error>;
    /// Checks and copies the input `x` into the scratch.
    fn load(&self, x: &[f32], ws: &mut Self::Scratch<'_>) -> Result<(), Error>;
    /// The outputs of the last forward pass: `K` or `T·K` values.
    fn outputs<'w>(&self, ws: &'w Self::Scratch<'_>) -> &'w [f32];
    /// The backward seeds, `T·K`.
    fn seed<'w>(&self, ws: &'w mut Self::Scratch<'_>) -> &'w mut [f32];

    /// Draws `what` for `step` into the scratch's noisy weights.
    fn draw<P: Perturbation>(&self, p: &mut P, step: usize, what: Draw, ws: &mut Self::Scratch<'_>);
    /// The cell's forward step `t` (the drawn weights if `noisy`).
    fn forward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, noisy: bool);
    /// The readout after step `t`.
    fn readout_step(&self, ws: &mut Self::Scratch<'_>, t: usize, noisy: bool);
    /// Before the first (last-in-time) backward step.
    fn backward_start(&self, ws: &mut Self::Scratch<'_>);
    /// The backward step `t` of the seed (with the readout's if `out`).
    fn backward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, out: bool, noisy: bool);
    /// `grad += ∇_θ (s·f)` after [`bptt`].
    fn add_grad(&self, ws: &Self::Scratch<'_>, grad: &mut Self::Grad<'_>);
    /// `dir = ∇_θ (s·f)` after [`bptt`].
    fn grad_to_dir(&self, ws: &mut Self::Scratch<'_>);
    /// `Σ_l η_l ‖dir_l‖²`.
    fn dir_penalty(&self, ws: &Self::Scratch<'_>, e: &Eta, beta: f32) -> f32;
    /// Adds copy t's `Σ_l η_l ‖G_{l,t}‖²` (with the readout's if `out`) to `s`.
    fn step_penalty(
        &self,
        ws: &Self::Scratch<'_>,
        t: usize,
        out: bool,
        e: &Eta,
        beta: f32,
        s: &mut f32,
    );
    /// `grad += coef · dir`.
    fn add_dir(&self, ws: &Self::Scratch<'_>, coef: f32, grad: &mut Self::Grad<'_>);
    /// `dir = η ⊙ dir`; the direction that reads it.
    fn scale_dir(&self, ws: &mut Self::Scratch<'_>, e: &Eta, beta: f32) -> Self::Dir;
    /// The per-step direction: copy t's `η ⊙ G_t`.
    fn rank1(&self, e: &Eta, beta: f32) -> Self::Dir;
    /// The R-forward step `t`.
    fn r_forward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, dir: Self::Dir);
    /// Before the first R-backward step.
    fn r_backward_start(&self, ws: &mut Self::Scratch<'_>);
    /// The R-backward step `t`.
    fn r_backward_step(&self, ws: &mut Self::Scratch<'_>, t: usize, out: bool, dir: Self::Dir);
    /// `grad += R{∇_θ (s·f)}` after [`r_pass`].
    fn add_r_grad(&self, ws: &Self::Scratch<'_>, grad: &mut Self::Grad<'_>);
    /// Number of pre-activations per step (the per-step trace's units).
    fn units(&self) -> usize;
    /// The per-step trace's coefficient of unit `i` at step `s`: `Σ_l η_l`
    /// times the squared inputs its weights multiply (`∂²f/∂θ²_{s,ij} =
    /// a_{s,j}² ∂²f/∂z²_{s,i}`).
    fn unit_coef(&self, ws: &Self::Scratch<'_>, s: usize, i: usize, e: &Eta, beta: f32) -> f32;
    /// The direction moving unit `i`'s pre-activation at step `s` alone.
    fn unit_dir(&self, s: usize, i: usize) -> Self::Dir;
    /// `R{δ}` of unit `i` at step `s` after an [`r_pass`].
    fn rdelta_at(&self, ws: &Self::Scratch<'_>, s: usize, i: usize) -> f32;
    /// The η-weighted Hessian trace of `s·f` over the cell's parameters per
    /// sequence, after a clean [`bptt`].
    fn per_sequence_trace(&self, ws: &mut Self::Scratch<'_>, e: &Eta, beta: f32) -> f32;
}

/// The η-weighted Hessian trace of `s·f` over the noisy cell parameters
/// (the readout is linear and adds nothing), after a clean [`bptt`]; per
/// step the diagonal blocks of the copies: one R pass per step and unit.
fn seed_trace<N: Unrolled>(n: &N, ws: &mut N::Scratch<'_>, e: &Eta, beta: f32) -> f32 {
    match n.noise() {
        RecurrentNoise::PerSequence => n.per_sequence_trace(ws, e, beta),
        RecurrentNoise::PerStep => {
            let mut total = 0.0;
            for s in 0..n.dims().steps {
                for i in 0..n.units() {
                    let c = n.unit_coef(ws, s, i, e, beta);
                    if c == 0.0 {
                        continue;
                    }
                    r_pass(n, ws, n.unit_dir(s, i));
                    total += c * n.rdelta_at(ws, s, i);
                }
            }
            total
        }
    }
}

/// Whether `p` draws weights, and whether per step.
fn modes<N: Unrolled, P: Perturbation>(n: &N, p: &P) -> (bool, bool) {
    let noisy = p.perturbs_weights();
    (noisy, noisy && n.noise() == RecurrentNoise::PerStep)
}

/// Forward pass of the loaded input with the weights `p` supplies: per
/// sequence one draw keyed on step 0; per step the cell drawn before each
/// step and the readout before each readout; every pass ends on step 0's key.
pub(super) fn run_forward<N: Unrolled, P: Perturbation>(n: &N, p: &mut P, ws: &mut N::Scratch<'_>) {
    let d = n.dims();
    let (noisy, per_step) = modes(n, p);
    if noisy && !per_step {
        n.draw(p, 0, Draw::All, ws);
    }
    for t in 0..d.steps {
        if per_step {
            n.draw(p, t, Draw::Cell, ws);
        }
        n.forward_step(ws, t, noisy);
        if d.readout_at(t) {
            if per_step {
                n.draw(p, d.readout_key(t), Draw::Readout, ws);
            }
            n.readout_step(ws, t, noisy);
        }
    }
    if per_step {
        // Back to the feedforward key for whatever draws next.
        p.begin_step(0);
    }
}

/// Back-propagation through time of the seed with the weights `p` supplies
/// (per step, copy t's draw again before its backward step).
pub(super) fn bptt<N: Unrolled, P: Perturbation>(n: &N, p: &mut P, ws: &mut N::Scratch<'_>) {
    let d = n.dims();
    let (noisy, per_step) = modes(n, p);
    if noisy && !per_step {
        n.draw(p, 0, Draw::All, ws);
    }
    n.backward_start(ws);
    for t in (0..d.steps).rev() {
        let out = d.readout_at(t);
        if per_step {
            n.draw(p, t, Draw::Back, ws);
            if out {
                n.draw(p, d.readout_key(t), Draw::Readout, ws);
            }
        }
        n.backward_step(ws, t, out, noisy);
    }
    if per_step {
        p.begin_step(0);
    }
}

/// R-forward and R-backward along `dir` at the clean weights, after a clean
/// [`bptt`].
pub(super) fn r_pass<N: Unrolled>(n: &N, ws: &mut N::Scratch<'_>, dir: N::Dir) {
    let d = n.dims();
    for t in 0..d.steps {
        n.r_forward_step(ws, t, dir);
    }
    n.r_backward_start(ws);
    for t in (0..d.steps).rev() {
        n.r_backward_step(ws, t, d.readout_at(t), dir);
    }
}

/// The penalty of the seed in `ws` (a clean forward pass there); with
/// `grad`, also adds `coef·∇(s·f) + H_{s·f} v` (`v = η ⊙ G`, per copy for
/// per-step noise). Leaves the materialised gradient in the scratch's `dir`,
/// scaled to the direction.
pub(super) fn seed_penalty<N: Unrolled>(
    n: &N,
    ws: &mut N::Scratch<'_>,
    e: &Eta,
    on: NoiseOn,
    grad: Option<(&mut N::Grad<'_>, f32)>,
) -> f32 {
    let d = n.dims();
    let beta = on.bias_term();
    bptt(n, &mut Clean, ws);
    n.grad_to_dir(ws);
    let pen = match n.noise() {
        RecurrentNoise::PerSequence => n.dir_penalty(ws, e, beta),
        RecurrentNoise::PerStep => {
            let mut s = 0.0;
            for t in 0..d.steps {
                n.step_penalty(ws, t, d.readout_at(t), e, beta, &mut s);
            }
            s
        }
    };
    if let Some((grad, coef)) = grad {
        if coef != 0.0 {
            n.add_dir(ws, coef, grad);
        }
        let dir = match n.noise() {
            RecurrentNoise::PerSequence => n.scale_dir(ws, e, beta),
            RecurrentNoise::PerStep => n.rank1(e, beta),
        };
        r_pass(n, ws, dir);
        n.add_r_grad(ws, grad);
    }
    pen
}

/// Forward pass of `x` with the weights `p` supplies.
pub(super) fn forward<N: Unrolled, P: Perturbation>(
    n: &N,
    x: &[f32],
    p: &mut P,
    ws: &mut N::Scratch<'_>,
) -> Result<(), Error> {
    n.load(x, ws)?;
    run_forward(n, p, ws);
    Ok(())
}

/// Adds `∂(dy·f)/∂θ` into `grad` after a forward pass with the same `p`.
pub(super) fn backward<N: Unrolled, P: Perturbation>(
    n: &N,
    ws: &mut N::Scratch<'_>,
    dy: &[f32],
    p: &mut P,
    grad: &mut N::Grad<'_>,
) -> Result<(), Error> {
    n.check(ws)?;
    n.check_grad(grad)?;
    n.dims().set_seed(dy, n.seed(ws))?;
    bptt(n, p, ws);
    n.add_grad(ws, grad);
    Ok(())
}

/// `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` at the clean weights (a clean forward of `x`).
pub(super) fn penalty<N: Unrolled>(
    n: &N,
    x: &[f32],
    eta: &[f32],
    on: NoiseOn,
    ws: &mut N::Scratch<'_>,
) -> Result<f32, Error> {
    let e = check_eta(eta, n.layers())?;
    forward(n, x, &mut Clean, ws)?;
    let d = n.dims();
    let mut total = 0.0;
    for j in 0..d.outputs() {
        d.unit_seed(j, n.seed(ws));
        total += seed_penalty(n, ws, &e, on, None);
    }
    Ok(total)
}

/// Adds `∇_θ [dy·f + ½ penalty]` into `grad`, returns the penalty.
pub(super) fn penalty_grad<N: Unrolled>(
    n: &N,
    ws: &mut N::Scratch<'_>,
    dy: &[f32],
    eta: &[f32],
    on: NoiseOn,
    grad: &mut N::Grad<'_>,
) -> Result<f32, Error> {
    let e = check_eta(eta, n.layers())?;
    n.check(ws)?;
    n.check_grad(grad)?;
    let d = n.dims();
    check_len(dy.len(), d.outputs())?;
    let mut total = 0.0;
    for (j, &c) in dy.iter().enumerate() {
        d.unit_seed(j, n.seed(ws));
        total += seed_penalty(n, ws, &e, on, Some((grad, c)));
    }
    Ok(total)
}

/// The penalty of one seed; with `grad`, the gradient of half of it.
pub(super) fn seeded_penalty<N: Unrolled>(
    n: &N,
    ws: &mut N::Scratch<'_>,
    seed: &[f32],
    eta: &[f32],
    on: NoiseOn,
    grad: Option<&mut N::Grad<'_>>,
) -> Result<f32, Error> {
    let e = check_eta(eta, n.layers())?;
    n.check(ws)?;
    if let Some(g) = &grad {
        n.check_grad(g)?;
    }
    n.dims().set_seed(seed, n.seed(ws))?;
    Ok(seed_penalty(n, ws, &e, on, grad.map(|g| (g, 0.0))))
}

/// The η-weighted Hessian trace of each output (a clean forward of `x`).
pub(super) fn hessian_trace<N: Unrolled>(
    n: &N,
    x: &[f32],
    eta: &[f32],
    on: NoiseOn,
    ws: &mut N::Scratch<'_>,
    traces: &mut [f32],
) -> Result<(), Error> {
    let e = check_eta(eta, n.layers())?;
    let d = n.dims();
    check_len(traces.len(), d.outputs())?;
    forward(n, x, &mut Clean, ws)?;
    for (j, tr) in traces.iter_mut().enumerate() {
        d.unit_seed(j, n.seed(ws));
        bptt(n, &mut Clean, ws);
        *tr = seed_trace(n, ws, &e, on.bias_term());
    }
    Ok(())
}
