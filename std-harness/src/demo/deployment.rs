//! The demo's deployment part: quantisation, bit flips and drift.

use crate::atomic_write::write_json;
use crate::checkpoint::EpochMetrics;
use crate::cli::{DemoArgs, LossArg, NoiseOnArg};
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use crate::model_file::Settings;
use crate::train_cmd::Prepared;
use crate::trainer::AnyLoss;

/// The deployment part: the three models of the demo on the test set under
/// 8/6/4/3-bit quantisation (round to nearest, and dithered against the
/// prediction), bit flips and a year of PCM drift (`robustness --perturb`).
pub(super) fn deployment(
    a: &DemoArgs,
    runs: &[(String, Settings)],
    nets: &[(DynMlp, Vec<EpochMetrics>)],
    p: &Prepared,
) -> Outcome {
    use crate::robustness::{EvalTarget, PerturbRow, evaluate_net, parse_perturb};
    let draws = if a.quick { 20 } else { 400 };
    let items = [
        "quant:8",
        "dither:8",
        "quant:6",
        "dither:6",
        "quant:4",
        "dither:4",
        "quant:3",
        "dither:3",
        "bitflip:1e-4",
        "bitflip8:1e-3",
        "drift:1y",
    ];
    let pert = crate::cli::PerturbationArgs {
        noise_on: NoiseOnArg::Weights,
        multiplicative: false,
    };
    let mut rows: Vec<PerturbRow> = Vec::new();
    for ((name, _), (net, _)) in runs.iter().zip(nets).take(3) {
        let t = EvalTarget {
            net,
            xs: &p.x_test,
            ts: &p.t_test,
            loss: AnyLoss::Mse,
            loss_arg: LossArg::Mse,
        };
        for item in items {
            let spec = parse_perturb(item).map_err(Failure::runtime)?;
            rows.push(evaluate_net(name, &t, &spec, &pert, draws, 13)?);
        }
    }
    write_json(&a.out.join("deployment.json"), &rows)?;
    if a.json {
        return Ok(());
    }
    println!(
        "\nDeployment (test set, increase of the ½ squared error; dithered: {draws} draws; predicted: exact formula, per-row η = Δ²/12):"
    );
    println!(
        "{:<22} {:>5} {:>12} {:>20} {:>12}",
        "model", "bits", "nearest", "dithered ± SE", "predicted"
    );
    let find = |m: &str, item: &str| rows.iter().find(|r| r.model == m && r.perturbation == item);
    for (name, _) in runs.iter().take(3) {
        for bits in [8, 6, 4, 3] {
            let (Some(q), Some(d)) = (
                find(name, &format!("quant:{bits}")),
                find(name, &format!("dither:{bits}")),
            ) else {
                continue;
            };
            println!(
                "{:<22} {:>5} {:>12.5} {:>20} {:>12.5}",
                name,
                bits,
                q.increase,
                format!("{:.5} ± {:.5}", d.increase, d.std_error),
                d.predicted_exact.unwrap_or(f64::NAN)
            );
        }
    }
    println!(
        "{:<22} {:>28} {:>28} {:>22}",
        "model", "f32 bit flips 1e-4: median", "int8 bit flips 1e-3 ± SE", "PCM drift 1 y ± SE"
    );
    for (name, _) in runs.iter().take(3) {
        let (Some(f), Some(i), Some(d)) = (
            find(name, "bitflip:1e-4"),
            find(name, "bitflip8:1e-3"),
            find(name, "drift:1y"),
        ) else {
            continue;
        };
        println!(
            "{:<22} {:>28} {:>28} {:>22}",
            name,
            format!(
                "{:.5} ({:.1} % non-finite)",
                f.median_increase,
                100.0 * f.nonfinite_fraction
            ),
            format!("{:.5} ± {:.5}", i.increase, i.std_error),
            format!("{:.5} ± {:.5}", d.increase, d.std_error)
        );
    }
    println!("wrote {}/deployment.json", a.out.display());
    Ok(())
}
