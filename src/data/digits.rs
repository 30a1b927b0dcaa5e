//! The built-in `digits` dataset: 1797 real 8×8 handwritten digits, 10 classes.
//!
//! Source: the UCI "Optical Recognition of Handwritten Digits" test part (Alpaydin & Kaynak
//! 1998, CC BY 4.0), as shipped by scikit-learn; provenance and sha256 in
//! `datasets/digits/README.md`. The gzip file is embedded in the binary with `include_bytes!`,
//! so the dataset loads from any working directory with no download.
//!
//! Format: one CSV row per image, 64 pixel values (row-major 8×8, each 0..=16) then the class
//! 0..=9. Pixels are stored as u8 `round(v·255/16)`, so `v = 16` becomes 255 and a batch is
//! `v/16` in `[0, 1]`. One factor, `"label"` (cardinality 10).
//!
//! Decompression needs the `io` feature (flate2); without it [`load`] returns an error.

use super::dataset::{Dataset, FactorSpec, LabelKind};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::path::Path;

/// The embedded `datasets/digits/digits.csv.gz`.
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../datasets/digits/digits.csv.gz");
/// Number of images in the bundled file.
pub const N_IMAGES: usize = 1797;

/// Loads the built-in digits (u8 `[1797, 8, 8, 1]`, factor `label`).
///
/// # Errors
/// [`Error::Format`] without the `io` feature (no gzip) or if the embedded file were corrupt.
pub fn load() -> Result<Dataset> {
    let path = Path::new("<built-in>/datasets/digits/digits.csv.gz");
    let bytes = super::gz::maybe_gunzip(DIGITS_CSV_GZ.to_vec(), path)?;
    parse_digits_csv(&bytes, path)
}

/// Parses digits CSV text (64 pixels 0..=16 then a label 0..=9 per row) into a dataset.
///
/// # Errors
/// [`Error::Format`] naming `path` and the line for a row with the wrong number of fields, a
/// non-integer, a pixel above 16 or a label above 9; [`Error::InvalidData`] for zero rows.
pub fn parse_digits_csv(bytes: &[u8], path: &Path) -> Result<Dataset> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::format(path, "not UTF-8 text"))?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(Error::format(path, format!("line {}: {} fields, expected 65", line_no + 1, fields.len())));
        }
        for (j, f) in fields.iter().enumerate() {
            let v: u32 = f.trim().parse().map_err(|_| {
                Error::format(path, format!("line {}: field {} ('{f}') is not an integer", line_no + 1, j + 1))
            })?;
            if j < 64 {
                if v > 16 {
                    return Err(Error::format(path, format!("line {}: pixel {v} > 16", line_no + 1)));
                }
                images.push(((v * 255 + 8) / 16) as u8);
            } else {
                if v > 9 {
                    return Err(Error::format(path, format!("line {}: label {v} > 9", line_no + 1)));
                }
                labels.push(v);
            }
        }
    }
    if labels.is_empty() {
        return Err(Error::InvalidData(format!("{}: no rows", path.display())));
    }
    let n = labels.len();
    let factors = Array2::from_shape_vec((n, 1), labels).expect("one label per row");
    Dataset::new("digits", images, 8, 8, 1, factors, vec![FactorSpec::new("label", 10)], LabelKind::Classes)
}
