//! The optimiser of a run (the core's SGD, momentum or Adam) and its state
//! saved as bit patterns for checkpoints (`Momentum::restore`,
//! `Adam::restore` put it back).

use crate::dyn_mlp::DynMlp;
use noisereg::{Adam, Error, Momentum, Optimizer, Parameters, Sgd};
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

/// The optimiser of a training run.
#[derive(Debug, Clone, PartialEq)]
pub enum Opt {
    /// The core's SGD.
    Sgd(Sgd),
    /// Momentum (μ = 0.9).
    Momentum(Momentum<DynMlp>),
    /// Adam.
    Adam(Adam<DynMlp>),
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
                first: Some(to_bits(m.velocity())),
                second: None,
                beta_t: None,
            },
            Opt::Adam(a) => OptSnapshot {
                kind: "adam".into(),
                first: Some(to_bits(a.first_moment())),
                second: Some(to_bits(a.second_moment())),
                beta_t: Some({
                    let (b1, b2) = a.beta_powers();
                    (b1.to_bits(), b2.to_bits())
                }),
            },
        }
    }

    /// Restores a state saved by [`snapshot`](Self::snapshot).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the kinds differ, [`Error::LengthMismatch`]
    /// if the shapes do, and the core's checks of the values (finite, β
    /// powers in `[0, 1]`, second moment `≥ 0`); nothing changes on error.
    pub fn restore(&mut self, s: &OptSnapshot) -> Result<(), Error> {
        let bad = Error::InvalidParameter {
            name: "checkpoint optimiser",
            requirement: "the same optimiser as the run",
        };
        match (self, s.kind.as_str()) {
            (Opt::Sgd(_), "sgd") => Ok(()),
            (Opt::Momentum(m), "momentum") => {
                let mut v = m.velocity().clone();
                from_bits(&mut v, s.first.as_ref().ok_or(bad)?)?;
                m.restore(&v)
            }
            (Opt::Adam(a), "adam") => {
                let (mut m, mut v) = (a.first_moment().clone(), a.second_moment().clone());
                from_bits(&mut m, s.first.as_ref().ok_or(bad)?)?;
                from_bits(&mut v, s.second.as_ref().ok_or(bad)?)?;
                let (b1, b2) = s.beta_t.ok_or(bad)?;
                a.restore(&m, &v, f32::from_bits(b1), f32::from_bits(b2))
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
            Opt::Momentum(o) => o.learning_rate(),
            Opt::Adam(o) => o.learning_rate(),
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
    fn snapshot_restore_continues_identically() {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
        let mut net = DynMlp::mlp(2, &[3], 1, ActivationKind::Relu).unwrap();
        net.init(Init::He, &mut rng);
        let adam = || Opt::Adam(Adam::with_defaults(0.05, &net).unwrap());
        let momentum = || {
            Opt::Momentum(
                Momentum::new(noisereg::MomentumSettings { lr: 0.05, mu: 0.9 }, &net).unwrap(),
            )
        };
        for fresh in [&adam as &dyn Fn() -> Opt, &momentum] {
            let mut a = fresh();
            let mut p = net.clone();
            for _ in 0..7 {
                let g = random_like(&net, &mut rng);
                a.step(&mut p, &g).unwrap();
            }
            let snap = a.snapshot();
            let mut b = fresh();
            b.restore(&snap).unwrap();
            assert_eq!(a, b);
            let mut q = p.clone();
            for _ in 0..7 {
                let g = random_like(&net, &mut rng);
                a.step(&mut p, &g).unwrap();
                b.step(&mut q, &g).unwrap();
            }
            assert_eq!(to_bits(&p), to_bits(&q));
            assert_eq!(a.snapshot(), b.snapshot());
            assert!(
                b.restore(&Opt::Sgd(Sgd::new(0.1).unwrap()).snapshot())
                    .is_err()
            );
            // A corrupt state is rejected and leaves the optimiser as it was.
            let mut bad = b.snapshot();
            if let Some(f) = bad.first.as_mut() {
                f[0][0] = f32::NAN.to_bits();
            }
            assert!(b.restore(&bad).is_err());
            assert_eq!(a, b);
        }
    }
}
