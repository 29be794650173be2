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

/// Largest class label accepted while reading (f32 holds it exactly);
/// `--max-classes` bounds the class count further.
const MAX_LABEL: f64 = 16_777_215.0;

/// Reads `path` with `target` as the target column.
///
/// # Errors
///
/// A one-line input [`Failure`] naming the file (and line and column where
/// there is one) for: a missing or unreadable file, a file that is not
/// UTF-8, no header, an empty or duplicated column name, a missing target
/// column, a ragged row, an empty, non-numeric or non-finite cell, a target
/// that is not a class label when `kind` is [`TargetKind::Class`], or fewer
/// than 2 rows.
pub fn load_csv(path: &Path, target: &str, kind: TargetKind) -> Outcome<Dataset> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::input(format!("cannot read {name}: {}", io_reason(&e))))?;
    parse_csv(file, &name, target, kind)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::IsADirectory => "is a folder, not a file".into(),
        _ => {
            let s = e.to_string();
            s.find(" (os error")
                .map_or(s.clone(), |i| s[..i].to_string())
        }
    }
}

/// Byte offsets where lines start; `\n`, `\r\n` and a lone `\r` end a line
/// (as for the csv reader).
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &[u8]) -> Self {
        let mut starts = vec![0];
        for (i, &b) in text.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && text.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        Self(starts)
    }

    /// Line number (from 1) of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&s| s <= offset)
    }
}

/// Byte offset of field `field` (from 0) of the record starting at `start`:
/// commas outside quotes separate fields, `""` inside quotes is a quote.
/// The csv reader's record start can be the `\n` of the previous line's
/// `\r\n` (no record begins with a line end, so such bytes are skipped).
fn field_offset(text: &[u8], start: usize, field: usize) -> usize {
    let mut i = start;
    while i < text.len() && matches!(text[i], b'\r' | b'\n') {
        i += 1;
    }
    let (mut f, mut quoted, mut at_start) = (0, false, true);
    while f < field && i < text.len() {
        let b = text[i];
        if quoted {
            if b == b'"' {
                if text.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = false;
                }
            }
            at_start = false;
        } else if b == b'"' && at_start {
            quoted = true;
            at_start = false;
        } else if b == b',' {
            f += 1;
            at_start = true;
        } else {
            at_start = false;
        }
        i += 1;
    }
    i
}

/// Parses CSV text from `reader`; `name` is used in messages.
///
/// # Errors
///
/// As [`load_csv`].
pub fn parse_csv<R: std::io::Read>(
    mut reader: R,
    name: &str,
    target: &str,
    kind: TargetKind,
) -> Outcome<Dataset> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::input(format!("cannot read {name}: {}", io_reason(&e))))?;
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(Failure::input(format!(
            "{name}:1:1: the file is UTF-16; save it as UTF-8"
        )));
    }
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    parse_text(text, name, target, kind)
}

fn parse_text(text: &[u8], name: &str, target: &str, kind: TargetKind) -> Outcome<Dataset> {
    // Column names are compared without surrounding blanks.
    let target = target.trim();
    if target.is_empty() {
        return Err(Failure::input("--target: the column name is empty"));
    }
    let lines = Lines::new(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let read_err = |e: csv::Error| Failure::input(format!("{name}: cannot read: {e}"));
    let is_blank = |r: &csv::ByteRecord| r.len() == 1 && r[0].trim_ascii().is_empty();
    let mut records = rdr.byte_records();
    let header_rec = loop {
        match records.next() {
            None => return Err(Failure::input(format!("{name}:1: no header row"))),
            Some(r) => {
                let r = r.map_err(read_err)?;
                if !is_blank(&r) {
                    break r;
                }
            }
        }
    };
    // The line of field `j` (from 0) of `rec`, and `name:LINE:COLUMN`.
    let line_at = |rec: &csv::ByteRecord, j: usize| {
        let start = rec.position().map_or(0, |p| p.byte() as usize);
        lines.line_of(field_offset(text, start, j))
    };
    let cell_at = |rec: &csv::ByteRecord, j: usize| format!("{name}:{}:{}", line_at(rec, j), j + 1);
    let mut header = Vec::with_capacity(header_rec.len());
    for (j, h) in header_rec.iter().enumerate() {
        let h = std::str::from_utf8(h).map_err(|_| {
            Failure::input(format!(
                "{}: column name is not UTF-8 text; save the file as UTF-8",
                cell_at(&header_rec, j)
            ))
        })?;
        header.push(h.trim().to_string());
    }
    let header_line = line_at(&header_rec, 0);
    check_header(&header, name, header_line, |j| cell_at(&header_rec, j))?;
    let Some(t_col) = header.iter().position(|h| h == target) else {
        return Err(Failure::input(format!(
            "{name}:{header_line}: no column named `{target}` (columns: {}){}",
            list_columns(&header),
            separator_hint(&header)
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
            "{name}: no feature columns besides the target `{target}`"
        )));
    }
    let (mut x, mut y, mut row_lines) = (Vec::new(), Vec::new(), Vec::new());
    for rec in records {
        let rec = rec.map_err(read_err)?;
        if is_blank(&rec) {
            continue;
        }
        if rec.len() != header.len() {
            return Err(Failure::input(format!(
                "{name}:{}: row has {} fields, the header has {}",
                line_at(&rec, 0),
                rec.len(),
                header.len()
            )));
        }
        let mut row = Vec::with_capacity(features.len());
        let mut t = 0.0;
        for (j, cell) in rec.iter().enumerate() {
            // The location is built only on error: it costs a scan of the row.
            let fail = |what: String| {
                Failure::input(format!(
                    "{}: column `{}`: {what}",
                    cell_at(&rec, j),
                    header[j]
                ))
            };
            let label = j == t_col && kind == TargetKind::Class;
            let v = cell_value(cell, label).map_err(fail)?;
            if j == t_col {
                t = v;
                row_lines.push(line_at(&rec, j));
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
        lines: row_lines,
        target_column: t_col + 1,
    })
}

/// The number in `cell`; `label`: a class label (a whole number from 0).
fn cell_value(cell: &[u8], label: bool) -> Result<f32, String> {
    let cell = std::str::from_utf8(cell)
        .map_err(|_| "not UTF-8 text; save the file as UTF-8".to_string())?
        .trim();
    if cell.is_empty() {
        return Err("empty cell".into());
    }
    let v: f32 = cell
        .parse()
        .map_err(|_| format!("`{cell}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{cell}` is not a finite number"));
    }
    let exact = cell.parse::<f64>().unwrap_or(f64::NAN);
    if label && !(exact >= 0.0 && exact.fract() == 0.0 && exact <= MAX_LABEL) {
        return Err(format!(
            "`{cell}` is not a class label (a whole number from 0)"
        ));
    }
    Ok(v)
}

/// The column names for a message: the first 20, then how many more.
fn list_columns(header: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut s = header[..header.len().min(SHOWN)].join(", ");
    if header.len() > SHOWN {
        s.push_str(&format!(", … {} more", header.len() - SHOWN));
    }
    s
}

/// A hint when a one-column header looks separated by `;` or tabs.
fn separator_hint(header: &[String]) -> &'static str {
    match header {
        [one] if one.contains(';') => {
            "; the file seems to use `;` between fields, noisereg reads comma-separated files"
        }
        [one] if one.contains('\t') => {
            "; the file seems to use tabs between fields, noisereg reads comma-separated files"
        }
        _ => "",
    }
}

/// Rejects empty and repeated column names of the header on `line`;
/// `at(j)` is `FILE:LINE:COLUMN` of column `j` (from 0).
fn check_header(
    header: &[String],
    name: &str,
    line: usize,
    at: impl Fn(usize) -> String,
) -> Outcome {
    if header.iter().all(String::is_empty) {
        return Err(Failure::input(format!("{name}:{line}: no header row")));
    }
    if let Some(j) = header.iter().position(String::is_empty) {
        return Err(Failure::input(format!(
            "{}: column {} has no name",
            at(j),
            j + 1
        )));
    }
    let mut seen = std::collections::HashMap::with_capacity(header.len());
    for (j, h) in header.iter().enumerate() {
        if let Some(&first) = seen.get(h.as_str()) {
            return Err(Failure::input(format!(
                "{}: column name `{h}` is used twice (columns {} and {})",
                at(j),
                first + 1,
                j + 1
            )));
        }
        seen.insert(h.as_str(), j);
    }
    Ok(())
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
    fn locations_are_right_for_crlf_bom_quotes_and_blank_lines() {
        let at = |text: &str| parse(text).unwrap_err().message;
        let bad = "d.csv:4:2: column `y`: `x` is not a number";
        assert_eq!(at("a,y\n1,2\n3,4\n5,x\n"), bad);
        assert_eq!(at("a,y\r\n1,2\r\n3,4\r\n5,x\r\n"), bad);
        assert_eq!(
            at("a,y\r\n1,2\r\n3,4\r\nx,5\r\n"),
            "d.csv:4:1: column `a`: `x` is not a number"
        );
        assert_eq!(
            at("a,y\r\n1,2\r\n3,4\r\n5\r\n"),
            "d.csv:4: row has 1 fields, the header has 2"
        );
        assert_eq!(at("\u{feff}a,y\r\n1,2\r\n3,4\r\n5,x\r\n"), bad);
        assert_eq!(at("a,y\r1,2\r3,4\r5,x\r"), bad);
        assert_eq!(at("a,y\n\n1,2\n5,x\n"), bad);
        assert_eq!(at("a,y\r\n\r\n1,2\r\n5,x\r\n"), bad);
        assert_eq!(
            at("a,y\n1,\"2\"\n\"5\",\"x\"\n"),
            "d.csv:3:2: column `y`: `x` is not a number"
        );
        // A quoted field spanning lines: the next field starts a line later.
        assert_eq!(at("a,y\n1,2\n\" 3\n\",x\n"), bad);
        assert_eq!(at("a,y\r\n1,2\r\n\" 3\r\n\",x\r\n"), bad);
        assert_eq!(at("\"a\ny\",y\n1,2\n5,x\n"), bad);
    }

    #[test]
    fn field_offsets_follow_quotes() {
        let t = b"\"a,\"\"b\",c,\"d\nx\",e";
        assert_eq!(field_offset(t, 0, 1), 8);
        assert_eq!(field_offset(t, 0, 3), t.len() - 1);
    }

    #[test]
    fn header_names_must_be_unique_and_non_empty() {
        let e = parse("a,y,y\n1,2,3\n4,5,6\n").unwrap_err();
        assert_eq!(
            e.message,
            "d.csv:1:3: column name `y` is used twice (columns 2 and 3)"
        );
        let e = parse("a, y ,b,y\n1,2,3,4\n").unwrap_err();
        assert!(
            e.message.starts_with("d.csv:1:4: column name `y`"),
            "{}",
            e.message
        );
        let e = parse("a,,y\n1,2,3\n4,5,6\n").unwrap_err();
        assert_eq!(e.message, "d.csv:1:2: column 2 has no name");
        let e = parse("\r\n\r\na,y,\r\n1,2,3\r\n").unwrap_err();
        assert_eq!(e.message, "d.csv:3:3: column 3 has no name");
    }

    #[test]
    fn class_checks_name_the_offending_label() {
        let d = parse_csv(
            "a,y\n1,1\n2,2\n3,1\n".as_bytes(),
            "c.csv",
            "y",
            TargetKind::Class,
        )
        .unwrap();
        let e = d.check_classes("c.csv", &[0, 1, 2], 1000).unwrap_err();
        assert!(
            e.message.starts_with(
                "c.csv:3:2: column `y`: label `2` implies classes 0..2, but no row has class 0"
            ),
            "{}",
            e.message
        );
        let e = d.check_classes("c.csv", &[0, 1, 2], 2).unwrap_err();
        assert!(
            e.message
                .starts_with("c.csv:3:2: column `y`: label `2` would make 3 classes"),
            "{}",
            e.message
        );
        let d = parse_csv(
            "a,y\n1,0\n2,1\n".as_bytes(),
            "c.csv",
            "y",
            TargetKind::Class,
        )
        .unwrap();
        assert_eq!(d.check_classes("c.csv", &[0, 1], 2), Ok(2));
        let e = d.check_classes("c.csv", &[0], 2).unwrap_err();
        assert!(
            e.message
                .starts_with("c.csv:3:2: column `y`: class 1 is only in the test split"),
            "{}",
            e.message
        );
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
