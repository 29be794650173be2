//! Optimisers for the run-time network with a state that can be saved and
//! restored exactly (for checkpoints).
//!
//! SGD is the core's [`noisereg::Sgd`]. The core's `Momentum` and `Adam` keep
//! their state private (they can be read but not set), so a resumed run could
//! not continue them; [`MomentumState`] and [`AdamState`] are twins with the
//! same update formula, checked bit for bit against the core's optimisers in
//! the tests below. (Should move into the core: state accessors/constructors.)

use crate::dyn_mlp::DynMlp;
use noisereg::{Error, Optimizer, Parameters, Sgd};
use serde::{Deserialize, Serialize};

/// A parameter-shaped buffer stored as `f32` bit patterns (exact in JSON).
pub type Bits = Vec<Vec<u32>>;

/// `p` as bit patterns.
pub fn to_bits(p: &DynMlp) -> Bits {
    (0..p.slice_count())
        .map(|i| p.slice(i).iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// Writes bit patterns `b` into `p`.
///
/// # Errors
///
/// [`Error::LengthMismatch`] if the shapes differ.
pub fn from_bits(p: &mut DynMlp, b: &Bits) -> Result<(), Error> {
    if b.len() != p.slice_count() {
        return Err(Error::LengthMismatch {
            left: b.len(),
            right: p.slice_count(),
        });
    }
    for (i, src) in b.iter().enumerate() {
        let dst = p.slice_mut(i);
        if dst.len() != src.len() {
            return Err(Error::LengthMismatch {
                left: src.len(),
                right: dst.len(),
            });
        }
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits(*s);
        }
    }
    Ok(())
}

fn finite(v: f32, what: &'static str) -> Result<(), Error> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite { what })
    }
}

/// SGD with momentum, `v ← μv + g`, `θ ← θ − lr·v` (the core's formula).
#[derive(Debug, Clone, PartialEq)]
pub struct MomentumState {
    lr: f32,
    mu: f32,
    velocity: DynMlp,
}

impl MomentumState {
    /// Validates the settings with the core's `Momentum::new`.
    ///
    /// # Errors
    ///
    /// As `noisereg::Momentum::new`.
    pub fn new(lr: f32, mu: f32, like: &DynMlp) -> Result<Self, Error> {
        noisereg::Momentum::new(lr, mu, like)?;
        Ok(Self {
            lr,
            mu,
            velocity: like.zeros_like(),
        })
    }

    #[inline(always)]
    fn update(&self, p: f32, v: f32, g: f32) -> (f32, f32) {
        let v = self.mu * v + g;
        (p - self.lr * v, v)
    }
}

impl Optimizer<DynMlp> for MomentumState {
    fn check(&self, params: &DynMlp, grad: &DynMlp) -> Result<(), Error> {
        for i in 0..params.slice_count() {
            let it = params.slice(i).iter().zip(self.velocity.slice(i));
            for ((&p, &v), &g) in it.zip(grad.slice(i)) {
                let (p, v) = self.update(p, v, g);
                finite(v, "optimiser state")?;
                finite(p, "updated weights")?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, params: &mut DynMlp, grad: &DynMlp) {
        let mut vel = std::mem::replace(&mut self.velocity, params.zeros_like());
        for i in 0..params.slice_count() {
            let it = params.slice_mut(i).iter_mut().zip(vel.slice_mut(i));
            for ((p, v), &g) in it.zip(grad.slice(i)) {
                (*p, *v) = self.update(*p, *v, g);
            }
        }
        self.velocity = vel;
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }
}

/// Adam with the core's formula and bias correction by running products.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    beta1_t: f32,
    beta2_t: f32,
    m: DynMlp,
    v: DynMlp,
}

#[derive(Clone, Copy)]
struct AdamConsts {
    b1: f32,
    b2: f32,
    c1: f32,
    c2: f32,
    eps: f32,
}

#[inline(always)]
fn adam_update(k: AdamConsts, p: f32, m: f32, v: f32, g: f32) -> (f32, f32, f32) {
    let m = k.b1 * m + (1.0 - k.b1) * g;
    let v = k.b2 * v + (1.0 - k.b2) * (g * g);
    let p = p - k.c1 * m / ((k.c2 * v).sqrt() + k.eps);
    (p, m, v)
}

impl AdamState {
    /// Adam with the usual betas `0.9`, `0.999` and `ε = 1e-8`, validated by
    /// the core's `Adam::with_defaults`.
    ///
    /// # Errors
    ///
    /// As `noisereg::Adam::new`.
    pub fn with_defaults(lr: f32, like: &DynMlp) -> Result<Self, Error> {
        noisereg::Adam::with_defaults(lr, like)?;
        Ok(Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            beta1_t: 1.0,
            beta2_t: 1.0,
            m: like.zeros_like(),
            v: like.zeros_like(),
        })
    }

    fn consts(&self) -> (AdamConsts, f32, f32) {
        let b1t = self.beta1_t * self.beta1;
        let b2t = self.beta2_t * self.beta2;
        let k = AdamConsts {
            b1: self.beta1,
            b2: self.beta2,
            c1: self.lr / (1.0 - b1t),
            c2: 1.0 / (1.0 - b2t),
            eps: self.eps,
        };
        (k, b1t, b2t)
    }
}

impl Optimizer<DynMlp> for AdamState {
    fn check(&self, params: &DynMlp, grad: &DynMlp) -> Result<(), Error> {
        let (k, _, _) = self.consts();
        for i in 0..params.slice_count() {
            let pm = params.slice(i).iter().zip(self.m.slice(i));
            for (((&p, &m), &v), &g) in pm.zip(self.v.slice(i)).zip(grad.slice(i)) {
                let (p, m, v) = adam_update(k, p, m, v, g);
                finite(m, "optimiser state")?;
                finite(v, "optimiser state")?;
                finite(p, "updated weights")?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, params: &mut DynMlp, grad: &DynMlp) {
        let (k, b1t, b2t) = self.consts();
        for i in 0..params.slice_count() {
            let pm = params.slice_mut(i).iter_mut().zip(self.m.slice_mut(i));
            for (((p, m), v), &g) in pm.zip(self.v.slice_mut(i)).zip(grad.slice(i)) {
                (*p, *m, *v) = adam_update(k, *p, *m, *v, g);
            }
        }
        self.beta1_t = b1t;
        self.beta2_t = b2t;
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }
}

/// The optimiser of a training run.
#[derive(Debug, Clone, PartialEq)]
pub enum Opt {
    /// The core's SGD.
    Sgd(Sgd),
    /// Momentum (μ = 0.9).
    Momentum(MomentumState),
    /// Adam.
    Adam(AdamState),
}

/// Saved optimiser state (bit patterns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptSnapshot {
    /// `sgd`, `momentum` or `adam`.
    pub kind: String,
    /// Momentum velocity, or Adam's first moment.
    pub first: Option<Bits>,
    /// Adam's second moment.
    pub second: Option<Bits>,
    /// Adam's `β₁ᵗ`, `β₂ᵗ` bits.
    pub beta_t: Option<(u32, u32)>,
}

impl Opt {
    /// Saves the state.
    pub fn snapshot(&self) -> OptSnapshot {
        match self {
            Opt::Sgd(_) => OptSnapshot {
                kind: "sgd".into(),
                first: None,
                second: None,
                beta_t: None,
            },
            Opt::Momentum(m) => OptSnapshot {
                kind: "momentum".into(),
                first: Some(to_bits(&m.velocity)),
                second: None,
                beta_t: None,
            },
            Opt::Adam(a) => OptSnapshot {
                kind: "adam".into(),
                first: Some(to_bits(&a.m)),
                second: Some(to_bits(&a.v)),
                beta_t: Some((a.beta1_t.to_bits(), a.beta2_t.to_bits())),
            },
        }
    }

    /// Restores a state saved by [`snapshot`](Self::snapshot).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the kinds differ, [`Error::LengthMismatch`]
    /// if the shapes do.
    pub fn restore(&mut self, s: &OptSnapshot) -> Result<(), Error> {
        let bad = Error::InvalidParameter {
            name: "checkpoint optimiser",
            requirement: "the same optimiser as the run",
        };
        match (self, s.kind.as_str()) {
            (Opt::Sgd(_), "sgd") => Ok(()),
            (Opt::Momentum(m), "momentum") => {
                from_bits(&mut m.velocity, s.first.as_ref().ok_or(bad)?)
            }
            (Opt::Adam(a), "adam") => {
                from_bits(&mut a.m, s.first.as_ref().ok_or(bad)?)?;
                from_bits(&mut a.v, s.second.as_ref().ok_or(bad)?)?;
                let (b1, b2) = s.beta_t.ok_or(bad)?;
                a.beta1_t = f32::from_bits(b1);
                a.beta2_t = f32::from_bits(b2);
                Ok(())
            }
            _ => Err(bad),
        }
    }
}

impl Optimizer<DynMlp> for Opt {
    fn check(&self, params: &DynMlp, grad: &DynMlp) -> Result<(), Error> {
        match self {
            Opt::Sgd(o) => o.check(params, grad),
            Opt::Momentum(o) => o.check(params, grad),
            Opt::Adam(o) => o.check(params, grad),
        }
    }

    fn apply(&mut self, params: &mut DynMlp, grad: &DynMlp) {
        match self {
            Opt::Sgd(o) => o.apply(params, grad),
            Opt::Momentum(o) => o.apply(params, grad),
            Opt::Adam(o) => o.apply(params, grad),
        }
    }

    fn learning_rate(&self) -> f32 {
        match self {
            Opt::Sgd(o) => Optimizer::<DynMlp>::learning_rate(o),
            Opt::Momentum(o) => o.lr,
            Opt::Adam(o) => o.lr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use noisereg::{ActivationKind, BoxMuller, Init};
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    fn random_like(net: &DynMlp, rng: &mut Xoshiro128PlusPlus) -> DynMlp {
        let mut g = net.clone();
        let mut normal = BoxMuller::standard();
        for i in 0..g.slice_count() {
            for v in g.slice_mut(i) {
                *v = normal.sample(rng);
            }
        }
        g
    }

    #[test]
    fn twins_match_core_optimisers_bit_for_bit() {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(21);
        let mut net = DynMlp::mlp(3, &[4], 2, ActivationKind::Tanh).unwrap();
        net.init(Init::Glorot, &mut rng);
        let (mut p1, mut p2, mut p3, mut p4) = (net.clone(), net.clone(), net.clone(), net.clone());
        let mut core_adam = noisereg::Adam::with_defaults(0.01, &net).unwrap();
        let mut twin_adam = AdamState::with_defaults(0.01, &net).unwrap();
        let mut core_mom = noisereg::Momentum::new(0.01, 0.9, &net).unwrap();
        let mut twin_mom = MomentumState::new(0.01, 0.9, &net).unwrap();
        for _ in 0..200 {
            let g = random_like(&net, &mut rng);
            core_adam.step(&mut p1, &g).unwrap();
            twin_adam.step(&mut p2, &g).unwrap();
            core_mom.step(&mut p3, &g).unwrap();
            twin_mom.step(&mut p4, &g).unwrap();
            assert_eq!(to_bits(&p1), to_bits(&p2));
            assert_eq!(to_bits(&p3), to_bits(&p4));
        }
        assert_eq!(to_bits(core_adam.first_moment()), to_bits(&twin_adam.m));
        assert_eq!(to_bits(core_adam.second_moment()), to_bits(&twin_adam.v));
        assert_eq!(to_bits(core_mom.velocity()), to_bits(&twin_mom.velocity));
    }

    #[test]
    fn snapshot_restore_continues_identically() {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
        let mut net = DynMlp::mlp(2, &[3], 1, ActivationKind::Relu).unwrap();
        net.init(Init::He, &mut rng);
        let mut a = Opt::Adam(AdamState::with_defaults(0.05, &net).unwrap());
        let mut p = net.clone();
        for _ in 0..7 {
            let g = random_like(&net, &mut rng);
            a.step(&mut p, &g).unwrap();
        }
        let snap = a.snapshot();
        let mut b = Opt::Adam(AdamState::with_defaults(0.05, &net).unwrap());
        b.restore(&snap).unwrap();
        let mut q = p.clone();
        for _ in 0..7 {
            let g = random_like(&net, &mut rng);
            a.step(&mut p, &g).unwrap();
            b.step(&mut q, &g).unwrap();
        }
        assert_eq!(to_bits(&p), to_bits(&q));
        assert!(
            b.restore(&Opt::Sgd(Sgd::new(0.1).unwrap()).snapshot())
                .is_err()
        );
    }
}
