//! Property tests of the loaders, end to end through the `noisereg` binary:
//! arbitrary bytes and arbitrary mutations (byte flips, truncations, deleted
//! or repeated lines, numbers replaced by huge, negative, NaN or overflowing
//! values) of a valid CSV, a valid model file and a valid checkpoint. For
//! every case the process exits 0 or 2 (never a panic's 101 or an abort),
//! an error is one line `error: …` naming the file, it finishes within a few
//! seconds, and it runs under a 1 GB address-space cap (`ulimit -v`), so an
//! allocation the input does not justify fails the test.
//!
//! Only the binary's interface is used, so the test does not depend on the
//! harness's internal APIs.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_noisereg");

/// Longest a case may take (a debug build is several times slower).
const TIME_LIMIT: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(10)
} else {
    Duration::from_secs(4)
};

/// Address-space cap in KiB (`ulimit -v`).
const MEMORY_CAP_KIB: u64 = 1_000_000;

/// A runner with a fixed seed: the same cases on every run.
fn runner(seed: u8, cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

/// Runs the binary with `args` under the memory cap; returns the exit code
/// (None when killed by a signal), stderr and the wall time. A run past
/// twice the time limit is killed.
fn run_capped(args: &[String]) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_CAP_KIB}; exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > 2 * TIME_LIMIT {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    (status.code(), reader.join().unwrap(), elapsed)
}

/// The contract for one run on a bad (or fine) `file`; `names_file`: an
/// error must name it.
fn check_run(args: &[String], file: &str, names_file: bool) -> Result<(), TestCaseError> {
    let (code, stderr, elapsed) = run_capped(args);
    prop_assert!(
        matches!(code, Some(0) | Some(2)),
        "exit status {:?} (None = signal), stderr: {}",
        code,
        stderr
    );
    prop_assert!(
        elapsed <= TIME_LIMIT,
        "took {:?}, stderr: {}",
        elapsed,
        stderr
    );
    if code == Some(2) {
        let lines: Vec<&str> = stderr.lines().collect();
        prop_assert!(
            lines.len() == 1
                && lines[0].starts_with("error: ")
                && (!names_file || lines[0].contains(file)),
            "stderr is not one `error:` line naming {}: {:?}",
            file,
            stderr
        );
    }
    Ok(())
}

/// How a valid file is damaged. Positions are fractions of its length.
#[derive(Debug, Clone)]
enum Mutation {
    /// The whole file replaced by arbitrary bytes.
    Bytes(Vec<u8>),
    /// Bytes at positions set to values.
    Flip(Vec<(f64, u8)>),
    /// Cut at a position.
    Truncate(f64),
    /// A line removed or repeated.
    Line { at: f64, repeat: bool },
    /// The n-th number (as a fraction of all numbers) replaced by a value.
    Number(f64, &'static str),
    /// The same, among numbers that are a JSON field's whole value
    /// (`"key": 12`): counts, positions, settings.
    Field(f64, &'static str),
}

const NUMBERS: &[&str] = &[
    "1e11",
    "4611686018427387904",
    "18446744073709551615",
    "99999999999999999999999",
    "-1",
    "-4611686018427387904",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1e39",
    "0",
    "-0",
    "1e-45",
    "3.5e38",
    "1000000",
    "0.5",
    "",
];

/// Damage to the syntax only: bytes, flips, truncations, lines.
fn syntax_mutation() -> impl Strategy<Value = Mutation> {
    let pos = 0.0f64..1.0;
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..400).prop_map(Mutation::Bytes),
        2 => prop::collection::vec((pos.clone(), any::<u8>()), 1..4).prop_map(Mutation::Flip),
        2 => pos.clone().prop_map(Mutation::Truncate),
        1 => (pos, any::<bool>()).prop_map(|(at, repeat)| Mutation::Line { at, repeat }),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let pos = 0.0f64..1.0;
    prop_oneof![
        3 => (pos.clone(), prop::sample::select(NUMBERS)).prop_map(|(at, v)| Mutation::Field(at, v)),
        1 => prop::collection::vec(any::<u8>(), 0..400).prop_map(Mutation::Bytes),
        2 => prop::collection::vec((pos.clone(), any::<u8>()), 1..4).prop_map(Mutation::Flip),
        2 => pos.clone().prop_map(Mutation::Truncate),
        1 => (pos.clone(), any::<bool>()).prop_map(|(at, repeat)| Mutation::Line { at, repeat }),
        4 => (pos, prop::sample::select(NUMBERS)).prop_map(|(at, v)| Mutation::Number(at, v)),
    ]
}

fn index(fraction: f64, len: usize) -> usize {
    ((fraction * len as f64) as usize).min(len.saturating_sub(1))
}

fn apply(base: &[u8], m: &Mutation) -> Vec<u8> {
    match m {
        Mutation::Bytes(b) => b.clone(),
        Mutation::Flip(flips) => {
            let mut v = base.to_vec();
            for &(at, byte) in flips {
                let i = index(at, v.len());
                v[i] = byte;
            }
            v
        }
        Mutation::Truncate(at) => base[..index(*at, base.len())].to_vec(),
        Mutation::Line { at, repeat } => {
            let mut lines: Vec<&[u8]> = base.split_inclusive(|&b| b == b'\n').collect();
            let i = index(*at, lines.len());
            if *repeat {
                lines.insert(i, lines[i]);
            } else {
                lines.remove(i);
            }
            lines.concat()
        }
        Mutation::Number(at, value) | Mutation::Field(at, value) => {
            let field = matches!(m, Mutation::Field(..));
            // Runs of digits with their sign, point and exponent.
            let mut spans = Vec::new();
            let mut i = 0;
            while i < base.len() {
                if base[i].is_ascii_digit() {
                    let mut s = i;
                    if s > 0 && base[s - 1] == b'-' {
                        s -= 1;
                    }
                    let mut e = i;
                    while e < base.len()
                        && (base[e].is_ascii_digit() || b".eE+-".contains(&base[e]))
                    {
                        e += 1;
                    }
                    let before = String::from_utf8_lossy(&base[..s]);
                    if !field || before.trim_end().ends_with("\":") {
                        spans.push((s, e));
                    }
                    i = e;
                } else {
                    i += 1;
                }
            }
            if spans.is_empty() {
                return base.to_vec();
            }
            let (s, e) = spans[index(*at, spans.len())];
            [&base[..s], value.as_bytes(), &base[e..]].concat()
        }
    }
}

/// A smooth regression set: columns a, b, c, y.
fn csv(rows: usize) -> String {
    let mut s = String::from("a,b,c,y\n");
    for i in 0..rows {
        let t = i as f64 / rows as f64;
        let (a, b, c) = (t * 4.0 - 2.0, (t * 7.0).sin(), (i % 5) as f64);
        s.push_str(&format!("{a:.4},{b:.4},{c},{:.4}\n", a * b + 0.3 * c));
    }
    s
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// A folder with a valid data set, model file and checkpoint, and the
/// arguments of the run that made them.
struct Fixture {
    dir: tempfile::TempDir,
    data: PathBuf,
    model: PathBuf,
    checkpoint: PathBuf,
}

fn train_args(data: &Path, out: &Path) -> Vec<String> {
    [
        "train",
        "--data",
        &s(data),
        "--target",
        "y",
        "--out",
        &s(out),
        "--hidden",
        "4",
        "--epochs",
        "2",
        "--batch",
        "8",
        "--weight-noise",
        "0.01",
        "--seed",
        "3",
    ]
    .map(String::from)
    .to_vec()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.csv");
    std::fs::write(&data, csv(30)).unwrap();
    let model = dir.path().join("model.json");
    let checkpoint = dir.path().join("ck.json");
    let mut args = train_args(&data, &model);
    args.extend(["--checkpoint", &s(&checkpoint), "--checkpoint-every", "3"].map(String::from));
    let (code, stderr, _) = run_capped(&args);
    assert_eq!(code, Some(0), "fixture run failed: {stderr}");
    assert!(model.exists() && checkpoint.exists());
    Fixture {
        dir,
        data,
        model,
        checkpoint,
    }
}

/// The valid inputs pass the contract as they are (the properties below
/// would otherwise test nothing).
#[test]
fn loaders_accept_the_valid_files() {
    let f = fixture();
    let out = f.dir.path().join("again.json");
    let mut resume = train_args(&f.data, &out);
    resume.extend(["--resume", &s(&f.checkpoint)].map(String::from));
    let verify = [
        "verify",
        "--model",
        &s(&f.model),
        "--data",
        &s(&f.data),
        "--target",
        "y",
        "--eta",
        "1e-3",
    ]
    .map(String::from)
    .to_vec();
    for args in [resume, verify] {
        let (code, stderr, _) = run_capped(&args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    assert!(out.exists());
}

#[test]
fn damaged_csv_never_crashes_train_or_verify() {
    let f = fixture();
    let base = std::fs::read(&f.data).unwrap();
    let bad = f.dir.path().join("bad-data.csv");
    let out = f.dir.path().join("out.json");
    runner(11, 96)
        .run(&(mutation(), any::<bool>()), |(m, train)| {
            std::fs::write(&bad, apply(&base, &m)).unwrap();
            let _ = std::fs::remove_file(&out);
            let args = if train {
                train_args(&bad, &out)
            } else {
                [
                    "verify",
                    "--model",
                    &s(&f.model),
                    "--data",
                    &s(&bad),
                    "--target",
                    "y",
                    "--eta",
                    "1e-3",
                ]
                .map(String::from)
                .to_vec()
            };
            check_run(&args, "bad-data.csv", true)
        })
        .unwrap();
}

/// Verifies damaged copies of the fixture's model file.
fn damaged_models(seed: u8, damage: impl Strategy<Value = Mutation>) {
    let f = fixture();
    let base = std::fs::read(&f.model).unwrap();
    let bad = f.dir.path().join("bad-model.json");
    runner(seed, 96)
        .run(&damage, |m| {
            std::fs::write(&bad, apply(&base, &m)).unwrap();
            let args = [
                "verify",
                "--model",
                &s(&bad),
                "--data",
                &s(&f.data),
                "--target",
                "y",
                "--eta",
                "1e-3",
            ]
            .map(String::from)
            .to_vec();
            check_run(&args, "bad-model.json", true)
        })
        .unwrap();
}

#[test]
fn damaged_model_file_syntax_never_crashes_verify() {
    damaged_models(12, syntax_mutation());
}

#[test]
fn damaged_model_file_never_crashes_verify() {
    damaged_models(15, mutation());
}

/// Resumes from damaged copies of the fixture's checkpoint.
fn damaged_checkpoints(seed: u8, names_file: bool) {
    let f = fixture();
    let base = std::fs::read(&f.checkpoint).unwrap();
    let bad = f.dir.path().join("bad-ck.json");
    let out = f.dir.path().join("resumed.json");
    runner(seed, 96)
        .run(&mutation(), |m| {
            std::fs::write(&bad, apply(&base, &m)).unwrap();
            let _ = std::fs::remove_file(&out);
            let mut args = train_args(&f.data, &out);
            args.extend(["--resume", &s(&bad)].map(String::from));
            check_run(&args, "bad-ck.json", names_file)
        })
        .unwrap();
}

#[test]
fn damaged_checkpoint_never_crashes_resume() {
    damaged_checkpoints(13, false);
}

#[test]
fn damaged_checkpoint_errors_name_the_file() {
    damaged_checkpoints(14, true);
}

#[test]
fn model_file_with_huge_layer_counts_is_an_error() {
    let f = fixture();
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f.model).unwrap()).unwrap();
    let bad = f.dir.path().join("bad-model.json");
    let last = model["layers"].as_array().unwrap().len() - 1;
    for (layer, field) in [(0, "inputs"), (last, "outputs")] {
        for count in [100_000_000_000u64, 1 << 62] {
            let mut m = model.clone();
            m["layers"][layer][field] = count.into();
            std::fs::write(&bad, m.to_string()).unwrap();
            let args = [
                "verify",
                "--model",
                &s(&bad),
                "--data",
                &s(&f.data),
                "--target",
                "y",
                "--eta",
                "1e-3",
            ]
            .map(String::from)
            .to_vec();
            let (code, stderr, _) = run_capped(&args);
            assert_eq!(code, Some(2), "layer {layer} {field} = {count}: {stderr}");
            assert!(
                stderr.starts_with("error: ") && stderr.contains("bad-model.json"),
                "{stderr}"
            );
        }
    }
}
