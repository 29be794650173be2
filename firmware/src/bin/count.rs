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

use core::fmt::Write;
use core::hint::black_box;

use cortex_m::peripheral::{SYST, syst::SystClkSource};
use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio};
use noisereg::rand_core::SeedableRng;
use noisereg::{
    BoxMuller, Error, Estimator, HalfSquaredError, Init, Network, NoiseKind, Redraw, Sgd, Trainer,
    WeightNoiseConfig, XoshiroLanes, fill_normal,
};
use noisereg_firmware_workload::{BATCH, ETA, FEATURES, LEARNING_RATE, Net, SEED, X, Y};
use panic_semihosting as _;
use rand_xoshiro::Xoshiro128PlusPlus;

/// The board this image is linked for (set by `build.rs`).
const BOARD: &str = env!("NOISEREG_BOARD");

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

/// `count: ` line: `what`, instructions per `unit` (one decimal), and the
/// ratio to `base` if given.
fn line(out: &mut impl Write, what: &str, unit: &str, tenths: u64, base: Option<u64>) {
    let _ = write!(
        out,
        "count: {what:<28} {:>8}.{} instructions per {unit}",
        tenths / 10,
        tenths % 10
    );
    if let Some(b) = base.filter(|&b| b > 0) {
        let r = tenths * 100 / b;
        let _ = write!(out, " ({}.{:02}x plain)", r / 100, r % 100);
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

/// Per-sample cost of a training step (batch [`BATCH`], SGD) in `mode`,
/// with `S` scratch networks, over [`STEPS`] steps after one warm-up step;
/// `empty` is the cost of the loop with an empty body over [`STEPS`]
/// repetitions.
#[inline(never)]
fn train<const S: usize>(mode: Mode, empty: u64) -> Result<u64, Error> {
    let mut net = Net::zeroed();
    net.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(SEED));
    let sgd = Sgd::new(LEARNING_RATE)?;
    let mut t: Trainer<FEATURES, 1, Net, Sgd, S> = Trainer::with_scratch(net, sgd, SEED + 1);
    let additive = WeightNoiseConfig::new(NoiseKind::Additive, ETA)?;
    match mode {
        Mode::Plain => {}
        Mode::Independent => t.set_weight_noise(&additive)?,
        Mode::PerBatch => t.set_weight_noise(&additive.redraw(Redraw::PerBatch))?,
        Mode::Flipout => t.set_weight_noise(&additive.with_estimator(Estimator::Flipout))?,
        Mode::LocalReparam => {
            t.set_weight_noise(&WeightNoiseConfig::new(NoiseKind::LocalReparam, ETA)?)?;
        }
        Mode::Penalty => t = t.with_penalty(&additive)?,
    }
    let targets = Y.as_chunks::<1>().0;
    let (xs, ts) = (&X[..BATCH], &targets[..BATCH]);
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
            "normal_box_muller",
            "normal",
            box_muller(empty_normals)?,
            None,
        );
        line(
            &mut out,
            "normal_fill_normal",
            "normal",
            fill(empty_window),
            None,
        );
        let plain = train::<0>(Mode::Plain, empty_steps)?;
        line(&mut out, "train_plain", "sample", plain, Some(plain));
        // Without a scratch network (the RAM-lean trainer the M0 program
        // uses), then with one (what each estimator does fastest).
        let independent = train::<0>(Mode::Independent, empty_steps)?;
        line(
            &mut out,
            "train_independent_s0",
            "sample",
            independent,
            Some(plain),
        );
        for (what, mode) in [
            ("train_independent", Mode::Independent),
            ("train_per_batch", Mode::PerBatch),
            ("train_flipout", Mode::Flipout),
            ("train_local_reparam", Mode::LocalReparam),
            ("train_explicit_penalty", Mode::Penalty),
        ] {
            line(
                &mut out,
                what,
                "sample",
                train::<1>(mode, empty_steps)?,
                Some(plain),
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

/// Ends the QEMU run with `status`.
fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = writeln!(
            out,
            "verdict: FAILED: hard fault at pc={:#010x}",
            frame.pc()
        );
    }
    exit(debug::EXIT_FAILURE)
}
