//! The model file: architecture, weights, normalisation, settings and seed as
//! JSON. Loading validates every field against the others before anything is
//! allocated from it, and names the file and the field (`layers[1].weights`)
//! of the first problem.

use crate::cli::{ActivationArg, EstimatorArg, LossArg, NoiseKindArg, NoiseOnArg, OptimizerArg};
use crate::dataset::Standardizer;
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use noisereg::{ActivationKind, MAX_LAYERS, Parameters};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

mod rnn;

pub use rnn::{ParamSlice, RNN_MODEL_FORMAT, RecurrentSettings, RnnModelFile, format_of};

/// Format tag written into every model file.
pub const MODEL_FORMAT: &str = "noisereg-model-1";

/// Every setting that determines a training run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: ActivationArg,
    /// Loss.
    pub loss: LossArg,
    /// Weight-noise variance η (0: none).
    pub weight_noise: f32,
    /// Parameters that got weight noise.
    pub noise_on: NoiseOnArg,
    /// How weight noise entered.
    pub noise_kind: NoiseKindArg,
    /// The weight-noise gradient estimator (omitted: independent).
    #[serde(default, skip_serializing_if = "EstimatorArg::is_default")]
    pub estimator: EstimatorArg,
    /// Input-noise standard deviation.
    pub input_noise: f32,
    /// Label-noise standard deviation.
    pub label_noise: f32,
    /// Label smoothing.
    pub label_smoothing: f32,
    /// Explicit penalty η (0: none).
    pub penalty: f32,
    /// Optimiser.
    pub optimizer: OptimizerArg,
    /// Learning rate.
    pub lr: f32,
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Seed of initialisation, split, shuffling and noise.
    pub seed: u64,
    /// Fraction of rows held out for testing.
    pub test_fraction: f64,
}

impl Settings {
    /// Checks every value against the range `train` accepts.
    ///
    /// # Errors
    ///
    /// An input [`Failure`] naming `file` and `settings.FIELD`.
    pub fn validate(&self, file: &Path) -> Outcome {
        let err = |field: &str, v: String, must: &str| {
            field_error(
                file,
                &format!("settings.{field}"),
                format!("{v} (must be {must})"),
            )
        };
        for (field, v) in [
            ("weight_noise", self.weight_noise),
            ("input_noise", self.input_noise),
            ("label_noise", self.label_noise),
            ("penalty", self.penalty),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(err(field, v.to_string(), "finite and >= 0"));
            }
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(err(
                "label_smoothing",
                self.label_smoothing.to_string(),
                "in [0, 1)",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(err("lr", self.lr.to_string(), "finite and > 0"));
        }
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err(err(
                "test_fraction",
                self.test_fraction.to_string(),
                "in [0, 1)",
            ));
        }
        let local = self.noise_kind == NoiseKindArg::LocalReparam;
        let contradiction = match self.estimator {
            EstimatorArg::LocalReparam => self.noise_kind == NoiseKindArg::Multiplicative,
            EstimatorArg::PerBatch | EstimatorArg::Flipout => local,
            EstimatorArg::Independent => false,
        };
        if contradiction {
            return Err(err(
                "estimator",
                format!("{:?} with noise_kind {:?}", self.estimator, self.noise_kind),
                "local-reparam only with additive noise",
            ));
        }
        if self.epochs == 0 {
            return Err(err("epochs", "0".into(), ">= 1"));
        }
        if self.batch == 0 {
            return Err(err("batch", "0".into(), ">= 1"));
        }
        Ok(())
    }
}

/// A layer's activation as model files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerActivation {
    /// No activation (the output layer).
    Identity,
    /// tanh.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// max(0, x).
    Relu,
    /// log(1 + eˣ).
    Softplus,
}

impl From<ActivationKind> for LayerActivation {
    fn from(a: ActivationKind) -> Self {
        match a {
            ActivationKind::Identity => Self::Identity,
            ActivationKind::Tanh => Self::Tanh,
            ActivationKind::Sigmoid => Self::Sigmoid,
            ActivationKind::Relu => Self::Relu,
            ActivationKind::Softplus => Self::Softplus,
        }
    }
}

impl From<LayerActivation> for ActivationKind {
    fn from(a: LayerActivation) -> Self {
        match a {
            LayerActivation::Identity => Self::Identity,
            LayerActivation::Tanh => Self::Tanh,
            LayerActivation::Sigmoid => Self::Sigmoid,
            LayerActivation::Relu => Self::Relu,
            LayerActivation::Softplus => Self::Softplus,
        }
    }
}

impl From<ActivationArg> for ActivationKind {
    fn from(a: ActivationArg) -> Self {
        match a {
            ActivationArg::Tanh => Self::Tanh,
            ActivationArg::Sigmoid => Self::Sigmoid,
            ActivationArg::Relu => Self::Relu,
            ActivationArg::Softplus => Self::Softplus,
        }
    }
}

/// One dense layer's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerParams {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// Activation.
    pub activation: LayerActivation,
    /// Weights, row-major (`outputs` rows of `inputs`).
    pub weights: Vec<f32>,
    /// Bias.
    pub bias: Vec<f32>,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// [`MODEL_FORMAT`].
    pub format: String,
    /// Feature columns, in the order of the network's inputs.
    pub features: Vec<String>,
    /// Target column.
    pub target: String,
    /// Feature standardisation (training-set statistics).
    pub feature_scaling: Standardizer,
    /// Target standardisation (mse only).
    pub target_scaling: Option<Standardizer>,
    /// Number of classes (ce only).
    pub classes: Option<usize>,
    /// Training settings.
    pub settings: Settings,
    /// Layers from the input.
    pub layers: Vec<LayerParams>,
}

/// The layers of `net` for a model file.
pub fn layers_of(net: &DynMlp) -> Vec<LayerParams> {
    (0..net.depth())
        .map(|l| LayerParams {
            inputs: net.sizes()[l],
            outputs: net.sizes()[l + 1],
            activation: net.activations()[l].into(),
            weights: net.slice(2 * l).to_vec(),
            bias: net.slice(2 * l + 1).to_vec(),
        })
        .collect()
}

/// Reads `path` as JSON of type `T`; errors name the file, line, column and
/// the JSON path of the field (`settings.loss`).
///
/// # Errors
///
/// An input [`Failure`] for a missing file or a value that does not fit `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Outcome<T> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::input(format!(
            "cannot read {name}: {}",
            if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                e.to_string()
            }
        ))
    })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // An unknown position (a broken key) shows as `?`: name its parent.
        let path = e.path().to_string();
        let field = path.trim_end_matches('?').trim_end_matches('.');
        let inner = e.inner();
        let at = if field.is_empty() {
            String::new()
        } else {
            format!(" field `{field}`:")
        };
        Failure::input(format!(
            "{name}:{}:{}: not a noisereg {what}:{at} {}",
            inner.line(),
            inner.column(),
            strip_position(&inner.to_string())
        ))
    })
}

/// An input failure naming the file and the field.
pub fn field_error(file: &Path, field: &str, msg: impl std::fmt::Display) -> Failure {
    Failure::input(format!("{}: {field}: {msg}", file.display()))
}

/// `Ok` if every value is finite; otherwise names `field[i]`.
pub fn check_finite(file: &Path, field: &str, values: &[f32]) -> Outcome {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(field_error(
            file,
            &format!("{field}[{i}]"),
            format!("{} is not a finite number", values[i]),
        )),
    }
}

/// Checks a standardisation of `width` columns: finite means, finite positive
/// standard deviations.
fn check_scaling(file: &Path, field: &str, s: &Standardizer, width: usize) -> Outcome {
    for (part, v) in [("mean", &s.mean), ("std", &s.std)] {
        if v.len() != width {
            return Err(field_error(
                file,
                &format!("{field}.{part}"),
                format!("{} values, the network has {width} inputs here", v.len()),
            ));
        }
    }
    check_finite(file, &format!("{field}.mean"), &s.mean)?;
    if let Some(i) = s.std.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(field_error(
            file,
            &format!("{field}.std[{i}]"),
            format!(
                "{} is not a valid standard deviation (must be finite and > 0)",
                s.std[i]
            ),
        ));
    }
    Ok(())
}

impl ModelFile {
    /// Reads and validates a model file; returns it with its network.
    ///
    /// # Errors
    ///
    /// An input [`Failure`] naming the file, and the line and column or the
    /// field of the first problem.
    pub fn load(path: &Path) -> Outcome<(Self, DynMlp)> {
        if format_of(path).as_deref() == Some(RNN_MODEL_FORMAT) {
            return Err(field_error(
                path,
                "format",
                format!(
                    "`{RNN_MODEL_FORMAT}` is a recurrent model; this command takes feed-forward models (`{MODEL_FORMAT}`)"
                ),
            ));
        }
        let m: ModelFile = read_json(path, "model")?;
        if m.format != MODEL_FORMAT {
            return Err(field_error(
                path,
                "format",
                format!(
                    "unknown model format `{}` (expected `{MODEL_FORMAT}`)",
                    m.format
                ),
            ));
        }
        let net = m.network(path)?;
        Ok((m, net))
    }

    /// Checks every count against the values present (before allocating
    /// anything from a count), every value for finiteness, and the fields
    /// against each other; then builds the network.
    ///
    /// # Errors
    ///
    /// An input [`Failure`] naming `file` and the field.
    pub fn network(&self, file: &Path) -> Outcome<DynMlp> {
        let err = |field: &str, msg: String| field_error(file, field, msg);
        self.settings.validate(file)?;
        if self.layers.is_empty() {
            return Err(err("layers", "no layers".into()));
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(err(
                "layers",
                format!("{} layers, at most {MAX_LAYERS}", self.layers.len()),
            ));
        }
        let mut sizes = vec![self.layers[0].inputs];
        for (l, layer) in self.layers.iter().enumerate() {
            let at = |f: &str| format!("layers[{l}].{f}");
            if layer.inputs != sizes[l] {
                return Err(err(
                    &at("inputs"),
                    format!(
                        "{} inputs, but the layer before has {} outputs",
                        layer.inputs, sizes[l]
                    ),
                ));
            }
            if layer.inputs == 0 || layer.outputs == 0 {
                return Err(err(
                    &at("outputs"),
                    "a layer needs at least 1 input and 1 output".into(),
                ));
            }
            let expected = layer.inputs.checked_mul(layer.outputs);
            if expected != Some(layer.weights.len()) {
                return Err(err(
                    &at("weights"),
                    format!(
                        "{} values, but {} outputs × {} inputs need {}",
                        layer.weights.len(),
                        layer.outputs,
                        layer.inputs,
                        expected.map_or("more than fit in memory".into(), |n| n.to_string())
                    ),
                ));
            }
            if layer.bias.len() != layer.outputs {
                return Err(err(
                    &at("bias"),
                    format!(
                        "{} values, but the layer has {} outputs",
                        layer.bias.len(),
                        layer.outputs
                    ),
                ));
            }
            check_finite(file, &at("weights"), &layer.weights)?;
            check_finite(file, &at("bias"), &layer.bias)?;
            sizes.push(layer.outputs);
        }
        let inputs = sizes[0];
        let outputs = sizes[sizes.len() - 1];
        if self.features.len() != inputs {
            return Err(err(
                "features",
                format!(
                    "{} names, but layers[0] has {inputs} inputs",
                    self.features.len()
                ),
            ));
        }
        for (i, f) in self.features.iter().enumerate() {
            if f.is_empty() || self.features[..i].contains(f) || *f == self.target {
                return Err(err(
                    &format!("features[{i}]"),
                    format!("`{f}` is empty, repeated or the target"),
                ));
            }
        }
        check_scaling(file, "feature_scaling", &self.feature_scaling, inputs)?;
        match self.settings.loss {
            LossArg::Mse => {
                let Some(ts) = &self.target_scaling else {
                    return Err(err("target_scaling", "missing (the loss is mse)".into()));
                };
                check_scaling(file, "target_scaling", ts, 1)?;
                if let Some(k) = self.classes {
                    return Err(err("classes", format!("{k}, but the loss is mse")));
                }
                if outputs != 1 {
                    return Err(err(
                        &format!("layers[{}].outputs", self.layers.len() - 1),
                        format!("{outputs}, but an mse model has 1 output"),
                    ));
                }
            }
            LossArg::Ce => {
                if self.target_scaling.is_some() {
                    return Err(err("target_scaling", "present, but the loss is ce".into()));
                }
                if self.classes != Some(outputs) || outputs < 2 {
                    return Err(err(
                        "classes",
                        format!(
                            "{}, but the network has {outputs} outputs (ce needs one per class, at least 2)",
                            self.classes.map_or("missing".into(), |k| k.to_string())
                        ),
                    ));
                }
            }
        }
        let hidden = &sizes[1..sizes.len() - 1];
        if self.settings.hidden != hidden {
            return Err(err(
                "settings.hidden",
                format!(
                    "{:?}, but the layers have hidden widths {hidden:?}",
                    self.settings.hidden
                ),
            ));
        }
        let acts: Vec<ActivationKind> = self.layers.iter().map(|l| l.activation.into()).collect();
        let mut net = DynMlp::zeroed(&sizes, &acts).map_err(|e| err("layers", e.to_string()))?;
        for (l, layer) in self.layers.iter().enumerate() {
            net.slice_mut(2 * l).copy_from_slice(&layer.weights);
            net.slice_mut(2 * l + 1).copy_from_slice(&layer.bias);
        }
        Ok(net)
    }
}

/// serde_json appends " at line L column C"; the position is printed first instead.
fn strip_position(s: &str) -> &str {
    s.find(" at line ").map_or(s, |i| &s[..i])
}

#[cfg(test)]
mod tests {
    use rand_core::{Rng, SeedableRng};

    #[test]
    fn serde_json_round_trips_every_f32_it_writes() {
        let mut rng = rand_xoshiro::Xoshiro128PlusPlus::seed_from_u64(31);
        let mut v: Vec<f32> = (0..200_000)
            .map(|_| f32::from_bits(rng.next_u32()))
            .filter(|x| x.is_finite())
            .collect();
        v.extend([
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            f32::MAX,
            -f32::MAX,
            1e-45,
            0.1,
            1.0 / 3.0,
        ]);
        let s = serde_json::to_string(&v).unwrap();
        let back: Vec<f32> = serde_json::from_str(&s).unwrap();
        for (a, b) in v.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a:e}");
        }
    }
}
