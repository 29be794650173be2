//! Puts the memory layout of the board the target implies into the linker's
//! search path as `memory.x` (cortex-m-rt's `link.x` includes it).
//!
//! The per-board files must not be called `memory.x`: a file of that name in
//! the package folder would win over the copy made here.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let board = match target.as_str() {
        "thumbv7em-none-eabihf" => "mps2-an386",
        "thumbv6m-none-eabi" => "microbit",
        other => {
            panic!("no board for target `{other}`: use thumbv7em-none-eabihf or thumbv6m-none-eabi")
        }
    };
    let memory = format!("memory-{board}.x");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(&memory, out.join("memory.x")).expect("copy the board's memory file");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-env=NOISEREG_BOARD={board}");
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
}
