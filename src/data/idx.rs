//! MNIST / Fashion-MNIST loader (IDX files, gzipped or not).
//!
//! IDX layout (LeCun et al.): two zero bytes, a type byte (`0x08` = u8), the number of
//! dimensions `d`, then `d` big-endian u32 sizes, then the data in C order. Images are
//! `idx3` (`[n, rows, cols]`), labels `idx1` (`[n]`). A file is gzip if it starts with `1f 8b`
//! (whatever its name); gzip needs the `io` feature.
//!
//! `mnist:DIR` reads `train-images-idx3-ubyte` + `train-labels-idx1-ubyte` and/or
//! `t10k-images-idx3-ubyte` + `t10k-labels-idx1-ubyte` (each optionally `.gz`; the
//! `train-images.idx3-ubyte` spelling is accepted too), concatenated train first, with the
//! files' train/test partition kept as the dataset's predefined split. Labels must be 0..=9
//! (factor `"label"`, cardinality 10). Every inconsistency is an error naming the file: wrong
//! magic, a header promising more bytes than the file holds, trailing bytes, image and label
//! counts that differ, zero images, or train and test images of different sizes.

use super::dataset::{Dataset, FactorSpec, LabelKind, Split};
use crate::error::{Error, Result};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// An IDX u8 array: dimensions and C-order data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes, slowest first.
    pub dims: Vec<usize>,
    /// Elements in C order.
    pub data: Vec<u8>,
}

/// Parses IDX bytes (already decompressed) that must have `ndims` dimensions of type u8.
///
/// # Errors
/// [`Error::Format`] naming `path` for a wrong magic number, a type other than u8, a wrong
/// dimension count, a truncated header, a header promising more data than present, or
/// trailing bytes.
pub fn parse_idx(mut bytes: Vec<u8>, ndims: usize, path: &Path) -> Result<IdxArray> {
    let what = if ndims == 3 { "an IDX image file (magic 0x00000803)" } else { "an IDX label file (magic 0x00000801)" };
    if bytes.len() < 4 {
        return Err(Error::format(path, format!("{} bytes is too short for {what}", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] as usize != ndims {
        return Err(Error::format(path, format!("wrong magic number 0x{magic:08x}: expected {what}")));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(Error::format(path, format!("truncated header: {} bytes, need {header}", bytes.len())));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize)
        .collect();
    let need = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::format(path, format!("header dimensions {dims:?} overflow")))?;
    let have = bytes.len() - header;
    if have < need {
        return Err(Error::format(
            path,
            format!("truncated: header promises {dims:?} = {need} bytes of data but the file holds {have}"),
        ));
    }
    if have > need {
        return Err(Error::format(path, format!("{} unexpected bytes after the {need} bytes of data", have - need)));
    }
    bytes.drain(..header);
    Ok(IdxArray { dims, data: bytes })
}

/// Reads (and if needed gunzips) an IDX file with `ndims` u8 dimensions.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; otherwise as [`parse_idx`].
pub fn read_idx(path: &Path, ndims: usize) -> Result<IdxArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let header = 4 + 4 * ndims;
    // A gzip file is inflated only up to the size its IDX header promises (plus one byte).
    let bytes = super::gz::gunzip_promised(bytes, path, header, |h| Ok(declared_len(h, ndims).unwrap_or(header)))?;
    parse_idx(bytes, ndims, path)
}

/// Header plus data bytes that an IDX header with `ndims` dimensions declares (`None` if the
/// product overflows).
fn declared_len(header: &[u8], ndims: usize) -> Option<usize> {
    let data = (0..ndims)
        .map(|d| u32::from_be_bytes(header[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize)
        .try_fold(1usize, |a, d| a.checked_mul(d))?;
    data.checked_add(4 + 4 * ndims)
}

/// Finds `{prefix}-{kind}-idx{d}-ubyte` (or `{prefix}-{kind}.idx{d}-ubyte`), optionally `.gz`.
fn find(dir: &Path, prefix: &str, kind: &str, d: usize) -> Option<PathBuf> {
    [format!("{prefix}-{kind}-idx{d}-ubyte"), format!("{prefix}-{kind}.idx{d}-ubyte")]
        .iter()
        .flat_map(|b| [b.clone(), format!("{b}.gz")])
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Reads one images/labels pair; returns `(h, w, pixels, labels)`.
fn read_pair(images: &Path, labels: &Path) -> Result<(usize, usize, Vec<u8>, Vec<u32>)> {
    let img = read_idx(images, 3)?;
    let lab = read_idx(labels, 1)?;
    let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2]);
    if n == 0 || h == 0 || w == 0 {
        return Err(Error::format(images, format!("holds zero images (dimensions {:?})", img.dims)));
    }
    if lab.dims[0] != n {
        return Err(Error::InvalidData(format!(
            "{} holds {n} images but {} holds {} labels",
            images.display(),
            labels.display(),
            lab.dims[0]
        )));
    }
    if let Some((i, &v)) = lab.data.iter().enumerate().find(|(_, &v)| v > 9) {
        return Err(Error::format(labels, format!("label {v} at position {i} is outside 0..=9")));
    }
    Ok((h, w, img.data, lab.data.iter().map(|&v| v as u32).collect()))
}

/// Loads an MNIST-format directory (see the module docs) as u8 `[n, h, w, 1]`.
///
/// # Errors
/// [`Error::Io`] if `dir` does not exist; [`Error::Format`] / [`Error::InvalidData`] naming the
/// file for any bad file, or if neither the train nor the t10k pair is present, or one file of
/// a pair is missing.
pub fn load_mnist_dir(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "MNIST directory not found")));
    }
    let mut parts = Vec::new();
    for prefix in ["train", "t10k"] {
        match (find(dir, prefix, "images", 3), find(dir, prefix, "labels", 1)) {
            (Some(i), Some(l)) => parts.push(read_pair(&i, &l)?),
            (Some(i), None) => {
                return Err(Error::format(&i, format!("found, but {prefix}-labels-idx1-ubyte[.gz] is missing")))
            }
            (None, Some(l)) => {
                return Err(Error::format(&l, format!("found, but {prefix}-images-idx3-ubyte[.gz] is missing")))
            }
            (None, None) => parts.push((0, 0, Vec::new(), Vec::new())),
        }
    }
    let present: Vec<&(usize, usize, Vec<u8>, Vec<u32>)> = parts.iter().filter(|p| !p.3.is_empty()).collect();
    let Some(first) = present.first() else {
        return Err(Error::format(
            dir,
            "no MNIST files: expected train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] \
             and/or t10k-images-idx3-ubyte[.gz] + t10k-labels-idx1-ubyte[.gz]",
        ));
    };
    let (h, w) = (first.0, first.1);
    if present.iter().any(|p| (p.0, p.1) != (h, w)) {
        return Err(Error::format(dir, "train and t10k images have different sizes"));
    }
    let n_train = parts[0].3.len();
    let n = n_train + parts[1].3.len();
    let mut images = Vec::with_capacity(n * h * w);
    let mut labels = Vec::with_capacity(n);
    for (_, _, img, lab) in parts {
        images.extend_from_slice(&img);
        labels.extend_from_slice(&lab);
    }
    let factors = Array2::from_shape_vec((n, 1), labels).expect("one label per image");
    let d = Dataset::new("mnist", images, h, w, 1, factors, vec![FactorSpec::new("label", 10)], LabelKind::Classes)?;
    if n_train > 0 && n_train < n {
        d.with_predefined_split(Split { train: (0..n_train).collect(), test: (n_train..n).collect() })
    } else {
        Ok(d)
    }
}
