//! End-to-end tests of the `noisereg` command line: every command, every
//! bad-input case (exit status 2, message with file:line:column, no output
//! file), kill-and-resume, and independence of the thread count.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The run-time network, from the harness's library target (its bit-identity
// tests against `Mlp1`/`Mlp2` run with the library's unit tests).
#[allow(unused_imports)]
use noisereg_harness::dyn_mlp;

const BIN: &str = env!("CARGO_BIN_EXE_noisereg");

fn noisereg() -> Command {
    Command::new(BIN)
}

/// A smooth synthetic regression set: `rows` rows, columns a, b, c, y.
fn write_data(dir: &Path, name: &str, rows: usize) -> PathBuf {
    let mut s = String::from("a,b,c,y\n");
    for i in 0..rows {
        let t = i as f64 / rows as f64;
        let (a, b, c) = (t * 4.0 - 2.0, (t * 7.0).sin(), (i % 5) as f64);
        s.push_str(&format!("{a},{b},{c},{}\n", a * b + 0.3 * c));
    }
    let p = dir.join(name);
    std::fs::write(&p, s).unwrap();
    p
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `train` with a small budget.
fn quick_train(data: &Path, out: &Path) -> Vec<String> {
    let mut a = train_args(data, out);
    a.extend(["--hidden", "6", "--epochs", "3", "--batch", "8"].map(String::from));
    a
}

fn train_args(data: &Path, out: &Path) -> Vec<String> {
    [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--target",
        "y",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn help_works_for_every_command() {
    for cmd in ["demo", "train", "verify", "robustness", "sample"] {
        noisereg()
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage"));
    }
}

#[test]
fn demo_writes_report_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    noisereg()
        .args(["demo", "--quick", "--out", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("seed's derivation").and(predicate::str::contains("penalty")),
        );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["methods"].as_array().unwrap().len(), 3);
    assert_eq!(report["seed_check"].as_array().unwrap().len(), 2);
    for svg in ["loss_curves.svg", "perturbation.svg", "eta_sweep.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("<text"), "{svg}");
    }
}

#[test]
fn train_verify_robustness_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "d.csv", 60);
    let (m1, m2) = (dir.path().join("m1.json"), dir.path().join("m2.json"));
    // Quiet when stderr is not a terminal: no progress bar.
    noisereg()
        .args(quick_train(&data, &m1))
        .assert()
        .success()
        .stderr(predicate::str::is_empty())
        .stdout(predicate::str::contains("test loss"));
    let mut args = quick_train(&data, &m2);
    args.extend(
        [
            "--weight-noise",
            "0.01",
            "--noise-on",
            "all",
            "--optimizer",
            "momentum",
            "--json",
        ]
        .map(String::from),
    );
    let out = noisereg()
        .args(&args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let summary: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(
        summary["final_epoch"]["test_loss"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m1.metrics.json")).unwrap())
            .unwrap();
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 3);
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m2).unwrap()).unwrap();
    assert_eq!(model["settings"]["weight_noise"], 0.01);
    assert_eq!(model["layers"][0]["inputs"], 3);

    let out = noisereg()
        .args([
            "verify",
            "--model",
            m1.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .args([
            "--target",
            "y",
            "--eta",
            "1e-4,1e-2",
            "--draws",
            "400",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        let (mc, se, exact) = (
            r["mc_excess"].as_f64().unwrap(),
            r["mc_std_error"].as_f64().unwrap(),
            r["exact_formula"].as_f64().unwrap(),
        );
        // The exact formula is within a few SE (plus O(η²)) of Monte Carlo.
        assert!((mc - exact).abs() < 5.0 * se + 0.05 * exact.abs(), "{r}");
    }
    noisereg()
        .args([
            "verify",
            "--model",
            m1.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .args(["--target", "y", "--eta", "1e-3", "--draws", "100"])
        .assert()
        .success()
        .stdout(predicate::str::contains("exact formula"));

    let plot = dir.path().join("r.svg");
    noisereg()
        .args([
            "robustness",
            "--model",
            m1.to_str().unwrap(),
            "--model",
            m2.to_str().unwrap(),
        ])
        .args([
            "--data",
            data.to_str().unwrap(),
            "--target",
            "y",
            "--eta",
            "1e-3,1e-2",
        ])
        .args(["--draws", "100", "--plot", plot.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("m2.json"));
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
}

#[test]
fn train_classification_and_every_noise_option() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("x1,x2,label\n");
    for i in 0..40 {
        let (a, b) = ((i as f32 * 0.37).sin(), (i as f32 * 0.11).cos());
        s.push_str(&format!(
            "{a},{b},{}\n",
            usize::from(a + b > 0.5) + usize::from(a > 0.8)
        ));
    }
    let data = write(dir.path(), "c.csv", &s);
    let out = dir.path().join("c.json");
    noisereg()
        .args([
            "train",
            "--data",
            data.to_str().unwrap(),
            "--target",
            "label",
            "--loss",
            "ce",
        ])
        .args([
            "--hidden",
            "5,4",
            "--activation",
            "softplus",
            "--label-smoothing",
            "0.1",
        ])
        .args([
            "--weight-noise",
            "0.01",
            "--local-reparam",
            "--penalty",
            "0.001",
            "--input-noise",
            "0.1",
        ])
        .args([
            "--epochs",
            "2",
            "--optimizer",
            "sgd",
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(model["classes"], 3);
    let data2 = write_data(dir.path(), "d.csv", 30);
    let out2 = dir.path().join("m.json");
    let mut args = quick_train(&data2, &out2);
    args.extend(
        [
            "--multiplicative",
            "--weight-noise",
            "0.01",
            "--label-noise",
            "0.1",
            "--activation",
            "relu",
        ]
        .map(String::from),
    );
    noisereg().args(&args).assert().success();
}

#[test]
fn sample_prints_normals_in_text_and_binary() {
    let out = noisereg()
        .args(["sample", "--n", "1000", "--seed", "3"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Vec<f32> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(v.len(), 1000);
    let mean = v.iter().sum::<f32>() / 1000.0;
    assert!(mean.abs() < 0.15, "{mean}");
    let simd = noisereg()
        .args([
            "sample", "--n", "5000", "--format", "f32le", "--mean", "-2", "--std", "0.5",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let scalar = noisereg()
        .args([
            "sample", "--n", "5000", "--format", "f32le", "--mean", "-2", "--std", "0.5",
            "--method", "scalar",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(simd.len(), 20_000);
    assert_eq!(simd, scalar);
    noisereg()
        .args(["sample", "--n", "10", "--std", "-1"])
        .assert()
        .code(2);
}

/// Runs `train` on `data` and checks: exit status 2, `expect` in stderr, one
/// line, and no output files.
fn train_fails(dir: &Path, data: &Path, extra: &[&str], expect: &str) {
    let out = dir.join("never.json");
    let mut args = train_args(data, &out);
    args.extend(["--epochs", "2"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    let a = noisereg()
        .args(&args)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains(expect), "expected `{expect}` in: {err}");
    assert!(!out.exists() && !dir.join("never.metrics.json").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn bad_csv_input_fails_with_file_line_column_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("nope.csv");
    train_fails(d, &missing, &[], "nope.csv: no such file");
    let f = write(d, "t.csv", "a,b,c,z\n1,2,3,4\n5,6,7,8\n");
    train_fails(d, &f, &[], "t.csv:1: no column named `y`");
    let f = write(d, "n.csv", "a,b,c,y\n1,2,3,4\n5,x6,7,8\n");
    train_fails(d, &f, &[], "n.csv:3:2: column `b`: `x6` is not a number");
    let f = write(d, "e.csv", "a,b,c,y\n1,2,3,4\n5,6,,8\n");
    train_fails(d, &f, &[], "e.csv:3:3: column `c`: empty cell");
    let f = write(d, "nan.csv", "a,b,c,y\n1,2,3,4\n5,6,7,NaN\n");
    train_fails(
        d,
        &f,
        &[],
        "nan.csv:3:4: column `y`: `NaN` is not a finite number",
    );
    let f = write(d, "inf.csv", "a,b,c,y\n1,2,3,4\n5,-inf,7,8\n");
    train_fails(
        d,
        &f,
        &[],
        "inf.csv:3:2: column `b`: `-inf` is not a finite number",
    );
    let f = write(d, "big.csv", "a,b,c,y\n1,2,3,4\n5,1e40,7,8\n");
    train_fails(d, &f, &[], "big.csv:3:2:");
    let f = write(d, "r.csv", "a,b,c,y\n1,2,3,4\n5,6,7\n");
    train_fails(d, &f, &[], "r.csv:3: row has 3 fields, the header has 4");
    let f = write(d, "one.csv", "a,b,c,y\n1,2,3,4\n");
    train_fails(d, &f, &[], "one.csv: needs at least 2 data rows, found 1");
    let f = write(d, "empty.csv", "");
    train_fails(d, &f, &[], "empty.csv");
    let f = write(d, "cls.csv", "a,b,c,y\n1,2,3,0\n5,6,7,1.5\n");
    train_fails(
        d,
        &f,
        &["--loss", "ce"],
        "cls.csv:3:4: column `y`: `1.5` is not a class label",
    );
}

#[test]
fn invalid_settings_fail_clap_style_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 20);
    train_fails(
        d,
        &data,
        &["--weight-noise", "-0.1"],
        "invalid value '-0.1' for '--weight-noise <ETA>'",
    );
    train_fails(d, &data, &["--penalty", "nan"], "--penalty");
    train_fails(
        d,
        &data,
        &["--activation", "swish"],
        "invalid value 'swish' for '--activation",
    );
    train_fails(
        d,
        &data,
        &["--loss", "ce", "--label-noise", "0.1"],
        "--label-smoothing",
    );
    train_fails(
        d,
        &data,
        &["--label-smoothing", "0.1"],
        "--label-smoothing needs --loss ce",
    );
    train_fails(d, &data, &["--multiplicative"], "--weight-noise");
    train_fails(
        d,
        &data,
        &[
            "--multiplicative",
            "--local-reparam",
            "--weight-noise",
            "0.1",
        ],
        "cannot be used with",
    );
    train_fails(d, &data, &["--hidden", "4,0"], "--hidden");
    train_fails(
        d,
        &data,
        &["--hidden", "2,2,2,2,2,2,2,2"],
        "at most 7 hidden layers",
    );
    train_fails(d, &data, &["--lr", "0"], "--lr");
    train_fails(d, &data, &["--test-fraction", "1"], "--test-fraction");
    train_fails(d, &data, &["--checkpoint", "c.json"], "--checkpoint-every");
    noisereg()
        .args([
            "verify", "--model", "m.json", "--data", "d.csv", "--target", "y", "--eta", "-1e-3",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value '-1e-3' for '--eta"));
    noisereg().args(["frobnicate"]).assert().code(2);
}

#[test]
fn verify_and_robustness_reject_bad_models_and_mismatched_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let model = d.join("m.json");
    noisereg()
        .args(quick_train(&data, &model))
        .assert()
        .success();
    let narrow = write(d, "narrow.csv", "a,b,y\n1,2,3\n4,5,6\n");
    let verify = |m: &Path, data: &Path, expect: &str| {
        noisereg()
            .args([
                "verify",
                "--model",
                m.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ])
            .args(["--target", "y", "--eta", "0.01", "--draws", "10"])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(expect));
    };
    verify(
        &model,
        &narrow,
        "narrow.csv:1: 2 feature columns besides `y`, but the model",
    );
    verify(&d.join("none.json"), &data, "none.json: no such file");
    let junk = write(d, "junk.json", "{\n  \"format\": 3\n}\n");
    verify(&junk, &data, "junk.json:2:");
    let bad = write(d, "bad.csv", "a,b,c,y\n1,2,3,4\n1,2\n");
    verify(&model, &bad, "bad.csv:3: row has 2 fields");
    let plot = d.join("p.svg");
    noisereg()
        .args([
            "robustness",
            "--model",
            model.to_str().unwrap(),
            "--data",
            narrow.to_str().unwrap(),
        ])
        .args([
            "--target",
            "y",
            "--eta",
            "0.01",
            "--plot",
            plot.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("narrow.csv:1:"));
    assert!(!plot.exists());
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "d.csv", 50);
    let model = dir.path().join("m.json");
    let mut args = quick_train(&data, &model);
    args.extend(["--weight-noise", "0.01"].map(String::from));
    noisereg().args(&args).assert().success();
    let run = |threads: &str| {
        let v = noisereg()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "verify",
                "--model",
                model.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ])
            .args([
                "--target",
                "y",
                "--eta",
                "1e-3,1e-2,0.1",
                "--draws",
                "600",
                "--json",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let r = noisereg()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "robustness",
                "--model",
                model.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ])
            .args([
                "--target",
                "y",
                "--eta",
                "1e-2,1e-1",
                "--draws",
                "300",
                "--json",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        (v, r)
    };
    assert_eq!(run("1"), run("2"));
    assert_eq!(run("1"), run("3"));
}

#[test]
fn train_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path(), "d.csv", 40);
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for out in [&a, &b] {
        let mut args = quick_train(&data, out);
        args.extend(
            [
                "--weight-noise",
                "0.02",
                "--input-noise",
                "0.1",
                "--label-noise",
                "0.1",
            ]
            .map(String::from),
        );
        noisereg().args(&args).assert().success();
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// Spawns `args`, waits until `ckpt` exists and `extra` more time has passed,
/// then kills the process with SIGKILL; returns whether it was still running.
fn start_and_kill(args: &[String], ckpt: &Path, extra: Duration) -> bool {
    let mut child = std::process::Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut seen: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            return false;
        }
        match seen {
            None if ckpt.exists() => seen = Some(Instant::now()),
            Some(t) if t.elapsed() >= extra => break,
            _ => {}
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    !status.success()
}

#[test]
fn killed_and_resumed_run_gives_the_same_model_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 120);
    let common = |out: &Path| {
        let mut a = train_args(&data, out);
        a.extend(
            [
                "--batch",
                "4",
                "--epochs",
                "12",
                "--hidden",
                "8,5",
                "--weight-noise",
                "0.01",
                "--input-noise",
                "0.05",
                "--label-noise",
                "0.05",
                "--penalty",
                "0.001",
                "--seed",
                "9",
            ]
            .map(String::from),
        );
        a
    };
    let reference = d.join("ref.json");
    noisereg().args(common(&reference)).assert().success();

    let out = d.join("out.json");
    let ckpt = d.join("ck.json");
    let mut run = common(&out);
    run.extend(
        [
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--checkpoint-every",
            "7",
        ]
        .map(String::from),
    );
    let mut slow = run.clone();
    slow.extend(["--step-delay-us", "2000"].map(String::from));
    assert!(
        start_and_kill(&slow, &ckpt, Duration::from_millis(30)),
        "first run was not killed"
    );
    assert!(!out.exists(), "a killed run left a model");
    let mut resumed = slow.clone();
    resumed.extend(["--resume", ckpt.to_str().unwrap()].map(String::from));
    let step_of = |p: &Path| -> u64 {
        let c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        c["step"].as_u64().unwrap()
    };
    let first = step_of(&ckpt);
    assert!(
        start_and_kill(&resumed, &ckpt, Duration::from_millis(90)),
        "second run was not killed"
    );
    assert!(step_of(&ckpt) > first);
    let mut finish = run.clone();
    finish.extend(["--resume", ckpt.to_str().unwrap()].map(String::from));
    noisereg().args(&finish).assert().success();
    assert_eq!(
        std::fs::read(&reference).unwrap(),
        std::fs::read(&out).unwrap()
    );
    assert_eq!(
        std::fs::read(d.join("ref.metrics.json")).unwrap(),
        std::fs::read(d.join("out.metrics.json")).unwrap()
    );
    // A checkpoint of another run is refused.
    let mut other = common(&d.join("o.json"));
    let n = other.len();
    other[n - 1] = "10".into(); // --seed 10
    other.extend(["--resume", ckpt.to_str().unwrap()].map(String::from));
    noisereg()
        .args(&other)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("different run"));
    assert!(!d.join("o.json").exists());
}
