//! `noisereg`: the command line of the noisereg workspace.

use clap::{Parser, Subcommand};
use noisereg::{BoxMuller, sq_norm};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

#[derive(Parser)]
#[command(version, about = "Noise-injection regularisation for tiny networks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the core at work (a placeholder until the demo issue lands):
    /// draws weight noise at a few variances and prints its measured variance.
    Demo,
}

fn main() {
    match Cli::parse().command {
        Command::Demo => demo(),
    }
}

fn demo() {
    const N: usize = 100_000;
    println!("eta (variance)   measured E[eps^2]");
    for eta in [1e-4f32, 1e-3, 1e-2] {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
        let mut normal = BoxMuller::new(0.0, eta.sqrt()).expect("valid settings");
        let eps: Vec<f32> = (0..N).map(|_| normal.sample(&mut rng)).collect();
        println!("{eta:<16e} {:.4e}", sq_norm(&eps) / N as f32);
    }
}
