//! HDBSCAN (Campello, Moulavi & Sander 2013), following the `hdbscan` package (0.8.x, McInnes
//! et al.) step by step with its defaults: Euclidean metric, `alpha = 1`, excess-of-mass
//! selection, `allow_single_cluster = false`, `cluster_selection_epsilon = 0`,
//! `min_samples = min_cluster_size` unless given.
//!
//! Data `x: [n, d]`. With `m = min(min_samples, n − 1)`:
//! 1. **Core distance** `core(a)` = distance from `a` to its `m`-th nearest other point (the
//!    package's `query(k = m + 1)[:, -1]`, the point itself included at rank 0).
//! 2. **Mutual reachability** `mr(a, b) = max(core(a), core(b), ‖a − b‖)`.
//! 3. **Minimum spanning tree** of the complete `mr` graph by Prim's algorithm without storing
//!    the graph: the points not yet in the tree are kept compacted in structure-of-arrays form
//!    (`[d, n]`), each step relaxes them against the newly added point
//!    (`detaux_kernels::distance::prim_relax`, squared values, f32) and takes the minimum (ties →
//!    smallest f64 weight, then lowest point index). O(n²·d) time, O(n·d) memory. The chosen edge's weight is then
//!    recomputed in f64. The k-NN of step 1 is brute force over fixed blocks of queries with a
//!    bounded max-heap per query, blocks of queries sharing each chunk of candidates (f32 direct differences for the search, the m-th neighbour's
//!    distance recomputed in f64).
//! 4. **Single-linkage tree**: edges sorted by weight (stable), merged with union-find; node
//!    `n + i` is the `i`-th merge, rows `[left, right, distance, size]`.
//! 5. **Condensed tree** (`condense_tree`): walk the hierarchy breadth-first from the root with
//!    `λ = 1/distance`; a split where both sides have ≥ `min_cluster_size` points makes two new
//!    clusters, otherwise the small side's points "fall out" of the parent at that `λ`.
//! 6. **Stability** `S(C) = Σ_{p ∈ C} (λ_p − λ_birth(C))` (`compute_stability`), and
//!    **excess-of-mass** selection: from the leaves up, a cluster is kept if its stability is at
//!    least the sum of its children's (that sum accumulated in `f32`, as the package's
//!    `cdef float`), else replaced by them; the root is never selected.
//! 7. **Labels**: a point takes the label of its nearest selected ancestor, `−1` (noise) if there
//!    is none; labels number the selected clusters in increasing condensed-tree id.
//!    **Probabilities**: `min(λ_p, λ_max(C)) / λ_max(C)` with `λ_max(C)` the largest `λ` among
//!    `C`'s direct rows (`get_probabilities`).
//! 8. **approximate_predict** (`hdbscan.prediction`): for a new point, its `2m` nearest training
//!    points; its own core distance is the distance to the neighbour of rank `m` (0-based, as the
//!    package); the neighbour with the smallest `max(core′(b), core(p), ‖p − b‖)` (with the
//!    package's prediction core distances `core′`: rank `m − 1` including the point itself) is
//!    the connection point; the new point joins that point's condensed-tree parent at
//!    `λ = 1/mr`, walking up while the cluster was born at `λ ≥` that; the label is the selected
//!    cluster containing it (sub-clusters map to their selected ancestor), else `−1`.
//!
//! ## Determinism
//! All steps are sequential or split over outputs (queries, point chunks with an exact
//! min/argmin reduction), so the result is bitwise identical at any thread count. Exact ties of
//! MST weights (common: `mr` is often a core distance) are broken by edge order (stable sort
//! of the Prim order), which may differ from the package's (Borůvka + quicksort); this does not
//! change the connected components at any threshold, but where a point and a split occur at the
//! same λ it decides whether the point falls out of the parent or of a child. So permuting the
//! input rows permutes the labels except for a few such boundary points
//! (`tests/cluster_props.rs`: ARI ≥ 0.995, ≤ 0.5 % of points change noise status; the package
//! behaves the same way).

use super::check_matrix;
use crate::error::{Error, Result};
use crate::par::Par;
use detaux_kernels::distance::{knn_soa, prim_relax};
use ndarray::ArrayView2;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// HDBSCAN parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hdbscan {
    min_cluster_size: usize,
    min_samples: Option<usize>,
}

/// One row of the condensed tree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CondensedRow {
    /// Parent cluster id (`≥ n`; the root is `n`).
    pub parent: usize,
    /// Child: a point (`< n`) or a cluster (`≥ n`).
    pub child: usize,
    /// `λ = 1/distance` at which the child leaves the parent.
    pub lambda: f64,
    /// Points in the child.
    pub child_size: usize,
}

/// A fitted HDBSCAN model with its prediction data.
#[derive(Clone, Debug)]
pub struct HdbscanModel {
    /// Cluster of every training point (`0..n_clusters`), `−1` for noise.
    pub labels: Vec<i64>,
    /// Membership strength of every training point (0 for noise).
    pub probabilities: Vec<f64>,
    /// Number of selected clusters.
    pub n_clusters: usize,
    /// The condensed tree.
    pub condensed_tree: Vec<CondensedRow>,
    /// Core distance of every training point.
    pub core_distances: Vec<f64>,
    min_samples: usize,
    d: usize,
    /// Training data transposed `[d, n]`.
    xt: Vec<f32>,
    /// Training data `[n, d]`.
    x: Vec<f32>,
    core_pred: Vec<f64>,
    point_row: Vec<(usize, f64)>,
    cluster_parent: BTreeMap<usize, (usize, f64)>,
    cluster_label: BTreeMap<usize, i64>,
    cluster_max_lambda: BTreeMap<usize, f64>,
    root: usize,
}

impl Hdbscan {
    /// Parameters with `min_samples = min_cluster_size`.
    pub fn new(min_cluster_size: usize) -> Self {
        Hdbscan { min_cluster_size, min_samples: None }
    }
    /// Sets `min_samples` (the `k` of the core distance).
    pub fn min_samples(mut self, min_samples: usize) -> Self {
        self.min_samples = Some(min_samples);
        self
    }

    /// Checks the parameters ([`Hdbscan::fit`] calls it).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `min_cluster_size < 2` or `min_samples = 0`.
    pub fn validate(&self) -> Result<()> {
        if self.min_cluster_size < 2 {
            return Err(Error::param("min_cluster_size", format!("must be >= 2, got {}", self.min_cluster_size)));
        }
        if self.min_samples == Some(0) {
            return Err(Error::param("min_samples", "must be >= 1, got 0"));
        }
        Ok(())
    }

    /// Fits on `x: [n, d]`.
    ///
    /// # Errors
    /// As [`Hdbscan::validate`]; [`Error::InvalidData`] for an empty matrix, fewer than 2
    /// points or a non-finite value.
    pub fn fit(&self, x: ArrayView2<f32>) -> Result<HdbscanModel> {
        self.validate()?;
        let data = check_matrix(&x, "HDBSCAN data")?;
        let (n, d) = x.dim();
        if n < 2 {
            return Err(Error::InvalidData(format!("HDBSCAN data: need at least 2 points, got {n}")));
        }
        let m = self.min_samples.unwrap_or(self.min_cluster_size).min(n - 1).max(1);
        let xv: Vec<f32> = data.into_owned();
        let xt = transpose(&xv, n, d);

        // 1. core distances (fit: rank m incl. self; prediction: rank m - 1).
        let mut core = vec![0f64; n];
        let mut core_pred = vec![0f64; n];
        knn_blocks(&xt, n, d, &xv, m + 1, |q, neigh| {
            let sorted = refine(&xv, d, &xv[q * d..(q + 1) * d], neigh);
            (sorted[m].0, sorted[m - 1].0)
        })
        .into_iter()
        .enumerate()
        .for_each(|(i, (c, cp))| {
            core[i] = c;
            core_pred[i] = cp;
        });

        // 2-3. MST by Prim.
        let edges = prim_mst(&xv, &xt, n, d, &core);
        // 4. single linkage.
        let hierarchy = single_linkage(edges, n);
        // 5. condensed tree.
        let tree = condense_tree(&hierarchy, n, self.min_cluster_size);
        // 6-7.
        let stability = compute_stability(&tree, n);
        let selected = select_eom(&tree, stability);
        let cluster_label: BTreeMap<usize, i64> = selected.iter().enumerate().map(|(i, &c)| (c, i as i64)).collect();
        let mut parent_of: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
        let mut point_row = vec![(n, 0f64); n];
        let mut max_lambda: BTreeMap<usize, f64> = BTreeMap::new();
        for r in &tree {
            if r.child >= n {
                parent_of.insert(r.child, (r.parent, r.lambda));
            } else {
                point_row[r.child] = (r.parent, r.lambda);
            }
            let e = max_lambda.entry(r.parent).or_insert(0.0);
            if r.lambda > *e {
                *e = r.lambda;
            }
        }
        let mut labels = vec![-1i64; n];
        let mut probabilities = vec![0f64; n];
        for p in 0..n {
            let (mut node, lam) = point_row[p];
            while node != n && !cluster_label.contains_key(&node) {
                node = parent_of[&node].0;
            }
            if let Some(&l) = cluster_label.get(&node) {
                labels[p] = l;
                let ml = max_lambda.get(&node).copied().unwrap_or(0.0);
                probabilities[p] = if ml == 0.0 || !lam.is_finite() { 1.0 } else { lam.min(ml) / ml };
            }
        }
        // Prediction data: every sub-cluster maps to its selected ancestor.
        let mut pred_label = BTreeMap::new();
        let mut pred_max = BTreeMap::new();
        for (&c, &l) in &cluster_label {
            pred_label.insert(c, l);
            pred_max.insert(c, max_lambda.get(&c).copied().unwrap_or(0.0));
        }
        for &c in parent_of.keys() {
            let mut a = c;
            while a != n && !cluster_label.contains_key(&a) {
                a = parent_of[&a].0;
            }
            if let Some(&l) = cluster_label.get(&a) {
                pred_label.insert(c, l);
                pred_max.insert(c, pred_max[&a]);
            }
        }
        Ok(HdbscanModel {
            labels,
            probabilities,
            n_clusters: selected.len(),
            condensed_tree: tree,
            core_distances: core,
            min_samples: m,
            d,
            xt,
            x: xv,
            core_pred,
            point_row,
            cluster_parent: parent_of,
            cluster_label: pred_label,
            cluster_max_lambda: pred_max,
            root: n,
        })
    }
}

impl HdbscanModel {
    /// The package's `approximate_predict`: `(labels, probabilities)` of new points `[q, d]`.
    ///
    /// # Errors
    /// [`Error::InvalidData`] for bad data; [`Error::Shape`] if `d` differs.
    pub fn approximate_predict(&self, points: ArrayView2<f32>) -> Result<(Vec<i64>, Vec<f64>)> {
        let data = check_matrix(&points, "HDBSCAN predict data")?;
        if points.ncols() != self.d {
            return Err(Error::shape(
                "approximate_predict",
                format!("data has {} columns, model {}", points.ncols(), self.d),
            ));
        }
        let q = points.nrows();
        if self.cluster_parent.is_empty() {
            return Ok((vec![-1; q], vec![0.0; q]));
        }
        let n = self.x.len() / self.d;
        let m = self.min_samples;
        let k = (2 * m).min(n);
        let d = self.d;
        let out = knn_blocks(&self.xt, n, d, &data, k, |qi, neigh| {
            let sorted = refine(&self.x, d, &data[qi * d..(qi + 1) * d], neigh);
            let own_core = sorted[m.min(sorted.len() - 1)].0;
            let mut best = f64::INFINITY;
            let mut nn = 0usize;
            for &(dist, j) in &sorted {
                let mr = self.core_pred[j].max(own_core).max(dist);
                if mr < best {
                    best = mr;
                    nn = j;
                }
            }
            let mut lambda = if best > 0.0 { 1.0 / best } else { f64::MAX };
            let (parent, row_lambda) = self.point_row[nn];
            let mut potential = parent;
            if row_lambda > lambda {
                while potential > self.root {
                    match self.cluster_parent.get(&potential) {
                        Some(&(p, l)) if l >= lambda => potential = p,
                        _ => break,
                    }
                }
            }
            match self.cluster_label.get(&potential) {
                Some(&label) => {
                    let ml = self.cluster_max_lambda[&potential];
                    let prob = if ml > 0.0 {
                        lambda = lambda.min(ml);
                        lambda / ml
                    } else {
                        1.0
                    };
                    (label, prob)
                }
                None => (-1, 0.0),
            }
        });
        Ok(out.into_iter().unzip())
    }
}

fn transpose(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    let mut t = vec![0f32; n * d];
    for i in 0..n {
        for j in 0..d {
            t[j * n + i] = x[i * d + j];
        }
    }
    t
}

/// Queries per call of the k-NN kernel (bounds the `[q, k]` index buffer).
const QUERY_BATCH: usize = 4096;

/// For every query row of `queries` (`[q, d]`), its `k` nearest points of `xt` (`[d, n]`) by
/// f32 squared distance (ties → lower index; `detaux_kernels::distance::knn_soa`), handed to
/// `f(query index, neighbours)`; results in query order.
fn knn_blocks<R: Send>(
    xt: &[f32],
    n: usize,
    d: usize,
    queries: &[f32],
    k: usize,
    f: impl Fn(usize, &[u32]) -> R + Sync,
) -> Vec<R> {
    let nq = queries.len() / d;
    let mut out = Vec::with_capacity(nq);
    let mut idx = vec![0u32; QUERY_BATCH.min(nq) * k];
    for start in (0..nq).step_by(QUERY_BATCH) {
        let len = QUERY_BATCH.min(nq - start);
        let idx = &mut idx[..len * k];
        knn_soa(xt, n, d, &queries[start * d..(start + len) * d], k, idx, Par::Rayon);
        let idx = &*idx;
        let part: Vec<R> = (0..len).into_par_iter().map(|i| f(start + i, &idx[i * k..(i + 1) * k])).collect();
        out.extend(part);
    }
    out
}

/// `(distance in f64, index)` of the neighbours, sorted by distance then index.
fn refine(x: &[f32], d: usize, q: &[f32], neigh: &[u32]) -> Vec<(f64, usize)> {
    let mut v: Vec<(f64, usize)> = neigh
        .iter()
        .map(|&j| {
            let j = j as usize;
            let s: f64 = x[j * d..(j + 1) * d].iter().zip(q).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            (s.sqrt(), j)
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v
}

/// Relaxation chunk of Prim (fixed; the reduction is an exact min, so any split is the same).
const PRIM_CHUNK: usize = 4096;

/// Prim's MST on the mutual-reachability graph: `n − 1` edges `(a, b, weight)` in the order added.
fn prim_mst(x: &[f32], xt_full: &[f32], n: usize, d: usize, core: &[f64]) -> Vec<(usize, usize, f64)> {
    let mut xt = xt_full.to_vec();
    let core2_full: Vec<f32> = core.iter().map(|&c| (c * c) as f32).collect();
    let mut core2 = core2_full.clone();
    let mut best = vec![f32::INFINITY; n];
    let mut src = vec![0u32; n];
    let mut ids: Vec<u32> = (0..n as u32).collect();
    let mut edges = Vec::with_capacity(n - 1);
    // Start from point 0: remove it (swap with the last).
    let mut m = n;
    let mut current = 0usize;
    remove_at(&mut xt, n, d, &mut core2, &mut best, &mut src, &mut ids, 0, m);
    m -= 1;
    let mut q = vec![0f32; d];
    while m > 0 {
        q.copy_from_slice(&x[current * d..(current + 1) * d]);
        let cq2 = core2_full[current];
        let cur = current as u32;
        let par = Par::Rayon.for_work(m * d, 4 * PRIM_CHUNK * d);
        let min_v = if par == Par::Seq {
            prim_relax(&xt, n, d, &q, cq2, &core2[..m], &mut best[..m], &mut src[..m], cur)
        } else {
            // Split the columns of xt by chunks of positions: each task sees its own slices.
            let xt_ref = &xt;
            best[..m]
                .par_chunks_mut(PRIM_CHUNK)
                .zip(src[..m].par_chunks_mut(PRIM_CHUNK))
                .enumerate()
                .map(|(c, (b, s))| {
                    let off = c * PRIM_CHUNK;
                    prim_relax(&xt_ref[off..], n, d, &q, cq2, &core2[off..off + b.len()], b, s, cur)
                })
                .reduce(|| f32::INFINITY, f32::min)
        };
        // Among the positions holding the f32 minimum: the smallest f64 weight, then the
        // lowest point index.
        let weight = |a: usize, b: usize| -> f64 {
            let dist: f64 = x[a * d..(a + 1) * d]
                .iter()
                .zip(&x[b * d..(b + 1) * d])
                .map(|(&u, &v)| (u as f64 - v as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            dist.max(core[a]).max(core[b])
        };
        let mut pos = usize::MAX;
        let mut pid = u32::MAX;
        let mut pw = f64::INFINITY;
        // A vectorisable count per chunk first; only chunks holding the minimum are scanned.
        for (ci, chunk) in best[..m].chunks(64).enumerate() {
            let hits: u32 = chunk.iter().map(|&bv| (bv == min_v) as u32).sum();
            if hits == 0 {
                continue;
            }
            for (l, &bv) in chunk.iter().enumerate() {
                let i = ci * 64 + l;
                if bv == min_v {
                    let id = ids[i];
                    let w = weight(src[i] as usize, id as usize);
                    if w < pw || (w == pw && id < pid) {
                        pid = id;
                        pos = i;
                        pw = w;
                    }
                }
            }
        }
        let (a, b) = (src[pos] as usize, ids[pos] as usize);
        edges.push((a, b, pw));
        remove_at(&mut xt, n, d, &mut core2, &mut best, &mut src, &mut ids, pos, m);
        m -= 1;
        current = b;
    }
    edges
}

#[allow(clippy::too_many_arguments)]
fn remove_at(
    xt: &mut [f32],
    stride: usize,
    d: usize,
    core2: &mut [f32],
    best: &mut [f32],
    src: &mut [u32],
    ids: &mut [u32],
    pos: usize,
    m: usize,
) {
    let last = m - 1;
    for j in 0..d {
        xt[j * stride + pos] = xt[j * stride + last];
    }
    core2[pos] = core2[last];
    best[pos] = best[last];
    src[pos] = src[last];
    ids[pos] = ids[last];
}

/// Union-find labelling of sorted MST edges (the package's `label`): rows
/// `(left, right, distance, size)`.
fn single_linkage(mut edges: Vec<(usize, usize, f64)>, n: usize) -> Vec<(usize, usize, f64, usize)> {
    edges.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut parent: Vec<usize> = (0..2 * n - 1).collect();
    let mut size = vec![1usize; 2 * n - 1];
    fn find(p: &mut [usize], mut x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        while p[x] != r {
            let nx = p[x];
            p[x] = r;
            x = nx;
        }
        r
    }
    let mut out = Vec::with_capacity(n - 1);
    for (i, &(a, b, w)) in edges.iter().enumerate() {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        let new = n + i;
        let s = size[ra] + size[rb];
        out.push((ra, rb, w, s));
        parent[ra] = new;
        parent[rb] = new;
        size[new] = s;
    }
    out
}

fn bfs_from_hierarchy(h: &[(usize, usize, f64, usize)], n: usize, root: usize) -> Vec<usize> {
    let mut result = Vec::new();
    let mut level = vec![root];
    while !level.is_empty() {
        result.extend_from_slice(&level);
        let mut next = Vec::new();
        for &x in &level {
            if x >= n {
                let r = h[x - n];
                next.push(r.0);
                next.push(r.1);
            }
        }
        level = next;
    }
    result
}

/// The package's `condense_tree`.
fn condense_tree(h: &[(usize, usize, f64, usize)], n: usize, min_cluster_size: usize) -> Vec<CondensedRow> {
    let root = 2 * (n - 1);
    let mut next_label = n + 1;
    let nodes = bfs_from_hierarchy(h, n, root);
    let mut relabel = vec![0usize; root + 1];
    relabel[root] = n;
    let mut ignore = vec![false; root + 1];
    let mut out = Vec::new();
    let count = |x: usize| if x >= n { h[x - n].3 } else { 1 };
    for &node in &nodes {
        if ignore[node] || node < n {
            continue;
        }
        let (left, right, dist, _) = h[node - n];
        let lambda = if dist > 0.0 { 1.0 / dist } else { f64::INFINITY };
        let (lc, rc) = (count(left), count(right));
        let parent = relabel[node];
        let fall_out = |child: usize, ignore: &mut [bool], out: &mut Vec<CondensedRow>| {
            for sub in bfs_from_hierarchy(h, n, child) {
                if sub < n {
                    out.push(CondensedRow { parent, child: sub, lambda, child_size: 1 });
                }
                ignore[sub] = true;
            }
        };
        if lc >= min_cluster_size && rc >= min_cluster_size {
            relabel[left] = next_label;
            next_label += 1;
            out.push(CondensedRow { parent, child: relabel[left], lambda, child_size: lc });
            relabel[right] = next_label;
            next_label += 1;
            out.push(CondensedRow { parent, child: relabel[right], lambda, child_size: rc });
        } else if lc < min_cluster_size && rc < min_cluster_size {
            fall_out(left, &mut ignore, &mut out);
            fall_out(right, &mut ignore, &mut out);
        } else if lc < min_cluster_size {
            relabel[right] = parent;
            fall_out(left, &mut ignore, &mut out);
        } else {
            relabel[left] = parent;
            fall_out(right, &mut ignore, &mut out);
        }
    }
    out
}

/// The package's `compute_stability`: cluster id → stability.
fn compute_stability(tree: &[CondensedRow], n: usize) -> BTreeMap<usize, f64> {
    let mut births: BTreeMap<usize, f64> = BTreeMap::new();
    for r in tree {
        if r.child >= n {
            let e = births.entry(r.child).or_insert(r.lambda);
            *e = e.min(r.lambda);
        }
    }
    births.insert(n, 0.0);
    let mut stab: BTreeMap<usize, f64> = BTreeMap::new();
    let max_parent = tree.iter().map(|r| r.parent).max().unwrap_or(n);
    for c in n..=max_parent {
        stab.insert(c, 0.0);
    }
    for r in tree {
        let b = births.get(&r.parent).copied().unwrap_or(f64::NAN);
        *stab.get_mut(&r.parent).expect("parent in range") += (r.lambda - b) * r.child_size as f64;
    }
    stab
}

/// Excess-of-mass selection (the package's `get_clusters`, `eom`, no single cluster).
fn select_eom(tree: &[CondensedRow], mut stability: BTreeMap<usize, f64>) -> Vec<usize> {
    let mut node_list: Vec<usize> = stability.keys().rev().copied().collect();
    node_list.pop(); // the root (smallest id) is never a candidate
    let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for r in tree.iter().filter(|r| r.child_size > 1) {
        children.entry(r.parent).or_default().push(r.child);
    }
    let mut is_cluster: BTreeMap<usize, bool> = node_list.iter().map(|&c| (c, true)).collect();
    for &node in &node_list {
        let mut sub: f32 = 0.0;
        for ch in children.get(&node).map(|v| v.as_slice()).unwrap_or(&[]) {
            sub = (sub as f64 + stability[ch]) as f32;
        }
        if sub as f64 > stability[&node] {
            is_cluster.insert(node, false);
            stability.insert(node, sub as f64);
        } else {
            let mut stack: Vec<usize> = children.get(&node).cloned().unwrap_or_default();
            while let Some(s) = stack.pop() {
                is_cluster.insert(s, false);
                if let Some(c) = children.get(&s) {
                    stack.extend_from_slice(c);
                }
            }
        }
    }
    let selected: BTreeSet<usize> = is_cluster.into_iter().filter(|&(_, v)| v).map(|(c, _)| c).collect();
    selected.into_iter().collect()
}
