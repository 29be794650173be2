//! Writing a file so that it is either complete or absent: a temporary file
//! in the same folder, flushed to disk, then renamed over the target.

use crate::failure::{Failure, Outcome};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically (temporary file + fsync + rename).
///
/// # Errors
///
/// A runtime [`Failure`] naming `path` if any step fails; the temporary file
/// is removed then and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Outcome {
    let fail =
        |e: std::io::Error| Failure::runtime(format!("cannot write {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

/// Serialises `value` as pretty JSON (with a final newline) and writes it atomically.
///
/// # Errors
///
/// As [`write_atomic`].
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Outcome {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::runtime(format!("cannot encode {}: {e}", path.display())))?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("no/such/dir.json"), b"x").is_err());
    }
}
