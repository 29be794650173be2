//! Hardware faults as seeded perturbations: random bit flips in `f32` or
//! int8 weight storage, and stuck-at-zero weights (docs/theory.md §9). They are not
//! small — a flipped `f32` exponent bit changes a weight by orders of
//! magnitude — so no expansion predicts them: evaluate, don't predict.

use super::quantize::{QuantConfig, Rounding, layer_count, layer_shape, max_abs};
use crate::error::Error;
use crate::nn::NoiseOn;
use crate::parameters::Parameters;
use rand_core::Rng;

/// Checks a fault rate: finite and in `[0, 1]`.
fn check_rate(rate: f32) -> Result<(), Error> {
    if rate.is_finite() && (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "fault rate",
            requirement: "finite and between 0 and 1",
        })
    }
}

/// Independent Bernoulli(`rate`) events over a stream of positions, drawn as
/// geometric gaps: `gap = ⌊ln u / ln(1 − rate)⌋` with `u ∈ (0, 1]` of 24
/// bits, so `P(gap ≥ k) = (1 − rate)^k` up to the resolution of `u`; one
/// `u32` per event (plus one at the start).
struct Events {
    log_keep: f32,
    rate: f32,
    gap: u64,
}

impl Events {
    fn new<R: Rng + ?Sized>(rate: f32, rng: &mut R) -> Self {
        let mut e = Self {
            log_keep: libm::log1pf(-rate),
            rate,
            gap: 0,
        };
        e.gap = e.draw(rng);
        e
    }

    fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        if self.rate <= 0.0 {
            return u64::MAX;
        }
        if self.rate >= 1.0 {
            return 0;
        }
        let u = ((rng.next_u32() >> 8) + 1) as f32 * (1.0 / 16_777_216.0);
        let g = libm::floorf(libm::logf(u) / self.log_keep);
        // `as` saturates: a huge gap means no more events in practice.
        g as u64
    }

    /// Calls `hit(k)` for each event among the next `width` positions.
    /// `code` with each of its 8 bits flipped at the next events; counts them.
    fn flip_byte<R: Rng + ?Sized>(&mut self, code: i8, rng: &mut R, flips: &mut u64) -> i8 {
        let mut bits = code as u8;
        self.visit(8, rng, |k| {
            bits ^= 1 << k;
            *flips += 1;
        });
        bits as i8
    }

    fn visit<R: Rng + ?Sized>(&mut self, width: u32, rng: &mut R, mut hit: impl FnMut(u32)) {
        let mut pos = 0u64;
        let width = u64::from(width);
        loop {
            let at = pos.saturating_add(self.gap);
            if at >= width {
                self.gap = at - width;
                return;
            }
            hit(at as u32);
            pos = at + 1;
            self.gap = self.draw(rng);
        }
    }
}

/// Whether slice `i` of a network layout is subject to `on`.
fn covered(i: usize, on: NoiseOn) -> bool {
    i.is_multiple_of(2) || on == NoiseOn::WeightsAndBiases
}

/// Flips each bit of the `f32` storage of the weights (and biases with
/// [`NoiseOn::WeightsAndBiases`]) independently with probability `rate`;
/// returns the number of flips. Slices in order, values in order, bits from
/// the least significant; a seed fixes the bits.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `fault rate` unless `0 <= rate <= 1`.
///
/// # Examples
///
/// ```
/// use noisereg::{flip_bits_f32, Dense, Network, NoiseOn};
/// use rand_core::SeedableRng;
/// let mut layer = Dense::<4, 2>::zeroed();
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// assert_eq!(flip_bits_f32(&mut layer, 1.0, NoiseOn::Weights, &mut rng), Ok(8 * 32));
/// assert!(layer.w.as_flattened().iter().all(|w| w.to_bits() == u32::MAX));
/// ```
pub fn flip_bits_f32<P: Parameters + ?Sized, R: Rng + ?Sized>(
    params: &mut P,
    rate: f32,
    on: NoiseOn,
    rng: &mut R,
) -> Result<u64, Error> {
    check_rate(rate)?;
    let mut events = Events::new(rate, rng);
    let mut flips = 0u64;
    for i in 0..params.slice_count() {
        if !covered(i, on) {
            continue;
        }
        for v in params.slice_mut(i) {
            let mut bits = v.to_bits();
            events.visit(32, rng, |k| {
                bits ^= 1 << k;
                flips += 1;
            });
            *v = f32::from_bits(bits);
        }
    }
    Ok(flips)
}

/// Flips each bit of int8 codes independently with probability `rate`;
/// returns the number of flips. A flip of bit `k` changes the code by
/// `±2^k` (bit 7, the sign bit of two's complement, by `∓128`).
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `fault rate` unless `0 <= rate <= 1`.
///
/// # Examples
///
/// ```
/// use rand_core::SeedableRng;
/// let mut q = [0i8; 3];
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// assert_eq!(noisereg::flip_bits_i8(&mut q, 1.0, &mut rng), Ok(24));
/// assert_eq!(q, [-1; 3]);
/// ```
pub fn flip_bits_i8<R: Rng + ?Sized>(
    codes: &mut [i8],
    rate: f32,
    rng: &mut R,
) -> Result<u64, Error> {
    check_rate(rate)?;
    let mut events = Events::new(rate, rng);
    let mut flips = 0u64;
    for c in codes {
        *c = events.flip_byte(*c, rng, &mut flips);
    }
    Ok(flips)
}

/// Bit flips in int8 weight storage, applied to an `f32` network: each
/// weight matrix is stored as 8-bit codes `q = round(w/Δ)` with one `Δ` per
/// row or layer ([`Granularity`](crate::Granularity)), each code bit flips
/// with probability `rate` (changing the weight by `±2^k Δ`), and the
/// weights are read back as `q·Δ`. Biases stay `f32` and untouched. Returns
/// the number of flips.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `fault rate` unless `0 <= rate <= 1`
/// or naming `network layout` for a layout that is not dense layers;
/// [`Error::NonFinite`] naming `weights` for a NaN or infinite weight.
///
/// # Examples
///
/// ```
/// use noisereg::{flip_bits_int8_weights, Dense, Granularity, Network};
/// use rand_core::SeedableRng;
/// let mut layer = Dense::<2, 1>::zeroed();
/// layer.w = [[1.0, -0.5]];
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// flip_bits_int8_weights(&mut layer, Granularity::PerRow, 0.0, &mut rng).unwrap();
/// assert_eq!(layer.w, [[1.0, -64.0 / 127.0]]); // plain 8-bit rounding
/// ```
pub fn flip_bits_int8_weights<P: Parameters + ?Sized, R: Rng + ?Sized>(
    params: &mut P,
    granularity: crate::Granularity,
    rate: f32,
    rng: &mut R,
) -> Result<u64, Error> {
    check_rate(rate)?;
    let cfg = QuantConfig::new(8, Rounding::Nearest, granularity)?;
    for l in 0..layer_count(params) {
        layer_shape(params, l)?;
        if params.slice(2 * l).iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "weights" });
        }
    }
    let mut events = Events::new(rate, rng);
    let mut flips = 0u64;
    for l in 0..layer_count(params) {
        let n_in = layer_shape(params, l)?;
        let w = params.slice_mut(2 * l);
        let layer_step = cfg.step(max_abs(w));
        for row in w.chunks_exact_mut(n_in) {
            let step = match granularity {
                crate::Granularity::PerLayer => layer_step,
                crate::Granularity::PerRow => cfg.step(max_abs(row)),
            };
            for v in row {
                let code = if step == 0.0 {
                    0
                } else {
                    libm::roundf(*v / step).clamp(-127.0, 127.0) as i8
                };
                let code = events.flip_byte(code, rng, &mut flips);
                *v = f32::from(i16::from(code)) * step;
            }
        }
    }
    Ok(flips)
}

/// Sets each weight (and bias with [`NoiseOn::WeightsAndBiases`]) to zero
/// independently with probability `rate` (a stuck-at-zero cell); returns how
/// many were hit.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `fault rate` unless `0 <= rate <= 1`.
///
/// # Examples
///
/// ```
/// use noisereg::{stuck_at_zero, Dense, Network, NoiseOn};
/// use rand_core::SeedableRng;
/// let mut layer = Dense::<2, 1>::zeroed();
/// layer.w = [[1.0, 2.0]];
/// let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
/// assert_eq!(stuck_at_zero(&mut layer, 1.0, NoiseOn::Weights, &mut rng), Ok(2));
/// assert_eq!(layer.w, [[0.0, 0.0]]);
/// ```
pub fn stuck_at_zero<P: Parameters + ?Sized, R: Rng + ?Sized>(
    params: &mut P,
    rate: f32,
    on: NoiseOn,
    rng: &mut R,
) -> Result<u64, Error> {
    check_rate(rate)?;
    let mut events = Events::new(rate, rng);
    let mut hits = 0u64;
    for i in 0..params.slice_count() {
        if !covered(i, on) {
            continue;
        }
        for v in params.slice_mut(i) {
            events.visit(1, rng, |_| {
                *v = 0.0;
                hits += 1;
            });
        }
    }
    Ok(hits)
}
