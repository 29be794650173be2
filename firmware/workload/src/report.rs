//! What a run produced, its own checks, and the lines it prints.

use core::fmt;

use crate::Fixed6;

/// The outcome of [`run`](crate::run), identical bit for bit on every target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Training steps taken (one sample each).
    pub steps: u32,
    /// Mean clean loss `½(y − f)²` over the samples before training.
    pub loss_before: f32,
    /// Mean clean loss after training.
    pub loss_after: f32,
    /// Mean loss after training with the weights perturbed by one fixed draw
    /// of the training noise.
    pub loss_perturbed: f32,
    /// FNV-1a over the bit patterns of the final parameters.
    pub checksum: u32,
}

impl Report {
    /// The run's own checks: every number finite, and the loss went down when
    /// there was training.
    ///
    /// # Errors
    ///
    /// A short message saying which check failed.
    pub fn check(&self) -> Result<(), &'static str> {
        let losses = [self.loss_before, self.loss_after, self.loss_perturbed];
        if !losses.iter().all(|l| l.is_finite()) {
            return Err("a loss is not finite");
        }
        if self.steps > 0 && self.loss_after >= self.loss_before {
            return Err("training did not lower the loss");
        }
        Ok(())
    }

    /// Writes the report, one `result: ` line per value; host and device
    /// print exactly the same lines.
    ///
    /// # Errors
    ///
    /// Whatever `w` returns.
    pub fn write_to<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        let losses = [
            ("loss_before", self.loss_before),
            ("loss_after", self.loss_after),
            ("loss_perturbed", self.loss_perturbed),
        ];
        writeln!(w, "result: steps={}", self.steps)?;
        for (name, value) in losses {
            writeln!(
                w,
                "result: {name}={} bits=0x{:08x}",
                Fixed6(value),
                value.to_bits()
            )?;
        }
        writeln!(w, "result: checksum=0x{:08x}", self.checksum)
    }
}
