use crate::error::Error;
use rand_core::Rng;

/// Scalar Box–Muller sampler of `N(mean, std²)` over any [`Rng`].
///
/// Each pair of `u32` draws gives two normals; the second is cached and
/// returned by the next call, so the sampler is stateful (it is not an
/// immutable `rand` `Distribution`).
///
/// Uniforms have 24 bits, so `|z| ≤ √(−2 ln 2⁻²⁴) ≈ 5.77` standard deviations:
/// the tails beyond are cut (probability ≈ 8·10⁻⁹).
#[derive(Debug, Clone, PartialEq)]
pub struct BoxMuller {
    mean: f32,
    std: f32,
    spare: Option<f32>,
}

impl BoxMuller {
    /// A sampler of `N(mean, std²)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if `mean` is not finite or `std` is not
    /// finite and `≥ 0`.
    pub fn new(mean: f32, std: f32) -> Result<Self, Error> {
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
        Ok(Self {
            mean,
            std,
            spare: None,
        })
    }

    /// A sampler of the standard normal `N(0, 1)`.
    pub const fn standard() -> Self {
        Self {
            mean: 0.0,
            std: 1.0,
            spare: None,
        }
    }

    /// Draws one sample.
    pub fn sample<R: Rng + ?Sized>(&mut self, rng: &mut R) -> f32 {
        let z = match self.spare.take() {
            Some(z) => z,
            None => {
                let (z0, z1) = standard_pair(rng.next_u32(), rng.next_u32());
                self.spare = Some(z1);
                z0
            }
        };
        self.mean + self.std * z
    }

    /// Forgets the cached spare value.
    pub fn reset(&mut self) {
        self.spare = None;
    }
}

/// Two independent standard normals from two raw `u32` draws.
fn standard_pair(a: u32, b: u32) -> (f32, f32) {
    let u1 = ((a >> 8) + 1) as f32 * (1.0 / 16_777_216.0);
    let u2 = (b >> 8) as f32 * (1.0 / 16_777_216.0);
    let r = libm::sqrtf(-2.0 * libm::logf(u1));
    let (s, c) = libm::sincosf(core::f32::consts::TAU * u2);
    (r * c, r * s)
}
