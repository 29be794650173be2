//! The host side of the firmware (`firmware/`, issue 6).
//!
//! - Runs the firmware's workload on the host build with the device's seed and
//!   prints the same `result:` lines the device prints; `firmware/run.sh`
//!   compares them with the QEMU output of both boards.
//! - Regenerates the data constants the firmware keeps in flash from
//!   `data/diabetes.csv` and checks they equal the checked-in file
//!   (`NOISEREG_REGENERATE=1` writes the file instead).

use std::fmt::Write as _;
use std::path::PathBuf;

use noisereg::rand_core::SeedableRng;
use noisereg::{HalfSquaredError, Init, Network, NoiseKind, WeightNoiseConfig, perturbed_loss};
use noisereg::{Parameters, RecurrentNoise, Sgd};
use noisereg_firmware_workload::rnn::{
    CO2_TARGETS, CO2_WINDOWS, RNN_ETA, RNN_EVAL_PAIRS, RNN_SEED, RnnNet, RnnReport, RnnTrainer,
    STEPS_PER_WINDOW, WINDOWS, rnn_clean, rnn_perturbed, rnn_trainer, run_rnn,
};
use noisereg_firmware_workload::{
    ETA, EVAL_PAIRS, FEATURES, Fixed6, Fnv1a, Net, Report, SAMPLES, SEED, X, Y, evaluate, run,
};

/// Rows of the CSV taken, from the first.
const SUBSET_ROWS: usize = 128;

fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// The text of `firmware/workload/src/diabetes_subset.rs`, built from the CSV:
/// every column standardised with the mean and population standard deviation
/// of all rows (in f64), then rounded to nearest `f32` and written in Rust's
/// shortest round-trip notation, so parsing the literal gives back the same bits.
fn generate_diabetes_subset(csv: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header row").split(',').collect();
    assert_eq!(header.len(), FEATURES + 1, "10 features and a target");
    let rows: Vec<Vec<f64>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse::<f64>().expect("number"))
                .collect()
        })
        .collect();
    assert!(rows.iter().all(|r| r.len() == FEATURES + 1));
    assert!(rows.len() >= SUBSET_ROWS);
    let n = rows.len() as f64;
    let stats: Vec<(f64, f64)> = (0..=FEATURES)
        .map(|c| {
            let mean = rows.iter().map(|r| r[c]).sum::<f64>() / n;
            let var = rows.iter().map(|r| (r[c] - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        })
        .collect();
    let standard = |r: &[f64], c: usize| ((r[c] - stats[c].0) / stats[c].1) as f32;

    let mut s = String::new();
    writeln!(
        s,
        "//! Generated from `data/diabetes.csv` by `tests/firmware_host.rs`; do not edit."
    )
    .unwrap();
    writeln!(s, "//! Regenerate: `NOISEREG_REGENERATE=1 cargo test -p noisereg-harness --test firmware_host`.").unwrap();
    writeln!(s, "//!").unwrap();
    writeln!(
        s,
        "//! Rows 0..{SUBSET_ROWS} of {}; every column standardised with the mean and",
        rows.len()
    )
    .unwrap();
    writeln!(
        s,
        "//! population standard deviation of all rows (in f64), then rounded to f32."
    )
    .unwrap();
    writeln!(s).unwrap();
    writeln!(s, "/// Number of samples.").unwrap();
    writeln!(s, "pub const SAMPLES: usize = {SUBSET_ROWS};").unwrap();
    writeln!(
        s,
        "/// Features per sample: {}.",
        header[..FEATURES].join(", ")
    )
    .unwrap();
    writeln!(s, "pub const FEATURES: usize = {FEATURES};").unwrap();
    writeln!(s, "/// Standardised features, one row per sample.").unwrap();
    writeln!(s, "pub static X: [[f32; FEATURES]; SAMPLES] = [").unwrap();
    for r in &rows[..SUBSET_ROWS] {
        let cells: Vec<String> = (0..FEATURES)
            .map(|c| format!("{:?}", standard(r, c)))
            .collect();
        writeln!(s, "    [{}],", cells.join(", ")).unwrap();
    }
    writeln!(s, "];").unwrap();
    writeln!(s, "/// Standardised targets ({}).", header[FEATURES]).unwrap();
    writeln!(s, "pub static Y: [f32; SAMPLES] = [").unwrap();
    for chunk in rows[..SUBSET_ROWS].chunks(8) {
        let cells: Vec<String> = chunk
            .iter()
            .map(|r| format!("{:?}", standard(r, FEATURES)))
            .collect();
        writeln!(s, "    {},", cells.join(", ")).unwrap();
    }
    writeln!(s, "];").unwrap();
    s
}

#[test]
fn diabetes_subset_matches_generator() {
    let csv = std::fs::read_to_string(repo_path("data/diabetes.csv")).expect("read the CSV");
    let generated = generate_diabetes_subset(&csv);
    let path = repo_path("firmware/workload/src/diabetes_subset.rs");
    if std::env::var_os("NOISEREG_REGENERATE").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the constants");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).expect("read the checked-in constants");
    assert!(
        generated == checked_in,
        "{} is stale; regenerate with NOISEREG_REGENERATE=1",
        path.display()
    );
}

#[test]
fn diabetes_subset_is_standardised_and_round_trips() {
    assert_eq!((SAMPLES, FEATURES), (SUBSET_ROWS, 10));
    // Row 0 of the CSV: age 59 (mean 48.518, sd 13.094) standardises to ≈ 0.8008.
    assert!((X[0][0] - 0.800_500).abs() < 1e-3, "{}", X[0][0]);
    for v in X.iter().flatten().chain(Y.iter()) {
        assert!(v.is_finite() && v.abs() < 6.0);
        let printed = format!("{v:?}");
        assert_eq!(printed.parse::<f32>().unwrap().to_bits(), v.to_bits());
    }
}

#[test]
fn fnv1a_matches_published_vectors() {
    assert_eq!(Fnv1a::new().finish(), 0x811c_9dc5);
    let mut h = Fnv1a::new();
    h.write_u8(b'a');
    assert_eq!(h.finish(), 0xe40c_292c);
    let mut h = Fnv1a::new();
    for b in b"foobar" {
        h.write_u8(*b);
    }
    assert_eq!(h.finish(), 0xbf9c_f968);
}

#[test]
fn fnv1a_hashes_f32_as_little_endian_bits() {
    let mut a = Fnv1a::new();
    a.write_f32s(&[1.0, -0.0]);
    let mut b = Fnv1a::new();
    for byte in [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x80] {
        b.write_u8(byte);
    }
    assert_eq!(a.finish(), b.finish());
    let mut zero = Fnv1a::new();
    zero.write_f32s(&[1.0, 0.0]);
    assert_ne!(zero.finish(), a.finish(), "-0.0 and 0.0 must hash apart");
}

#[test]
fn fixed6_prints_six_rounded_decimals() {
    let cases = [
        (0.0, "0.000000"),
        (1.5, "1.500000"),
        (-0.25, "-0.250000"),
        (0.999_999_9, "1.000000"),
        (123.456_789, "123.456789"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-inf"),
        (2e9, "big"),
    ];
    for (x, want) in cases {
        assert_eq!(Fixed6(x).to_string(), want, "{x:?}");
    }
}

/// The firmware evaluates the loss under weight noise with its own lean
/// loop (one noise state, one noisy copy, in the trainer's memory); it must
/// give `perturbed_loss`'s numbers bit for bit (the same kernels run in both,
/// so this holds on every build).
#[test]
fn workload_evaluation_equals_perturbed_loss() {
    let targets = Y.as_chunks::<1>().0;
    let noise = WeightNoiseConfig::new(NoiseKind::Additive, ETA).unwrap();
    for seed in [1, 2, 3] {
        let mut net = Net::zeroed();
        net.init(
            Init::Glorot,
            &mut rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(seed),
        );
        let (clean, lean) = evaluate(&net).unwrap();
        let want = perturbed_loss(
            &net,
            &HalfSquaredError,
            &X,
            targets,
            &noise,
            EVAL_PAIRS,
            SEED + 2,
        )
        .unwrap();
        assert_eq!(clean.to_bits(), want.clean.to_bits(), "seed {seed}");
        assert_eq!(lean.mean.to_bits(), want.mean.to_bits(), "seed {seed}");
        assert_eq!(
            lean.std_error.to_bits(),
            want.std_error.to_bits(),
            "seed {seed}"
        );
        assert_eq!(lean.pairs, want.pairs);
        assert!(
            lean.mean > clean,
            "noise raises the loss of a random network"
        );
    }
}

#[test]
fn workload_is_deterministic() {
    assert_eq!(run(), run());
    assert!(run().is_ok());
}

#[test]
fn report_check_rejects_non_finite_and_no_progress() {
    let good = Report {
        steps: 1,
        loss_before: 1.0,
        loss_after: 0.5,
        loss_perturbed: 0.6,
        loss_perturbed_se: 0.01,
        checksum: 0,
    };
    assert_eq!(good.check(), Ok(()));
    assert!(
        Report {
            loss_perturbed: f64::NAN,
            ..good
        }
        .check()
        .is_err()
    );
    assert!(
        Report {
            loss_after: 1.0,
            ..good
        }
        .check()
        .is_err()
    );
}

/// The host's report; `firmware/run.sh` takes the `result:` lines of this
/// test's output (`-- --exact workload_report --nocapture`) as the reference.
#[test]
fn workload_report() {
    let report = run().expect("the workload runs");
    let mut lines = String::new();
    report.write_to(&mut lines).unwrap();
    print!("{lines}");
    assert_eq!(report.check(), Ok(()), "{lines}");
}

/// Months between the starts of consecutive CO₂ windows.
const CO2_STRIDE: usize = 8;
/// CO₂ windows kept in flash.
const CO2_WINDOW_COUNT: usize = 64;
/// Steps per CO₂ window.
const CO2_T: usize = 12;

/// The standardised monthly changes of `data/co2_monthly.csv`: `d_i =
/// c_{i+1} − c_i` in f64, standardised with the mean and population standard
/// deviation of all changes (f64), not yet rounded.
fn co2_changes(csv: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("month,co2_ppm"));
    let ppm: Vec<f64> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .nth(1)
                .expect("two columns")
                .trim()
                .parse()
                .expect("number")
        })
        .collect();
    let d: Vec<f64> = ppm.windows(2).map(|w| w[1] - w[0]).collect();
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let sd = (d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    d.iter().map(|v| (v - mean) / sd).collect()
}

/// The text of `firmware/workload/src/co2_windows.rs`: window `k` holds the
/// standardised changes `8k .. 8k + 12` and its target is change `8k + 12`,
/// each rounded to nearest `f32` and written in shortest round-trip notation.
fn generate_co2_windows(csv: &str) -> String {
    let d = co2_changes(csv);
    assert!((CO2_WINDOW_COUNT - 1) * CO2_STRIDE + CO2_T < d.len());
    let mut s = String::new();
    let mut line = |t: &str| {
        s.push_str(t);
        s.push('\n');
    };
    line("//! Generated from `data/co2_monthly.csv` by `tests/firmware_host.rs`; do not edit.");
    line(
        "//! Regenerate: `NOISEREG_REGENERATE=1 cargo test -p noisereg-harness --test firmware_host`.",
    );
    line("//!");
    line(&format!(
        "//! The {} monthly changes of CO₂ (ppm), standardised with their mean and population",
        d.len()
    ));
    line(&format!(
        "//! standard deviation (f64), rounded to f32; window k holds changes {CO2_STRIDE}k .. {CO2_STRIDE}k + {CO2_T}, its target change {CO2_STRIDE}k + {CO2_T}."
    ));
    line("");
    line("use noisereg::Sequence;");
    line("");
    line("/// Number of windows.");
    line(&format!("pub const WINDOWS: usize = {CO2_WINDOW_COUNT};"));
    line("/// Steps per window.");
    line(&format!("pub const STEPS_PER_WINDOW: usize = {CO2_T};"));
    line("/// The windows: standardised monthly changes, one value per step.");
    line("pub static CO2_WINDOWS: [Sequence<STEPS_PER_WINDOW, 1>; WINDOWS] = [");
    for k in 0..CO2_WINDOW_COUNT {
        let cells: Vec<String> = d[k * CO2_STRIDE..k * CO2_STRIDE + CO2_T]
            .iter()
            .map(|v| format!("[{:?}]", *v as f32))
            .collect();
        line(&format!("    Sequence([{}]),", cells.join(", ")));
    }
    line("];");
    line("/// The targets: the standardised change of the month after each window.");
    line("pub static CO2_TARGETS: [[f32; 1]; WINDOWS] = [");
    for chunk in (0..CO2_WINDOW_COUNT).collect::<Vec<_>>().chunks(8) {
        let cells: Vec<String> = chunk
            .iter()
            .map(|k| format!("[{:?}]", d[k * CO2_STRIDE + CO2_T] as f32))
            .collect();
        line(&format!("    {},", cells.join(", ")));
    }
    line("];");
    s
}

#[test]
fn co2_windows_match_generator() {
    let csv = std::fs::read_to_string(repo_path("data/co2_monthly.csv")).expect("read the CSV");
    let generated = generate_co2_windows(&csv);
    let path = repo_path("firmware/workload/src/co2_windows.rs");
    if std::env::var_os("NOISEREG_REGENERATE").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the constants");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).expect("read the checked-in constants");
    assert!(
        generated == checked_in,
        "{} is stale; regenerate with NOISEREG_REGENERATE=1",
        path.display()
    );
}

/// The windows in flash are the series' changes, standardised and shifted
/// by the stride; the targets continue them.
#[test]
fn co2_windows_are_standardised_changes() {
    let csv = std::fs::read_to_string(repo_path("data/co2_monthly.csv")).expect("read the CSV");
    let d = co2_changes(&csv);
    assert_eq!((WINDOWS, STEPS_PER_WINDOW), (CO2_WINDOW_COUNT, CO2_T));
    // First change: 317.41 − 317.2 = 0.21 ppm, above the mean of about 0.11.
    let raw0 = 317.41 - 317.2;
    let mean: f64 = {
        let first: f64 = 317.2;
        let last: f64 = 371.02;
        (last - first) / d.len() as f64
    };
    assert!((d[0] > 0.0) == (raw0 > mean), "{}", d[0]);
    for (k, (w, t)) in CO2_WINDOWS.iter().zip(&CO2_TARGETS).enumerate() {
        for (i, step) in w.0.iter().enumerate() {
            assert_eq!(step[0], d[k * CO2_STRIDE + i] as f32, "window {k} step {i}");
        }
        assert_eq!(t[0], d[k * CO2_STRIDE + CO2_T] as f32, "target {k}");
        // Window k + 1 starts 8 months later: its first 4 steps are k's last 4.
        if let Some(next) = CO2_WINDOWS.get(k + 1) {
            assert_eq!(next.0[..CO2_T - CO2_STRIDE], w.0[CO2_STRIDE..]);
        }
    }
    let all: Vec<f64> = d.iter().map(|v| f64::from(*v as f32)).collect();
    let m = all.iter().sum::<f64>() / all.len() as f64;
    assert!(m.abs() < 1e-6 && all.iter().all(|v| v.abs() < 6.0), "{m}");
}

/// The recurrent workload trains: the clean loss falls, the weight noise
/// raises it, and the run is deterministic.
#[test]
fn rnn_workload_trains_and_is_deterministic() {
    let a = run_rnn().unwrap();
    assert_eq!(a, run_rnn().unwrap());
    assert_eq!(a.check(), Ok(()));
    assert!(a.loss_after < 0.8 * a.loss_before, "{a:?}");
    assert!(a.loss_perturbed > f64::from(a.loss_after), "{a:?}");
}

/// The training's noise is per sequence: with η = 0 the same steps give
/// another network (so the noise is drawn), and the trainer's gradient with
/// one sequence equals the mean of the clean gradients at one perturbed
/// network `θ + ε` (one ε reused at all 12 steps).
#[test]
fn rnn_training_noise_is_per_sequence() {
    let x = &CO2_WINDOWS[..1];
    let t = &CO2_TARGETS[..1];
    let mut tr = rnn_trainer().unwrap();
    let theta = *tr.network();
    tr.step(&HalfSquaredError, x, t).unwrap();
    let noisy_grad = *tr.gradient();
    // The clean gradient at `net`, by one step of a trainer without noise.
    let grad_at = |net: RnnNet| {
        let mut clean = RnnTrainer::new(net, Sgd::new(1.0).unwrap(), 0);
        clean.step(&HalfSquaredError, x, t).unwrap();
        *clean.gradient()
    };
    let max_diff = |g: &RnnNet| {
        let mut diff = 0.0f32;
        for i in 0..g.slice_count() {
            for (a, b) in g.slice(i).iter().zip(noisy_grad.slice(i)) {
                diff = diff.max((a - b).abs());
            }
        }
        diff
    };
    // The draw the step used, materialised once: θ + ε at every step.
    let mut noise = tr.weight_noise().unwrap().clone();
    let mut perturbed = theta;
    noise.perturb_parameters(&theta, &mut perturbed);
    let same = max_diff(&grad_at(perturbed));
    let unperturbed = max_diff(&grad_at(theta));
    assert!(same < 1e-5, "max difference {same}");
    assert!(
        unperturbed > 100.0 * same.max(1e-7),
        "the noise moved nothing: {unperturbed}"
    );
}

/// The workload's lean evaluation under weight noise gives
/// `perturbed_loss`'s numbers bit for bit (the same kernels run in both).
#[test]
fn rnn_evaluation_equals_perturbed_loss() {
    let noise = WeightNoiseConfig::new(NoiseKind::Additive, RNN_ETA).unwrap();
    for seed in [1, 2] {
        let mut net = RnnNet::zeroed().with_noise(RecurrentNoise::PerSequence);
        net.init(
            Init::Glorot,
            &mut rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(seed),
        );
        let clean = rnn_clean(&net).unwrap();
        let lean = rnn_perturbed(&net, clean).unwrap();
        let want = perturbed_loss::<_, [f32; 1], _, _, _>(
            &net,
            &HalfSquaredError,
            &CO2_WINDOWS,
            &CO2_TARGETS,
            &noise,
            RNN_EVAL_PAIRS,
            RNN_SEED + 2,
        )
        .unwrap();
        assert_eq!(clean.to_bits(), want.clean.to_bits(), "seed {seed}");
        assert_eq!(lean.mean.to_bits(), want.mean.to_bits(), "seed {seed}");
        assert_eq!(
            lean.std_error.to_bits(),
            want.std_error.to_bits(),
            "seed {seed}"
        );
        assert_eq!(lean.pairs, want.pairs);
    }
}

#[test]
fn rnn_report_check_rejects_non_finite_and_no_progress() {
    let good = run_rnn().unwrap();
    assert_eq!(good.check(), Ok(()));
    for bad in [
        RnnReport {
            loss_perturbed_se: f64::NAN,
            ..good
        },
        RnnReport {
            loss_before: f32::INFINITY,
            ..good
        },
        RnnReport {
            loss_after: good.loss_before,
            ..good
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
}

/// The host's recurrent report; `firmware/run.sh` compares its `result:`
/// lines (`-- --exact rnn_workload_report --nocapture`) with `src/bin/rnn.rs`.
#[test]
fn rnn_workload_report() {
    let report = run_rnn().expect("the recurrent workload runs");
    let mut lines = String::new();
    report.write_to(&mut lines).unwrap();
    print!("{lines}");
    assert_eq!(report.check(), Ok(()), "{lines}");
}
