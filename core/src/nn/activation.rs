//! Activation functions with their first and second derivatives side by side.

use core::fmt::Debug;

/// An elementwise activation `σ` with `σ'` and `σ''`.
///
/// The `_given` variants receive both `x` and the already computed `σ(x)`,
/// so tanh and sigmoid get their derivatives without a second exponential.
/// NaN in gives NaN out.
///
/// # Examples
///
/// ```
/// use noisereg::{Activation, Tanh};
/// let y = Tanh.f(0.5);
/// assert!((Tanh.df(0.5) - (1.0 - y * y)).abs() < 1e-6);
/// assert_eq!(Tanh.df_given(0.5, y), 1.0 - y * y);
/// ```
pub trait Activation: Copy + Default + Debug {
    /// `σ(x)`.
    fn f(self, x: f32) -> f32;
    /// `σ'(x)`.
    fn df(self, x: f32) -> f32;
    /// `σ''(x)`.
    fn d2f(self, x: f32) -> f32;
    /// `σ'(x)` given `y = σ(x)`.
    #[inline(always)]
    fn df_given(self, x: f32, y: f32) -> f32 {
        let _ = y;
        self.df(x)
    }
    /// `σ''(x)` given `y = σ(x)`.
    #[inline(always)]
    fn d2f_given(self, x: f32, y: f32) -> f32 {
        let _ = y;
        self.d2f(x)
    }

    /// `a[i] = σ(z[i])` over the common prefix, with the bits of [`f`](Self::f)
    /// (vectorised where the activation has a lane version).
    #[doc(hidden)]
    #[inline(always)]
    fn f_slice(self, z: &[f32], a: &mut [f32]) {
        for (ao, zo) in a.iter_mut().zip(z) {
            *ao = self.f(*zo);
        }
    }
}

/// `σ(x) = x`.
///
/// # Examples
///
/// ```
/// use noisereg::{Activation, Identity};
/// assert_eq!((Identity.f(2.0), Identity.df(2.0), Identity.d2f(2.0)), (2.0, 1.0, 0.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity;

/// `σ(x) = tanh x` (the crate's own branch-free rational approximation, within 6 ulp).
///
/// # Examples
///
/// ```
/// use noisereg::{Activation, Tanh};
/// assert_eq!(Tanh.f(0.0), 0.0);
/// assert_eq!(Tanh.df(0.0), 1.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tanh;

/// The logistic function `σ(x) = 1 / (1 + e^{−x})` (own `exp`, within 4 ulp).
///
/// # Examples
///
/// ```
/// use noisereg::{Activation, Sigmoid};
/// assert_eq!(Sigmoid.f(0.0), 0.5);
/// assert_eq!(Sigmoid.df(0.0), 0.25);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sigmoid;

/// `σ(x) = max(x, 0)`; `σ'(0) = 0`, `σ'' = 0` (the kink is not differentiable).
///
/// # Examples
///
/// ```
/// use noisereg::{Activation, Relu};
/// assert_eq!((Relu.f(-1.0), Relu.f(2.0), Relu.df(2.0)), (0.0, 2.0, 1.0));
/// assert!(Relu.f(f32::NAN).is_nan());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relu;

/// `σ(x) = ln(1 + eˣ)`, computed without overflow.
///
/// # Examples
///
/// ```
/// use noisereg::{Activation, Softplus};
/// assert!((Softplus.f(0.0) - core::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(Softplus.f(200.0), 200.0);
/// assert_eq!(Softplus.df(0.0), 0.5);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Softplus;

use crate::math::activations::{logistic, tanh};

impl Activation for Identity {
    #[inline(always)]
    fn f(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn df(self, x: f32) -> f32 {
        let _ = x;
        1.0
    }
    #[inline(always)]
    fn d2f(self, x: f32) -> f32 {
        let _ = x;
        0.0
    }
}

impl Activation for Tanh {
    #[inline(always)]
    fn f(self, x: f32) -> f32 {
        tanh(x)
    }
    #[inline(always)]
    fn df(self, x: f32) -> f32 {
        self.df_given(x, self.f(x))
    }
    #[inline(always)]
    fn d2f(self, x: f32) -> f32 {
        self.d2f_given(x, self.f(x))
    }
    #[inline(always)]
    fn df_given(self, _x: f32, y: f32) -> f32 {
        1.0 - y * y
    }
    #[inline(always)]
    fn d2f_given(self, _x: f32, y: f32) -> f32 {
        -2.0 * y * (1.0 - y * y)
    }
}

impl Activation for Sigmoid {
    #[inline(always)]
    fn f(self, x: f32) -> f32 {
        logistic(x)
    }
    #[inline(always)]
    fn df(self, x: f32) -> f32 {
        self.df_given(x, self.f(x))
    }
    #[inline(always)]
    fn d2f(self, x: f32) -> f32 {
        self.d2f_given(x, self.f(x))
    }
    #[inline(always)]
    fn df_given(self, _x: f32, y: f32) -> f32 {
        y * (1.0 - y)
    }
    #[inline(always)]
    fn d2f_given(self, _x: f32, y: f32) -> f32 {
        y * (1.0 - y) * (1.0 - 2.0 * y)
    }
}

impl Activation for Relu {
    #[inline(always)]
    fn f(self, x: f32) -> f32 {
        // Written so that NaN falls through to `x`.
        if x < 0.0 { 0.0 } else { x }
    }
    #[inline(always)]
    fn df(self, x: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else if x <= 0.0 {
            0.0
        } else {
            x
        }
    }
    #[inline(always)]
    fn d2f(self, x: f32) -> f32 {
        if x.is_nan() { x } else { 0.0 }
    }
}

impl Activation for Softplus {
    #[inline(always)]
    fn f(self, x: f32) -> f32 {
        let m = if x < 0.0 { 0.0 } else { x };
        m + libm::log1pf(libm::expf(-libm::fabsf(x)))
    }
    #[inline(always)]
    fn df(self, x: f32) -> f32 {
        logistic(x)
    }
    #[inline(always)]
    fn d2f(self, x: f32) -> f32 {
        let s = logistic(x);
        s * (1.0 - s)
    }
}

/// An activation chosen at run time (for networks whose layers are picked by
/// configuration, e.g. in the std harness).
///
/// # Examples
///
/// ```
/// use noisereg::{Activation, ActivationKind, Tanh};
/// assert_eq!(ActivationKind::Tanh.f(0.3), Tanh.f(0.3));
/// assert_eq!(ActivationKind::default(), ActivationKind::Identity);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ActivationKind {
    /// [`Identity`].
    #[default]
    Identity,
    /// [`Tanh`].
    Tanh,
    /// [`Sigmoid`].
    Sigmoid,
    /// [`Relu`].
    Relu,
    /// [`Softplus`].
    Softplus,
}

macro_rules! dispatch {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match $self {
            ActivationKind::Identity => Identity.$method($($arg),*),
            ActivationKind::Tanh => Tanh.$method($($arg),*),
            ActivationKind::Sigmoid => Sigmoid.$method($($arg),*),
            ActivationKind::Relu => Relu.$method($($arg),*),
            ActivationKind::Softplus => Softplus.$method($($arg),*),
        }
    };
}

impl Activation for ActivationKind {
    #[inline]
    fn f(self, x: f32) -> f32 {
        dispatch!(self, f(x))
    }
    #[inline]
    fn f_slice(self, z: &[f32], a: &mut [f32]) {
        dispatch!(self, f_slice(z, a))
    }
    #[inline]
    fn df(self, x: f32) -> f32 {
        dispatch!(self, df(x))
    }
    #[inline]
    fn d2f(self, x: f32) -> f32 {
        dispatch!(self, d2f(x))
    }
    #[inline]
    fn df_given(self, x: f32, y: f32) -> f32 {
        dispatch!(self, df_given(x, y))
    }
    #[inline]
    fn d2f_given(self, x: f32, y: f32) -> f32 {
        dispatch!(self, d2f_given(x, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<A: Activation>(act: A, xs: &[f32]) {
        for &x in xs {
            let h = 1e-3f32;
            let fd1 = (act.f(x + h) as f64 - act.f(x - h) as f64) / (2.0 * h as f64);
            let fd2 = (act.df(x + h) as f64 - act.df(x - h) as f64) / (2.0 * h as f64);
            assert!((fd1 - act.df(x) as f64).abs() < 2e-3, "{act:?} df at {x}");
            assert!((fd2 - act.d2f(x) as f64).abs() < 2e-3, "{act:?} d2f at {x}");
            assert_eq!(act.df_given(x, act.f(x)), act.df(x));
            assert_eq!(act.d2f_given(x, act.f(x)), act.d2f(x));
        }
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        let xs = [-3.0, -1.2, -0.4, 0.3, 0.9, 2.5];
        check(Identity, &xs);
        check(Tanh, &xs);
        check(Sigmoid, &xs);
        check(Relu, &xs);
        check(Softplus, &xs);
        check(ActivationKind::Softplus, &xs);
    }

    #[test]
    fn activation_propagates_nan_and_survives_infinity() {
        for k in [
            ActivationKind::Identity,
            ActivationKind::Tanh,
            ActivationKind::Sigmoid,
            ActivationKind::Relu,
            ActivationKind::Softplus,
        ] {
            assert!(k.f(f32::NAN).is_nan(), "{k:?}");
            assert!(
                k.df(f32::NAN).is_nan() || k == ActivationKind::Identity,
                "{k:?}"
            );
            let _ = (
                k.f(f32::INFINITY),
                k.df(f32::NEG_INFINITY),
                k.d2f(f32::INFINITY),
            );
        }
        assert_eq!(Softplus.f(-200.0), 0.0);
        assert!(Sigmoid.f(-200.0) < 1e-37);
    }
}
