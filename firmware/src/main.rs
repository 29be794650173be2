//! noisereg on a microcontroller: runs the shared workload (training a small
//! network with weight noise, see `workload/`) on a Cortex-M under QEMU, prints
//! the same `result:` lines as the host test plus the peak stack use, and
//! exits through semihosting with success only if the run's checks pass.
//!
//! Panics (panic-semihosting with `exit`) and hard faults exit with failure,
//! so QEMU never hangs on an error.
#![no_std]
#![no_main]

mod stack;

use core::fmt::Write;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio};
use noisereg::Error;
use noisereg_firmware_workload::{Report, run};
use panic_semihosting as _;

/// The board this image is linked for (set by `build.rs`).
const BOARD: &str = env!("NOISEREG_BOARD");

#[entry]
fn main() -> ! {
    if cfg!(feature = "selftest-panic") {
        panic!("self-test: panic");
    }
    if cfg!(feature = "selftest-hard-fault") {
        cortex_m::asm::udf();
    }
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

/// The workload, in its own frame: `main`'s frame stays small under it.
#[inline(never)]
fn work() -> Result<Report, Error> {
    run()
}

/// Prints the report, the peak stack and the verdict; its formatting
/// temporaries live in this frame, which does not exist while the
/// workload runs.
#[inline(never)]
fn print(report: &Result<Report, Error>, verdict: Result<(), &str>, peak: usize) {
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
    // Only reached without a debugger or emulator listening.
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
