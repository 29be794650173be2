//! Writing output files so that a run writes all of them or none: each
//! regular file goes to a temporary file in its folder, flushed to disk, and
//! the temporaries are renamed over their targets only once all are written.
//!
//! Nothing but a regular file is ever replaced: a symlink's target is written
//! (not the link), and an existing device or FIFO is written in place.
//! Temporary files are named `.NAME.noisereg-tmp-PID`, so a later run of the
//! same output removes the ones a killed run left behind.

use crate::failure::{Failure, Outcome};
use std::ffi::OsString;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Symlinks followed before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;
/// Marker between the output's name and the PID in temporary file names.
const TMP_MARK: &str = ".noisereg-tmp-";

/// Where an output's bytes go once symlinks are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A regular file (existing or not): temporary file + rename in `dir`.
    Replace {
        /// Folder of the file.
        dir: PathBuf,
        /// File name.
        name: OsString,
    },
    /// An existing device node or FIFO: opened for writing, never replaced.
    InPlace(PathBuf),
}

impl Destination {
    /// Whether the destination is a device or FIFO (written in place).
    pub fn is_special(&self) -> bool {
        matches!(self, Self::InPlace(_))
    }

    fn path(&self) -> PathBuf {
        match self {
            Self::Replace { dir, name } => dir.join(name),
            Self::InPlace(p) => p.clone(),
        }
    }
}

/// Errors caused by the path the user gave exit 2; others (disk full, I/O
/// errors) are failures while running.
fn io_failure(what: &str, e: &std::io::Error) -> Failure {
    let msg = format!("{what}: {}", reason(e));
    match e.kind() {
        ErrorKind::NotFound
        | ErrorKind::PermissionDenied
        | ErrorKind::ReadOnlyFilesystem
        | ErrorKind::IsADirectory
        | ErrorKind::NotADirectory
        | ErrorKind::InvalidFilename
        | ErrorKind::AlreadyExists => Failure::input(msg),
        _ => Failure::runtime(msg),
    }
}

/// A path the user gave cannot be inspected (a loop, a file used as a
/// folder, no permission): always the user's input.
fn path_failure(what: &str, e: &std::io::Error) -> Failure {
    Failure::input(format!("{what}: {}", reason(e)))
}

/// The OS message without its ` (os error N)` tail.
fn reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Resolves the output `path` (named `what` in messages): follows symlinks
/// (also dangling ones) and checks that the result can be written: not a
/// folder, in an existing folder.
///
/// # Errors
///
/// An input [`Failure`] naming `what` and `path`.
pub fn resolve(what: &str, path: &Path) -> Outcome<Destination> {
    let label = format!("{what} {}", path.display());
    // A device, FIFO or pipe, also behind a link the walk below cannot
    // follow (`/dev/stdout` → `/proc/self/fd/1` → `pipe:[…]`).
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_file()
        && !m.is_dir()
    {
        return Ok(Destination::InPlace(path.to_path_buf()));
    }
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = std::fs::read_link(&p).map_err(|e| path_failure(&label, &e))?;
                p = match p.parent() {
                    Some(d) if t.is_relative() => d.join(t),
                    _ => t,
                };
            }
            Ok(m) if m.is_dir() => {
                return Err(Failure::input(format!("{label}: is a folder, not a file")));
            }
            Ok(m) if m.is_file() => return replace(&label, &p),
            Ok(_) => return Ok(Destination::InPlace(p)),
            Err(e) if e.kind() == ErrorKind::NotFound => return replace(&label, &p),
            Err(e) => return Err(path_failure(&label, &e)),
        }
    }
    Err(Failure::input(format!(
        "{label}: too many levels of symbolic links"
    )))
}

/// A regular file at `p` (existing or not): its folder must exist.
fn replace(label: &str, p: &Path) -> Outcome<Destination> {
    let Some(name) = p.file_name() else {
        return Err(Failure::input(format!("{label}: not a file name")));
    };
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Failure::input(format!(
                "{label}: {} is not a folder",
                dir.display()
            )));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Failure::input(format!(
                "{label}: folder {} does not exist",
                dir.display()
            )));
        }
        Err(e) => return Err(path_failure(label, &e)),
    }
    Ok(Destination::Replace {
        dir,
        name: name.to_os_string(),
    })
}

/// The name of this process's temporary file for `name`.
fn tmp_name(name: &std::ffi::OsStr) -> OsString {
    let mut t = OsString::from(".");
    t.push(tmp_stem(name));
    t.push(format!("{TMP_MARK}{}", std::process::id()));
    t
}

/// The output's name as used in temporary names: cut to 200 bytes, so that
/// the temporary name of a long (≤ 255 bytes) file name is still valid.
fn tmp_stem(name: &std::ffi::OsStr) -> OsString {
    const KEEP: usize = 200;
    if name.len() <= KEEP {
        return name.to_os_string();
    }
    let s = name.to_string_lossy();
    let mut end = KEEP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    OsString::from(&s[..end])
}

/// Whether process `pid` is running; without `/proc`, every other process
/// counts as gone (its temporary file is then removed).
fn alive(pid: u32) -> bool {
    pid == std::process::id()
        || (Path::new("/proc/self").exists() && Path::new("/proc").join(pid.to_string()).exists())
}

/// Removes temporary files of the output `name` in `dir` left by processes
/// that are gone (also `.NAME.tmp-PID`, the names of earlier versions).
pub fn remove_stale_temps(dir: &Path, name: &std::ffi::OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let stem = tmp_stem(name);
    let name = stem.to_string_lossy();
    let prefixes = [format!(".{name}{TMP_MARK}"), format!(".{name}.tmp-")];
    for e in entries.flatten() {
        let file = e.file_name();
        let file = file.to_string_lossy();
        let pid = prefixes
            .iter()
            .find_map(|p| file.strip_prefix(p.as_str()))
            .and_then(|rest| rest.parse::<u32>().ok());
        if let Some(pid) = pid
            && !alive(pid)
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// What identifies a file: device and inode when it exists (so hard links
/// and symlinks compare equal), else the canonical folder plus the name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    if let Ok(m) = std::fs::metadata(path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            return Some(Identity::Inode(m.dev(), m.ino()));
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            return std::fs::canonicalize(path).ok().map(Identity::Path);
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let canon = std::fs::canonicalize(dir).ok()?;
    Some(Identity::Path(canon.join(path.file_name()?)))
}

/// A file a command reads or writes, with the flag that names it.
#[derive(Debug, Clone, Copy)]
pub struct NamedPath<'a> {
    /// The flag or role, e.g. `--out` or `the metrics file`.
    pub what: &'a str,
    /// The path as given.
    pub path: &'a Path,
}

/// Checks a command's outputs before any work: each can be written (see
/// [`resolve`]), no output is an input or another output, and stale
/// temporary files of each output are removed. `allowed` lists pairs of
/// names (`what`) that may be the same file, e.g. `--resume` and
/// `--checkpoint`. Returns the destinations in the order of `outputs`.
///
/// # Errors
///
/// An input [`Failure`] naming both flags and paths.
pub fn check_outputs(
    outputs: &[NamedPath],
    inputs: &[NamedPath],
    allowed: &[(&str, &str)],
) -> Outcome<Vec<Destination>> {
    let mut dests = Vec::with_capacity(outputs.len());
    for o in outputs {
        let d = resolve(o.what, o.path)?;
        if let Destination::Replace { dir, name } = &d {
            remove_stale_temps(dir, name);
            probe(o, dir, name)?;
        }
        dests.push(d);
    }
    let ids: Vec<Option<Identity>> = dests.iter().map(|d| identity(&d.path())).collect();
    let exempt = |a: &str, b: &str| {
        allowed
            .iter()
            .any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
    };
    for (i, o) in outputs.iter().enumerate() {
        let Some(id) = &ids[i] else { continue };
        let earlier = outputs[..i].iter().zip(&ids);
        let clash = inputs
            .iter()
            .map(|n| (n, identity(n.path)))
            .chain(earlier.map(|(n, id)| (n, id.clone())))
            .find(|(n, other)| other.as_ref() == Some(id) && !exempt(o.what, n.what));
        if let Some((n, _)) = clash {
            return Err(Failure::input(format!(
                "{} {} is the same file as {} {}; refusing to overwrite it",
                o.what,
                o.path.display(),
                n.what,
                n.path.display()
            )));
        }
    }
    Ok(dests)
}

/// Creates and removes this process's temporary file, so that a folder we
/// may not write in fails now, not after training.
fn probe(o: &NamedPath, dir: &Path, name: &std::ffi::OsStr) -> Outcome {
    let tmp = dir.join(tmp_name(name));
    let label = format!("{} {}", o.what, o.path.display());
    // A file of our own PID can only be left by an earlier process.
    std::fs::File::create(&tmp)
        .map_err(|e| io_failure(&format!("{label}: cannot write in {}", dir.display()), &e))?;
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

/// Writes every `(path, bytes)`: all of them or none. Regular files are
/// written to temporary files first; only when all are written (and the
/// devices and FIFOs among the targets took their bytes) are the
/// temporaries renamed over their targets.
///
/// # Errors
///
/// A [`Failure`] naming the path (exit 2 if the path is at fault, e.g. a
/// missing or read-only folder); all temporary files are removed then.
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Outcome {
    let mut staged: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new(); // tmp, target, dir
    let result = stage_and_write(files, &mut staged);
    if result.is_err() {
        for (tmp, _, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        return result;
    }
    for (i, (tmp, target, dir)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, target) {
            for (t, _, _) in &staged[i..] {
                let _ = std::fs::remove_file(t);
            }
            return Err(io_failure(
                &format!("cannot write {}", target.display()),
                &e,
            ));
        }
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn stage_and_write(
    files: &[(&Path, &[u8])],
    staged: &mut Vec<(PathBuf, PathBuf, PathBuf)>,
) -> Outcome {
    let mut in_place = Vec::new();
    for &(path, bytes) in files {
        let what = format!("cannot write {}", path.display());
        match resolve("cannot write", path)? {
            Destination::Replace { dir, name } => {
                remove_stale_temps(&dir, &name);
                let tmp = dir.join(tmp_name(&name));
                let target = dir.join(&name);
                let mut f = std::fs::File::create(&tmp).map_err(|e| io_failure(&what, &e))?;
                staged.push((tmp, target.clone(), dir));
                f.write_all(bytes)
                    .and_then(|()| keep_mode_and_owner(&f, &target))
                    .and_then(|()| f.sync_all())
                    .map_err(|e| io_failure(&what, &e))?;
            }
            Destination::InPlace(p) => in_place.push((p, bytes, what)),
        }
    }
    for (p, bytes, what) in in_place {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| io_failure(&what, &e))?;
    }
    Ok(())
}

/// Gives the temporary file `f` the permissions (and, where allowed, the
/// owner) of the file it will replace, so replacing does not change them.
fn keep_mode_and_owner(f: &std::fs::File, target: &Path) -> std::io::Result<()> {
    let Ok(old) = std::fs::metadata(target) else {
        return Ok(()); // a new file: the umask decides
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Only root may give a file away; others keep their own.
        let _ = std::os::unix::fs::fchown(f, Some(old.uid()), Some(old.gid()));
    }
    f.set_permissions(old.permissions())
}

/// Writes `bytes` to `path` atomically; see [`write_all_atomic`].
///
/// # Errors
///
/// As [`write_all_atomic`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Outcome {
    write_all_atomic(&[(path, bytes)])
}

/// `value` as pretty JSON with a final newline.
///
/// # Errors
///
/// A runtime [`Failure`] naming `path` if encoding fails.
pub fn json_bytes<T: serde::Serialize>(path: &Path, value: &T) -> Outcome<Vec<u8>> {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::runtime(format!("cannot encode {}: {e}", path.display())))?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// Serialises `value` as pretty JSON (with a final newline) and writes it atomically.
///
/// # Errors
///
/// As [`write_atomic`].
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Outcome {
    write_atomic(path, &json_bytes(path, value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(entries(dir.path()), 1);
        let e = write_atomic(&dir.path().join("no/such/dir.json"), b"x").unwrap_err();
        assert_eq!(e.code, 2, "{}", e.message);
    }

    #[test]
    fn write_all_atomic_writes_nothing_when_one_target_fails() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let e = write_all_atomic(&[(&a, b"a"), (&sub, b"b")]).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(!a.exists());
        assert_eq!(entries(dir.path()), 1);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.json");
        let link = dir.path().join("l.json");
        std::os::unix::fs::symlink("t.json", &link).unwrap();
        write_atomic(&link, b"x").unwrap(); // dangling link: creates the target
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"x");
        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink("loop", &looped).unwrap();
        let e = write_atomic(&looped, b"x").unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("symbolic links"), "{}", e.message);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pipe_behind_a_proc_link_is_written_in_place() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let (mut r, w) = std::io::pipe().unwrap();
        let link = PathBuf::from(format!("/proc/self/fd/{}", w.as_raw_fd()));
        assert!(resolve("--out", &link).unwrap().is_special());
        write_atomic(&link, b"through the pipe").unwrap();
        drop(w);
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "through the pipe");
    }

    #[cfg(unix)]
    #[test]
    fn replacing_keeps_the_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("private.json");
        std::fs::write(&p, "old").unwrap();
        for mode in [0o600, 0o444] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            write_atomic(&p, b"new").unwrap();
            let m = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(m & 0o777, mode);
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn a_long_file_name_gets_a_valid_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(format!("{}.json", "é".repeat(120)));
        write_atomic(&p, b"x").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        assert_eq!(entries(dir.path()), 1);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".m.json.noisereg-tmp-4294967295");
        let old = dir.path().join(".m.json.tmp-4294967294");
        let mine = dir.path().join(tmp_name("m.json".as_ref()));
        let other = dir.path().join(".n.json.noisereg-tmp-4294967295");
        for p in [&dead, &old, &mine, &other] {
            std::fs::write(p, "x").unwrap();
        }
        remove_stale_temps(dir.path(), "m.json".as_ref());
        assert!(!dead.exists() && !old.exists());
        assert!(mine.exists() && other.exists());
    }
}
