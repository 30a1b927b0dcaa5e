//! General matrix multiply on strided slices: `C ← α·A·B + β·C`.
//!
//! Shapes: `A: [m, k]`, `B: [k, n]`, `C: [m, n]`, each described by a [`MatRef`]/[`MatMut`]
//! (slice + rows + cols + row stride + column stride, in elements), so transposes are free
//! (swap the strides). The product is computed by `matrixmultiply` (`sgemm`/`dgemm`, its own
//! `threading` feature off).
//!
//! ## Parallelism and determinism
//! With [`Par::Rayon`] the rows of `C` are cut into at most [`MAX_ROW_BLOCKS`] blocks
//! ([`rows_per_block`], a function of the shape only) and each block is one sequential
//! `matrixmultiply` call. The reduction axis `k` is never split.
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
//! call. `tests/gemm_sweep.rs` checks `Seq` against `Rayon` bitwise at 1, 2 and 4 threads,
//! with `α ≠ 1`, `β ≠ 0` and `k > kc`.
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

use crate::{Float, Par};
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

/// `C ← α·A·B + β·C`. When `β == 0`, `C` is overwritten (NaNs in it are not propagated).
///
/// # Panics
/// If the shapes do not agree (`A.cols != B.rows`, or `C` is not `[A.rows, B.cols]`).
pub fn gemm<T: Float>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: MatMut<'_, T>, par: Par) {
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
    // layouts (row_stride >= cols * col_stride). Column-major outputs run sequentially.
    let row_splittable = c.row_stride >= c.cols * c.col_stride.max(1);
    if par == Par::Seq || m <= ROW_BLOCK || !row_splittable {
        gemm_block(alpha, a, 0, m, b, beta, c.data, c.row_stride, c.col_stride);
        return;
    }
    let rs = c.row_stride;
    let cs = c.col_stride;
    let len = c.data.len();
    let block = rows_per_block(m);
    c.data[..len.min(m * rs)].par_chunks_mut(block * rs).enumerate().for_each(|(blk, chunk)| {
        let r0 = blk * block;
        let rows = (m - r0).min(block);
        gemm_block(alpha, a, r0, rows, b, beta, chunk, rs, cs);
    });
}

/// One sequential `matrixmultiply` call computing rows `r0..r0+rows` of `C` into `c_block`,
/// whose element `(i, j)` (relative to `r0`) is `c_block[i * rs + j * cs]`.
#[allow(clippy::too_many_arguments)]
fn gemm_block<T: Float>(
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
        T::gemm_raw(
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
