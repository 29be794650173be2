use crate::error::Error;
use crate::math::box_muller::box_muller_pair;
use rand_core::Rng;

/// Scalar Box–Muller sampler of `N(mean, std²)` over any [`Rng`].
///
/// Each pair of consecutive `u32` draws `(a, b)` gives two normals
/// `r·cos θ`, `r·sin θ` with `r = √(−2 ln u1)`, `u1 = ((a >> 8) + 1)·2⁻²⁴` and
/// the angle `θ` read from 24 bits of `b` (see [`fill_normal`](crate::fill_normal));
/// the second is cached and returned by the next call, so the sampler is stateful (it is
/// not an immutable `rand` `Distribution`; [`fill_normal`](crate::fill_normal)
/// is the stateless batch form; its docs give the algorithm and error bounds).
/// It uses the same `f32` polynomials as the
/// batch fill, no `libm` transcendental and no fused multiply-add, so it gives
/// the same bits on every target.
///
/// Uniforms have 24 bits, so `|z| ≤ √(−2 ln 2⁻²⁴) ≈ 5.77` standard deviations:
/// the tails beyond are cut (probability ≈ 8·10⁻⁹).
///
/// # Examples
///
/// ```
/// use noisereg::BoxMuller;
/// use rand_core::SeedableRng;
/// use rand_xoshiro::Xoshiro128PlusPlus;
///
/// let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
/// let mut normal = BoxMuller::new(5.0, 0.5)?;
/// let x = normal.sample(&mut rng);
/// assert!((x - 5.0).abs() <= 0.5 * 5.8);
/// # Ok::<(), noisereg::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BoxMuller {
    mean: f32,
    std: f32,
    spare: Option<f32>,
}

/// Rejects a non-finite `mean` and a `std` that is not finite and `≥ 0`.
pub(crate) fn check_mean_std(mean: f32, std: f32) -> Result<(), Error> {
    if !mean.is_finite() {
        return Err(Error::InvalidParameter {
            name: "mean",
            requirement: "finite",
        });
    }
    if !(std.is_finite() && std >= 0.0) {
        return Err(Error::InvalidParameter {
            name: "std",
            requirement: "finite and >= 0",
        });
    }
    Ok(())
}

impl BoxMuller {
    /// A sampler of `N(mean, std²)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `mean` is not finite or `std` is not
    /// finite and `≥ 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::BoxMuller;
    /// assert!(BoxMuller::new(0.0, 2.0).is_ok());
    /// assert!(BoxMuller::new(0.0, -1.0).is_err());
    /// assert!(BoxMuller::new(f32::NAN, 1.0).is_err());
    /// ```
    pub fn new(mean: f32, std: f32) -> Result<Self, Error> {
        check_mean_std(mean, std)?;
        Ok(Self {
            mean,
            std,
            spare: None,
        })
    }

    /// A sampler of the standard normal `N(0, 1)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::BoxMuller;
    /// assert_eq!(BoxMuller::standard(), BoxMuller::new(0.0, 1.0).unwrap());
    /// ```
    pub const fn standard() -> Self {
        Self {
            mean: 0.0,
            std: 1.0,
            spare: None,
        }
    }

    /// Draws one sample: `mean + std·z`. Draws two `u32` every other call.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::BoxMuller;
    /// use rand_core::SeedableRng;
    /// use rand_xoshiro::Xoshiro128PlusPlus;
    ///
    /// let mut normal = BoxMuller::standard();
    /// let mut a = Xoshiro128PlusPlus::seed_from_u64(9);
    /// let mut b = a.clone();
    /// let first = [normal.sample(&mut a), normal.sample(&mut a)];
    /// normal.reset();
    /// assert_eq!(first, [normal.sample(&mut b), normal.sample(&mut b)]);
    /// ```
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&mut self, rng: &mut R) -> f32 {
        let z = match self.spare.take() {
            Some(z) => z,
            None => {
                let a = rng.next_u32();
                let (z0, z1) = box_muller_pair::<f32>(a, rng.next_u32());
                self.spare = Some(z1);
                z0
            }
        };
        self.mean + self.std * z
    }

    /// Forgets the cached spare value, so the next call draws afresh.
    ///
    /// # Examples
    ///
    /// ```
    /// use noisereg::BoxMuller;
    /// use rand_core::SeedableRng;
    /// use rand_xoshiro::Xoshiro128PlusPlus;
    ///
    /// let mut normal = BoxMuller::standard();
    /// let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    /// let first = normal.sample(&mut rng); // caches the spare
    /// normal.reset(); // drops it: the next call draws two fresh words
    /// let mut fresh = Xoshiro128PlusPlus::seed_from_u64(2);
    /// assert_eq!(normal.sample(&mut fresh), first);
    /// ```
    pub fn reset(&mut self) {
        self.spare = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::XoshiroLanes;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro128PlusPlus;

    #[test]
    fn box_muller_pairs_come_from_consecutive_words() {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(21);
        let mut copy = rng.clone();
        let mut normal = BoxMuller::new(1.0, 2.0).unwrap();
        for _ in 0..100 {
            let (z0, z1) = box_muller_pair::<f32>(copy.next_u32(), copy.next_u32());
            assert_eq!(normal.sample(&mut rng), 1.0 + 2.0 * z0);
            assert_eq!(normal.sample(&mut rng), 1.0 + 2.0 * z1);
        }
    }

    #[test]
    fn box_muller_works_over_xoshiro_lanes_and_dyn_rng() {
        let mut lanes = XoshiroLanes::seed_from_u64(22);
        let block = lanes.clone().next_block();
        let rng: &mut dyn Rng = &mut lanes;
        let z = BoxMuller::standard().sample(rng);
        assert_eq!(z, box_muller_pair::<f32>(block[0], block[1]).0);
    }

    #[test]
    fn box_muller_rejects_invalid_parameters() {
        for (m, s) in [
            (f32::NAN, 1.0),
            (f32::NEG_INFINITY, 1.0),
            (0.0, -0.5),
            (0.0, f32::NAN),
            (0.0, f32::INFINITY),
        ] {
            assert!(matches!(
                BoxMuller::new(m, s),
                Err(Error::InvalidParameter { .. })
            ));
        }
        assert!(BoxMuller::new(-1e30, 0.0).is_ok());
    }
}
