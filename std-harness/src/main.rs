//! `noisereg`: the command line of the noisereg workspace.
//!
//! Commands: `demo` (the whole story on built-in data), `train`, `verify`,
//! `robustness`, `sample` and `export`; see `noisereg --help`. Bad input ends with a
//! one-line `error: …` and exit status 2, and no output file is left behind.
//! The commands live in the `noisereg_harness` library; this is its shell.

use clap::Parser;
use noisereg_harness::cli::{Cli, Command};
use noisereg_harness::{demo, estimators, export, robustness, sample, train_cmd, verify};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Demo(a) => demo::demo(a),
        Command::Train(a) => train_cmd::train(a),
        Command::Verify(a) => verify::verify(a),
        Command::Robustness(a) => robustness::robustness(a),
        Command::Sample(a) => sample::sample(a),
        Command::Export(a) => export::export(a),
        Command::Estimators(a) => estimators::estimators(a),
    };
    if let Err(f) = result {
        eprintln!("error: {f}");
        std::process::exit(f.code);
    }
}
