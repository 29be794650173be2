//! The recurrent workload on the device: trains an Elman network 1→8→1 tanh
//! on windows of the monthly CO₂ series with per-sequence weight noise
//! (`noisereg_firmware_workload::rnn`), prints the same `result:` lines as
//! the host test (`tests/firmware_host.rs`, `rnn_workload_report`) plus the
//! peak stack, and exits with success only if the run's checks pass.
#![no_std]
#![no_main]

#[path = "../stack.rs"]
mod stack;

use core::fmt::Write;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio};
use noisereg::Error;
use noisereg_firmware_workload::rnn::{RnnReport, run_rnn};
use panic_semihosting as _;

/// The board this image is linked for (set by `build.rs`).
const BOARD: &str = env!("NOISEREG_BOARD");

#[entry]
fn main() -> ! {
    stack::paint();
    let report = work();
    let peak = stack::high_water();
    let verdict = match &report {
        Ok(report) => report.check(),
        Err(_) => Err("the core returned an error"),
    };
    print(&report, verdict, peak);
    exit(match verdict {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(_) => debug::EXIT_FAILURE,
    })
}

/// The workload, in its own frame.
#[inline(never)]
fn work() -> Result<RnnReport, Error> {
    run_rnn()
}

/// Prints the report, the peak stack and the verdict.
#[inline(never)]
fn print(report: &Result<RnnReport, Error>, verdict: Result<(), &str>, peak: usize) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = writeln!(out, "board: {BOARD}");
        let _ = match &report {
            Ok(report) => report.write_to(&mut out),
            Err(e) => writeln!(out, "error: {e}"),
        };
        let _ = writeln!(
            out,
            "measure: stack_peak_bytes={peak} stack_region_bytes={}",
            stack::size()
        );
        let _ = match verdict {
            Ok(()) => writeln!(out, "verdict: ok"),
            Err(why) => writeln!(out, "verdict: FAILED: {why}"),
        };
    }
}

/// Ends the QEMU run with `status` (QEMU's exit code 0 or 1).
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
