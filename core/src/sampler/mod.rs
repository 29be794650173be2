//! Gaussian sampling: scalar Box–Muller and a SIMD batch fill.

mod box_muller;

pub use box_muller::BoxMuller;
