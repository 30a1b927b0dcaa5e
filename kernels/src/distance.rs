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
//! −2·X·Cᵀ with a GEMM). The loop is vectorised across points: 16 points are transposed into
//! registers (`[d][16]`) and, for each group of 4 centres in index order, 8 independent FMA
//! chains compute the 64 dot products `Σ_j x_j c_j` (sequential over `j`); the running minimum
//! is updated with a strict `<` per lane, so the lowest index wins exact ties. `d` is small in
//! detaux (10) and `k ≤ 64`, where this register-blocked loop beats a GEMM call whose packing
//! overhead dominates.
//! [`centre_dists`] uses the same point blocks and returns every distance.
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
//! mutual-reachability `max` and the running minimum of Prim's algorithm; [`knn_soa`] is a
//! brute-force k-NN on the same distances (blocks of 32 queries share each chunk of 16
//! candidates; a bounded max-heap per query keyed by (distance, index)), with the oracle
//! [`knn_reference`].
//!
//! ## SIMD and determinism
//! On x86-64 with AVX2+FMA (detected at run time) the loops run in a copy compiled for those
//! features (multiply-adds fused); otherwise in a portable copy (separate multiply and add).
//! Which copy runs depends only on the machine and the [`KernelSet`] (`Portable` always runs
//! the portable copy), so results are reproducible on one machine, and with the portable set
//! on every machine; with the native set they may differ in the last bits between machines
//! with and without FMA. Work is split over fixed
//! blocks of [`POINT_BLOCK`] points (outputs); centroid partial sums are made per block of
//! [`SUM_BLOCK`] points, sequentially in point order in `f64`, and added in block order, so
//! every result is bitwise independent of [`Par`] and of the rayon pool size.

use crate::{KernelSet, Par};
use rayon::prelude::*;

/// Points per parallel task of the assignment kernels (fixed: results never depend on it anyway).
pub const POINT_BLOCK: usize = 1024;
/// Points per partial sum of [`assign_and_accumulate`] (fixed: part of the result's definition).
pub const SUM_BLOCK: usize = 4096;
/// Centres prepared for the assignment kernels: row-major copy, squared norms, and groups of
/// 4 centres interleaved for the AVX2 loop.
#[derive(Clone, Debug)]
pub struct CentrePanels {
    d: usize,
    k: usize,
    /// `[k, d]` row-major copy.
    rows: Vec<f32>,
    /// `[k]` squared norms (sequential over `j`).
    row_norms: Vec<f32>,
    /// Groups of `CU` centres interleaved: `rows4[g·d + j][u]` = coordinate `j` of centre `g·CU + u`
    /// (full groups only).
    rows4: Vec<[f32; CU]>,
}

impl CentrePanels {
    /// Prepares `centres: [k, d]` (row-major).
    ///
    /// # Panics
    /// If `k == 0`, `d == 0` or `centres.len() != k·d`.
    pub fn new(centres: &[f32], k: usize, d: usize) -> Self {
        assert!(k > 0 && d > 0, "CentrePanels: k and d must be positive");
        assert_eq!(centres.len(), k * d, "CentrePanels: centres must be [k, d]");
        let mut row_norms = vec![0f32; k];
        for (c, row) in centres.chunks_exact(d).enumerate() {
            let mut norm = 0f32;
            for &v in row {
                norm += v * v;
            }
            row_norms[c] = norm;
        }
        let mut rows4 = vec![[0f32; CU]; (k / CU) * d];
        for g in 0..k / CU {
            for j in 0..d {
                for u in 0..CU {
                    rows4[g * d + j][u] = centres[(g * CU + u) * d + j];
                }
            }
        }
        CentrePanels { d, k, rows: centres.to_vec(), row_norms, rows4 }
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

/// Points per register block of the assignment loop (vectorised across points).
const LANES: usize = 16;
/// Centres per step of the assignment loop: independent accumulator chains for the FMA pipes.
const CU: usize = 4;

/// Nearest centre of `LANES` points held transposed (`xt[j][l]` = coordinate `j` of point `l`):
/// for each centre in index order, `v = ‖c‖² − 2 Σ_j x_j c_j` (sequential over `j`), kept where
/// `v < best` (strict, so the lowest index wins ties). Returns `(best v, index)` per lane.
#[inline(always)]
fn block_argmin<const FMA: bool>(
    xt: &[[f32; LANES]],
    c: &[f32],
    c4: &[[f32; CU]],
    cn: &[f32],
) -> ([f32; LANES], [u32; LANES]) {
    #[cfg(target_arch = "x86_64")]
    if FMA {
        // SAFETY: `FMA` is only true in the copy compiled with AVX2+FMA, which runs only after
        // `simd_fma_available()` returned true; the intrinsics read `xt`, `c4` and `cn` within
        // bounds (see `block_argmin_avx2`).
        return unsafe { block_argmin_avx2(xt, c, c4, cn) };
    }
    let _ = c4;
    let d = xt.len();
    let mut best = [f32::INFINITY; LANES];
    let mut bi = [0u32; LANES];
    for (cc, &ncc) in cn.iter().enumerate() {
        let mut acc = [0f32; LANES];
        for (xj, &cj) in xt.iter().zip(&c[cc * d..(cc + 1) * d]) {
            for l in 0..LANES {
                acc[l] = if FMA { xj[l].mul_add(cj, acc[l]) } else { acc[l] + xj[l] * cj };
            }
        }
        for l in 0..LANES {
            let v = ncc - 2.0 * acc[l];
            let take = v < best[l];
            best[l] = if take { v } else { best[l] };
            bi[l] = if take { cc as u32 } else { bi[l] };
        }
    }
    (best, bi)
}

/// AVX2+FMA version of [`block_argmin`]: 16 points (two registers) × 4 centres per step, so 8
/// independent FMA chains; each accumulator is still `Σ_j` in order `j = 0..d` with one fused
/// multiply-add per term, i.e. bitwise the same as the portable FMA loop.
///
/// # Safety
/// The CPU must support AVX2 and FMA. `c4` must hold `(k / CU) · d` entries, `c` `k · d`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_argmin_avx2(
    xt: &[[f32; LANES]],
    c: &[f32],
    c4: &[[f32; CU]],
    cn: &[f32],
) -> ([f32; LANES], [u32; LANES]) {
    use std::arch::x86_64::*;
    let d = xt.len();
    let k = cn.len();
    assert!(c.len() >= k * d && c4.len() >= (k / CU) * d);
    let mut best0 = _mm256_set1_ps(f32::INFINITY);
    let mut best1 = best0;
    let mut bi0 = _mm256_setzero_ps();
    let mut bi1 = bi0;
    macro_rules! take {
        ($acc0:expr, $acc1:expr, $idx:expr) => {{
            let ncc = _mm256_set1_ps(cn[$idx]);
            let idx = _mm256_castsi256_ps(_mm256_set1_epi32($idx as i32));
            let v0 = _mm256_sub_ps(ncc, _mm256_add_ps($acc0, $acc0));
            let v1 = _mm256_sub_ps(ncc, _mm256_add_ps($acc1, $acc1));
            let m0 = _mm256_cmp_ps::<_CMP_LT_OQ>(v0, best0);
            let m1 = _mm256_cmp_ps::<_CMP_LT_OQ>(v1, best1);
            best0 = _mm256_blendv_ps(best0, v0, m0);
            best1 = _mm256_blendv_ps(best1, v1, m1);
            bi0 = _mm256_blendv_ps(bi0, idx, m0);
            bi1 = _mm256_blendv_ps(bi1, idx, m1);
        }};
    }
    let mut cc = 0;
    while cc + CU <= k {
        let g = &c4[(cc / CU) * d..(cc / CU + 1) * d];
        let z = _mm256_setzero_ps();
        let (mut a00, mut a01, mut a10, mut a11, mut a20, mut a21, mut a30, mut a31) = (z, z, z, z, z, z, z, z);
        for (xj, cj) in xt.iter().zip(g) {
            let x0 = _mm256_loadu_ps(xj.as_ptr());
            let x1 = _mm256_loadu_ps(xj.as_ptr().add(8));
            let c0 = _mm256_set1_ps(cj[0]);
            let c1 = _mm256_set1_ps(cj[1]);
            let c2 = _mm256_set1_ps(cj[2]);
            let c3 = _mm256_set1_ps(cj[3]);
            a00 = _mm256_fmadd_ps(x0, c0, a00);
            a01 = _mm256_fmadd_ps(x1, c0, a01);
            a10 = _mm256_fmadd_ps(x0, c1, a10);
            a11 = _mm256_fmadd_ps(x1, c1, a11);
            a20 = _mm256_fmadd_ps(x0, c2, a20);
            a21 = _mm256_fmadd_ps(x1, c2, a21);
            a30 = _mm256_fmadd_ps(x0, c3, a30);
            a31 = _mm256_fmadd_ps(x1, c3, a31);
        }
        take!(a00, a01, cc);
        take!(a10, a11, cc + 1);
        take!(a20, a21, cc + 2);
        take!(a30, a31, cc + 3);
        cc += CU;
    }
    while cc < k {
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for (xj, &cj) in xt.iter().zip(&c[cc * d..(cc + 1) * d]) {
            let cv = _mm256_set1_ps(cj);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xj.as_ptr()), cv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xj.as_ptr().add(8)), cv, a1);
        }
        take!(a0, a1, cc);
        cc += 1;
    }
    let mut best = [0f32; LANES];
    let mut bi = [0u32; LANES];
    _mm256_storeu_ps(best.as_mut_ptr(), best0);
    _mm256_storeu_ps(best.as_mut_ptr().add(8), best1);
    _mm256_storeu_ps(bi.as_mut_ptr() as *mut f32, bi0);
    _mm256_storeu_ps(bi.as_mut_ptr().add(8) as *mut f32, bi1);
    (best, bi)
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
    let n = x.len() / d;
    let mut xt = vec![[0f32; LANES]; d];
    let mut start = 0;
    while start < n {
        let len = LANES.min(n - start);
        let xn = load_point_block::<FMA>(x, d, start, len, &mut xt);
        let (best, bi) = block_argmin::<FMA>(&xt, &cp.rows, &cp.rows4, &cp.row_norms);
        for l in 0..len {
            let i = start + l;
            labels[i] = bi[l];
            dist[i] = (xn[l] + best[l]).max(0.0);
            if let Some((s, c)) = sums.as_mut() {
                let b = bi[l] as usize;
                c[b] += 1;
                for (acc, &v) in s[b * d..(b + 1) * d].iter_mut().zip(&x[i * d..(i + 1) * d]) {
                    *acc += v as f64;
                }
            }
        }
        start += len;
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

/// Whether the AVX2+FMA copies run for this call: [`simd_fma_available`] and the calling
/// thread's [`KernelSet`] is `Native`.
fn simd_here() -> bool {
    KernelSet::current() == KernelSet::Native && simd_fma_available()
}

fn assign_dispatch(
    x: &[f32],
    cp: &CentrePanels,
    labels: &mut [u32],
    dist: &mut [f32],
    sums: Option<(&mut [f64], &mut [u64])>,
) {
    #[cfg(target_arch = "x86_64")]
    if simd_here() {
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

/// Loads points `start..start + len` of `x` (`[n, d]` row-major) transposed into `xt`
/// (`xt[j][l]` = coordinate `j` of point `start + l`, zero-padded lanes) and returns their
/// squared norms, accumulated over `j` in order (fused when `FMA`).
#[inline(always)]
fn load_point_block<const FMA: bool>(
    x: &[f32],
    d: usize,
    start: usize,
    len: usize,
    xt: &mut [[f32; LANES]],
) -> [f32; LANES] {
    for (l, row) in x[start * d..(start + len) * d].chunks_exact(d).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            xt[j][l] = v;
        }
    }
    for col in xt.iter_mut() {
        col[len..].fill(0.0);
    }
    let mut xn = [0f32; LANES];
    for xj in xt.iter() {
        for l in 0..LANES {
            xn[l] = if FMA { xj[l].mul_add(xj[l], xn[l]) } else { xn[l] + xj[l] * xj[l] };
        }
    }
    xn
}

#[inline(always)]
fn centre_dists_rows<const FMA: bool>(x: &[f32], cp: &CentrePanels, out: &mut [f32]) {
    let (d, k) = (cp.d, cp.k);
    let n = x.len() / d;
    let mut xt = vec![[0f32; LANES]; d];
    let mut start = 0;
    while start < n {
        let len = LANES.min(n - start);
        let xn = load_point_block::<FMA>(x, d, start, len, &mut xt);
        for (c, (crow, &ncc)) in cp.rows.chunks_exact(d).zip(&cp.row_norms).enumerate() {
            let mut acc = [0f32; LANES];
            for (xj, &cj) in xt.iter().zip(crow) {
                for l in 0..LANES {
                    acc[l] = if FMA { xj[l].mul_add(cj, acc[l]) } else { acc[l] + xj[l] * cj };
                }
            }
            for l in 0..len {
                out[(start + l) * k + c] = (xn[l] + (ncc - 2.0 * acc[l])).max(0.0);
            }
        }
        start += len;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn centre_dists_rows_avx2(x: &[f32], cp: &CentrePanels, out: &mut [f32]) {
    centre_dists_rows::<true>(x, cp, out)
}

fn centre_dists_dispatch(x: &[f32], cp: &CentrePanels, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd_here() {
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
    if simd_here() {
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
    if simd_here() {
        // SAFETY: AVX2 and FMA are available (checked); the body is safe Rust.
        return unsafe { prim_relax_avx2(xt, stride, d, q, core_q2, core2, best, src, src_id) };
    }
    prim_relax_impl::<false>(xt, stride, d, q, core_q2, core2, best, src, src_id)
}

/// Queries per task of [`knn_soa`] (they share each chunk of candidates while it is in L1).
pub const KNN_QUERY_BLOCK: usize = 32;
const KNN_CHUNK: usize = 16;

/// Keys order candidates by (squared distance, index): `f32` bits of a non-negative value are
/// monotone, so `(bits << 32) | index` compares like the pair.
#[inline(always)]
fn knn_key(v: f32, j: usize) -> u64 {
    ((v.to_bits() as u64) << 32) | j as u64
}

struct KnnHeap {
    heap: std::collections::BinaryHeap<u64>,
    k: usize,
    /// Largest key kept (`u64::MAX` until full) and its distance (`+∞` until full).
    thr: u64,
    thr_f: f32,
}

impl KnnHeap {
    #[inline(always)]
    fn offer(&mut self, v: f32, j: usize) {
        let key = knn_key(v, j);
        if key >= self.thr {
            return;
        }
        if self.heap.len() == self.k {
            self.heap.pop();
        }
        self.heap.push(key);
        if self.heap.len() == self.k {
            self.thr = *self.heap.peek().expect("non-empty");
            self.thr_f = f32::from_bits((self.thr >> 32) as u32);
        }
    }
}

/// Squared distance from query `q` to candidate `i` of `xt` (`[d, stride]`), sequential over `j`.
#[inline(always)]
fn soa_dist1<const FMA: bool>(xt: &[f32], stride: usize, q: &[f32], i: usize) -> f32 {
    let mut acc = 0f32;
    for (j, &qj) in q.iter().enumerate() {
        let t = xt[j * stride + i] - qj;
        acc = if FMA { t.mul_add(t, acc) } else { acc + t * t };
    }
    acc
}

#[inline(always)]
fn knn_block<const FMA: bool>(xt: &[f32], n: usize, d: usize, queries: &[f32], heaps: &mut [KnnHeap]) {
    let full = n / KNN_CHUNK * KNN_CHUNK;
    #[cfg(target_arch = "x86_64")]
    if FMA {
        // SAFETY: `FMA` is only true in the copy compiled with AVX2+FMA, run only after
        // `simd_fma_available()`; `knn_chunks_avx2` reads candidates `0..full ≤ n` of `d` columns.
        unsafe { knn_chunks_avx2(xt, n, d, full, queries, heaps) };
    }
    let start = if cfg!(target_arch = "x86_64") && FMA { full } else { 0 };
    for (q, h) in queries.chunks_exact(d).zip(heaps.iter_mut()) {
        for i in start..n {
            h.offer(soa_dist1::<FMA>(xt, n, q, i), i);
        }
    }
}

/// AVX2 part of [`knn_block`]: candidates `0..full` in chunks of 16, each chunk reused by every
/// query of the block; a chunk is only looked at element-wise when some distance is `≤` the
/// query's current k-th distance.
///
/// # Safety
/// AVX2+FMA must be available; `full ≤ n`, `full % 16 == 0`, `xt.len() ≥ d·n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn knn_chunks_avx2(xt: &[f32], n: usize, d: usize, full: usize, queries: &[f32], heaps: &mut [KnnHeap]) {
    use std::arch::x86_64::*;
    assert!(full <= n && xt.len() >= d * n && queries.len() >= heaps.len() * d);
    let base = xt.as_ptr();
    let mut vals = [0f32; KNN_CHUNK];
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn flush(h: &mut KnnHeap, a0: __m256, a1: __m256, c: usize, vals: &mut [f32; KNN_CHUNK]) {
        let thr = _mm256_set1_ps(h.thr_f);
        let m = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(a0, thr))
            | (_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(a1, thr)) << 8);
        if m != 0 {
            _mm256_storeu_ps(vals.as_mut_ptr(), a0);
            _mm256_storeu_ps(vals.as_mut_ptr().add(8), a1);
            let mut bits = m as u32;
            while bits != 0 {
                let l = bits.trailing_zeros() as usize;
                h.offer(vals[l], c + l);
                bits &= bits - 1;
            }
        }
    }
    let nh = heaps.len();
    let mut c = 0;
    while c < full {
        // Two queries per pass: four independent FMA chains sharing the candidate loads.
        let mut qi = 0;
        while qi + 2 <= nh {
            let q0 = &queries[qi * d..(qi + 1) * d];
            let q1 = &queries[(qi + 1) * d..(qi + 2) * d];
            let z = _mm256_setzero_ps();
            let (mut a0, mut a1, mut b0, mut b1) = (z, z, z, z);
            for j in 0..d {
                let p = base.add(j * n + c);
                let x0 = _mm256_loadu_ps(p);
                let x1 = _mm256_loadu_ps(p.add(8));
                let qa = _mm256_set1_ps(q0[j]);
                let qb = _mm256_set1_ps(q1[j]);
                let t0 = _mm256_sub_ps(x0, qa);
                let t1 = _mm256_sub_ps(x1, qa);
                let u0 = _mm256_sub_ps(x0, qb);
                let u1 = _mm256_sub_ps(x1, qb);
                a0 = _mm256_fmadd_ps(t0, t0, a0);
                a1 = _mm256_fmadd_ps(t1, t1, a1);
                b0 = _mm256_fmadd_ps(u0, u0, b0);
                b1 = _mm256_fmadd_ps(u1, u1, b1);
            }
            let (h0, h1) = heaps[qi..qi + 2].split_at_mut(1);
            flush(&mut h0[0], a0, a1, c, &mut vals);
            flush(&mut h1[0], b0, b1, c, &mut vals);
            qi += 2;
        }
        if qi < nh {
            let q = &queries[qi * d..(qi + 1) * d];
            let mut a0 = _mm256_setzero_ps();
            let mut a1 = _mm256_setzero_ps();
            for (j, &qj) in q.iter().enumerate() {
                let qv = _mm256_set1_ps(qj);
                let p = base.add(j * n + c);
                let t0 = _mm256_sub_ps(_mm256_loadu_ps(p), qv);
                let t1 = _mm256_sub_ps(_mm256_loadu_ps(p.add(8)), qv);
                a0 = _mm256_fmadd_ps(t0, t0, a0);
                a1 = _mm256_fmadd_ps(t1, t1, a1);
            }
            flush(&mut heaps[qi], a0, a1, c, &mut vals);
        }
        c += KNN_CHUNK;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn knn_block_avx2(xt: &[f32], n: usize, d: usize, queries: &[f32], heaps: &mut [KnnHeap]) {
    knn_block::<true>(xt, n, d, queries, heaps)
}

/// Brute-force k nearest neighbours: for each query row of `queries` (`[q, d]`), the indices of
/// the `k` points of `xt` (`[d, n]`, column `j` at `xt[j·n..]`) with the smallest squared
/// distance `Σ_j (x_j − q_j)²` (direct differences, sequential over `j`, f32), ties → lower
/// index. `out` is `[q, k]`, each row sorted by (distance, index). Split over blocks of
/// [`KNN_QUERY_BLOCK`] queries (outputs), so bitwise independent of `par`.
///
/// # Panics
/// If `k == 0`, `k > n`, `xt.len() != d·n` or `out.len() != q·k`.
pub fn knn_soa(xt: &[f32], n: usize, d: usize, queries: &[f32], k: usize, out: &mut [u32], par: Par) {
    assert!(k >= 1 && k <= n, "knn_soa: need 1 <= k <= n");
    assert_eq!(xt.len(), d * n, "knn_soa: xt must be [d, n]");
    assert_eq!(queries.len() % d, 0, "knn_soa: queries must be [q, d]");
    let nq = queries.len() / d;
    assert_eq!(out.len(), nq * k, "knn_soa: out must be [q, k]");
    let run = |(qb, ob): (&[f32], &mut [u32])| {
        let mut heaps: Vec<KnnHeap> = (0..qb.len() / d)
            .map(|_| KnnHeap {
                heap: std::collections::BinaryHeap::with_capacity(k + 1),
                k,
                thr: u64::MAX,
                thr_f: f32::INFINITY,
            })
            .collect();
        #[cfg(target_arch = "x86_64")]
        if simd_here() {
            // SAFETY: AVX2 and FMA are available (checked); the function's body is safe Rust
            // apart from the documented intrinsics block.
            unsafe { knn_block_avx2(xt, n, d, qb, &mut heaps) };
        } else {
            knn_block::<false>(xt, n, d, qb, &mut heaps);
        }
        #[cfg(not(target_arch = "x86_64"))]
        knn_block::<false>(xt, n, d, qb, &mut heaps);
        for (h, o) in heaps.into_iter().zip(ob.chunks_exact_mut(k)) {
            for (slot, key) in o.iter_mut().zip(h.heap.into_sorted_vec()) {
                *slot = key as u32;
            }
        }
    };
    if par.for_work(nq * n * d, 1 << 20) == Par::Seq {
        queries.chunks(KNN_QUERY_BLOCK * d).zip(out.chunks_mut(KNN_QUERY_BLOCK * k)).for_each(run);
    } else {
        queries.par_chunks(KNN_QUERY_BLOCK * d).zip(out.par_chunks_mut(KNN_QUERY_BLOCK * k)).for_each(run);
    }
}

/// The oracle of [`knn_soa`]: all distances in f64, sorted by (distance, index), first `k`.
pub fn knn_reference(x: &[f32], d: usize, queries: &[f32], k: usize) -> Vec<Vec<(f64, u32)>> {
    queries
        .chunks_exact(d)
        .map(|q| {
            let mut v: Vec<(f64, u32)> = x
                .chunks_exact(d)
                .enumerate()
                .map(|(i, r)| (r.iter().zip(q).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum(), i as u32))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            v.truncate(k);
            v
        })
        .collect()
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
    fn knn_matches_oracle_sweep() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for &(n, d, nq, k) in &[
            (1usize, 1usize, 1usize, 1usize),
            (50, 3, 7, 5),
            (1000, 10, 70, 33),
            (333, 2, 40, 333),
            (517, 10, 33, 201),
        ] {
            let x = random(n * d, 3.0, 1.0, &mut rng);
            // Some duplicated points to exercise ties.
            let mut x = x;
            if n > 10 {
                let (a, b) = x.split_at_mut(5 * d);
                b[..d].copy_from_slice(&a[..d]);
            }
            let q = random(nq * d, 3.0, 1.0, &mut rng);
            let mut xt = vec![0f32; n * d];
            for i in 0..n {
                for j in 0..d {
                    xt[j * n + i] = x[i * d + j];
                }
            }
            let reference = knn_reference(&x, d, &q, k);
            let mut out = vec![0u32; nq * k];
            knn_soa(&xt, n, d, &q, k, &mut out, Par::Rayon);
            let mut out_seq = vec![0u32; nq * k];
            knn_soa(&xt, n, d, &q, k, &mut out_seq, Par::Seq);
            assert_eq!(out, out_seq);
            for qi in 0..nq {
                let kth = reference[qi][k - 1].0;
                for (r, &i) in out[qi * k..(qi + 1) * k].iter().enumerate() {
                    let true_d: f64 =
                        (0..d).map(|j| (x[i as usize * d + j] as f64 - q[qi * d + j] as f64).powi(2)).sum();
                    // Every returned point is within rounding of the oracle's k-th distance,
                    // and the r-th returned distance matches the oracle's r-th.
                    assert!(true_d <= kth * (1.0 + 1e-5) + 1e-6, "query {qi}: {true_d} > {kth}");
                    assert!((true_d - reference[qi][r].0).abs() <= 1e-5 * (1.0 + true_d));
                }
            }
        }
    }

    /// The portable (non-FMA) copies, which run on machines without AVX2+FMA, against the
    /// oracles (on this machine the dispatch always picks the AVX2 copies).
    #[test]
    fn portable_paths_match_oracles() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for &(n, d, k) in &[(1usize, 1usize, 1usize), (100, 10, 64), (333, 7, 13)] {
            let x = random(n * d, 3.0, 1.0, &mut rng);
            let c = random(k * d, 3.0, 1.0, &mut rng);
            let cp = CentrePanels::new(&c, k, d);
            let (rl, rd) = nearest_centre_reference(&x, &c, k, d);
            let mut labels = vec![0u32; n];
            let mut dist = vec![0f32; n];
            let mut sums = vec![0f64; k * d];
            let mut counts = vec![0u64; k];
            assign_rows::<false>(&x, &cp, &mut labels, &mut dist, Some((&mut sums, &mut counts)));
            let mut all = vec![0f32; n * k];
            centre_dists_rows::<false>(&x, &cp, &mut all);
            for i in 0..n {
                assert_eq!(labels[i], rl[i], "n={n} k={k} point {i}");
                assert!((dist[i] as f64 - rd[i]).abs() <= 1e-4 * (1.0 + rd[i]));
                assert_eq!(all[i * k + labels[i] as usize].to_bits(), dist[i].to_bits());
            }
            assert_eq!(counts.iter().sum::<u64>(), n as u64);
            // k-NN, portable.
            let mut xt = vec![0f32; n * d];
            for i in 0..n {
                for j in 0..d {
                    xt[j * n + i] = x[i * d + j];
                }
            }
            let kk = n.min(5);
            let reference = knn_reference(&x, d, &c[..d], kk);
            let mut heaps =
                vec![KnnHeap { heap: std::collections::BinaryHeap::new(), k: kk, thr: u64::MAX, thr_f: f32::INFINITY }];
            knn_block::<false>(&xt, n, d, &c[..d], &mut heaps);
            let got: Vec<u32> = heaps.pop().unwrap().heap.into_sorted_vec().iter().map(|&key| key as u32).collect();
            let want: Vec<u32> = reference[0].iter().map(|&(_, i)| i).collect();
            assert_eq!(got, want);
            // Prim relaxation, portable, against the direct loop.
            let core2 = random(n, 1.0, 1.0, &mut rng);
            let mut best = vec![f32::INFINITY; n];
            let mut src = vec![0u32; n];
            let mn = prim_relax_impl::<false>(&xt, n, d, &c[..d], 0.5, &core2, &mut best, &mut src, 1);
            let mut expect = f32::INFINITY;
            for i in 0..n {
                let dd: f32 = (0..d).fold(0f32, |a, j| {
                    let t = xt[j * n + i] - c[j];
                    a + t * t
                });
                let mr = dd.max(0.5).max(core2[i]);
                assert_eq!(best[i].to_bits(), mr.to_bits());
                expect = expect.min(mr);
            }
            assert_eq!(mn.to_bits(), expect.to_bits());
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
