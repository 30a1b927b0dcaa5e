//! Squared-L2 distance kernels for clustering: nearest-centre assignment (k-means), fused
//! centroid accumulation, and structure-of-arrays distance rows (HDBSCAN's k-NN and Prim).
//!
//! ## Nearest centre
//! Points `x: [n, d]` and centres `c: [k, d]`, both row-major `f32`. For every point
//! ```text
//! label(x) = argmin_c  ‖c‖² − 2 x·c          (ties → lowest centre index)
//! dist(x)  = max(0, ‖x‖² + ‖c*‖² − 2 x·c*)   (squared distance to the chosen centre)
//! ```
//! as scikit-learn's Lloyd step does (it initialises the distance block with ‖c‖² and adds
//! −2·X·Cᵀ with a GEMM). The centres are transposed to `[d, KB]` panels of `KB ∈ {8, 16, 32, 64}`
//! columns (padded with zero coordinates and `‖c‖² = +∞`, so padding never wins); for each point
//! the `KB` dot products live in registers (`d` broadcast multiply-adds per panel) and the
//! argmin is done with 8 lanes (lane `l` sees centres `l, l+8, …`, strict `<`), then the 8
//! lanes are reduced lexicographically on `(value, index)`, which gives the lowest index among
//! exact ties. `d` is small in detaux (10), so this register-blocked loop beats a GEMM call
//! whose packing overhead dominates at `k ≤ 64`.
//!
//! **Precision.** The expansion `‖x‖² − 2x·c + ‖c‖²` cancels catastrophically when `x` is far
//! from the origin relative to its distance to `c`: the absolute error of the computed value is
//! about `ε·(‖x‖² + ‖c‖²)` (ε = 2⁻²⁴), not `ε·‖x − c‖²`. Two centres whose true squared
//! distances differ by less than that can be ordered either way (the oracle
//! [`nearest_centre_reference`] computes `Σ (x_j − c_j)²` in `f64` and can disagree on such
//! near-ties). The sweep test therefore checks that the chosen centre is within that bound of
//! the true minimum, and that labels agree exactly whenever the gap is larger. scikit-learn has
//! the same property (it also uses the expansion in `f32` for `f32` data).
//!
//! ## Structure-of-arrays rows
//! [`sq_dists_soa`] computes `out[i] = Σ_j (xt[j·stride + i] − q_j)²` by direct differences
//! (accurate to a few ulps of the result, no cancellation); [`prim_relax`] fuses that with the
//! mutual-reachability `max` and the running minimum of Prim's algorithm.
//!
//! ## SIMD and determinism
//! On x86-64 with AVX2+FMA (detected at run time) the loops run in a copy compiled for those
//! features (multiply-adds fused); otherwise in a portable copy (separate multiply and add).
//! Which copy runs depends only on the machine, so results are reproducible on one machine but
//! may differ in the last bits between machines with and without FMA. Work is split over fixed
//! blocks of [`POINT_BLOCK`] points (outputs); centroid partial sums are made per block of
//! [`SUM_BLOCK`] points, sequentially in point order in `f64`, and added in block order, so
//! every result is bitwise independent of [`Par`] and of the rayon pool size.

use crate::Par;
use rayon::prelude::*;

/// Points per parallel task of the assignment kernels (fixed: results never depend on it anyway).
pub const POINT_BLOCK: usize = 1024;
/// Points per partial sum of [`assign_and_accumulate`] (fixed: part of the result's definition).
pub const SUM_BLOCK: usize = 4096;
/// Centre panel width used for `k > 32`.
const MAX_PANEL: usize = 64;

/// Centres prepared for [`nearest_centre`]: transposed `[d, KB]` panels plus squared norms.
#[derive(Clone, Debug)]
pub struct CentrePanels {
    d: usize,
    k: usize,
    panel: usize,
    /// `n_panels × d × panel`, panel-major.
    ct: Vec<f32>,
    /// `n_panels × panel` squared norms (`+∞` for padding).
    cn: Vec<f32>,
}

impl CentrePanels {
    /// Prepares `centres: [k, d]` (row-major).
    ///
    /// # Panics
    /// If `k == 0`, `d == 0` or `centres.len() != k·d`.
    pub fn new(centres: &[f32], k: usize, d: usize) -> Self {
        assert!(k > 0 && d > 0, "CentrePanels: k and d must be positive");
        assert_eq!(centres.len(), k * d, "CentrePanels: centres must be [k, d]");
        let panel = match k {
            0..=8 => 8,
            9..=16 => 16,
            17..=32 => 32,
            _ => MAX_PANEL,
        };
        let n_panels = k.div_ceil(panel);
        let mut ct = vec![0f32; n_panels * d * panel];
        let mut cn = vec![f32::INFINITY; n_panels * panel];
        for c in 0..k {
            let (p, l) = (c / panel, c % panel);
            let row = &centres[c * d..(c + 1) * d];
            let mut norm = 0f32;
            for (j, &v) in row.iter().enumerate() {
                ct[p * d * panel + j * panel + l] = v;
                norm += v * v;
            }
            cn[p * panel + l] = norm;
        }
        CentrePanels { d, k, panel, ct, cn }
    }

    /// Number of centres.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Dimension.
    pub fn d(&self) -> usize {
        self.d
    }
}

/// Nearest centre of one point over the panel `ct: [d, KB]`, `cn: [KB]`: `(value, index in panel)`
/// where value = ‖c‖² − 2x·c.
#[inline(always)]
fn panel_argmin<const KB: usize, const FMA: bool>(x: &[f32], ct: &[f32], cn: &[f32]) -> (f32, u32) {
    let mut acc = [0f32; KB];
    for (j, &xj) in x.iter().enumerate() {
        let row: &[f32; KB] = ct[j * KB..(j + 1) * KB].try_into().unwrap();
        for c in 0..KB {
            acc[c] = if FMA { xj.mul_add(row[c], acc[c]) } else { acc[c] + xj * row[c] };
        }
    }
    let cn: &[f32; KB] = cn[..KB].try_into().unwrap();
    let mut best = [f32::INFINITY; 8];
    let mut bidx = [0u32; 8];
    for g in 0..KB / 8 {
        for l in 0..8 {
            let c = g * 8 + l;
            let v = cn[c] - 2.0 * acc[c];
            let take = v < best[l];
            best[l] = if take { v } else { best[l] };
            bidx[l] = if take { c as u32 } else { bidx[l] };
        }
    }
    let mut bv = best[0];
    let mut bi = bidx[0];
    for l in 1..8 {
        if best[l] < bv || (best[l] == bv && bidx[l] < bi) {
            bv = best[l];
            bi = bidx[l];
        }
    }
    (bv, bi)
}

#[inline(always)]
fn sq_norm<const FMA: bool>(x: &[f32]) -> f32 {
    let mut s = 0f32;
    for &v in x {
        s = if FMA { v.mul_add(v, s) } else { s + v * v };
    }
    s
}

/// Assigns each point of `x` (rows of length `d`) to its nearest centre; when `sums` is given,
/// also adds each point to its centre's row of `sums` (`[k, d]`, f64) and count.
#[inline(always)]
fn assign_rows<const FMA: bool>(
    x: &[f32],
    cp: &CentrePanels,
    labels: &mut [u32],
    dist: &mut [f32],
    mut sums: Option<(&mut [f64], &mut [u64])>,
) {
    let d = cp.d;
    let panel = cp.panel;
    for (i, row) in x.chunks_exact(d).enumerate() {
        let mut bv = f32::INFINITY;
        let mut bi = 0u32;
        for p in 0..cp.cn.len() / panel {
            let ct = &cp.ct[p * d * panel..(p + 1) * d * panel];
            let cn = &cp.cn[p * panel..(p + 1) * panel];
            let (v, l) = match panel {
                8 => panel_argmin::<8, FMA>(row, ct, cn),
                16 => panel_argmin::<16, FMA>(row, ct, cn),
                32 => panel_argmin::<32, FMA>(row, ct, cn),
                _ => panel_argmin::<MAX_PANEL, FMA>(row, ct, cn),
            };
            if v < bv {
                bv = v;
                bi = (p * panel) as u32 + l;
            }
        }
        labels[i] = bi;
        dist[i] = (sq_norm::<FMA>(row) + bv).max(0.0);
        if let Some((s, c)) = sums.as_mut() {
            let b = bi as usize;
            c[b] += 1;
            for (acc, &v) in s[b * d..(b + 1) * d].iter_mut().zip(row) {
                *acc += v as f64;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn assign_rows_avx2(
    x: &[f32],
    cp: &CentrePanels,
    labels: &mut [u32],
    dist: &mut [f32],
    sums: Option<(&mut [f64], &mut [u64])>,
) {
    assign_rows::<true>(x, cp, labels, dist, sums)
}

/// `true` when the AVX2+FMA copies of the loops run on this machine.
pub fn simd_fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn assign_dispatch(
    x: &[f32],
    cp: &CentrePanels,
    labels: &mut [u32],
    dist: &mut [f32],
    sums: Option<(&mut [f64], &mut [u64])>,
) {
    #[cfg(target_arch = "x86_64")]
    if simd_fma_available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above), which is all the
        // `target_feature` copy requires; its body is safe Rust.
        unsafe { assign_rows_avx2(x, cp, labels, dist, sums) };
        return;
    }
    assign_rows::<false>(x, cp, labels, dist, sums)
}

fn check_shapes(x: &[f32], cp: &CentrePanels, labels: &[u32], dist: &[f32]) -> usize {
    assert_eq!(x.len() % cp.d, 0, "distance: points length is not a multiple of d");
    let n = x.len() / cp.d;
    assert_eq!(labels.len(), n, "distance: labels must have one entry per point");
    assert_eq!(dist.len(), n, "distance: dist must have one entry per point");
    n
}

/// Nearest centre of every point: `labels[i] = argmin_c ‖x_i − c‖²` (lowest index on ties of the
/// computed values) and `dist[i]` = the squared distance to it (see the module doc for the
/// formula and its precision). Bitwise independent of `par`.
///
/// # Panics
/// If `x.len()` is not `n·d` or `labels`/`dist` do not have `n` entries.
pub fn nearest_centre(x: &[f32], cp: &CentrePanels, labels: &mut [u32], dist: &mut [f32], par: Par) {
    let n = check_shapes(x, cp, labels, dist);
    let d = cp.d;
    if par.for_work(n * cp.k * d, 1 << 18) == Par::Seq {
        assign_dispatch(x, cp, labels, dist, None);
    } else {
        x.par_chunks(POINT_BLOCK * d)
            .zip(labels.par_chunks_mut(POINT_BLOCK))
            .zip(dist.par_chunks_mut(POINT_BLOCK))
            .for_each(|((xb, lb), db)| assign_dispatch(xb, cp, lb, db, None));
    }
}

#[inline(always)]
fn centre_dists_rows<const FMA: bool>(x: &[f32], cp: &CentrePanels, out: &mut [f32]) {
    let (d, k, panel) = (cp.d, cp.k, cp.panel);
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(k)) {
        let xn = sq_norm::<FMA>(row);
        for p in 0..cp.cn.len() / panel {
            let ct = &cp.ct[p * d * panel..(p + 1) * d * panel];
            let mut acc = [0f32; MAX_PANEL];
            for (j, &xj) in row.iter().enumerate() {
                let r = &ct[j * panel..(j + 1) * panel];
                for (a, &v) in acc[..panel].iter_mut().zip(r) {
                    *a = if FMA { xj.mul_add(v, *a) } else { *a + xj * v };
                }
            }
            let hi = ((p + 1) * panel).min(k);
            for c in p * panel..hi {
                o[c] = (xn + (cp.cn[c] - 2.0 * acc[c - p * panel])).max(0.0);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn centre_dists_rows_avx2(x: &[f32], cp: &CentrePanels, out: &mut [f32]) {
    centre_dists_rows::<true>(x, cp, out)
}

fn centre_dists_dispatch(x: &[f32], cp: &CentrePanels, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_fma_available() {
        // SAFETY: AVX2 and FMA are available (checked); the body is safe Rust.
        unsafe { centre_dists_rows_avx2(x, cp, out) };
        return;
    }
    centre_dists_rows::<false>(x, cp, out)
}

/// All squared distances `out[i·k + c] = max(0, ‖x_i‖² + ‖c‖² − 2 x_i·c)` (the expansion of the
/// module doc, same rounding as [`nearest_centre`]'s `dist`). Bitwise independent of `par`.
///
/// # Panics
/// If `x.len()` is not `n·d` or `out.len() != n·k`.
pub fn centre_dists(x: &[f32], cp: &CentrePanels, out: &mut [f32], par: Par) {
    assert_eq!(x.len() % cp.d, 0, "centre_dists: points length is not a multiple of d");
    let n = x.len() / cp.d;
    assert_eq!(out.len(), n * cp.k, "centre_dists: out must be [n, k]");
    if par.for_work(n * cp.k * cp.d, 1 << 18) == Par::Seq {
        centre_dists_dispatch(x, cp, out);
    } else {
        x.par_chunks(POINT_BLOCK * cp.d)
            .zip(out.par_chunks_mut(POINT_BLOCK * cp.k))
            .for_each(|(xb, ob)| centre_dists_dispatch(xb, cp, ob));
    }
}

/// Result of [`assign_and_accumulate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Accumulated {
    /// `[k, d]` sums of the points assigned to each centre.
    pub sums: Vec<f64>,
    /// Points assigned to each centre.
    pub counts: Vec<u64>,
    /// `Σ_i dist[i]` (in f64; per [`SUM_BLOCK`] block sequentially, blocks in order).
    pub total_dist: f64,
}

/// [`nearest_centre`] fused with the centroid accumulation of a Lloyd step. Partial sums are
/// formed per fixed block of [`SUM_BLOCK`] points (sequential, f64) and added in block order,
/// so the result is bitwise independent of `par` and of the thread count.
///
/// # Panics
/// As [`nearest_centre`].
pub fn assign_and_accumulate(
    x: &[f32],
    cp: &CentrePanels,
    labels: &mut [u32],
    dist: &mut [f32],
    par: Par,
) -> Accumulated {
    let n = check_shapes(x, cp, labels, dist);
    let (k, d) = (cp.k, cp.d);
    let block = |(xb, (lb, db)): (&[f32], (&mut [u32], &mut [f32]))| {
        let mut s = vec![0f64; k * d];
        let mut c = vec![0u64; k];
        assign_dispatch(xb, cp, lb, db, Some((&mut s, &mut c)));
        let t: f64 = db.iter().map(|&v| v as f64).sum();
        (s, c, t)
    };
    let partials: Vec<(Vec<f64>, Vec<u64>, f64)> = if par.for_work(n * k * d, 1 << 18) == Par::Seq {
        x.chunks(SUM_BLOCK * d).zip(labels.chunks_mut(SUM_BLOCK).zip(dist.chunks_mut(SUM_BLOCK))).map(block).collect()
    } else {
        x.par_chunks(SUM_BLOCK * d)
            .zip(labels.par_chunks_mut(SUM_BLOCK).zip(dist.par_chunks_mut(SUM_BLOCK)))
            .map(block)
            .collect()
    };
    let mut out = Accumulated { sums: vec![0f64; k * d], counts: vec![0u64; k], total_dist: 0.0 };
    for (s, c, t) in partials {
        out.sums.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
        out.counts.iter_mut().zip(&c).for_each(|(a, b)| *a += b);
        out.total_dist += t;
    }
    out
}

/// The oracle: for every point, `Σ_j (x_j − c_j)²` in f64 for every centre, argmin with strict
/// `<` (lowest index on ties). Returns `(labels, squared distances)`.
pub fn nearest_centre_reference(x: &[f32], centres: &[f32], k: usize, d: usize) -> (Vec<u32>, Vec<f64>) {
    let mut labels = Vec::new();
    let mut dists = Vec::new();
    for row in x.chunks_exact(d) {
        let mut best = f64::INFINITY;
        let mut bi = 0u32;
        for c in 0..k {
            let v: f64 =
                row.iter().zip(&centres[c * d..(c + 1) * d]).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            if v < best {
                best = v;
                bi = c as u32;
            }
        }
        labels.push(bi);
        dists.push(best);
    }
    (labels, dists)
}

#[inline(always)]
fn sq_dists_soa_impl<const FMA: bool>(xt: &[f32], stride: usize, d: usize, q: &[f32], out: &mut [f32]) {
    let m = out.len();
    out.fill(0.0);
    for (j, &qj) in q.iter().enumerate().take(d) {
        let col = &xt[j * stride..j * stride + m];
        for (o, &v) in out.iter_mut().zip(col) {
            let t = v - qj;
            *o = if FMA { t.mul_add(t, *o) } else { *o + t * t };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sq_dists_soa_avx2(xt: &[f32], stride: usize, d: usize, q: &[f32], out: &mut [f32]) {
    sq_dists_soa_impl::<true>(xt, stride, d, q, out)
}

/// Squared distances from `q: [d]` to `m = out.len()` points stored column-wise:
/// `out[i] = Σ_j (xt[j·stride + i] − q_j)²`, by direct differences (sequential over `j`).
///
/// # Panics
/// If `q.len() < d` or `xt` is too short for `d` columns of `stride` with `m ≤ stride`.
pub fn sq_dists_soa(xt: &[f32], stride: usize, d: usize, q: &[f32], out: &mut [f32]) {
    assert!(q.len() >= d, "sq_dists_soa: query shorter than d");
    assert!(out.len() <= stride && xt.len() >= (d.max(1) - 1) * stride + out.len(), "sq_dists_soa: xt too short");
    #[cfg(target_arch = "x86_64")]
    if simd_fma_available() {
        // SAFETY: AVX2 and FMA are available (checked); the body is safe Rust.
        unsafe { sq_dists_soa_avx2(xt, stride, d, q, out) };
        return;
    }
    sq_dists_soa_impl::<false>(xt, stride, d, q, out)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn prim_relax_impl<const FMA: bool>(
    xt: &[f32],
    stride: usize,
    d: usize,
    q: &[f32],
    core_q2: f32,
    core2: &[f32],
    best: &mut [f32],
    src: &mut [u32],
    src_id: u32,
) -> f32 {
    let m = best.len();
    const CH: usize = 64;
    let mut buf = [0f32; CH];
    let mut lane_min = [f32::INFINITY; 8];
    let mut start = 0;
    while start < m {
        let len = CH.min(m - start);
        let b = &mut buf[..len];
        b.fill(0.0);
        for (j, &qj) in q.iter().enumerate().take(d) {
            let col = &xt[j * stride + start..j * stride + start + len];
            for (o, &v) in b.iter_mut().zip(col) {
                let t = v - qj;
                *o = if FMA { t.mul_add(t, *o) } else { *o + t * t };
            }
        }
        let bs = &mut best[start..start + len];
        let ss = &mut src[start..start + len];
        let cs = &core2[start..start + len];
        for i in 0..len {
            let mr = b[i].max(core_q2).max(cs[i]);
            let take = mr < bs[i];
            bs[i] = if take { mr } else { bs[i] };
            ss[i] = if take { src_id } else { ss[i] };
        }
        for (i, &v) in bs.iter().enumerate() {
            lane_min[i % 8] = lane_min[i % 8].min(v);
        }
        start += len;
    }
    lane_min.iter().fold(f32::INFINITY, |a, &b| a.min(b))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn prim_relax_avx2(
    xt: &[f32],
    stride: usize,
    d: usize,
    q: &[f32],
    core_q2: f32,
    core2: &[f32],
    best: &mut [f32],
    src: &mut [u32],
    src_id: u32,
) -> f32 {
    prim_relax_impl::<true>(xt, stride, d, q, core_q2, core2, best, src, src_id)
}

/// One relaxation step of Prim's algorithm on the mutual-reachability graph (squared):
/// for every point `i < m = best.len()` stored column-wise in `xt`,
/// `mr_i = max(‖x_i − q‖², core_q2, core2[i])`, and where `mr_i < best[i]`:
/// `best[i] = mr_i`, `src[i] = src_id`. Returns `min_i best[i]` after the update (`+∞` if `m = 0`).
/// Elementwise, so any split of `0..m` over threads gives the same result.
///
/// # Panics
/// If the slices are shorter than `m` (or `xt` than `d` columns).
#[allow(clippy::too_many_arguments)]
pub fn prim_relax(
    xt: &[f32],
    stride: usize,
    d: usize,
    q: &[f32],
    core_q2: f32,
    core2: &[f32],
    best: &mut [f32],
    src: &mut [u32],
    src_id: u32,
) -> f32 {
    let m = best.len();
    assert!(q.len() >= d && core2.len() >= m && src.len() >= m, "prim_relax: slices too short");
    assert!(m <= stride && xt.len() >= (d.max(1) - 1) * stride + m, "prim_relax: xt too short");
    #[cfg(target_arch = "x86_64")]
    if simd_fma_available() {
        // SAFETY: AVX2 and FMA are available (checked); the body is safe Rust.
        return unsafe { prim_relax_avx2(xt, stride, d, q, core_q2, core2, best, src, src_id) };
    }
    prim_relax_impl::<false>(xt, stride, d, q, core_q2, core2, best, src, src_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, scale: f32, offset: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..n).map(|_| offset + scale * (rng.gen::<f32>() * 2.0 - 1.0)).collect()
    }

    /// Sweep over n, d, k (panel widths 8..64 and multi-panel k), with data offset from the
    /// origin; every label must be the oracle's or within the expansion's error bound of it.
    #[test]
    fn nearest_centre_matches_oracle_sweep() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut exact_disagreements = 0usize;
        let mut total = 0usize;
        for &(n, d, k) in &[
            (1, 1, 1),
            (37, 3, 5),
            (1000, 10, 8),
            (2500, 10, 64),
            (777, 7, 17),
            (300, 10, 100),
            (2100, 2, 33),
            (64, 16, 130),
        ] {
            for &offset in &[0.0f32, 5.0] {
                let x = random(n * d, 3.0, offset, &mut rng);
                let c = random(k * d, 3.0, offset, &mut rng);
                let cp = CentrePanels::new(&c, k, d);
                let (rl, rd) = nearest_centre_reference(&x, &c, k, d);
                for par in [Par::Seq, Par::Rayon] {
                    let mut labels = vec![0u32; n];
                    let mut dist = vec![0f32; n];
                    nearest_centre(&x, &cp, &mut labels, &mut dist, par);
                    for i in 0..n {
                        total += 1;
                        let xn: f64 = x[i * d..(i + 1) * d].iter().map(|&v| (v as f64).powi(2)).sum();
                        let li = labels[i] as usize;
                        let cn: f64 = c[li * d..(li + 1) * d].iter().map(|&v| (v as f64).powi(2)).sum();
                        let bound = 4.0 * (d as f64 + 2.0) * f32::EPSILON as f64 * (xn + cn + 1.0);
                        let true_d: f64 = x[i * d..(i + 1) * d]
                            .iter()
                            .zip(&c[li * d..(li + 1) * d])
                            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                            .sum();
                        assert!(
                            true_d - rd[i] <= bound,
                            "n={n} d={d} k={k}: label {li} vs {} gap {}",
                            rl[i],
                            true_d - rd[i]
                        );
                        assert!((dist[i] as f64 - true_d).abs() <= bound, "dist {} vs {true_d}", dist[i]);
                        if labels[i] != rl[i] {
                            exact_disagreements += 1;
                        }
                    }
                }
            }
        }
        // Near-ties are rare on random data: the bound is loose, the labels nearly always agree.
        assert!(exact_disagreements * 1000 < total, "{exact_disagreements} of {total}");
    }

    #[test]
    fn centre_dists_match_oracle() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for &(n, d, k) in &[(1usize, 1usize, 1usize), (300, 10, 6), (1500, 10, 64), (100, 3, 70)] {
            let x = random(n * d, 3.0, 1.0, &mut rng);
            let c = random(k * d, 3.0, 1.0, &mut rng);
            let cp = CentrePanels::new(&c, k, d);
            let mut out = vec![0f32; n * k];
            centre_dists(&x, &cp, &mut out, Par::Rayon);
            let mut labels = vec![0u32; n];
            let mut dist = vec![0f32; n];
            nearest_centre(&x, &cp, &mut labels, &mut dist, Par::Seq);
            for i in 0..n {
                let xn: f64 = x[i * d..(i + 1) * d].iter().map(|&v| (v as f64).powi(2)).sum();
                for j in 0..k {
                    let t: f64 = (0..d).map(|q| (x[i * d + q] as f64 - c[j * d + q] as f64).powi(2)).sum();
                    let cn: f64 = c[j * d..(j + 1) * d].iter().map(|&v| (v as f64).powi(2)).sum();
                    let bound = 4.0 * (d as f64 + 2.0) * f32::EPSILON as f64 * (xn + cn + 1.0);
                    assert!((out[i * k + j] as f64 - t).abs() <= bound);
                }
                assert_eq!(out[i * k + labels[i] as usize].to_bits(), dist[i].to_bits());
            }
        }
    }

    #[test]
    fn ties_go_to_lowest_index() {
        // Two identical centres and a third farther away: every point picks centre 0 or the
        // lower of the duplicated pair.
        let d = 4;
        let c = [1.0f32, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0];
        let cp = CentrePanels::new(&c, 4, d);
        let x = [0.0f32, 0.0, 0.0, 0.0, 6.0, 6.0, 6.0, 6.0, 3.0, 3.0, 3.0, 3.0];
        let mut l = vec![9u32; 3];
        let mut dist = vec![0f32; 3];
        nearest_centre(&x, &cp, &mut l, &mut dist, Par::Seq);
        assert_eq!(l, vec![0, 1, 0]);
        // 70 identical centres (two panels): always 0.
        let c: Vec<f32> = vec![2.0; 70 * 3];
        let cp = CentrePanels::new(&c, 70, 3);
        let mut l = vec![9u32; 1];
        let mut dist = vec![0f32; 1];
        nearest_centre(&[0.0, 1.0, 2.0], &cp, &mut l, &mut dist, Par::Seq);
        assert_eq!(l, vec![0]);
    }

    #[test]
    fn accumulate_matches_direct_sums_and_is_par_invariant() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (n, d, k) = (SUM_BLOCK * 3 + 123, 10, 12);
        let x = random(n * d, 4.0, 1.0, &mut rng);
        let c = random(k * d, 4.0, 1.0, &mut rng);
        let cp = CentrePanels::new(&c, k, d);
        let mut l1 = vec![0u32; n];
        let mut d1 = vec![0f32; n];
        let a1 = assign_and_accumulate(&x, &cp, &mut l1, &mut d1, Par::Seq);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let mut l2 = vec![0u32; n];
        let mut d2 = vec![0f32; n];
        let a2 = pool.install(|| assign_and_accumulate(&x, &cp, &mut l2, &mut d2, Par::Rayon));
        assert_eq!(l1, l2);
        assert_eq!(a1, a2);
        assert_eq!(
            d1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            d2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0u64; k];
        for i in 0..n {
            let c = l1[i] as usize;
            counts[c] += 1;
            for j in 0..d {
                sums[c * d + j] += x[i * d + j] as f64;
            }
        }
        assert_eq!(counts, a1.counts);
        for (a, b) in sums.iter().zip(&a1.sums) {
            assert!((a - b).abs() <= 1e-9 * (1.0 + a.abs()));
        }
    }

    #[test]
    fn soa_distances_and_prim_relax_match_direct_loops() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for &(m, d) in &[(0usize, 3usize), (1, 1), (63, 10), (64, 10), (1000, 10), (517, 5)] {
            let stride = m + 3;
            let xt = random(d * stride, 2.0, 0.5, &mut rng);
            let q = random(d, 2.0, 0.5, &mut rng);
            let mut out = vec![0f32; m];
            sq_dists_soa(&xt, stride, d, &q, &mut out);
            let direct: Vec<f64> =
                (0..m).map(|i| (0..d).map(|j| (xt[j * stride + i] as f64 - q[j] as f64).powi(2)).sum()).collect();
            for i in 0..m {
                assert!((out[i] as f64 - direct[i]).abs() <= 1e-5 * (1.0 + direct[i]));
            }
            let core2 = random(m, 1.0, 1.0, &mut rng);
            let mut best: Vec<f32> = random(m, 3.0, 3.0, &mut rng);
            let best0 = best.clone();
            let mut src = vec![7u32; m];
            let core_q2 = 0.7f32;
            let mn = prim_relax(&xt, stride, d, &q, core_q2, &core2, &mut best, &mut src, 3);
            let mut expect_min = f32::INFINITY;
            for i in 0..m {
                let mr = out[i].max(core_q2).max(core2[i]);
                let (b, s) = if mr < best0[i] { (mr, 3) } else { (best0[i], 7) };
                assert_eq!(best[i].to_bits(), b.to_bits());
                assert_eq!(src[i], s);
                expect_min = expect_min.min(b);
            }
            assert_eq!(mn.to_bits(), expect_min.to_bits());
        }
    }
}
