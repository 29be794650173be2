//! What the one-cell networks ([`ElmanRef`](crate::ElmanRef),
//! [`GruRef`](crate::GruRef)) share beyond the driver: the R-operator's
//! directions, the per-sequence Hessian trace over the cell's unit
//! directions, and (as macros) the hooks and public passes that read the same
//! fields of both.

use super::driver::{Unrolled, r_pass};
use super::ops::at;
use super::params::Eta;

/// A direction of the R-operator pass of a one-cell network.
#[derive(Debug, Clone, Copy)]
pub(in crate::rnn) enum CellDir {
    /// `dir` in the scratch, the same at every step (per sequence).
    Shared,
    /// Per step: at copy t, `η ⊙ G_t` (and `s_t h_tᵀ` for the readout),
    /// never materialised.
    Rank1 { e: Eta, beta: f32 },
    /// A unit change of the pre-activation `z_{step, unit}` alone.
    UnitZ { step: usize, unit: usize },
    /// A unit change of `wx[i][j]` at every step.
    Wx(usize, usize),
    /// A unit change of `b[i]` at every step.
    B(usize),
    /// A unit change of `wh[i][j]` at every step.
    Wh(usize, usize),
}

/// The rows of a one-cell network's values the trace reads.
pub(in crate::rnn) trait OneCell: Unrolled<Dir = CellDir> {
    /// Rows of the cell's weights (`H`, or `3H` for the GRU's gates).
    fn rows(&self) -> usize;
    /// Row t of the input, `δ` and `R{δ}`.
    fn x_delta_rdelta<'w>(
        &self,
        ws: &'w Self::Scratch<'_>,
        t: usize,
    ) -> (&'w [f32], &'w [f32], &'w [f32]);
    /// What recurrent row `i` multiplies at step t, and its R.
    fn recurrent_input<'w>(
        &self,
        ws: &'w Self::Scratch<'_>,
        t: usize,
        i: usize,
    ) -> (&'w [f32], &'w [f32]);
}

/// `Σ_l η_l tr ∇²_{θ_l} (s·f)` over the cell's weights, per sequence: one R
/// pass per cell parameter along its unit direction.
pub(in crate::rnn) fn per_sequence_trace<N: OneCell>(
    n: &N,
    ws: &mut N::Scratch<'_>,
    e: &Eta,
    beta: f32,
) -> f32 {
    let d = n.dims();
    let (di, h, steps) = (d.input, d.hidden, d.steps);
    let rd = |ws: &N::Scratch<'_>, t: usize, i: usize| at(n.x_delta_rdelta(ws, t).2, i);
    let mut total = 0.0;
    for i in 0..n.rows() {
        if e[0] != 0.0 {
            for j in 0..di {
                r_pass(n, ws, CellDir::Wx(i, j));
                let v: f32 = (0..steps)
                    .map(|t| rd(ws, t, i) * at(n.x_delta_rdelta(ws, t).0, j))
                    .sum();
                total += e[0] * v;
            }
            if beta != 0.0 {
                r_pass(n, ws, CellDir::B(i));
                let v: f32 = (0..steps).map(|t| rd(ws, t, i)).sum();
                total += e[0] * beta * v;
            }
        }
        if e[1] != 0.0 {
            for j in 0..h {
                r_pass(n, ws, CellDir::Wh(i, j));
                let v: f32 = (0..steps)
                    .map(|t| {
                        let d = at(n.x_delta_rdelta(ws, t).1, i);
                        let (a, ra) = n.recurrent_input(ws, t, i);
                        rd(ws, t, i) * at(a, j) + d * at(ra, j)
                    })
                    .sum();
                total += e[1] * v;
            }
        }
    }
    total
}

/// The [`Unrolled`] hooks both one-cell networks write the same way (their
/// fields and scratch fields share names): `$gates` row blocks, whether
/// back-propagation redraws the input layer `$back_input`.
macro_rules! one_cell_hooks {
    ($gates:expr, $back_input:expr) => {
        type Grad<'g> = $crate::rnn::params::ElmanParamsMut<'g>;
        type Dir = $crate::rnn::one_cell::CellDir;

        fn dims(&self) -> $crate::rnn::RnnDims {
            self.dims
        }

        fn noise(&self) -> $crate::rnn::RecurrentNoise {
            self.noise
        }

        fn layers(&self) -> usize {
            3
        }

        fn check(&self, ws: &Self::Scratch<'_>) -> Result<(), $crate::Error> {
            ws.check(&self.dims)
        }

        fn check_grad(&self, g: &Self::Grad<'_>) -> Result<(), $crate::Error> {
            g.check(&self.dims, $gates)
        }

        fn outputs<'w>(&self, ws: &'w Self::Scratch<'_>) -> &'w [f32] {
            self.dims.output(ws.y)
        }

        fn seed<'w>(&self, ws: &'w mut Self::Scratch<'_>) -> &'w mut [f32] {
            ws.seed
        }

        fn draw<P: $crate::Perturbation>(
            &self,
            p: &mut P,
            step: usize,
            what: $crate::rnn::driver::Draw,
            ws: &mut Self::Scratch<'_>,
        ) {
            use $crate::rnn::driver::Draw;
            let (d, n) = (&self.dims, &mut ws.noisy);
            match what {
                Draw::All => {
                    self.p.draw_cell(p, 0, true, d, n);
                    self.p.draw_readout(p, 0, d, n);
                }
                Draw::Cell => self.p.draw_cell(p, step, true, d, n),
                Draw::Back => self.p.draw_cell(p, step, $back_input, d, n),
                Draw::Readout => self.p.draw_readout(p, step, d, n),
            }
        }

        #[inline(always)]
        fn readout_step(&self, ws: &mut Self::Scratch<'_>, t: usize, noisy: bool) {
            use $crate::rnn::ops::{row, row_mut};
            let (h, k) = (self.dims.hidden, self.dims.output);
            let w = if noisy { ws.noisy.as_ref() } else { self.p };
            $crate::rnn::readout::forward(w.v, w.c, h, row(ws.h, t, h), row_mut(ws.y, t, k));
        }

        fn backward_start(&self, ws: &mut Self::Scratch<'_>) {
            let (gn, _) = ws.tmp.split_at_mut(self.dims.hidden);
            gn.fill(0.0);
        }

        fn dir_penalty(
            &self,
            ws: &Self::Scratch<'_>,
            e: &$crate::rnn::params::Eta,
            beta: f32,
        ) -> f32 {
            ws.dir.weighted_sq(e, beta)
        }

        fn add_dir(&self, ws: &Self::Scratch<'_>, coef: f32, grad: &mut Self::Grad<'_>) {
            grad.add_scaled(coef, ws.dir.as_ref());
        }

        fn scale_dir(
            &self,
            ws: &mut Self::Scratch<'_>,
            e: &$crate::rnn::params::Eta,
            beta: f32,
        ) -> Self::Dir {
            ws.dir.scale(e, beta);
            $crate::rnn::one_cell::CellDir::Shared
        }

        fn rank1(&self, e: &$crate::rnn::params::Eta, beta: f32) -> Self::Dir {
            $crate::rnn::one_cell::CellDir::Rank1 { e: *e, beta }
        }

        fn r_backward_start(&self, ws: &mut Self::Scratch<'_>) {
            let (rgn, _) = ws.tmp.split_at_mut(self.dims.hidden);
            rgn.fill(0.0);
        }

        fn unit_dir(&self, step: usize, unit: usize) -> Self::Dir {
            $crate::rnn::one_cell::CellDir::UnitZ { step, unit }
        }

        fn per_sequence_trace(
            &self,
            ws: &mut Self::Scratch<'_>,
            e: &$crate::rnn::params::Eta,
            beta: f32,
        ) -> f32 {
            $crate::rnn::one_cell::per_sequence_trace(self, ws, e, beta)
        }
    };
}

/// The constructor and public passes of a one-cell view over scratch
/// `$scratch` with `$gates` row blocks, each pass the driver's (the type's
/// docs say what differs between the cells).
macro_rules! one_cell_passes {
    ($scratch:ident, $gates:expr) => {
        /// A view of `params` with activation `act` (the cell's φ; the
        /// GRU's candidate's).
        ///
        /// # Errors
        ///
        /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) if a
        /// size in `dims` is 0,
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if a slice
        /// does not fit `dims`.
        pub fn new(
            params: $crate::ElmanParams<'a>,
            act: A,
            dims: $crate::RnnDims,
            noise: $crate::RecurrentNoise,
        ) -> Result<Self, $crate::Error> {
            dims.check()?;
            $crate::rnn::params::check_lens(params.lens(), &dims, $gates)?;
            Ok(Self {
                p: params,
                act,
                dims,
                noise,
            })
        }

        /// The sizes.
        pub fn dims(&self) -> $crate::RnnDims {
            self.dims
        }

        /// The noise semantics.
        pub fn noise(&self) -> $crate::RecurrentNoise {
            self.noise
        }

        /// The outputs of the last forward pass in `ws`: `K` values (sequence
        /// to one) or `T·K`.
        pub fn output<'w>(&self, ws: &'w $scratch<'_>) -> &'w [f32] {
            self.dims.output(ws.y)
        }

        /// Forward pass of the sequence `x` (`T·D` values) with the weights
        /// `p` supplies; the outputs are then [`output`](Self::output).
        ///
        /// # Errors
        ///
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if `x` or
        /// `ws` does not fit.
        pub fn forward<P: $crate::Perturbation>(
            &self,
            x: &[f32],
            p: &mut P,
            ws: &mut $scratch<'_>,
        ) -> Result<(), $crate::Error> {
            $crate::rnn::driver::forward(self, x, p, ws)
        }

        /// Adds `∂(dy·f)/∂θ` into `grad`, given a forward pass with the same
        /// `p` in `ws` (`dy`: `K` or `T·K` values). `p` must supply the
        /// forward pass's draw again (a restarted keyed stream does).
        ///
        /// # Errors
        ///
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if `dy`,
        /// `ws` or `grad` does not fit.
        pub fn backward<P: $crate::Perturbation>(
            &self,
            ws: &mut $scratch<'_>,
            dy: &[f32],
            p: &mut P,
            grad: &mut $crate::ElmanParamsMut<'_>,
        ) -> Result<(), $crate::Error> {
            $crate::rnn::driver::backward(self, ws, dy, p, grad)
        }

        /// The penalty `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` at the clean weights, per
        /// sequence `‖Σ_t G_t‖²` or per step `Σ_t ‖G_t‖²` (`docs/theory.md`
        /// §8); runs a clean forward pass of `x` into `ws`. `eta` has 3
        /// entries.
        ///
        /// # Errors
        ///
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if `eta`,
        /// `x` or `ws` does not fit.
        pub fn penalty(
            &self,
            x: &[f32],
            eta: &[f32],
            on: $crate::NoiseOn,
            ws: &mut $scratch<'_>,
        ) -> Result<f32, $crate::Error> {
            $crate::rnn::driver::penalty(self, x, eta, on, ws)
        }

        /// Adds `∇_θ [dy·f + ½ penalty]` into `grad` and returns the penalty,
        /// given a clean forward pass in `ws`. The penalty's gradient is the
        /// Hessian–vector product `H_f (η ⊙ ∇f)` by the R-operator through
        /// time; per step, the direction of unrolled copy t is `η ⊙ G_t`.
        ///
        /// # Errors
        ///
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if `eta`,
        /// `dy`, `ws` or `grad` does not fit; `grad` is unchanged then.
        pub fn penalty_grad(
            &self,
            ws: &mut $scratch<'_>,
            dy: &[f32],
            eta: &[f32],
            on: $crate::NoiseOn,
            grad: &mut $crate::ElmanParamsMut<'_>,
        ) -> Result<f32, $crate::Error> {
            $crate::rnn::driver::penalty_grad(self, ws, dy, eta, on, grad)
        }

        /// The penalty of one seed `s` (`K` or `T·K` values):
        /// `Σ_l η_l ‖∇_{θ_l}(s·f)‖²` (per step: the sum over copies), given a
        /// clean forward pass in `ws`; with `grad`, also adds the gradient of
        /// half of it with `s` held fixed.
        ///
        /// # Errors
        ///
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if `eta`,
        /// `seed`, `ws` or `grad` does not fit.
        pub fn seeded_penalty(
            &self,
            ws: &mut $scratch<'_>,
            seed: &[f32],
            eta: &[f32],
            on: $crate::NoiseOn,
            grad: Option<&mut $crate::ElmanParamsMut<'_>>,
        ) -> Result<f32, $crate::Error> {
            $crate::rnn::driver::seeded_penalty(self, ws, seed, eta, on, grad)
        }

        /// The η-weighted trace of the Hessian of each output over the noisy
        /// parameters, at the clean weights (runs a clean forward pass of
        /// `x`): per sequence `Σ_l η_l tr ∇²_{θ_l} f_k`, per step the
        /// diagonal blocks `Σ_t Σ_l η_l tr ∇²_{θ_{l,t} θ_{l,t}} f_k`
        /// (`docs/theory.md` §8). The readout is linear in its parameters and
        /// adds nothing.
        ///
        /// # Errors
        ///
        /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) if `eta`,
        /// `x`, `ws` or `traces` does not fit.
        pub fn hessian_trace(
            &self,
            x: &[f32],
            eta: &[f32],
            on: $crate::NoiseOn,
            ws: &mut $scratch<'_>,
            traces: &mut [f32],
        ) -> Result<(), $crate::Error> {
            $crate::rnn::driver::hessian_trace(self, x, eta, on, ws, traces)
        }
    };
}

/// A const-generic one-cell network `$net<D, H, K, A>` with workspace
/// `$work<D, H, K, T>`: the workspace's `Default`, the driver's view
/// ([`view`](crate::Elman::view), a `$view`) and the `Model` impls.
macro_rules! one_cell_model {
    ($net:ident, $view:ident, $work:ident) => {
        impl<const D: usize, const H: usize, const K: usize, const T: usize> Default
            for $work<D, H, K, T>
        {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<const D: usize, const H: usize, const K: usize, const T: usize, A>
            $crate::rnn::model_impl::Unroll<T> for $net<D, H, K, A>
        where
            A: $crate::Activation,
        {
            type Net<'n>
                = $view<'n, A>
            where
                Self: 'n;

            fn unroll(
                &self,
                readout: $crate::Readout,
            ) -> ::core::result::Result<$view<'_, A>, $crate::Error> {
                self.view(T, readout)
            }
        }

        rnn_model!($net<D, H, K>, $work, 3);
    };
}
