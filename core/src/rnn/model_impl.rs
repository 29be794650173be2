//! The [`Model`](crate::Model) impls of the recurrent networks, written once.

use super::driver::Unrolled;
use super::{Readout, Sequence};
use crate::error::Error;

/// The output side of a [`Model`] impl: where the readout goes.
pub(super) trait RnnOutput: AsRef<[f32]> + AsMut<[f32]> + Clone {
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

/// A recurrent network type as its [`Model`](crate::Model) impls run it on
/// sequences of `T` steps: the driver's view of it.
pub(super) trait Unroll<const T: usize> {
    /// The view.
    type Net<'n>: Unrolled
    where
        Self: 'n;
    /// The view with readout `readout`.
    fn unroll(&self, readout: Readout) -> Result<Self::Net<'_>, Error>;
}

macro_rules! rnn_model_for {
    ($net:ident<$($g:ident),*>, $work:ident, $depth:expr, $y:ty) => {
        impl<$(const $g: usize,)* const T: usize, A: $crate::Activation>
            $crate::Model<$crate::Sequence<T, D>, $y> for $net<$($g,)* A>
        {
            type Workspace = $work<$($g,)* T>;

            fn depth(&self) -> usize {
                $depth
            }

            fn check_weight_noise(
                &self,
                config: &$crate::WeightNoiseConfig,
            ) -> ::core::result::Result<(), $crate::Error> {
                self.noise.check_weight_noise(config)
            }

            fn zeros_like(&self) -> Self {
                Self::zeroed().with_noise(self.noise)
            }

            fn workspace(&self) -> Self::Workspace {
                $work::new()
            }

            fn output_buffer(&self) -> $y {
                <$y as $crate::rnn::model_impl::RnnOutput>::zeros()
            }

            fn forward(
                &self,
                x: &$crate::Sequence<T, D>,
                y: &mut $y,
            ) -> ::core::result::Result<(), $crate::Error> {
                let mut ws = $work::<$($g,)* T>::new();
                self.forward_with(x, &mut $crate::Clean, &mut ws, y)
            }

            fn forward_batch(
                &self,
                xs: &[$crate::Sequence<T, D>],
                ys: &mut [$y],
            ) -> ::core::result::Result<(), $crate::Error> {
                $crate::error::check_len(xs.len(), ys.len())?;
                let mut ws = $work::<$($g,)* T>::new();
                for (x, y) in xs.iter().zip(ys) {
                    self.forward_with(x, &mut $crate::Clean, &mut ws, y)?;
                }
                Ok(())
            }

            fn loss_grad_sum<Tg, L: $crate::Loss<Tg>>(
                &self,
                loss: &L,
                xs: &[$crate::Sequence<T, D>],
                targets: &[Tg],
                grad: &mut Self,
                total: &mut f32,
            ) -> ::core::result::Result<(), $crate::Error> {
                $crate::error::check_len(xs.len(), targets.len())?;
                let mut ws = $work::<$($g,)* T>::new();
                let (mut y, mut dy) = (
                    <$y as $crate::rnn::model_impl::RnnOutput>::zeros(),
                    <$y as $crate::rnn::model_impl::RnnOutput>::zeros(),
                );
                for (x, t) in xs.iter().zip(targets) {
                    self.forward_with(x, &mut $crate::Clean, &mut ws, &mut y)?;
                    *total += loss.value_grad(y.as_ref(), t, dy.as_mut())?;
                    self.backward_with(&mut ws, &dy, &mut $crate::Clean, grad)?;
                }
                Ok(())
            }

            fn forward_with<P: $crate::Perturbation>(
                &self,
                x: &$crate::Sequence<T, D>,
                p: &mut P,
                ws: &mut Self::Workspace,
                y: &mut $y,
            ) -> ::core::result::Result<(), $crate::Error> {
                use $crate::rnn::driver::{self, Unrolled};
                let net = rnn_model_for!(@unroll self, $y);
                let mut s = ws.scratch();
                driver::forward(&net, x.as_ref(), p, &mut s)?;
                y.as_mut().copy_from_slice(net.outputs(&s));
                Ok(())
            }

            fn backward_with<P: $crate::Perturbation>(
                &self,
                ws: &mut Self::Workspace,
                dy: &$y,
                p: &mut P,
                grad: &mut Self,
            ) -> ::core::result::Result<(), $crate::Error> {
                // The backward pass writes δ and the draw into the
                // workspace; the forward values stay.
                let net = rnn_model_for!(@unroll self, $y);
                $crate::rnn::driver::backward(
                    &net,
                    &mut ws.scratch(),
                    dy.as_ref(),
                    p,
                    &mut grad.params_mut(),
                )
            }

            fn penalty(
                &self,
                x: &$crate::Sequence<T, D>,
                eta: &[f32],
                on: $crate::NoiseOn,
                ws: &mut Self::Workspace,
            ) -> ::core::result::Result<f32, $crate::Error> {
                let net = rnn_model_for!(@unroll self, $y);
                $crate::rnn::driver::penalty(&net, x.as_ref(), eta, on, &mut ws.scratch())
            }

            fn penalty_grad(
                &self,
                x: &$crate::Sequence<T, D>,
                eta: &[f32],
                on: $crate::NoiseOn,
                ws: &mut Self::Workspace,
                grad: &mut Self,
            ) -> ::core::result::Result<f32, $crate::Error> {
                use $crate::rnn::driver;
                let net = rnn_model_for!(@unroll self, $y);
                $crate::rnn::params::check_eta(eta, $depth)?;
                let mut s = ws.scratch();
                driver::forward(&net, x.as_ref(), &mut $crate::Clean, &mut s)?;
                let zero = <$y as $crate::rnn::model_impl::RnnOutput>::zeros();
                driver::penalty_grad(&net, &mut s, zero.as_ref(), eta, on, &mut grad.params_mut())
            }

            fn penalty_grad_with(
                &self,
                ws: &mut Self::Workspace,
                dy: &$y,
                eta: &[f32],
                on: $crate::NoiseOn,
                grad: &mut Self,
            ) -> ::core::result::Result<f32, $crate::Error> {
                let net = rnn_model_for!(@unroll self, $y);
                $crate::rnn::driver::penalty_grad(
                    &net,
                    &mut ws.scratch(),
                    dy.as_ref(),
                    eta,
                    on,
                    &mut grad.params_mut(),
                )
            }

            fn seeded_penalty_with(
                &self,
                ws: &mut Self::Workspace,
                seed: &$y,
                eta: &[f32],
                on: $crate::NoiseOn,
                grad: Option<&mut Self>,
            ) -> ::core::result::Result<f32, $crate::Error> {
                let net = rnn_model_for!(@unroll self, $y);
                let mut g = grad.map(|g| g.params_mut());
                let s = &mut ws.scratch();
                $crate::rnn::driver::seeded_penalty(&net, s, seed.as_ref(), eta, on, g.as_mut())
            }

            fn hessian_trace(
                &self,
                x: &$crate::Sequence<T, D>,
                eta: &[f32],
                on: $crate::NoiseOn,
                ws: &mut Self::Workspace,
                traces: &mut $y,
            ) -> ::core::result::Result<(), $crate::Error> {
                let net = rnn_model_for!(@unroll self, $y);
                let s = &mut ws.scratch();
                $crate::rnn::driver::hessian_trace(&net, x.as_ref(), eta, on, s, traces.as_mut())
            }
        }
    };
    (@unroll $self:ident, $y:ty) => {
        $crate::rnn::model_impl::Unroll::<T>::unroll(
            $self,
            <$y as $crate::rnn::model_impl::RnnOutput>::READOUT,
        )?
    };
}

/// `Model<Sequence<T, D>, [f32; K]>` (sequence to one) and
/// `Model<Sequence<T, D>, Sequence<T, K>>` (sequence to sequence) for a
/// recurrent network type `$net<sizes…, A>` with `$depth` noise layers and
/// its workspace `$work<sizes…, T>`, over the driver.
macro_rules! rnn_model {
    ($net:ident<$($g:ident),*>, $work:ident, $depth:expr) => {
        rnn_model_for!($net<$($g),*>, $work, $depth, [f32; K]);
        rnn_model_for!($net<$($g),*>, $work, $depth, $crate::Sequence<T, K>);
    };
}
