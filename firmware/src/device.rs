//! What every image shares: the board's name, the end of a run through
//! semihosting, and a hard-fault handler that ends it with failure, so QEMU
//! never hangs on an error.

use core::fmt::Write;

use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::{debug, hio};

/// The board this image is linked for (set by `build.rs`).
pub const BOARD: &str = env!("NOISEREG_BOARD");

/// Ends the QEMU run with `status` (QEMU's exit code 0 or 1).
pub fn exit(status: debug::ExitStatus) -> ! {
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
