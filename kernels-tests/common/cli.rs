//! Running the `lstm-transfer` binary in tests: success or a clear failure (never a panic), and a
//! temporary folder per test binary for the files the commands read and write.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The binary with kernel tuning off: a test's kernels (and so its last bits) never depend on a
/// timing, and nothing is written to the user's cache (the tuner's own tests turn it on).
pub fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lstm-transfer"));
    command.env("LSTM_TRANSFER_TUNE", "off");
    command
}

pub fn run(args: &[&str]) -> Output {
    let out = bin().args(args).output().expect("the binary runs");
    if std::env::var_os("LSTM_TRANSFER_TEST_VERBOSE").is_some() {
        eprintln!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    out
}

/// Runs and expects success; returns stdout.
#[track_caller]
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lstm-transfer {args:?} failed:\n{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and expects failure; returns stderr (never a panic).
#[track_caller]
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "lstm-transfer {args:?} should fail");
    assert!(!stderr.contains("panicked"), "lstm-transfer {args:?} panicked:\n{stderr}");
    stderr
}

pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("lstm-transfer-cli-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

pub fn file(name: &str, content: &str) -> String {
    let path = dir().join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}
