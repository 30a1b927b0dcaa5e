//! Transparent gzip decompression for loaders (IDX `.gz`, the bundled digits CSV).
//!
//! gzip needs `flate2`, an optional dependency of the `io` feature. Without it, a gzip file is
//! rejected with an error that names the file and says how to proceed.

use crate::error::{Error, Result};
use std::path::Path;

/// `true` if `bytes` start with the gzip magic `1f 8b`.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Returns `bytes` unchanged, or decompressed if they are gzip (detected by magic, not by name).
///
/// # Errors
/// [`Error::Format`] naming `path` for a corrupt or truncated gzip stream, or when the build
/// lacks the `io` feature (no gzip support).
pub fn maybe_gunzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    gunzip(&bytes, path)
}

#[cfg(feature = "io")]
fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("corrupt or truncated gzip data: {e}")))?;
    Ok(out)
}

#[cfg(not(feature = "io"))]
fn gunzip(_bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    Err(Error::format(
        path,
        "gzip-compressed, but this build has no gzip support (enable the `io` feature, or decompress the file first)",
    ))
}
