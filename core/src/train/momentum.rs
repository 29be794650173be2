//! SGD with (heavy-ball) momentum.

use super::optimizer::{Optimizer, copy_state, finite};
use super::parameter_ops::zeroed_like;
use super::validate::{finite_positive, unit_half_open};
use crate::error::Error;
use crate::parameters::Parameters;

/// Momentum's settings, validated when [`Momentum::new`] builds the
/// optimiser. The defaults are `lr = 0.01`, `mu = 0.9`.
///
/// # Examples
///
/// ```
/// use noisereg::MomentumSettings;
/// let s = MomentumSettings { mu: 0.5, ..MomentumSettings::new(0.1) };
/// assert_eq!((s.lr, s.mu), (0.1, 0.5));
/// assert_eq!(MomentumSettings::default().mu, 0.9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MomentumSettings {
    /// Learning rate (finite, `> 0`).
    pub lr: f32,
    /// Momentum coefficient μ, in `[0, 1)`.
    pub mu: f32,
}

impl Default for MomentumSettings {
    fn default() -> Self {
        Self { lr: 0.01, mu: 0.9 }
    }
}

impl MomentumSettings {
    /// The defaults with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            ..Self::default()
        }
    }
}

/// SGD with momentum: `v ← μ·v + g`, `θ ← θ − lr·v`.
///
/// The velocity `v` has the model's type `P` (one value per parameter).
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, Momentum, MomentumSettings, Optimizer};
/// let mut p: Dense<1, 1> = Dense { w: [[1.0]], b: [0.0], act: Default::default() };
/// let g = p.clone();
/// let mut opt = Momentum::new(MomentumSettings { lr: 0.5, mu: 0.5 }, &p).unwrap();
/// opt.step(&mut p, &g).unwrap(); // v = 1, w = 1 - 0.5
/// opt.step(&mut p, &g).unwrap(); // v = 1.5, w = 0.5 - 0.75
/// assert_eq!(p.w[0][0], -0.25);
/// assert!(Momentum::new(MomentumSettings { lr: 0.5, mu: 1.0 }, &p).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Momentum<P> {
    lr: f32,
    mu: f32,
    velocity: P,
}

impl<P: Parameters + Clone> Momentum<P> {
    /// Momentum with `settings`; the velocity starts at 0 with the shape of
    /// `like`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `learning_rate` (finite, `> 0`) or
    /// `momentum` (in `[0, 1)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Momentum, MomentumSettings, Network, Optimizer};
    /// let mut p = Dense::<1, 1>::zeroed();
    /// let mut g = Dense::<1, 1>::zeroed();
    /// g.w = [[1.0]];
    /// let mut m = Momentum::new(MomentumSettings::new(0.1), &p).unwrap();
    /// assert_eq!(m.settings(), MomentumSettings { lr: 0.1, mu: 0.9 });
    /// m.step(&mut p, &g).unwrap();
    /// m.step(&mut p, &g).unwrap();
    /// assert!((p.w[0][0] + 0.1 * (1.0 + 1.9)).abs() < 1e-6);
    /// assert!(Momentum::new(MomentumSettings { lr: 0.1, mu: -0.5 }, &p).is_err());
    /// ```
    pub fn new(settings: MomentumSettings, like: &P) -> Result<Self, Error> {
        Ok(Self {
            lr: finite_positive("learning_rate", settings.lr)?,
            mu: unit_half_open("momentum", settings.mu)?,
            velocity: zeroed_like(like),
        })
    }
}

impl<P> Momentum<P> {
    /// The settings it was built with.
    pub fn settings(&self) -> MomentumSettings {
        MomentumSettings {
            lr: self.lr,
            mu: self.mu,
        }
    }

    /// The velocity.
    pub fn velocity(&self) -> &P {
        &self.velocity
    }
}

impl<P: Parameters> Momentum<P> {
    /// Restores the velocity saved from [`velocity`](Self::velocity) (e.g.
    /// from a checkpoint), so that training continues bit for bit.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if `velocity` has another shape,
    /// [`Error::NonFinite`] naming `optimiser state` if a value is not
    /// finite; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Dense, Momentum, MomentumSettings, Network};
    /// let p = Dense::<1, 1>::zeroed();
    /// let mut v = p.clone();
    /// v.b = [0.5];
    /// let mut opt = Momentum::new(MomentumSettings::new(0.1), &p).unwrap();
    /// opt.restore(&v).unwrap();
    /// assert_eq!(opt.velocity().b, [0.5]);
    /// v.b = [f32::NAN];
    /// assert!(opt.restore(&v).is_err());
    /// assert_eq!(opt.velocity().b, [0.5]);
    /// ```
    pub fn restore(&mut self, velocity: &P) -> Result<(), Error> {
        copy_state(&mut self.velocity, velocity)
    }
}

/// New `(θ, v)` for one parameter: the single formula both passes use.
#[inline(always)]
fn update(lr: f32, mu: f32, p: f32, v: f32, g: f32) -> (f32, f32) {
    let v = mu * v + g;
    (p - lr * v, v)
}

impl<P: Parameters> Optimizer<P> for Momentum<P> {
    fn check(&self, params: &P, grad: &P) -> Result<(), Error> {
        for i in 0..params.slice_count() {
            let it = params.slice(i).iter().zip(self.velocity.slice(i));
            for ((&p, &v), &g) in it.zip(grad.slice(i)) {
                let (p, v) = update(self.lr, self.mu, p, v, g);
                finite(v, "optimiser state")?;
                finite(p, "updated weights")?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, params: &mut P, grad: &P) {
        let (lr, mu) = (self.lr, self.mu);
        for i in 0..params.slice_count() {
            let it = params.slice_mut(i).iter_mut();
            for ((p, v), &g) in it.zip(self.velocity.slice_mut(i)).zip(grad.slice(i)) {
                (*p, *v) = update(lr, mu, *p, *v, g);
            }
        }
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }
}
