//! The deployment side of the command line: `export` to C (compiled with
//! the system C compiler and run on the diabetes data: int8 predictions
//! bit-identical to the CLI's, f32 within a stated bound) and to Rust, and
//! `robustness --perturb` (output, determinism, bad input).

use predicates::prelude::*;
use std::path::{Path, PathBuf};

mod common;
use common::cli::{diabetes, noisereg, parse};

/// A diabetes model with `hidden` layers of tanh (or relu) units.
fn train(dir: &Path, name: &str, hidden: &str, act: &str) -> PathBuf {
    let out = dir.join(name);
    noisereg()
        .args([
            "train", "--target", "target", "--epochs", "20", "--hidden", hidden,
        ])
        .args(["--activation", act, "--data"])
        .arg(diabetes())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    out
}

/// Raw feature rows of the diabetes CSV (every column but the last).
fn raw_rows() -> String {
    let text = std::fs::read_to_string(diabetes()).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.trim().split(',').collect();
            cols[..cols.len() - 1].join(" ") + "\n"
        })
        .collect()
}

const MAIN_C: &str = r#"#include <stdio.h>
#include "model.h"
int main(void) {
    float raw[NOISEREG_INPUTS], y[NOISEREG_OUTPUTS];
    for (;;) {
        int i;
        for (i = 0; i < NOISEREG_INPUTS; ++i) if (scanf("%f", &raw[i]) != 1) return 0;
        noisereg_predict(raw, y);
        for (i = 0; i < NOISEREG_OUTPUTS; ++i) printf(i ? " %.9g" : "%.9g", (double)y[i]);
        printf("\n");
    }
}
"#;

/// Exports `model` to C (`quantize` bits or f32), compiles it with `cc` and
/// returns (C outputs, the CLI's outputs, header size).
fn c_vs_cli(dir: &Path, model: &Path, quantize: Option<&str>) -> (Vec<f32>, Vec<f32>, u64) {
    let sub = dir.join(format!(
        "c_{}_{}",
        model.file_stem().unwrap().to_str().unwrap(),
        quantize.unwrap_or("f32")
    ));
    std::fs::create_dir_all(&sub).unwrap();
    let header = sub.join("model.h");
    let mut cmd = noisereg();
    cmd.args(["export", "--format", "c", "--model"])
        .arg(model)
        .arg("--out")
        .arg(&header)
        .arg("--predict")
        .arg(diabetes());
    if let Some(b) = quantize {
        cmd.args(["--quantize", b]);
    }
    let cli = cmd.assert().success().get_output().stdout.clone();
    std::fs::write(sub.join("main.c"), MAIN_C).unwrap();
    let exe = sub.join("predict");
    let status = std::process::Command::new("cc")
        .args([
            "-std=c99",
            "-O2",
            "-ffp-contract=off",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .arg(sub.join("main.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-lm")
        .status()
        .unwrap();
    assert!(status.success(), "cc failed");
    let mut child = std::process::Command::new(&exe)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(raw_rows().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let size = std::fs::metadata(&header).unwrap().len();
    (
        parse(&String::from_utf8(out.stdout).unwrap()),
        parse(&String::from_utf8(cli).unwrap()),
        size,
    )
}

#[test]
fn c_export_int8_is_bit_identical_and_f32_within_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    for (name, hidden, act) in [("tanh.json", "16", "tanh"), ("relu.json", "8,5", "relu")] {
        let model = train(dir.path(), name, hidden, act);
        for bits in ["8", "4"] {
            let (c, cli, _) = c_vs_cli(dir.path(), &model, Some(bits));
            assert_eq!(c.len(), 442);
            let cb: Vec<u32> = c.iter().map(|v| v.to_bits()).collect();
            let lb: Vec<u32> = cli.iter().map(|v| v.to_bits()).collect();
            assert_eq!(cb, lb, "{name} int{bits}: C and CLI differ");
        }
        let (c, cli, _) = c_vs_cli(dir.path(), &model, None);
        assert_eq!(c.len(), cli.len());
        // The C kernel sums in input order, the core in SIMD lanes.
        for (a, b) in c.iter().zip(&cli) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{name} f32: {a} vs {b}"
            );
        }
    }
}

#[test]
fn rust_export_is_a_const_network_and_int8_is_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "m.json", "16", "tanh");
    let export = |q: Option<&str>, out: &str| {
        let path = dir.path().join(out);
        let mut cmd = noisereg();
        cmd.args(["export", "--format", "rust", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(&path);
        if let Some(b) = q {
            cmd.args(["--quantize", b]);
        }
        cmd.assert().success();
        std::fs::read_to_string(path).unwrap()
    };
    let f = export(None, "f32.rs");
    let q = export(Some("8"), "int8.rs");
    assert!(f.contains("pub const NETWORK: Network = (noisereg::Dense {"));
    assert!(q.contains("pub const NETWORK: Network = (noisereg::Int8Dense {"));
    assert!(q.contains("pub fn predict(raw: &[f32; INPUTS]) -> [f32; OUTPUTS]"));
    let bytes = |s: &str| -> usize {
        let line = s
            .lines()
            .find(|l| l.starts_with("pub const PARAMETER_BYTES"))
            .unwrap();
        line.trim_end_matches(';')
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // 10→16→1: 176 weights, 17 biases; int8 adds one f32 scale per row.
    assert_eq!(bytes(&f), 4 * (176 + 17));
    assert_eq!(bytes(&q), 176 + 4 * 17 + 4 * 17);
}

#[test]
fn export_rejects_bad_input_with_status_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.h");
    let missing = dir.path().join("missing.json");
    noisereg()
        .args(["export", "--format", "c", "--model"])
        .arg(&missing)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.json"));
    assert!(!out.exists());
    let model = train(dir.path(), "m.json", "4", "tanh");
    noisereg()
        .args(["export", "--format", "c", "--quantize", "9", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--quantize"));
    noisereg()
        .args(["export", "--format", "rust", "--model"])
        .arg(&model)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out"));
    assert!(!out.exists());
    // The output may not overwrite the model it reads.
    let before = std::fs::read(&model).unwrap();
    noisereg()
        .args(["export", "--format", "c", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&model)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out"));
    assert_eq!(std::fs::read(&model).unwrap(), before);
}

fn perturb_json(model: &Path, perturb: &str, seed: &str) -> serde_json::Value {
    let out = noisereg()
        .args([
            "robustness",
            "--target",
            "target",
            "--draws",
            "40",
            "--json",
            "--seed",
            seed,
        ])
        .args(["--perturb", perturb, "--model"])
        .arg(model)
        .arg("--data")
        .arg(diabetes())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn robustness_perturb_reports_every_item_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "m.json", "8", "tanh");
    let items = "gauss:1e-3,quant:8,dither:4,stoch:3/layer,bitflip:1e-4,bitflip8:1e-3,stuck:0.01,drift:1d,rawdrift:1y";
    let a = perturb_json(&model, items, "3");
    assert_eq!(
        a,
        perturb_json(&model, items, "3"),
        "same seed, same output"
    );
    let rows = a["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9);
    for r in rows {
        assert!(r["clean_loss"].as_f64().unwrap().is_finite());
        let quant = ["quant:8", "dither:4", "stoch:3/layer", "gauss:1e-3"]
            .contains(&r["perturbation"].as_str().unwrap());
        assert_eq!(r.get("predicted_exact").is_some(), quant, "{r}");
    }
    assert_eq!(rows[1]["draws"], 1, "round to nearest is deterministic");
    assert_eq!(rows[1]["std_error"], 0.0);
    let dither = &rows[2];
    let (m, se, p) = (
        dither["increase"].as_f64().unwrap(),
        dither["std_error"].as_f64().unwrap(),
        dither["predicted_exact"].as_f64().unwrap(),
    );
    assert!(
        (m - p).abs() <= 4.0 * se,
        "dither:4 measured {m} ± {se} vs predicted {p}"
    );
    assert_ne!(a, perturb_json(&model, items, "4"));
}

#[test]
fn robustness_perturb_rejects_bad_items_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "m.json", "4", "tanh");
    for (bad, says) in [
        ("quant:9", "bits must be 2 to 8"),
        ("bitflip:2", "between 0 and 1"),
        ("drift:1w", "unit must be"),
        ("warp:3", "is not a perturbation"),
        ("quant", "NAME:VALUE"),
        ("quant:4/col", "/row or /layer"),
    ] {
        noisereg()
            .args([
                "robustness",
                "--target",
                "target",
                "--perturb",
                bad,
                "--model",
            ])
            .arg(&model)
            .arg("--data")
            .arg(diabetes())
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--perturb").and(predicate::str::contains(says)));
    }
    noisereg()
        .args([
            "robustness",
            "--target",
            "target",
            "--perturb",
            "quant:8",
            "--eta",
            "0.1",
            "--model",
        ])
        .arg(&model)
        .arg("--data")
        .arg(diabetes())
        .assert()
        .code(2);
}

/// The int8 model the firmware runs (`firmware/src/bin/int8.rs`).
#[allow(dead_code, clippy::all)]
mod firmware_model {
    include!("../firmware/src/int8_model.rs");
}

/// Bit-exact against the default build that generated the file: fused
/// multiply-adds (x86-64-v3, aarch64) change the training run's last bits.
#[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
#[test]
fn firmware_int8_model_is_the_cli_export() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("firmware_model.json");
    noisereg()
        .args([
            "train", "--target", "target", "--epochs", "50", "--hidden", "8",
        ])
        .args(["--activation", "tanh", "--data"])
        .arg(diabetes())
        .arg("--out")
        .arg(&model)
        .assert()
        .success();
    let out = dir.path().join("int8_model.rs");
    noisereg()
        .args(["export", "--format", "rust", "--quantize", "8", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let fresh = std::fs::read_to_string(&out).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/src/int8_model.rs");
    if std::env::var_os("NOISEREG_REGENERATE").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        fresh == checked_in,
        "firmware/src/int8_model.rs is stale: NOISEREG_REGENERATE=1 cargo test -p noisereg-harness --test export"
    );
}

/// The host's `result:` line for the firmware's int8 program (`run.sh`).
#[test]
fn firmware_int8_report() {
    use noisereg::Int8Network as _;
    let mut hash = noisereg_firmware_workload::Fnv1a::new();
    for x in noisereg_firmware_workload::X.iter() {
        let mut y = [0.0f32; firmware_model::OUTPUTS];
        firmware_model::NETWORK.forward(x, &mut y);
        hash.write_f32s(&y);
    }
    println!(
        "result: int8_parameter_bytes={} int8_predictions_fnv1a={:#010x}",
        firmware_model::PARAMETER_BYTES,
        hash.finish()
    );
}
