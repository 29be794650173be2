//! The optimiser interface: check a candidate update, then commit it.

use super::parameter_ops::copy_checked;
use crate::error::Error;
use crate::parameters::Parameters;

/// An optimiser over parameters `P`, with fixed-size state (no heap).
///
/// An update happens in two passes over the parameters: [`check`](Optimizer::check)
/// computes every candidate value (new parameter and new state) without
/// writing anything and fails if one is not finite; [`apply`](Optimizer::apply)
/// recomputes the same values and writes them. The arithmetic of both passes
/// is the same function, so what was checked is bit for bit what is written,
/// and a failed [`step`](Optimizer::step) leaves parameters and state exactly
/// as they were without a parameter-sized copy.
///
/// # Examples
///
/// ```
/// use noisereg::{Dense, Network, Optimizer, Sgd};
/// let p = Dense::<1, 1>::zeroed();
/// let mut g = Dense::<1, 1>::zeroed();
/// g.w = [[f32::MAX]];
/// let sgd = Sgd::new(10.0).unwrap();
/// // The check refuses an update to infinite weights; nothing is written.
/// assert!(Optimizer::<Dense<1, 1>>::check(&sgd, &p, &g).is_err());
/// assert_eq!(Optimizer::<Dense<1, 1>>::learning_rate(&sgd), 10.0);
/// ```
pub trait Optimizer<P: Parameters> {
    /// `Ok(())` when applying `grad` would leave parameters and optimiser
    /// state finite; changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::NonFinite`] naming `"updated weights"` or `"optimiser state"`.
    fn check(&self, params: &P, grad: &P) -> Result<(), Error>;

    /// Applies the update without checking.
    fn apply(&mut self, params: &mut P, grad: &P);

    /// [`check`](Optimizer::check), then [`apply`](Optimizer::apply) on success.
    ///
    /// # Errors
    ///
    /// As [`check`](Optimizer::check); on error nothing is changed.
    fn step(&mut self, params: &mut P, grad: &P) -> Result<(), Error> {
        self.check(params, grad)?;
        self.apply(params, grad);
        Ok(())
    }

    /// The learning rate.
    fn learning_rate(&self) -> f32;
}

/// Copies `src` into `dst` slice by slice after checking that the shapes
/// agree and every value is finite (restoring optimiser state).
pub(crate) fn copy_state<P: Parameters>(dst: &mut P, src: &P) -> Result<(), Error> {
    check_state(dst, src)?;
    copy_checked(dst, src);
    Ok(())
}

/// `Ok` when `src` has the shape of `dst` and every value is finite.
pub(crate) fn check_state<P: Parameters>(dst: &P, src: &P) -> Result<(), Error> {
    crate::error::check_len(src.slice_count(), dst.slice_count())?;
    for i in 0..dst.slice_count() {
        crate::error::check_len(src.slice(i).len(), dst.slice(i).len())?;
        for &v in src.slice(i) {
            finite(v, "optimiser state")?;
        }
    }
    Ok(())
}

/// `Err(NonFinite{what})` unless `v` is finite.
#[inline(always)]
pub(crate) fn finite(v: f32, what: &'static str) -> Result<(), Error> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite { what })
    }
}
