//! The firmware's workload, shared by the device program and the host test.
//!
//! [`run`] trains a small network with the `noisereg` core on a subset of the
//! diabetes data held in flash, from a fixed seed, and returns a [`Report`].
//! The device (`firmware/src/main.rs`, under QEMU) and the host test
//! (`tests/firmware_host.rs`) call the same function, so their reports must
//! agree bit for bit.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]

#[rustfmt::skip]
mod diabetes_subset;
mod fixed6;
mod fnv1a;
mod report;

pub use diabetes_subset::{FEATURES, SAMPLES, X, Y};
pub use fixed6::Fixed6;
pub use fnv1a::Fnv1a;
pub use report::Report;

#[cfg(feature = "train")]
use noisereg::axpy;
use noisereg::{BoxMuller, dot};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// Seed of the run's only generator.
pub const SEED: u64 = 6;

/// Variance η of the weight noise.
pub const ETA: f32 = 1e-3;

/// Training steps (one sample each, cycling through the data).
#[cfg(feature = "train")]
pub const STEPS: u32 = 1_000;
/// Training steps: none without the `train` feature.
#[cfg(not(feature = "train"))]
pub const STEPS: u32 = 0;

/// Learning rate.
#[cfg(feature = "train")]
const LEARNING_RATE: f32 = 0.01;

/// Linear model `wᵀx + b` (placeholder until the networks land).
#[derive(Debug, Clone, Copy)]
struct Linear {
    w: [f32; FEATURES],
    b: f32,
}

impl Linear {
    fn predict(&self, x: &[f32; FEATURES]) -> f32 {
        dot(&self.w, x).unwrap_or(f32::NAN) + self.b
    }

    fn mean_loss(&self) -> f32 {
        let mut sum = 0.0;
        for (x, y) in X.iter().zip(Y.iter()) {
            let r = y - self.predict(x);
            sum += 0.5 * r * r;
        }
        sum / SAMPLES as f32
    }
}

/// Runs the workload from [`SEED`].
pub fn run() -> Report {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(SEED);
    let mut init = BoxMuller::new(0.0, 0.3).unwrap_or(BoxMuller::standard());
    let mut model = Linear {
        w: [0.0; FEATURES],
        b: 0.0,
    };
    for w in model.w.iter_mut() {
        *w = init.sample(&mut rng);
    }
    let loss_before = model.mean_loss();

    #[cfg(feature = "train")]
    for step in 0..STEPS {
        let i = step as usize % SAMPLES;
        let (x, y) = (&X[i], Y[i]);
        let r = model.predict(x) - y;
        let _ = axpy(-LEARNING_RATE * r, x, &mut model.w);
        model.b -= LEARNING_RATE * r;
    }
    let loss_after = model.mean_loss();

    let mut noise = BoxMuller::new(0.0, libm::sqrtf(ETA)).unwrap_or(BoxMuller::standard());
    let mut perturbed = model;
    for w in perturbed.w.iter_mut() {
        *w += noise.sample(&mut rng);
    }
    let loss_perturbed = perturbed.mean_loss();

    let mut hash = Fnv1a::new();
    hash.write_f32s(&model.w);
    hash.write_f32s(&[model.b]);
    Report {
        steps: STEPS,
        loss_before,
        loss_after,
        loss_perturbed,
        checksum: hash.finish(),
    }
}
