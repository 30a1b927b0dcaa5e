//! Atomic file writes: write to a temporary file in the same directory, flush and sync it, then
//! rename it over the target. A reader (or an interrupted run) sees either the old file or the
//! complete new one, never a partial file.
//!
//! The temporary file is `.NAME.tmp-PID`. A process killed mid-write leaves it behind; the next
//! write of `NAME` in that directory removes every `.NAME.tmp-PID` whose process no longer
//! runs (checked in `/proc`; where there is no `/proc`, leftovers are kept). Errors name the
//! target file, never the temporary one.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// [`Error::Io`] naming `path` when the write or rename fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes to `path` atomically through a buffered writer given to `fill`.
///
/// # Errors
/// [`Error::Io`] naming `path` when creating, filling, syncing or renaming fails; the
/// temporary file is removed on failure.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| Error::param("path", format!("{} has no file name", path.display())))?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    remove_dead_leftovers(dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Removes `dir/{prefix}PID` files (or directories) whose process `PID` no longer runs (best
/// effort; nothing is removed where `/proc` does not exist).
pub fn remove_dead_leftovers(dir: &Path, prefix: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        if pid.parse::<u32>().is_ok() && !proc.join(pid).exists() {
            let path = entry.path();
            let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        }
    }
}
