//! Indirect-row matrix product (`f32`): `C = A · B̃`, where row `p` of `B̃` is a contiguous
//! run of one flat buffer starting at its own offset.
//!
//! For `A: [m, kk]`, a flat buffer `b`, offsets `row_off: [kk]` and `n` columns:
//!
//! `C[i, j] = Σ_{p < kk} A[i, p] · b[row_off[p] + j]`   (`i < m`, `j < n`; `C` overwritten)
//!
//! This is the fused form of the shifted-phase lowering ([`super::shifted`]): there, the
//! reduction index `p` runs over (phase row, shift) pairs and `row_off[p]` is the phase row's
//! start plus the shift's column offset, so the `t_h·t_w` products of the shifts become one
//! product with a `t_h·t_w`-times longer reduction. Nothing is packed from `b` (rows are read
//! in place, unit stride) and `C` is written once, instead of once per shift with `β = 1`
//! and a packed copy of every shifted view.
//!
//! ## Kernel
//! `A` is packed once per call ([`PackedA`]: `[ceil(m / MR)][kk][MR]`, rows past `m` zero).
//! The AVX2 + FMA micro-kernel keeps an `MR × NR` = 6 × 16 tile of `C` in 12 `ymm`
//! accumulators; each reduction step loads 2 vectors of `b` and broadcasts 6 values of `A`.
//! Column tiles are the outer loop, then blocks of [`KB`] reduction steps, then row tiles,
//! so the `b` runs of a column tile and block stay in L1 while all row tiles use them (a
//! tile's chains are stored in `C` between blocks and picked up again). The last column
//! tile masks its loads and stores (`b` is never read past `row_off[p] + n`).
//!
//! Where the CPU has AVX-512F the same loops run a 6 × 64 tile (24 `zmm` accumulators, 4
//! loads of `b` and 6 broadcasts per step, blocks of 64 steps), and [`indirect_dot`] holds
//! two rows of `a` per `zmm` (its 8-lane chains unchanged). [`Simd`] names the kernels;
//! [`indirect_gemm_with`] and [`indirect_dot_with`] run a chosen one.
//!
//! ## Determinism
//! Every element of `C` is one FMA chain (stored and reloaded between blocks, which rounds
//! nothing) `acc ← fma(A[i, p], b[row_off[p] + j], acc)` over
//! `p = 0, 1, …, kk − 1` from `acc = 0`, wherever it lies in a tile. [`indirect_gemm_portable`]
//! runs the same chains with `f32::mul_add` (the same correctly rounded operation), so the two
//! agree bitwise, and so do the AVX2 and AVX-512 kernels, whose tiles differ only in width
//! (`kernels/tests/indirect_sweep.rs` checks every kernel the machine runs); with [`Par::Rayon`] the row tiles
//! are split over threads, which changes no bit either.

use crate::Par;
use rayon::prelude::*;

/// Rows of the register tile.
pub const MR: usize = 6;
/// Columns of the register tile (2 vectors of 8 lanes).
pub const NR: usize = 8 * NV;
const NV: usize = 2;
/// Reduction steps per pass over a column tile: the `b` runs of one block (`KB` runs of
/// `NR` floats, a few cache lines each) stay in L1 while every row tile uses them. Between
/// blocks a tile's chains are stored in `C` and reloaded, which rounds nothing (`f32` to
/// `f32`), so the block size changes no bit. Stage-1 training step (`cargo bench --bench
/// train_step -- 2t`, alternating binaries, Zen 3): 242 / 254 / 257 ms with 128 against
/// 258 / 266 / 265 ms unblocked.
pub const KB: usize = 128;
/// Multiply-adds below which [`indirect_gemm`] runs on the calling thread.
pub const MIN_PAR_MACS: usize = 1 << 18;

/// `A: [m, kk]` packed for the micro-kernel: `[ceil(m / MR)][kk][MR]`, rows past `m` zero.
#[derive(Clone, Debug)]
pub struct PackedA {
    m: usize,
    kk: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Packs `a(i, p)` for `i < m`, `p < kk`.
    pub fn new(m: usize, kk: usize, a: impl Fn(usize, usize) -> f32) -> Self {
        let tiles = m.div_ceil(MR);
        let mut data = vec![0.0; tiles * kk * MR];
        for (t, panel) in data.chunks_exact_mut(kk * MR).enumerate() {
            for (p, step) in panel.chunks_exact_mut(MR).enumerate() {
                for (ii, v) in step.iter_mut().enumerate() {
                    let i = t * MR + ii;
                    if i < m {
                        *v = a(i, p);
                    }
                }
            }
        }
        PackedA { m, kk, data }
    }
    /// Rows `m` of `A`.
    pub fn rows(&self) -> usize {
        self.m
    }
    /// Reduction length `kk`.
    pub fn depth(&self) -> usize {
        self.kk
    }
    fn get(&self, i: usize, p: usize) -> f32 {
        self.data[((i / MR) * self.kk + p) * MR + i % MR]
    }
}

/// `true` when this machine runs a SIMD kernel of [`indirect_gemm`] (x86-64 with AVX2 and
/// FMA, or AVX-512F too; detected once). Elsewhere [`indirect_gemm`] runs
/// [`indirect_gemm_portable`].
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn check(a: &PackedA, b: &[f32], row_off: &[usize], n: usize, c: &[f32], ldc: usize) {
    assert_eq!(row_off.len(), a.kk, "indirect_gemm: {} row offsets for a reduction of {}", row_off.len(), a.kk);
    if a.m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n, "indirect_gemm: row stride {ldc} of C is below its {n} columns");
    assert!(c.len() >= (a.m - 1) * ldc + n, "indirect_gemm: C has {} elements, needs {}", c.len(), (a.m - 1) * ldc + n);
    if let Some(&hi) = row_off.iter().max() {
        assert!(hi + n <= b.len(), "indirect_gemm: row offset {hi} + {n} columns exceeds b ({} elements)", b.len());
    }
}

/// `C[i, j] = Σ_p A[i, p] · b[row_off[p] + j]` for `i < a.rows()`, `j < n`, `C` row-major
/// with row stride `ldc` (overwritten; elements between rows untouched). See the module docs.
///
/// # Panics
/// If `row_off.len() != a.depth()`, a row of `b` would be read past its end, or `c` is too
/// short for `a.rows()` rows of stride `ldc`.
pub fn indirect_gemm(a: &PackedA, b: &[f32], row_off: &[usize], n: usize, c: &mut [f32], ldc: usize, par: Par) {
    indirect_gemm_with(Simd::best(), a, b, row_off, n, c, ldc, par)
}

/// The instruction sets the kernels of this module are written for. Every one computes the
/// same FMA chains, so they agree bitwise; [`indirect_gemm_with`] and [`indirect_dot_with`]
/// pick one explicitly (tests compare them all on the machine they run on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// Plain loops with `f32::mul_add` (the `*_portable` functions).
    Portable,
    /// AVX2 + FMA, 8 lanes.
    Avx2,
    /// AVX-512F, 16 lanes ([`indirect_dot`] keeps the 8-lane chains, two rows per register).
    Avx512,
}

impl Simd {
    /// The fastest kernel this machine runs (detected once).
    pub fn best() -> Simd {
        if Simd::Avx512.runs_here() {
            Simd::Avx512
        } else if Simd::Avx2.runs_here() {
            Simd::Avx2
        } else {
            Simd::Portable
        }
    }
    /// Every kernel this machine runs, slowest first.
    pub fn supported() -> Vec<Simd> {
        [Simd::Portable, Simd::Avx2, Simd::Avx512].into_iter().filter(|s| s.runs_here()).collect()
    }
    /// `true` when this machine runs the kernel (CPU features detected once).
    pub fn runs_here(self) -> bool {
        match self {
            Simd::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => avx2::available(),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => avx2::available() && avx512::available(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// [`indirect_gemm`] on the kernel `simd`.
///
/// # Panics
/// As [`indirect_gemm`], and if this machine does not run `simd` ([`Simd::supported`]).
#[allow(clippy::too_many_arguments)]
pub fn indirect_gemm_with(
    simd: Simd,
    a: &PackedA,
    b: &[f32],
    row_off: &[usize],
    n: usize,
    c: &mut [f32],
    ldc: usize,
    par: Par,
) {
    check(a, b, row_off, n, c, ldc);
    assert!(simd.runs_here(), "indirect_gemm: this machine does not run the {simd:?} kernel");
    if a.m == 0 || n == 0 {
        return;
    }
    if simd == Simd::Portable {
        return indirect_gemm_portable(a, b, row_off, n, c, ldc);
    }
    let tiles = a.m.div_ceil(MR);
    // Rows of C that the valid rows cover: the last row may stop at column n.
    let c = &mut c[..(a.m - 1) * ldc + n];
    let parallel = par.for_work(a.m * a.kk * n, MIN_PAR_MACS) == Par::Rayon;
    for_row_tiles(c, MR * ldc, tiles, parallel, |t0, t1, c_rows| {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the machine runs `simd` (asserted above: AVX-512F, or AVX2 and FMA).
        // `check` proved every `b` read (`row_off[p] + j`, `j < n`) in bounds; `c_rows` starts
        // at row `t0·MR` of C and holds every element (row, j < n) of the tiles' valid rows,
        // which are the only ones stored.
        unsafe {
            let ops = GemmOperands { a, b, row_off, n, ldc };
            if simd == Simd::Avx512 {
                avx512::tiles(ops, t0, t1, c_rows.as_mut_ptr())
            } else {
                avx2::tiles(ops, t0, t1, c_rows.as_mut_ptr())
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (t0, t1, c_rows);
    });
}

/// The operands of one [`indirect_gemm`] call (`check` has checked them), as its SIMD
/// kernels take them.
#[derive(Clone, Copy)]
struct GemmOperands<'a> {
    a: &'a PackedA,
    b: &'a [f32],
    row_off: &'a [usize],
    n: usize,
    ldc: usize,
}

/// One register tile of [`indirect_gemm`]'s SIMD kernels, as [`for_each_tile`] hands it out.
struct TileJob<'a> {
    /// Row tile index (rows `t·MR..`, `mr` of them valid).
    t: usize,
    mr: usize,
    /// First column and number of valid columns (`≤` the kernel's tile width).
    j0: usize,
    nr: usize,
    /// The reduction block: offsets of its steps, and whether it is the first block (chains
    /// start from 0, else from the values stored in C).
    offs: &'a [usize],
    first: bool,
    /// The block's steps of the packed row tile (`MR` values per step).
    panel: &'a [f32],
}

/// The loop nest of [`indirect_gemm`]'s SIMD kernels (see the module docs): column tiles of
/// `width` columns, then blocks of `block` reduction steps, then row tiles `t0..t1`, calling
/// `tile` once per register tile. Only the order of the tiles is set here; each tile's chains
/// do not depend on it.
fn for_each_tile(
    a: &PackedA,
    (t0, t1): (usize, usize),
    row_off: &[usize],
    n: usize,
    (width, block): (usize, usize),
    mut tile: impl FnMut(TileJob),
) {
    for j0 in (0..n).step_by(width) {
        for k0 in (0..a.kk).step_by(block) {
            let offs = &row_off[k0..a.kk.min(k0 + block)];
            for t in t0..t1 {
                let panel = &a.data[(t * a.kk + k0) * MR..(t * a.kk + k0 + offs.len()) * MR];
                let mr = MR.min(a.m - t * MR);
                tile(TileJob { t, mr, j0, nr: width.min(n - j0), offs, first: k0 == 0, panel });
            }
        }
    }
}

/// Runs `f(t0, t1, rows)` over the row tiles `0..tiles` of `out` (`tile_len` elements per
/// tile, the last tile possibly shorter): once over all of them, or with `parallel` (and more
/// than one tile) over about two contiguous groups of tiles per rayon thread, `rows` starting
/// at tile `t0`. Each tile is computed the same way in either case (scheduling only).
fn for_row_tiles(
    out: &mut [f32],
    tile_len: usize,
    tiles: usize,
    parallel: bool,
    f: impl Fn(usize, usize, &mut [f32]) + Sync,
) {
    let run = |t0: usize, rows: &mut [f32]| f(t0, (t0 + rows.len().div_ceil(tile_len)).min(tiles), rows);
    if parallel && tiles > 1 {
        let tiles_per_task = tiles.div_ceil(2 * rayon::current_num_threads()).max(1);
        out.par_chunks_mut(tiles_per_task * tile_len).enumerate().for_each(|(k, rows)| run(k * tiles_per_task, rows));
    } else {
        run(0, out);
    }
}

/// The same chains as [`indirect_gemm`] in plain loops (`f32::mul_add`): its oracle, bitwise.
///
/// # Panics
/// As [`indirect_gemm`].
pub fn indirect_gemm_portable(a: &PackedA, b: &[f32], row_off: &[usize], n: usize, c: &mut [f32], ldc: usize) {
    check(a, b, row_off, n, c, ldc);
    for i in 0..a.m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for (p, &off) in row_off.iter().enumerate() {
                acc = a.get(i, p).mul_add(b[off + j], acc);
            }
            c[i * ldc + j] = acc;
        }
    }
}

/// Rows of `a` per tile of [`indirect_dot`].
pub const DOT_MR: usize = 4;
/// Offsets (`b` rows) per tile of [`indirect_dot`].
pub const DOT_NQ: usize = 3;
/// Rows of `a` per tile of the AVX-512 [`indirect_dot`] kernel (4 pairs of rows, one pair
/// per `zmm`).
pub const DOT512_MR: usize = 8;

/// The operands of one [`indirect_dot`] call (`check_dot` has checked them), as its SIMD
/// kernels take them.
#[derive(Clone, Copy)]
struct DotOperands<'a> {
    a: &'a [f32],
    m: usize,
    lda: usize,
    b: &'a [f32],
    row_off: &'a [usize],
    n: usize,
}

fn check_dot(a: &[f32], m: usize, lda: usize, b: &[f32], row_off: &[usize], n: usize, out: &[f32]) {
    assert_eq!(
        out.len(),
        m * row_off.len(),
        "indirect_dot: out has {} elements, expected {m} x {}",
        out.len(),
        row_off.len()
    );
    if m == 0 || n == 0 || row_off.is_empty() {
        return;
    }
    assert!(
        lda >= n && a.len() >= (m - 1) * lda + n,
        "indirect_dot: a ({} elements) holds no {m} rows of {n} at stride {lda}",
        a.len()
    );
    if let Some(&hi) = row_off.iter().max() {
        assert!(hi + n <= b.len(), "indirect_dot: row offset {hi} + {n} columns exceeds b ({} elements)", b.len());
    }
}

/// `out[i, q] = Σ_{j < n} a[i·lda + j] · b[row_off[q] + j]` (`out: [m, row_off.len()]`,
/// overwritten): the weight-gradient product of the shifted lowering, whose reduction runs
/// along the rows of both operands.
///
/// Each element is accumulated in 8 lanes (lane `l` takes `j ≡ l mod 8` in increasing `j`,
/// one FMA chain from 0; lanes past `n` in the last group add `0·0`), then the lanes are
/// summed as `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))`. [`indirect_dot_portable`]
/// does exactly this, so the two agree bitwise. With [`Par::Rayon`] the row tiles are split
/// over threads, which changes no bit.
///
/// # Panics
/// If `out.len() != m·row_off.len()`, or a row of `a` or `b` would be read past its end.
#[allow(clippy::too_many_arguments)]
pub fn indirect_dot(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &[f32],
    row_off: &[usize],
    n: usize,
    out: &mut [f32],
    par: Par,
) {
    indirect_dot_with(Simd::best(), a, m, lda, b, row_off, n, out, par)
}

/// [`indirect_dot`] on the kernel `simd`.
///
/// # Panics
/// As [`indirect_dot`], and if this machine does not run `simd` ([`Simd::supported`]).
#[allow(clippy::too_many_arguments)]
pub fn indirect_dot_with(
    simd: Simd,
    a: &[f32],
    m: usize,
    lda: usize,
    b: &[f32],
    row_off: &[usize],
    n: usize,
    out: &mut [f32],
    par: Par,
) {
    check_dot(a, m, lda, b, row_off, n, out);
    assert!(simd.runs_here(), "indirect_dot: this machine does not run the {simd:?} kernel");
    let q_len = row_off.len();
    if m == 0 || q_len == 0 {
        return;
    }
    if n == 0 {
        out.fill(0.0);
        return;
    }
    if simd == Simd::Portable {
        return indirect_dot_portable(a, m, lda, b, row_off, n, out);
    }
    let tile_rows = if simd == Simd::Avx512 { DOT512_MR } else { DOT_MR };
    let tiles = m.div_ceil(tile_rows);
    let parallel = par.for_work(m * q_len * n, MIN_PAR_MACS) == Par::Rayon;
    for_row_tiles(out, tile_rows * q_len, tiles, parallel, |t0, t1, rows| {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the machine runs `simd` (asserted above); `check_dot` proved every read of
        // `a` (rows < m, columns < n) and `b` (`row_off[q] + j`, `j < n`) in bounds; `rows`
        // starts at row `t0·tile_rows` of `out` and holds every row of tiles `t0..t1`.
        unsafe {
            let ops = DotOperands { a, m, lda, b, row_off, n };
            if simd == Simd::Avx512 {
                avx512::dot_tiles(ops, rows.as_mut_ptr(), t0, t1)
            } else {
                avx2::dot_tiles(ops, rows.as_mut_ptr(), t0, t1)
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (t0, t1, rows);
    });
}

/// The arithmetic of [`indirect_dot`] in plain loops (`f32::mul_add`): its oracle, bitwise.
///
/// # Panics
/// As [`indirect_dot`].
pub fn indirect_dot_portable(a: &[f32], m: usize, lda: usize, b: &[f32], row_off: &[usize], n: usize, out: &mut [f32]) {
    check_dot(a, m, lda, b, row_off, n, out);
    let q_len = row_off.len();
    for i in 0..m {
        for (q, &off) in row_off.iter().enumerate() {
            let mut lanes = [0.0f32; 8];
            for j0 in (0..n).step_by(8) {
                for (l, acc) in lanes.iter_mut().enumerate() {
                    let j = j0 + l;
                    let (x, y) = if j < n { (a[i * lda + j], b[off + j]) } else { (0.0, 0.0) };
                    *acc = x.mul_add(y, *acc);
                }
            }
            out[i * q_len + q] = lane_sum(lanes);
        }
    }
}

/// `((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))`: the lane order of [`indirect_dot`].
fn lane_sum(l: [f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{DotOperands, GemmOperands, DOT_MR, DOT_NQ, KB, MR, NR, NV};
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }

    /// A `maskload`/`maskstore` mask selecting lanes `0..count` (of 8).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub fn first_lanes(count: usize) -> __m256i {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(count.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    /// The 8 lanes of `v` summed in the order of `super::lane_sum`: `(l0..l3) + (l4..l7)`,
    /// then `(0+2, 1+3)`, then `02 + 13`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub fn lane_sum(v: __m256) -> f32 {
        let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<0b01>(s2, s2));
        _mm_cvtss_f32(s1)
    }

    /// Row tiles `t0..t1` of C, every column tile. `c` points at row `t0·MR` of C.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; `b[row_off[p] + j]` must be readable for every `p` and
    /// `j < n`; `c + (i − t0·MR)·ldc + j` writable for every valid row `i` of the tiles and
    /// `j < n`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tiles(ops: GemmOperands, t0: usize, t1: usize, c: *mut f32) {
        let GemmOperands { a, row_off, n, ldc, .. } = ops;
        let b = ops.b.as_ptr();
        super::for_each_tile(a, (t0, t1), row_off, n, (NR, KB), |job| {
            // SAFETY: forwarded; the tile's C corner is row (t − t0)·MR, column j0.
            unsafe {
                let (ct, bt) = (c.add((job.t - t0) * MR * ldc + job.j0), b.add(job.j0));
                if job.nr == NR {
                    tile::<false>(job.panel.as_ptr(), bt, job.offs, job.nr, ct, ldc, job.mr, job.first);
                } else {
                    tile::<true>(job.panel.as_ptr(), bt, job.offs, job.nr, ct, ldc, job.mr, job.first);
                }
            }
        });
    }

    /// One `MR × NR` tile (`nr` valid columns, `mr` valid rows): the chains of the module docs.
    ///
    /// # Safety
    /// As [`tiles`] for this tile; `MASKED` must be set when `nr < NR`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const MASKED: bool>(
        panel: *const f32,
        b: *const f32,
        row_off: &[usize],
        nr: usize,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        first: bool,
    ) {
        let mut masks = [_mm256_set1_epi32(-1); NV];
        if MASKED {
            for (v, mk) in masks.iter_mut().enumerate() {
                let lanes = nr.saturating_sub(8 * v).min(8) as i32;
                let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                *mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), idx);
            }
        }
        let mut acc = [_mm256_setzero_ps(); NV * MR];
        if !first {
            // Continue the chains of the previous reduction block from their stored values.
            for r in 0..mr {
                for v in 0..NV {
                    // SAFETY: row r < mr, lanes j < nr of C (masked lanes are not read).
                    unsafe {
                        let ptr = c.add(r * ldc + 8 * v);
                        acc[NV * r + v] = if MASKED { _mm256_maskload_ps(ptr, masks[v]) } else { _mm256_loadu_ps(ptr) };
                    }
                }
            }
        }
        for (p, &off) in row_off.iter().enumerate() {
            // SAFETY: lanes j < nr of row p are readable (masked lanes are not read); the
            // panel holds MR values per step.
            unsafe {
                let bp = b.add(off);
                let mut bv = [_mm256_setzero_ps(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = if MASKED {
                        _mm256_maskload_ps(bp.add(8 * v), masks[v])
                    } else {
                        _mm256_loadu_ps(bp.add(8 * v))
                    };
                }
                let ap = panel.add(p * MR);
                for r in 0..MR {
                    let av = _mm256_broadcast_ss(&*ap.add(r));
                    for v in 0..NV {
                        acc[NV * r + v] = _mm256_fmadd_ps(av, bv[v], acc[NV * r + v]);
                    }
                }
            }
        }
        for r in 0..mr {
            for v in 0..NV {
                // SAFETY: row r < mr, lanes j < nr of C are writable (masked lanes untouched).
                unsafe {
                    let ptr = c.add(r * ldc + 8 * v);
                    if MASKED {
                        _mm256_maskstore_ps(ptr, masks[v], acc[NV * r + v]);
                    } else {
                        _mm256_storeu_ps(ptr, acc[NV * r + v]);
                    }
                }
            }
        }
    }

    /// Row tiles `t0..t1` of [`super::indirect_dot`]; `out` points at row `t0·DOT_MR`.
    ///
    /// # Safety
    /// AVX2 and FMA must be available; rows `< m` of `a` (stride `lda`) and runs
    /// `b[row_off[q]..][..n]` readable for `j < n`; rows `t0·DOT_MR..min(t1·DOT_MR, m)` of `out`
    /// (`row_off.len()` each) writable from `out`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_tiles(ops: DotOperands, out: *mut f32, t0: usize, t1: usize) {
        let DotOperands { m, lda, row_off, n, .. } = ops;
        let (a, b) = (ops.a.as_ptr(), ops.b.as_ptr());
        let q_len = row_off.len();
        let (n8, tail) = (n - n % 8, n % 8);
        let tail_mask = super::avx2::first_lanes(tail);
        for t in t0..t1 {
            let mr = DOT_MR.min(m - t * DOT_MR);
            let mut rows = [a; DOT_MR];
            for (r, row) in rows.iter_mut().enumerate() {
                // SAFETY: row min(t·DOT_MR + r, m − 1) < m of `a`.
                *row = unsafe { a.add((t * DOT_MR + r.min(mr - 1)) * lda) };
            }
            for q0 in (0..q_len).step_by(DOT_NQ) {
                let nq = DOT_NQ.min(q_len - q0);
                let mut qs = [b; DOT_NQ];
                for (k, qp) in qs.iter_mut().enumerate() {
                    // SAFETY: offset q0 + min(k, nq − 1) < q_len is in bounds of `b`.
                    *qp = unsafe { b.add(row_off[q0 + k.min(nq - 1)]) };
                }
                let mut acc = [_mm256_setzero_ps(); DOT_MR * DOT_NQ];
                let mut j = 0;
                while j < n8 {
                    // SAFETY: columns j..j+8 ≤ n of every row read.
                    unsafe {
                        let mut bv = [_mm256_setzero_ps(); DOT_NQ];
                        for (k, v) in bv.iter_mut().enumerate() {
                            *v = _mm256_loadu_ps(qs[k].add(j));
                        }
                        for r in 0..DOT_MR {
                            let av = _mm256_loadu_ps(rows[r].add(j));
                            for k in 0..DOT_NQ {
                                acc[r * DOT_NQ + k] = _mm256_fmadd_ps(av, bv[k], acc[r * DOT_NQ + k]);
                            }
                        }
                    }
                    j += 8;
                }
                if tail > 0 {
                    // SAFETY: only lanes j < n are read (masked).
                    unsafe {
                        let mut bv = [_mm256_setzero_ps(); DOT_NQ];
                        for (k, v) in bv.iter_mut().enumerate() {
                            *v = _mm256_maskload_ps(qs[k].add(n8), tail_mask);
                        }
                        for r in 0..DOT_MR {
                            let av = _mm256_maskload_ps(rows[r].add(n8), tail_mask);
                            for k in 0..DOT_NQ {
                                acc[r * DOT_NQ + k] = _mm256_fmadd_ps(av, bv[k], acc[r * DOT_NQ + k]);
                            }
                        }
                    }
                }
                for r in 0..mr {
                    for k in 0..nq {
                        let sum = lane_sum(acc[r * DOT_NQ + k]);
                        // SAFETY: row t·DOT_MR + r < m, column q0 + k < q_len of `out`.
                        unsafe { *out.add(((t - t0) * DOT_MR + r) * q_len + q0 + k) = sum };
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{DotOperands, GemmOperands, DOT512_MR, MR};
    use crate::sgemm::avx512::column_masks;
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    /// Vectors of 16 lanes per tile row: the tile is `MR × 16·NV` = 6 × 64 in 24 `zmm`
    /// accumulators, with 4 loads of `b` and 6 broadcasts of `A` per reduction step.
    /// Stage-1 training step (`cargo bench --bench train_step -- 2t`, alternating binaries,
    /// Zen 5): 114 / 101 ms on the AVX2 kernels, 93 / 93 ms with this one.
    const NV: usize = 4;
    /// Columns of the tile.
    pub const NR: usize = 16 * NV;
    /// Reduction steps per pass over a column tile (`KB` runs of `NR` floats: 16 KiB, in L1).
    pub const KB: usize = 64;

    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx512f"))
    }

    /// Row tiles `t0..t1` of C, every column tile: the loops of `super::avx2::tiles` with the
    /// wider tile. `c` points at row `t0·MR` of C.
    ///
    /// # Safety
    /// AVX-512F must be available; `b[row_off[p] + j]` must be readable for every `p` and
    /// `j < n`; `c + (i − t0·MR)·ldc + j` writable for every valid row `i` of the tiles and
    /// `j < n`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn tiles(ops: GemmOperands, t0: usize, t1: usize, c: *mut f32) {
        let GemmOperands { a, row_off, n, ldc, .. } = ops;
        let b = ops.b.as_ptr();
        super::for_each_tile(a, (t0, t1), row_off, n, (NR, KB), |job| {
            let masks = column_masks::<NV>(job.nr);
            // SAFETY: forwarded; the tile's C corner is row (t − t0)·MR, column j0.
            unsafe {
                let ct = c.add((job.t - t0) * MR * ldc + job.j0);
                tile(job.panel.as_ptr(), b.add(job.j0), job.offs, &masks, ct, ldc, job.mr, job.first);
            }
        });
    }

    /// One `MR × NR` tile (`masks` select its valid columns, `mr` its valid rows): the chains
    /// of the module docs. Masked-off lanes are neither read nor written (AVX-512 masked
    /// loads do not fault on them).
    ///
    /// # Safety
    /// As [`tiles`] for this tile.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        panel: *const f32,
        b: *const f32,
        row_off: &[usize],
        masks: &[__mmask16; NV],
        c: *mut f32,
        ldc: usize,
        mr: usize,
        first: bool,
    ) {
        let mut acc = [_mm512_setzero_ps(); NV * MR];
        if !first {
            // Continue the chains of the previous reduction block from their stored values.
            for r in 0..mr {
                for v in 0..NV {
                    // SAFETY: row r < mr, the valid lanes of C (masked).
                    acc[NV * r + v] = unsafe { _mm512_maskz_loadu_ps(masks[v], c.add(r * ldc + 16 * v)) };
                }
            }
        }
        for (p, &off) in row_off.iter().enumerate() {
            // SAFETY: the valid lanes of row p are readable (masked); the panel holds MR
            // values per step.
            unsafe {
                let bp = b.add(off);
                let mut bv = [_mm512_setzero_ps(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = _mm512_maskz_loadu_ps(masks[v], bp.add(16 * v));
                }
                let ap = panel.add(p * MR);
                for r in 0..MR {
                    let av = _mm512_set1_ps(*ap.add(r));
                    for v in 0..NV {
                        acc[NV * r + v] = _mm512_fmadd_ps(av, bv[v], acc[NV * r + v]);
                    }
                }
            }
        }
        for r in 0..mr {
            for v in 0..NV {
                // SAFETY: row r < mr, the valid lanes of C are writable (masked).
                unsafe { _mm512_mask_storeu_ps(c.add(r * ldc + 16 * v), masks[v], acc[NV * r + v]) };
            }
        }
    }

    /// Row pairs per tile of [`dot_tiles`].
    const DOT_PAIRS: usize = DOT512_MR / 2;
    /// Offsets (`b` runs) per tile of [`dot_tiles`]: `DOT_PAIRS · DOT512_NQ` = 16 `zmm`
    /// accumulators.
    const DOT512_NQ: usize = 4;

    /// Row tiles `t0..t1` of [`super::indirect_dot`] (tiles of [`DOT512_MR`] rows); `out`
    /// points at row `t0·DOT512_MR`.
    ///
    /// The 8-lane chains of the AVX2 kernel, two rows to a `zmm`: the low half holds
    /// `a[r][j..j + 8]`, the high half `a[r + 1][j..j + 8]`, and the `b` run `b[row_off[q] +
    /// j..][..8]` is broadcast to both halves. Lane `l` of each half is then exactly the
    /// chain of lane `l` of the AVX2 kernel for its row (lanes past `n` add `0·0` in both),
    /// and each half is summed in the order of `super::lane_sum`: the bits do not change.
    /// The tile's rows are first copied in that pair-interleaved order (`[⌈n/8⌉][pairs][16]`,
    /// zero past `n`; rows past `m` repeat the last row), so one load fetches a pair, and the
    /// copy serves every offset. Stage-1 training step (as above): 99 / 120 ms when each pair
    /// was assembled from two loads per step, 93 / 103 ms with the copy.
    ///
    /// # Safety
    /// AVX-512F must be available; rows `< m` of `a` (stride `lda`) and runs
    /// `b[row_off[q]..][..n]` readable; rows `t0·DOT512_MR..min(t1·DOT512_MR, m)` of `out`
    /// (`row_off.len()` each) writable from `out`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dot_tiles(ops: DotOperands, out: *mut f32, t0: usize, t1: usize) {
        let DotOperands { m, lda, row_off, n, .. } = ops;
        let (a, b) = (ops.a.as_ptr(), ops.b.as_ptr());
        let q_len = row_off.len();
        let groups = n.div_ceil(8);
        let (full, tail) = (n / 8, n % 8);
        let tail_mask = super::avx2::first_lanes(tail);
        let mut pairs = vec![0.0f32; groups * DOT512_MR * 8];
        for t in t0..t1 {
            let mr = DOT512_MR.min(m - t * DOT512_MR);
            for r in 0..DOT512_MR {
                // SAFETY: row min(t·DOT512_MR + r, m − 1) < m of `a`, columns < n.
                let row = unsafe { std::slice::from_raw_parts(a.add((t * DOT512_MR + r.min(mr - 1)) * lda), n) };
                let (pr, half) = (r / 2, r % 2);
                let at = |g: usize| (g * DOT_PAIRS + pr) * 16 + half * 8;
                let runs = row.chunks_exact(8);
                let rest = runs.remainder();
                for (g, run) in runs.enumerate() {
                    pairs[at(g)..at(g) + 8].copy_from_slice(run);
                }
                if !rest.is_empty() {
                    pairs[at(full)..at(full) + rest.len()].copy_from_slice(rest);
                }
            }
            let pairs = pairs.as_ptr();
            for q0 in (0..q_len).step_by(DOT512_NQ) {
                let nq = DOT512_NQ.min(q_len - q0);
                let mut qs = [b; DOT512_NQ];
                for (k, qp) in qs.iter_mut().enumerate() {
                    // SAFETY: offset q0 + min(k, nq − 1) < q_len is in bounds of `b`.
                    *qp = unsafe { b.add(row_off[q0 + k.min(nq - 1)]) };
                }
                let mut acc = [_mm512_setzero_ps(); DOT_PAIRS * DOT512_NQ];
                for g in 0..groups {
                    // SAFETY: columns 8g..8g+8 of every `b` run are readable when g < full;
                    // in the tail group only lanes < tail are read (masked, zero elsewhere,
                    // as the copy of `a` is). The copy holds `groups` groups.
                    unsafe {
                        let mut bv = [_mm512_setzero_ps(); DOT512_NQ];
                        for (k, v) in bv.iter_mut().enumerate() {
                            let run = if g < full {
                                _mm256_loadu_pd(qs[k].add(8 * g) as *const f64)
                            } else {
                                _mm256_castps_pd(_mm256_maskload_ps(qs[k].add(8 * g), tail_mask))
                            };
                            *v = _mm512_castpd_ps(_mm512_broadcast_f64x4(run));
                        }
                        let ap = pairs.add(g * DOT_PAIRS * 16);
                        for pr in 0..DOT_PAIRS {
                            let av = _mm512_loadu_ps(ap.add(16 * pr));
                            for k in 0..DOT512_NQ {
                                acc[pr * DOT512_NQ + k] = _mm512_fmadd_ps(av, bv[k], acc[pr * DOT512_NQ + k]);
                            }
                        }
                    }
                }
                for r in 0..mr {
                    for k in 0..nq {
                        let v = acc[(r / 2) * DOT512_NQ + k];
                        let half = if r % 2 == 0 {
                            _mm512_castps512_ps256(v)
                        } else {
                            _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
                        };
                        let sum = super::avx2::lane_sum(half);
                        // SAFETY: row t·DOT512_MR + r < m, column q0 + k < q_len of `out`.
                        unsafe { *out.add(((t - t0) * DOT512_MR + r) * q_len + q0 + k) = sum };
                    }
                }
            }
        }
    }
}
