//! End-to-end tests of model files, checkpoints and fair evaluation
//! (`verify`, `robustness`, `sample`): every bad file is a one-line error
//! naming the file and the field, exit status 2, nothing written.

use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::cli::{BIN, noisereg, s, write, write_data};

/// Three classes from two features: columns a, b, k.
fn write_classes(dir: &Path, name: &str, rows: usize) -> PathBuf {
    let mut s = String::from("a,b,k\n");
    for i in 0..rows {
        let t = i as f64 / rows as f64;
        let (a, b) = ((t * 13.0).sin(), (t * 5.0).cos());
        let k = if a + b > 0.5 {
            2
        } else if a > b {
            1
        } else {
            0
        };
        s.push_str(&format!("{a},{b},{k}\n"));
    }
    write(dir, name, &s)
}

/// Trains a small model on `data` (target `target`) with `extra` flags.
fn train(data: &Path, target: &str, out: &Path, extra: &[&str]) {
    noisereg()
        .args([
            "train",
            "--data",
            s(data),
            "--target",
            target,
            "--out",
            s(out),
        ])
        .args(["--hidden", "6", "--epochs", "3", "--batch", "8"])
        .args(extra)
        .assert()
        .success();
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    write(dir, name, &serde_json::to_string_pretty(v).unwrap())
}

/// `verify --json` on `model` and `data`; the parsed output.
fn verify_json(model: &Path, data: &Path, target: &str, extra: &[&str]) -> Value {
    let out = noisereg()
        .args([
            "verify",
            "--model",
            s(model),
            "--data",
            s(data),
            "--target",
            target,
        ])
        .args(["--eta", "1e-3,1e-2", "--draws", "40", "--json"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

/// `verify` on a bad model or data fails with status 2, nothing on stdout,
/// and a message containing every piece of `expect`.
fn verify_fails(model: &Path, data: &Path, target: &str, expect: &[&str]) {
    let out = noisereg()
        .args([
            "verify",
            "--model",
            s(model),
            "--data",
            s(data),
            "--target",
            target,
        ])
        .args(["--eta", "0.01", "--draws", "10"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .get_output()
        .stderr
        .clone();
    let msg = String::from_utf8(out).unwrap();
    assert_eq!(msg.lines().count(), 1, "{msg}");
    for e in expect {
        assert!(msg.contains(e), "`{e}` not in: {msg}");
    }
}

#[test]
fn sample_rejects_settings_that_overflow_f32() {
    noisereg()
        .args(["sample", "--n", "10", "--mean", "3e38", "--std", "1e38"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("overflow f32"));
    noisereg()
        .args(["sample", "--n", "10", "--mean", "-1e38", "--std", "5e37"])
        .assert()
        .code(2);
    let out = noisereg()
        .args(["sample", "--n", "1000", "--mean", "3e38", "--std", "1e36"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.lines().all(|l| l.parse::<f32>().unwrap().is_finite()));
}

#[test]
fn verify_and_robustness_match_columns_by_name_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 40);
    let model = d.join("m.json");
    train(&data, "y", &model, &[]);
    // The same data with the columns in another order: the same losses.
    let text = std::fs::read_to_string(&data).unwrap();
    let swapped: String = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{},{}\n", f[3], f[2], f[0], f[1])
        })
        .collect();
    let swapped = write(d, "swapped.csv", &swapped);
    let a = verify_json(&model, &data, "y", &[]);
    let b = verify_json(&model, &swapped, "y", &[]);
    assert_eq!(a["clean_loss"], b["clean_loss"]);
    assert_eq!(a["rows"], b["rows"]);
    // A renamed column is missing one name and has an extra one.
    let renamed = write(d, "renamed.csv", &text.replacen("a,b,c,y", "a,b,z,y", 1));
    verify_fails(
        &model,
        &renamed,
        "y",
        &["renamed.csv:1:", "missing `c`", "extra `z`"],
    );
    let wide = write(d, "wide.csv", &text.replacen("a,b,c,y", "a,b,y,w", 1));
    verify_fails(
        &model,
        &wide,
        "y",
        &["wide.csv:1:", "missing `c`", "extra `w`"],
    );
    let narrow = write(d, "narrow.csv", "c,y,a\n1,2,3\n4,5,6\n");
    verify_fails(
        &model,
        &narrow,
        "y",
        &[
            "narrow.csv:1: 2 feature columns",
            "takes 3 inputs",
            "missing `b`",
        ],
    );
    // A model trained on another target is refused.
    verify_fails(&model, &swapped, "a", &["--target `a`", "m.json", "`y`"]);
    noisereg()
        .args(["robustness", "--model", s(&model), "--data", s(&renamed)])
        .args(["--target", "y", "--eta", "0.01", "--draws", "10"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing `c`"));
}

/// A valid model file as JSON, trained on `data` (target y).
fn model_json(d: &Path) -> Value {
    let data = write_data(d, "d.csv", 30);
    let model = d.join("m.json");
    train(&data, "y", &model, &[]);
    read_json(&model)
}

/// Writes `m` changed by `edit` as `name` and expects `verify` to fail
/// with status 2 and a message with every piece of `expect`.
fn bad_model(d: &Path, m: &Value, name: &str, edit: impl Fn(&mut Value), expect: &[&str]) {
    let mut v = m.clone();
    edit(&mut v);
    let p = write_json(d, name, &v);
    let mut all = vec![name];
    all.extend(expect);
    verify_fails(&p, &d.join("d.csv"), "y", &all);
}

#[test]
fn crafted_counts_fail_naming_the_field_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = model_json(d);
    for (i, huge) in [100_000_000_000u64, 1 << 62, u64::MAX]
        .into_iter()
        .enumerate()
    {
        bad_model(
            d,
            &m,
            &format!("outputs{i}.json"),
            |v| v["layers"][1]["outputs"] = huge.into(),
            &["layers[1].weights"],
        );
        bad_model(
            d,
            &m,
            &format!("inputs{i}.json"),
            |v| v["layers"][0]["inputs"] = huge.into(),
            &["layers[0].weights"],
        );
    }
    bad_model(
        d,
        &m,
        "float.json",
        |v| v["layers"][1]["outputs"] = serde_json::json!(1e11),
        &["layers[1].outputs", "floating point"],
    );
    bad_model(
        d,
        &m,
        "short.json",
        |v| {
            v["layers"][1]["weights"].as_array_mut().unwrap().pop();
        },
        &["layers[1].weights", "5 values", "need 6"],
    );
    bad_model(
        d,
        &m,
        "bias.json",
        |v| {
            v["layers"][0]["bias"]
                .as_array_mut()
                .unwrap()
                .push(0.5.into())
        },
        &["layers[0].bias", "7 values"],
    );
    bad_model(
        d,
        &m,
        "chain.json",
        |v| v["layers"][1]["inputs"] = 5.into(),
        &["layers[1].inputs"],
    );
    bad_model(
        d,
        &m,
        "nolayers.json",
        |v| v["layers"] = serde_json::json!([]),
        &["layers", "no layers"],
    );
    bad_model(
        d,
        &m,
        "names.json",
        |v| {
            v["features"].as_array_mut().unwrap().pop();
        },
        &["features", "2 names"],
    );
    bad_model(
        d,
        &m,
        "dup.json",
        |v| v["features"][1] = "a".into(),
        &["features[1]"],
    );
    bad_model(
        d,
        &m,
        "hidden.json",
        |v| v["settings"]["hidden"] = serde_json::json!([5]),
        &["settings.hidden"],
    );
    bad_model(
        d,
        &m,
        "classes.json",
        |v| v["classes"] = 3.into(),
        &["classes", "mse"],
    );
}

#[test]
fn non_finite_values_and_bad_scales_are_rejected_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = model_json(d);
    for (field, value) in [
        ("std", 0.0),
        ("std", -1.0),
        ("std", 1e39), // parses as +inf
        ("mean", 1e39),
    ] {
        bad_model(
            d,
            &m,
            &format!("fs-{field}-{value}.json"),
            |v| v["feature_scaling"][field][1] = value.into(),
            &[&format!("feature_scaling.{field}[1]")],
        );
        bad_model(
            d,
            &m,
            &format!("ts-{field}-{value}.json"),
            |v| v["target_scaling"][field][0] = value.into(),
            &[&format!("target_scaling.{field}[0]")],
        );
    }
    bad_model(
        d,
        &m,
        "inf-weight.json",
        |v| v["layers"][0]["weights"][3] = 1e39.into(),
        &["layers[0].weights[3]", "out of range"],
    );
    bad_model(
        d,
        &m,
        "inf-bias.json",
        |v| v["layers"][1]["bias"][0] = (-1e39).into(),
        &["layers[1].bias[0]", "out of range"],
    );
    // Finite but huge weights: the loss itself overflows.
    bad_model(
        d,
        &m,
        "huge-weight.json",
        |v| {
            for w in v["layers"][1]["weights"].as_array_mut().unwrap() {
                *w = 3e38.into();
            }
        },
        &["at its own weights is", "overflow f32"],
    );
    bad_model(
        d,
        &m,
        "no-ts.json",
        |v| v["target_scaling"] = Value::Null,
        &["target_scaling", "missing"],
    );
}

#[test]
fn unknown_enum_values_and_broken_files_name_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = model_json(d);
    bad_model(
        d,
        &m,
        "CE.json",
        |v| v["settings"]["loss"] = "CE".into(),
        &["settings.loss", "unknown variant `CE`"],
    );
    bad_model(
        d,
        &m,
        "act.json",
        |v| v["layers"][0]["activation"] = "Tanh".into(),
        &["layers[0].activation", "unknown variant `Tanh`"],
    );
    bad_model(
        d,
        &m,
        "kind.json",
        |v| v["settings"]["noise_kind"] = "gaussian".into(),
        &["settings.noise_kind"],
    );
    bad_model(
        d,
        &m,
        "on.json",
        |v| v["settings"]["noise_on"] = "biases".into(),
        &["settings.noise_on"],
    );
    bad_model(
        d,
        &m,
        "typo.json",
        |v| v["settings"]["weight_nosie"] = 0.1.into(),
        &["unknown field `weight_nosie`"],
    );
    bad_model(
        d,
        &m,
        "smoothing.json",
        |v| v["settings"]["label_smoothing"] = 1.5.into(),
        &["settings.label_smoothing", "1.5"],
    );
    bad_model(
        d,
        &m,
        "lr.json",
        |v| v["settings"]["lr"] = (-1.0).into(),
        &["settings.lr"],
    );
    bad_model(
        d,
        &m,
        "format.json",
        |v| v["format"] = "noisereg-model-0".into(),
        &["format", "noisereg-model-0"],
    );
    // A model written by this version is read back field for field.
    let text = serde_json::to_string_pretty(&m).unwrap();
    let truncated = write(d, "truncated.json", &text[..text.len() / 2]);
    verify_fails(&truncated, &d.join("d.csv"), "y", &["truncated.json:"]);
    verify_json(&write(d, "same.json", &text), &d.join("d.csv"), "y", &[]);
}

#[test]
fn every_model_gets_the_commands_own_perturbation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 40);
    let a = d.join("a.json");
    train(&data, "y", &a, &[]);
    // The same weights, recorded as trained with multiplicative noise on all.
    let mut v = read_json(&a);
    v["settings"]["weight_noise"] = 0.01.into();
    v["settings"]["noise_kind"] = "multiplicative".into();
    v["settings"]["noise_on"] = "all".into();
    let b = write_json(d, "b.json", &v);
    let mut noisy = Vec::new();
    for flags in [&[][..], &["--multiplicative", "--noise-on", "all"][..]] {
        let out = noisereg()
            .args(["robustness", "--model", s(&a), "--model", s(&b)])
            .args(["--data", s(&data), "--target", "y", "--eta", "1e-2"])
            .args(["--draws", "40", "--json"])
            .args(flags)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let r: Value = serde_json::from_slice(&out).unwrap();
        let rows = r["rows"].as_array().unwrap();
        assert_eq!(rows[0]["noisy_loss"], rows[1]["noisy_loss"], "{r}");
        let expect = if flags.is_empty() {
            ("additive", "weights")
        } else {
            ("multiplicative", "weights and biases")
        };
        assert_eq!(r["perturbation"]["kind"], expect.0);
        assert_eq!(r["perturbation"]["on"], expect.1);
        assert_eq!(r["rows_used"], 40);
        noisy.push(rows[0]["noisy_loss"].as_f64().unwrap());
        let x = verify_json(&a, &data, "y", flags);
        let y = verify_json(&b, &data, "y", flags);
        assert_eq!(x["rows"], y["rows"]);
        assert_eq!(x["perturbation"]["kind"], expect.0);
    }
    assert_ne!(noisy[0], noisy[1], "the flags change the perturbation");
    // A perturbation that overflows f32 is an error, not a NaN row.
    for cmd in ["verify", "robustness"] {
        noisereg()
            .args([cmd, "--model", s(&a), "--data", s(&data), "--target", "y"])
            .args(["--eta", "3e38", "--draws", "10", "--noise-on", "all"])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("--eta 3e38").and(predicate::str::contains("a.json")));
    }
    noisereg()
        .args(["robustness", "--model", s(&b), "--data", s(&data)])
        .args(["--target", "y", "--eta", "1e-2", "--draws", "10"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "additive perturbation w + ε, ε ~ N(0, η), on the weights for every model",
        ));
}

#[test]
fn verify_labels_the_norm_it_computed_and_the_rows_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let m = d.join("m.json");
    train(&data, "y", &m, &[]);
    let run = |extra: &[&str]| {
        let out = noisereg()
            .args([
                "verify",
                "--model",
                s(&m),
                "--data",
                s(&data),
                "--target",
                "y",
            ])
            .args(["--eta", "1e-3", "--draws", "10"])
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let w = run(&[]);
    assert!(w.contains("mean ‖∇_W f‖²"), "{w}");
    assert!(w.contains("all 30 rows"), "{w}");
    assert!(w.contains("standardised target"), "{w}");
    let all = run(&["--noise-on", "all"]);
    assert!(all.contains("mean ‖∇_(W,b) f‖²"), "{all}");
    assert!(!all.contains("‖∇_W f‖²"), "{all}");
    let v = verify_json(&m, &data, "y", &["--noise-on", "all"]);
    assert_eq!(v["grad_sq_over"], "weights and biases");
    assert_eq!(v["rows_used"], 30);
    assert_eq!(v["rows_used_are"], "all rows of --data");
    assert!(v["units"].as_str().unwrap().contains("standardised target"));
    noisereg()
        .args(["verify", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Uses every row of --data"))
        .stdout(predicate::str::contains("--multiplicative"));
}

#[test]
fn classification_reports_accuracy_clean_and_under_perturbation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_classes(d, "k.csv", 90);
    let m = d.join("m.json");
    let out = noisereg()
        .args(["train", "--data", s(&data), "--target", "k", "--out", s(&m)])
        .args(["--loss", "ce", "--hidden", "8", "--epochs", "30", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let t: Value = serde_json::from_slice(&out).unwrap();
    let train_acc = t["train_accuracy"].as_f64().unwrap();
    assert!(train_acc > 0.6 && train_acc <= 1.0, "{t}");
    assert!(t["test_accuracy"].as_f64().unwrap() <= 1.0);
    noisereg()
        .args([
            "train",
            "--data",
            s(&data),
            "--target",
            "k",
            "--out",
            s(&d.join("n.json")),
        ])
        .args(["--loss", "ce", "--epochs", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("test accuracy"));
    let v = verify_json(&m, &data, "k", &[]);
    let clean = v["clean_accuracy"].as_f64().unwrap();
    assert!(clean > 0.6 && clean <= 1.0, "{v}");
    for r in v["rows"].as_array().unwrap() {
        let a = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{r}");
        assert!(r["accuracy_std_error"].as_f64().unwrap() >= 0.0);
    }
    let out = noisereg()
        .args([
            "robustness",
            "--model",
            s(&m),
            "--data",
            s(&data),
            "--target",
            "k",
        ])
        .args(["--eta", "1e-4,1", "--draws", "40", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r: Value = serde_json::from_slice(&out).unwrap();
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows[0]["clean_accuracy"].as_f64().unwrap(), clean);
    // Tiny noise keeps the accuracy; η = 1 destroys much of it.
    let small = rows[0]["noisy_accuracy"].as_f64().unwrap();
    let large = rows[1]["noisy_accuracy"].as_f64().unwrap();
    assert!((small - clean).abs() < 0.05, "{r}");
    assert!(large < clean - 0.1, "{r}");
    // A crafted class count is checked against the output layer.
    let mut v = read_json(&m);
    v["classes"] = 100_000_000_000u64.into();
    let huge = write_json(d, "huge.json", &v);
    verify_fails(&huge, &data, "k", &["huge.json", "classes", "100000000000"]);
}

/// A checkpoint's JSON with `checksum` recomputed as the program does: the
/// CRC-32 of the compact JSON with the checksum empty (no string in a
/// checkpoint holds a space, so compact = pretty without whitespace).
fn reseal(text: &str) -> String {
    let v: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let start = v.find("\"checksum\":\"").unwrap() + "\"checksum\":\"".len();
    let end = start + v[start..].find('"').unwrap();
    let blank = format!("{}{}", &v[..start], &v[end..]);
    let sum = format!("{:08x}", crc32fast::hash(blank.as_bytes()));
    format!("{}{sum}{}", &v[..start], &v[end..])
}

/// Replaces the first `"key": value` (a number) after the settings in a
/// checkpoint's text.
fn set_number(text: &str, key: &str, f: impl Fn(u64) -> String) -> String {
    let pat = format!("\"{key}\": ");
    let after = text.find("\"data_hash\"").unwrap();
    let i = after + text[after..].find(&pat).unwrap() + pat.len();
    let j = i + text[i..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let old: u64 = text[i..j].parse().unwrap();
    format!("{}{}{}", &text[..i], f(old), &text[j..])
}

#[test]
fn tampered_checkpoints_are_refused_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 60);
    let ck = d.join("ck.json");
    let args = |out: &Path, resume: Option<&Path>| {
        let mut a: Vec<String> = [
            "train",
            "--data",
            s(&data),
            "--target",
            "y",
            "--out",
            s(out),
            "--hidden",
            "4",
            "--epochs",
            "3",
            "--batch",
            "7",
            "--weight-noise",
            "0.01",
            "--input-noise",
            "0.1",
        ]
        .map(String::from)
        .to_vec();
        if let Some(r) = resume {
            a.extend(["--resume".into(), s(r).into()]);
        }
        a
    };
    noisereg()
        .args(args(&d.join("first.json"), None))
        .args(["--checkpoint", s(&ck), "--checkpoint-every", "9"])
        .assert()
        .success();
    let good = std::fs::read_to_string(&ck).unwrap();
    // The untouched checkpoint resumes.
    noisereg()
        .args(args(&d.join("ok.json"), Some(&ck)))
        .assert()
        .success();
    let refused = |name: &str, text: &str, expect: &[&str]| {
        let p = write(d, name, text);
        let out = d.join(format!("{name}.model.json"));
        let err = noisereg()
            .args(args(&out, Some(&p)))
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .get_output()
            .stderr
            .clone();
        let msg = String::from_utf8(err).unwrap();
        assert!(msg.contains(name), "{msg}");
        for e in expect {
            assert!(msg.contains(e), "`{e}` not in: {msg}");
        }
        assert!(!out.exists());
    };
    // A 1-bit flip of a weight, and a noise counter off by one: the checksum.
    let first_weight = |text: &str, f: &dyn Fn(u32) -> u32| {
        let pat = "\"weights\": [\n    [\n      ";
        let i = text.find(pat).unwrap() + pat.len();
        let j = i + text[i..].find(|c: char| !c.is_ascii_digit()).unwrap();
        let w: u32 = text[i..j].parse().unwrap();
        format!("{}{}{}", &text[..i], f(w), &text[j..])
    };
    let flipped = first_weight(&good, &|w| w ^ 1);
    refused("flip.json", &flipped, &["checksum"]);
    let counter = set_number(&good, "weight", |v| (v + 1).to_string());
    refused("counter.json", &counter, &["checksum"]);
    let batch = set_number(&good, "batch", |_| "1000000000".into());
    refused("batch.json", &batch, &["checksum"]);
    let epoch = set_number(&good, "epoch", |_| "1000000".into());
    refused("epoch.json", &epoch, &["checksum"]);
    // With a recomputed checksum the range checks catch the other three (a
    // flipped low bit of a finite weight is only the checksum's to catch).
    refused("counter2.json", &reseal(&counter), &["noise.weight", "124"]);
    refused("batch2.json", &reseal(&batch), &["batch", "1000000000"]);
    refused("epoch2.json", &reseal(&epoch), &["epoch", "1000000"]);
    let input = set_number(&good, "input", |v| (v - 1).to_string());
    refused("input.json", &reseal(&input), &["noise.input"]);
    let step = set_number(&good, "step", |v| (v + 7).to_string());
    refused("step.json", &reseal(&step), &["step"]);
    let nan = first_weight(&good, &|_| f32::NAN.to_bits());
    refused("nan.json", &reseal(&nan), &["weights[0][0]", "NaN"]);
    let no_block = {
        let pat = "\"weights\": [\n    [";
        good.replacen(pat, "\"weights\": [\n    [1],\n    [", 1)
    };
    refused(
        "block.json",
        &reseal(&no_block),
        &["weights", "parameter blocks"],
    );
    let kind = good.replacen("\"kind\": \"adam\"", "\"kind\": \"sgd\"", 1);
    refused("kind.json", &reseal(&kind), &["optimizer.kind", "`sgd`"]);
    let second = {
        let pat = "\"second\": [\n      [\n        ";
        let i = good.find(pat).unwrap() + pat.len();
        let j = i + good[i..].find(|c: char| !c.is_ascii_digit()).unwrap();
        format!("{}{}{}", &good[..i], (-1.0f32).to_bits(), &good[j..])
    };
    refused(
        "second.json",
        &reseal(&second),
        &["optimizer.second[0][0]", "-1"],
    );
    refused(
        "trunc.json",
        &good[..good.len() / 2],
        &["trunc.json:", "EOF"],
    );
    let extra = reseal(&good.replacen("\"step\"", "\"steps\": 1,\n  \"step\"", 1));
    refused("extra.json", &extra, &["unknown field `steps`"]);
    let old = reseal(&good).replace("noisereg-checkpoint-2", "noisereg-checkpoint-1");
    refused("old.json", &old, &["format", "noisereg-checkpoint-1"]);
    let i = good.find("  \"checksum\"").unwrap();
    let j = i + good[i..].find('\n').unwrap() + 1;
    let v1 = format!("{}{}", &good[..i], &good[j..]).replace("checkpoint-2", "checkpoint-1");
    refused(
        "v1.json",
        &v1,
        &["format", "older checkpoints cannot be resumed"],
    );
    let opt = reseal(&good.replacen("\"adam\"", "\"Adam\"", 1));
    refused("opt.json", &opt, &["settings.optimizer", "unknown variant"]);
    // A checkpoint of a run with other settings names the setting.
    let other = noisereg()
        .args(args(&d.join("o.json"), Some(&ck)))
        .args(["--seed", "10"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let msg = String::from_utf8(other).unwrap();
    assert!(
        msg.contains("settings.seed") && msg.contains("different run"),
        "{msg}"
    );
    // The test's resealing agrees with the program's checksum.
    let i = good.find("\"checksum\": \"").unwrap() + "\"checksum\": \"".len();
    assert!(reseal(&good).contains(&good[i..i + 8]));
}

#[test]
fn divergence_says_which_setting_made_it_non_finite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let out = d.join("m.json");
    let err = noisereg()
        .args([
            "train",
            "--data",
            s(&data),
            "--target",
            "y",
            "--out",
            s(&out),
        ])
        .args(["--epochs", "2", "--penalty", "1e30"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let msg = String::from_utf8(err).unwrap();
    assert!(msg.contains("--penalty 1e30"), "{msg}");
    assert!(!msg.contains("--lr"), "{msg}");
    assert!(!out.exists());
    let err = noisereg()
        .args([
            "train",
            "--data",
            s(&data),
            "--target",
            "y",
            "--out",
            s(&out),
        ])
        .args(["--epochs", "2", "--optimizer", "sgd", "--lr", "1e30"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let msg = String::from_utf8(err).unwrap();
    assert!(
        msg.contains("--lr 1e30") && msg.contains("largest |weight|"),
        "{msg}"
    );
    assert!(!out.exists());
}

/// A small deterministic generator for the mutation tests (SplitMix64).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce5_e9b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `text` with one random edit: a byte replaced by one of a few
/// troublesome characters, a cut, an element added to a list, or a digit
/// run replaced by a huge or negative number.
fn mutate(text: &str, rng: &mut u64) -> String {
    let b = text.as_bytes();
    let at = (splitmix(rng) % b.len() as u64) as usize;
    let mut out = b.to_vec();
    match splitmix(rng) % 5 {
        0 => out[at] = b"09-.e\"]}, x"[(splitmix(rng) % 11) as usize],
        1 => out.truncate(at),
        2 => {
            // One more element where a number ends (a list grows by one).
            let end = (at..b.len())
                .find(|&i| !b[i].is_ascii_digit())
                .unwrap_or(b.len());
            out.splice(end..end, b",0".iter().copied());
        }
        _ => {
            let start = (0..=at)
                .rev()
                .find(|&i| !b[i].is_ascii_digit())
                .map_or(0, |i| i + 1);
            let end = (at..b.len())
                .find(|&i| !b[i].is_ascii_digit())
                .unwrap_or(b.len());
            let new = [
                "18446744073709551615",
                "4611686018427387904",
                "-1",
                "0",
                "1e39",
                "3",
            ][(splitmix(rng) % 6) as usize];
            out.splice(start.min(end)..end, new.bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn random_edits_of_model_and_checkpoint_files_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let model = d.join("m.json");
    let ck = d.join("ck.json");
    let train_args = |out: &Path| {
        [
            "train",
            "--data",
            s(&data),
            "--target",
            "y",
            "--out",
            s(out),
            "--hidden",
            "3",
            "--epochs",
            "2",
            "--batch",
            "5",
            "--optimizer",
            "momentum",
            "--label-noise",
            "0.1",
        ]
        .map(String::from)
        .to_vec()
    };
    noisereg()
        .args(train_args(&model))
        .args(["--checkpoint", s(&ck), "--checkpoint-every", "4"])
        .assert()
        .success();
    let (m, c) = (
        std::fs::read_to_string(&model).unwrap(),
        std::fs::read_to_string(&ck).unwrap(),
    );
    let mut rng = 7u64;
    for i in 0..100 {
        let p = write(d, &format!("m{i}.json"), &mutate(&m, &mut rng));
        let out = noisereg()
            .args([
                "verify",
                "--model",
                s(&p),
                "--data",
                s(&data),
                "--target",
                "y",
            ])
            .args(["--eta", "0.01", "--draws", "4"])
            .output()
            .unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 2)), "m{i}.json: {code:?} {out:?}");
        if code == Some(2) {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("m{i}.json")) && err.lines().count() == 1,
                "{err}"
            );
        }
        // Checkpoints: resealed, so the range checks see the edit.
        let edited = mutate(&c, &mut rng);
        let sealed = if edited.contains("\"checksum\": \"") && edited.ends_with('\n') {
            reseal(&edited)
        } else {
            edited
        };
        let p = write(d, &format!("c{i}.json"), &sealed);
        let out_model = d.join(format!("r{i}.json"));
        let out = std::process::Command::new(BIN)
            .args(train_args(&out_model))
            .args(["--resume", s(&p)])
            .output()
            .unwrap();
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 2)), "c{i}.json: {code:?} {out:?}");
        if code == Some(2) {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("c{i}.json")) || err.contains("training stopped"),
                "{err}"
            );
            assert!(!out_model.exists());
        }
    }
}
