//! What the command-line test suites share: the binary, the shipped data and
//! small file helpers.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The `noisereg` binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_noisereg");

/// A command running [`BIN`].
pub fn noisereg() -> Command {
    Command::new(BIN)
}

/// A data file shipped in `data/`.
pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(name)
}

/// The diabetes regression data.
pub fn diabetes() -> PathBuf {
    data_file("diabetes.csv")
}

/// The monthly CO₂ series.
pub fn co2() -> PathBuf {
    data_file("co2_monthly.csv")
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A smooth synthetic regression set: `rows` rows, columns a, b, c, y.
pub fn write_data(dir: &Path, name: &str, rows: usize) -> PathBuf {
    let mut s = String::from("a,b,c,y\n");
    for i in 0..rows {
        let t = i as f64 / rows as f64;
        let (a, b, c) = (t * 4.0 - 2.0, (t * 7.0).sin(), (i % 5) as f64);
        s.push_str(&format!("{a},{b},{c},{}\n", a * b + 0.3 * c));
    }
    write(dir, name, &s)
}

/// A path as UTF-8 text (the temp dirs are).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Whitespace-separated numbers.
pub fn parse(text: &str) -> Vec<f32> {
    text.split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}
