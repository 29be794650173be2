//! The end of a workload image: print the report, the peak stack and the
//! verdict, then exit with success only if the run's checks pass.

use core::fmt::{self, Write};

use cortex_m_semihosting::{debug, hio};
use noisereg::Error;
use noisereg_firmware_workload::Report;
use noisereg_firmware_workload::rnn::RnnReport;

use crate::device::{BOARD, exit};
use crate::stack;

/// A workload's report: its `result:` lines and its own checks.
pub trait Checked {
    /// The run's own checks.
    fn check(&self) -> Result<(), &'static str>;
    /// The `result:` lines.
    fn write_to(&self, out: &mut hio::HostStream) -> fmt::Result;
}

impl Checked for Report {
    fn check(&self) -> Result<(), &'static str> {
        Report::check(self)
    }
    fn write_to(&self, out: &mut hio::HostStream) -> fmt::Result {
        Report::write_to(self, out)
    }
}

impl Checked for RnnReport {
    fn check(&self) -> Result<(), &'static str> {
        RnnReport::check(self)
    }
    fn write_to(&self, out: &mut hio::HostStream) -> fmt::Result {
        RnnReport::write_to(self, out)
    }
}

/// Prints and exits; `peak` is the stack high-water mark of the work.
pub fn finish<R: Checked>(report: &Result<R, Error>, peak: usize) -> ! {
    let verdict = match report {
        Ok(report) => report.check(),
        Err(_) => Err("the core returned an error"),
    };
    print(report, verdict, peak);
    exit(match verdict {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(_) => debug::EXIT_FAILURE,
    })
}

/// Its formatting temporaries live in this frame, which does not exist
/// while the workload runs.
#[inline(never)]
fn print<R: Checked>(report: &Result<R, Error>, verdict: Result<(), &str>, peak: usize) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = writeln!(out, "board: {BOARD}");
        let _ = match report {
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
