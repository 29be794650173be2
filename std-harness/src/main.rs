//! `noisereg`: the command line of the noisereg workspace.
//!
//! Commands: `demo` (the whole story on built-in data), `train`, `verify`,
//! `robustness` and `sample`; see `noisereg --help`. Bad input ends with a
//! one-line `error: …` and exit status 2, and no output file is left behind.

mod atomic_write;
mod checkpoint;
mod cli;
mod dataset;
mod demo;
mod dyn_mlp;
mod export;
mod failure;
mod model_file;
mod optim;
mod plots;
mod robustness;
mod sample;
mod train_cmd;
mod trainer;
mod verify;

use clap::Parser;
use cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Demo(a) => demo::demo(a),
        Command::Train(a) => train_cmd::train(a),
        Command::Verify(a) => verify::verify(a),
        Command::Robustness(a) => robustness::robustness(a),
        Command::Sample(a) => sample::sample(a),
        Command::Export(a) => export::export(a),
    };
    if let Err(f) = result {
        eprintln!("error: {f}");
        std::process::exit(f.code);
    }
}
