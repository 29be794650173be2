//! Time series for the recurrent models: loading a series from CSV, a
//! chronological train/test split, the transform (standardise or difference,
//! statistics from the training part only) and fixed-length windows.
//!
//! A window of length T ending at step t holds the transformed channels of
//! steps t−T+1..=t, time-major (`x[k·C + c]`, C channels, the target first);
//! its target is the transformed target at step t+H. Windows never straddle
//! the split: a test window's steps and target are all in the test part.

use crate::failure::{Failure, Outcome};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How a series is made stationary-ish before windowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    /// `(v − mean)/std` per channel.
    Standardize,
    /// First differences `v_t − v_{t−1}` within each part, then standardised.
    Difference,
}

/// A multichannel series read from a CSV file: the target column and the
/// chosen input columns, one row per step in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// File name for messages.
    pub name: String,
    /// Channel names: the target first, then the extra inputs.
    pub channels: Vec<String>,
    /// One row per step, `channels.len()` values each.
    pub values: Vec<Vec<f32>>,
    /// File line of each row.
    pub lines: Vec<usize>,
}

impl SeriesData {
    /// Number of steps.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True if there are no steps.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Reads `path`: the column `target` and the columns `inputs` (other columns
/// may hold anything, such as dates).
///
/// # Errors
///
/// An input [`Failure`] naming the file (and `FILE:LINE:COLUMN` of a bad
/// cell) for a missing file, a missing column, a ragged row, an empty,
/// non-numeric or non-finite cell, or fewer than 2 rows.
pub fn load_series(path: &Path, target: &str, inputs: &[String]) -> Outcome<SeriesData> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::input(format!(
            "cannot read {name}: {}",
            match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::IsADirectory => "is a folder, not a file".to_string(),
                _ => e.to_string(),
            }
        ))
    })?;
    parse_series(&bytes, &name, target, inputs)
}

/// Parses CSV bytes as [`load_series`] does; `name` is used in messages.
///
/// # Errors
///
/// As [`load_series`].
pub fn parse_series(
    bytes: &[u8],
    name: &str,
    target: &str,
    inputs: &[String],
) -> Outcome<SeriesData> {
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let target = target.trim();
    if target.is_empty() {
        return Err(Failure::input("--target: the column name is empty"));
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let read_err = |e: csv::Error| Failure::input(format!("{name}: cannot read: {e}"));
    let blank = |r: &csv::ByteRecord| r.len() == 1 && r[0].trim_ascii().is_empty();
    let line = |r: &csv::ByteRecord| r.position().map_or(1, |p| p.line() as usize);
    let mut records = rdr.byte_records();
    let header = loop {
        match records.next() {
            None => return Err(Failure::input(format!("{name}:1: no header row"))),
            Some(r) => {
                let r = r.map_err(read_err)?;
                if !blank(&r) {
                    break r;
                }
            }
        }
    };
    let header_line = line(&header);
    let cols: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let find = |c: &str, flag: &str| {
        cols.iter().position(|h| h == c.trim()).ok_or_else(|| {
            Failure::input(format!(
                "{name}:{header_line}: no column named `{}` for {flag} (columns: {})",
                c.trim(),
                cols.join(", ")
            ))
        })
    };
    let mut idx = vec![find(target, "--target")?];
    for c in inputs {
        let j = find(c, "--inputs")?;
        if idx.contains(&j) {
            return Err(Failure::input(format!(
                "--inputs: column `{}` is named twice or is the target",
                c.trim()
            )));
        }
        idx.push(j);
    }
    let (mut values, mut lines) = (Vec::new(), Vec::new());
    for rec in records {
        let rec = rec.map_err(read_err)?;
        if blank(&rec) {
            continue;
        }
        let l = line(&rec);
        if rec.len() != cols.len() {
            return Err(Failure::input(format!(
                "{name}:{l}: row has {} fields, the header has {}",
                rec.len(),
                cols.len()
            )));
        }
        let mut row = Vec::with_capacity(idx.len());
        for &j in &idx {
            let cell = String::from_utf8_lossy(&rec[j]);
            let cell = cell.trim();
            let fail = |what: String| {
                Failure::input(format!(
                    "{name}:{l}:{}: column `{}`: {what}",
                    j + 1,
                    cols[j]
                ))
            };
            if cell.is_empty() {
                return Err(fail("empty cell".into()));
            }
            let v: f32 = cell
                .parse()
                .map_err(|_| fail(format!("`{cell}` is not a number")))?;
            if !v.is_finite() {
                return Err(fail(format!("`{cell}` is not a finite number")));
            }
            row.push(v);
        }
        values.push(row);
        lines.push(l);
    }
    if values.len() < 2 {
        return Err(Failure::input(format!(
            "{name}: needs at least 2 data rows, found {}",
            values.len()
        )));
    }
    Ok(SeriesData {
        name: name.to_string(),
        channels: idx.iter().map(|&j| cols[j].clone()).collect(),
        values,
        lines,
    })
}

/// The transform and its statistics (from the training part), as model
/// files store them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesScaling {
    /// The transform.
    pub transform: Transform,
    /// Per-channel mean of the (differenced) training part.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (1 for a constant channel).
    pub std: Vec<f32>,
}

impl SeriesScaling {
    /// Statistics of the training rows `train` under `transform`.
    pub fn fit(train: &[Vec<f32>], transform: Transform) -> Self {
        let rows = match transform {
            Transform::Standardize => train.to_vec(),
            Transform::Difference => difference(train),
        };
        let s = crate::dataset::Standardizer::fit(&rows);
        Self {
            transform,
            mean: s.mean,
            std: s.std,
        }
    }

    /// The transformed, standardised rows of one part (one fewer with
    /// [`Transform::Difference`]).
    pub fn apply(&self, part: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let rows = match self.transform {
            Transform::Standardize => part.to_vec(),
            Transform::Difference => difference(part),
        };
        rows.iter()
            .map(|r| {
                r.iter()
                    .zip(self.mean.iter().zip(&self.std))
                    .map(|(v, (m, s))| (v - m) / s)
                    .collect()
            })
            .collect()
    }

    /// Rows a part loses to the transform.
    pub fn lost(&self) -> usize {
        match self.transform {
            Transform::Standardize => 0,
            Transform::Difference => 1,
        }
    }
}

fn difference(rows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    rows.windows(2)
        .map(|w| w[1].iter().zip(&w[0]).map(|(b, a)| b - a).collect())
        .collect()
}

/// One window: inputs (T steps × C channels, time-major) and the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// `x[k·C + c]`: channel c at step k of the window.
    pub x: Vec<f32>,
    /// The transformed target H steps after the window's last step.
    pub target: f32,
    /// Row (from 0, in the file's data rows) of the window's first step.
    pub first_row: usize,
    /// Row of the target.
    pub target_row: usize,
}

/// Window length and horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Steps per window (T ≥ 1).
    pub seq_len: usize,
    /// Steps ahead of the last input the target is (H ≥ 1).
    pub horizon: usize,
}

/// Rows in the test part for `n` rows: `round(fraction·n)`, at least 1 when
/// `fraction > 0` and at least 1 row left for training.
pub fn test_rows(n: usize, fraction: f64) -> usize {
    let mut k = (fraction * n as f64).round() as usize;
    if fraction > 0.0 {
        k = k.clamp(1, n.saturating_sub(1));
    }
    k
}

/// The windows of one part whose rows start at `offset` in the file.
/// `rows` are the part's transformed rows (`lost` rows shorter than the part).
pub fn windows(rows: &[Vec<f32>], spec: WindowSpec, offset: usize, lost: usize) -> Vec<Window> {
    let (t, h) = (spec.seq_len, spec.horizon);
    if t == 0 || h == 0 || rows.len() < t + h {
        return Vec::new();
    }
    (0..=rows.len() - t - h)
        .map(|s| Window {
            x: rows[s..s + t].iter().flatten().copied().collect(),
            target: rows[s + t - 1 + h][0],
            first_row: offset + lost + s,
            target_row: offset + lost + s + t - 1 + h,
        })
        .collect()
}

/// A series split chronologically and windowed.
#[derive(Debug, Clone)]
pub struct PreparedSeries {
    /// Channel names (target first).
    pub channels: Vec<String>,
    /// The transform's statistics (training part).
    pub scaling: SeriesScaling,
    /// Window length and horizon.
    pub spec: WindowSpec,
    /// Training windows, in time order.
    pub train: Vec<Window>,
    /// Test windows, in time order (empty with no test part).
    pub test: Vec<Window>,
    /// Rows `0..split` are the training part, `split..` the test part.
    pub split: usize,
    /// All rows.
    pub rows: usize,
}

/// Splits `d` chronologically (the last `test_rows(n, fraction)` rows are the
/// test part), fits the transform on the training part and windows both.
///
/// # Errors
///
/// As [`window_series`].
pub fn prepare_series(
    d: &SeriesData,
    spec: WindowSpec,
    transform: Transform,
    fraction: f64,
) -> Outcome<PreparedSeries> {
    let split = d.len() - test_rows(d.len(), fraction);
    let scaling = SeriesScaling::fit(&d.values[..split], transform);
    window_series(d, spec, scaling, fraction)
}

/// Splits `d` chronologically as [`prepare_series`] does and windows both
/// parts with the given statistics (a model file's).
///
/// # Errors
///
/// An input [`Failure`] when the training part has no window (`--seq-len`
/// too long for the series), the test part is non-empty but too short for
/// one window, or a value overflows `f32` once standardised.
pub fn window_series(
    d: &SeriesData,
    spec: WindowSpec,
    scaling: SeriesScaling,
    fraction: f64,
) -> Outcome<PreparedSeries> {
    let n = d.len();
    let split = n - test_rows(n, fraction);
    let lost = scaling.lost();
    let need = spec.seq_len + spec.horizon + lost;
    let extra = if lost > 0 {
        " (+1 for --transform difference)"
    } else {
        ""
    };
    if split < need {
        return Err(Failure::input(format!(
            "--seq-len {} with --horizon {}: a window needs {need} rows{extra}, but the training part of {} has {split} (of {n} rows); use a shorter --seq-len or a smaller --test-fraction",
            spec.seq_len, spec.horizon, d.name
        )));
    }
    if split < n && n - split < need {
        return Err(Failure::input(format!(
            "--seq-len {} with --horizon {}: a window needs {need} rows{extra}, but the test part of {} has {} (the last of {n} rows; windows never cross the split); use a shorter --seq-len or a larger --test-fraction",
            spec.seq_len,
            spec.horizon,
            d.name,
            n - split
        )));
    }
    let tr = scaling.apply(&d.values[..split]);
    let te = scaling.apply(&d.values[split..]);
    for (part, off) in [(&tr, 0), (&te, split)] {
        for (i, r) in part.iter().enumerate() {
            if let Some(c) = r.iter().position(|v| !v.is_finite()) {
                return Err(Failure::input(format!(
                    "{}:{}: column `{}`: too far from the training part's mean to standardise in f32; rescale the column",
                    d.name,
                    d.lines[off + lost + i],
                    d.channels[c]
                )));
            }
        }
    }
    Ok(PreparedSeries {
        channels: d.channels.clone(),
        train: windows(&tr, spec, 0, lost),
        test: windows(&te, spec, split, lost),
        scaling,
        spec,
        split,
        rows: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> SeriesData {
        let csv: String = std::iter::once("month,v,w\n".to_string())
            .chain((0..n).map(|i| format!("m{i},{},{}\n", i * i, 100 - i)))
            .collect();
        parse_series(csv.as_bytes(), "s.csv", "v", &["w".into()]).unwrap()
    }

    #[test]
    fn split_is_chronological_and_windows_stay_in_their_part() {
        let d = series(40);
        for tf in [Transform::Standardize, Transform::Difference] {
            let spec = WindowSpec {
                seq_len: 5,
                horizon: 2,
            };
            let p = prepare_series(&d, spec, tf, 0.25).unwrap();
            assert_eq!(p.split, 30);
            let lost = p.scaling.lost();
            assert_eq!(p.train.len(), 30 - lost - 6);
            assert_eq!(p.test.len(), 10 - lost - 6);
            assert!(p.train.iter().all(|w| w.target_row < 30));
            // A difference at the first test row would use the last training row.
            assert!(p.test.iter().all(|w| w.first_row >= 30 + lost));
            assert_eq!(p.test.last().unwrap().target_row, 39);
            // Training statistics only: the mean of the training part's (differenced) target.
            let v: Vec<f64> = (0..30).map(|i| (i * i) as f64).collect();
            let m = match tf {
                Transform::Standardize => v.iter().sum::<f64>() / 30.0,
                Transform::Difference => (v[29] - v[0]) / 29.0,
            };
            assert!((f64::from(p.scaling.mean[0]) - m).abs() < 1e-3 * m, "{m}");
        }
    }

    #[test]
    fn windows_hold_the_right_steps() {
        let d = series(12);
        let spec = WindowSpec {
            seq_len: 3,
            horizon: 1,
        };
        let p = prepare_series(&d, spec, Transform::Difference, 0.0).unwrap();
        let (m, s) = (p.scaling.mean[0], p.scaling.std[0]);
        let w = &p.train[2];
        // Rows 3..=5 of the differenced series; difference of v = i² at i is 2i − 1.
        assert_eq!(w.first_row, 3);
        assert_eq!(w.x.len(), 6);
        assert_eq!(w.x[0], (5.0 - m) / s);
        assert_eq!(w.x[4], (9.0 - m) / s);
        assert_eq!(w.target, (11.0 - m) / s);
        assert_eq!(w.x[1], (-1.0 - p.scaling.mean[1]) / p.scaling.std[1]);
    }

    #[test]
    fn too_long_windows_are_refused_with_the_flag() {
        let d = series(20);
        let spec = WindowSpec {
            seq_len: 19,
            horizon: 1,
        };
        let e = prepare_series(&d, spec, Transform::Standardize, 0.2).unwrap_err();
        assert!(e.to_string().contains("--seq-len 19"), "{e}");
        let spec = WindowSpec {
            seq_len: 4,
            horizon: 1,
        };
        let e = prepare_series(&d, spec, Transform::Standardize, 0.2).unwrap_err();
        assert!(e.to_string().contains("test part"), "{e}");
    }

    #[test]
    fn bad_cells_name_file_line_and_column() {
        let e = parse_series(b"m,v\na,1\nb,x\n", "f.csv", "v", &[]).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.to_string().starts_with("f.csv:3:2: column `v`"), "{e}");
        let e = parse_series(b"m,v\na,1\nb,2\n", "f.csv", "q", &[]).unwrap_err();
        assert!(e.to_string().contains("no column named `q`"), "{e}");
    }
}
