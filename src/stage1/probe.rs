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
//! [`probe_fit_score`] is the same vote with a given fit set (e.g. the images the model trained
//! on) and score set (e.g. test images), as the pipeline uses it.
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
    let n = codes.len_of(Axis(0));
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
    if config.neighbours > n_train {
        return Err(Error::param(
            "neighbours",
            format!("{} neighbours, but the probe fits on only {n_train} images", config.neighbours),
        ));
    }
    let (train, test) = order.split_at(n_train);
    let (accuracy, chance) = knn_table(codes, factors, train, codes, factors, test, config.neighbours);
    Ok(ProbeTable {
        factors: factor_names.to_vec(),
        accuracy,
        chance,
        n_train: train.len(),
        n_test: test.len(),
        config,
    })
}

/// The probe with a given fit set: the k-NN votes come from `fit_codes` / `fit_factors`
/// (e.g. the images the model trained on) and every image of `score_codes` / `score_factors`
/// is scored (e.g. held-out test images). Chance is the fit set's most frequent value, scored
/// on the score set. `config.train_fraction` is not used.
///
/// # Errors
/// [`Error::InvalidParam`] for `neighbours == 0`, an empty fit or score set, codes and factors
/// of different lengths or shapes, or a number of factor names different from the factor
/// columns; [`Error::InvalidData`] for non-finite codes.
pub fn probe_fit_score(
    fit_codes: ArrayView3<'_, f32>,
    fit_factors: ArrayView2<'_, u32>,
    score_codes: ArrayView3<'_, f32>,
    score_factors: ArrayView2<'_, u32>,
    factor_names: &[String],
    config: ProbeConfig,
) -> Result<ProbeTable> {
    if config.neighbours == 0 {
        return Err(Error::param("neighbours", "must be >= 1, got 0"));
    }
    let (nf, k, d) = fit_codes.dim();
    let ns = score_codes.len_of(Axis(0));
    if nf == 0 || ns == 0 {
        return Err(Error::param("codes", format!("{nf} fit and {ns} scored images: both must be non-empty")));
    }
    if score_codes.dim() != (ns, k, d) {
        return Err(Error::param("score_codes", format!("{:?} for fit codes {:?}", score_codes.dim(), (nf, k, d))));
    }
    let nfac = factor_names.len();
    if fit_factors.dim() != (nf, nfac) || score_factors.dim() != (ns, nfac) {
        return Err(Error::param(
            "factors",
            format!(
                "fit {:?} and score {:?} for {nf} / {ns} images and {nfac} names",
                fit_factors.dim(),
                score_factors.dim()
            ),
        ));
    }
    if fit_codes.iter().chain(score_codes.iter()).any(|v| !v.is_finite()) {
        return Err(Error::InvalidData("probe: codes contain NaN or infinity".into()));
    }
    let fit: Vec<usize> = (0..nf).collect();
    let score: Vec<usize> = (0..ns).collect();
    let (accuracy, chance) =
        knn_table(fit_codes, fit_factors, &fit, score_codes, score_factors, &score, config.neighbours);
    Ok(ProbeTable { factors: factor_names.to_vec(), accuracy, chance, n_train: nf, n_test: ns, config })
}

/// k-NN accuracy `[K, F]` of rows `test` of `(tc, tf)` voted by rows `train` of `(fc, ff)`, and
/// the chance level per factor. Factor values are bounded by the largest value present.
fn knn_table(
    fc: ArrayView3<'_, f32>,
    ff: ArrayView2<'_, u32>,
    train: &[usize],
    tc: ArrayView3<'_, f32>,
    tf: ArrayView2<'_, u32>,
    test: &[usize],
    neighbours: usize,
) -> (Array2<f64>, Vec<f64>) {
    let (_, k, d) = fc.dim();
    let n_factors = ff.ncols();
    let cards: Vec<usize> = (0..n_factors)
        .map(|f| {
            let m = ff.column(f).iter().chain(tf.column(f).iter()).max().map_or(0, |&m| m as usize);
            m + 1
        })
        .collect();
    let chance: Vec<f64> = (0..n_factors)
        .map(|f| {
            let mut counts = vec![0usize; cards[f]];
            for &i in train {
                counts[ff[[i, f]] as usize] += 1;
            }
            let best = (0..cards[f]).max_by_key(|&v| (counts[v], std::cmp::Reverse(v))).unwrap_or(0);
            test.iter().filter(|&&i| tf[[i, f]] as usize == best).count() as f64 / test.len() as f64
        })
        .collect();
    let nb = neighbours.min(train.len());
    let mut accuracy = Array2::<f64>::zeros((k, n_factors));
    for kk in 0..k {
        let train_codes: Vec<f32> =
            train.iter().flat_map(|&i| fc.index_axis(Axis(0), i).index_axis(Axis(0), kk).to_vec()).collect();
        let correct: Vec<Vec<bool>> = test
            .par_iter()
            .map(|&i| {
                let q = tc.index_axis(Axis(0), i);
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
                            votes[ff[[train[j], f]] as usize] += 1;
                        }
                        let pred = (0..cards[f]).max_by_key(|&v| (votes[v], std::cmp::Reverse(v))).unwrap_or(0);
                        pred == tf[[i, f]] as usize
                    })
                    .collect()
            })
            .collect();
        for f in 0..n_factors {
            accuracy[[kk, f]] = correct.iter().filter(|c| c[f]).count() as f64 / test.len() as f64;
        }
    }
    (accuracy, chance)
}
