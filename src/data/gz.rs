//! Transparent gzip decompression for loaders (IDX `.gz`, the bundled digits CSV).
//!
//! A gzip file is one or more *members* back to back (RFC 1952 §2.2; `cat a.gz b.gz` is a
//! valid gzip file and `zcat` reads it whole): every member is decompressed, in order. Bytes
//! after the last member that are not another member are an error, not ignored.
//!
//! A loader whose format states its own size in a header ([`gunzip_promised`]) decompresses
//! the header first and then at most the size it promises (plus one byte, to detect more): a
//! small file that inflates to far more than its header says (a decompression bomb) is
//! refused after that many bytes, never inflated in full.
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
/// [`Error::Format`] naming `path` for a corrupt or truncated gzip stream, bytes after it
/// that are not gzip, or when the build lacks the `io` feature (no gzip support).
pub fn maybe_gunzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    imp::gunzip(&bytes, path, 0, |_| Ok(usize::MAX))
}

/// Like [`maybe_gunzip`] for a format with a `header_len`-byte header that states the total
/// size: `promised(header)` returns it (header included; it may fail, e.g. for a bad magic
/// number). Decompression stops one byte past the promised size, so the caller's own checks
/// see "more data than promised" without the rest ever being inflated. Data that is not gzip
/// is returned unchanged; a stream shorter than `header_len` is returned as it is (the caller
/// reports the truncated header).
///
/// # Errors
/// As [`maybe_gunzip`], plus whatever `promised` returns.
pub fn gunzip_promised(
    bytes: Vec<u8>,
    path: &Path,
    header_len: usize,
    promised: impl FnOnce(&[u8]) -> Result<usize>,
) -> Result<Vec<u8>> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    imp::gunzip(&bytes, path, header_len, promised)
}

#[cfg(feature = "io")]
mod imp {
    use super::{is_gzip, Error, Path, Result};
    use std::io::{self, Read};

    /// Every member of a gzip file, one after another; non-gzip bytes after a member are an
    /// error.
    struct Members<'a> {
        member: Option<flate2::bufread::GzDecoder<&'a [u8]>>,
    }

    impl Read for Members<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                let Some(member) = self.member.as_mut() else { return Ok(0) };
                let n = member.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                let rest = self.member.take().expect("present").into_inner();
                if rest.is_empty() {
                    return Ok(0);
                }
                if !is_gzip(rest) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} bytes after the end of the gzip data are not gzip", rest.len()),
                    ));
                }
                self.member = Some(flate2::bufread::GzDecoder::new(rest));
            }
        }
    }

    pub(super) fn gunzip(
        bytes: &[u8],
        path: &Path,
        header_len: usize,
        promised: impl FnOnce(&[u8]) -> Result<usize>,
    ) -> Result<Vec<u8>> {
        let bad = |e: io::Error| Error::format(path, format!("corrupt or truncated gzip data: {e}"));
        let mut reader = Members { member: Some(flate2::bufread::GzDecoder::new(bytes)) };
        let mut out = Vec::new();
        (&mut reader).take(header_len as u64).read_to_end(&mut out).map_err(bad)?;
        if out.len() < header_len {
            return Ok(out);
        }
        let total = promised(&out)?;
        let more = (total.saturating_sub(header_len) as u64).saturating_add(1);
        reader.take(more).read_to_end(&mut out).map_err(bad)?;
        Ok(out)
    }
}

#[cfg(not(feature = "io"))]
mod imp {
    use super::{Error, Path, Result};

    pub(super) fn gunzip(
        _bytes: &[u8],
        path: &Path,
        _header_len: usize,
        _promised: impl FnOnce(&[u8]) -> Result<usize>,
    ) -> Result<Vec<u8>> {
        Err(Error::format(
            path,
            "gzip-compressed, but this build has no gzip support (enable the `io` feature, or decompress the file first)",
        ))
    }
}
