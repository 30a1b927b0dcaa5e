//! Paired differences between an arm and the single-task baseline over seeds.
//!
//! All arms of one seed share the split and the initial trunk, so the seed-to-seed variation
//! they have in common cancels in the per-seed difference
//!
//! `d_s = a_arm(s) − a_stl(s)`,  for every seed `s` that both arms ran.
//!
//! Over the `n` paired seeds: mean `d̄ = Σ d_s / n`, sample standard deviation
//! `sd = sqrt(Σ (d_s − d̄)² / (n − 1))` (0 for `n = 1`), standard error `se = sd / √n`, and the
//! number of seeds with `d_s > 0`. Sums run in seed order: deterministic.

use crate::error::{Error, Result};

/// The paired difference of one arm against the baseline.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct PairedDifference {
    /// Seeds, in the order of `values`.
    pub seeds: Vec<u64>,
    /// `d_s` per seed.
    pub values: Vec<f64>,
    /// Mean `d̄`.
    pub mean: f64,
    /// Sample standard deviation.
    pub std: f64,
    /// Standard error `sd / √n`.
    pub se: f64,
    /// Seeds with `d_s > 0`.
    pub improved: usize,
    /// Paired seeds `n`.
    pub n: usize,
}

/// The paired difference of `arm` against `baseline`, both given as `(seed, value)` lists;
/// seeds are paired by value, in the order of `arm`. Seeds present in only one list are
/// ignored.
///
/// # Errors
/// [`Error::InvalidData`] if no seed is present in both lists or a seed appears twice in one.
pub fn paired_difference(arm: &[(u64, f64)], baseline: &[(u64, f64)]) -> Result<PairedDifference> {
    for list in [arm, baseline] {
        let mut seeds: Vec<u64> = list.iter().map(|p| p.0).collect();
        seeds.sort_unstable();
        if seeds.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::InvalidData("paired difference: a seed appears twice".into()));
        }
    }
    let mut seeds = Vec::new();
    let mut values = Vec::new();
    for &(s, a) in arm {
        if let Some(&(_, b)) = baseline.iter().find(|p| p.0 == s) {
            seeds.push(s);
            values.push(a - b);
        }
    }
    if values.is_empty() {
        return Err(Error::InvalidData("paired difference: no seed is shared with the baseline".into()));
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let std =
        if n < 2 { 0.0 } else { (values.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / (n - 1) as f64).sqrt() };
    let improved = values.iter().filter(|&&d| d > 0.0).count();
    Ok(PairedDifference { seeds, values, mean, std, se: std / (n as f64).sqrt(), improved, n })
}
