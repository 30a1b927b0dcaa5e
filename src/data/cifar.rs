//! CIFAR-10 binary-version loader.
//!
//! Each file (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`) is a sequence of
//! 3073-byte records: one label byte (0..=9), then 1024 red, 1024 green and 1024 blue bytes of a
//! 32×32 image, each plane row-major. Records are converted to u8 `[32, 32, 3]` (channels last).
//!
//! `cifar10:DIR` reads whichever of those files exist in `DIR` (or in `DIR/cifar-10-batches-bin`,
//! the archive's folder), training batches first, and keeps the files' train/test partition as
//! the predefined split. Class names come from `batches.meta.txt` if present (only printed).
//! Errors name the file: a size that is not a whole number of records (truncated), an empty
//! file, a label above 9, or no batch file at all.

use super::dataset::{Dataset, FactorSpec, LabelKind, Split};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Bytes per record: 1 label + 3·32·32 pixels.
pub const RECORD: usize = 1 + 3 * 32 * 32;
/// The training batch file names, in load order.
pub const TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
/// The test batch file name.
pub const TEST_FILE: &str = "test_batch.bin";

/// Parses one batch file's bytes, appending HWC pixels to `images` and labels to `labels`;
/// returns the number of records.
///
/// # Errors
/// [`Error::Format`] naming `path` if it is empty, not a whole number of records, or holds a
/// label above 9 (nothing is appended then).
pub fn parse_batch(bytes: &[u8], path: &Path, images: &mut Vec<u8>, labels: &mut Vec<u32>) -> Result<usize> {
    if bytes.is_empty() {
        return Err(Error::format(path, "empty file: zero images"));
    }
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::format(
            path,
            format!(
                "truncated: {} bytes is not a whole number of {RECORD}-byte records ({} full records and {} extra bytes)",
                bytes.len(),
                bytes.len() / RECORD,
                bytes.len() % RECORD
            ),
        ));
    }
    if let Some(r) = bytes.chunks_exact(RECORD).position(|rec| rec[0] > 9) {
        return Err(Error::format(path, format!("record {r} has label {}, outside 0..=9", bytes[r * RECORD])));
    }
    let n = bytes.len() / RECORD;
    images.reserve(n * 3072);
    labels.reserve(n);
    for rec in bytes.chunks_exact(RECORD) {
        labels.push(rec[0] as u32);
        let (r, g, b) = (&rec[1..1025], &rec[1025..2049], &rec[2049..3073]);
        for p in 0..1024 {
            images.extend_from_slice(&[r[p], g[p], b[p]]);
        }
    }
    Ok(n)
}

/// Class names from `batches.meta.txt` (one per line), if the file exists.
pub fn class_names(dir: &Path) -> Option<Vec<String>> {
    let dir = resolve_dir(dir);
    let text = std::fs::read_to_string(dir.join("batches.meta.txt")).ok()?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    (names.len() == 10).then_some(names)
}

fn resolve_dir(dir: &Path) -> PathBuf {
    let nested = dir.join("cifar-10-batches-bin");
    if !dir.join(TEST_FILE).is_file() && !dir.join(TRAIN_FILES[0]).is_file() && nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// Loads a CIFAR-10 binary directory (see the module docs) as u8 `[n, 32, 32, 3]`.
///
/// # Errors
/// [`Error::Io`] if `dir` does not exist or a file cannot be read; [`Error::Format`] naming
/// the file for a bad batch or when no batch file is present.
pub fn load_cifar10_dir(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "CIFAR-10 directory not found")));
    }
    let dir = resolve_dir(dir);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut n_train = 0;
    let mut any = false;
    for (name, is_train) in TRAIN_FILES.iter().map(|f| (*f, true)).chain([(TEST_FILE, false)]) {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        any = true;
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let n = parse_batch(&bytes, &path, &mut images, &mut labels)?;
        if is_train {
            n_train += n;
        }
    }
    if !any {
        return Err(Error::format(
            &dir,
            "no CIFAR-10 batch files: expected data_batch_1.bin … data_batch_5.bin and/or test_batch.bin",
        ));
    }
    let n = labels.len();
    let factors = Array2::from_shape_vec((n, 1), labels).expect("one label per image");
    let d =
        Dataset::new("cifar10", images, 32, 32, 3, factors, vec![FactorSpec::new("label", 10)], LabelKind::Classes)?;
    if n_train > 0 && n_train < n {
        d.with_predefined_split(Split { train: (0..n_train).collect(), test: (n_train..n).collect() })
    } else {
        Ok(d)
    }
}
