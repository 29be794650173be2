//! Instruction counts of the core's hot paths on the device, under QEMU.
//!
//! Method: QEMU runs with `-icount shift=0`, so its virtual clock advances
//! exactly 1 ns per guest instruction, and the SysTick counter (core clock
//! source) advances with that virtual clock at the board's clock
//! ([`CLOCK_HZ`]). Instructions in a window = SysTick ticks × 10⁹ /
//! [`CLOCK_HZ`]. QEMU makes the count exact at each read of the counter
//! (a device access ends the translation block there). One tick is
//! 10⁹ / [`CLOCK_HZ`] instructions (40 on the M4F, 62.5 on the M0), so each
//! figure is taken over many repetitions in one window; the same loop with
//! an empty body is timed the same way and subtracted.
//!
//! A cross-check runs a two-instruction assembly loop (`subs`, `bne`) of
//! known length and prints measured over expected instructions.
//!
//! `run.sh` runs this image on both boards and checks every `count:` line is
//! printed; it does not check the values (they change with the code). Run
//! without `-icount shift=0`, the known loop is off and the program exits
//! with failure before printing any figure.
#![no_std]
#![no_main]

#[path = "../device.rs"]
mod device;

use core::fmt::Write;
use core::hint::black_box;

use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};
use device::{BOARD, exit};
use noisereg::rand_core::SeedableRng;
use noisereg::{
    BoxMuller, Clean, Error, Estimator, HalfSquaredError, Init, Loss, Mlp2, Model, Network,
    NoiseKind, Optimizer, RecurrentNoise, Redraw, Sgd, Tanh, Trainer, WeightNoiseConfig,
    XoshiroLanes, fill_normal,
};
use noisereg_firmware_workload::rnn::{
    CO2_TARGETS, CO2_WINDOWS, RNN_BATCH, RNN_LEARNING_RATE, RNN_SEED, RnnTrainer, rnn_initial,
    rnn_noise,
};
use noisereg_firmware_workload::{BATCH, ETA, FEATURES, LEARNING_RATE, Net, SEED, X, Y};
use panic_semihosting as _;
use rand_xoshiro::Xoshiro128PlusPlus;

/// The board's SysTick (core) clock in QEMU: the MPS2's 25 MHz system
/// clock, the nRF51's 16 MHz (the known loop checks it).
const CLOCK_HZ: u64 = match BOARD.as_bytes() {
    b"mps2-an386" => 25_000_000,
    _ => 16_000_000,
};

/// Normals drawn per window.
const NORMALS: usize = 512;

/// Training steps per window (of [`BATCH`] samples each).
const STEPS: usize = 16;

/// Iterations of the known two-instruction loop.
const LOOP: u32 = 1_000_000;

/// Ticks of SysTick between two reads (it counts down, 24 bits).
fn elapsed(start: u32, end: u32) -> u64 {
    u64::from(start.wrapping_sub(end) & 0x00ff_ffff)
}

/// Instructions, in tenths, spent by `f` run `reps` times in one window.
#[inline(never)]
fn window(reps: usize, mut f: impl FnMut()) -> u64 {
    let start = SYST::get_current();
    for _ in 0..reps {
        f();
    }
    let end = SYST::get_current();
    elapsed(start, end) * 10_000_000_000 / CLOCK_HZ
}

/// `count: ` line: `prefix` + `what`, instructions per `unit` (one
/// decimal), and the ratios to the trainer's plain step and to the plain
/// per-sample passes, if given.
fn line(
    out: &mut impl Write,
    (prefix, what): (&str, &str),
    unit: &str,
    tenths: u64,
    bases: Option<(u64, u64)>,
) {
    let width = 34usize.saturating_sub(prefix.len());
    let _ = write!(
        out,
        "count: {prefix}{what:<width$} {:>8}.{} instructions per {unit}",
        tenths / 10,
        tenths % 10
    );
    if let Some((plain, per_sample)) = bases.filter(|&(a, b)| a > 0 && b > 0) {
        let (r, q) = (tenths * 100 / plain, tenths * 100 / per_sample);
        let _ = write!(
            out,
            " ({}.{:02}x plain, {}.{:02}x plain per-sample)",
            r / 100,
            r % 100,
            q / 100,
            q % 100
        );
    }
    let _ = writeln!(out);
}

/// Per-normal cost of `BoxMuller::sample` over [`NORMALS`] draws, minus
/// the loop's own cost.
#[inline(never)]
fn box_muller(empty: u64) -> Result<u64, Error> {
    let mut bm = BoxMuller::new(0.0, 1.0)?;
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let t = window(NORMALS, || {
        black_box(bm.sample(&mut rng));
    });
    Ok(t.saturating_sub(empty) / NORMALS as u64)
}

/// Per-normal cost of `fill_normal` filling [`NORMALS`] values at once.
#[inline(never)]
fn fill(empty: u64) -> u64 {
    let mut rng = XoshiroLanes::seed_from_u64(1);
    let mut buf = [0.0f32; NORMALS];
    let t = window(1, || fill_normal(&mut rng, black_box(&mut buf)));
    black_box(&buf);
    t.saturating_sub(empty) / NORMALS as u64
}

/// Which noise the trainer uses.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    Independent,
    PerBatch,
    Flipout,
    LocalReparam,
    Penalty,
}

/// Per-sample cost of a training step (batch [`BATCH`] of `xs` and the
/// first targets, SGD) of network `N` in `mode`, with `S` scratch networks,
/// over [`STEPS`] steps after one warm-up step; `empty` is the cost of the
/// loop with an empty body over [`STEPS`] repetitions.
#[inline(never)]
fn train<N: Network<IN, 1>, const IN: usize, const S: usize>(
    mode: Mode,
    xs: &[[f32; IN]; BATCH],
    empty: u64,
) -> Result<u64, Error> {
    let mut net = N::zeroed();
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(SEED));
    let sgd = Sgd::new(LEARNING_RATE)?;
    let mut t: Trainer<IN, 1, N, Sgd, S> = Trainer::with_scratch(net, sgd, SEED + 1);
    let additive = WeightNoiseConfig::new(NoiseKind::Additive, ETA)?;
    match mode {
        Mode::Plain => {}
        Mode::Independent => t.set_weight_noise(&additive)?,
        Mode::PerBatch => t.set_weight_noise(&additive.with_redraw(Redraw::PerBatch))?,
        Mode::Flipout => t.set_weight_noise(&additive.with_estimator(Estimator::Flipout))?,
        Mode::LocalReparam => {
            t.set_weight_noise(&WeightNoiseConfig::new(NoiseKind::LocalReparam, ETA)?)?;
        }
        Mode::Penalty => t = t.with_penalty(&additive)?,
    }
    let ts = &Y.as_chunks::<1>().0[..BATCH];
    t.step(&HalfSquaredError, xs, ts)?;
    let mut err = Ok(());
    let c = window(STEPS, || {
        if let Err(e) = t.step(&HalfSquaredError, black_box(xs), ts) {
            err = Err(e);
        }
    });
    err?;
    Ok(c.saturating_sub(empty) / (STEPS * BATCH) as u64)
}

/// Per-sequence cost of a training step of the recurrent workload (Elman
/// 1→8→1 tanh, windows of 12 steps, batch [`RNN_BATCH`], SGD): without
/// noise, or with additive weight noise drawn per sequence or per step;
/// over [`STEPS`] steps after one warm-up step.
#[inline(never)]
fn rnn_train(noise: Option<RecurrentNoise>, empty: u64) -> Result<u64, Error> {
    let net = rnn_initial().with_noise(noise.unwrap_or_default());
    let mut t = RnnTrainer::new(net, Sgd::new(RNN_LEARNING_RATE)?, RNN_SEED + 1);
    if noise.is_some() {
        t.set_weight_noise(&rnn_noise()?)?;
    }
    let (xs, ts) = (&CO2_WINDOWS[..RNN_BATCH], &CO2_TARGETS[..RNN_BATCH]);
    t.step(&HalfSquaredError, xs, ts)?;
    let mut err = Ok(());
    let c = window(STEPS, || {
        if let Err(e) = t.step(&HalfSquaredError, black_box(xs), ts) {
            err = Err(e);
        }
    });
    err?;
    Ok(c.saturating_sub(empty) / (STEPS * RNN_BATCH) as u64)
}

/// Per-sample cost of plain SGD (batch [`BATCH`]) through the per-sample
/// passes the noisy estimators use (`forward_with`, `backward_with`
/// with no perturbation), written out here: the trainer's own plain step
/// runs the batch pass instead, which on these targets (`BLOCK` = 1)
/// prepares the block (transposes every weight matrix) for every sample.
#[inline(never)]
fn plain_per_sample<N: Network<IN, 1>, const IN: usize>(
    xs: &[[f32; IN]; BATCH],
    empty: u64,
) -> Result<u64, Error> {
    let mut net = N::zeroed();
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(SEED));
    let mut grad = N::zeroed();
    let mut cache = Model::workspace(&net);
    let mut sgd = Sgd::new(LEARNING_RATE)?;
    let ts = &Y.as_chunks::<1>().0[..BATCH];
    let mut step = || -> Result<(), Error> {
        for i in 0..grad.slice_count() {
            grad.slice_mut(i).fill(0.0);
        }
        for (x, t) in black_box(xs).iter().zip(ts) {
            let (mut y, mut dy) = ([0.0f32], [0.0f32]);
            Model::forward_with(&net, x, &mut Clean, &mut cache, &mut y)?;
            HalfSquaredError.value_grad(&y, t, &mut dy)?;
            Model::backward_with(&net, &mut cache, &dy, &mut Clean, &mut grad)?;
        }
        let inv = 1.0 / BATCH as f32;
        for i in 0..grad.slice_count() {
            grad.slice_mut(i).iter_mut().for_each(|g| *g *= inv);
        }
        sgd.step(&mut net, &grad)
    };
    step()?;
    let mut err = Ok(());
    let c = window(STEPS, || {
        if let Err(e) = step() {
            err = Err(e);
        }
    });
    err?;
    Ok(c.saturating_sub(empty) / (STEPS * BATCH) as u64)
}

/// Every training row for network `N` (`prefix` names the network).
fn train_rows<N: Network<IN, 1>, const IN: usize>(
    out: &mut impl Write,
    prefix: &str,
    xs: &[[f32; IN]; BATCH],
    empty: u64,
) -> Result<(), Error> {
    let row = |out: &mut _, what: &str, tenths, bases| {
        line(out, (prefix, what), "sample", tenths, Some(bases));
    };
    let plain = train::<N, IN, 0>(Mode::Plain, xs, empty)?;
    let bases = (plain, plain_per_sample::<N, IN>(xs, empty)?);
    row(out, "plain", plain, bases);
    row(out, "plain_per_sample", bases.1, bases);
    // Without a scratch network (the RAM-lean trainer the M0 program
    // uses), then with one (what each estimator does fastest).
    row(
        out,
        "independent_s0",
        train::<N, IN, 0>(Mode::Independent, xs, empty)?,
        bases,
    );
    for (what, mode) in [
        ("independent", Mode::Independent),
        ("per_batch", Mode::PerBatch),
        ("flipout", Mode::Flipout),
        ("local_reparam", Mode::LocalReparam),
        ("explicit_penalty", Mode::Penalty),
    ] {
        row(out, what, train::<N, IN, 1>(mode, xs, empty)?, bases);
    }
    Ok(())
}

/// The network of the host's `train_16_32_32_1` bench group.
type Big = Mlp2<16, 32, 32, 1, Tanh>;

/// Measured and expected instructions of the known loop, in tenths.
#[inline(never)]
fn known_loop() -> (u64, u64) {
    let start = SYST::get_current();
    // SAFETY: a register-only countdown loop: no memory, no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs r0, #1",
            "bne 2b",
            inout("r0") LOOP => _,
            options(nomem, nostack),
        );
    }
    let end = SYST::get_current();
    let measured = elapsed(start, end) * 10_000_000_000 / CLOCK_HZ;
    // Two per iteration, plus the `movs`/`ldr` that loads the count.
    (measured, 10 * (2 * u64::from(LOOP) + 1))
}

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        exit(debug::EXIT_FAILURE)
    };
    p.SYST.set_clock_source(SystClkSource::Core);
    p.SYST.set_reload(0x00ff_ffff);
    p.SYST.clear_current();
    p.SYST.enable_counter();
    let Ok(mut out) = hio::hstdout() else {
        exit(debug::EXIT_FAILURE)
    };

    // The harness itself: an empty window, and the loops with empty bodies.
    let empty_window = window(0, || {});
    let empty_normals = window(NORMALS, || black_box(()));
    let empty_steps = window(STEPS, || black_box(()));
    let _ = writeln!(
        out,
        "count: board={BOARD} clock_hz={CLOCK_HZ} instructions_per_tick={}.{} empty_window={}.{} empty_loop_per_iteration={}.{}",
        10_000_000_000 / CLOCK_HZ / 10,
        10_000_000_000 / CLOCK_HZ % 10,
        empty_window / 10,
        empty_window % 10,
        empty_normals / NORMALS as u64 / 10,
        empty_normals / NORMALS as u64 % 10,
    );
    let (measured, expected) = known_loop();
    let _ = writeln!(
        out,
        "count: known_loop measured={}.{} expected={}.{} ratio_ppm={}",
        measured / 10,
        measured % 10,
        expected / 10,
        expected % 10,
        measured * 1_000_000 / expected
    );
    // Without `-icount shift=0` SysTick follows host time: no figures.
    if measured.abs_diff(expected) * 100 > expected {
        let _ = writeln!(
            out,
            "error: the known loop does not count right: run QEMU with -icount shift=0"
        );
        exit(debug::EXIT_FAILURE)
    }

    let result = (|| -> Result<(), Error> {
        line(
            &mut out,
            ("normal_", "box_muller"),
            "normal",
            box_muller(empty_normals)?,
            None,
        );
        line(
            &mut out,
            ("normal_", "fill_normal"),
            "normal",
            fill(empty_window),
            None,
        );
        let Some(xs) = X.first_chunk::<BATCH>() else {
            return Err(Error::LengthMismatch {
                left: X.len(),
                right: BATCH,
            });
        };
        train_rows::<Net, FEATURES>(&mut out, "train_", xs, empty_steps)?;
        if BOARD == "mps2-an386" {
            // 16 inputs: the 10 features, then the first 6 again.
            let mut big = [[0.0f32; 16]; BATCH];
            for (b, x) in big.iter_mut().zip(xs) {
                for (i, v) in b.iter_mut().enumerate() {
                    *v = x[i % FEATURES];
                }
            }
            train_rows::<Big, 16>(&mut out, "train_16_32_32_1_", &big, empty_steps)?;
        }
        let plain = rnn_train(None, empty_steps)?;
        for (what, noise) in [
            ("plain", None),
            ("per_sequence", Some(RecurrentNoise::PerSequence)),
            ("per_step", Some(RecurrentNoise::PerStep)),
        ] {
            let c = if noise.is_none() {
                plain
            } else {
                rnn_train(noise, empty_steps)?
            };
            let r = c * 100 / plain.max(1);
            let _ = writeln!(
                out,
                "count: rnn_train_{what:<23} {:>8}.{} instructions per sequence ({}.{:02}x plain)",
                c / 10,
                c % 10,
                r / 100,
                r % 100
            );
        }
        Ok(())
    })();
    match result {
        Ok(()) => exit(debug::EXIT_SUCCESS),
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            exit(debug::EXIT_FAILURE)
        }
    }
}
