//! `export` of recurrent models: the C header compiled with the system C
//! compiler gives the CLI's predictions (the core's `ElmanRef`/`GruRef` through
//! `DynRnn`) on the CO₂ test windows, bit for bit without fused multiply-adds
//! and within 1e-5·(1 + |y|) everywhere; the Rust module is the core's `Elman`
//! or `Gru` as a `const`.

use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::cli::{co2, noisereg, parse};

/// A CO₂ model (`arch`, window `seq_len`, `transform`, `horizon`).
fn train(dir: &Path, arch: &str, transform: &str, seq_len: &str, horizon: &str) -> PathBuf {
    train_on(
        dir,
        &co2(),
        "co2_ppm",
        &[],
        arch,
        transform,
        seq_len,
        horizon,
    )
}

/// A model of `target` (and `inputs`) in `data`.
#[allow(clippy::too_many_arguments)]
fn train_on(
    dir: &Path,
    data: &Path,
    target: &str,
    inputs: &[&str],
    arch: &str,
    transform: &str,
    seq_len: &str,
    horizon: &str,
) -> PathBuf {
    let out = dir.join(format!("{arch}_{transform}_{}.json", inputs.len()));
    let mut cmd = noisereg();
    cmd.args(["train", "--target", target, "--arch", arch]);
    if !inputs.is_empty() {
        cmd.args(["--inputs", &inputs.join(",")]);
    }
    cmd.args(["--transform", transform, "--seq-len", seq_len])
        .args(["--horizon", horizon, "--hidden", "8", "--epochs", "3"])
        .args(["--weight-noise", "0.003", "--data"])
        .arg(data)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    out
}

/// The raw rows (every channel, target first) of every test window of
/// `model` in `data`, one window per line.
fn raw_test_windows(model: &Path, data: &Path) -> String {
    let m: Value = serde_json::from_slice(&std::fs::read(model).unwrap()).unwrap();
    let t = m["recurrent"]["seq_len"].as_u64().unwrap() as usize;
    let h = m["recurrent"]["horizon"].as_u64().unwrap() as usize;
    let lost = usize::from(m["recurrent"]["transform"] == "difference");
    let fraction = m["settings"]["test_fraction"].as_f64().unwrap();
    let channels: Vec<String> = m["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let d = noisereg_harness::series::load_series(data, &channels[0], &channels[1..]).unwrap();
    let n = d.values.len();
    let test = &d.values[n - noisereg_harness::series::test_rows(n, fraction)..];
    (0..=test.len() - lost - t - h)
        .map(|s| {
            let vals: Vec<String> = test[s..s + t + lost]
                .iter()
                .flatten()
                .map(|v| format!("{v:e}"))
                .collect();
            vals.join(" ") + "\n"
        })
        .collect()
}

/// A two-channel series `step,v,u`: the target `v` and an input `u` leading it.
fn write_two_channels(dir: &Path) -> PathBuf {
    let mut t = String::from("step,v,u\n");
    for i in 0..240 {
        let x = i as f64 * 0.3;
        t.push_str(&format!(
            "s{i},{},{}\n",
            x.sin() + 0.01 * i as f64,
            (x + 0.6).sin()
        ));
    }
    let p = dir.join("two.csv");
    std::fs::write(&p, t).unwrap();
    p
}

const MAIN_C: &str = r#"#include <stdio.h>
#include "model.h"
int main(void) {
    float raw[NOISEREG_RAW_ROWS * NOISEREG_CHANNELS], y[NOISEREG_OUTPUTS];
    for (;;) {
        int i;
        for (i = 0; i < NOISEREG_RAW_ROWS * NOISEREG_CHANNELS; ++i)
            if (scanf("%f", &raw[i]) != 1) return 0;
        noisereg_predict_rnn(raw, y);
        for (i = 0; i < NOISEREG_OUTPUTS; ++i) printf(i ? " %.9g" : "%.9g", (double)y[i]);
        printf("\n");
    }
}
"#;

/// Exports `model` to C, compiles it with `cc -ffp-contract=off` and returns
/// (C outputs, the CLI's outputs) on the test windows.
fn c_vs_cli(dir: &Path, model: &Path, data: &Path) -> (Vec<f32>, Vec<f32>) {
    let sub = dir.join(model.file_stem().unwrap());
    std::fs::create_dir_all(&sub).unwrap();
    let header = sub.join("model.h");
    let cli = noisereg()
        .args(["export", "--format", "c", "--model"])
        .arg(model)
        .arg("--out")
        .arg(&header)
        .arg("--predict")
        .arg(data)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
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
        .write_all(raw_test_windows(model, data).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (
        parse(&String::from_utf8(out.stdout).unwrap()),
        parse(&String::from_utf8(cli).unwrap()),
    )
}

#[test]
fn c_export_of_elman_and_gru_gives_the_cli_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let two = write_two_channels(dir.path());
    // 240 rows, the last 48 the test part.
    for (data, target, inputs, arch, transform, seq_len, horizon, windows) in [
        // 105 CO₂ test rows, one lost to differencing: 104 − 12 − 1 + 1 windows.
        (
            co2(),
            "co2_ppm",
            &[][..],
            "elman",
            "difference",
            "12",
            "1",
            92,
        ),
        (co2(), "co2_ppm", &[], "gru", "difference", "12", "1", 92),
        (
            co2(),
            "co2_ppm",
            &[],
            "gru",
            "standardize",
            "6",
            "3",
            105 - 6 - 3 + 1,
        ),
        (
            two.clone(),
            "v",
            &["u"],
            "elman",
            "difference",
            "7",
            "2",
            47 - 7 - 2 + 1,
        ),
        (
            two.clone(),
            "v",
            &["u"],
            "gru",
            "standardize",
            "7",
            "2",
            48 - 7 - 2 + 1,
        ),
    ] {
        let what = format!("{arch} {transform} {} channels", inputs.len() + 1);
        let model = train_on(
            dir.path(),
            &data,
            target,
            inputs,
            arch,
            transform,
            seq_len,
            horizon,
        );
        let (c, cli) = c_vs_cli(dir.path(), &model, &data);
        assert_eq!(cli.len(), windows, "{what}: CLI windows");
        assert_eq!(c.len(), cli.len(), "{what}: C windows");
        for (a, b) in c.iter().zip(&cli) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{what}: C {a} vs CLI {b}"
            );
        }
        // Without fused multiply-adds in the CLI the C code repeats its bits.
        #[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
        {
            let cb: Vec<u32> = c.iter().map(|v| v.to_bits()).collect();
            let lb: Vec<u32> = cli.iter().map(|v| v.to_bits()).collect();
            assert_eq!(cb, lb, "{what}: C and CLI bits differ");
        }
    }
}

#[test]
fn recurrent_export_refuses_quantize_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "elman", "difference", "4", "1");
    let out = dir.path().join("m.h");
    noisereg()
        .args(["export", "--format", "c", "--quantize", "8", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("--quantize 8")
                .and(predicate::str::contains("recurrent model")),
        );
    assert!(!out.exists());
}

/// A checked-in model (`tests/export_rnn/ARCH.json`: `train --arch ARCH
/// --transform difference --seq-len 12 --hidden 8 --epochs 3` on the CO₂
/// series) and its Rust export (`ARCH.rs`).
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/export_rnn/{name}"))
}

#[test]
fn checked_in_rust_exports_are_the_cli_export() {
    let dir = tempfile::tempdir().unwrap();
    for arch in ["elman", "gru"] {
        let out = dir.path().join(format!("{arch}.rs"));
        noisereg()
            .args(["export", "--format", "rust", "--model"])
            .arg(fixture(&format!("{arch}.json")))
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        let fresh = std::fs::read_to_string(&out).unwrap();
        let path = fixture(&format!("{arch}.rs"));
        if std::env::var_os("NOISEREG_REGENERATE").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            fresh == checked_in,
            "tests/export_rnn/{arch}.rs is stale: NOISEREG_REGENERATE=1 cargo test -p noisereg-harness --test export_rnn"
        );
    }
}

#[allow(dead_code, clippy::all)]
mod elman_export {
    include!("export_rnn/elman.rs");
}

#[allow(dead_code, clippy::all)]
mod gru_export {
    include!("export_rnn/gru.rs");
}

/// The exported module's `predict` on every raw test window of its model
/// against the CLI's predictions (`export --predict`).
macro_rules! rust_export_vs_cli {
    ($m:ident, $arch:expr) => {{
        let model = fixture(concat!($arch, ".json"));
        let cli = noisereg()
            .args(["export", "--format", "rust", "--model"])
            .arg(&model)
            .arg("--predict")
            .arg(co2())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let cli = parse(&String::from_utf8(cli).unwrap());
        let raw = parse(&raw_test_windows(&model, &co2()));
        let per = $m::RAW_ROWS * $m::CHANNELS;
        assert_eq!(raw.len(), per * cli.len());
        assert_eq!(cli.len(), 92, "104 differenced test rows, T = 12, H = 1");
        for (s, (w, &want)) in raw.chunks(per).zip(&cli).enumerate() {
            let window: [[f32; $m::CHANNELS]; $m::RAW_ROWS] =
                core::array::from_fn(|k| core::array::from_fn(|c| w[k * $m::CHANNELS + c]));
            let got = $m::predict(&window)[0];
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{} window {s}: {got} vs {want}",
                $arch
            );
            // Both run the core's passes; without fused multiply-adds the bits agree.
            #[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
            assert_eq!(got.to_bits(), want.to_bits(), "{} window {s}", $arch);
        }
    }};
}

#[test]
fn rust_export_predicts_as_the_cli() {
    // 4·(H·D + H + H·H + K·H + K) and 4·(3H·D + 3H + 3H·H + K·H + K), D = K = 1, H = 8.
    assert_eq!(elman_export::PARAMETER_BYTES, 4 * (8 + 8 + 64 + 8 + 1));
    assert_eq!(gru_export::PARAMETER_BYTES, 4 * (24 + 24 + 192 + 8 + 1));
    rust_export_vs_cli!(elman_export, "elman");
    rust_export_vs_cli!(gru_export, "gru");
}
