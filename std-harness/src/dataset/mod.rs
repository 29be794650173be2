//! CSV data sets: loading with precise errors, train/test split and
//! standardisation.

use crate::failure::{Failure, Outcome};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use serde::{Deserialize, Serialize};

mod csv;
#[cfg(test)]
mod tests;

pub use csv::{load_csv, parse_csv};

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
    /// File line of each row's target cell (for messages).
    pub lines: Vec<usize>,
    /// Column of the target, from 1 (for messages).
    pub target_column: usize,
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
            lines: idx.iter().map(|&i| self.lines[i]).collect(),
            target_column: self.target_column,
        }
    }

    /// Number of classes (largest label + 1).
    pub fn classes(&self) -> usize {
        self.y.iter().fold(0.0f32, |m, &v| m.max(v)) as usize + 1
    }

    /// The error for row `i`'s value of feature `feature` (the target if
    /// `None`) that overflows `f32` when standardised; located at the row's
    /// line (of its target cell).
    pub fn too_large(&self, name: &str, i: usize, feature: Option<usize>) -> Failure {
        let (column, col_name, value) = match feature {
            Some(j) if j + 1 < self.target_column => (j + 1, &self.features[j], self.x[i][j]),
            Some(j) => (j + 2, &self.features[j], self.x[i][j]),
            None => (self.target_column, &self.target, self.y[i]),
        };
        Failure::input(format!(
            "{name}:{}:{column}: column `{col_name}`: `{value:e}` is too far from the column's mean to standardise in f32; rescale the column",
            self.lines[i]
        ))
    }

    /// `name:LINE:COLUMN: column `target`` of row `i`'s label.
    fn label_at(&self, name: &str, i: usize) -> String {
        format!(
            "{name}:{}:{}: column `{}`",
            self.lines[i], self.target_column, self.target
        )
    }

    /// Checks class labels for `--loss ce` and returns the class count K:
    /// labels are 0..K−1, K is at most `max_classes`, and every class has a
    /// row among `train` (the training split's row indices).
    ///
    /// # Errors
    ///
    /// An input [`Failure`] naming the file, line and column of an
    /// offending label.
    pub fn check_classes(&self, name: &str, train: &[usize], max_classes: usize) -> Outcome<usize> {
        let k = self.classes();
        if k > max_classes {
            let i = self
                .y
                .iter()
                .position(|&v| v as usize >= max_classes)
                .unwrap_or(0);
            return Err(Failure::input(format!(
                "{}: label `{}` would make {k} classes; more than {max_classes} need --max-classes",
                self.label_at(name, i),
                self.y[i]
            )));
        }
        let mut in_train = vec![false; k];
        for &i in train {
            in_train[self.y[i] as usize] = true;
        }
        let Some(missing) = in_train.iter().position(|&seen| !seen) else {
            if k < 2 {
                return Err(Failure::input(format!(
                    "{name}: column `{}` has one class only; ce needs at least 2",
                    self.target
                )));
            }
            return Ok(k);
        };
        let has = |i: &usize| self.y[*i] as usize == missing;
        if let Some(i) = (0..self.rows()).find(has) {
            return Err(Failure::input(format!(
                "{}: class {missing} is only in the test split; every class must have \
                 training rows (more rows or a smaller --test-fraction)",
                self.label_at(name, i)
            )));
        }
        let top = (0..self.rows())
            .find(|&i| self.y[i] as usize == k - 1)
            .unwrap_or(0);
        Err(Failure::input(format!(
            "{}: label `{}` implies classes 0..{}, but no row has class {missing}; \
             labels must be 0..K−1 with every class present",
            self.label_at(name, top),
            k - 1,
            k - 1
        )))
    }
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
