//! Helpers shared by the integration tests (each test crate uses a part).
#![allow(dead_code)]

pub mod cli;
pub mod rnn_reference;
