//! `noisereg-harness`: the std side of the noisereg workspace.
//!
//! The `noisereg` binary (`src/main.rs`) is a thin shell over this library:
//! the command line ([`cli`]), its commands ([`demo`], [`train_cmd`],
//! [`verify`], [`robustness`], [`sample`]), the run-time network
//! [`dyn_mlp::DynMlp`] and its trainer, the loaders and writers of data sets,
//! model files and checkpoints. The tests in `../tests` use it directly.
//!
//! Every command returns a [`failure::Outcome`]: bad input ends with a
//! one-line `error: …` and exit status 2, and no output file is left behind.

// Items were crate-private until the library target existed; their docs are
// on the modules. The crate is not published.
#![allow(missing_docs)]

pub mod atomic_write;
pub mod checkpoint;
pub mod cli;
pub mod dataset;
pub mod demo;
pub mod dyn_mlp;
pub mod dyn_rnn;
pub mod estimators;
pub mod export;
pub mod failure;
pub mod model_file;
pub mod optim;
pub mod plots;
pub mod robustness;
pub mod sample;
pub mod series;
pub mod train_cmd;
pub mod trainer;
pub mod verify;
