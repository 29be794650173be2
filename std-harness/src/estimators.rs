//! `noisereg estimators`: the weight-noise gradient estimators compared on
//! the diabetes data — the variance of the batch gradient at a fixed θ
//! against the independent reference, and the time training takes to reach
//! a given noisy cost.

use crate::cli::EstimatorsArgs;
use crate::dataset::{Standardizer, TargetKind, parse_csv, split};
use crate::failure::{Failure, Outcome};
use crate::plots::{Series, line_chart};
use noisereg::{
    Adam, Estimator, HalfSquaredError, Init, Mlp1, Network, NoiseKind, Parameters, Sgd, Tanh,
    Trainer, WeightNoiseConfig, perturbed_loss,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use std::fmt::Write as _;
use std::time::Instant;

/// The diabetes data (Efron et al. 2004), built into the binary.
const DIABETES: &str = include_str!("../../data/diabetes.csv");

/// The network compared: 10 → 16 → 1, tanh.
pub type Net = Mlp1<10, 16, 1, Tanh>;

/// Scratch networks: two, so multiplicative Flipout runs too.
const SCRATCH: usize = 2;

/// Standardised inputs and targets.
pub type Data = (Vec<[f32; 10]>, Vec<[f32; 1]>);

/// The estimators compared, with their names.
pub const ESTIMATORS: [(Estimator, &str); 4] = [
    (Estimator::Independent, "independent"),
    (Estimator::PerBatch, "per-batch"),
    (Estimator::Flipout, "flipout"),
    (Estimator::LocalReparam, "local-reparam"),
];

/// The standardised diabetes training split (354 rows; seed 1).
///
/// # Errors
///
/// Never for the built-in data; a runtime [`Failure`] otherwise.
pub fn diabetes() -> Outcome<Data> {
    let d = parse_csv(
        DIABETES.as_bytes(),
        "diabetes.csv",
        "target",
        TargetKind::Real,
    )?;
    let (train, _) = split(d.rows(), 0.2, 1);
    let rows: Vec<Vec<f32>> = train.iter().map(|&i| d.x[i].clone()).collect();
    let ys: Vec<f32> = train.iter().map(|&i| d.y[i]).collect();
    let (sx, sy) = (Standardizer::fit(&rows), Standardizer::fit_column(&ys));
    let xs = rows
        .iter()
        .map(|r| {
            let v = sx.apply(r);
            core::array::from_fn(|j| v.get(j).copied().unwrap_or(0.0))
        })
        .collect();
    let ys = ys.iter().map(|&y| [sy.apply(&[y])[0]]).collect();
    Ok((xs, ys))
}

fn fail(e: noisereg::Error) -> Failure {
    Failure::runtime(format!("estimators: {e}"))
}

/// The noise settings of `estimator` at `eta`.
///
/// # Errors
///
/// A runtime [`Failure`] for an invalid η.
pub fn config(estimator: Estimator, kind: NoiseKind, eta: f32) -> Outcome<WeightNoiseConfig> {
    Ok(WeightNoiseConfig::new(kind, eta)
        .map_err(fail)?
        .with_estimator(estimator))
}

/// All parameters of `net`, flattened.
fn flat<P: Parameters>(net: &P) -> Vec<f64> {
    (0..net.slice_count())
        .flat_map(|i| net.slice(i).iter().map(|&v| f64::from(v)))
        .collect()
}

/// Variance of the batch gradient over `draws` noise draws at the fixed `net`
/// on the fixed batch `(xs, ys)`: the mean squared distance of each draw's
/// mean gradient to their average (the trace of its covariance).
///
/// # Errors
///
/// A runtime [`Failure`] if the trainer rejects the settings or a step fails.
pub fn gradient_variance(
    net: &Net,
    cfg: &WeightNoiseConfig,
    xs: &[[f32; 10]],
    ys: &[[f32; 1]],
    draws: usize,
    seed: u64,
) -> Outcome<f64> {
    let sgd = Sgd::new(1e-3).map_err(fail)?;
    let mut t: Trainer<10, 1, Net, Sgd, SCRATCH> = Trainer::with_scratch(*net, sgd, seed);
    t.set_weight_noise(cfg).map_err(fail)?;
    let mut grads = Vec::with_capacity(draws);
    for _ in 0..draws {
        t.step(&HalfSquaredError, xs, ys).map_err(fail)?;
        grads.push(flat(t.gradient()));
        *t.network_mut() = *net;
    }
    let n = grads.len().max(1) as f64;
    let dim = grads.first().map_or(0, Vec::len);
    let mut mean = vec![0.0; dim];
    for g in &grads {
        for (m, v) in mean.iter_mut().zip(g) {
            *m += v / n;
        }
    }
    Ok(grads
        .iter()
        .map(|g| {
            g.iter()
                .zip(&mean)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n)
}

/// One training run: `(seconds spent in steps, noisy cost)` after each
/// evaluated epoch.
///
/// # Errors
///
/// A runtime [`Failure`] if a step or an evaluation fails.
pub fn training_curve(
    init: &Net,
    cfg: &WeightNoiseConfig,
    xs: &[[f32; 10]],
    ys: &[[f32; 1]],
    epochs: usize,
    every: usize,
    pairs: u32,
) -> Outcome<Vec<(f64, f64)>> {
    let adam = Adam::with_defaults(0.01, init).map_err(fail)?;
    let mut t: Trainer<10, 1, Net, Adam<Net>, SCRATCH> = Trainer::with_scratch(*init, adam, 11);
    t.set_weight_noise(cfg).map_err(fail)?;
    let eval = WeightNoiseConfig::new(cfg.kind(), cfg.eta(0)).map_err(fail)?;
    let mut secs = 0.0;
    let mut curve = Vec::new();
    for epoch in 1..=epochs {
        let start = Instant::now();
        for (xb, yb) in xs.chunks(32).zip(ys.chunks(32)) {
            t.step(&HalfSquaredError, xb, yb).map_err(fail)?;
        }
        secs += start.elapsed().as_secs_f64();
        if epoch % every == 0 {
            let noisy = perturbed_loss(t.network(), &HalfSquaredError, xs, ys, &eval, pairs, 5)
                .map_err(fail)?;
            curve.push((secs, noisy.mean));
        }
    }
    Ok(curve)
}

/// One row of the comparison.
#[derive(Debug, Clone)]
pub struct Row {
    /// Estimator name.
    pub name: String,
    /// Gradient variance at batch 32 and its ratio to independent's.
    pub var32: (f64, f64),
    /// The same at batch 128.
    pub var128: (f64, f64),
    /// Training: µs per step of 32, noisy cost at the end, seconds and epochs
    /// to reach the target (`None`: not reached).
    pub step_us: f64,
    /// Final noisy cost.
    pub final_cost: f64,
    /// Seconds of training to reach the target noisy cost.
    pub to_target: Option<(f64, usize)>,
    /// The curve: `(seconds, noisy cost)`.
    pub curve: Vec<(f64, f64)>,
}

/// Runs `noisereg estimators`.
///
/// # Errors
///
/// Runtime failures if training or writing fails.
pub fn estimators(a: &EstimatorsArgs) -> Outcome {
    let (xs, ys) = diabetes()?;
    let (epochs, every, draws, pairs) = if a.quick {
        (20, 5, 100, 20)
    } else {
        (a.epochs, 5, a.draws, 100)
    };
    let kind = if a.multiplicative {
        NoiseKind::Multiplicative
    } else {
        NoiseKind::Additive
    };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    let mut init = Net::zeroed();
    init.init(Init::Glorot, &mut rng);
    // θ for the variances: 30 plain epochs from the same start.
    let theta = {
        let adam = Adam::with_defaults(0.01, &init).map_err(fail)?;
        let mut t: Trainer<10, 1, Net, Adam<Net>> = Trainer::new(init, adam, 1);
        for _ in 0..30 {
            for (xb, yb) in xs.chunks(32).zip(ys.chunks(32)) {
                t.step(&HalfSquaredError, xb, yb).map_err(fail)?;
            }
        }
        *t.network()
    };
    let mut rows: Vec<Row> = Vec::new();
    for (est, name) in ESTIMATORS {
        if est == Estimator::LocalReparam && kind == NoiseKind::Multiplicative {
            continue;
        }
        let cfg = config(est, kind, a.eta)?;
        let v32 = gradient_variance(&theta, &cfg, &xs[..32], &ys[..32], draws, 21)?;
        let v128 = gradient_variance(&theta, &cfg, &xs[..128], &ys[..128], draws, 22)?;
        let curve = training_curve(&init, &cfg, &xs, &ys, epochs, every, pairs)?;
        let steps = (epochs * xs.len().div_ceil(32)) as f64;
        let step_us = curve.last().map_or(0.0, |c| c.0) / steps * 1e6;
        rows.push(Row {
            name: name.into(),
            var32: (v32, 1.0),
            var128: (v128, 1.0),
            step_us,
            final_cost: curve.last().map_or(f64::NAN, |c| c.1),
            to_target: None,
            curve,
        });
    }
    let (r32, r128) = rows.first().map_or((1.0, 1.0), |r| (r.var32.0, r.var128.0));
    // Target: the noisy cost the independent reference reaches after half
    // the epochs.
    let target = rows
        .first()
        .and_then(|r| r.curve.get(r.curve.len().saturating_sub(1) / 2))
        .map_or(f64::NAN, |c| c.1);
    for r in &mut rows {
        r.var32.1 = r.var32.0 / r32;
        r.var128.1 = r.var128.0 / r128;
        r.to_target = r
            .curve
            .iter()
            .position(|c| c.1 <= target)
            .and_then(|i| r.curve.get(i).map(|c| (c.0, (i + 1) * every)));
    }
    let mut csv = String::from(
        "estimator,var_b32,ratio_b32,var_b128,ratio_b128,us_per_step,final_noisy_cost,seconds_to_target,epochs_to_target\n",
    );
    let mut table = format!(
        "{} noise η = {}, 10→16→1 tanh, diabetes (354 rows), batch 32, Adam 0.01, {epochs} epochs\n\
         target noisy cost {target:.4} (independent's after half the epochs)\n\
         {:<14} {:>10} {:>7} {:>10} {:>7} {:>9} {:>10} {:>10} {:>7}\n",
        if a.multiplicative {
            "multiplicative"
        } else {
            "additive"
        },
        a.eta,
        "estimator",
        "var b=32",
        "ratio",
        "var b=128",
        "ratio",
        "µs/step",
        "final cost",
        "s to tgt",
        "epochs",
    );
    for r in &rows {
        let (s, e) = r
            .to_target
            .map_or(("—".to_string(), "—".to_string()), |(s, e)| {
                (format!("{s:.3}"), e.to_string())
            });
        let _ = writeln!(
            csv,
            "{},{:.6e},{:.4},{:.6e},{:.4},{:.2},{:.5},{},{}",
            r.name, r.var32.0, r.var32.1, r.var128.0, r.var128.1, r.step_us, r.final_cost, s, e
        );
        let _ = writeln!(
            table,
            "{:<14} {:>10.3e} {:>7.2} {:>10.3e} {:>7.2} {:>9.2} {:>10.4} {:>10} {:>7}",
            r.name, r.var32.0, r.var32.1, r.var128.0, r.var128.1, r.step_us, r.final_cost, s, e
        );
    }
    print!("{table}");
    crate::atomic_write::write_atomic(&a.out, csv.as_bytes())?;
    if let Some(plot) = &a.plot {
        let series: Vec<Series> = rows
            .iter()
            .map(|r| Series {
                label: r.name.clone(),
                points: r.curve.clone(),
                errors: Vec::new(),
            })
            .collect();
        line_chart(
            plot,
            "Noisy training cost against training time (diabetes, 10→16→1)",
            "seconds of training steps",
            "noisy cost E J(θ+ε)",
            &series,
            false,
        )?;
    }
    Ok(())
}
