//! Noise-injection regularisation for tiny fixed-size neural networks.
//!
//! Training with Gaussian weight noise `ε ~ N(0, ηI)` (η is a *variance*) is, to
//! first order, training on `J(θ) + (η/2)·E‖∇_W f(x; θ)‖²` with the half
//! squared-error loss `½‖y − f‖²`: a penalty on how far the output moves when
//! the weights move. `noisereg` computes that penalty, its gradient and the
//! noise itself on a microcontroller as well as on a server.
//!
//! The crate is `#![no_std]`, never allocates and has no `unsafe` code:
//! everything lives in fixed-size arrays the caller owns, so a Cortex-M0 with
//! 16 KiB of RAM can train a small network with weight noise.
//!
//! # Example: training with weight noise
//!
//! ```
//! use noisereg::{Adam, HalfSquaredError, Init, Mlp1, Network, NoiseKind, Tanh, Trainer};
//! use noisereg::{WeightNoiseConfig, clean_loss, flatness, NoiseOn};
//! use noisereg::rand_core::SeedableRng; // the crate's own rand_core: no second copy to pin
//!
//! # fn main() -> Result<(), noisereg::Error> {
//! type Net = Mlp1<2, 8, 1, Tanh>; // 2 → 8 (tanh) → 1 (linear)
//! let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
//! let mut net = Net::zeroed();
//! net.init(Init::Glorot, &mut rng);
//!
//! let xs = [[0.5, -1.0], [1.0, 0.25], [-0.3, 0.8], [0.0, -0.6]];
//! let ys = [[0.3], [-0.2], [0.1], [0.4]];
//! let before = clean_loss(&net, &HalfSquaredError, &xs, &ys)?;
//!
//! // ε ~ N(0, 0.01) on every weight, redrawn per sample; the gradient is
//! // taken at θ + ε and applied to the clean θ.
//! let noise = WeightNoiseConfig::new(NoiseKind::Additive, 0.01)?;
//! let adam = Adam::with_defaults(0.01, &net)?;
//! let mut trainer = Trainer::new(net, adam, 42).with_weight_noise(&noise)?;
//! for _ in 0..200 {
//!     trainer.step(&HalfSquaredError, &xs, &ys)?;
//! }
//! let net = trainer.into_network();
//! assert!(clean_loss(&net, &HalfSquaredError, &xs, &ys)? < before);
//!
//! // The flatness the noise penalises: E‖∇_W f‖² over the data.
//! assert!(flatness(&net, &xs, NoiseOn::Weights)? > 0.0);
//! # Ok(())
//! # }
//! ```
//!
//! # What is in the crate
//!
//! - **Networks** — [`Dense`] layers with sizes as const generics and
//!   activations ([`Identity`], [`Tanh`], [`Sigmoid`], [`Relu`], [`Softplus`])
//!   that give f, f′ and f″; pairs compose into MLPs of any depth
//!   ([`Mlp1`], [`Mlp2`], [`Mlp3`]) and mismatched widths do not compile.
//!   A [`Network`] is a [`Model`], the one trait of every model's passes:
//!   forward and backward passes, [`HalfSquaredError`] and
//!   [`SoftmaxCrossEntropy`] losses, the per-sample penalty
//!   `Σ_k Σ_l η_l ‖∇_{θ_l} f_k‖²` without materialising a gradient, its
//!   gradient (a Hessian–vector product by Pearlmutter's R-operator) and the
//!   exact `tr ∇²_θ f`; for any loss, the loss-correct (Gauss–Newton)
//!   penalty [`gauss_newton_penalty`] and its gradient. The batch passes
//!   ([`Model::forward_batch`], [`Model::loss_grad_sum`]) run [`BLOCK`]
//!   samples at a time with the weights held in registers. [`DenseRef`]
//!   exposes every pass per layer over slices so a network sized at run time
//!   gets the same bits.
//! - **Recurrent networks** — [`Elman`] (`h_t = φ(W_x x_t + W_h h_{t−1} + b)`)
//!   and [`Gru`] cells with a dense readout, sequence to one or sequence to
//!   sequence, over [`Sequence`] inputs: forward, back-propagation through
//!   time, the weight-noise penalty per sequence or per step
//!   ([`RecurrentNoise`]), its gradient by the R-operator through time and
//!   the exact Hessian trace; each is a [`Model`], so the trainer and the
//!   evaluation functions take it. [`ElmanRef`] and [`GruRef`] run every
//!   pass over slices for run-time sizes.
//! - **Noise** — [`WeightNoise`] (additive `w + ε`, multiplicative
//!   `w(1 + ε)`, or local reparameterisation), configured by
//!   [`WeightNoiseConfig`] with η per layer, weights or weights and biases
//!   ([`NoiseOn`]), per-sample or per-batch draws and an [`EtaSchedule`];
//!   it reaches the passes through the [`Perturbation`] hook, a row at a time,
//!   with no copy of the weights. [`InputNoise`], [`LabelNoise`] and
//!   [`SmoothedCrossEntropy`] (label smoothing) cover the other kinds.
//! - **Training** — [`Trainer`] (and [`ModelTrainer`] for run-time-sized
//!   models) with [`Sgd`], [`Momentum`] or [`Adam`], mini-batches from a slice
//!   or a `heapless` [`SampleRing`]; a step that meets NaN/Inf returns an error
//!   and changes nothing. Evaluation: [`clean_loss`], [`perturbed_loss`] (with
//!   an antithetic Monte Carlo standard error), [`flatness`] and
//!   [`noisy_cost_expansion`] (the textbook and the exact second-order cost).
//! - **Gaussian sampling** — [`BoxMuller`], a scalar sampler that gives the
//!   same bits on every target, and [`fill_normal`], a batch fill vectorised
//!   with `wide` and fed by [`XoshiroLanes`], eight xoshiro128++ streams in
//!   SIMD lanes. Uniforms have 24 bits, so `|z| ≤ 5.77`.
//! - **Deployment** — [`quantize_weights`] to 2–8 bits ([`QuantConfig`]:
//!   nearest, stochastic or dithered; per row or per layer), int8 storage
//!   ([`ToInt8`], [`Int8DenseRef`]), faults ([`flip_bits_f32`],
//!   [`flip_bits_int8_weights`], [`stuck_at_zero`]), aihwkit's PCM drift
//!   ([`PcmDrift`]) and the predicted loss increase under quantisation
//!   ([`predicted_increase`] with [`dither_variance`]).
//! - **Vector kernels** — [`sq_norm`], [`dot`], [`axpy`] and [`scale`], each
//!   with a scalar twin (`sq_norm_scalar`, …) that serves as the test oracle.
//!
//! Naming: settings are built by value, a setter and its getter share one
//! noun (`with_redraw(Redraw::PerBatch)` sets what `redraw()` reads), and
//! "no noise" is spelled `none()` ([`InputNoise::none`], [`LabelNoise::none`]).
//!
//! Conventions (η is a variance; the loss is `½‖y − f‖²`, so the penalty is
//! `(η/2)‖∇f‖²`) and every formula the code implements are derived in the
//! repository's `docs/theory.md`, which the item docs cite by section
//! (`docs/theory.md §2`).
//!
//! # `rand_core`
//!
//! The crate re-exports the [`rand_core`] it is built against (0.10), so
//! [`SeedableRng`](rand_core::SeedableRng) and [`Rng`](rand_core::Rng) can be
//! named as `noisereg::rand_core::…` without a dependency of your own that
//! would have to be kept at the same version: [`BoxMuller::sample`] takes any
//! `noisereg::rand_core::Rng`, and [`XoshiroLanes`] implements its
//! `SeedableRng`.
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

// The README's Rust example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

mod error;
mod kernels;
mod math;
mod nn;
mod noise;
mod parameters;
mod perturbation;
mod quant;
mod rnn;
mod sampler;
mod train;

/// The `rand_core` this crate is built against, re-exported so that callers
/// name its traits (`noisereg::rand_core::SeedableRng`, `Rng`) without
/// pinning a second copy of their own.
pub use rand_core;

pub use error::Error;
pub use kernels::*;
pub use nn::*;
pub use noise::*;
pub use parameters::Parameters;
pub use perturbation::{Clean, Perturbation};
pub use quant::*;
pub use rnn::*;
pub use sampler::*;
pub use train::*;
