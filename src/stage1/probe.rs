//! The disentanglement probe: how well each subspace predicts each factor on held-out images.
//!
//! Input: codes `[n, K, d]` of `n` images (held out from training) and their factor matrix
//! `[n, F]`. A seeded shuffle (stream `SPLIT` of the given node) puts `⌊n·train_fraction⌋`
//! images in the probe's train part, the rest in its test part. For each subspace `k`, each test
//! image gets its `neighbours` nearest train images under the Euclidean distance between
//! `s_k` codes (ties by train index), and for each factor the majority value among them (ties to
//! the smallest value) is the prediction. The table holds test accuracy `[K, F]`, plus the
//! accuracy of always predicting the train part's most frequent value (chance level).
//!
//! A subspace that carries only factor `f` predicts `f` well and the others near chance; the
//! Detaux claim is that subspace 0 predicts the principal factor and nothing else, while other
//! subspaces carry the remaining factors.
//!
//! **Determinism.** The split is seeded; work is parallel over test images (each prediction is
//! computed by one task from fixed-order sums), so the table does not depend on threads.

use crate::error::{Error, Result};
use crate::rng::{streams, SeedTree};
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use rand::seq::SliceRandom;
use rayon::prelude::*;

/// Probe settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeConfig {
    /// Neighbours `k` of the k-NN vote. Default 10.
    pub neighbours: usize,
    /// Fraction of the images the probe trains on. Default 0.5.
    pub train_fraction: f64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig { neighbours: 10, train_fraction: 0.5 }
    }
}

/// The probe's result: accuracy per (subspace, factor).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeTable {
    /// Factor names (columns).
    pub factors: Vec<String>,
    /// Test accuracy `[K, F]`.
    pub accuracy: Array2<f64>,
    /// Majority-value accuracy per factor (chance level).
    pub chance: Vec<f64>,
    /// Images the probe trained on.
    pub n_train: usize,
    /// Images it was tested on.
    pub n_test: usize,
    /// The settings.
    pub config: ProbeConfig,
}

impl ProbeTable {
    /// The table as aligned text (one row per subspace, one column per factor).
    pub fn to_text(&self) -> String {
        let w = self.factors.iter().map(|f| f.len()).max().unwrap_or(6).max(6);
        let mut s = format!("{:<9}", "subspace");
        for f in &self.factors {
            s += &format!(" {f:>w$}");
        }
        s.push('\n');
        for (k, row) in self.accuracy.outer_iter().enumerate() {
            s += &format!("{:<9}", format!("s{k}"));
            for v in row {
                s += &format!(" {v:>w$.3}");
            }
            s.push('\n');
        }
        s += &format!("{:<9}", "chance");
        for v in &self.chance {
            s += &format!(" {v:>w$.3}");
        }
        s.push('\n');
        s
    }
}

/// Runs the probe (see the module docs).
///
/// # Errors
/// [`Error::InvalidParam`] for `neighbours == 0`, a `train_fraction` outside `(0, 1)`, fewer
/// than 2 images, codes and factors of different lengths, or a number of factor names different
/// from the factor columns; [`Error::InvalidData`] for non-finite codes.
pub fn probe(
    codes: ArrayView3<'_, f32>,
    factors: ArrayView2<'_, u32>,
    factor_names: &[String],
    config: ProbeConfig,
    seeds: &SeedTree,
) -> Result<ProbeTable> {
    if config.neighbours == 0 {
        return Err(Error::param("neighbours", "must be >= 1, got 0"));
    }
    if !(config.train_fraction > 0.0 && config.train_fraction < 1.0) {
        return Err(Error::param("train_fraction", format!("must be in (0, 1), got {}", config.train_fraction)));
    }
    let (n, k, d) = codes.dim();
    if factors.nrows() != n {
        return Err(Error::param("factors", format!("{} rows for {n} codes", factors.nrows())));
    }
    if factors.ncols() != factor_names.len() {
        return Err(Error::param(
            "factor_names",
            format!("{} names for {} factors", factor_names.len(), factors.ncols()),
        ));
    }
    if codes.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidData("probe: codes contain NaN or infinity".into()));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut seeds.rng(streams::SPLIT));
    let n_train = ((n as f64) * config.train_fraction).floor() as usize;
    if n_train == 0 || n_train == n {
        return Err(Error::param("codes", format!("{n} images cannot be split into a probe train and test part")));
    }
    let (train, test) = order.split_at(n_train);
    let n_factors = factors.ncols();
    let cards: Vec<usize> =
        (0..n_factors).map(|f| factors.column(f).iter().max().map_or(1, |&m| m as usize + 1)).collect();
    let chance: Vec<f64> = (0..n_factors)
        .map(|f| {
            let mut counts = vec![0usize; cards[f]];
            for &i in train {
                counts[factors[[i, f]] as usize] += 1;
            }
            let best = (0..cards[f]).max_by_key(|&v| (counts[v], std::cmp::Reverse(v))).unwrap_or(0);
            test.iter().filter(|&&i| factors[[i, f]] as usize == best).count() as f64 / test.len() as f64
        })
        .collect();
    let nb = config.neighbours.min(train.len());
    let mut accuracy = Array2::<f64>::zeros((k, n_factors));
    for kk in 0..k {
        let train_codes: Vec<f32> =
            train.iter().flat_map(|&i| codes.index_axis(Axis(0), i).index_axis(Axis(0), kk).to_vec()).collect();
        let correct: Vec<Vec<bool>> = test
            .par_iter()
            .map(|&i| {
                let q = codes.index_axis(Axis(0), i);
                let q = q.index_axis(Axis(0), kk);
                let mut dist: Vec<(f32, usize)> = (0..train.len())
                    .map(|j| {
                        let row = &train_codes[j * d..(j + 1) * d];
                        (row.iter().zip(q.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(), j)
                    })
                    .collect();
                dist.select_nth_unstable_by(nb - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let near = &dist[..nb];
                (0..n_factors)
                    .map(|f| {
                        let mut votes = vec![0usize; cards[f]];
                        for &(_, j) in near {
                            votes[factors[[train[j], f]] as usize] += 1;
                        }
                        let pred = (0..cards[f]).max_by_key(|&v| (votes[v], std::cmp::Reverse(v))).unwrap_or(0);
                        pred == factors[[i, f]] as usize
                    })
                    .collect()
            })
            .collect();
        for f in 0..n_factors {
            accuracy[[kk, f]] = correct.iter().filter(|c| c[f]).count() as f64 / test.len() as f64;
        }
    }
    Ok(ProbeTable {
        factors: factor_names.to_vec(),
        accuracy,
        chance,
        n_train: train.len(),
        n_test: test.len(),
        config,
    })
}
