//! The firmware's workload, shared by the device program and the host test.
//!
//! [`run`] trains a 10→8→1 tanh network with the `noisereg` core on a subset
//! of the diabetes data held in flash ([`X`], [`Y`]), with additive weight
//! noise redrawn for every sample and SGD, from fixed seeds, and returns a
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
mod co2_windows;
#[rustfmt::skip]
mod diabetes_subset;
mod fixed6;
mod fnv1a;
mod report;
pub mod rnn;

pub use diabetes_subset::{FEATURES, SAMPLES, X, Y};
pub use fixed6::Fixed6;
pub use fnv1a::Fnv1a;
pub use report::Report;

use noisereg::{
    Error, HalfSquaredError, Init, MAX_LAYERS, Mlp1, Network, NoiseKind, NoisyLoss, Parameters,
    Tanh, WeightNoise, WeightNoiseConfig, clean_loss,
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

/// SGD's learning rate.
pub const LEARNING_RATE: f32 = 0.05;

/// Antithetic pairs `(ε, −ε)` in the perturbed evaluation.
pub const EVAL_PAIRS: u32 = 16;

/// Runs the workload: initialise, train [`STEPS`] steps, evaluate.
///
/// Laid out for a small stack (the M0 goal is 4 KiB of RAM in all): one
/// `Slot` in `train`'s frame holds the trainer, built in place by a
/// sibling call, and then, in the same bytes, what the evaluation needs;
/// construction temporaries, the noise set-up, the training step and the
/// evaluation are sibling calls on top of it, so they never add up.
///
/// # Errors
///
/// Any error of the core (none is expected with these settings).
pub fn run() -> Result<Report, Error> {
    train()
}

/// The state of the run, in one place: first the trainer, then the
/// trained network with the evaluation's noise state and noisy copy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Slot {
    /// Training (never built without the `train` feature).
    #[cfg_attr(not(feature = "train"), allow(dead_code))]
    Training(Tr),
    /// Evaluating the trained network.
    Evaluating(Evaluation),
}

/// What the evaluation of a network needs.
#[derive(Debug)]
struct Evaluation {
    /// The network evaluated.
    net: Net,
    /// `net` with a draw of weight noise added.
    noisy: Net,
    /// The noise of the antithetic pairs, seeded with `SEED + 2` (set after
    /// the rest, so the slot is never built whole in a temporary).
    noise: Option<WeightNoise>,
}

/// The error a slot in the wrong state gives (cannot happen: the run
/// moves it forward in one order).
const OUT_OF_ORDER: Error = Error::InvalidParameter {
    name: "slot",
    requirement: "train, then evaluate",
};

/// The weight noise of training and evaluation: additive, variance [`ETA`].
fn noise() -> Result<WeightNoiseConfig, Error> {
    WeightNoiseConfig::new(NoiseKind::Additive, ETA)
}

/// The targets as one-element rows.
fn targets() -> &'static [[f32; 1]] {
    Y.as_chunks::<1>().0
}

/// Initialises a zeroed `net` in place: Glorot from [`SEED`].
fn init(net: &mut Net) {
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(SEED));
}

/// The mean clean loss over the data (accumulated in f64).
#[inline(never)]
fn clean(net: &Net) -> Result<f64, Error> {
    clean_loss(net, &HalfSquaredError, &X, targets())
}

/// Turns `slot` into the evaluation of `net` (written in place over
/// whatever the slot held, field by field: `net` must not point into it).
#[inline(never)]
fn start_evaluation(slot: &mut Slot, net: &Net) -> Result<(), Error> {
    *slot = Slot::Evaluating(Evaluation {
        net: Net::zeroed(),
        noisy: Net::zeroed(),
        noise: None,
    });
    let Slot::Evaluating(e) = slot else {
        return Err(OUT_OF_ORDER);
    };
    for i in 0..net.slice_count() {
        e.net.slice_mut(i).copy_from_slice(net.slice(i));
    }
    let noise = e.noise.insert(WeightNoise::new(&noise()?, SEED + 2));
    // The pairs use the configured η, schedule ignored.
    noise.set_eta(&[ETA; MAX_LAYERS])
}

/// The clean loss (accumulated in f64) and the loss under weight noise of
/// `net`, computed as [`run`] computes them on the trained network: the
/// host test checks them against [`noisereg::perturbed_loss`].
///
/// # Errors
///
/// Any error of the core.
pub fn evaluate(net: &Net) -> Result<(f64, NoisyLoss), Error> {
    let mut slot = Slot::Evaluating(Evaluation {
        net: Net::zeroed(),
        noisy: Net::zeroed(),
        noise: None,
    });
    start_evaluation(&mut slot, net)?;
    let Slot::Evaluating(e) = &mut slot else {
        return Err(OUT_OF_ORDER);
    };
    let clean = clean(&e.net)?;
    Ok((clean, perturbed(e, clean)?))
}

/// The report on the slot's evaluation: clean loss, loss under weight
/// noise, checksum of the parameters' bits.
#[inline(never)]
fn report(slot: &mut Slot, loss_before: f32) -> Result<Report, Error> {
    let Slot::Evaluating(e) = slot else {
        return Err(OUT_OF_ORDER);
    };
    let clean = clean(&e.net)?;
    let perturbed = perturbed(e, clean)?;
    let mut hash = Fnv1a::new();
    for i in 0..e.net.slice_count() {
        hash.write_f32s(e.net.slice(i));
    }
    Ok(Report {
        steps: STEPS,
        loss_before,
        loss_after: clean as f32,
        loss_perturbed: perturbed.mean,
        loss_perturbed_se: perturbed.std_error,
        checksum: hash.finish(),
    })
}

/// The loss under weight noise from [`EVAL_PAIRS`] antithetic pairs: the
/// numbers of [`noisereg::perturbed_loss`] (each pair
/// `½ (J(θ + ε_p) + J(θ − ε_p))` with `ε_p` materialised in one noisy copy
/// of the network; halving is exact, so `½·(Σ/n)` equals its `(½·Σ)/n`),
/// with nothing held beyond the [`Evaluation`].
#[inline(never)]
fn perturbed(e: &mut Evaluation, clean: f64) -> Result<NoisyLoss, Error> {
    let Evaluation {
        net,
        noisy,
        noise: Some(noise),
    } = e
    else {
        return Err(OUT_OF_ORDER);
    };
    // The pair means are summarised as they come (no array of them); the
    // first error stops the work and is returned.
    let mut failed = None;
    let means = (0..u64::from(EVAL_PAIRS)).map_while(|p| {
        let mut pair = 0.0f64;
        for negated in [false, true] {
            noise.set_negated(negated);
            noise.set_draw_index(p);
            noise.perturb_parameters(net, noisy);
            match clean_loss(noisy, &HalfSquaredError, &X, targets()) {
                Ok(l) => pair += 0.5 * l,
                Err(e) => {
                    failed = Some(e);
                    return None;
                }
            }
        }
        Some(pair)
    });
    let summary = NoisyLoss::from_pair_means(clean, means);
    match failed {
        Some(e) => Err(e),
        None => summary,
    }
}

/// The trainer: plain SGD (no optimiser state: Adam's two moments would
/// double the parameters' RAM), the noise seeded with `SEED + 1`.
type Tr = noisereg::Trainer<FEATURES, 1, Net, noisereg::Sgd>;

/// A slot holding a trainer on a zeroed network, returned in place (a large
/// return value is written straight into the caller's slot).
#[cfg(feature = "train")]
#[inline(never)]
fn new_trainer() -> Result<Slot, Error> {
    let sgd = noisereg::Sgd::new(LEARNING_RATE)?;
    Ok(Slot::Training(Tr::new(Net::zeroed(), sgd, SEED + 1)))
}

/// Turns on the weight noise; the new noise state is built in this frame.
#[cfg(feature = "train")]
#[inline(never)]
fn add_noise(trainer: &mut Tr) -> Result<(), Error> {
    trainer.set_weight_noise(&noise()?)
}

/// [`STEPS`] SGD steps on mini-batches of [`BATCH`] consecutive samples
/// with the noise redrawn for every sample.
#[cfg(feature = "train")]
#[inline(never)]
fn steps(trainer: &mut Tr) -> Result<(), Error> {
    let batches = X.chunks_exact(BATCH).zip(targets().chunks_exact(BATCH));
    for (xs, ts) in batches.cycle().take(STEPS as usize) {
        trainer.step(&HalfSquaredError, xs, ts)?;
    }
    Ok(())
}

/// Moves the slot from training to evaluation: the trained network is
/// copied out (this frame), then the slot is overwritten.
#[cfg(feature = "train")]
#[inline(never)]
fn trained_to_evaluation(slot: &mut Slot) -> Result<(), Error> {
    let Slot::Training(t) = slot else {
        return Err(OUT_OF_ORDER);
    };
    let net = *t.network();
    start_evaluation(slot, &net)
}

/// Trains from the initialisation, then reports on the trained network.
///
/// This frame holds the [`Slot`] and nothing else large: every phase works
/// on it in place.
#[cfg(feature = "train")]
#[inline(never)]
fn train() -> Result<Report, Error> {
    let mut built = new_trainer();
    let slot = match &mut built {
        Ok(slot) => slot,
        Err(e) => return Err(*e),
    };
    let Slot::Training(trainer) = slot else {
        return Err(OUT_OF_ORDER);
    };
    init(trainer.network_mut());
    add_noise(trainer)?;
    // The mean is accumulated in f64; the report keeps f32.
    let before = clean(trainer.network())? as f32;
    steps(trainer)?;
    trained_to_evaluation(slot)?;
    report(slot, before)
}

/// Without training: evaluates the initialised network.
#[cfg(not(feature = "train"))]
#[inline(never)]
fn train() -> Result<Report, Error> {
    let mut slot = Slot::Evaluating(Evaluation {
        net: Net::zeroed(),
        noisy: Net::zeroed(),
        noise: None,
    });
    let Slot::Evaluating(e) = &mut slot else {
        return Err(OUT_OF_ORDER);
    };
    init(&mut e.net);
    let before = clean(&e.net)? as f32;
    let net = e.net;
    start_evaluation(&mut slot, &net)?;
    report(&mut slot, before)
}
