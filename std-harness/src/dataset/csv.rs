//! Reading a CSV data set: every error names the file, line and column.

use super::{Dataset, TargetKind};
use crate::failure::{Failure, Outcome};
use std::path::Path;

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
pub(super) fn field_offset(text: &[u8], start: usize, field: usize) -> usize {
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
