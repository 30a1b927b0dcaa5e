//! Running the `detaux` binary from integration tests.

use std::path::PathBuf;
use std::process::Command;

/// Runs `detaux ARGS`; returns (exit code, stdout, stderr).
pub fn detaux(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_detaux")).args(args).output().expect("run the detaux binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh (removed, not created) scratch path `TMP/detaux-PREFIX-PID-NAME`.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detaux-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Like [`scratch`], and creates the directory.
pub fn scratch_dir(prefix: &str, name: &str) -> PathBuf {
    let d = scratch(prefix, name);
    std::fs::create_dir_all(&d).expect("create the scratch directory");
    d
}
