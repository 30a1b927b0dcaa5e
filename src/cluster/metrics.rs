//! Clustering metrics (scikit-learn's definitions, natural logarithms).
//!
//! Labels are `&[i64]` (any values; `-1` is just another label here). With the contingency
//! table `n_{ij}` of labellings `a` (rows) and `b` (columns), `n` points:
//! - **ARI** `= (Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E)`,
//!   `E = Σ C(a_i,2)·Σ C(b_j,2) / C(n,2)`; 1 when both are one cluster or identical partitions.
//! - **MI** `= Σ n_ij/n · ln(n·n_ij / (a_i b_j))`, **entropy** `H(a) = −Σ a_i/n ln(a_i/n)`.
//! - **NMI** `= MI / mean(H(a), H(b))` (arithmetic mean, scikit-learn's default; 1 if both
//!   entropies are 0).
//! - **homogeneity** (of clustering `b` w.r.t. classes `a`) `= 1 − H(a|b)/H(a)` (1 if
//!   `H(a) = 0`), **completeness** `= 1 − H(b|a)/H(b)` (1 if `H(b) = 0`).
//! - **silhouette** of point `i`: `(b_i − a_i) / max(a_i, b_i)` with `a_i` the mean distance to
//!   the other members of its cluster and `b_i` the smallest mean distance to another cluster
//!   (0 for singletons); [`silhouette_sampled`] averages it over a seeded random subset
//!   (scikit-learn's `silhouette_score(sample_size=…)`: the silhouette *of the subset*).

use super::check_matrix;
use crate::error::{Error, Result};
use crate::rng::SeedTree;
use ndarray::ArrayView2;
use rand::Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;

fn dense_ids(labels: &[i64]) -> (Vec<usize>, usize) {
    let mut map = BTreeMap::new();
    for &l in labels {
        let next = map.len();
        map.entry(l).or_insert(next);
    }
    // Renumber in sorted label order for reproducibility.
    let sorted: BTreeMap<i64, usize> = map.keys().enumerate().map(|(i, &l)| (l, i)).collect();
    (labels.iter().map(|l| sorted[l]).collect(), sorted.len())
}

struct Contingency {
    n: f64,
    a: Vec<f64>,
    b: Vec<f64>,
    /// Non-zero cells `(i, j, n_ij)`.
    cells: Vec<(usize, usize, f64)>,
}

fn contingency(a: &[i64], b: &[i64]) -> Result<Contingency> {
    if a.len() != b.len() {
        return Err(Error::shape("metrics", format!("label vectors differ in length ({} vs {})", a.len(), b.len())));
    }
    if a.is_empty() {
        return Err(Error::InvalidData("metrics: empty label vectors".into()));
    }
    let (ia, na) = dense_ids(a);
    let (ib, nb) = dense_ids(b);
    let mut cells = BTreeMap::new();
    let mut ca = vec![0f64; na];
    let mut cb = vec![0f64; nb];
    for (&i, &j) in ia.iter().zip(&ib) {
        *cells.entry((i, j)).or_insert(0f64) += 1.0;
        ca[i] += 1.0;
        cb[j] += 1.0;
    }
    Ok(Contingency { n: a.len() as f64, a: ca, b: cb, cells: cells.into_iter().map(|((i, j), v)| (i, j, v)).collect() })
}

fn comb2(x: f64) -> f64 {
    x * (x - 1.0) / 2.0
}

/// Adjusted Rand index of two labellings.
///
/// # Errors
/// [`Error::Shape`] for different lengths, [`Error::InvalidData`] for empty input.
pub fn adjusted_rand_index(a: &[i64], b: &[i64]) -> Result<f64> {
    let c = contingency(a, b)?;
    let sum_ij: f64 = c.cells.iter().map(|&(_, _, v)| comb2(v)).sum();
    let sum_a: f64 = c.a.iter().map(|&v| comb2(v)).sum();
    let sum_b: f64 = c.b.iter().map(|&v| comb2(v)).sum();
    let total = comb2(c.n);
    // Special cases as scikit-learn: identical trivial partitions.
    if c.a.len() == c.b.len() && (c.a.len() == 1 || c.a.len() as f64 == c.n) {
        return Ok(1.0);
    }
    if total == 0.0 {
        return Ok(1.0);
    }
    let expected = sum_a * sum_b / total;
    let max = 0.5 * (sum_a + sum_b);
    if max == expected {
        return Ok(1.0);
    }
    Ok((sum_ij - expected) / (max - expected))
}

fn entropy(counts: &[f64], n: f64) -> f64 {
    counts.iter().filter(|&&v| v > 0.0).map(|&v| -(v / n) * (v / n).ln()).sum()
}

fn mutual_info(c: &Contingency) -> f64 {
    c.cells.iter().map(|&(i, j, v)| v / c.n * (c.n * v / (c.a[i] * c.b[j])).ln()).sum::<f64>().max(0.0)
}

/// Normalized mutual information (arithmetic-mean normalisation).
///
/// # Errors
/// As [`adjusted_rand_index`].
pub fn normalized_mutual_info(a: &[i64], b: &[i64]) -> Result<f64> {
    let c = contingency(a, b)?;
    let (ha, hb) = (entropy(&c.a, c.n), entropy(&c.b, c.n));
    if ha == 0.0 && hb == 0.0 {
        return Ok(1.0);
    }
    let mi = mutual_info(&c);
    if mi == 0.0 {
        return Ok(0.0);
    }
    Ok((mi / (0.5 * (ha + hb))).min(1.0))
}

/// `(homogeneity, completeness)` of clustering `pred` with respect to classes `truth`.
///
/// # Errors
/// As [`adjusted_rand_index`].
pub fn homogeneity_completeness(truth: &[i64], pred: &[i64]) -> Result<(f64, f64)> {
    let c = contingency(truth, pred)?;
    let (ht, hp) = (entropy(&c.a, c.n), entropy(&c.b, c.n));
    let mi = mutual_info(&c);
    let h = if ht == 0.0 { 1.0 } else { mi / ht };
    let comp = if hp == 0.0 { 1.0 } else { mi / hp };
    Ok((h.min(1.0), comp.min(1.0)))
}

/// Inertia `Σ_i ‖x_i − centres[labels[i]]‖²` (f64, direct differences).
///
/// # Errors
/// [`Error::InvalidData`] for bad data; [`Error::Shape`] for mismatched sizes or a label out
/// of `0..k`.
pub fn inertia(x: ArrayView2<f32>, centres: ArrayView2<f32>, labels: &[i64]) -> Result<f64> {
    let data = check_matrix(&x, "inertia data")?;
    let (k, d) = centres.dim();
    if x.ncols() != d || labels.len() != x.nrows() {
        return Err(Error::shape("inertia", "data, centres and labels disagree in size"));
    }
    let mut l32 = Vec::with_capacity(labels.len());
    for &l in labels {
        if l < 0 || l as usize >= k {
            return Err(Error::shape("inertia", format!("label {l} outside 0..{k}")));
        }
        l32.push(l as u32);
    }
    let c: Vec<f32> = centres.iter().copied().collect();
    Ok(super::kmeans::inertia_direct(&data, d, &c, &l32))
}

/// Silhouette of the subset of at most `sample_size` points drawn without replacement with the
/// stream `seeds.rng("silhouette")` (all points if `sample_size >= n`). O(m²·d) time.
/// Returns 0 when fewer than 2 or more than `m − 1` distinct labels are in the sample
/// (scikit-learn raises an error there; the `--k auto` search needs a value).
///
/// # Errors
/// [`Error::InvalidData`] for bad data, [`Error::Shape`] if `labels.len() != n`.
pub fn silhouette_sampled(x: ArrayView2<f32>, labels: &[i64], sample_size: usize, seeds: &SeedTree) -> Result<f64> {
    let data = check_matrix(&x, "silhouette data")?;
    let (n, d) = x.dim();
    if labels.len() != n {
        return Err(Error::shape("silhouette", format!("{} labels for {n} points", labels.len())));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    if sample_size < n {
        let mut rng = seeds.rng("silhouette");
        for i in 0..sample_size {
            let j = rng.gen_range(i..n);
            idx.swap(i, j);
        }
        idx.truncate(sample_size);
    }
    let m = idx.len();
    let lab: Vec<i64> = idx.iter().map(|&i| labels[i]).collect();
    let (ids, nl) = dense_ids(&lab);
    if nl < 2 || nl > m.saturating_sub(1) {
        return Ok(0.0);
    }
    let mut sizes = vec![0f64; nl];
    ids.iter().for_each(|&c| sizes[c] += 1.0);
    let pts: Vec<&[f32]> = idx.iter().map(|&i| &data[i * d..(i + 1) * d]).collect();
    let s: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|i| {
            let mut sum = vec![0f64; nl];
            for j in 0..m {
                let dd: f64 = pts[i].iter().zip(pts[j]).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
                sum[ids[j]] += dd.sqrt();
            }
            let own = ids[i];
            if sizes[own] <= 1.0 {
                return 0.0;
            }
            let a = sum[own] / (sizes[own] - 1.0);
            let b = (0..nl).filter(|&c| c != own).map(|c| sum[c] / sizes[c]).fold(f64::INFINITY, f64::min);
            let den = a.max(b);
            if den > 0.0 {
                (b - a) / den
            } else {
                0.0
            }
        })
        .collect();
    Ok(s.iter().sum::<f64>() / m as f64)
}

/// Result of [`choose_k_by_silhouette`].
#[derive(Clone, Debug, PartialEq)]
pub struct KChoice {
    /// The chosen k (largest silhouette; the smallest k on ties).
    pub k: usize,
    /// `(k, silhouette)` for every k tried.
    pub scores: Vec<(usize, f64)>,
}

/// `--k auto`: fits `kmeans.clone()` with every `k` in `k_min..=k_max` (capped at `n`) and
/// picks the largest [`silhouette_sampled`] (sample `sample_size`, seed stream per k).
///
/// # Errors
/// [`Error::InvalidParam`] if `k_min < 2` or `k_min > k_max`; errors of the fits.
pub fn choose_k_by_silhouette(
    x: ArrayView2<f32>,
    kmeans: &super::KMeans,
    k_min: usize,
    k_max: usize,
    sample_size: usize,
    seeds: &SeedTree,
) -> Result<KChoice> {
    if k_min < 2 || k_min > k_max {
        return Err(Error::param("k range", format!("need 2 <= k_min <= k_max, got {k_min}..={k_max}")));
    }
    let n = x.nrows();
    let mut scores = Vec::new();
    for k in k_min..=k_max.min(n.saturating_sub(1)) {
        let model = kmeans.clone().with_clusters(k).fit(x)?;
        let s = silhouette_sampled(x, &model.labels, sample_size, &seeds.child_indexed("k-auto", k as u64))?;
        scores.push((k, s));
    }
    if scores.is_empty() {
        return Err(Error::param("k range", format!("no k in {k_min}..={k_max} is below the number of points ({n})")));
    }
    let mut best = scores[0];
    for &s in &scores[1..] {
        if s.1 > best.1 {
            best = s;
        }
    }
    Ok(KChoice { k: best.0, scores })
}
