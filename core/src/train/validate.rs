//! Checks shared by every validating constructor in `train`.

use crate::error::Error;

/// `Ok(v)` when `v` is finite and `≥ 0`.
pub(crate) fn finite_non_negative(name: &'static str, v: f32) -> Result<f32, Error> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(Error::InvalidParameter {
            name,
            requirement: "finite and >= 0",
        })
    }
}

/// `Ok(v)` when `v` is finite and `> 0`.
pub(crate) fn finite_positive(name: &'static str, v: f32) -> Result<f32, Error> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::InvalidParameter {
            name,
            requirement: "finite and > 0",
        })
    }
}

/// `Ok(v)` when `0 ≤ v < 1`.
pub(crate) fn unit_half_open(name: &'static str, v: f32) -> Result<f32, Error> {
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(Error::InvalidParameter {
            name,
            requirement: "in [0, 1)",
        })
    }
}
