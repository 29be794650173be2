//! `noisereg demo`: the whole story on the diabetes data shipped in the binary.

use crate::atomic_write::write_json;
use crate::checkpoint::EpochMetrics;
use crate::cli::{ActivationArg, DemoArgs, LossArg, NoiseKindArg, NoiseOnArg, OptimizerArg};
use crate::dataset::{TargetKind, parse_csv};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::model_file::Settings;
use crate::plots::{Series, line_chart};
use crate::train_cmd::{Prepared, RunPlan, build_trainer, prepare, run};
use crate::trainer::{AnyLoss, Tgt};
use crate::verify::{expansion, perturbed_loss};
use noisereg::{NoiseKind, NoiseOn, WeightNoiseConfig};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

mod deployment;
mod recurrent;

use deployment::deployment;
use recurrent::recurrent;

/// The diabetes data (Efron et al. 2004), built into the binary.
const DIABETES: &str = include_str!("../../../data/diabetes.csv");

/// η at which trained models are perturbed.
const PERTURB_ETAS: [f32; 4] = [1e-3, 3e-3, 1e-2, 3e-2];
/// Training η of the sweep.
const SWEEP_ETAS: [f32; 6] = [0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];
/// Training η of the noise and penalty runs.
const TRAIN_ETA: f32 = 0.01;
/// η of the seed's-derivation check.
const CHECK_ETA: f32 = 0.005;

#[derive(Debug, Serialize)]
struct Perturbation {
    eta: f32,
    increase: f64,
    std_error: f64,
}

#[derive(Debug, Serialize)]
struct MethodReport {
    method: String,
    train_loss: f64,
    test_loss: f64,
    mean_grad_sq: f64,
    perturbation: Vec<Perturbation>,
    epochs: Vec<EpochMetrics>,
}

#[derive(Debug, Serialize)]
struct SeedCheck {
    model: String,
    eta: f32,
    mc_excess: f64,
    mc_std_error: f64,
    seed_formula: f64,
    exact_formula: f64,
    seed_off_by_se: f64,
    exact_off_by_se: f64,
}

#[derive(Debug, Serialize)]
struct SweepPoint {
    eta: f32,
    train_loss: f64,
    test_loss: f64,
    mean_grad_sq: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    data: String,
    rows_train: usize,
    rows_test: usize,
    network: String,
    settings: Settings,
    loss: String,
    methods: Vec<MethodReport>,
    seed_check: Vec<SeedCheck>,
    eta_sweep: Vec<SweepPoint>,
    seconds: f64,
}

fn settings(epochs: usize) -> Settings {
    Settings {
        hidden: vec![16],
        activation: ActivationArg::Tanh,
        loss: LossArg::Mse,
        weight_noise: 0.0,
        noise_on: NoiseOnArg::Weights,
        noise_kind: NoiseKindArg::Additive,
        estimator: Default::default(),
        input_noise: 0.0,
        label_noise: 0.0,
        label_smoothing: 0.0,
        penalty: 0.0,
        optimizer: OptimizerArg::Adam,
        lr: 0.01,
        epochs,
        batch: 16,
        seed: 1,
        test_fraction: 0.2,
    }
}

fn reals(ts: &[Tgt]) -> Vec<f32> {
    ts.iter()
        .map(|t| if let Tgt::Real(v) = t { *v } else { 0.0 })
        .collect()
}

fn fail(e: noisereg::Error) -> Failure {
    Failure::runtime(format!("demo evaluation failed: {e}"))
}

fn seed_check(name: &str, net: &DynMlp, p: &Prepared, pairs: u32) -> Outcome<SeedCheck> {
    let cfg = WeightNoiseConfig::new(NoiseKind::Additive, CHECK_ETA).map_err(fail)?;
    let mc =
        perturbed_loss(net, &AnyLoss::Mse, &p.x_train, &p.t_train, &cfg, pairs, 7).map_err(fail)?;
    let e = expansion(net, &p.x_train, &reals(&p.t_train), NoiseOn::Weights).map_err(fail)?;
    let eta = f64::from(CHECK_ETA);
    let (s, x) = (e.seed_excess(eta), e.exact_excess(eta));
    let se = mc.std_error.max(1e-300);
    Ok(SeedCheck {
        model: name.into(),
        eta: CHECK_ETA,
        mc_excess: mc.excess(),
        mc_std_error: mc.std_error,
        seed_formula: s,
        exact_formula: x,
        seed_off_by_se: (s - mc.excess()) / se,
        exact_off_by_se: (x - mc.excess()) / se,
    })
}

/// Runs `noisereg demo`.
///
/// # Errors
///
/// Runtime failures if training or writing fails.
pub fn demo(a: &DemoArgs) -> Outcome {
    let start = Instant::now();
    let (epochs, pairs, check_pairs) = if a.quick {
        (5, 20, 50)
    } else {
        (200, 1000, 20_000)
    };
    let d = parse_csv(
        DIABETES.as_bytes(),
        "diabetes.csv",
        "target",
        TargetKind::Real,
    )?;
    let base = settings(epochs);
    let p = prepare(
        &d,
        LossArg::Mse,
        base.test_fraction,
        base.seed,
        "diabetes.csv",
    )?;
    // The folder is the user's choice: a file in its place, or a parent
    // that cannot hold it, is bad input.
    std::fs::create_dir_all(&a.out).map_err(|e| {
        let msg = format!("--out {}: cannot create the folder: {e}", a.out.display());
        match e.kind() {
            std::io::ErrorKind::AlreadyExists
            | std::io::ErrorKind::NotADirectory
            | std::io::ErrorKind::NotFound
            | std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::ReadOnlyFilesystem => Failure::input(msg),
            _ => Failure::runtime(msg),
        }
    })?;

    // Three methods and the η sweep: independent runs, in parallel.
    let mut runs: Vec<(String, Settings)> = vec![
        ("plain".into(), base.clone()),
        (
            format!("weight noise η={TRAIN_ETA}"),
            Settings {
                weight_noise: TRAIN_ETA,
                ..base.clone()
            },
        ),
        (
            format!("penalty η={TRAIN_ETA}"),
            Settings {
                penalty: TRAIN_ETA,
                ..base.clone()
            },
        ),
    ];
    for eta in SWEEP_ETAS {
        runs.push((
            format!("sweep {eta}"),
            Settings {
                weight_noise: eta,
                ..base.clone()
            },
        ));
    }
    let trained: Vec<Outcome<(DynMlp, Vec<EpochMetrics>)>> = runs
        .par_iter()
        .map(|(_, s)| run(s, &p, RunPlan::default()))
        .collect();
    let mut nets = Vec::new();
    for t in trained {
        nets.push(t?);
    }
    let on = NoiseOn::Weights;
    let mut methods = Vec::new();
    for ((name, _), (net, epochs)) in runs.iter().zip(&nets).take(3) {
        let last = epochs.last().cloned();
        let e = expansion(net, &p.x_train, &reals(&p.t_train), on).map_err(fail)?;
        let perturbation = PERTURB_ETAS
            .par_iter()
            .map(|&eta| {
                let cfg = WeightNoiseConfig::new(NoiseKind::Additive, eta).map_err(fail)?;
                let r = perturbed_loss(net, &AnyLoss::Mse, &p.x_test, &p.t_test, &cfg, pairs, 11)
                    .map_err(fail)?;
                Ok(Perturbation {
                    eta,
                    increase: r.excess(),
                    std_error: r.std_error,
                })
            })
            .collect::<Outcome<Vec<_>>>()?;
        methods.push(MethodReport {
            method: name.clone(),
            train_loss: last.as_ref().map_or(f64::NAN, |m| m.train_loss),
            test_loss: last.as_ref().and_then(|m| m.test_loss).unwrap_or(f64::NAN),
            mean_grad_sq: e.grad_sq,
            perturbation,
            epochs: epochs.clone(),
        });
    }
    let sweep = runs
        .iter()
        .zip(&nets)
        .skip(3)
        .zip(SWEEP_ETAS)
        .map(|((_, (net, epochs)), eta)| {
            let last = epochs.last();
            let e = expansion(net, &p.x_train, &reals(&p.t_train), on).map_err(fail)?;
            Ok(SweepPoint {
                eta,
                train_loss: last.map_or(f64::NAN, |m| m.train_loss),
                test_loss: last.and_then(|m| m.test_loss).unwrap_or(f64::NAN),
                mean_grad_sq: e.grad_sq,
            })
        })
        .collect::<Outcome<Vec<_>>>()?;

    // The seed's derivation on an untrained and the trained plain model.
    let untrained = build_trainer(&base, p.features.len(), 1)?.network().clone();
    let seed_checks = vec![
        seed_check("untrained", &untrained, &p, check_pairs)?,
        seed_check("trained (plain)", &nets[0].0, &p, check_pairs)?,
    ];

    let report = Report {
        data: "diabetes.csv (442 rows, 10 features; standardised)".into(),
        rows_train: p.x_train.len(),
        rows_test: p.x_test.len(),
        network: "10 → 16 (tanh) → 1".into(),
        settings: base.clone(),
        loss: "½ squared error on the standardised target".into(),
        methods,
        seed_check: seed_checks,
        eta_sweep: sweep,
        seconds: start.elapsed().as_secs_f64(),
    };
    write_plots(a, &report)?;
    write_json(&a.out.join("report.json"), &report)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_report(&report);
        println!(
            "\nwrote {0}/report.json, {0}/loss_curves.svg, {0}/perturbation.svg, {0}/eta_sweep.svg ({1:.1} s)",
            a.out.display(),
            start.elapsed().as_secs_f64()
        );
    }
    deployment(a, &runs, &nets, &p)?;
    recurrent(a)
}

/// The table of methods: losses, E‖∇_W f‖² and the loss increase at each η.
fn print_methods(etas: &[f32], methods: &[MethodReport]) {
    print!(
        "{:<22} {:>10} {:>10} {:>12}",
        "method", "train", "test", "E‖∇_W f‖²"
    );
    for eta in etas {
        print!(" {:>20}", format!("Δtest @η={eta}"));
    }
    println!();
    for m in methods {
        print!(
            "{:<22} {:>10.4} {:>10.4} {:>12.4}",
            m.method, m.train_loss, m.test_loss, m.mean_grad_sq
        );
        for q in &m.perturbation {
            print!(" {:>20}", format!("{:.4} ± {:.4}", q.increase, q.std_error));
        }
        println!();
    }
}

fn print_report(r: &Report) {
    println!(
        "noisereg demo: {}, {} train / {} test rows, network {}, Adam lr {}, {} epochs, batch {}, seed {}",
        r.data,
        r.rows_train,
        r.rows_test,
        r.network,
        r.settings.lr,
        r.settings.epochs,
        r.settings.batch,
        r.settings.seed
    );
    println!(
        "loss: {}; weight noise ε ~ N(0, η) on the weights (η is a variance)\n",
        r.loss
    );
    print_methods(&PERTURB_ETAS, &r.methods);
    println!("\nThe seed's derivation (docs/theory.md §1–§2), training set, η = {CHECK_ETA}:");
    println!(
        "{:<18} {:>22} {:>20} {:>20}",
        "model", "Monte Carlo excess", "seed (η/2)E‖∇f‖²", "exact formula"
    );
    for c in &r.seed_check {
        println!(
            "{:<18} {:>22} {:>20} {:>20}",
            c.model,
            format!("{:.5} ± {:.5}", c.mc_excess, c.mc_std_error),
            format!("{:.5} ({:+.1} SE)", c.seed_formula, c.seed_off_by_se),
            format!("{:.5} ({:+.1} SE)", c.exact_formula, c.exact_off_by_se),
        );
    }
    println!("\nη sweep (weight-noise training):");
    println!(
        "{:>8} {:>10} {:>10} {:>12}",
        "η", "train", "test", "E‖∇_W f‖²"
    );
    for s in &r.eta_sweep {
        println!(
            "{:>8} {:>10.4} {:>10.4} {:>12.4}",
            s.eta, s.train_loss, s.test_loss, s.mean_grad_sq
        );
    }
}

/// A method's test loss by epoch.
fn test_curve(method: &str, epochs: &[EpochMetrics]) -> Series {
    Series {
        label: format!("{method} test"),
        points: epochs
            .iter()
            .filter_map(|e| e.test_loss.map(|t| (e.epoch as f64, t)))
            .collect(),
        errors: vec![],
    }
}

/// A method's loss increase under weight perturbation against η, with its SE.
fn perturbation_curve(method: &str, perturbation: &[Perturbation]) -> Series {
    Series {
        label: method.to_owned(),
        points: perturbation
            .iter()
            .map(|q| (f64::from(q.eta), q.increase))
            .collect(),
        errors: perturbation.iter().map(|q| q.std_error).collect(),
    }
}

fn write_plots(a: &DemoArgs, r: &Report) -> Outcome {
    let mut curves = Vec::new();
    for m in &r.methods {
        curves.push(Series {
            label: format!("{} train", m.method),
            points: m
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, e.train_loss))
                .collect(),
            errors: vec![],
        });
        curves.push(test_curve(&m.method, &m.epochs));
    }
    line_chart(
        &a.out.join("loss_curves.svg"),
        "Loss curves (clean loss)",
        "epoch",
        "½ squared error",
        &curves,
        false,
    )?;
    let pert: Vec<Series> = r
        .methods
        .iter()
        .map(|m| perturbation_curve(&m.method, &m.perturbation))
        .collect();
    line_chart(
        &a.out.join("perturbation.svg"),
        "Test-loss increase under weight perturbation (± SE)",
        "eta (variance)",
        "loss increase",
        &pert,
        true,
    )?;
    let pos: Vec<&SweepPoint> = r.eta_sweep.iter().filter(|s| s.eta > 0.0).collect();
    let sweep = vec![
        Series {
            label: "train".into(),
            points: pos
                .iter()
                .map(|s| (f64::from(s.eta), s.train_loss))
                .collect(),
            errors: vec![],
        },
        Series {
            label: "test".into(),
            points: pos
                .iter()
                .map(|s| (f64::from(s.eta), s.test_loss))
                .collect(),
            errors: vec![],
        },
    ];
    line_chart(
        &a.out.join("eta_sweep.svg"),
        "Training with weight noise: loss against η",
        "eta (variance)",
        "clean loss",
        &sweep,
        true,
    )
}
