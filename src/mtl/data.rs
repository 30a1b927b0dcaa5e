//! The data side of stage 3: which images train, validate and test, and auxiliary labels.
//!
//! **Splits** ([`experiment_splits`]), in order of preference:
//! 1. datasets with `floor_hue` and `wall_hue` factors: the 3DShapes split (docs/method.md §10:
//!    train = `floor_hue < 5 or wall_hue < 5`, test = both `>= 5`);
//! 2. datasets shipped with a split (MNIST, CIFAR-10): that split;
//! 3. otherwise a stratified (by the principal factor) seeded split with `test_fraction`.
//!
//! Then, if asked, `train_fraction` keeps that fraction of every principal class of the
//! training split (scarce data), and `val_fraction` carves a stratified validation split out
//! of what is left (model selection only; never from test). Seeds: `seeds.child("split")`.
//!
//! **Auxiliary labels** ([`load_aux_labels`]): an integer NPY file (`int64`/`int32`/…, shape
//! `[n]` or `[n, 1]`) with one label per image in dataset order; labels must be in
//! `0..`[`crate::limits::MAX_CLASSES`] and dense (every id `0..=max` occurs; sparse ids are
//! refused, never given an empty class); the task has `max + 1` classes.
//!
//! **Control tasks** for the report: [`random_labels`] (uniform random labels with the same
//! `k` as the discovered task, seeded) and [`labels_task`] (any precomputed labelling, e.g.
//! k-means on raw pixels from `crate::cluster`).

use super::train::{Splits, Task};
use crate::data::split::{check_test_fraction, check_train_fraction, shapes3d_split, stratified_split, train_fraction};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::{read_npy, NpyData};
use crate::rng::SeedTree;
use rand::Rng as _;
use std::path::Path;

/// How to split a dataset for stage 3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitConfig {
    /// Test fraction of the stratified split (datasets without a 3DShapes or shipped split).
    pub test_fraction: f64,
    /// Keep this fraction of each class of the training split.
    pub train_fraction: Option<f64>,
    /// Carve this fraction of the (kept) training split as validation, for model selection.
    pub val_fraction: Option<f64>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig { test_fraction: 0.2, train_fraction: None, val_fraction: None }
    }
}

impl SplitConfig {
    /// Checks every fraction: test and validation in `(0, 1)`, train in `(0, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the fraction.
    pub fn validate(&self) -> Result<()> {
        check_test_fraction(self.test_fraction)?;
        if let Some(f) = self.train_fraction {
            check_train_fraction(f)?;
        }
        match self.val_fraction {
            Some(f) if !(f > 0.0 && f < 1.0) => {
                Err(Error::param("--val-fraction", format!("must be in (0, 1), got {f}")))
            }
            _ => Ok(()),
        }
    }
}

/// Which rule made the split (for reports).
pub fn split_rule(data: &Dataset) -> &'static str {
    if data.factor_index("floor_hue").is_ok() && data.factor_index("wall_hue").is_ok() {
        "3dshapes"
    } else if data.predefined_split().is_some() {
        "shipped"
    } else {
        "stratified"
    }
}

/// The stage-3 splits of `data` (see the module docs).
///
/// # Errors
/// [`Error::InvalidParam`] for fractions out of range.
pub fn experiment_splits(data: &Dataset, cfg: &SplitConfig, seeds: &SeedTree) -> Result<Splits> {
    cfg.validate()?;
    let node = seeds.child("split");
    let labels = data.labels(data.principal());
    let base = match split_rule(data) {
        "3dshapes" => shapes3d_split(data)?,
        "shipped" => data.predefined_split().cloned().expect("checked"),
        _ => {
            let all: Vec<usize> = (0..data.len()).collect();
            stratified_split(&all, &labels, cfg.test_fraction, &node)?
        }
    };
    let mut train = base.train;
    if let Some(f) = cfg.train_fraction {
        train = train_fraction(&train, &labels, f, &node)?;
    }
    let val = match cfg.val_fraction {
        Some(f) => {
            let s = stratified_split(&train, &labels, f, &node.child("val"))?;
            train = s.train;
            Some(s.test)
        }
        None => None,
    };
    if train.is_empty() || base.test.is_empty() {
        return Err(Error::InvalidData(format!(
            "{}: the split leaves {} training and {} test images",
            data.name(),
            train.len(),
            base.test.len()
        )));
    }
    Ok(Splits { train, val, test: base.test })
}

/// The principal task of `data` (its principal factor).
///
/// # Errors
/// [`Error::InvalidData`] if fewer than 2 of its classes occur in the data (nothing to
/// classify, whatever cardinality the format declares).
pub fn principal_task(data: &Dataset) -> Result<Task> {
    let spec = data.principal_spec();
    let present = data.value_counts(data.principal()).iter().filter(|&&c| c > 0).count();
    if present < 2 {
        return Err(Error::InvalidData(format!(
            "{}: only {present} value of '{}' occurs in the data; the principal task needs >= 2 classes",
            data.name(),
            spec.name
        )));
    }
    Task::new(spec.name.clone(), data.labels(data.principal()), spec.cardinality, data.len())
}

/// Reads auxiliary labels for a dataset of `n` images from an integer NPY file.
///
/// # Errors
/// [`Error::Io`]/[`Error::Format`] naming the file if it is missing or not NPY;
/// [`Error::Format`] for a non-integer dtype, a wrong shape, a length other than `n`, a
/// negative label, fewer than 2 classes, or (with `io`) a `clusters.json` beside the file
/// that describes other labels ([`crate::cluster::job::check_labels_manifest`]).
pub fn load_aux_labels(path: &Path, n: usize) -> Result<Task> {
    let arr = read_npy(path)?;
    let values: Vec<i64> = match arr.data {
        NpyData::I64(v) => v,
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        other => {
            return Err(Error::format(
                path,
                format!("aux labels must be integers (int64/int32), got dtype {}", other.descr()),
            ))
        }
    };
    let ok_shape = arr.shape.len() == 1 || (arr.shape.len() == 2 && arr.shape[1] == 1);
    if !ok_shape {
        return Err(Error::format(path, format!("aux labels must have shape [n] or [n, 1], got {:?}", arr.shape)));
    }
    if values.len() != n {
        return Err(Error::format(
            path,
            format!("{} aux labels but the dataset has {n} images (one label per image, dataset order)", values.len()),
        ));
    }
    let max_label = crate::limits::MAX_CLASSES as i64 - 1;
    if let Some((i, &v)) = values.iter().enumerate().find(|(_, &v)| !(0..=max_label).contains(&v)) {
        let why = if v < 0 {
            "is negative (labels must be >= 0)".to_string()
        } else {
            format!("is outside 0..={max_label} (at most {} classes)", crate::limits::MAX_CLASSES)
        };
        return Err(Error::format(path, format!("aux label {v} at index {i} {why}")));
    }
    #[cfg(feature = "io")]
    crate::cluster::job::check_labels_manifest(path, &values)?;
    let labels: Vec<usize> = values.iter().map(|&v| v as usize).collect();
    let task = labels_task("aux", labels).map_err(|e| Error::format(path, e.to_string()))?;
    crate::limits::check_dense("task 'aux'", task.labels.iter().copied(), task.classes)
        .map_err(|e| Error::format(path, e.to_string()))?;
    Ok(task)
}

/// A task from precomputed labels (`max + 1` classes).
///
/// # Errors
/// [`Error::InvalidData`] for empty labels or fewer than 2 distinct classes.
pub fn labels_task(name: &str, labels: Vec<usize>) -> Result<Task> {
    let Some(&max) = labels.iter().max() else {
        return Err(Error::InvalidData(format!("task '{name}': no labels")));
    };
    if max == 0 {
        return Err(Error::InvalidData(format!("task '{name}': all labels are 0; a task needs >= 2 classes")));
    }
    let n = labels.len();
    Task::new(name, labels, max + 1, n)
}

/// The random control task: `n` labels uniform in `0..k`, from stream `"random_aux"` of
/// `seeds` (the same `k` as the discovered auxiliary task).
///
/// # Errors
/// [`Error::InvalidParam`] for `k < 2`.
pub fn random_labels(n: usize, k: usize, seeds: &SeedTree) -> Result<Task> {
    if k < 2 {
        return Err(Error::param("k", format!("random control needs >= 2 classes, got {k}")));
    }
    let mut rng = seeds.rng("random_aux");
    let labels = (0..n).map(|_| rng.gen_range(0..k)).collect();
    Task::new("random-aux", labels, k, n)
}

/// Cluster ids as returned by `crate::cluster` (`i64`) to task labels.
///
/// # Errors
/// [`Error::InvalidData`] naming the first negative id (e.g. an unshifted HDBSCAN noise `-1`).
pub fn labels_from_i64(ids: &[i64]) -> Result<Vec<usize>> {
    match ids.iter().enumerate().find(|(_, &v)| v < 0) {
        Some((i, &v)) => Err(Error::InvalidData(format!("cluster id {v} at index {i} is negative"))),
        None => Ok(ids.iter().map(|&v| v as usize).collect()),
    }
}
