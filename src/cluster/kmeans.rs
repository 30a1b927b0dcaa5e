//! k-means (Lloyd) with k-means++ initialisation, as scikit-learn's `KMeans(algorithm="lloyd")`.
//!
//! Data `x: [n, d]`, centres `C: [k, d]`. The objective (inertia) is
//! `J(C, ℓ) = Σ_i ‖x_i − C_{ℓ(i)}‖²`.
//!
//! ## Initialisation
//! - **k-means++** (greedy, scikit-learn's `_kmeans_plusplus`): the first centre is a uniform
//!   random point; then for each further centre, `2 + ⌊ln k⌋` candidates are drawn with
//!   probability ∝ `D(x)²` (the squared distance to the nearest chosen centre, by inverse CDF on
//!   its f64 cumulative sum: `searchsorted(cumsum, u·Σ D²)`), and the candidate that most
//!   reduces the potential `Σ_i min(D(x_i)², ‖x_i − cand‖²)` is kept (first on ties).
//! - **random**: `k` distinct points drawn uniformly without replacement.
//! - **given** centres `[k, d]` (then `n_init` is 1, as scikit-learn does).
//!
//! The random stream of restart `r` is `seeds.rng_indexed("kmeans-init", r)` of the model seed.
//!
//! ## Lloyd iteration (scikit-learn's `_kmeans_single_lloyd`)
//! Each iteration assigns every point to its nearest centre (kernel
//! `detaux_kernels::distance::assign_and_accumulate`: ties to the lowest index, partial sums per
//! fixed block of points in f64, added in block order), then sets each centre to the mean of its
//! points. Stopping: *strict convergence* (labels equal to the previous iteration's), or
//! `Σ_c ‖C_new − C_old‖² ≤ tol · mean_j Var(x_{·j})` (scikit-learn's `tol`, relative to the mean
//! per-feature variance), or `max_iter`. When it stops without strict convergence the labels
//! are recomputed against the final centres. `inertia` is then computed by direct differences
//! in f64.
//!
//! **Empty clusters** (scikit-learn's policy): when centre `c` gets no point, the points farthest
//! from their assigned centre (largest current squared distance; ties to the lowest index) are
//! taken in order, one per empty cluster; each becomes the new centre of an empty cluster and is
//! removed from its old cluster's sum. A cluster left with no point by that keeps its previous
//! centre, so no centre is ever NaN.
//!
//! `inertia_history[t]` is `J(C_t, ℓ_t)` measured in the assignment step of iteration `t` (it
//! never increases, up to the rounding of the distance expansion; `tests/cluster_props.rs`).
//!
//! ## Determinism
//! Same seed and data ⇒ bitwise-identical centres, labels and inertia at any thread count.

use super::check_matrix;
use crate::error::{Error, Result};
use crate::par::Par;
use crate::rng::SeedTree;
use detaux_kernels::distance::{assign_and_accumulate, centre_dists, nearest_centre, CentrePanels};
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rayon::prelude::*;

/// How the initial centres are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Greedy k-means++ with `2 + ⌊ln k⌋` local trials (scikit-learn's default).
    KMeansPlusPlus,
    /// `k` distinct data points, uniformly at random.
    Random,
    /// These centres (`[k, d]`); one run only.
    Given(Array2<f32>),
}

/// k-means parameters (a builder; [`KMeans::validate`] checks them, [`KMeans::fit`] also
/// against the data).
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    n_clusters: usize,
    n_init: usize,
    max_iter: usize,
    tol: f64,
    init: Init,
    seed: u64,
}

/// A fitted k-means model.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansModel {
    /// `[k, d]` centres.
    pub centres: Array2<f32>,
    /// Cluster of every training point (`0..k`).
    pub labels: Vec<i64>,
    /// `Σ_i ‖x_i − C_{ℓ(i)}‖²` of the best run (f64, direct differences).
    pub inertia: f64,
    /// Lloyd iterations of the best run.
    pub n_iter: usize,
    /// Whether the best run stopped by strict or `tol` convergence (not by `max_iter`).
    pub converged: bool,
    /// Inertia measured in each assignment step of the best run.
    pub inertia_history: Vec<f64>,
    /// Which restart (0-based) was best.
    pub best_run: usize,
}

impl KMeans {
    /// Parameters with scikit-learn 1.0's defaults: `n_init = 10`, `max_iter = 300`,
    /// `tol = 1e-4`, k-means++, seed 0.
    pub fn new(n_clusters: usize) -> Self {
        KMeans { n_clusters, n_init: 10, max_iter: 300, tol: 1e-4, init: Init::KMeansPlusPlus, seed: 0 }
    }
    /// The same parameters with another number of clusters.
    pub fn with_clusters(mut self, n_clusters: usize) -> Self {
        self.n_clusters = n_clusters;
        self
    }
    /// Number of restarts (the best inertia wins).
    pub fn n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }
    /// Maximum Lloyd iterations per run.
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }
    /// Relative tolerance on the centre shift (see the module doc).
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    /// Initialisation method.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// Master seed of the initialisation streams.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The number of clusters.
    pub fn n_clusters(&self) -> usize {
        self.n_clusters
    }

    /// Checks the parameters that do not depend on the data ([`KMeans::fit`] also checks
    /// `n_clusters` and given centres against the data).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `n_clusters = 0`, `n_init = 0`, `max_iter = 0` or a negative or
    /// non-finite `tol`.
    pub fn validate(&self) -> Result<()> {
        if self.n_clusters == 0 {
            return Err(Error::param("n_clusters", "must be >= 1, got 0"));
        }
        if self.n_init == 0 {
            return Err(Error::param("n_init", "must be >= 1, got 0"));
        }
        if self.max_iter == 0 {
            return Err(Error::param("max_iter", "must be >= 1, got 0"));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::param("tol", format!("must be finite and >= 0, got {}", self.tol)));
        }
        Ok(())
    }

    fn validate_for(&self, n: usize, d: usize) -> Result<()> {
        self.validate()?;
        let k = self.n_clusters;
        if k > n {
            return Err(Error::param("n_clusters", format!("must be <= the number of points ({n}), got {k}")));
        }
        if let Init::Given(c) = &self.init {
            if c.dim() != (k, d) {
                return Err(Error::param(
                    "init",
                    format!("given centres have shape {:?}, expected [{k}, {d}]", c.shape()),
                ));
            }
            if c.iter().any(|v| !v.is_finite()) {
                return Err(Error::param("init", "given centres contain a non-finite value"));
            }
        }
        Ok(())
    }

    /// Fits on `x: [n, d]`.
    ///
    /// # Errors
    /// [`Error::InvalidData`] for an empty matrix or a non-finite value;
    /// [`Error::InvalidParam`] for `n_clusters = 0`, `n_clusters > n`, `n_init = 0`,
    /// `max_iter = 0`, a negative or non-finite `tol`, or given centres of the wrong shape.
    pub fn fit(&self, x: ArrayView2<f32>) -> Result<KMeansModel> {
        let (n, d) = x.dim();
        let data = check_matrix(&x, "k-means data")?;
        self.validate_for(n, d)?;
        let k = self.n_clusters;
        let tol_abs = self.tol * mean_variance(&data, d);
        let seeds = SeedTree::new(self.seed);
        let runs = if matches!(self.init, Init::Given(_)) { 1 } else { self.n_init };
        let mut best: Option<KMeansModel> = None;
        for run in 0..runs {
            let init = match &self.init {
                Init::Given(c) => c.iter().copied().collect(),
                Init::KMeansPlusPlus => {
                    let mut rng = seeds.rng_indexed("kmeans-init", run as u64);
                    kmeans_plusplus(&data, d, k, &mut rng)
                }
                Init::Random => {
                    let mut rng = seeds.rng_indexed("kmeans-init", run as u64);
                    random_init(&data, d, k, &mut rng)
                }
            };
            let mut model = lloyd(&data, d, k, init, self.max_iter, tol_abs);
            model.best_run = run;
            if best.as_ref().is_none_or(|b| model.inertia < b.inertia) {
                best = Some(model);
            }
        }
        Ok(best.expect("n_init >= 1"))
    }
}

impl KMeansModel {
    /// Nearest centre of every row of `x: [m, d]` (ties to the lowest index).
    ///
    /// # Errors
    /// [`Error::InvalidData`] for an empty matrix or a non-finite value; [`Error::Shape`] if `d`
    /// differs from the centres'.
    pub fn predict(&self, x: ArrayView2<f32>) -> Result<Vec<i64>> {
        let data = check_matrix(&x, "k-means predict data")?;
        let (k, d) = self.centres.dim();
        if x.ncols() != d {
            return Err(Error::shape("KMeansModel::predict", format!("data has {} columns, centres {d}", x.ncols())));
        }
        if k == 0 || self.centres.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidData("KMeansModel::predict: centres are empty or not finite".into()));
        }
        let centres: Vec<f32> = self.centres.iter().copied().collect();
        let cp = CentrePanels::new(&centres, k, d);
        let m = x.nrows();
        let mut labels = vec![0u32; m];
        let mut dist = vec![0f32; m];
        nearest_centre(&data, &cp, &mut labels, &mut dist, Par::Rayon);
        Ok(labels.into_iter().map(|l| l as i64).collect())
    }
}

/// Mean over features of the population variance (f64, two passes).
fn mean_variance(x: &[f32], d: usize) -> f64 {
    let n = x.len() / d;
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0f64; d];
    for row in x.chunks_exact(d) {
        var.iter_mut().zip(row).zip(&mean).for_each(|((s, &v), m)| *s += (v as f64 - m).powi(2));
    }
    var.iter().sum::<f64>() / (n as f64 * d as f64)
}

/// Greedy k-means++ (see the module doc). Returns `[k, d]` row-major.
pub fn kmeans_plusplus(x: &[f32], d: usize, k: usize, rng: &mut impl Rng) -> Vec<f32> {
    let n = x.len() / d;
    let trials = 2 + (k as f64).ln() as usize;
    let mut centres = Vec::with_capacity(k * d);
    let first = rng.gen_range(0..n);
    centres.extend_from_slice(&x[first * d..(first + 1) * d]);
    let mut closest = vec![0f32; n];
    {
        let cp = CentrePanels::new(&centres, 1, d);
        centre_dists(x, &cp, &mut closest, Par::Rayon);
    }
    let mut pot: f64 = block_sum(&closest);
    let mut cand_d = vec![0f32; n * trials];
    let mut cand_pts = vec![0f32; trials * d];
    let mut cumsum = vec![0f64; n];
    for _ in 1..k {
        let mut acc = 0f64;
        for (c, &v) in cumsum.iter_mut().zip(&closest) {
            acc += v as f64;
            *c = acc;
        }
        let mut ids = Vec::with_capacity(trials);
        for _ in 0..trials {
            let r = rng.gen::<f64>() * pot;
            let idx = cumsum.partition_point(|&c| c < r).min(n - 1);
            ids.push(idx);
        }
        for (t, &id) in ids.iter().enumerate() {
            cand_pts[t * d..(t + 1) * d].copy_from_slice(&x[id * d..(id + 1) * d]);
        }
        let cp = CentrePanels::new(&cand_pts, trials, d);
        centre_dists(x, &cp, &mut cand_d, Par::Rayon);
        // Potential of each candidate: blocks of fixed size, added in block order.
        const B: usize = 8192;
        let partial: Vec<Vec<f64>> = closest
            .par_chunks(B)
            .zip(cand_d.par_chunks(B * trials))
            .map(|(cl, cd)| {
                let mut p = vec![0f64; trials];
                for (i, &c) in cl.iter().enumerate() {
                    for t in 0..trials {
                        p[t] += cd[i * trials + t].min(c) as f64;
                    }
                }
                p
            })
            .collect();
        let mut pots = vec![0f64; trials];
        for p in &partial {
            pots.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        let mut bt = 0;
        for t in 1..trials {
            if pots[t] < pots[bt] {
                bt = t;
            }
        }
        pot = pots[bt];
        closest.par_iter_mut().enumerate().for_each(|(i, c)| *c = c.min(cand_d[i * trials + bt]));
        let id = ids[bt];
        centres.extend_from_slice(&x[id * d..(id + 1) * d]);
    }
    centres
}

fn block_sum(v: &[f32]) -> f64 {
    let parts: Vec<f64> = v.par_chunks(8192).map(|c| c.iter().map(|&x| x as f64).sum()).collect();
    parts.iter().sum()
}

fn random_init(x: &[f32], d: usize, k: usize, rng: &mut impl Rng) -> Vec<f32> {
    let n = x.len() / d;
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.gen_range(i..n);
        idx.swap(i, j);
    }
    let mut c = Vec::with_capacity(k * d);
    for &i in &idx[..k] {
        c.extend_from_slice(&x[i * d..(i + 1) * d]);
    }
    c
}

/// One Lloyd run from `init` (`[k, d]`).
fn lloyd(x: &[f32], d: usize, k: usize, init: Vec<f32>, max_iter: usize, tol_abs: f64) -> KMeansModel {
    let n = x.len() / d;
    let mut centres = init;
    let mut labels = vec![0u32; n];
    let mut labels_old = vec![u32::MAX; n];
    let mut dist = vec![0f32; n];
    let mut history = Vec::new();
    let mut strict = false;
    let mut converged = false;
    let mut n_iter = 0;
    for it in 0..max_iter {
        n_iter = it + 1;
        let cp = CentrePanels::new(&centres, k, d);
        let acc = assign_and_accumulate(x, &cp, &mut labels, &mut dist, Par::Rayon);
        history.push(acc.total_dist);
        let mut sums = acc.sums;
        let mut counts = acc.counts;
        relocate_empty(x, d, &labels, &dist, &mut sums, &mut counts);
        let mut shift = 0f64;
        for c in 0..k {
            if counts[c] == 0 {
                continue; // keeps the previous centre (never NaN)
            }
            let inv = 1.0 / counts[c] as f64;
            for j in 0..d {
                let new = (sums[c * d + j] * inv) as f32;
                shift += (new as f64 - centres[c * d + j] as f64).powi(2);
                centres[c * d + j] = new;
            }
        }
        if labels == labels_old {
            strict = true;
            converged = true;
            break;
        }
        if shift <= tol_abs {
            converged = true;
            break;
        }
        labels_old.copy_from_slice(&labels);
    }
    if !strict {
        let cp = CentrePanels::new(&centres, k, d);
        nearest_centre(x, &cp, &mut labels, &mut dist, Par::Rayon);
    }
    let inertia = inertia_direct(x, d, &centres, &labels);
    KMeansModel {
        centres: Array2::from_shape_vec((k, d), centres).expect("k*d centres"),
        labels: labels.into_iter().map(|l| l as i64).collect(),
        inertia,
        n_iter,
        converged,
        inertia_history: history,
        best_run: 0,
    }
}

/// scikit-learn's `_relocate_empty_clusters_dense` on sums/counts (see the module doc).
fn relocate_empty(x: &[f32], d: usize, labels: &[u32], dist: &[f32], sums: &mut [f64], counts: &mut [u64]) {
    let empty: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] == 0).collect();
    if empty.is_empty() {
        return;
    }
    let mut order: Vec<usize> = (0..dist.len()).collect();
    let m = empty.len().min(order.len());
    let cmp = |a: &usize, b: &usize| dist[*b].total_cmp(&dist[*a]).then(a.cmp(b));
    if m < order.len() {
        order.select_nth_unstable_by(m, cmp);
    }
    order.truncate(m);
    order.sort_by(cmp);
    for (&new_c, &far) in empty.iter().zip(&order) {
        let old_c = labels[far] as usize;
        let row = &x[far * d..(far + 1) * d];
        for j in 0..d {
            sums[old_c * d + j] -= row[j] as f64;
            sums[new_c * d + j] = row[j] as f64;
        }
        counts[old_c] -= 1;
        counts[new_c] = 1;
    }
}

/// `Σ_i ‖x_i − C_{ℓ(i)}‖²` by direct differences in f64, per fixed block, blocks in order.
pub fn inertia_direct(x: &[f32], d: usize, centres: &[f32], labels: &[u32]) -> f64 {
    const B: usize = 4096;
    let parts: Vec<f64> = x
        .par_chunks(B * d)
        .zip(labels.par_chunks(B))
        .map(|(xb, lb)| {
            let mut s = 0f64;
            for (row, &l) in xb.chunks_exact(d).zip(lb) {
                let c = &centres[l as usize * d..(l as usize + 1) * d];
                s += row.iter().zip(c).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>();
            }
            s
        })
        .collect();
    parts.iter().sum()
}
