//! General matrix multiply on strided slices: `C ← α·A·B + β·C`.
//!
//! Shapes: `A: [m, k]`, `B: [k, n]`, `C: [m, n]`, each described by a [`MatRef`]/[`MatMut`]
//! (slice + rows + cols + row stride + column stride, in elements), so transposes are free
//! (swap the strides). With [`KernelSet::Native`] the product is computed by
//! [`Float::gemm_raw`] (our AVX-512 `sgemm` or `matrixmultiply`, its own `threading` feature
//! off), with [`KernelSet::Portable`] by [`gemm_portable_raw`] (one fixed summation order,
//! the same bits on every CPU); [`gemm`] asks [`KernelSet::current`].
//!
//! ## Parallelism and determinism
//! With [`Par::Rayon`] the rows of `C` are cut into at most [`MAX_ROW_BLOCKS`] blocks
//! ([`rows_per_block`], a function of the shape only) and each block is one sequential
//! `matrixmultiply` call; a product with fewer than `2·ROW_BLOCK` rows splits its columns the
//! same way instead. The reduction axis `k` is never split.
//!
//! The row split does not change a single bit of the result, so `Par::Seq` (one call) and
//! `Par::Rayon` (several) agree exactly. Reading `matrixmultiply` 0.3.11 (`gemm.rs`
//! `gemm_loop`, `masked_kernel`, `sgemm_kernel.rs`): the `k` loop is blocked in `kc`-sized
//! pieces that depend on `k` only; inside a piece each element of a micro-tile accumulates its
//! own products sequentially in `p`; the piece's sum is then merged as `C ← α·AB + β'·C`
//! (`β' = β` for the first piece, 1 after). The only position-dependent choice is whether an
//! element lies in a full `MR × NR` micro-tile (fused `α·AB + β'C`) or a partial edge tile
//! (`α·AB` rounded, then `β'C + ·`), which can differ in the last bit when `α ≠ 1`. Tiles are
//! laid out from the call's first row in steps of `MR` (and `MC`, a multiple of `MR`); since
//! every block starts at a multiple of [`ROW_BLOCK`] = 64 (a multiple of every `MR` and `MC`
//! of the x86 / aarch64 kernels), each row falls in the same kind of tile as in the unsplit
//! call. The same holds for column blocks (they start at multiples of 64, a multiple of every
//! `NR`, and `matrixmultiply`'s `NC` blocks only choose what is packed together).
//! `kernels/tests/thread_invariance.rs` checks `Seq` against `Rayon` bitwise at 1, 2 and 4
//! threads, with `α ≠ 1`, `β ≠ 0` and `k > kc`, for row and column splits. The portable
//! kernel computes each element of `C` on its own, so no split can change it.
//!
//! ```
//! use detaux_kernels::gemm::{gemm, MatMut, MatRef};
//! use detaux_kernels::Par;
//! let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
//! let b = [1.0f32, 0.0, 0.0, 1.0]; // identity
//! let mut c = [0.0f32; 4];
//! gemm(1.0, MatRef::row_major(&a, 2, 2), MatRef::row_major(&b, 2, 2), 0.0,
//!      MatMut::row_major(&mut c, 2, 2), Par::Seq);
//! assert_eq!(c, a);
//! ```

use crate::{Float, KernelSet, Par};
use rayon::prelude::*;

/// Granularity of the row split: every block starts at a multiple of 64 rows of `C` (a
/// multiple of every `matrixmultiply` micro-tile height `MR` and of its `MC`).
pub const ROW_BLOCK: usize = 64;
/// At most this many row blocks per product. Each block is a separate `matrixmultiply` call
/// that packs all of `B` again, so a few large blocks beat many small ones.
pub const MAX_ROW_BLOCKS: usize = 4;

/// Rows of `C` per parallel block for an `m`-row product: `m` split into at most
/// [`MAX_ROW_BLOCKS`] blocks, each a multiple of [`ROW_BLOCK`] rows (the last one shorter).
/// A function of `m` only.
pub fn rows_per_block(m: usize) -> usize {
    let blocks = m.div_ceil(ROW_BLOCK).clamp(1, MAX_ROW_BLOCKS);
    m.div_ceil(blocks).div_ceil(ROW_BLOCK) * ROW_BLOCK
}
/// Minimum multiply-adds before a product is split over threads.
pub const MIN_PAR_WORK: usize = 1 << 16;

/// A read-only strided matrix view.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    /// Backing slice; element `(i, j)` is `data[i * row_stride + j * col_stride]`.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between rows, in elements.
    pub row_stride: usize,
    /// Distance between columns, in elements.
    pub col_stride: usize,
}

/// A mutable strided matrix view. Rows must not overlap (checked).
#[derive(Debug)]
pub struct MatMut<'a, T> {
    /// Backing slice; element `(i, j)` is `data[i * row_stride + j * col_stride]`.
    pub data: &'a mut [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between rows, in elements.
    pub row_stride: usize,
    /// Distance between columns, in elements.
    pub col_stride: usize,
}

fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

impl<'a, T> MatRef<'a, T> {
    /// A dense row-major `[rows, cols]` view.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }
    /// A view with explicit strides.
    ///
    /// # Panics
    /// If the addressed elements do not fit in `data`.
    pub fn strided(data: &'a [T], rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Self {
        assert!(
            span(rows, cols, row_stride, col_stride) <= data.len(),
            "MatRef: [{rows}, {cols}] with strides ({row_stride}, {col_stride}) exceeds a slice of {}",
            data.len()
        );
        MatRef { data, rows, cols, row_stride, col_stride }
    }
    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
    /// Element `(i, j)`.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> T
    where
        T: Copy,
    {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A dense row-major `[rows, cols]` view.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }
    /// A view with explicit strides.
    ///
    /// # Panics
    /// If the addressed elements do not fit in `data`, or if rows could overlap
    /// (`row_stride < cols * col_stride` with more than one row).
    pub fn strided(data: &'a mut [T], rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Self {
        assert!(
            span(rows, cols, row_stride, col_stride) <= data.len(),
            "MatMut: [{rows}, {cols}] with strides ({row_stride}, {col_stride}) exceeds a slice of {}",
            data.len()
        );
        assert!(
            rows <= 1
                || cols == 0
                || row_stride >= cols * col_stride.max(1)
                || (col_stride >= rows * row_stride && row_stride >= 1),
            "MatMut: strides ({row_stride}, {col_stride}) make elements of a [{rows}, {cols}] view overlap"
        );
        MatMut { data, rows, cols, row_stride, col_stride }
    }
}

/// `C ← α·A·B + β·C` on the calling thread's [`KernelSet::current`]. When `β == 0`, `C` is
/// overwritten (NaNs in it are not propagated).
///
/// # Panics
/// If the shapes do not agree (`A.cols != B.rows`, or `C` is not `[A.rows, B.cols]`).
pub fn gemm<T: Float>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: MatMut<'_, T>, par: Par) {
    gemm_with(KernelSet::current(), alpha, a, b, beta, c, par)
}

/// [`gemm`] on the kernel set `kernels`.
///
/// # Panics
/// As [`gemm`].
pub fn gemm_with<T: Float>(
    kernels: KernelSet,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    par: Par,
) {
    let raw = raw_gemm::<T>(kernels);
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && c.rows == m && c.cols == n,
        "gemm: A [{m}, {k}] · B [{}, {}] does not fit C [{}, {}]",
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
    if m == 0 || n == 0 {
        return;
    }
    let par = par.for_work(m.saturating_mul(k).saturating_mul(n), MIN_PAR_WORK);
    // Splitting rows of C needs each block to own a disjoint sub-slice: true for row-major-ish
    // layouts (row_stride >= cols * col_stride). Products with few rows split their columns
    // instead (any layout whose elements are distinct); the rest run sequentially.
    let row_splittable = c.row_stride >= c.cols * c.col_stride.max(1);
    let distinct = c.col_stride >= 1
        && (m <= 1 || c.row_stride >= n * c.col_stride || (c.row_stride >= 1 && c.col_stride >= m * c.row_stride));
    if par == Par::Seq || !((m >= 2 * ROW_BLOCK && row_splittable) || (n >= 2 * ROW_BLOCK && distinct)) {
        gemm_block(raw, alpha, a, 0, m, b, beta, c.data, c.row_stride, c.col_stride);
        return;
    }
    if !(m >= 2 * ROW_BLOCK && row_splittable) {
        gemm_col_split(raw, alpha, a, b, beta, c);
        return;
    }
    let rs = c.row_stride;
    let cs = c.col_stride;
    let len = c.data.len();
    let block = rows_per_block(m);
    c.data[..len.min(m * rs)].par_chunks_mut(block * rs).enumerate().for_each(|(blk, chunk)| {
        let r0 = blk * block;
        let rows = (m - r0).min(block);
        gemm_block(raw, alpha, a, r0, rows, b, beta, chunk, rs, cs);
    });
}

/// A raw pointer that may cross threads: each task writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct SharedMut<T>(*mut T);
// SAFETY: only used by `gemm_col_split`, whose tasks write pairwise disjoint elements of `C`
// while the owning `&mut` borrow is held by the caller for the whole parallel section.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedMut<T> {}

/// Parallel `C ← α·A·B + β·C` over column blocks of `C` ([`rows_per_block`] applied to `n`):
/// each block is one `matrixmultiply` call on the same rows of `A` and a column block of `B`.
fn gemm_col_split<T: Float>(raw: RawGemm<T>, alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: MatMut<'_, T>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let block = rows_per_block(n);
    let n_blocks = n.div_ceil(block);
    let (rs, cs) = (c.row_stride, c.col_stride);
    assert!(span(m, n, rs, cs) <= c.data.len());
    if k > 0 {
        assert!(span(m, k, a.row_stride, a.col_stride) <= a.data.len());
        assert!(span(k, n, b.row_stride, b.col_stride) <= b.data.len());
    }
    let c_ptr = SharedMut(c.data.as_mut_ptr());
    (0..n_blocks).into_par_iter().for_each(move |blk| {
        let c_ptr = c_ptr;
        let j0 = blk * block;
        let cols = (n - j0).min(block);
        // SAFETY: the asserts above bound every element addressed through (m, k, n) and the
        // strides inside its slice, so the column block j0..j0+cols is too. Distinct (i, j)
        // address distinct elements of C (checked by the caller), so tasks with disjoint
        // column ranges never write the same element, and none of them aliases `a` or `b`
        // (C is a unique borrow held across the whole `for_each`).
        unsafe {
            let c_blk = c_ptr.0.add(j0 * cs);
            if k == 0 {
                for i in 0..m {
                    for j in 0..cols {
                        let e = c_blk.add(i * rs + j * cs);
                        *e = if beta == T::ZERO { T::ZERO } else { beta * *e };
                    }
                }
                return;
            }
            raw(
                m,
                k,
                cols,
                alpha,
                a.data.as_ptr(),
                a.row_stride as isize,
                a.col_stride as isize,
                b.data.as_ptr().add(j0 * b.col_stride),
                b.row_stride as isize,
                b.col_stride as isize,
                beta,
                c_blk,
                rs as isize,
                cs as isize,
            );
        }
    });
}

/// One sequential `matrixmultiply` call computing rows `r0..r0+rows` of `C` into `c_block`,
/// whose element `(i, j)` (relative to `r0`) is `c_block[i * rs + j * cs]`.
#[allow(clippy::too_many_arguments)]
fn gemm_block<T: Float>(
    raw: RawGemm<T>,
    alpha: T,
    a: MatRef<'_, T>,
    r0: usize,
    rows: usize,
    b: MatRef<'_, T>,
    beta: T,
    c_block: &mut [T],
    rs: usize,
    cs: usize,
) {
    let (k, n) = (a.cols, b.cols);
    assert!(span(rows, n, rs, cs) <= c_block.len());
    if k == 0 {
        // α·A·B is the zero matrix: C ← β·C (β == 0 overwrites).
        for i in 0..rows {
            for j in 0..n {
                let e = &mut c_block[i * rs + j * cs];
                *e = if beta == T::ZERO { T::ZERO } else { beta * *e };
            }
        }
        return;
    }
    let a_off = r0 * a.row_stride;
    assert!(a_off + span(rows, k, a.row_stride, a.col_stride) <= a.data.len());
    // SAFETY: the asserts above (and in the MatRef/MatMut constructors) guarantee that every
    // element addressed through (rows, k, n) and the strides lies inside its slice; `c_block`
    // is a unique borrow, so it cannot alias `a` or `b`.
    unsafe {
        raw(
            rows,
            k,
            n,
            alpha,
            a.data.as_ptr().add(a_off),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c_block.as_mut_ptr(),
            rs as isize,
            cs as isize,
        );
    }
}

/// A raw strided gemm with the contract of [`Float::gemm_raw`].
type RawGemm<T> =
    unsafe fn(usize, usize, usize, T, *const T, isize, isize, *const T, isize, isize, T, *mut T, isize, isize);

/// The raw kernel of a kernel set.
fn raw_gemm<T: Float>(kernels: KernelSet) -> RawGemm<T> {
    match kernels {
        KernelSet::Native => T::gemm_raw,
        KernelSet::Portable => gemm_portable_raw::<T>,
    }
}

/// Rows of the portable kernel's register tile.
const PORTABLE_MR: usize = 4;
/// Columns of the portable kernel's register tile (one `B` panel).
const PORTABLE_NR: usize = 8;

/// The portable gemm `C ← α·A·B + β·C` ([`KernelSet::Portable`]), with the raw contract of
/// [`Float::gemm_raw`]. Every element of `C` is
///
/// `acc = ((0 + A[i,0]·B[0,j]) + A[i,1]·B[1,j]) + … + A[i,k−1]·B[k−1,j]`, then
/// `C[i,j] = α·acc` if `β = 0`, else `α·acc + β·C[i,j]`,
///
/// each product and sum rounded to `T` (no fused multiply-add), whatever the CPU. The loops
/// keep a `4 × 8` tile of accumulators over a packed `[k][8]` panel of `B` (rows past `m`
/// re-read the last row, columns past `n` are zero; their results are dropped), which the
/// compiler vectorises across columns; no element's arithmetic depends on the tiling.
/// `kernels/tests/portable_gemm.rs` checks it bitwise against the formula above.
///
/// # Safety
/// As [`Float::gemm_raw`]: every element addressed by the shapes and strides must lie inside
/// the allocation of its pointer, and `c` must not alias `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_portable_raw<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) {
    const MR: usize = PORTABLE_MR;
    const NR: usize = PORTABLE_NR;
    if m == 0 || n == 0 {
        return;
    }
    let mut panel = vec![T::ZERO; k * NR];
    for j0 in (0..n).step_by(NR) {
        let nr = NR.min(n - j0);
        for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                // SAFETY: row p < k, column j0 + j < n of B (the caller's contract).
                *x = if j < nr { unsafe { *b.offset(p as isize * rsb + (j0 + j) as isize * csb) } } else { T::ZERO };
            }
        }
        for i0 in (0..m).step_by(MR) {
            let mr = MR.min(m - i0);
            // SAFETY: row i0 + min(r, mr − 1) < m of A.
            let rows: [*const T; MR] =
                std::array::from_fn(|r| unsafe { a.offset((i0 + r.min(mr - 1)) as isize * rsa) });
            let mut acc = [[T::ZERO; NR]; MR];
            for (p, bv) in panel.chunks_exact(NR).enumerate() {
                let bv: &[T; NR] = bv.try_into().expect("NR elements");
                for (acc_r, row) in acc.iter_mut().zip(&rows) {
                    // SAFETY: column p < k of a valid row of A.
                    let av = unsafe { *row.offset(p as isize * csa) };
                    for (s, &bj) in acc_r.iter_mut().zip(bv) {
                        *s += av * bj;
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate().take(mr) {
                for (j, &s) in acc_r.iter().enumerate().take(nr) {
                    // SAFETY: (i0 + r, j0 + j) is an element of C (the caller's contract).
                    unsafe {
                        let e = c.offset((i0 + r) as isize * rsc + (j0 + j) as isize * csc);
                        *e = if beta == T::ZERO { alpha * s } else { alpha * s + beta * *e };
                    }
                }
            }
        }
    }
}

/// The obviously-correct oracle: triple loop, `k` innermost, accumulated in `f64`.
pub fn gemm_reference<T: Float>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: MatMut<'_, T>) {
    assert!(b.rows == a.cols && c.rows == a.rows && c.cols == b.cols, "gemm_reference: shape mismatch");
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut acc = 0.0f64;
            for p in 0..a.cols {
                acc += a.at(i, p).to_f64() * b.at(p, j).to_f64();
            }
            let e = &mut c.data[i * c.row_stride + j * c.col_stride];
            let prev = if beta == T::ZERO { 0.0 } else { beta.to_f64() * e.to_f64() };
            *e = T::from_f64(alpha.to_f64() * acc + prev);
        }
    }
}
