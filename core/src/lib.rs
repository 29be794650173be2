//! Noise-injection regularisation for tiny fixed-size neural networks.
//!
//! Training with Gaussian weight noise `ε ~ N(0, ηI)` (η is a *variance*) is, to
//! first order, training on `J(θ) + (η/2)·E‖∇_W f(x; θ)‖²` with the half
//! squared-error loss `½‖y − f‖²`: a penalty on how far the output moves when
//! the weights move. `noisereg` computes that penalty, its gradient and the
//! noise itself on a microcontroller as well as on a server.
//!
//! The crate is `#![no_std]`, never allocates and has no `unsafe` code. Its
//! building blocks are:
//!
//! - Gaussian sampling: [`BoxMuller`], a scalar sampler that gives the same
//!   bits on every target, and [`fill_normal`], a batch fill vectorised with
//!   `wide` and fed by [`XoshiroLanes`], eight xoshiro128++ streams in SIMD lanes.
//! - Vector kernels: [`sq_norm`], [`dot`], [`axpy`] and [`scale`], each with a
//!   scalar twin (`sq_norm_scalar`, …) that serves as the test oracle.
//!
//! # Example
//!
//! ```
//! use noisereg::{BoxMuller, sq_norm};
//! use rand_xoshiro::Xoshiro128PlusPlus;
//! use rand_core::SeedableRng;
//!
//! let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
//! let mut normal = BoxMuller::new(0.0, 0.1).unwrap();
//! let mut noise = [0.0f32; 16];
//! for e in noise.iter_mut() {
//!     *e = normal.sample(&mut rng);
//! }
//! assert!(sq_norm(&noise) > 0.0);
//! ```
//!
//! # Portability
//!
//! All arithmetic is plain IEEE-754 `f32` through `libm` or the crate's own
//! polynomials. On the default `x86_64` build and on ARM Cortex-M the results
//! are bit-identical; builds that enable FMA (`-C target-cpu=x86-64-v3`) fuse
//! multiply-adds in the SIMD kernels and so differ in the last bits.
//!
//! Minimum supported Rust version: 1.89 (set by `wide`).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod error;
mod kernels;
mod nn;
mod parameters;
mod perturbation;
mod sampler;
mod train;

pub use error::Error;
pub use kernels::*;
pub use nn::*;
pub use parameters::Parameters;
pub use perturbation::{Clean, Perturbation};
pub use sampler::*;
pub use train::*;
