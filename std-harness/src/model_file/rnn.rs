//! The recurrent model file (`noisereg-rnn-model-1`).

use super::{Settings, check_finite, check_scaling, field_error, read_json};
use crate::dataset::Standardizer;
use crate::failure::Outcome;
use noisereg::Parameters;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format tag of recurrent model files.
pub const RNN_MODEL_FORMAT: &str = "noisereg-rnn-model-1";

/// What a recurrent run adds to [`Settings`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentSettings {
    /// `elman` or `gru`.
    pub arch: crate::cli::ArchArg,
    /// Window length T.
    pub seq_len: usize,
    /// Horizon H.
    pub horizon: usize,
    /// The series' transform.
    pub transform: crate::series::Transform,
    /// When weight noise was redrawn.
    pub noise_per: crate::cli::NoisePerArg,
}

/// One parameter slice of a recurrent model, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSlice {
    /// Name (`w_x`, `w_h`, `b`, …, see [`DynRnn::slice_names`](crate::dyn_rnn::DynRnn::slice_names)).
    pub name: String,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// A trained recurrent model: the cell, the windows it reads, the transform
/// and its statistics, settings and weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnModelFile {
    /// [`RNN_MODEL_FORMAT`].
    pub format: String,
    /// Input channels per step, the target first.
    pub channels: Vec<String>,
    /// Target column.
    pub target: String,
    /// Transform statistics of the training part.
    pub scaling: crate::series::SeriesScaling,
    /// Cell, window, transform, noise semantics.
    pub recurrent: RecurrentSettings,
    /// Training settings.
    pub settings: Settings,
    /// Parameters in the network's slice order.
    pub params: Vec<ParamSlice>,
}

/// The `format` field of a JSON model file (`None` if absent or unreadable;
/// the loader then reports the problem).
pub fn format_of(path: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct Tag {
        format: String,
    }
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Tag>(&text).ok().map(|t| t.format)
}

impl RnnModelFile {
    /// The model file of a trained recurrent network.
    pub fn of(
        s: &Settings,
        r: &RecurrentSettings,
        p: &crate::series::PreparedSeries,
        target: &str,
        net: &crate::dyn_rnn::DynRnn,
    ) -> Self {
        Self {
            format: RNN_MODEL_FORMAT.into(),
            channels: p.channels.clone(),
            target: target.trim().to_string(),
            scaling: p.scaling.clone(),
            recurrent: *r,
            settings: s.clone(),
            params: net
                .slice_names()
                .iter()
                .enumerate()
                .map(|(i, n)| ParamSlice {
                    name: (*n).to_string(),
                    values: net.slice(i).to_vec(),
                })
                .collect(),
        }
    }

    /// Reads and validates a recurrent model file; returns it with its network.
    ///
    /// # Errors
    ///
    /// An input [`Failure`](crate::failure::Failure) naming the file and the field of the first problem.
    pub fn load(path: &Path) -> Outcome<(Self, crate::dyn_rnn::DynRnn)> {
        let m: RnnModelFile = read_json(path, "recurrent model")?;
        if m.format != RNN_MODEL_FORMAT {
            return Err(field_error(
                path,
                "format",
                format!(
                    "unknown model format `{}` (expected `{RNN_MODEL_FORMAT}`)",
                    m.format
                ),
            ));
        }
        let net = m.network(path)?;
        Ok((m, net))
    }

    /// Checks the fields against each other and builds the network.
    ///
    /// # Errors
    ///
    /// An input [`Failure`](crate::failure::Failure) naming `file` and the field.
    pub fn network(&self, file: &Path) -> Outcome<crate::dyn_rnn::DynRnn> {
        let err = |field: &str, msg: String| field_error(file, field, msg);
        self.settings.validate(file)?;
        let r = &self.recurrent;
        if r.arch == crate::cli::ArchArg::Mlp {
            return Err(err(
                "recurrent.arch",
                "`mlp` is not recurrent (expected `elman` or `gru`)".into(),
            ));
        }
        if r.seq_len == 0 || r.seq_len > 4096 || r.horizon == 0 || r.horizon > 4096 {
            return Err(err(
                "recurrent",
                "seq_len and horizon must be in 1..=4096".into(),
            ));
        }
        let c = self.channels.len();
        if c == 0 {
            return Err(err("channels", "no channels".into()));
        }
        if self.channels[0] != self.target {
            return Err(err(
                "channels[0]",
                format!("`{}` is not the target `{}`", self.channels[0], self.target),
            ));
        }
        check_scaling(
            file,
            "scaling",
            &Standardizer {
                mean: self.scaling.mean.clone(),
                std: self.scaling.std.clone(),
            },
            c,
        )?;
        if self.settings.hidden.len() != 1
            || self.settings.hidden[0] == 0
            || self.settings.hidden[0] > 4096
        {
            return Err(err(
                "settings.hidden",
                "a recurrent model has one hidden width in 1..=4096".into(),
            ));
        }
        let mut net = crate::dyn_rnn::DynRnn::new(r.arch, c, self.settings.hidden[0], 1, r.seq_len)
            .map_err(|e| err("recurrent", e.to_string()))?;
        let names = net.slice_names();
        if self.params.len() != names.len() {
            return Err(err(
                "params",
                format!(
                    "{} slices, a {:?} cell has {}",
                    self.params.len(),
                    r.arch,
                    names.len()
                ),
            ));
        }
        for (i, (p, n)) in self.params.iter().zip(names).enumerate() {
            let field = format!("params[{i}]");
            if p.name != *n {
                return Err(err(
                    &format!("{field}.name"),
                    format!("`{}`, expected `{n}`", p.name),
                ));
            }
            let want = net.slice(i).len();
            if p.values.len() != want {
                return Err(err(
                    &format!("{field}.values"),
                    format!("{} values, expected {want}", p.values.len()),
                ));
            }
            check_finite(file, &format!("{field}.values"), &p.values)?;
            net.slice_mut(i).copy_from_slice(&p.values);
        }
        Ok(net)
    }
}
