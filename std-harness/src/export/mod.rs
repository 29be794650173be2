//! `noisereg export`: a trained model as a `no_std` Rust module (`const`
//! weights, one `include!` gives a ready network) or a C header with one
//! portable inference function, in `f32` or in int8 storage (`--quantize B`:
//! B-bit codes, one scale per row, round to nearest).
//!
//! The C int8 kernel repeats the core's order of operations
//! (`Int8DenseRef::forward`: four partial sums over inputs `i ≡ 0..3 mod 4`,
//! combined as `(l₀ + l₁) + (l₂ + l₃)`, then the tail) and the core's tanh
//! polynomial, so compiled with `-ffp-contract=off` it gives the CLI's bits.
//! The C `f32` kernel sums in input order, the core in SIMD lanes: a few ulp.
//!
//! Recurrent models (Elman, GRU) export in `f32`: the Rust module is the
//! core's `Elman` or `Gru` as a `const`; the C function `noisereg_predict_rnn`
//! repeats `ElmanRef::forward` / `GruRef::forward` (in-order dot products, the
//! core's tanh and its `exp`-based sigmoid), so it too gives the CLI's bits.

mod mlp;
mod rnn;

use crate::atomic_write::{NamedPath, check_outputs, write_atomic};
use crate::cli::{ExportArgs, ExportFormat};
use crate::failure::{Failure, Outcome};
use crate::model_file::{ModelFile, RNN_MODEL_FORMAT, format_of};

fn f32s(v: &[f32]) -> String {
    v.iter()
        .map(|x| format!("{x:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rows<T: std::fmt::Display>(v: &[T], n_in: usize, fmt: impl Fn(&T) -> String) -> String {
    let _ = std::marker::PhantomData::<T>;
    v.chunks(n_in)
        .map(|r| {
            format!(
                "    [{}],\n",
                r.iter().map(&fmt).collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

fn c_floats(v: &[f32]) -> String {
    v.iter()
        .map(|x| {
            if x.is_finite() {
                format!("{x:e}f")
            } else {
                "0.0f".into()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The core's tanh (`core/src/math/activations.rs`), operation for operation.
const C_TANH: &str = r#"
static float noisereg_tanh(float x) {
    float s, s2, s4, p, q, r;
    if (x > 9.0f) x = 9.0f;
    if (x < -9.0f) x = -9.0f;
    s = x * x;
    s2 = s * s;
    s4 = s2 * s2;
    p = ((0.99999999f + 0.13063012f * s) + s2 * (3.0806763e-3f + 1.0916814e-5f * s))
        + s4 * ((-1.9304024e-8f + 4.8599844e-11f * s) + s2 * -7.484968e-14f);
    q = (1.0f + 0.46396333f * s) + s2 * (0.024401967f + 2.512579e-4f * s);
    r = (x * p) / q;
    if (x >= 9.0f || r > 1.0f) r = 1.0f;
    if (x <= -9.0f || r < -1.0f) r = -1.0f;
    return r;
}
"#;

/// Appends one prediction as a line of outputs separated by spaces.
fn push_prediction(out: &mut String, y: &[f32]) {
    let line: Vec<String> = y.iter().map(|v| format!("{v:e}")).collect();
    out.push_str(&line.join(" "));
    out.push('\n');
}

/// Runs `noisereg export`.
///
/// # Errors
///
/// Input failures for a bad model or data file.
pub fn export(a: &ExportArgs) -> Outcome {
    if a.out.is_none() && a.predict.is_none() {
        return Err(Failure::input(
            "export: give --out FILE, --predict DATA.csv, or both",
        ));
    }
    if let Some(out) = &a.out {
        let mut inputs = vec![NamedPath {
            what: "--model",
            path: &a.model,
        }];
        if let Some(d) = &a.predict {
            inputs.push(NamedPath {
                what: "--predict",
                path: d,
            });
        }
        check_outputs(
            &[NamedPath {
                what: "--out",
                path: out,
            }],
            &inputs,
            &[],
        )?;
    }
    // The file name only, so the output does not depend on where the model lives.
    let model = a.model.file_name().map_or_else(
        || a.model.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if format_of(&a.model).as_deref() == Some(RNN_MODEL_FORMAT) {
        return rnn::export_rnn(a, &model);
    }
    let (m, _) = ModelFile::load(&a.model)?;
    let layers = mlp::layers(&m, a.quantize).map_err(|e| {
        Failure::input(format!(
            "{}: cannot quantise the weights: {e}",
            a.model.display()
        ))
    })?;
    let text = match a.format {
        ExportFormat::Rust => mlp::rust_source(&m, &model, &layers, a.quantize),
        ExportFormat::C => mlp::c_source(&m, &model, &layers, a.quantize),
    };
    let preds = match &a.predict {
        Some(d) => Some(mlp::predictions(a, d, &layers)?),
        None => None,
    };
    if let Some(out) = &a.out {
        write_atomic(out, text.as_bytes())?;
        let f32_bytes = mlp::f32_parameter_bytes(&layers);
        eprintln!(
            "wrote {} ({} bytes of parameters; f32 storage: {f32_bytes} bytes)",
            out.display(),
            mlp::parameter_bytes(&layers)
        );
    }
    if let Some(p) = preds {
        print!("{p}");
    }
    Ok(())
}
