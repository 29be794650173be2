//! Fixed-size networks: dense layers with sizes as const generics, composed
//! into MLPs of any depth, with forward and backward passes, losses, the
//! weight-noise penalty `Σ_k ‖∇_θ f_k‖²`, its gradient and the Hessian trace.

mod activation;
mod backward;
mod dense;
mod fast_math;
mod forward;
mod init;
mod loss;
mod matvec;
mod network;
mod penalty;
mod r_op;
mod trace;

pub use activation::{Activation, ActivationKind, Identity, Relu, Sigmoid, Softplus, Tanh};
pub use dense::{Dense, DenseCache, DenseRef};
pub use init::Init;
pub use loss::{HalfSquaredError, Loss, SoftmaxCrossEntropy};
pub use network::{Mlp1, Mlp2, Mlp3, Network};
pub use penalty::{LossAndPenalty, NoiseOn};
