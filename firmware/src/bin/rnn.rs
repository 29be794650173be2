//! The recurrent workload on the device: trains an Elman network 1→8→1 tanh
//! on windows of the monthly CO₂ series with per-sequence weight noise
//! (`noisereg_firmware_workload::rnn`), prints the same `result:` lines as
//! the host test (`tests/firmware_host.rs`, `rnn_workload_report`) plus the
//! peak stack, and exits with success only if the run's checks pass.
#![no_std]
#![no_main]

#[path = "../device.rs"]
mod device;
#[path = "../stack.rs"]
mod stack;
#[path = "../verdict.rs"]
mod verdict;

use cortex_m_rt::entry;
use noisereg::Error;
use noisereg_firmware_workload::rnn::{RnnReport, run_rnn};
use panic_semihosting as _;

#[entry]
fn main() -> ! {
    stack::paint();
    let report = work();
    let peak = stack::high_water();
    verdict::finish(&report, peak)
}

/// The workload, in its own frame.
#[inline(never)]
fn work() -> Result<RnnReport, Error> {
    run_rnn()
}
