//! Gaussian sampling: a scalar Box–Muller sampler and a SIMD batch fill.
//!
//! # Algorithm
//!
//! Box & Muller (1958), "A note on the generation of random normal
//! deviates", Ann. Math. Statist. 29(2): from `u1 ∈ (0, 1]` and `u2 ∈ [0, 1)`,
//! `r = √(−2 ln u1)` and `θ = 2π·u2` give two independent standard normals
//! `r·cos θ` and `r·sin θ`. Each uniform takes the top 24 bits of a `u32`
//! word `x`: `u1 = ((x >> 8) + 1)·2⁻²⁴` (so `ln u1` is finite) and
//! `u2 = (x >> 8)·2⁻²⁴`.
//!
//! The inputs are bounded, so no general-purpose argument reduction is
//! needed: `ln u1` is the exponent of the exactly converted integer plus
//! `4·atanh(s)`, `s = (m − 1)/(m + 1)`, on the mantissa `m ∈ [√2/2, √2)`
//! (`|s| ≤ 0.172`, a degree-7 odd polynomial); `sin`/`cos` of `2π·u2` take
//! the nearest quadrant from `u2`'s top bits and evaluate degree-7/8
//! polynomials on `|φ| ≤ π/4`. Maximum errors over every input that can
//! occur (all 2²⁴ values, checked exhaustively by the tests against `libm` in
//! `f64`): `−2 ln u1` 1.0 ulp, `r` 0.8 ulp, `sin θ`/`cos θ` 1.3 ulp (absolute
//! ≤ 6·10⁻⁸). One implementation, generic over `f32` and `f32x8`, serves
//! [`BoxMuller`] and [`fill_normal`], so equal words give equal bits.
//!
//! # Tails
//!
//! With 24-bit uniforms `r ≤ √(48 ln 2) ≈ 5.77`: values beyond 5.77 standard
//! deviations never occur (their probability under `N(0, 1)` is ≈ 8·10⁻⁹),
//! and `r` takes at most 2²⁴ distinct values.
//!
//! # Uniform source
//!
//! [`fill_normal`] draws from [`XoshiroLanes`], eight xoshiro128++ streams in
//! the lanes of a `u32x8`, each bit-identical to a jumped rand_xoshiro
//! generator. [`BoxMuller`] takes any [`rand_core::Rng`].
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

mod box_muller;
mod fill_normal;
mod polynomials;
mod xoshiro_lanes;

pub use box_muller::BoxMuller;
pub use fill_normal::{fill_normal, fill_normal_scalar, fill_normal_with};
pub use xoshiro_lanes::XoshiroLanes;
