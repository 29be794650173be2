//! The firmware's workload, shared by the device program and the host test.
//!
//! [`run`] trains a 10→8→1 tanh network with the `noisereg` core on a subset
//! of the diabetes data held in flash ([`X`], [`Y`]), with additive weight
//! noise redrawn for every sample and Adam, from fixed seeds, and returns a
//! [`Report`]. The device (`firmware/src/main.rs`, under QEMU) and the host
//! test (`tests/firmware_host.rs`) call the same function, so their reports
//! must agree bit for bit.
//!
//! Without the `train` feature the network is only initialised and evaluated
//! (clean and perturbed loss, checksum): the difference in flash between the
//! two builds is what the training step adds.
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

use noisereg::{
    Error, HalfSquaredError, Init, Mlp1, Network, NoiseKind, NoisyLoss, Parameters, Tanh,
    WeightNoiseConfig, clean_loss, perturbed_loss,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

/// The network: 10 inputs, 8 tanh units, one linear output.
pub type Net = Mlp1<FEATURES, HIDDEN, 1, Tanh>;

/// Hidden units.
pub const HIDDEN: usize = 8;

/// Seed of the weight initialisation; the trainer uses `SEED + 1` and the
/// evaluation of the perturbed loss `SEED + 2`.
pub const SEED: u64 = 6;

/// Variance η of the additive weight noise (standard deviation `√η = 0.1`),
/// in training and in the perturbed evaluation.
pub const ETA: f32 = 0.01;

/// Samples per mini-batch; batches are consecutive rows, in turn.
pub const BATCH: usize = 8;

/// Optimiser steps: 25 passes over the data.
#[cfg(feature = "train")]
pub const STEPS: u32 = 400;
/// Optimiser steps: none without the `train` feature.
#[cfg(not(feature = "train"))]
pub const STEPS: u32 = 0;

/// Adam's learning rate.
pub const LEARNING_RATE: f32 = 0.01;

/// Antithetic pairs `(ε, −ε)` in the perturbed evaluation.
pub const EVAL_PAIRS: u32 = 16;

/// Runs the workload: initialise, train [`STEPS`] steps, evaluate.
///
/// # Errors
///
/// Any error of the core (none is expected with these settings).
pub fn run() -> Result<Report, Error> {
    let targets = Y.as_chunks::<1>().0;
    let mut net = Net::zeroed();
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(SEED));
    let noise = WeightNoiseConfig::new(NoiseKind::Additive, ETA)?;
    // The mean is accumulated in f64; the report keeps f32.
    let loss_before = clean_loss(&net, &HalfSquaredError, &X, targets)? as f32;

    #[cfg(feature = "train")]
    let net = train(net, &noise, targets)?;

    let (loss_after, perturbed) = evaluate(&net, &noise, targets)?;
    let mut hash = Fnv1a::new();
    for i in 0..net.slice_count() {
        hash.write_f32s(net.slice(i));
    }
    Ok(Report {
        steps: STEPS,
        loss_before,
        loss_after,
        loss_perturbed: perturbed.mean,
        loss_perturbed_se: perturbed.std_error,
        checksum: hash.finish(),
    })
}

/// Clean loss and loss under weight noise of `net`.
#[inline(never)]
fn evaluate(
    net: &Net,
    noise: &WeightNoiseConfig,
    targets: &[[f32; 1]],
) -> Result<(f32, NoisyLoss), Error> {
    let clean = clean_loss(net, &HalfSquaredError, &X, targets)? as f32;
    let perturbed = perturbed_loss(
        net,
        &HalfSquaredError,
        &X,
        targets,
        noise,
        EVAL_PAIRS,
        SEED + 2,
    )?;
    Ok((clean, perturbed))
}

/// [`STEPS`] Adam steps on mini-batches of [`BATCH`] consecutive samples
/// with additive weight noise redrawn for every sample.
///
/// Not inlined, like [`evaluate`], so their stack frames are siblings
/// instead of adding up in one frame; this frame holds the trainer. The
/// noise is added in place (`set_weight_noise`), not with the by-value
/// builder, which would leave more copies of the trainer in the frame.
#[cfg(feature = "train")]
#[inline(never)]
fn train(net: Net, noise: &WeightNoiseConfig, targets: &[[f32; 1]]) -> Result<Net, Error> {
    use noisereg::{Adam, Trainer};
    let adam = Adam::with_defaults(LEARNING_RATE, &net)?;
    let mut trainer: Trainer<FEATURES, 1, Net, _> = Trainer::new(net, adam, SEED + 1);
    trainer.set_weight_noise(noise)?;
    let batches = X.chunks_exact(BATCH).zip(targets.chunks_exact(BATCH));
    for (xs, ts) in batches.cycle().take(STEPS as usize) {
        trainer.step(&HalfSquaredError, xs, ts)?;
    }
    Ok(trainer.into_network())
}
