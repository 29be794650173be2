//! Gaussian sampling: a scalar Box–Muller sampler and a SIMD batch fill.
//!
//! # Algorithm
//!
//! Box & Muller (1958), "A note on the generation of random normal
//! deviates", Ann. Math. Statist. 29(2): from `u1 ∈ (0, 1]` and a uniform
//! angle `θ`, `r = √(−2 ln u1)` gives two independent standard normals
//! `r·cos θ` and `r·sin θ`. Each pair takes two `u32` words `a`, `b`:
//! `u1 = ((a >> 8) + 1)·2⁻²⁴` (so `ln u1` is finite), and
//! `θ = 2π·(i + ½)/2²⁴` with a 24-bit index `i` read from bits 1..=22, 30 and
//! 31 of `b` (a bijection; the exact map is documented on [`fill_normal`]).
//!
//! The inputs are bounded, so no general-purpose argument reduction is
//! needed. `ln u1`: the integer `(a >> 8) + 1` converts to `f32` exactly,
//! its exponent gives `k` and its mantissa `m ∈ [√2/2, √2)`, and
//! `−2 ln m = −2f + s·(2f + w·Q(w))` with `f = m − 1` (exact),
//! `s = f/(2 + f)`, `w = s²` and `Q` of degree 2 (a minimax fit of `atanh`).
//! `cos θ`, `sin θ`: bits 1..=22 become `y ∈ (−½, ½)` exactly through a
//! mantissa, `cos(πy/2)` and `sin(πy/2)` are degree-8 and degree-7
//! polynomials, and bits 30 and 31 swap the pair (`θ ↦ π/2 − θ`) and negate
//! it (`θ ↦ θ + π`): no branch, no table, no `libm` call. The coefficients
//! are minimax fits printed by `coefficients.py` in this folder.
//!
//! Maximum errors over every input that can occur (all 2²⁴ values of each,
//! checked exhaustively by the release tests against `libm` in `f64`):
//!
//! | quantity | max error |
//! |---|---|
//! | `−2 ln u1` | 0.96 ulp |
//! | `r = √(−2 ln u1)` | 1.03 ulp |
//! | `cos θ`, `sin θ` | 1.71 ulp (absolute 8.7·10⁻⁸) |
//!
//! One implementation, generic over `f32` and `f32x8`, serves [`BoxMuller`]
//! and [`fill_normal`], so equal words give equal bits in both.
//!
//! # Fast variant
//!
//! [`fill_normal_fast`] trades accuracy for speed: xoshiro128+ words (one
//! add instead of the `++` scrambler; only their top 24 bits are read), no
//! division in the logarithm, `sin πy`/`cos πy` polynomials on a half turn
//! (no quarter-turn fold). Each value is within 6.9·10⁻⁶ of exact
//! Box–Muller of its uniforms (the accurate fill: 1.0·10⁻⁶), and 10⁸ values
//! pass KS, moment and tail tests. Its stream differs from [`fill_normal`]'s.
//!
//! # Tails
//!
//! With 24-bit uniforms `r ≤ √(48 ln 2) ≈ 5.77`: values beyond 5.77 standard
//! deviations never occur (their probability under `N(0, 1)` is ≈ 8·10⁻⁹),
//! and `r` takes at most 2²⁴ distinct values (the angle another 2²⁴).
//!
//! # Uniform source
//!
//! [`fill_normal`] draws from [`XoshiroLanes`], eight xoshiro128++ streams in
//! the lanes of a `u32x8`, each bit-identical to a jumped rand_xoshiro
//! generator ([`SeedableRng`](rand_core::SeedableRng), seven jumps: microseconds),
//! or, for streams restarted often such as per-layer weight noise, seeded
//! from a key by SplitMix64 ([`XoshiroLanes::keyed`], nanoseconds).
//! [`BoxMuller`] takes any [`rand_core::Rng`].
//!
//! # Platform-specific behaviour
//!
//! Everything is `+ − × ÷ √` on `f32` (correctly rounded on every IEEE-754
//! target) and integer bit operations; there is no `mul_add`, and Rust never
//! contracts `a·b + c` into a fused multiply-add by itself. So [`BoxMuller`],
//! [`fill_normal`] and [`fill_normal_scalar`] give the same bits on the
//! default `x86_64` build, `-C target-cpu=x86-64-v3` (AVX2 + FMA) builds,
//! Cortex-M4F and Cortex-M0 (where `wide`'s `f32x8` is eight scalars). The
//! mean/std scaling `mean + std·z` is likewise unfused. Should a future
//! change introduce `mul_add`, FMA builds would differ in the last bits.
//! `wide` has no SIMD back end on Cortex-M, so there `f32x8` is eight scalar
//! lanes (the fill still works, at scalar speed); [`BoxMuller`] is the
//! natural choice on a device. Square roots use the hardware instruction
//! under SSE/AVX and `libm::sqrtf` elsewhere (correctly rounded either way).

mod box_muller;
mod fast;
mod fill_normal;
mod gaussian_shift;
mod lane_stream;
mod xoshiro_lanes;

pub(crate) use crate::math::box_muller::{cos_half_pi, sin_half_pi};
pub use box_muller::BoxMuller;
pub use fast::{fill_normal_fast, fill_normal_fast_scalar};
pub use fill_normal::{fill_normal, fill_normal_scalar, fill_normal_with};
pub(crate) use gaussian_shift::GaussianShift;
pub(crate) use lane_stream::LaneStream;
pub use xoshiro_lanes::XoshiroLanes;
