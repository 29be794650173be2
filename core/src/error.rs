use core::fmt;

/// Everything that can go wrong in `noisereg`.
///
/// Small and `Copy`, so it costs nothing to return from a microcontroller's
/// training step. New variants may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Two slices that must have the same length do not.
    LengthMismatch {
        /// Length of the first operand.
        left: usize,
        /// Length of the second operand.
        right: usize,
    },
    /// A setting is out of its valid range (rejected when built).
    InvalidParameter {
        /// Name of the setting, e.g. `"eta"`.
        name: &'static str,
        /// What it must satisfy, e.g. `"finite and >= 0"`.
        requirement: &'static str,
    },
    /// A value that must be finite is NaN or infinite; nothing was changed.
    NonFinite {
        /// What was non-finite, e.g. `"input"` or `"updated weights"`.
        what: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LengthMismatch { left, right } => {
                write!(f, "length mismatch: {left} != {right}")
            }
            Error::InvalidParameter { name, requirement } => {
                write!(f, "invalid `{name}`: must be {requirement}")
            }
            Error::NonFinite { what } => write!(f, "non-finite {what}"),
        }
    }
}

impl core::error::Error for Error {}

/// `Ok(n)` for a non-empty collection of `n` samples; an
/// [`Error::InvalidParameter`] naming `what` (`batch`, `data`) otherwise.
pub(crate) fn nonempty(what: &'static str, n: usize) -> Result<usize, Error> {
    if n == 0 {
        Err(Error::InvalidParameter {
            name: what,
            requirement: "at least one sample",
        })
    } else {
        Ok(n)
    }
}

/// `Ok(())` when the lengths agree, the matching [`Error::LengthMismatch`] otherwise.
pub(crate) fn check_len(left: usize, right: usize) -> Result<(), Error> {
    if left == right {
        Ok(())
    } else {
        Err(Error::LengthMismatch { left, right })
    }
}
