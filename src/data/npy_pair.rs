//! The generic NPY pair format: `images.npy` + `labels.npy` (+ optional `factors.txt`).
//!
//! * `images.npy`: uint8 (`|u1`), shape `[n, h, w]` (grayscale) or `[n, h, w, c]` with `c` 1 or 3.
//! * `labels.npy`: any integer dtype, shape `[n]` (class labels) or `[n, k]` (k factors), every
//!   value `>= 0`.
//! * `factors.txt` (optional): one line per label column, `name cardinality`. Without it a
//!   single column is named `label` and columns of a matrix `factor0`, `factor1`, …; each
//!   cardinality is then the column's largest value + 1.
//!
//! A single column named `label` makes a class-labelled set; anything else a factor set.
//! This is the format `detaux generate` writes ([`write_npy_dir`]), so generated sets load back
//! with their factor names and cardinalities. Loading reads `images.npy` whole (a transient
//! second copy while the NPY reader splits header from data).
//!
//! Errors name the file: missing files, truncated or malformed NPY, an image dtype other than
//! uint8, non-integer labels, bad ranks or channel counts, zero images, image and label
//! counts that differ, negative labels, and a `factors.txt` that disagrees with the labels.
//! Labels and cardinalities are bounded by [`crate::limits::MAX_CLASSES`]; without
//! `factors.txt` every id `0..=max` of a column must occur (sparse ids are refused, not
//! silently given classes with no image).

use super::dataset::{Dataset, FactorSpec, LabelKind};
use crate::error::{Error, Result};
use crate::io::npy::{read_npy, write_npy, NpyData};
use ndarray::Array2;
use std::path::Path;

/// Name of the images file in an NPY directory.
pub const IMAGES_FILE: &str = "images.npy";
/// Name of the labels file in an NPY directory.
pub const LABELS_FILE: &str = "labels.npy";
/// Name of the optional factor-names file.
pub const FACTORS_FILE: &str = "factors.txt";

fn dtype_name(d: &NpyData) -> &'static str {
    match d {
        NpyData::U8(_) => "uint8",
        NpyData::I64(_) => "a signed or wider integer type",
        NpyData::F32(_) => "float32",
        NpyData::F64(_) => "float64",
    }
}

/// Loads an NPY directory (see the module docs).
///
/// # Errors
/// [`Error::Io`] for a missing directory or file; [`Error::Format`] / [`Error::InvalidData`]
/// naming the file for every inconsistency listed in the module docs.
pub fn load_npy_dir(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "NPY directory not found")));
    }
    let img_path = dir.join(IMAGES_FILE);
    let lab_path = dir.join(LABELS_FILE);
    let img = read_npy(&img_path)?;
    let (n, h, w, c) = match img.shape[..] {
        [n, h, w] => (n, h, w, 1),
        [n, h, w, c] => (n, h, w, c),
        _ => {
            return Err(Error::format(
                &img_path,
                format!("shape {:?}: images must be [n, h, w] or [n, h, w, c]", img.shape),
            ))
        }
    };
    if c != 1 && c != 3 {
        return Err(Error::format(&img_path, format!("{c} channels: images must have 1 or 3 channels")));
    }
    if n == 0 {
        return Err(Error::format(&img_path, "holds zero images"));
    }
    if h == 0 || w == 0 {
        return Err(Error::format(&img_path, format!("images of size {h}x{w} have no pixels")));
    }
    let images = match img.data {
        NpyData::U8(v) => v,
        other => {
            return Err(Error::format(
                &img_path,
                format!("unsupported dtype for images: {}; images must be uint8 ('|u1')", dtype_name(&other)),
            ))
        }
    };
    let lab = read_npy(&lab_path)?;
    let (ln, k) = match lab.shape[..] {
        [ln] => (ln, 1),
        [ln, k] if k >= 1 => (ln, k),
        _ => return Err(Error::format(&lab_path, format!("shape {:?}: labels must be [n] or [n, k>=1]", lab.shape))),
    };
    let values: Vec<i64> = match lab.data {
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I64(v) => v,
        other => {
            return Err(Error::format(
                &lab_path,
                format!("unsupported dtype for labels: {}; labels must be integers", dtype_name(&other)),
            ))
        }
    };
    if ln != n {
        return Err(Error::InvalidData(format!(
            "{} holds {n} images but {} holds {ln} label rows",
            img_path.display(),
            lab_path.display()
        )));
    }
    let max_label = crate::limits::MAX_CLASSES as i64 - 1;
    if let Some(pos) = values.iter().position(|&v| !(0..=max_label).contains(&v)) {
        return Err(Error::format(
            &lab_path,
            format!(
                "row {}, column {}: label {} is outside 0..={max_label} (at most {} classes per factor)",
                pos / k,
                pos % k,
                values[pos],
                crate::limits::MAX_CLASSES
            ),
        ));
    }
    let factors = Array2::from_shape_vec((n, k), values.iter().map(|&v| v as u32).collect()).expect("n·k labels");
    let fac_path = dir.join(FACTORS_FILE);
    let specs = if fac_path.is_file() {
        let specs = read_factors_txt(&fac_path)?;
        if specs.len() != k {
            return Err(Error::format(
                &fac_path,
                format!("names {} factors but {} has {k} label columns", specs.len(), lab_path.display()),
            ));
        }
        for (j, s) in specs.iter().enumerate() {
            if let Some(i) = factors.column(j).iter().position(|&v| v as usize >= s.cardinality) {
                return Err(Error::format(
                    &lab_path,
                    format!(
                        "row {i}: {} = {} is outside 0..{} declared in {FACTORS_FILE}",
                        s.name,
                        factors[[i, j]],
                        s.cardinality
                    ),
                ));
            }
        }
        specs
    } else {
        let mut specs = Vec::with_capacity(k);
        for j in 0..k {
            let card = factors.column(j).iter().max().map_or(1, |&m| m as usize + 1);
            let name = if k == 1 { "label".to_string() } else { format!("factor{j}") };
            // Without factors.txt the cardinality is inferred, so absent ids would be silent.
            crate::limits::check_dense(&name, factors.column(j).iter().map(|&v| v as usize), card)
                .map_err(|e| Error::format(&lab_path, format!("{e}, or declare the cardinality in {FACTORS_FILE}")))?;
            specs.push(FactorSpec::new(name, card));
        }
        specs
    };
    let kind = if k == 1 && specs[0].name == "label" { LabelKind::Classes } else { LabelKind::Factors };
    Dataset::new(format!("npy:{}", dir.display()), images, h, w, c, factors, specs, kind)
}

fn read_factors_txt(path: &Path) -> Result<Vec<FactorSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut specs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(card), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::format(path, format!("line {}: expected 'name cardinality', got '{line}'", i + 1)));
        };
        let max = crate::limits::MAX_CLASSES;
        let card: usize = card.parse().ok().filter(|&c| (1..=max).contains(&c)).ok_or_else(|| {
            Error::format(path, format!("line {}: cardinality '{card}' is not an integer in 1..={max}", i + 1))
        })?;
        if specs.iter().any(|s: &FactorSpec| s.name == name) {
            return Err(Error::format(path, format!("line {}: factor '{name}' named twice", i + 1)));
        }
        specs.push(FactorSpec::new(name, card));
    }
    Ok(specs)
}

/// Checks that `out` can be a new directory for [`write_npy_dir_new`] (call it before any
/// expensive work).
///
/// # Errors
/// As [`write_npy_dir_new`]'s checks on `out`.
pub fn check_new_dir(out: &Path) -> Result<()> {
    if out.file_name().is_none() {
        return Err(Error::param("--out", format!("{} has no directory name", out.display())));
    }
    let nonempty = std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(out.exists());
    if nonempty {
        return Err(Error::param(
            "--out",
            format!("{} already exists and is not empty; choose a new directory (never overwritten)", out.display()),
        ));
    }
    Ok(())
}

#[cfg(feature = "io")]
/// Writes `dataset` as a new NPY directory `out` ([`write_npy_dir`]'s files plus
/// `contact_sheet.png`, its first 64 images) as a unit: into a hidden sibling directory
/// `.NAME.tmp-PID`, renamed to `out` once complete, so a killed writer never leaves new images
/// beside old labels. An existing non-empty `out` is refused (never overwritten); leftovers of
/// dead writers are removed first. Needs the `io` feature (PNG).
///
/// # Errors
/// [`Error::InvalidParam`] (named `--out`) for a non-empty `out` or one without a directory
/// name; I/O errors naming the path.
pub fn write_npy_dir_new(dataset: &Dataset, out: &Path) -> Result<()> {
    check_new_dir(out)?;
    let name = out.file_name().expect("checked");
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    crate::io::atomic::remove_dead_leftovers(&parent, &prefix);
    let tmp = parent.join(format!("{prefix}{}", std::process::id()));
    let written = (|| -> Result<()> {
        write_npy_dir(dataset, &tmp)?;
        super::contact::contact_sheet(dataset, 64, 8, 2).save_png(&tmp.join("contact_sheet.png"))?;
        if out.is_dir() {
            std::fs::remove_dir(out).map_err(|e| Error::io(out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Writes `dataset` as an NPY directory (created if needed): `images.npy` u8 `[n, h, w, c]`,
/// `labels.npy` i64 (`[n]` for a class-labelled set with one `label` column, else `[n, k]`)
/// and `factors.txt`. Every file is written atomically.
///
/// # Errors
/// [`Error::Io`] naming the directory or file that cannot be written.
pub fn write_npy_dir(dataset: &Dataset, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (n, h, w, c) = (dataset.len(), dataset.height(), dataset.width(), dataset.channels());
    write_npy(&dir.join(IMAGES_FILE), &[n, h, w, c], dataset.images())?;
    let labels: Vec<i64> = dataset.factors().iter().map(|&v| v as i64).collect();
    let k = dataset.n_factors();
    let single_label = k == 1 && dataset.factor_specs()[0].name == "label";
    let shape: Vec<usize> = if single_label { vec![n] } else { vec![n, k] };
    write_npy(&dir.join(LABELS_FILE), &shape, &labels)?;
    let mut txt = String::new();
    for s in dataset.factor_specs() {
        txt.push_str(&format!("{} {}\n", s.name, s.cardinality));
    }
    crate::io::write_atomic(&dir.join(FACTORS_FILE), txt.as_bytes())
}
