//! η schedules: a warm-up start step, then a constant, linear or cosine ramp.

use super::validate::finite_non_negative;
use crate::error::Error;
use crate::sampler::{cos_half_pi, sin_half_pi};

/// The shape of the ramp of an [`EtaSchedule`].
///
/// # Examples
///
/// ```
/// use noisereg::{EtaSchedule, ScheduleShape};
/// let s = EtaSchedule::new(0, ScheduleShape::Linear, 4, 0.0, 1.0).unwrap();
/// assert_eq!([0, 2, 4].map(|k| s.factor(k)), [0.0, 0.5, 1.0]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScheduleShape {
    /// Jump straight to the final factor at the start step.
    #[default]
    Constant,
    /// Straight line from the first to the final factor.
    Linear,
    /// Half cosine from the first to the final factor:
    /// `from + (to − from)·½(1 − cos(π t))`, `t ∈ [0, 1]`.
    ///
    /// `½(1 − cos(π t)) = sin²(π t/2)` is computed with the sampler's `f32`
    /// sine/cosine polynomials (no `libm` call, same bits on every target),
    /// within `3·10⁻⁷` absolute: far below what a schedule needs.
    Cosine,
}

/// A factor on η as a function of the training step.
///
/// Before `start` the factor is 0 (noise and penalty off: the warm-up); over
/// the `ramp` steps from `start` on it moves from `from` to `to` with the
/// chosen [`ScheduleShape`]; afterwards it stays at `to`. The η actually used
/// at a step is `factor(step) · η`. Ramping up (`from = 0, to = 1`) and decaying
/// (`from = 1, to = 0`) are both expressed this way.
///
/// # Examples
///
/// ```
/// use noisereg::{EtaSchedule, ScheduleShape};
/// let s = EtaSchedule::new(10, ScheduleShape::Linear, 100, 0.0, 1.0).unwrap();
/// assert_eq!(s.factor(5), 0.0); // warm-up: no noise yet
/// assert_eq!(s.factor(60), 0.5);
/// assert_eq!(s.factor(1_000), 1.0);
/// assert_eq!(EtaSchedule::constant().factor(0), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EtaSchedule {
    start: u64,
    shape: ScheduleShape,
    ramp: u64,
    from: f32,
    to: f32,
}

impl Default for EtaSchedule {
    fn default() -> Self {
        Self::constant()
    }
}

impl EtaSchedule {
    /// Factor 1 at every step.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::EtaSchedule;
    /// assert_eq!(EtaSchedule::constant().factor(1_000_000), 1.0);
    /// ```
    pub const fn constant() -> Self {
        Self {
            start: 0,
            shape: ScheduleShape::Constant,
            ramp: 0,
            from: 1.0,
            to: 1.0,
        }
    }

    /// A schedule that is 0 before `start`, then ramps from `from` to `to`
    /// over `ramp` steps.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `from` or `to` when it is not finite
    /// and `≥ 0`, or `ramp` when it is 0 with a non-constant shape.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::{EtaSchedule, ScheduleShape};
    /// assert!(EtaSchedule::new(0, ScheduleShape::Cosine, 0, 0.0, 1.0).is_err());
    /// assert!(EtaSchedule::new(0, ScheduleShape::Cosine, 8, f32::NAN, 1.0).is_err());
    /// let s = EtaSchedule::new(0, ScheduleShape::Cosine, 8, 1.0, 0.0).unwrap();
    /// assert!((s.factor(4) - 0.5).abs() < 1e-6);
    /// ```
    pub fn new(
        start: u64,
        shape: ScheduleShape,
        ramp: u64,
        from: f32,
        to: f32,
    ) -> Result<Self, Error> {
        finite_non_negative("from", from)?;
        finite_non_negative("to", to)?;
        if ramp == 0 && shape != ScheduleShape::Constant {
            return Err(Error::InvalidParameter {
                name: "ramp",
                requirement: "> 0 steps for a linear or cosine schedule",
            });
        }
        Ok(Self {
            start,
            shape,
            ramp,
            from,
            to,
        })
    }

    /// Factor 0 before `start`, 1 from then on.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::EtaSchedule;
    /// let s = EtaSchedule::warm_up(3);
    /// assert_eq!((s.factor(2), s.factor(3)), (0.0, 1.0));
    /// ```
    pub const fn warm_up(start: u64) -> Self {
        Self {
            start,
            shape: ScheduleShape::Constant,
            ramp: 0,
            from: 1.0,
            to: 1.0,
        }
    }

    /// The factor on η at training step `step` (counted from 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::EtaSchedule;
    /// let s = EtaSchedule::warm_up(3);
    /// assert_eq!([0, 2, 3, 9].map(|k| s.factor(k)), [0.0, 0.0, 1.0, 1.0]);
    /// ```
    pub fn factor(&self, step: u64) -> f32 {
        if step < self.start {
            return 0.0;
        }
        let done = step - self.start;
        if self.shape == ScheduleShape::Constant || done >= self.ramp {
            return self.to;
        }
        let t = done as f32 / self.ramp as f32;
        let w = match self.shape {
            ScheduleShape::Constant | ScheduleShape::Linear => t,
            ScheduleShape::Cosine => half_cosine_ramp(t),
        };
        self.from + (self.to - self.from) * w
    }
}

/// `½(1 − cos(π t)) = sin²(π t/2)` for `t ∈ [0, 1]`, folded so the
/// polynomials see `|y| ≤ ½`: `sin(π t/2)` below ½, `cos(π (1 − t)/2)` above
/// (`1 − t` is exact there).
fn half_cosine_ramp(t: f32) -> f32 {
    let s = if t <= 0.5 {
        sin_half_pi(t)
    } else {
        cos_half_pi(1.0 - t)
    };
    s * s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_cosine_ramp_matches_libm_within_3e_7() {
        let mut worst = 0.0f64;
        for i in 0..=10_000 {
            let t = i as f32 / 10_000.0;
            let want = 0.5 * (1.0 - libm::cos(core::f64::consts::PI * f64::from(t)));
            worst = worst.max((f64::from(half_cosine_ramp(t)) - want).abs());
        }
        assert!(worst < 3e-7, "{worst}");
        assert_eq!((half_cosine_ramp(0.0), half_cosine_ramp(1.0)), (0.0, 1.0));
    }
}
