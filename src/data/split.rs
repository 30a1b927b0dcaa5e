//! Train/test splits and scarce-data subsampling, as index lists.
//!
//! * [`stratified_split`]: per class `c` (values of one factor) with `n_c` images, a seeded
//!   shuffle puts `round(n_c · test_fraction)` images in test, the rest in train; a class of at
//!   least two images keeps at least one image on each side.
//! * [`train_fraction`]: keeps `max(1, round(n_c · fraction))` images of each class of a train
//!   list (stratified), to simulate scarce data.
//! * [`shapes3d_split`]: docs/method.md §10: train = `floor_hue < 5 or
//!   wall_hue < 5`, test = `floor_hue >= 5 and wall_hue >= 5` (360 000 / 120 000 on the full
//!   grid), from factor values only (no rendering).
//!
//! Outputs are ascending. Randomness comes from the `SPLIT` stream of the given seed node
//! (one stream per class, indexed by the class value), so results do not depend on threads and
//! adding a class does not change another class's draw.

use super::dataset::{Dataset, Split};
use crate::error::{Error, Result};
use crate::rng::{streams, SeedTree};
use ndarray::ArrayView2;
use rand::seq::SliceRandom;

/// Groups `indices` by `labels[i]` (`labels` indexed by dataset index); classes ascending.
fn by_class(indices: &[usize], labels: &[usize]) -> Vec<(usize, Vec<usize>)> {
    let mut map: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    for &i in indices {
        map.entry(labels[i]).or_default().push(i);
    }
    map.into_iter().collect()
}

fn check_indices(indices: &[usize], n: usize) -> Result<()> {
    if indices.is_empty() {
        return Err(Error::param("indices", "nothing to split: zero images"));
    }
    match indices.iter().find(|&&i| i >= n) {
        Some(&bad) => Err(Error::param("indices", format!("index {bad} >= {n} labels"))),
        None => Ok(()),
    }
}

/// Checks a test fraction: `0 < f < 1`.
///
/// # Errors
/// [`Error::InvalidParam`] named `test_fraction`.
pub fn check_test_fraction(f: f64) -> Result<()> {
    if f > 0.0 && f < 1.0 {
        Ok(())
    } else {
        Err(Error::param("test_fraction", format!("must be in (0, 1), got {f}")))
    }
}

/// Checks a train fraction: `0 < f <= 1`.
///
/// # Errors
/// [`Error::InvalidParam`] named `train_fraction`.
pub fn check_train_fraction(f: f64) -> Result<()> {
    if f > 0.0 && f <= 1.0 {
        Ok(())
    } else {
        Err(Error::param("train_fraction", format!("must be in (0, 1], got {f}")))
    }
}

/// Stratified seeded split of `indices` by `labels` (see the module docs).
///
/// # Errors
/// [`Error::InvalidParam`] named `test_fraction` unless `0 < test_fraction < 1`, or named
/// `indices` if empty or out of range of `labels`.
pub fn stratified_split(indices: &[usize], labels: &[usize], test_fraction: f64, seeds: &SeedTree) -> Result<Split> {
    check_test_fraction(test_fraction)?;
    check_indices(indices, labels.len())?;
    let node = seeds.child("stratified_split");
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (class, mut members) in by_class(indices, labels) {
        members.sort_unstable();
        members.shuffle(&mut node.rng_indexed(streams::SPLIT, class as u64));
        let n = members.len();
        let mut n_test = (n as f64 * test_fraction).round() as usize;
        if n >= 2 {
            n_test = n_test.clamp(1, n - 1);
        }
        test.extend_from_slice(&members[..n_test]);
        train.extend_from_slice(&members[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok(Split { train, test })
}

/// Stratified seeded subsample of `train` keeping a `fraction` of every class (see module docs).
///
/// # Errors
/// [`Error::InvalidParam`] named `train_fraction` unless `0 < fraction <= 1`, or named
/// `indices` if `train` is empty or out of range of `labels`.
pub fn train_fraction(train: &[usize], labels: &[usize], fraction: f64, seeds: &SeedTree) -> Result<Vec<usize>> {
    check_train_fraction(fraction)?;
    check_indices(train, labels.len())?;
    let node = seeds.child("train_fraction");
    let mut out = Vec::new();
    for (class, mut members) in by_class(train, labels) {
        members.sort_unstable();
        members.shuffle(&mut node.rng_indexed(streams::SPLIT, class as u64));
        let keep = ((members.len() as f64 * fraction).round() as usize).clamp(1, members.len());
        out.extend_from_slice(&members[..keep]);
    }
    out.sort_unstable();
    Ok(out)
}

/// The 3DShapes split from a factor matrix whose columns `floor` and `wall` hold the floor and
/// wall hues: train = `floor < 5 or wall < 5`, test = both `>= 5`. Row indices are returned.
pub fn shapes3d_split_factors(factors: ArrayView2<'_, u32>, floor: usize, wall: usize) -> Split {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, row) in factors.outer_iter().enumerate() {
        if row[floor] >= 5 && row[wall] >= 5 {
            test.push(i);
        } else {
            train.push(i);
        }
    }
    Split { train, test }
}

/// The 3DShapes split of a dataset with factors `floor_hue` and `wall_hue`.
///
/// # Errors
/// [`Error::InvalidParam`] named `factor` (listing the valid names) if either factor is missing.
pub fn shapes3d_split(dataset: &Dataset) -> Result<Split> {
    let floor = dataset.factor_index("floor_hue")?;
    let wall = dataset.factor_index("wall_hue")?;
    Ok(shapes3d_split_factors(dataset.factors(), floor, wall))
}
