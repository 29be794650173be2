//! noisereg on a microcontroller: runs the shared workload (training a small
//! network with weight noise, see `workload/`) on a Cortex-M under QEMU, prints
//! the same `result:` lines as the host test plus the peak stack use, and
//! exits through semihosting with success only if the run's checks pass.
//!
//! Panics (panic-semihosting with `exit`) and hard faults exit with failure,
//! so QEMU never hangs on an error.
#![no_std]
#![no_main]

use cortex_m_rt::entry;

mod device;
mod stack;
mod verdict;

use noisereg::Error;
use noisereg_firmware_workload::{Report, run};
use panic_semihosting as _;

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
    verdict::finish(&report, peak)
}

/// The workload, in its own frame: `main`'s frame stays small under it.
#[inline(never)]
fn work() -> Result<Report, Error> {
    run()
}
