//! Fixed-size networks: dense layers with sizes as const generics, composed
//! into MLPs of any depth, with forward and backward passes, losses, the
//! weight-noise penalty `Σ_k ‖∇_θ f_k‖²`, its gradient and the Hessian trace.
//!
//! The passes call a [`Perturbation`](crate::Perturbation) hook so weight
//! noise is drawn on the fly; the backward pass visits layers from the output
//! down and skips the input gradient of layer 0 (it calls only
//! `begin_layer(0)` there). The penalty, its gradient and the trace run on the
//! clean weights. [`Tanh`] and [`Sigmoid`] use the crate's own branch-free
//! approximations (within 6 and 4 ulp), which vectorise; softplus uses `libm`.
//!
//! # The penalty
//!
//! Training with weight noise `ε ~ N(0, η)` (η a variance) on the half
//! squared error is, to first order, training on `ℓ + (η/2)·‖∇_W f(x)‖²`.
//! For a dense layer `z = W a + b` with `δ_k = ∂f_k/∂z`, the gradient with
//! respect to `W` is the outer product `δ_k aᵀ`, whose squared norm is
//! `‖δ_k‖²·‖a‖²`; so [`Model::penalty`](crate::Model::penalty) computes
//! `Σ_k Σ_l η_l (‖a_{l−1}‖² + b)·‖δ_{l,k}‖²` (`b = 1` when biases get noise,
//! [`NoiseOn`]) with one backward pass of vectors per output and no
//! per-sample gradient. [`Network::loss_penalty_grad_batch`] adds the gradient
//! of `½ Σ_l η_l ‖∇_{θ_l} f‖²`, a Hessian–vector product `H_f (η ⊙ ∇f)`, by
//! Pearlmutter's R-operator (one more forward and backward sweep) with the
//! loss gradient folded into the same sweep. [`Model::hessian_trace`](crate::Model::hessian_trace) gives
//! the exact `tr ∇²_θ f` for the second-order noisy cost.
//!
//! ```
//! use noisereg::{HalfSquaredError, Init, Mlp1, Model, Network, NoiseOn, Parameters, Tanh};
//! use rand_core::SeedableRng;
//!
//! type Net = Mlp1<2, 8, 1, Tanh>; // 2 → 8 (tanh) → 1 (linear)
//! let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(1);
//! let mut net = Net::zeroed();
//! net.init(Init::Glorot, &mut rng);
//! let eta = [0.01, 0.01]; // noise variance per layer
//!
//! // Per sample: Σ_l η_l ‖∇_{W_l} f(x)‖², what weight noise adds (halved) to the cost.
//! let mut ws = net.workspace();
//! let p = net.penalty(&[0.5, -1.0], &eta, NoiseOn::Weights, &mut ws).unwrap();
//! assert!(p > 0.0);
//!
//! // Train on ½(y − f)² + ½ Σ_l η_l ‖∇_{W_l} f‖² instead of drawing noise.
//! let (xs, ys) = ([[0.5, -1.0], [1.0, 0.25]], [[0.3], [-0.2]]);
//! let mut grad = Net::zeroed();
//! let on = NoiseOn::Weights;
//! let before = net.loss_penalty_grad_batch(&HalfSquaredError, &xs, &ys, &eta, on, &mut grad).unwrap();
//! for i in 0..(2 * Net::DEPTH) {
//!     noisereg::axpy(-0.1, grad.slice(i), net.slice_mut(i)).unwrap();
//! }
//! let after = net.loss_penalty_grad_batch(&HalfSquaredError, &xs, &ys, &eta, on, &mut grad).unwrap();
//! assert!(after.objective() < before.objective());
//! ```
//!
//! # Batch passes
//!
//! [`Model::forward_batch`](crate::Model::forward_batch), [`Network::loss_grad_batch`] (clean),
//! [`Model::loss_grad_sum`](crate::Model::loss_grad_sum) and [`Network::penalty_batch`] run [`BLOCK`]
//! samples at a time (16 where `wide` has SIMD registers, 1 on
//! microcontrollers), layer by layer, with the weights held in registers
//! across the block: `W x` with the outputs in SIMD lanes on a packed `Wᵀ`
//! (summed over the inputs in order, no horizontal sums), the weight
//! gradient as rank-one updates over the block's samples in order, the
//! input gradient with two samples per register tile. Every value a batch
//! pass gives is independent of the block size and of where the blocks
//! start, so a microcontroller (blocks of 1) gets the host's bits. The
//! one-sample passes ([`Model::forward_with`](crate::Model::forward_with), used with weight noise) sum
//! each row in SIMD lanes first; the two orders agree within the rounding
//! bound stated on [`DenseRef::forward_block`] (tested against f64).
//!
//! # Which penalty
//!
//! [`Model::penalty`](crate::Model::penalty), [`Model::penalty_grad`](crate::Model::penalty_grad) and
//! [`Network::loss_penalty_grad_batch`] are the **squared-error form**
//! `Σ_k ‖∇_θ f_k‖²_η`: what weight noise induces under ½ squared error only.
//! For any other loss the first-order penalty is the **loss-correct**
//! Gauss–Newton term `tr(J_fᵀ H_ℓ J_f)` (docs/theory.md §11):
//! [`gauss_newton_penalty`], [`loss_gauss_newton_grad`],
//! [`loss_gauss_newton_grad_batch`] and [`Network::gauss_newton_penalty_batch`]
//! take the loss, which supplies its Hessian ([`Loss::hessian_factor`]); for
//! softmax cross-entropy it is, per layer, `η ‖a‖² (Σ_k p_k ‖δ_k‖² −
//! ‖Σ_k p_k δ_k‖²)`, many times smaller than the squared-error form.
//! [`Trainer::with_penalty`](crate::Trainer::with_penalty) trains on the
//! loss-correct one, [`Trainer::with_squared_error_penalty`](crate::Trainer::with_squared_error_penalty)
//! on the squared-error form; [`loss_cost_expansion`] gives both and the
//! exact first-order noisy cost with the curvature term, for every loss.
//!
//! # Run-time-sized networks
//!
//! Each one-sample pass is written once, as a layer visitor over
//! [`DenseRef`] slices ([`passes`]); a network supplies only the traversal
//! ([`LayerStack`]: layer order and numbering, caches, the vectors carried
//! between layers). The const-generic networks walk their nested pairs with
//! stack arrays, a network sized at run time implements [`LayerStack`] with
//! vectors, and both get the same bits by construction. The batch passes
//! ([`Model::forward_batch`](crate::Model::forward_batch), …) are crate-internal block plumbing.
//!
//! # Platform-specific behaviour
//!
//! The row kernels use 4-lane vectors (SSE2, NEON, scalar elsewhere) or 8
//! lanes when AVX is enabled, and `mul_add`, which is fused when FMA is
//! enabled: results are identical across the default `x86_64` build and
//! Cortex-M, and differ in the last bits with `-C target-cpu=x86-64-v3`.
//! On every target a perturbed row is summed in the clean kernel's order,
//! so a [`Perturbation`](crate::Perturbation) that copies the clean weights
//! gives the clean bits in every pass.
//!
//! Throughput against a nalgebra peer is in the README's performance table
//! (`benches/mlp.rs`).
//!
//! # Stack
//!
//! Measured on the host (release, `tests/networks.rs`,
//! `stack_bytes_of_the_biggest_network`: a child process recurses through
//! frames of known size on a fixed-size thread stack, with and without the
//! passes, and bisects the deepest recursion that still fits) for the
//! biggest tested network, `Mlp2<16, 32, 32, 1, Tanh>` (1633 parameters):
//! about 25 KB for every pass together with the network (6.5 KB), a
//! gradient (6.5 KB) and a cache (1.9 KB) on the stack. The Hessian trace
//! dominates the passes: it keeps one `H×H` matrix per hidden width (here
//! 2 × 4 KB); forward, backward and the penalty gradient need only
//! vectors. Code generation for Cortex-M differs, so treat these as
//! estimates there.

mod activation;
mod backward;
mod block;
mod dense;

pub(crate) use crate::math::activations::sqrt as sqrt_f32;
mod forward;
mod gauss_newton;
mod init;
mod loss;
mod matmat;
mod matvec;
pub(crate) use matvec::{axpy_into, row_dot, rows_axpy, rows_dot};
mod network;
pub mod passes;
mod penalty;
mod r_op;
mod stack;
mod trace;

pub use activation::{Activation, ActivationKind, Identity, Relu, Sigmoid, Softplus, Tanh};
pub use block::BLOCK;
pub use dense::{Dense, DenseBlock, DenseCache, DenseRef};
pub(crate) use gauss_newton::add_gauss_newton_grad;
pub use gauss_newton::{
    LossCostExpansion, gauss_newton_penalty, loss_cost_expansion, loss_gauss_newton_grad,
    loss_gauss_newton_grad_batch,
};
pub use init::Init;
pub use loss::{HalfSquaredError, Loss, SoftmaxCrossEntropy};
pub(crate) use loss::{softmax_hessian_derivative, softmax_hessian_factor};
pub use network::{Mlp1, Mlp2, Mlp3, Network};
pub use penalty::{LossAndPenalty, NoiseOn};
pub use stack::{
    BackPass, Below, Carry, DownPass, LayerCache, LayerGrad, LayerStack, Seed, UpPass,
};
