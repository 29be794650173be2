//! What a run produced, its own checks, and the lines it prints.

use core::fmt;

use crate::Fixed6;

/// The outcome of [`run`](crate::run), identical bit for bit on every target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Optimiser steps taken.
    pub steps: u32,
    /// Mean clean loss `½(y − f)²` over the samples before training.
    pub loss_before: f32,
    /// Mean clean loss after training.
    pub loss_after: f32,
    /// Mean loss after training under weight noise of variance
    /// [`ETA`](crate::ETA), `E_ε J(θ + ε)`, estimated from antithetic pairs.
    pub loss_perturbed: f64,
    /// Standard error of [`loss_perturbed`](Self::loss_perturbed).
    pub loss_perturbed_se: f64,
    /// FNV-1a over the bit patterns of the final parameters.
    pub checksum: u32,
}

impl Report {
    /// The run's own checks: every number finite, and the clean loss went
    /// down when there was training.
    ///
    /// # Errors
    ///
    /// A short message saying which check failed.
    pub fn check(&self) -> Result<(), &'static str> {
        let finite = self.loss_before.is_finite()
            && self.loss_after.is_finite()
            && self.loss_perturbed.is_finite()
            && self.loss_perturbed_se.is_finite();
        if !finite {
            return Err("a loss is not finite");
        }
        if self.steps > 0 && self.loss_after >= self.loss_before {
            return Err("training did not lower the loss");
        }
        Ok(())
    }

    /// Writes the report, one `result: ` line per value, each number with
    /// its exact bit pattern; host and device print exactly the same lines.
    ///
    /// # Errors
    ///
    /// Whatever `w` returns.
    pub fn write_to<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        writeln!(w, "result: steps={}", self.steps)?;
        for (name, v) in [
            ("loss_before", self.loss_before),
            ("loss_after", self.loss_after),
        ] {
            let shown = Fixed6(f64::from(v));
            writeln!(w, "result: {name}={shown} bits=0x{:08x}", v.to_bits())?;
        }
        for (name, v) in [
            ("loss_perturbed", self.loss_perturbed),
            ("loss_perturbed_se", self.loss_perturbed_se),
        ] {
            writeln!(
                w,
                "result: {name}={} bits=0x{:016x}",
                Fixed6(v),
                v.to_bits()
            )?;
        }
        writeln!(w, "result: checksum=0x{:08x}", self.checksum)
    }
}
