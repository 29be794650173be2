//! Adam (Kingma & Ba 2015).

use super::optimizer::{Optimizer, check_state, finite};
use super::parameter_ops::{copy_checked, zeroed_like};
use super::validate::{finite_positive, unit_half_open};
use crate::error::Error;
use crate::parameters::Parameters;

/// Adam's settings, validated when [`Adam::new`] builds the optimiser.
///
/// The defaults are Kingma & Ba's: `lr = 1e-3`, `β₁ = 0.9`, `β₂ = 0.999`,
/// `ε = 1e-8`; name only the fields that differ.
///
/// # Examples
///
/// ```
/// use noisereg::AdamSettings;
/// let s = AdamSettings { lr: 0.01, beta2: 0.99, ..AdamSettings::default() };
/// assert_eq!((s.lr, s.beta1, s.beta2, s.eps), (0.01, 0.9, 0.99, 1e-8));
/// assert_eq!(AdamSettings::new(0.01), AdamSettings { lr: 0.01, ..Default::default() });
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamSettings {
    /// Learning rate (finite, `> 0`).
    pub lr: f32,
    /// First-moment decay β₁, in `[0, 1)`.
    pub beta1: f32,
    /// Second-moment decay β₂, in `[0, 1)`.
    pub beta2: f32,
    /// ε added to `√v̂` (finite, `> 0`).
    pub eps: f32,
}

impl Default for AdamSettings {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamSettings {
    /// The defaults with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            ..Self::default()
        }
    }
}

/// Adam: bias-corrected first and second moment estimates of the gradient.
///
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `θ ← θ − lr·m̂ / (√v̂ + ε)` with `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`.
/// The moments have the model's type `P`; `β₁ᵗ`, `β₂ᵗ` are carried as running
/// products (no `powf`).
///
/// # Examples
///
/// ```
/// use noisereg::{Adam, AdamSettings, Optimizer, Dense};
/// let mut p: Dense<1, 1> = Dense { w: [[1.0]], b: [0.0], act: Default::default() };
/// let g: Dense<1, 1> = Dense { w: [[4.0]], b: [0.0], act: Default::default() };
/// let mut adam = Adam::new(AdamSettings::new(0.1), &p).unwrap();
/// adam.step(&mut p, &g).unwrap();
/// assert!((p.w[0][0] - 0.9).abs() < 1e-6); // first step moves by ≈ lr
/// let bad = AdamSettings { beta2: 1.0, ..AdamSettings::new(0.1) };
/// assert!(Adam::new(bad, &p).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Adam<P> {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    beta1_t: f32,
    beta2_t: f32,
    m: P,
    v: P,
}

impl<P: Parameters + Clone> Adam<P> {
    /// Adam with `settings`; the moments start at 0 with the shape of `like`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `learning_rate` or `epsilon`
    /// (finite, `> 0`), `beta1` or `beta2` (in `[0, 1)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Adam, AdamSettings, Dense, Network, Optimizer};
    /// let mut p = Dense::<1, 1>::zeroed();
    /// let mut g = Dense::<1, 1>::zeroed();
    /// g.w = [[1.0]];
    /// let settings = AdamSettings { lr: 0.1, beta2: 0.99, ..AdamSettings::default() };
    /// let mut adam = Adam::new(settings, &p).unwrap();
    /// assert_eq!(adam.settings(), settings);
    /// adam.step(&mut p, &g).unwrap();
    /// assert!((p.w[0][0] + 0.1).abs() < 1e-6); // first step: −lr·sign(g)
    /// assert!(Adam::new(AdamSettings { beta1: 1.0, ..settings }, &p).is_err());
    /// ```
    pub fn new(settings: AdamSettings, like: &P) -> Result<Self, Error> {
        Ok(Self {
            lr: finite_positive("learning_rate", settings.lr)?,
            beta1: unit_half_open("beta1", settings.beta1)?,
            beta2: unit_half_open("beta2", settings.beta2)?,
            eps: finite_positive("epsilon", settings.eps)?,
            beta1_t: 1.0,
            beta2_t: 1.0,
            m: zeroed_like(like),
            v: zeroed_like(like),
        })
    }

    /// Adam with the usual defaults `β₁ = 0.9`, `β₂ = 0.999`, `ε = 1e-8`.
    ///
    /// # Errors
    ///
    /// As [`Adam::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Adam, Dense, Network};
    /// let adam = Adam::with_defaults(0.01, &Dense::<1, 1>::zeroed()).unwrap();
    /// assert_eq!(adam.beta_powers(), (1.0, 1.0));
    /// assert_eq!(adam.first_moment(), &Dense::zeroed());
    /// ```
    pub fn with_defaults(lr: f32, like: &P) -> Result<Self, Error> {
        Self::new(AdamSettings::new(lr), like)
    }
}

/// Per-step constants of one update.
#[derive(Clone, Copy)]
struct StepConsts {
    b1: f32,
    b2: f32,
    /// `lr / (1 − β₁ᵗ)`.
    c1: f32,
    /// `1 / (1 − β₂ᵗ)`.
    c2: f32,
    eps: f32,
}

/// New `(θ, m, v)` for one parameter: the single formula both passes use.
#[inline(always)]
fn update(k: StepConsts, p: f32, m: f32, v: f32, g: f32) -> (f32, f32, f32) {
    let m = k.b1 * m + (1.0 - k.b1) * g;
    let v = k.b2 * v + (1.0 - k.b2) * (g * g);
    let p = p - k.c1 * m / (crate::nn::sqrt_f32(k.c2 * v) + k.eps);
    (p, m, v)
}

impl<P> Adam<P> {
    /// The settings it was built with.
    pub fn settings(&self) -> AdamSettings {
        AdamSettings {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
        }
    }

    /// First-moment estimate.
    pub fn first_moment(&self) -> &P {
        &self.m
    }

    /// Second-moment estimate.
    pub fn second_moment(&self) -> &P {
        &self.v
    }

    /// The bias-correction powers `(β₁ᵗ, β₂ᵗ)` after `t` steps.
    pub fn beta_powers(&self) -> (f32, f32) {
        (self.beta1_t, self.beta2_t)
    }

    fn consts(&self) -> (StepConsts, f32, f32) {
        let b1t = self.beta1_t * self.beta1;
        let b2t = self.beta2_t * self.beta2;
        let k = StepConsts {
            b1: self.beta1,
            b2: self.beta2,
            c1: self.lr / (1.0 - b1t),
            c2: 1.0 / (1.0 - b2t),
            eps: self.eps,
        };
        (k, b1t, b2t)
    }
}

impl<P: Parameters> Adam<P> {
    /// Restores the state saved from [`first_moment`](Self::first_moment),
    /// [`second_moment`](Self::second_moment) and
    /// [`beta_powers`](Self::beta_powers) (e.g. from a checkpoint), so that
    /// training continues bit for bit.
    ///
    /// # Errors
    ///
    /// [`Error::LengthMismatch`] if a moment has another shape,
    /// [`Error::NonFinite`] naming `optimiser state` for a non-finite value,
    /// [`Error::InvalidParameter`] naming `beta powers` unless both are in
    /// `[0, 1]`, or `second moment` for a negative entry; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{Adam, Dense, Network, Optimizer};
    /// let mut p = Dense::<1, 1>::zeroed();
    /// let g = Dense::<1, 1> { w: [[1.0]], b: [2.0], act: Default::default() };
    /// let mut a = Adam::with_defaults(0.1, &p).unwrap();
    /// a.step(&mut p, &g).unwrap();
    /// let mut b = Adam::with_defaults(0.1, &p).unwrap();
    /// let (b1, b2) = a.beta_powers();
    /// b.restore(a.first_moment(), a.second_moment(), b1, b2).unwrap();
    /// assert_eq!(a, b);
    /// assert!(b.restore(a.first_moment(), a.second_moment(), 2.0, b2).is_err());
    /// ```
    pub fn restore(&mut self, m: &P, v: &P, beta1_t: f32, beta2_t: f32) -> Result<(), Error> {
        if !((0.0..=1.0).contains(&beta1_t) && (0.0..=1.0).contains(&beta2_t)) {
            return Err(Error::InvalidParameter {
                name: "beta powers",
                requirement: "in [0, 1]",
            });
        }
        check_state(&self.m, m)?;
        check_state(&self.v, v)?;
        for i in 0..v.slice_count() {
            if v.slice(i).iter().any(|&x| x < 0.0) {
                return Err(Error::InvalidParameter {
                    name: "second moment",
                    requirement: ">= 0",
                });
            }
        }
        copy_checked(&mut self.m, m);
        copy_checked(&mut self.v, v);
        self.beta1_t = beta1_t;
        self.beta2_t = beta2_t;
        Ok(())
    }
}

impl<P: Parameters> Optimizer<P> for Adam<P> {
    fn check(&self, params: &P, grad: &P) -> Result<(), Error> {
        let (k, _, _) = self.consts();
        for i in 0..params.slice_count() {
            let pm = params.slice(i).iter().zip(self.m.slice(i));
            for (((&p, &m), &v), &g) in pm.zip(self.v.slice(i)).zip(grad.slice(i)) {
                let (p, m, v) = update(k, p, m, v, g);
                finite(m, "optimiser state")?;
                finite(v, "optimiser state")?;
                finite(p, "updated weights")?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, params: &mut P, grad: &P) {
        let (k, b1t, b2t) = self.consts();
        for i in 0..params.slice_count() {
            let pm = params.slice_mut(i).iter_mut().zip(self.m.slice_mut(i));
            for (((p, m), v), &g) in pm.zip(self.v.slice_mut(i)).zip(grad.slice(i)) {
                (*p, *m, *v) = update(k, *p, *m, *v, g);
            }
        }
        self.beta1_t = b1t;
        self.beta2_t = b2t;
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }
}
