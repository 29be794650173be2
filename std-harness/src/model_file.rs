//! The model file: architecture, weights, normalisation, settings and seed as JSON.

use crate::dataset::Standardizer;
use crate::dyn_mlp::DynMlp;
use crate::failure::{Failure, Outcome};
use noisereg::{ActivationKind, Parameters};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format tag written into every model file.
pub const MODEL_FORMAT: &str = "noisereg-model-1";

/// Every setting that determines a training run's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Hidden activation: tanh, sigmoid, relu or softplus.
    pub activation: String,
    /// mse or ce.
    pub loss: String,
    /// Weight-noise variance η (0: none).
    pub weight_noise: f32,
    /// weights or all.
    pub noise_on: String,
    /// additive, multiplicative or local-reparam.
    pub noise_kind: String,
    /// Input-noise standard deviation.
    pub input_noise: f32,
    /// Label-noise standard deviation.
    pub label_noise: f32,
    /// Label smoothing.
    pub label_smoothing: f32,
    /// Explicit penalty η (0: none).
    pub penalty: f32,
    /// sgd, momentum or adam.
    pub optimizer: String,
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

/// One dense layer's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerParams {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// Activation.
    pub activation: String,
    /// Weights, row-major (`outputs` rows of `inputs`).
    pub weights: Vec<f32>,
    /// Bias.
    pub bias: Vec<f32>,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// [`MODEL_FORMAT`].
    pub format: String,
    /// Feature columns, in order.
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

/// Parses an activation name.
pub fn activation_from_name(s: &str) -> Option<ActivationKind> {
    Some(match s {
        "identity" => ActivationKind::Identity,
        "tanh" => ActivationKind::Tanh,
        "sigmoid" => ActivationKind::Sigmoid,
        "relu" => ActivationKind::Relu,
        "softplus" => ActivationKind::Softplus,
        _ => return None,
    })
}

/// The name of an activation.
pub fn activation_name(a: ActivationKind) -> &'static str {
    match a {
        ActivationKind::Identity => "identity",
        ActivationKind::Tanh => "tanh",
        ActivationKind::Sigmoid => "sigmoid",
        ActivationKind::Relu => "relu",
        ActivationKind::Softplus => "softplus",
    }
}

/// The layers of `net` for a model file.
pub fn layers_of(net: &DynMlp) -> Vec<LayerParams> {
    (0..net.depth())
        .map(|l| LayerParams {
            inputs: net.sizes()[l],
            outputs: net.sizes()[l + 1],
            activation: activation_name(net.activations()[l]).into(),
            weights: net.slice(2 * l).to_vec(),
            bias: net.slice(2 * l + 1).to_vec(),
        })
        .collect()
}

impl ModelFile {
    /// Reads and validates a model file.
    ///
    /// # Errors
    ///
    /// An input [`Failure`] naming the file (and line and column for JSON
    /// syntax errors) if it is missing, not a model, or inconsistent.
    pub fn load(path: &Path) -> Outcome<Self> {
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
        let m: ModelFile = serde_json::from_str(&text).map_err(|e| {
            Failure::input(format!(
                "{name}:{}:{}: not a noisereg model: {}",
                e.line(),
                e.column(),
                strip_position(&e.to_string())
            ))
        })?;
        if m.format != MODEL_FORMAT {
            return Err(Failure::input(format!(
                "{name}: unknown model format `{}` (expected `{MODEL_FORMAT}`)",
                m.format
            )));
        }
        m.network()
            .map_err(|e| Failure::input(format!("{name}: inconsistent model: {e}")))?;
        Ok(m)
    }

    /// The network the file describes.
    ///
    /// # Errors
    ///
    /// A description of the first inconsistency.
    pub fn network(&self) -> Result<DynMlp, String> {
        let first = self.layers.first().ok_or("no layers")?;
        let mut sizes = vec![first.inputs];
        let mut acts = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.inputs != sizes[l] {
                return Err(format!(
                    "layer {l} has {} inputs, expected {}",
                    layer.inputs, sizes[l]
                ));
            }
            sizes.push(layer.outputs);
            acts.push(
                activation_from_name(&layer.activation).ok_or_else(|| {
                    format!("layer {l}: unknown activation `{}`", layer.activation)
                })?,
            );
        }
        let mut net = DynMlp::zeroed(&sizes, &acts).map_err(|e| e.to_string())?;
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.weights.len() != layer.inputs * layer.outputs
                || layer.bias.len() != layer.outputs
            {
                return Err(format!(
                    "layer {l}: parameter counts do not match its sizes"
                ));
            }
            if !layer
                .weights
                .iter()
                .chain(&layer.bias)
                .all(|v| v.is_finite())
            {
                return Err(format!("layer {l}: non-finite parameter"));
            }
            net.slice_mut(2 * l).copy_from_slice(&layer.weights);
            net.slice_mut(2 * l + 1).copy_from_slice(&layer.bias);
        }
        if self.feature_scaling.mean.len() != sizes[0] || self.feature_scaling.std.len() != sizes[0]
        {
            return Err("feature scaling does not match the input width".into());
        }
        if self.features.len() != sizes[0] {
            return Err("feature names do not match the input width".into());
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
