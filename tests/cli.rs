//! End-to-end tests of the `noisereg` command line: every command, every
//! bad-input case (exit status 2, message with file:line:column, no output
//! file), kill-and-resume, and independence of the thread count.

use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The run-time network, from the harness's library target (its bit-identity
// tests against `Mlp1`/`Mlp2` run with the library's unit tests).
#[allow(unused_imports)]
use noisereg_harness::dyn_mlp;

mod common;
use common::cli::{BIN, noisereg, s, write, write_data};

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
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
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

/// Spawns `args`, waits until `ready()` holds (a checkpoint was written) and
/// `extra` more time has passed, then kills the process with SIGKILL; returns
/// whether it was still running. Waiting on the checkpoint, not on a clock,
/// keeps the test meaningful on a loaded machine.
fn start_and_kill(args: &[String], ready: impl Fn() -> bool, extra: Duration) -> bool {
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
            None if ready() => seen = Some(Instant::now()),
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
        start_and_kill(&slow, || ckpt.exists(), Duration::from_millis(30)),
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
        start_and_kill(
            &resumed,
            || step_of(&ckpt) > first,
            Duration::from_millis(30)
        ),
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

// ---------------------------------------------------------------------------
// Issue 9: writing files (outputs) and reading data (CSV), branch `io`.
// ---------------------------------------------------------------------------

/// Names of the temporary files in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect()
}

/// Runs `noisereg args`: exit status 2, nothing on stdout, one line on
/// stderr containing `expect`; returns that line.
fn fails_2(args: &[String], expect: &str) -> String {
    let a = noisereg()
        .args(args)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains(expect), "expected `{expect}` in: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    err
}

fn args_of(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[cfg(unix)]
#[test]
fn output_to_a_fifo_is_written_in_place_and_stays_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let fifo = d.join("model.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    noisereg()
        .args(quick_train(&data, &fifo))
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote"));
    // Checked before joining the reader, which would wait forever otherwise.
    assert!(fifo.symlink_metadata().unwrap().file_type().is_fifo());
    let model: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(model["layers"][0]["inputs"], 3);
    // No metrics file next to a FIFO, no temporaries.
    assert!(!d.join("model.metrics.json").exists());
    assert_eq!(temporaries(d), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn output_to_a_device_node_is_written_in_place_and_stays_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    // A private null device in the temp dir (needs root; skipped otherwise).
    let null = d.join("null");
    let made = std::process::Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mknod needs root");
        return;
    }
    noisereg()
        .args(quick_train(&data, &null))
        .assert()
        .success();
    assert!(
        null.symlink_metadata()
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(!d.join("null.metrics.json").exists());
    assert_eq!(temporaries(d), Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn output_through_a_symlink_writes_the_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    std::fs::create_dir(d.join("real")).unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink("real/m.json", &link).unwrap(); // dangling
    noisereg()
        .args(quick_train(&data, &link))
        .assert()
        .success();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let first = std::fs::read_to_string(d.join("real/m.json")).unwrap();
    assert!(first.contains("\"layers\""));
    // An existing target: replaced through the link, the link kept.
    let mut again = quick_train(&data, &link);
    again.extend(args_of(&["--seed", "5"]));
    noisereg().args(&again).assert().success();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_ne!(
        std::fs::read_to_string(d.join("real/m.json")).unwrap(),
        first
    );
    assert_eq!(temporaries(d), Vec::<String>::new());
    assert_eq!(temporaries(&d.join("real")), Vec::<String>::new());
    // A symlink loop is a user error.
    let looped = d.join("loop.json");
    std::os::unix::fs::symlink("loop.json", &looped).unwrap();
    fails_2(
        &quick_train(&data, &looped),
        "loop.json: too many levels of symbolic links",
    );
}

#[test]
fn an_output_that_is_an_input_or_another_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let original = std::fs::read(&data).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    let same = "is the same file as --data";
    fails_2(&quick_train(&data, &data), same);
    fails_2(&quick_train(&data, &d.join("sub/../d.csv")), same);
    std::fs::hard_link(&data, d.join("hard.csv")).unwrap();
    fails_2(&quick_train(&data, &d.join("hard.csv")), same);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("d.csv", d.join("soft.json")).unwrap();
        fails_2(&quick_train(&data, &d.join("soft.json")), same);
    }
    let out = d.join("m.json");
    let mut ck = quick_train(&data, &out);
    ck.extend(args_of(&[
        "--checkpoint",
        s(&data),
        "--checkpoint-every",
        "1",
    ]));
    fails_2(&ck, "--checkpoint");
    let mut ck = quick_train(&data, &out);
    ck.extend(args_of(&[
        "--checkpoint",
        s(&out),
        "--checkpoint-every",
        "1",
    ]));
    fails_2(&ck, "--checkpoint");
    // The metrics file next to --out is an output too.
    let metrics_named = write_data(d, "m.metrics.json", 30);
    fails_2(&quick_train(&metrics_named, &out), "the metrics file");
    // --out equal to --resume (checkpoint and resume may be the same file).
    let ckpt = d.join("ck.json");
    let mut first = quick_train(&data, &d.join("first.json"));
    first.extend(args_of(&[
        "--checkpoint",
        s(&ckpt),
        "--checkpoint-every",
        "2",
    ]));
    noisereg().args(&first).assert().success();
    let ck_bytes = std::fs::read(&ckpt).unwrap();
    let mut resume = quick_train(&data, &ckpt);
    resume.extend(args_of(&["--resume", s(&ckpt)]));
    fails_2(&resume, "is the same file as --resume");
    assert_eq!(std::fs::read(&ckpt).unwrap(), ck_bytes);
    assert_eq!(std::fs::read(&data).unwrap(), original);
    assert!(!out.exists());
    assert_eq!(temporaries(d), Vec::<String>::new());
}

#[test]
fn bad_output_paths_exit_2_before_any_work_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    fails_2(
        &quick_train(&data, &d.join("nodir/m.json")),
        "nodir does not exist",
    );
    fails_2(&quick_train(&data, &d.join("d.csv/m.json")), "d.csv/m.json");
    std::fs::create_dir(d.join("adir")).unwrap();
    fails_2(&quick_train(&data, &d.join("adir")), "is a folder");
    fails_2(&quick_train(&data, &d.join("adir/.")), "is a folder");
    // The metrics file's path is a folder: the model is not written either.
    std::fs::create_dir(d.join("m.metrics.json")).unwrap();
    fails_2(&quick_train(&data, &d.join("m.json")), "the metrics file");
    assert!(!d.join("m.json").exists());
    let mut ck = quick_train(&data, &d.join("m2.json"));
    ck.extend(args_of(&[
        "--checkpoint",
        s(&d.join("gone/ck.json")),
        "--checkpoint-every",
        "1",
    ]));
    fails_2(&ck, "gone does not exist");
    assert!(!d.join("m2.json").exists() && !d.join("m2.metrics.json").exists());
    // A read-only folder (root may write anyway: then there is nothing to test).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = d.join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(ro.join("probe"), "x").is_err() {
            fails_2(&quick_train(&data, &ro.join("m.json")), "Permission denied");
            assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert_eq!(temporaries(d), Vec::<String>::new());
}

#[test]
fn a_run_whose_final_write_fails_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 32);
    let out = d.join("m.json");
    let ckpt = d.join("ck.json");
    let mut args = train_args(&data, &out);
    args.extend(args_of(&["--epochs", "40", "--step-delay-us", "5000"]));
    args.extend(args_of(&[
        "--checkpoint",
        s(&ckpt),
        "--checkpoint-every",
        "1",
    ]));
    let child = std::process::Command::new(BIN)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once it trains (outputs checked), the metrics file's path becomes a folder.
    let t0 = Instant::now();
    while !ckpt.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::create_dir(d.join("m.metrics.json")).unwrap();
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8(done.stderr).unwrap();
    assert_eq!(done.status.code(), Some(2), "{err}");
    assert!(err.contains("m.metrics.json: is a folder"), "{err}");
    assert!(!out.exists(), "the model was written without its metrics");
    assert_eq!(temporaries(d), Vec::<String>::new());
}

#[test]
fn temporaries_left_by_a_killed_run_are_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 60);
    let (out, ckpt) = (d.join("m.json"), d.join("ck.json"));
    let mut run = train_args(&data, &out);
    run.extend(args_of(&[
        "--epochs",
        "50",
        "--checkpoint",
        s(&ckpt),
        "--checkpoint-every",
        "1",
    ]));
    let mut slow = run.clone();
    slow.extend(args_of(&["--step-delay-us", "2000"]));
    let mut child = std::process::Command::new(BIN)
        .args(&slow)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ckpt.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());
    let dead = child.id();
    // What a run killed while writing leaves, in this and the old naming.
    let stale = [
        format!(".ck.json.noisereg-tmp-{dead}"),
        format!(".m.json.noisereg-tmp-{dead}"),
        format!(".m.metrics.json.noisereg-tmp-{dead}"),
        format!(".ck.json.tmp-{dead}"),
    ];
    // Not ours to remove: another output's, and a live process's.
    let kept = [
        format!(".other.json.noisereg-tmp-{dead}"),
        format!(".ck.json.noisereg-tmp-{}", std::process::id()),
    ];
    for n in stale.iter().chain(&kept) {
        std::fs::write(d.join(n), "partial").unwrap();
    }
    let mut resumed = run.clone();
    resumed.extend(args_of(&["--resume", s(&ckpt)]));
    noisereg().args(&resumed).assert().success();
    let mut left = temporaries(d);
    left.sort();
    let mut want = kept.to_vec();
    want.sort();
    assert_eq!(left, want);
    assert!(out.exists());
}

#[test]
fn csv_error_locations_are_right_for_crlf_bom_quotes_and_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: [(&str, &str, &str); 9] = [
        ("lf.csv", "a,b,c,y\n1,2,3,4\n5,6,7,8\n9,x,1,2\n", ":4:2:"),
        (
            "crlf.csv",
            "a,b,c,y\r\n1,2,3,4\r\n5,6,7,8\r\n9,x,1,2\r\n",
            ":4:2:",
        ),
        (
            "crlf1.csv",
            "a,b,c,y\r\n1,2,3,4\r\n5,6,7,8\r\nx,9,1,2\r\n",
            ":4:1:",
        ),
        (
            "bom.csv",
            "\u{feff}a,b,c,y\r\n1,2,3,4\r\n5,6,7,8\r\n9,x,1,2\r\n",
            ":4:2:",
        ),
        ("cr.csv", "a,b,c,y\r1,2,3,4\r5,6,7,8\r9,x,1,2\r", ":4:2:"),
        ("blank.csv", "a,b,c,y\n\n1,2,3,4\r\n\r\n9,x,1,2\n", ":5:2:"),
        (
            "quoted.csv",
            "a,b,c,y\n1,2,3,4\n\"5\",\"6\",\"7\",\"8\"\n\"9\",\"x\",1,2\n",
            ":4:2:",
        ),
        (
            "multiline.csv",
            "a,b,c,y\r\n1,2,3,4\r\n\" 5\r\n\r\n\",\"6\",7,8\r\n9,x,1,2\r\n",
            ":6:2:",
        ),
        (
            "late.csv",
            "a,b,c,y\n1,2,3,4\n\"5\n\",6,\"7\n\",x\n",
            ":5:4:",
        ),
    ];
    for (file, text, at) in cases {
        let f = write(d, file, text);
        let msg = format!("{file}{at} column");
        train_fails(d, &f, &[], &msg);
    }
    let f = write(
        d,
        "ragged.csv",
        "a,b,c,y\r\n1,2,3,4\r\n5,6,7,8\r\n9,1,2\r\n",
    );
    train_fails(d, &f, &[], "ragged.csv:4: row has 3 fields");
    // Header errors too: the header below two blank lines is on line 3.
    let f = write(d, "h.csv", "\r\n\r\na,b,,y\r\n1,2,3,4\r\n");
    train_fails(d, &f, &[], "h.csv:3:3: column 3 has no name");
}

#[test]
fn duplicated_and_empty_column_names_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = write(d, "dup.csv", "a,b,y,y\n1,2,3,3\n4,5,6,6\n");
    train_fails(
        d,
        &f,
        &[],
        "dup.csv:1:4: column name `y` is used twice (columns 3 and 4)",
    );
    let f = write(d, "dup2.csv", "a, b ,b,y\n1,2,3,3\n4,5,6,6\n");
    train_fails(d, &f, &[], "dup2.csv:1:3: column name `b` is used twice");
    let f = write(d, "empty.csv", "a,,c,y\n1,2,3,3\n4,5,6,6\n");
    train_fails(d, &f, &[], "empty.csv:1:2: column 2 has no name");
    let f = write(d, "trail.csv", "a,b,y,\n1,2,3,\n4,5,6,\n");
    train_fails(d, &f, &[], "trail.csv:1:4: column 4 has no name");
}

/// `rows` rows with features x1, x2 and the class labels `label(i)` in `y`.
fn class_data(dir: &Path, name: &str, rows: usize, label: impl Fn(usize) -> usize) -> PathBuf {
    let mut s = String::from("x1,x2,y\n");
    for i in 0..rows {
        s.push_str(&format!("{},{},{}\n", i % 7, (i * 3) % 11, label(i)));
    }
    write(dir, name, &s)
}

#[test]
fn class_labels_must_be_0_to_k_minus_1_with_every_class_in_training() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ce = ["--loss", "ce", "--hidden", "2"];
    // A typo: one label of 1000000 (row 4: line 5, column 3).
    let f = class_data(
        d,
        "typo.csv",
        20,
        |i| if i == 3 { 1_000_000 } else { i % 2 },
    );
    train_fails(
        d,
        &f,
        &ce,
        "typo.csv:5:3: column `y`: label `1000000` would make 1000001 classes; more than 1000 need --max-classes",
    );
    // Labels {1, 2}: class 0 is missing.
    let f = class_data(d, "one_two.csv", 20, |i| 1 + i % 2);
    train_fails(
        d,
        &f,
        &ce,
        "one_two.csv:3:3: column `y`: label `2` implies classes 0..2, but no row has class 0",
    );
    train_fails(
        d,
        &f,
        &["--loss", "ce", "--max-classes", "1"],
        "--max-classes",
    );
    // Class 2 has one row (line 3): some seeds put it in the test split.
    let f = class_data(d, "rare.csv", 20, |i| if i == 1 { 2 } else { i % 2 });
    let mut refused = 0;
    for seed in 0..10 {
        let out = d.join(format!("rare{seed}.json"));
        let mut args = train_args(&f, &out);
        args.extend(args_of(&ce));
        args.extend(args_of(&["--epochs", "1", "--test-fraction", "0.5"]));
        args.extend(["--seed".to_string(), seed.to_string()]);
        let run = noisereg().args(&args).output().unwrap();
        if !run.status.success() {
            let err = String::from_utf8(run.stderr).unwrap();
            assert_eq!(run.status.code(), Some(2), "{err}");
            assert!(
                err.contains("rare.csv:3:3: column `y`: class 2 is only in the test split"),
                "{err}"
            );
            assert!(!out.exists());
            refused += 1;
        }
    }
    assert!((1..10).contains(&refused), "{refused} of 10 seeds refused");
    // More than 1000 classes need the flag: every label 0..=1000 twice.
    let f = class_data(d, "many.csv", 2002, |i| i % 1001);
    let mut many = ce.to_vec();
    many.extend(["--test-fraction", "0"]);
    train_fails(
        d,
        &f,
        &many,
        "many.csv:1002:3: column `y`: label `1000` would make 1001 classes",
    );
    let out = d.join("many.json");
    let mut args = train_args(&f, &out);
    args.extend(args_of(&many));
    args.extend(args_of(&["--max-classes", "1001", "--epochs", "1"]));
    noisereg().args(&args).assert().success();
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(model["classes"], 1001);
    noisereg()
        .args(["train", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--max-classes"));
}

#[test]
fn hostile_data_files_fail_with_a_location_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raw = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let f = raw("latin1.csv", b"a,b,c,y\n1,2,3,4\n5,\xe96,7,8\n");
    train_fails(d, &f, &[], "latin1.csv:3:2: column `b`: not UTF-8 text");
    let f = raw("latin1h.csv", b"a,\xe9,c,y\n1,2,3,4\n5,6,7,8\n");
    train_fails(d, &f, &[], "latin1h.csv:1:2: column name is not UTF-8");
    let f = raw("utf16.csv", b"\xff\xfea\x00,\x00y\x00\n\x00");
    train_fails(d, &f, &[], "utf16.csv:1:1: the file is UTF-16");
    let f = write(d, "header_only.csv", "a,b,c,y\r\n");
    train_fails(
        d,
        &f,
        &[],
        "header_only.csv: needs at least 2 data rows, found 0",
    );
    let f = write(d, "blank_only.csv", "\n\r\n\n");
    train_fails(d, &f, &[], "blank_only.csv:1: no header row");
    for (cell, what) in [
        ("nan", "is not a finite number"),
        ("+inf", "is not a finite number"),
        ("-Infinity", "is not a finite number"),
        ("1e39", "is not a finite number"),
        ("0x10", "is not a number"),
        ("1,5", "row has 5 fields"),
    ] {
        let f = write(d, "v.csv", &format!("a,b,c,y\n1,2,3,4\n5,6,{cell},8\n"));
        let at = if what.starts_with("row") {
            "v.csv:3:"
        } else {
            "v.csv:3:3:"
        };
        train_fails(d, &f, &[], &format!("{at} "));
        train_fails(d, &f, &[], what);
    }
    // Data that is a folder, an empty --target, a target that is missing.
    train_fails(d, d, &[], "is a folder, not a file");
    let data = write_data(d, "d.csv", 20);
    let out = d.join("never.json");
    let mut args = train_args(&data, &out);
    args[4] = String::new(); // --target ""
    fails_2(&args, "--target: the column name is empty");
    args[4] = "Y".into();
    fails_2(&args, "d.csv:1: no column named `Y` (columns: a, b, c, y)");
    let semi = write(d, "semi.csv", "a;b;y\n1;2;3\n4;5;6\n");
    train_fails(
        d,
        &semi,
        &[],
        "semi.csv:1: no column named `y` (columns: a;b;y); the file seems to use `;` between fields",
    );
    let wide = (0..30)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let f = write(d, "long_header.csv", &format!("{wide}\n"));
    train_fails(
        d,
        &f,
        &[],
        "(columns: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, … 10 more)",
    );
    args[4] = " y ".into(); // blanks around a name are not part of it
    args.extend(args_of(&["--epochs", "1", "--hidden", "2"]));
    noisereg().args(&args).assert().success();
    std::fs::remove_file(&out).unwrap();
    std::fs::remove_file(d.join("never.metrics.json")).unwrap();
    // Many columns: a bad cell in the last of 50,001 is found quickly
    // (locations are built only on error) and located exactly.
    let n = 50_000;
    let mut s: String = (0..n).map(|i| format!("c{i},")).collect();
    s.push_str("y\r\n");
    for row in 0..2 {
        s.push_str(&"1,".repeat(n));
        s.push_str(if row == 0 { "2\r\n" } else { "x\r\n" });
    }
    let f = write(d, "wide.csv", &s);
    let t0 = Instant::now();
    train_fails(
        d,
        &f,
        &[],
        "wide.csv:3:50001: column `y`: `x` is not a number",
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    let mut s: String = (0..n).map(|i| format!("c{i},")).collect();
    s.push_str("c7\n1\n");
    let f = write(d, "widedup.csv", &s);
    train_fails(
        d,
        &f,
        &[],
        "widedup.csv:1:50001: column name `c7` is used twice (columns 8 and 50001)",
    );
    assert!(!out.exists());
}

#[test]
fn robustness_plot_in_a_missing_folder_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let model = d.join("m.json");
    noisereg()
        .args(quick_train(&data, &model))
        .assert()
        .success();
    let args = args_of(&[
        "robustness",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--target",
        "y",
        "--eta",
        "0.01",
        "--draws",
        "10",
        "--plot",
        s(&d.join("nodir/p.svg")),
    ]);
    let a = noisereg().args(&args).assert().code(2);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains("nodir does not exist"), "{err}");
    assert_eq!(temporaries(d), Vec::<String>::new());
}

#[test]
fn values_that_overflow_when_standardised_are_located_not_blamed_on_lr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Finite f32 cells, but mean ≈ 2e38 and a cell of -3e38: (v − mean) overflows.
    let big = |i: usize| if i.is_multiple_of(6) { "-3e38" } else { "3e38" };
    let mut s = String::from("b,a,y\n");
    for i in 0..30 {
        s.push_str(&format!("{i},{},{}\n", big(i), i % 3));
    }
    let f = write(d, "feat.csv", &s);
    train_fails(
        d,
        &f,
        &[],
        "feat.csv:2:2: column `a`: `-3e38` is too far from the column's mean",
    );
    let mut s = String::from("b,y,a\n");
    for i in 0..30 {
        s.push_str(&format!("{i},{},{}\n", big(i), i % 3));
    }
    let f = write(d, "target.csv", &s);
    train_fails(d, &f, &[], "target.csv:2:2: column `y`: `-3e38` is too far");
}

#[test]
fn train_with_a_closed_stdout_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let out = d.join("m.json");
    let mut child = std::process::Command::new(BIN)
        .args(quick_train(&data, &out))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `noisereg train … | head -c 0`
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8(done.stderr).unwrap();
    assert!(done.status.success(), "{err}");
    assert!(out.exists() && d.join("m.metrics.json").exists());
}

/// `robustness --plot` pointing at its data or a model is refused before any
/// work, and the file is left as it was.
#[test]
fn robustness_plot_over_an_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = write_data(d, "d.csv", 30);
    let model = d.join("m.json");
    noisereg()
        .args(quick_train(&data, &model))
        .assert()
        .success();
    for target in [&data, &model] {
        let before = std::fs::read(target).unwrap();
        let args = args_of(&[
            "robustness",
            "--model",
            s(&model),
            "--data",
            s(&data),
            "--target",
            "y",
            "--eta",
            "0.01",
            "--draws",
            "10",
            "--plot",
            s(target),
        ]);
        let a = noisereg().args(&args).assert().code(2);
        let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
        assert!(err.contains("--plot"), "{err}");
        assert_eq!(std::fs::read(target).unwrap(), before);
    }
}

/// `demo --out` naming an existing file (or a path through one) is bad
/// input: exit 2, the file untouched.
#[test]
fn demo_out_over_a_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"keep").unwrap();
    for out in [file.clone(), file.join("sub")] {
        let a = noisereg().args(["demo", "--out", s(&out)]).assert().code(2);
        let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
        assert!(err.contains("--out"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    }
}
