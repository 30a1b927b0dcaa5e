//! Exact nearest neighbours for HDBSCAN: a k-d tree for low dimensions and a brute-force scan
//! (the oracle, and the method for `d > `[`KD_TREE_MAX_DIM`]).
//!
//! Points `x: [n, d]` row-major `f32`. Every distance is computed by one function,
//! [`dist2`]: `Σ_j (a_j − b_j)²` in `f64`, summed in order `j = 0..d` (no fused multiply-add),
//! so the tree, the brute-force scan and the minimum spanning trees of [`super::mst`] see
//! bitwise the same values. Neighbours are ordered by the total order
//! `(dist2, index)`; the `k` nearest of a query are the first `k` in that order, a unique set.
//!
//! ## k-d tree
//! Built top-down: a node with more than [`LEAF_SIZE`] points is split at its median along its
//! widest dimension (largest `max − min` of its points, lowest dimension on ties), the median
//! taken in the order `(coordinate, index)`, so duplicate points still split and the tree is a
//! function of the data alone (no random pivots). Each node keeps the bounding box of its points.
//! Build O(n log n), memory O(n·d). The lower bound of a query's distance to a node,
//! [`KdTree::min_dist2`], runs the same `f64` operations as [`dist2`] with each difference
//! replaced by the gap to the box (0 inside it); rounding is monotone, so the bound never
//! exceeds the distance to any point of the box. A k-NN query descends nearer child first and
//! skips a node when its bound is *strictly* greater than the current `k`-th distance (a node
//! at equal distance may still hold a point with a lower index), so it returns exactly the
//! brute-force answer. On clustered data in `d ≤ 16` a query visits a few leaves per neighbour,
//! O(k log n) instead of O(n).
//!
//! ## Determinism
//! Queries are independent and each result is exact, so splitting queries over threads cannot
//! change any bit.

use rayon::prelude::*;
use std::collections::BinaryHeap;

/// Largest dimension for which HDBSCAN uses the k-d tree (above it the tree prunes too little).
pub const KD_TREE_MAX_DIM: usize = 16;

/// Largest number of points in a leaf.
pub const LEAF_SIZE: usize = 32;

/// Queries per parallel task (tree order, so neighbouring queries share cached nodes).
const QUERY_BLOCK: usize = 256;

const NO_CHILD: u32 = u32::MAX;

/// Squared Euclidean distance in `f64`, summed in order `j = 0..d`. Symmetric bitwise.
#[inline]
pub fn dist2(a: &[f32], b: &[f32]) -> f64 {
    let mut s = 0f64;
    for (&u, &v) in a.iter().zip(b) {
        let t = u as f64 - v as f64;
        s += t * t;
    }
    s
}

/// One node: points `start..end` of the tree order; `left`/`right` children or [`NO_CHILD`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub start: u32,
    pub end: u32,
    pub left: u32,
    pub right: u32,
}

impl Node {
    pub fn is_leaf(&self) -> bool {
        self.left == NO_CHILD
    }
}

/// A k-d tree over `[n, d]` points (see the module docs).
#[derive(Clone, Debug)]
pub struct KdTree {
    d: usize,
    /// Original index of the point at each tree position.
    pub(crate) perm: Vec<u32>,
    /// The points in tree order, `[n, d]`.
    pub(crate) pts: Vec<f32>,
    /// Nodes in pre-order (children after their parent); node 0 is the root.
    pub(crate) nodes: Vec<Node>,
    /// Per node `d` minima then `d` maxima.
    bounds: Vec<f32>,
    /// The points in tree order as `f64`, transposed per leaf: the leaf at positions
    /// `s..s + l` holds coordinate `j` of position `s + c` at `s·d + j·l + c`.
    soa: Vec<f64>,
}

impl KdTree {
    /// Builds the tree of `x: [n, d]` (`n ≥ 1`, `n < 2³²`).
    ///
    /// # Panics
    /// If `x.len() != n·d`, `n = 0` or `d = 0`.
    pub fn build(x: &[f32], n: usize, d: usize) -> Self {
        assert!(n >= 1 && d >= 1 && x.len() == n * d && n < NO_CHILD as usize, "KdTree::build: bad shape");
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let mut tree =
            KdTree { d, perm: Vec::new(), pts: Vec::new(), nodes: Vec::new(), bounds: Vec::new(), soa: Vec::new() };
        tree.build_node(x, &mut perm, 0, n);
        tree.pts = Vec::with_capacity(n * d);
        for &p in &perm {
            tree.pts.extend_from_slice(&x[p as usize * d..(p as usize + 1) * d]);
        }
        tree.soa = vec![0f64; n * d];
        for nd in tree.nodes.iter().filter(|nd| nd.is_leaf()) {
            let (s, l) = (nd.start as usize, (nd.end - nd.start) as usize);
            for c in 0..l {
                for j in 0..d {
                    tree.soa[s * d + j * l + c] = tree.pts[(s + c) * d + j] as f64;
                }
            }
        }
        tree.perm = perm;
        tree
    }

    fn build_node(&mut self, x: &[f32], perm: &mut [u32], start: usize, end: usize) -> u32 {
        let d = self.d;
        let id = self.nodes.len() as u32;
        self.nodes.push(Node { start: start as u32, end: end as u32, left: NO_CHILD, right: NO_CHILD });
        let mut lo = vec![f32::INFINITY; d];
        let mut hi = vec![f32::NEG_INFINITY; d];
        for &p in &perm[start..end] {
            let row = &x[p as usize * d..(p as usize + 1) * d];
            for j in 0..d {
                lo[j] = lo[j].min(row[j]);
                hi[j] = hi[j].max(row[j]);
            }
        }
        let mut widest = 0;
        for j in 1..d {
            if hi[j] as f64 - lo[j] as f64 > hi[widest] as f64 - lo[widest] as f64 {
                widest = j;
            }
        }
        self.bounds.extend_from_slice(&lo);
        self.bounds.extend_from_slice(&hi);
        if end - start > LEAF_SIZE {
            let mid = (end - start) / 2;
            perm[start..end].select_nth_unstable_by(mid, |&a, &b| {
                let (a, b) = (a as usize, b as usize);
                x[a * d + widest].total_cmp(&x[b * d + widest]).then(a.cmp(&b))
            });
            let left = self.build_node(x, perm, start, start + mid);
            let right = self.build_node(x, perm, start + mid, end);
            self.nodes[id as usize].left = left;
            self.nodes[id as usize].right = right;
        }
        id
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.perm.len()
    }

    /// Always `false` (a tree has at least one point).
    pub fn is_empty(&self) -> bool {
        self.perm.is_empty()
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Coordinates of the point at tree position `pos`.
    #[inline]
    pub(crate) fn point(&self, pos: usize) -> &[f32] {
        &self.pts[pos * self.d..(pos + 1) * self.d]
    }

    /// [`dist2`]`(p, q)` of every point `p` of leaf `node` into `out[..len]` (bitwise the same
    /// values, computed across the leaf's points).
    #[inline]
    pub(crate) fn leaf_dist2(&self, node: usize, q: &[f32], out: &mut [f64; LEAF_SIZE]) {
        let nd = self.nodes[node];
        let (s, l) = (nd.start as usize, (nd.end - nd.start) as usize);
        let acc = &mut out[..l];
        acc.fill(0.0);
        let block = &self.soa[s * self.d..(s + l) * self.d];
        for (col, &v) in block.chunks_exact(l).zip(q) {
            let v = v as f64;
            for (a, &u) in acc.iter_mut().zip(col) {
                let t = u - v;
                *a += t * t;
            }
        }
    }

    /// A lower bound of [`dist2`]`(q, p)` for every point `p` of `node` (see the module docs).
    #[inline]
    pub(crate) fn min_dist2(&self, node: usize, q: &[f32]) -> f64 {
        let d = self.d;
        let lo = &self.bounds[2 * node * d..(2 * node + 1) * d];
        let hi = &self.bounds[(2 * node + 1) * d..(2 * node + 2) * d];
        let mut s = 0f64;
        for j in 0..d {
            let v = q[j] as f64;
            let (l, h) = (lo[j] as f64, hi[j] as f64);
            let g = if v < l {
                l - v
            } else if v > h {
                v - h
            } else {
                0.0
            };
            s += g * g;
        }
        s
    }

    /// The `k` nearest points of `q` (`1 ≤ k ≤ n`) as `(dist2, original index)`, sorted by
    /// `(dist2, index)`; `heap` is scratch.
    pub fn knn(&self, q: &[f32], k: usize, heap: &mut BinaryHeap<(u64, u32)>) -> Vec<(f64, usize)> {
        assert!(k >= 1 && k <= self.len() && q.len() == self.d, "KdTree::knn: need 1 <= k <= n and q of length d");
        heap.clear();
        self.knn_node(0, q, k, heap);
        let mut v: Vec<(f64, usize)> = heap.drain().map(|(b, i)| (f64::from_bits(b), i as usize)).collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        v
    }

    fn knn_node(&self, node: usize, q: &[f32], k: usize, heap: &mut BinaryHeap<(u64, u32)>) {
        let nd = self.nodes[node];
        if nd.is_leaf() {
            let mut dists = [0f64; LEAF_SIZE];
            self.leaf_dist2(node, q, &mut dists);
            for (pos, &d2) in (nd.start as usize..nd.end as usize).zip(&dists) {
                // Non-negative f64 bits order like the values.
                let key = (d2.to_bits(), self.perm[pos]);
                if heap.len() < k {
                    heap.push(key);
                } else if let Some(mut top) = heap.peek_mut() {
                    if key < *top {
                        *top = key;
                    }
                }
            }
            return;
        }
        let (l, r) = (nd.left as usize, nd.right as usize);
        let (dl, dr) = (self.min_dist2(l, q), self.min_dist2(r, q));
        let order = if dl <= dr { [(l, dl), (r, dr)] } else { [(r, dr), (l, dl)] };
        for (child, bound) in order {
            let worst =
                if heap.len() < k { f64::INFINITY } else { f64::from_bits(heap.peek().map_or(u64::MAX, |t| t.0)) };
            if bound <= worst {
                self.knn_node(child, q, k, heap);
            }
        }
    }
}

/// The `k` nearest points of `q` among `x: [n, d]` by a full scan, in the same form as
/// [`KdTree::knn`]; `scratch` is reused between calls.
pub fn knn_brute(x: &[f32], d: usize, q: &[f32], k: usize, scratch: &mut Vec<(u64, u32)>) -> Vec<(f64, usize)> {
    let n = x.len() / d;
    assert!(k >= 1 && k <= n && q.len() == d, "knn_brute: need 1 <= k <= n and q of length d");
    scratch.clear();
    scratch.extend(x.chunks_exact(d).enumerate().map(|(i, p)| (dist2(p, q).to_bits(), i as u32)));
    if k < n {
        scratch.select_nth_unstable(k - 1);
    }
    let top = &mut scratch[..k];
    top.sort_unstable();
    top.iter().map(|&(b, i)| (f64::from_bits(b), i as usize)).collect()
}

/// How HDBSCAN finds neighbours and builds its spanning tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NeighbourIndex {
    /// [`NeighbourIndex::KdTree`] for `d ≤ `[`KD_TREE_MAX_DIM`], else [`NeighbourIndex::BruteForce`].
    #[default]
    Auto,
    /// k-d tree k-NN and Borůvka minimum spanning tree over the tree.
    KdTree,
    /// Full scans for k-NN and Prim's minimum spanning tree.
    BruteForce,
}

/// A searchable point set: the data and, for the tree method, its k-d tree.
#[derive(Clone, Debug)]
pub(crate) enum PointIndex {
    Tree(KdTree),
    Brute { x: Vec<f32>, d: usize },
}

impl PointIndex {
    pub fn new(x: &[f32], n: usize, d: usize, method: NeighbourIndex) -> Self {
        let tree = match method {
            NeighbourIndex::Auto => d <= KD_TREE_MAX_DIM,
            NeighbourIndex::KdTree => true,
            NeighbourIndex::BruteForce => false,
        };
        if tree {
            PointIndex::Tree(KdTree::build(x, n, d))
        } else {
            PointIndex::Brute { x: x.to_vec(), d }
        }
    }

    /// For every query row of `queries` (`[q, d]`) its `k` nearest points (sorted
    /// `(dist2, index)`), handed to `f(query index, neighbours)`; results in query order.
    pub fn knn_map<R: Send>(
        &self,
        queries: &[f32],
        k: usize,
        f: impl Fn(usize, &[(f64, usize)]) -> R + Sync,
    ) -> Vec<R> {
        let d = match self {
            PointIndex::Tree(t) => t.dim(),
            PointIndex::Brute { d, .. } => *d,
        };
        let nq = queries.len() / d;
        let blocks: Vec<usize> = (0..nq).step_by(QUERY_BLOCK).collect();
        let parts: Vec<Vec<R>> = blocks
            .into_par_iter()
            .map(|start| {
                let end = (start + QUERY_BLOCK).min(nq);
                let mut heap = BinaryHeap::new();
                let mut scratch = Vec::new();
                (start..end)
                    .map(|i| {
                        let q = &queries[i * d..(i + 1) * d];
                        let nb = match self {
                            PointIndex::Tree(t) => t.knn(q, k, &mut heap),
                            PointIndex::Brute { x, d } => knn_brute(x, *d, q, k, &mut scratch),
                        };
                        f(i, &nb)
                    })
                    .collect()
            })
            .collect();
        parts.into_iter().flatten().collect()
    }

    /// [`PointIndex::knn_map`] with the indexed points themselves as queries, taken in tree
    /// order for locality; results in point order.
    pub fn knn_self_map<R: Send + Clone + Default>(
        &self,
        k: usize,
        f: impl Fn(usize, &[(f64, usize)]) -> R + Sync,
    ) -> Vec<R> {
        match self {
            PointIndex::Brute { x, .. } => self.knn_map(x, k, f),
            PointIndex::Tree(t) => {
                let by_pos = self.knn_map(&t.pts, k, |pos, nb| f(t.perm[pos] as usize, nb));
                let mut out = vec![R::default(); t.len()];
                for (pos, r) in by_pos.into_iter().enumerate() {
                    out[t.perm[pos] as usize] = r;
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn tree_knn_equals_brute_force_with_duplicates_and_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for &(n, d, grid) in &[(1usize, 1usize, 0i32), (7, 2, 2), (100, 1, 3), (500, 3, 4), (700, 5, 0), (300, 16, 2)] {
            let x: Vec<f32> = (0..n * d)
                .map(|_| if grid > 0 { rng.gen_range(0..=grid) as f32 } else { rng.gen_range(-1.0f32..1.0) })
                .collect();
            let t = KdTree::build(&x, n, d);
            let mut heap = BinaryHeap::new();
            let mut scratch = Vec::new();
            for k in [1, 2.min(n), n.min(5), n] {
                for i in 0..n {
                    let q = &x[i * d..(i + 1) * d];
                    assert_eq!(t.knn(q, k, &mut heap), knn_brute(&x, d, q, k, &mut scratch), "n={n} d={d} k={k} i={i}");
                }
            }
        }
    }
}
