//! The recurrent workload (issue 12): an Elman network 1→8→1 tanh trained on
//! windows of the monthly CO₂ series with per-sequence weight noise.
//!
//! Each window holds [`STEPS_PER_WINDOW`] consecutive standardised monthly
//! changes of CO₂ ([`CO2_WINDOWS`]); the target is the change of the month
//! after ([`CO2_TARGETS`]). The noise is additive, variance [`RNN_ETA`], one
//! draw per sequence reused at every step ([`RecurrentNoise::PerSequence`],
//! `docs/theory.md` §8), redrawn for every sequence of the batch. The device
//! (`firmware/src/bin/rnn.rs`) and the host test (`tests/firmware_host.rs`)
//! call [`run_rnn`], so their reports must agree bit for bit.

use core::fmt;

use noisereg::{
    Elman, Error, HalfSquaredError, Init, MAX_LAYERS, ModelTrainer, NoiseKind, NoisyLoss,
    Parameters, RecurrentNoise, Sequence, Sgd, Tanh, WeightNoise, WeightNoiseConfig, clean_loss,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

pub use crate::co2_windows::{CO2_TARGETS, CO2_WINDOWS, STEPS_PER_WINDOW, WINDOWS};
use crate::{Fixed6, Fnv1a};

/// Hidden units of the recurrent network.
pub const RNN_HIDDEN: usize = 8;

/// The recurrent network: one input per step, 8 tanh units, one output read
/// after the last step.
pub type RnnNet = Elman<1, RNN_HIDDEN, 1, Tanh>;

/// One window: [`STEPS_PER_WINDOW`] steps of one value.
pub type Window = Sequence<STEPS_PER_WINDOW, 1>;

/// The trainer: plain SGD, per-sample noise without a scratch network.
pub type RnnTrainer = ModelTrainer<Window, [f32; 1], RnnNet, Sgd>;

/// Seed of the initialisation; the trainer uses `RNN_SEED + 1`, the
/// perturbed evaluation `RNN_SEED + 2`.
pub const RNN_SEED: u64 = 12;

/// Variance η of the weight noise (standard deviation 0.1).
pub const RNN_ETA: f32 = 0.01;

/// Sequences per mini-batch (consecutive windows, in turn).
pub const RNN_BATCH: usize = 8;

/// Optimiser steps: 25 passes over the windows.
pub const RNN_STEPS: u32 = 200;

/// SGD's learning rate.
pub const RNN_LEARNING_RATE: f32 = 0.05;

/// Antithetic pairs in the evaluation under weight noise.
pub const RNN_EVAL_PAIRS: u32 = 8;

/// The weight noise: additive, variance [`RNN_ETA`] (per sequence, as the
/// network is built with [`RecurrentNoise::PerSequence`]).
pub fn rnn_noise() -> Result<WeightNoiseConfig, Error> {
    WeightNoiseConfig::new(NoiseKind::Additive, RNN_ETA)
}

/// The initial network: zeroed, per-sequence noise, Glorot from [`RNN_SEED`].
pub fn rnn_initial() -> RnnNet {
    let mut net = RnnNet::zeroed().with_noise(RecurrentNoise::PerSequence);
    net.init(
        Init::Glorot,
        &mut Xoshiro128PlusPlus::seed_from_u64(RNN_SEED),
    );
    net
}

/// The trainer on [`rnn_initial`] with the weight noise on.
///
/// # Errors
///
/// Any error of the core.
pub fn rnn_trainer() -> Result<RnnTrainer, Error> {
    RnnTrainer::new(rnn_initial(), Sgd::new(RNN_LEARNING_RATE)?, RNN_SEED + 1)
        .with_weight_noise(&rnn_noise()?)
}

/// The mean clean loss `½(y − f)²` over the windows (accumulated in f64).
#[inline(never)]
///
/// # Errors
///
/// Any error of the core.
pub fn rnn_clean(net: &RnnNet) -> Result<f64, Error> {
    clean_loss::<_, [f32; 1], _, _, _>(net, &HalfSquaredError, &CO2_WINDOWS, &CO2_TARGETS)
}

/// [`RNN_STEPS`] SGD steps on batches of [`RNN_BATCH`] consecutive windows.
///
/// # Errors
///
/// Any error of the core.
#[inline(never)]
pub fn rnn_steps(trainer: &mut RnnTrainer, steps: u32) -> Result<(), Error> {
    let batches = CO2_WINDOWS
        .chunks_exact(RNN_BATCH)
        .zip(CO2_TARGETS.chunks_exact(RNN_BATCH));
    for (xs, ts) in batches.cycle().take(steps as usize) {
        trainer.step(&HalfSquaredError, xs, ts)?;
    }
    Ok(())
}

/// Runs the recurrent workload: initialise, train [`RNN_STEPS`] steps with
/// per-sequence weight noise, evaluate clean and under weight noise.
///
/// Laid out for a small stack: the loss before, the training and the
/// evaluation are sibling calls, so the trainer (with its 3.9 KiB
/// workspace) and the evaluation's networks never live at the same time;
/// only the trained network comes back to this frame.
///
/// # Errors
///
/// Any error of the core (none is expected with these settings).
#[inline(never)]
pub fn run_rnn() -> Result<RnnReport, Error> {
    let before = initial_loss()? as f32;
    let net = trained()?;
    evaluation(&net, before)
}

/// The clean loss of [`rnn_initial`] (the trainer starts from it).
#[inline(never)]
fn initial_loss() -> Result<f64, Error> {
    rnn_clean(&rnn_initial())
}

/// Trains [`RNN_STEPS`] steps and returns the network; the trainer lives
/// in this frame only, built in place by a sibling call.
#[inline(never)]
fn trained() -> Result<RnnNet, Error> {
    let mut built = new_trainer();
    let trainer = match &mut built {
        Ok(t) => t,
        Err(e) => return Err(*e),
    };
    add_noise(trainer)?;
    rnn_steps(trainer, RNN_STEPS)?;
    Ok(*trainer.network())
}

/// The trainer on [`rnn_initial`], without noise yet, returned in place.
#[inline(never)]
fn new_trainer() -> Result<RnnTrainer, Error> {
    Ok(RnnTrainer::new(
        rnn_initial(),
        Sgd::new(RNN_LEARNING_RATE)?,
        RNN_SEED + 1,
    ))
}

/// Turns on the weight noise; its state is built in this frame.
#[inline(never)]
fn add_noise(trainer: &mut RnnTrainer) -> Result<(), Error> {
    trainer.set_weight_noise(&rnn_noise()?)
}

/// The report on the trained `net`: clean loss, loss under weight noise,
/// checksum of the parameters' bits.
#[inline(never)]
fn evaluation(net: &RnnNet, before: f32) -> Result<RnnReport, Error> {
    let after = rnn_clean(net)?;
    let noisy = rnn_perturbed(net, after)?;
    let mut hash = Fnv1a::new();
    for i in 0..net.slice_count() {
        hash.write_f32s(net.slice(i));
    }
    Ok(RnnReport {
        steps: RNN_STEPS,
        loss_before: before,
        loss_after: after as f32,
        loss_perturbed: noisy.mean,
        loss_perturbed_se: noisy.std_error,
        checksum: hash.finish(),
    })
}

/// The loss of `net` (clean loss `clean`) under per-sequence weight noise
/// from [`RNN_EVAL_PAIRS`] antithetic pairs, seeded with `RNN_SEED + 2`:
/// the numbers of [`noisereg::perturbed_loss`] (the host test checks them
/// bit for bit), with one noise state and one noisy copy in this frame.
///
/// # Errors
///
/// Any error of the core.
#[inline(never)]
pub fn rnn_perturbed(net: &RnnNet, clean: f64) -> Result<NoisyLoss, Error> {
    let mut noise = WeightNoise::new(&rnn_noise()?, RNN_SEED + 2);
    noise.set_eta(&[RNN_ETA; MAX_LAYERS])?;
    let mut noisy = *net;
    let mut failed = None;
    let means = (0..u64::from(RNN_EVAL_PAIRS)).map_while(|p| {
        let mut pair = 0.0f64;
        for negated in [false, true] {
            noise.set_negated(negated);
            noise.set_draw_index(p);
            noise.perturb_parameters(net, &mut noisy);
            match rnn_clean(&noisy) {
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

/// The outcome of [`run_rnn`], identical bit for bit on every target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RnnReport {
    /// Optimiser steps taken.
    pub steps: u32,
    /// Mean clean loss over the windows before training.
    pub loss_before: f32,
    /// Mean clean loss after training.
    pub loss_after: f32,
    /// Mean loss after training under per-sequence weight noise of variance
    /// [`RNN_ETA`], from [`RNN_EVAL_PAIRS`] antithetic pairs.
    pub loss_perturbed: f64,
    /// Standard error of [`loss_perturbed`](Self::loss_perturbed).
    pub loss_perturbed_se: f64,
    /// FNV-1a over the bit patterns of the final parameters.
    pub checksum: u32,
}

impl RnnReport {
    /// The run's own checks: every loss finite, and the clean loss went
    /// down.
    ///
    /// # Errors
    ///
    /// A short message saying which check failed.
    pub fn check(&self) -> Result<(), &'static str> {
        if !(self.loss_before.is_finite()
            && self.loss_after.is_finite()
            && self.loss_perturbed.is_finite()
            && self.loss_perturbed_se.is_finite())
        {
            return Err("a loss is not finite");
        }
        if self.loss_after >= self.loss_before {
            return Err("training did not lower the loss");
        }
        Ok(())
    }

    /// Writes the report as `result: rnn_…` lines with exact bit patterns.
    ///
    /// # Errors
    ///
    /// Whatever `w` returns.
    pub fn write_to<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        writeln!(
            w,
            "result: rnn_steps={} windows={WINDOWS} t={STEPS_PER_WINDOW}",
            self.steps
        )?;
        for (name, v) in [
            ("rnn_loss_before", self.loss_before),
            ("rnn_loss_after", self.loss_after),
        ] {
            let shown = Fixed6(f64::from(v));
            writeln!(w, "result: {name}={shown} bits=0x{:08x}", v.to_bits())?;
        }
        for (name, v) in [
            ("rnn_loss_perturbed", self.loss_perturbed),
            ("rnn_loss_perturbed_se", self.loss_perturbed_se),
        ] {
            writeln!(
                w,
                "result: {name}={} bits=0x{:016x}",
                Fixed6(v),
                v.to_bits()
            )?;
        }
        writeln!(w, "result: rnn_checksum=0x{:08x}", self.checksum)
    }
}
