//! Vector kernels vectorised with `wide`, each with a scalar twin.
//!
//! # Platform-specific behaviour
//!
//! The reductions ([`sq_norm`], [`dot`]) keep several independent `f32x8`
//! accumulators and combine them in a fixed order, so a given build always
//! returns the same bits. Without FMA (the default `x86_64` target, Cortex-M)
//! each step rounds twice (multiply, then add) and the SIMD kernels agree bit
//! for bit across those targets. With FMA enabled (`-C target-cpu=x86-64-v3`)
//! the multiply-add is fused and the accumulator count doubles (the AVX
//! registers allow it), which changes the last bits. The elementwise kernels
//! ([`axpy`], [`scale`]) never fuse and equal their scalar twins exactly on
//! every target.

mod axpy;
mod dot;
mod scale;
mod sq_norm;

pub use axpy::{axpy, axpy_scalar};
pub use dot::{dot, dot_scalar};
pub use scale::{scale, scale_scalar};
pub use sq_norm::{sq_norm, sq_norm_scalar};

pub(crate) use dot::dot_unchecked;

use wide::f32x8;

/// Lanes of one SIMD vector.
const LANES: usize = 8;

/// Independent accumulators in the reductions: enough to hide the add (or
/// FMA) latency at two vector operations per cycle without spilling.
#[cfg(target_feature = "avx")]
const ACCUMULATORS: usize = 8;
#[cfg(not(target_feature = "avx"))]
const ACCUMULATORS: usize = 4;

/// Elements consumed per iteration of a reduction's main loop.
const BLOCK: usize = ACCUMULATORS * LANES;

/// Sums the accumulators and their lanes in a fixed tree order, independent of
/// how `wide` implements horizontal adds on the target.
#[inline(always)]
fn reduce(acc: [f32x8; ACCUMULATORS]) -> f32 {
    let mut width = ACCUMULATORS;
    let mut acc = acc;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    let l = acc[0].to_array();
    ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
}

/// Loads eight contiguous elements.
#[inline(always)]
fn load(chunk: &[f32; LANES]) -> f32x8 {
    f32x8::from(*chunk)
}
