//! CSV data sets: loading with precise errors, train/test split and
//! standardisation.

use crate::failure::{Failure, Outcome};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the target column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A real number (regression).
    Real,
    /// A class label: a non-negative integer.
    Class,
}

/// A table of features and one target, as read from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature column names in file order.
    pub features: Vec<String>,
    /// Target column name.
    pub target: String,
    /// Feature rows.
    pub x: Vec<Vec<f32>>,
    /// Target values (class labels as whole numbers).
    pub y: Vec<f32>,
}

impl Dataset {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.x.len()
    }

    /// The rows `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            features: self.features.clone(),
            target: self.target.clone(),
            x: idx.iter().map(|&i| self.x[i].clone()).collect(),
            y: idx.iter().map(|&i| self.y[i]).collect(),
        }
    }

    /// Number of classes (largest label + 1).
    pub fn classes(&self) -> usize {
        self.y.iter().fold(0.0f32, |m, &v| m.max(v)) as usize + 1
    }
}

/// Reads `path` with `target` as the target column.
///
/// # Errors
///
/// A one-line input [`Failure`] naming the file (and line and column where
/// there is one) for: a missing or unreadable file, no header, a missing
/// target column, a ragged row, an empty, non-numeric or non-finite cell, a
/// target that is not a class label when `kind` is [`TargetKind::Class`],
/// or fewer than 2 rows.
pub fn load_csv(path: &Path, target: &str, kind: TargetKind) -> Outcome<Dataset> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::input(format!("cannot read {name}: {}", io_reason(&e))))?;
    parse_csv(file, &name, target, kind)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}

/// Parses CSV text from `reader`; `name` is used in messages.
///
/// # Errors
///
/// As [`load_csv`].
pub fn parse_csv<R: std::io::Read>(
    reader: R,
    name: &str,
    target: &str,
    kind: TargetKind,
) -> Outcome<Dataset> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let csv_err = |e: csv::Error| {
        let at = e
            .position()
            .map(|p| format!("{name}:{}", p.line()))
            .unwrap_or_else(|| name.to_string());
        Failure::input(format!("{at}: malformed CSV: {e}"))
    };
    let header: Vec<String> = rdr
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(Failure::input(format!("{name}:1: no header row")));
    }
    let Some(t_col) = header.iter().position(|h| h == target) else {
        return Err(Failure::input(format!(
            "{name}:1: no column named `{target}` (columns: {})",
            header.join(", ")
        )));
    };
    let features: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != t_col)
        .map(|(_, h)| h.clone())
        .collect();
    if features.is_empty() {
        return Err(Failure::input(format!(
            "{name}:1: no feature columns besides the target `{target}`"
        )));
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() == 1 && rec.get(0).is_some_and(|c| c.trim().is_empty()) {
            continue; // a blank line
        }
        if rec.len() != header.len() {
            return Err(Failure::input(format!(
                "{name}:{line}: row has {} fields, the header has {}",
                rec.len(),
                header.len()
            )));
        }
        let mut row = Vec::with_capacity(features.len());
        let mut t = 0.0;
        for (j, cell) in rec.iter().enumerate() {
            let col = &header[j];
            let at = format!("{name}:{line}:{}: column `{col}`", j + 1);
            let cell = cell.trim();
            if cell.is_empty() {
                return Err(Failure::input(format!("{at}: empty cell")));
            }
            let v: f32 = cell
                .parse()
                .map_err(|_| Failure::input(format!("{at}: `{cell}` is not a number")))?;
            if !v.is_finite() {
                return Err(Failure::input(format!(
                    "{at}: `{cell}` is not a finite number"
                )));
            }
            if j == t_col {
                if kind == TargetKind::Class && (v < 0.0 || v.fract() != 0.0 || v > 1e6) {
                    return Err(Failure::input(format!(
                        "{at}: `{cell}` is not a class label (a whole number from 0)"
                    )));
                }
                t = v;
            } else {
                row.push(v);
            }
        }
        x.push(row);
        y.push(t);
    }
    if x.len() < 2 {
        return Err(Failure::input(format!(
            "{name}: needs at least 2 data rows, found {}",
            x.len()
        )));
    }
    Ok(Dataset {
        features,
        target: target.to_string(),
        x,
        y,
    })
}

/// Per-column mean and standard deviation, to map a value `v` to `(v − mean)/std`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Means.
    pub mean: Vec<f32>,
    /// Standard deviations (1 for a constant column).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Statistics of the columns of `rows` (computed in `f64`; population std).
    pub fn fit(rows: &[Vec<f32>]) -> Self {
        let d = rows.first().map_or(0, Vec::len);
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0f64; d];
        for r in rows {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += f64::from(*v);
            }
        }
        for m in &mut mean {
            *m /= n;
        }
        let mut var = vec![0.0f64; d];
        for r in rows {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                let e = f64::from(*v) - m;
                *s += e * e;
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 1e-12 { sd as f32 } else { 1.0 }
            })
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// Statistics of one column.
    pub fn fit_column(values: &[f32]) -> Self {
        let rows: Vec<Vec<f32>> = values.iter().map(|&v| vec![v]).collect();
        Self::fit(&rows)
    }

    /// `(v − mean)/std` for one row.
    pub fn apply(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }
}

/// A seeded permutation of `0..n` (Fisher–Yates with xoshiro128++).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Splits row indices into (train, test): a seeded shuffle, the last
/// `round(fraction·n)` rows (at least 1 when `fraction > 0`, leaving at least
/// 1 for training) go to the test set. Both lists are sorted.
pub fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let p = permutation(n, seed ^ 0x5eed_5eed);
    let mut n_test = (fraction * n as f64).round() as usize;
    if fraction > 0.0 {
        n_test = n_test.clamp(1, n.saturating_sub(1));
    }
    let (a, b) = p.split_at(n - n_test);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Outcome<Dataset> {
        parse_csv(text.as_bytes(), "d.csv", "y", TargetKind::Real)
    }

    #[test]
    fn parse_csv_reads_features_and_target_in_file_order() {
        let d = parse("a,y,b\n1,2,3\n4,5,6\n").unwrap();
        assert_eq!(d.features, ["a", "b"]);
        assert_eq!(d.x, vec![vec![1.0, 3.0], vec![4.0, 6.0]]);
        assert_eq!(d.y, [2.0, 5.0]);
    }

    #[test]
    fn parse_csv_names_line_and_column_of_bad_cells() {
        let e = parse("a,y\n1,2\n3,x\n").unwrap_err();
        assert_eq!(e.message, "d.csv:3:2: column `y`: `x` is not a number");
        let e = parse("a,y\n1,2\n,4\n").unwrap_err();
        assert_eq!(e.message, "d.csv:3:1: column `a`: empty cell");
        let e = parse("a,y\n1,2\nNaN,4\n").unwrap_err();
        assert!(e.message.starts_with("d.csv:3:1:"), "{}", e.message);
        let e = parse("a,y\n1,2\n1,2,3\n").unwrap_err();
        assert_eq!(e.message, "d.csv:3: row has 3 fields, the header has 2");
        let e = parse("a,y\n1,2\n").unwrap_err();
        assert!(e.message.contains("at least 2"));
        let e = parse("a,b\n1,2\n").unwrap_err();
        assert!(e.message.starts_with("d.csv:1: no column named `y`"));
        assert_eq!(e.code, 2);
        let e = parse_csv(
            "a,y\n1,2\n3,1.5\n".as_bytes(),
            "d.csv",
            "y",
            TargetKind::Class,
        );
        assert!(e.unwrap_err().message.starts_with("d.csv:3:2:"));
    }

    #[test]
    fn standardizer_gives_zero_mean_unit_variance() {
        let rows = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let s = Standardizer::fit(&rows);
        assert_eq!(s.mean, [2.0, 5.0]);
        assert_eq!(s.std, [1.0, 1.0]);
        assert_eq!(s.apply(&[3.0, 5.0]), [1.0, 0.0]);
    }

    #[test]
    fn split_is_a_partition_with_the_requested_test_size() {
        let (a, b) = split(10, 0.2, 1);
        assert_eq!((a.len(), b.len()), (8, 2));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(split(10, 0.0, 1).1.len(), 0);
    }
}
