//! File helpers shared by every reader and writer: bounded reads of regular files, atomic writes
//! through exclusively created temporary files, a lock per run, and the check that a run's outputs
//! neither are its inputs nor replace another run's files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Largest input file read by default (1 GiB); the command line's `--max-input-bytes` raises it.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 1 << 30;
/// Longest line of a text input by default (1 MiB); the command line's `--max-line-bytes` raises it.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 1 << 20;

static MAX_INPUT_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_INPUT_BYTES);
static MAX_LINE_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_LINE_BYTES);

/// Sets the limits every later read checks (the process's setting; the CLI sets it once at start).
pub fn set_input_limits(max_input_bytes: u64, max_line_bytes: u64) {
    MAX_INPUT_BYTES.store(max_input_bytes, Ordering::Relaxed);
    MAX_LINE_BYTES.store(max_line_bytes, Ordering::Relaxed);
}

/// The input limit in force (see [`set_input_limits`]).
pub fn max_input_bytes() -> u64 {
    MAX_INPUT_BYTES.load(Ordering::Relaxed)
}

fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::File { path: path.to_path_buf(), message: message.into() }
}

/// Reads a whole regular file of at most the input limit. Devices, FIFOs, sockets and directories
/// are refused before anything is read (a FIFO with no writer would block forever, `/dev/zero`
/// never ends), and a file that grows past the limit while being read is refused too.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| file_error(path, format!("could not read the file: {e}"));
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        let kind = if meta.is_dir() { "a directory" } else { "not a regular file (a device, FIFO or socket)" };
        return Err(file_error(path, format!("{kind}: give a regular file")));
    }
    let limit = MAX_INPUT_BYTES.load(Ordering::Relaxed);
    let too_large = |size: u64| {
        file_error(path, format!("{size} bytes or more; inputs are limited to {limit} bytes (raise it with --max-input-bytes)"))
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path).map_err(io)?.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Reads a text input: a bounded regular file (see [`read_file`]) whose lines are each within the
/// line limit. Returns the bytes (callers decode per line, so a bad line can be named).
pub fn read_text_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_file(path)?;
    check_line_lengths(path, &bytes)?;
    Ok(bytes)
}

/// Reads a text input as UTF-8 (bounded as [`read_text_file`]); invalid UTF-8 is named by its line.
pub fn read_utf8(path: &Path) -> Result<String> {
    String::from_utf8(read_text_file(path)?).map_err(|e| {
        let bytes = e.as_bytes();
        let line = 1 + bytes[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        file_error(path, format!("line {line}: not UTF-8 text"))
    })
}

/// Refuses a line longer than the line limit, naming it.
pub fn check_line_lengths(path: &Path, bytes: &[u8]) -> Result<()> {
    let limit = MAX_LINE_BYTES.load(Ordering::Relaxed);
    match bytes.split(|&b| b == b'\n').position(|line| line.len() as u64 > limit) {
        Some(i) => Err(file_error(path, format!("line {}: longer than {limit} bytes (raise the limit with --max-line-bytes)", i + 1))),
        None => Ok(()),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file created exclusively, under an unpredictable
/// name, in the target's directory, flushed to disk, then renamed over the target. A crash leaves
/// either the old file or the new one, never half of one; a link planted under some temporary name
/// cannot redirect the write, and renaming over a link replaces the link, not its target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| file_error(path, e.to_string());
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut tmp = tempfile::Builder::new().prefix(".lstm-transfer-").suffix(".tmp").tempfile_in(&dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` made absolute with links resolved as far as it exists (an output may not exist yet: its
/// directory is resolved and its name appended).
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    match (parent_dir(path).canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Checks a run's outputs before it starts: none may be one of its `inputs` (after resolving links
/// and relative paths), and none may exist already unless `replace` (the run's `--overwrite`, or a
/// `--resume` of the run that wrote them).
pub fn check_outputs(outputs: &[PathBuf], inputs: &[&Path], replace: bool) -> Result<()> {
    for out in outputs {
        let target = resolved(out);
        if let Some(input) = inputs.iter().find(|i| resolved(i) == target) {
            return Err(file_error(
                out,
                format!("is also an input ({}); writing there would destroy it: choose another --out", input.display()),
            ));
        }
        if !replace && std::fs::symlink_metadata(out).is_ok() {
            return Err(file_error(out, "exists (another run's output?); pass --overwrite to replace it, or choose another --out"));
        }
    }
    Ok(())
}

/// An advisory lock held for a run's lifetime on `NAME.lock` beside its output, so two runs cannot
/// write the same files at once. Released (and its file removed) when dropped.
pub struct RunLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl RunLock {
    /// Takes the lock of the run writing `out`, or fails at once naming the lock when another run holds it.
    pub fn acquire(out: &Path) -> Result<Self> {
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
        let path = parent_dir(out).join(format!("{name}.lock"));
        let io = |e: std::io::Error| file_error(&path, e.to_string());
        std::fs::create_dir_all(parent_dir(out)).map_err(io)?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { path, _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(file_error(
                out,
                format!("another run is writing it (it holds {}); wait for it or choose another --out", path.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lstm-transfer-fsutil-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = temp_dir("atomic");
        let path = dir.join("out.bin");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let leftovers = std::fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "out.bin").count();
        assert_eq!(leftovers, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_never_goes_through_a_link() {
        let dir = temp_dir("link");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, b"keep me").unwrap();
        let out = dir.join("out.bin");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        write_atomic(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me", "the link's target is untouched");
        assert!(!std::fs::symlink_metadata(&out).unwrap().file_type().is_symlink(), "the link itself was replaced");
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_lock_on_the_same_output_is_refused() {
        let dir = temp_dir("lock");
        let out = dir.join("model.safetensors");
        let first = RunLock::acquire(&out).unwrap();
        let err = RunLock::acquire(&out).err().unwrap().to_string();
        assert!(err.contains("another run") && err.contains("model.safetensors.lock"), "{err}");
        drop(first);
        RunLock::acquire(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outputs_that_are_inputs_or_exist_are_refused() {
        let dir = temp_dir("outputs");
        let input = dir.join("data.tsv");
        std::fs::write(&input, "1\tx\n").unwrap();
        let via_dots = dir.join(".").join("data.tsv");
        assert!(check_outputs(&[via_dots], &[&input], true).unwrap_err().to_string().contains("is also an input"));
        assert!(check_outputs(std::slice::from_ref(&input), &[], false).unwrap_err().to_string().contains("--overwrite"));
        check_outputs(std::slice::from_ref(&input), &[], true).unwrap();
        check_outputs(&[dir.join("new.safetensors")], &[&input], false).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn special_files_are_refused_before_reading() {
        let err = read_file(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let err = read_file(&std::env::temp_dir()).unwrap_err().to_string();
        assert!(err.contains("a directory"), "{err}");
    }
}
