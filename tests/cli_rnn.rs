//! Recurrent models end to end: `train --arch elman` through the binary on
//! the CO₂ series, the chronological split, `verify`/`robustness` on the
//! result, the model file round trip, bad inputs (exit 2, the file or flag
//! named); and the run-time network `DynRnn` against the core's
//! const-generic `Elman` (same bits) and against f64 finite differences.

use assert_cmd::Command;
use noisereg::{Clean, Init, Model, NoiseOn, Parameters, RecurrentNoise};
use noisereg_harness::cli::ArchArg;
use noisereg_harness::dyn_rnn::DynRnn;
use noisereg_harness::trainer::{AnyLoss, Tgt};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::cli::{co2, noisereg, s};

/// A series whose value at data row i (file line i + 2) is `i` itself plus
/// a cycle: `step,v`.
fn write_ramp(dir: &Path, rows: usize) -> PathBuf {
    let mut t = String::from("step,v\n");
    for i in 0..rows {
        t.push_str(&format!("s{i},{}\n", i as f64 + (i as f64 * 0.5).sin()));
    }
    let p = dir.join("ramp.csv");
    std::fs::write(&p, t).unwrap();
    p
}

fn json_out(cmd: &mut Command) -> Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

fn train_co2(out: &Path, arch: &str, extra: &[&str]) -> Value {
    json_out(
        noisereg()
            .args(["train", "--data", s(&co2()), "--target", "co2_ppm"])
            .args([
                "--arch",
                arch,
                "--seq-len",
                "12",
                "--transform",
                "difference",
            ])
            .args(["--hidden", "8", "--epochs", "3", "--json", "--out", s(out)])
            .args(extra),
    )
}

#[test]
fn elman_trains_on_co2_and_verify_and_robustness_use_the_test_windows() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, noisy) = (dir.path().join("plain.json"), dir.path().join("noisy.json"));
    let v = train_co2(&plain, "elman", &[]);
    train_co2(
        &noisy,
        "elman",
        &["--weight-noise", "0.003", "--noise-per", "step"],
    );
    // 525 rows, the last round(0.2·525) = 105 are the test part (file lines 422–526).
    assert_eq!(v["train_lines"], serde_json::json!([2, 421]));
    assert_eq!(v["test_lines"], serde_json::json!([422, 526]));
    // Differencing costs a row per part; 12 + 1 rows per window.
    assert_eq!(v["train_windows"], 420 - 1 - 12);
    assert_eq!(v["test_windows"], 105 - 1 - 12);
    let test_loss = v["final_epoch"]["test_loss"].as_f64().unwrap();
    assert!(test_loss.is_finite() && test_loss > 0.0);
    let m: Value = serde_json::from_slice(&std::fs::read(&noisy).unwrap()).unwrap();
    assert_eq!(m["format"], "noisereg-rnn-model-1");
    assert_eq!(m["recurrent"]["arch"], "elman");
    assert_eq!(m["recurrent"]["seq_len"], 12);
    assert_eq!(m["recurrent"]["transform"], "difference");
    assert_eq!(m["recurrent"]["noise_per"], "step");

    let r = json_out(
        noisereg()
            .args(["verify", "--model", s(&plain), "--data", s(&co2())])
            .args([
                "--target", "co2_ppm", "--eta", "1e-4", "--draws", "400", "--json",
            ]),
    );
    assert_eq!(r["rows_used"], 105 - 1 - 12);
    // verify's clean loss on the test windows is training's last test loss.
    let clean = r["clean_loss"].as_f64().unwrap();
    assert!(
        (clean - test_loss).abs() <= 1e-6 * test_loss,
        "{clean} {test_loss}"
    );
    let row = &r["rows"][0];
    let (mc, se) = (
        row["mc_excess"].as_f64().unwrap(),
        row["mc_std_error"].as_f64().unwrap(),
    );
    let exact = row["exact_formula"].as_f64().unwrap();
    assert!(
        mc > 0.0 && (exact - mc).abs() < 5.0 * se + 0.05 * mc,
        "{mc} ± {se} vs {exact}"
    );

    // A GRU trains and verifies the same way.
    let gru = dir.path().join("gru.json");
    let g = train_co2(&gru, "gru", &["--penalty", "1e-3"]);
    assert_eq!(g["test_windows"], 105 - 1 - 12);
    let m: Value = serde_json::from_slice(&std::fs::read(&gru).unwrap()).unwrap();
    assert_eq!(m["recurrent"]["arch"], "gru");
    assert_eq!(m["params"][0]["values"].as_array().unwrap().len(), 3 * 8);
    let r = json_out(
        noisereg()
            .args(["verify", "--model", s(&gru), "--data", s(&co2())])
            .args([
                "--target", "co2_ppm", "--eta", "1e-5", "--draws", "100", "--json",
            ]),
    );
    let gl = g["final_epoch"]["test_loss"].as_f64().unwrap();
    assert!((r["clean_loss"].as_f64().unwrap() - gl).abs() <= 1e-6 * gl);

    let r = json_out(
        noisereg()
            .args([
                "robustness",
                "--model",
                s(&plain),
                "--model",
                s(&noisy),
                "--model",
                s(&gru),
            ])
            .args(["--data", s(&co2()), "--target", "co2_ppm"])
            .args(["--eta", "1e-3", "--draws", "200", "--json"]),
    );
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["increase"].as_f64().unwrap() > 0.0));
}

#[test]
fn split_is_chronological_and_windows_never_mix_parts() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_ramp(dir.path(), 60);
    let out = dir.path().join("m.json");
    let v = json_out(
        noisereg()
            .args([
                "train",
                "--data",
                s(&data),
                "--target",
                "v",
                "--arch",
                "elman",
            ])
            .args([
                "--seq-len",
                "5",
                "--horizon",
                "2",
                "--test-fraction",
                "0.25",
            ])
            .args(["--hidden", "4", "--epochs", "2", "--json", "--out", s(&out)]),
    );
    // The last 15 rows are the test part; a window needs 5 + 2 rows of one part.
    assert_eq!(v["train_lines"], serde_json::json!([2, 46]));
    assert_eq!(v["test_lines"], serde_json::json!([47, 61]));
    assert_eq!(v["train_windows"], 45 - 6);
    assert_eq!(v["test_windows"], 15 - 6);
    // The library's windows: every test window starts and ends in the test part.
    let d = noisereg_harness::series::load_series(&data, "v", &[]).unwrap();
    let spec = noisereg_harness::series::WindowSpec {
        seq_len: 5,
        horizon: 2,
    };
    let p = noisereg_harness::series::prepare_series(
        &d,
        spec,
        noisereg_harness::series::Transform::Standardize,
        0.25,
    )
    .unwrap();
    assert!(p.train.iter().all(|w| w.target_row < 45));
    assert!(
        p.test
            .iter()
            .all(|w| w.first_row >= 45 && w.target_row < 60)
    );
    assert_eq!(p.test[0].first_row, 45);
}

#[test]
fn model_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    train_co2(&a, "elman", &["--penalty", "1e-3"]);
    let (m, net) = noisereg_harness::model_file::RnnModelFile::load(&a).unwrap();
    let b = dir.path().join("b.json");
    noisereg_harness::atomic_write::write_json(&b, &m).unwrap();
    let (m2, net2) = noisereg_harness::model_file::RnnModelFile::load(&b).unwrap();
    assert_eq!(m, m2);
    for i in 0..net.slice_count() {
        let bits = |n: &DynRnn| n.slice(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&net), bits(&net2));
    }
    let text: Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    let again: Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    assert_eq!(text, again);
}

fn fails_with(cmd: &mut Command, needles: &[&str]) {
    let out = cmd.assert().code(2).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn bad_inputs_exit_2_naming_the_flag_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.json");
    let base = |c: &mut Command| {
        c.args([
            "train",
            "--data",
            s(&co2()),
            "--target",
            "co2_ppm",
            "--out",
            s(&out),
        ]);
    };
    // A window longer than the series.
    let mut c = noisereg();
    base(&mut c);
    fails_with(
        c.args(["--arch", "elman", "--seq-len", "600"]),
        &["--seq-len 600", "co2_monthly.csv", "525 rows"],
    );
    // Longer than the test part.
    let mut c = noisereg();
    base(&mut c);
    fails_with(
        c.args(["--arch", "gru", "--seq-len", "110"]),
        &["--seq-len 110", "test part"],
    );
    // Recurrent flags without a recurrent model.
    let mut c = noisereg();
    base(&mut c);
    fails_with(c.args(["--seq-len", "12"]), &["--seq-len", "--arch elman"]);
    // Classification with a recurrent model.
    let mut c = noisereg();
    base(&mut c);
    fails_with(c.args(["--arch", "elman", "--loss", "ce"]), &["--loss mse"]);
    // Estimators written for dense layers.
    for est in ["flipout", "local-reparam", "per-batch"] {
        let mut c = noisereg();
        base(&mut c);
        fails_with(
            c.args([
                "--arch",
                "gru",
                "--weight-noise",
                "0.01",
                "--estimator",
                est,
            ]),
            &["--estimator independent only"],
        );
    }
    // A missing input column.
    let mut c = noisereg();
    base(&mut c);
    fails_with(
        c.args(["--arch", "elman", "--inputs", "nope"]),
        &["co2_monthly.csv:1", "`nope`", "--inputs"],
    );
    // A bad cell: file:line:column.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "m,v\na,1\nb,2\nc,x\n").unwrap();
    fails_with(
        noisereg()
            .args([
                "train",
                "--data",
                s(&bad),
                "--target",
                "v",
                "--arch",
                "elman",
            ])
            .args(["--seq-len", "1", "--out", s(&out)]),
        &["bad.csv:4:2: column `v`: `x` is not a number"],
    );
    assert!(!out.exists());
    // A model file whose weights do not fit its sizes.
    let good = dir.path().join("good.json");
    train_co2(&good, "elman", &[]);
    let mut m: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    m["params"][2]["values"].as_array_mut().unwrap().pop();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, serde_json::to_vec(&m).unwrap()).unwrap();
    fails_with(
        noisereg()
            .args(["verify", "--model", s(&broken), "--data", s(&co2())])
            .args(["--target", "co2_ppm", "--eta", "1e-3"]),
        &["broken.json", "params[2].values"],
    );
    // Export of a recurrent model is f32 only.
    fails_with(
        noisereg()
            .args(["export", "--model", s(&good), "--format", "c"])
            .args(["--quantize", "8", "--out", s(&dir.path().join("m.h"))]),
        &["--quantize 8", "good.json", "recurrent model"],
    );
    assert!(!dir.path().join("m.h").exists());
    // The wrong target.
    fails_with(
        noisereg()
            .args(["robustness", "--model", s(&good), "--data", s(&co2())])
            .args(["--target", "month", "--eta", "1e-3"]),
        &["--target `month`", "co2_ppm"],
    );
}

// ---- DynRnn against the core's Elman and against finite differences ----

/// Bit-exact comparisons: the default build only (fused multiply-adds
/// change the last bits differently in the two code paths' compilations).
#[cfg(not(any(target_feature = "fma", target_arch = "aarch64")))]
mod same_bits {
    use super::*;
    use noisereg::{
        Adam, Elman, Gru, HalfSquaredError, ModelTrainer, NoiseKind, Sequence, Tanh,
        WeightNoiseConfig,
    };

    const T: usize = 8;

    /// A const-generic network `e` (initialised from `seed`) and a `DynRnn` of
    /// the same sizes initialised from the same seed; both get the same
    /// non-zero biases.
    fn pair<N: Parameters>(
        arch: ArchArg,
        seed: u64,
        mut e: N,
        noise: RecurrentNoise,
    ) -> (N, DynRnn) {
        let mut d = DynRnn::new(arch, 1, 16, 1, T).unwrap().with_noise(noise);
        d.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(seed));
        // Non-zero biases, so that their passes are exercised.
        for (i, v) in e.slice_mut(1).iter_mut().enumerate() {
            *v = 0.01 * (i % 11) as f32 - 0.05;
        }
        e.slice_mut(5)[0] = 0.2;
        for i in [1, 5] {
            d.slice_mut(i).copy_from_slice(e.slice(i));
        }
        (e, d)
    }

    fn seqs(n: usize) -> Vec<Sequence<T, 1>> {
        (0..n)
            .map(|k| {
                let mut s = Sequence::<T, 1>::zeros();
                for (t, x) in s.0.iter_mut().enumerate() {
                    x[0] = ((k * T + t) as f32 * 0.37).sin();
                }
                s
            })
            .collect()
    }

    fn bits_of<P: Parameters>(p: &P) -> Vec<u32> {
        (0..p.slice_count())
            .flat_map(|i| p.slice(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    }

    /// `DynRnn` against the const-generic network `make(noise)` gives: the
    /// same bits in every pass and after five training steps with weight noise
    /// and the penalty.
    fn same_bits<N>(arch: ArchArg, make: impl Fn(RecurrentNoise) -> N)
    where
        N: Model<Sequence<T, 1>, [f32; 1]> + Parameters + Copy + std::fmt::Debug,
    {
        for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
            let (e, d) = make_pair(arch, &make, noise);
            assert_eq!(bits_of(&e), bits_of(&d));
            let xs = seqs(6);
            let xv: Vec<Vec<f32>> = xs.iter().map(|s| s.as_ref().to_vec()).collect();
            let ys: Vec<[f32; 1]> = (0..6).map(|k| [0.1 * k as f32 - 0.2]).collect();
            let ts: Vec<Tgt> = ys.iter().map(|y| Tgt::Real(y[0])).collect();
            for (x, v) in xs.iter().zip(&xv) {
                let (mut a, mut b) = ([0.0f32], vec![0.0f32]);
                Model::<Sequence<T, 1>, [f32; 1]>::forward(&e, x, &mut a).unwrap();
                d.forward(v, &mut b).unwrap();
                assert_eq!(a[0].to_bits(), b[0].to_bits());
                let eta = [0.01, 0.02, 0.03];
                let mut we = Model::<Sequence<T, 1>, [f32; 1]>::workspace(&e);
                let mut wd = d.workspace();
                let pe = Model::<Sequence<T, 1>, [f32; 1]>::penalty(
                    &e,
                    x,
                    &eta,
                    NoiseOn::Weights,
                    &mut we,
                )
                .unwrap();
                let pd = d.penalty(v, &eta, NoiseOn::Weights, &mut wd).unwrap();
                assert_eq!(pe.to_bits(), pd.to_bits());
                let (mut ge, mut gd) = (
                    Model::<Sequence<T, 1>, [f32; 1]>::zeros_like(&e),
                    d.zeros_like(),
                );
                Model::<Sequence<T, 1>, [f32; 1]>::penalty_grad(
                    &e,
                    x,
                    &eta,
                    NoiseOn::WeightsAndBiases,
                    &mut we,
                    &mut ge,
                )
                .unwrap();
                d.penalty_grad(v, &eta, NoiseOn::WeightsAndBiases, &mut wd, &mut gd)
                    .unwrap();
                assert_eq!(bits_of(&ge), bits_of(&gd));
            }
            // Training with weight noise and the penalty: the same bits after 5 steps.
            let noise_cfg = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
            let pen = WeightNoiseConfig::new(NoiseKind::Additive, 0.001).unwrap();
            let adam = Adam::with_defaults(0.01, &e).unwrap();
            let mut te: ModelTrainer<Sequence<T, 1>, [f32; 1], _, _> =
                ModelTrainer::new(e, adam, 9)
                    .with_weight_noise(&noise_cfg)
                    .unwrap()
                    .with_penalty(&pen)
                    .unwrap();
            let adam = Adam::with_defaults(0.01, &d).unwrap();
            let mut td: ModelTrainer<Vec<f32>, Vec<f32>, DynRnn, _> = ModelTrainer::new(d, adam, 9)
                .with_weight_noise(&noise_cfg)
                .unwrap()
                .with_penalty(&pen)
                .unwrap();
            for _ in 0..5 {
                let le = te.step(&HalfSquaredError, &xs, &ys).unwrap();
                let ld = td.step(&AnyLoss::Mse, &xv, &ts).unwrap();
                assert_eq!(le.to_bits(), ld.to_bits());
            }
            assert_eq!(bits_of(te.network()), bits_of(td.network()));
        }
    }

    fn make_pair<N: Parameters>(
        arch: ArchArg,
        make: &impl Fn(RecurrentNoise) -> N,
        noise: RecurrentNoise,
    ) -> (N, DynRnn) {
        pair(arch, 3, make(noise), noise)
    }

    #[test]
    fn dyn_rnn_gives_the_bits_of_the_const_generic_elman_and_gru() {
        same_bits(ArchArg::Elman, |noise| {
            let mut e = Elman::<1, 16, 1, Tanh>::zeroed().with_noise(noise);
            e.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(3));
            e
        });
        same_bits(ArchArg::Gru, |noise| {
            let mut g = Gru::<1, 16, 1, Tanh>::zeroed().with_noise(noise);
            g.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(3));
            g
        });
    }
}

#[test]
fn gru_loss_gradient_matches_finite_differences() {
    // f32 network, differences in f64 of its f32 loss: a looser check than
    // Elman's f64 reference (the GRU's f64 reference is the core's tests/rnn).
    let mut d = DynRnn::new(ArchArg::Gru, 2, 4, 1, 5).unwrap();
    d.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(5));
    for (i, v) in d.slice_mut(1).iter_mut().enumerate() {
        *v = 0.05 * i as f32 - 0.3;
    }
    let x: Vec<f32> = (0..10).map(|i| (i as f32 * 0.7).sin()).collect();
    let t = [Tgt::Real(0.4)];
    let mut g = d.zeros_like();
    let mut total = 0.0;
    d.loss_grad_sum(
        &AnyLoss::Mse,
        std::slice::from_ref(&x),
        &t,
        &mut g,
        &mut total,
    )
    .unwrap();
    let loss = |n: &DynRnn| {
        let mut y = vec![0.0];
        n.forward(&x, &mut y).unwrap();
        0.5 * (f64::from(y[0]) - 0.4).powi(2)
    };
    let h = 1e-2f32;
    for i in 0..d.slice_count() {
        for j in 0..d.slice(i).len() {
            let mut n = d.clone();
            let v = n.slice(i)[j];
            n.slice_mut(i)[j] = v + h;
            let up = loss(&n);
            n.slice_mut(i)[j] = v - h;
            let down = loss(&n);
            let num = (up - down) / (2.0 * f64::from(h));
            let a = f64::from(g.slice(i)[j]);
            assert!(
                (a - num).abs() <= 2e-3 * num.abs().max(0.1),
                "slice {i}[{j}]: {a} vs {num}"
            );
        }
    }
}

/// The Elman network in f64 with weights `p` (DynRnn's slices); `per_step`
/// gives step t its own copy of the cell weights (`cell[t]`).
fn f64_forward(p: &[Vec<f64>], cell: Option<&[Vec<Vec<f64>>]>, x: &[f64], h: usize) -> f64 {
    let mut s = vec![0.0; h];
    for (t, &xt) in x.iter().enumerate() {
        let q = cell.map_or(p, |c| c[t].as_slice());
        let (wx, b, wh) = (&q[0], &q[1], &q[2]);
        s = (0..h)
            .map(|i| {
                let z = wx[i] * xt + b[i] + (0..h).map(|j| wh[i * h + j] * s[j]).sum::<f64>();
                z.tanh()
            })
            .collect();
    }
    p[5][0] + (0..h).map(|j| p[4][j] * s[j]).sum::<f64>()
}

fn to64(d: &DynRnn) -> Vec<Vec<f64>> {
    (0..d.slice_count())
        .map(|i| d.slice(i).iter().map(|&v| f64::from(v)).collect())
        .collect()
}

/// Central differences of `f` at `p`, slice by slice.
fn fd(p: &[Vec<f64>], h: f64, f: impl Fn(&[Vec<f64>]) -> f64) -> Vec<Vec<f64>> {
    let mut q = p.to_vec();
    p.iter()
        .enumerate()
        .map(|(i, s)| {
            (0..s.len())
                .map(|j| {
                    let v = q[i][j];
                    q[i][j] = v + h;
                    let up = f(&q);
                    q[i][j] = v - h;
                    let down = f(&q);
                    q[i][j] = v;
                    (up - down) / (2.0 * h)
                })
                .collect()
        })
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 2e-4 * b.abs().max(1.0) + 1e-5,
        "{what}: {a} vs {b}"
    );
}

#[test]
fn dyn_rnn_gradients_and_penalty_match_f64_finite_differences() {
    let h = 5;
    let steps = 4;
    let mut d = DynRnn::new(ArchArg::Elman, 1, h, 1, steps).unwrap();
    d.init(Init::Glorot, &mut Xoshiro128PlusPlus::seed_from_u64(11));
    for (i, v) in d.slice_mut(1).iter_mut().enumerate() {
        *v = 0.1 * i as f32 - 0.2;
    }
    let x = vec![0.5f32, -0.3, 0.8, 0.1];
    let xd: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let y = 0.3f64;
    let p = to64(&d);
    // Loss gradient.
    let mut g = d.zeros_like();
    let mut total = 0.0;
    d.loss_grad_sum(
        &AnyLoss::Mse,
        std::slice::from_ref(&x),
        &[Tgt::Real(y as f32)],
        &mut g,
        &mut total,
    )
    .unwrap();
    let num = fd(&p, 1e-5, |q| {
        0.5 * (f64_forward(q, None, &xd, h) - y).powi(2)
    });
    for (i, s) in num.iter().enumerate() {
        for (j, &n) in s.iter().enumerate() {
            close(f64::from(g.slice(i)[j]), n, &format!("dL/d slice {i}[{j}]"));
        }
    }
    let sq = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
    let eta = [0.3f32, 0.2, 0.1];
    let e = eta.map(f64::from);
    // The penalty in f64 on the weights (slices 0 wx, 2 wh, 4 v), from
    // differences of the f64 network: shared weights, or one copy per step.
    let penalty64 = |q: &[Vec<f64>], noise: RecurrentNoise| {
        let gf = fd(q, 1e-5, |r| f64_forward(r, None, &xd, h));
        let cell = |l: usize| match noise {
            RecurrentNoise::PerSequence => sq(&gf[l]),
            RecurrentNoise::PerStep => (0..steps)
                .map(|t| {
                    let g = fd(q, 1e-5, |r| {
                        let cells: Vec<Vec<Vec<f64>>> = (0..steps)
                            .map(|u| if u == t { r.to_vec() } else { q.to_vec() })
                            .collect();
                        f64_forward(q, Some(&cells), &xd, h)
                    });
                    sq(&g[l])
                })
                .sum(),
        };
        e[0] * cell(0) + e[1] * cell(2) + e[2] * sq(&gf[4])
    };
    for noise in [RecurrentNoise::PerSequence, RecurrentNoise::PerStep] {
        let d = d.clone().with_noise(noise);
        let want = penalty64(&p, noise);
        let mut ws = d.workspace();
        let got = d.penalty(&x, &eta, NoiseOn::Weights, &mut ws).unwrap();
        close(f64::from(got), want, &format!("{noise:?} penalty"));
        // Its gradient (of ½ the penalty, as the core defines it) vs
        // central differences of the f64 penalty.
        let mut pg = d.zeros_like();
        d.penalty_grad(&x, &eta, NoiseOn::Weights, &mut ws, &mut pg)
            .unwrap();
        let num = fd(&p, 1e-4, |q| 0.5 * penalty64(q, noise));
        for (i, s) in num.iter().enumerate() {
            for (j, &n) in s.iter().enumerate() {
                close(
                    f64::from(pg.slice(i)[j]),
                    n,
                    &format!("{noise:?} penalty grad slice {i}[{j}]"),
                );
            }
        }
        // Clean forward unchanged by the noise semantics.
        let mut out = vec![0.0];
        d.forward_with(&x, &mut Clean, &mut ws, &mut out).unwrap();
        close(f64::from(out[0]), f64_forward(&p, None, &xd, h), "forward");
    }
}

#[test]
fn demo_has_a_recurrent_part() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let a = noisereg()
        .args(["demo", "--quick", "--out", s(&out)])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(stdout.contains("Recurrent: Elman"), "{stdout}");
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("rnn_report.json")).unwrap()).unwrap();
    let methods = r["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 4);
    assert!(
        methods
            .iter()
            .all(|m| m["test_loss"].as_f64().unwrap().is_finite())
    );
    // Four models, four η each.
    assert_eq!(r["seed_check"].as_array().unwrap().len(), 16);
    assert_eq!(r["windows_test"], 105 - 1 - 24);
    for svg in ["rnn_loss_curves.svg", "rnn_perturbation.svg"] {
        let text = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("<text"), "{svg}");
    }
}

/// `DynRnn` rejects, when the noise is set, what its passes cannot run
/// exactly, as the core's networks do.
#[test]
fn dyn_rnn_rejects_estimators_it_cannot_run() {
    use noisereg::{Estimator, ModelTrainer, NoiseKind, Sgd, WeightNoiseConfig};
    let add = WeightNoiseConfig::new(NoiseKind::Additive, 0.01).unwrap();
    let mul = WeightNoiseConfig::new(NoiseKind::Multiplicative, 0.01).unwrap();
    for arch in [ArchArg::Elman, ArchArg::Gru] {
        for (noise, cfg, ok) in [
            (RecurrentNoise::PerStep, add, true),
            (RecurrentNoise::PerSequence, mul, true),
            (RecurrentNoise::PerStep, mul, false),
            (
                RecurrentNoise::PerSequence,
                add.with_estimator(Estimator::Flipout),
                false,
            ),
            (
                RecurrentNoise::PerSequence,
                add.with_estimator(Estimator::LocalReparam),
                false,
            ),
            (
                RecurrentNoise::PerStep,
                add.with_estimator(Estimator::PerBatch),
                false,
            ),
        ] {
            let net = DynRnn::new(arch, 1, 3, 1, 4).unwrap().with_noise(noise);
            let mut t = ModelTrainer::<Vec<f32>, Vec<f32>, _, _, 2>::with_scratch(
                net,
                Sgd::new(0.1).unwrap(),
                1,
            );
            assert_eq!(
                t.set_weight_noise(&cfg).is_ok(),
                ok,
                "{arch:?} {noise:?} {cfg:?}"
            );
        }
    }
}
