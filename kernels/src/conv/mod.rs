//! 2-D convolution and transposed convolution (NCHW), forward and both backward passes.
//!
//! Convolution, for `x: [n, c_in, h_in, w_in]`, `w: [c_out, c_in, k_h, k_w]`, `b: [c_out]`:
//!
//! `y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x[n, c, i·s_h + p − pad_h, j·s_w + q − pad_w]`
//!
//! (out-of-range `x` reads are zero), with `h_out = (h_in + 2·pad_h − k_h) / s_h + 1` (floor).
//! Its two backward passes are
//! - input: `dx[n, c, u, v] = Σ_{o, p, q : u = i·s_h + p − pad_h, …} w[o, c, p, q] · dy[n, o, i, j]`
//!   (a transposed convolution of `dy`),
//! - weight: `dw[o, c, p, q] = Σ_{n, i, j} dy[n, o, i, j] · x[n, c, i·s_h + p − pad_h, …]`,
//! - bias: `db[o] = Σ_{n, i, j} dy[n, o, i, j]`.
//!
//! A transposed convolution with `x: [n, c_in, h, w]`, `w: [c_in, c_out, k_h, k_w]` (PyTorch's
//! `ConvTranspose2d` layout) *is* the input-backward pass of the dual convolution that maps its
//! output back to its input ([`ConvTranspose2dGeom::as_conv`]), so one code path serves both:
//! its forward is `conv2d_backward_input`, its input-backward is `conv2d_forward`, and its
//! weight-backward is `conv2d_backward_weight` with `x` and `dy` swapped.
//!
//! The slow, obviously-correct oracles are in [`mod@reference`].
//!
//! ## Algorithm: im2col + gemm (and the shifted-phase lowering)
//! With `K = c_in·k_h·k_w` and `hw = h_out·w_out`, [`im2col`] lowers one image to the column
//! matrix `col: [K, hw]` and `W` is read as `[c_out, K]`:
//! - forward: `y_n = W · col_n` (+ bias);
//! - input-backward: `col_n = Wᵀ · dy_n`, then [`col2im`] scatters-adds `col_n` into `dx_n`;
//! - weight-backward: `dw = Σ_n dy_n · col_nᵀ`; bias-backward: per-channel sums.
//!
//! Small feature maps are batched: a chunk of [`images_per_chunk`] images is lowered side by
//! side into one `[K, imgs·hw]` matrix so each gemm is wide enough (`dy` is first gathered
//! into the matching `[c_out, imgs·hw]` layout). Each rayon task (about four per thread and
//! call) owns its scratch (column matrix, gather buffer, phase planes), allocated when the
//! task starts and reused for all of its chunks; nothing is allocated per element or per
//! image, and inner loops are plain slice copies. Scratch rows carry [`LD_PAD`] spare
//! columns. [`Im2colPlan`] picks the lowering strategy per geometry (see [`Strategy`]).
//!
//! The weight gradient reduces over pixels, and `matrixmultiply` packs its operands along
//! the reduction axis: `A` wants `k` (pixels) as its slow index, `B` too. So that pass lowers
//! each image *pixel-major* ([`im2col_pixel_major`]: `colᵀ: [hw, K]`, built from runs of
//! `k_w` padded-input pixels) and reads `dy` either transposed to `[hw, c_out]` (when it is
//! about as large as `colᵀ`, i.e. `K ≤ 2·c_out`: the RGB layer) or gathered row-major (its
//! packing then reads 16 rows per pixel, cheap next to `colᵀ`). On the SimpleConv64 shapes
//! this removed most of the strided packing (`perf`: packing 19 % → 12 % of a stage-1 step).
//!
//! Kernels that are a multiple of the stride on wide maps ([`shifted::applies`]: the 32→32
//! layer and its transposed twin; with AVX2 also the RGB layer and its twin) run all three
//! passes through [`mod@shifted`]: products on shifted views of one phase-split copy of the
//! input instead of a column matrix (fused into one indirect-row product per pass where
//! AVX2 + FMA is available, [`mod@indirect`]).
//!
//! ## Determinism
//! Forward and input-backward chunks write disjoint images, and each output element is one
//! gemm dot product (or, shifted, a fixed sequence of them; or a `col2im` sum in a fixed
//! order), so any schedule gives the same bits. Weight-backward cuts the batch into chunks
//! whose size depends only on the shape ([`weight_chunk_cols`]), computes one partial `dw`
//! per chunk (in parallel), and adds the partials in chunk order. A lone chunk lets its gemm
//! split over rows/columns of `C`, which never changes the result either (see
//! [`crate::gemm`]). `kernels/tests/thread_invariance.rs` checks every pass bitwise at 1, 2
//! and 4 threads.

mod im2col;
pub mod indirect;
pub mod reference;
pub mod shifted;

pub use im2col::{col2im, col2im_with, im2col, im2col_pixel_major, im2col_with, Im2colPlan, Strategy, TABLE_MAX_W_OUT};

use crate::gemm::{gemm, MatMut, MatRef};
use crate::scratch::Scratch;
use crate::{Float, Par};
use rayon::prelude::*;

/// Shape of a 2-D convolution (see the module docs for the formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeom {
    /// Batch size `n`.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Vertical stride (≥ 1).
    pub stride_h: usize,
    /// Horizontal stride (≥ 1).
    pub stride_w: usize,
    /// Zero padding on top and bottom.
    pub pad_h: usize,
    /// Zero padding on left and right.
    pub pad_w: usize,
}

impl Conv2dGeom {
    /// Output height `(h_in + 2·pad_h − k_h) / stride_h + 1`.
    pub fn h_out(&self) -> usize {
        (self.h_in + 2 * self.pad_h - self.k_h) / self.stride_h + 1
    }
    /// Output width `(w_in + 2·pad_w − k_w) / stride_w + 1`.
    pub fn w_out(&self) -> usize {
        (self.w_in + 2 * self.pad_w - self.k_w) / self.stride_w + 1
    }
    /// Elements of `x`: `n·c_in·h_in·w_in`.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    /// Elements of `y`: `n·c_out·h_out·w_out`.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    /// Elements of `w`: `c_out·c_in·k_h·k_w`.
    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.k_h * self.k_w
    }
    /// Multiply-adds of one forward pass (each backward pass costs the same).
    pub fn macs(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out() * self.c_in * self.k_h * self.k_w
    }
    /// Checks that the geometry is usable: non-zero sizes and strides, and a kernel that fits
    /// the padded input. Returns a message naming the offending sizes otherwise.
    pub fn check(&self) -> Result<(), String> {
        if self.stride_h == 0 || self.stride_w == 0 {
            return Err(format!("stride must be >= 1, got ({}, {})", self.stride_h, self.stride_w));
        }
        if self.k_h == 0 || self.k_w == 0 {
            return Err(format!("kernel must be at least 1x1, got {}x{}", self.k_h, self.k_w));
        }
        if self.h_in + 2 * self.pad_h < self.k_h || self.w_in + 2 * self.pad_w < self.k_w {
            return Err(format!(
                "kernel {}x{} does not fit input {}x{} with padding ({}, {})",
                self.k_h, self.k_w, self.h_in, self.w_in, self.pad_h, self.pad_w
            ));
        }
        Ok(())
    }
}

/// Shape of a 2-D transposed convolution (PyTorch `ConvTranspose2d`, no dilation, no groups).
///
/// `h_out = (h_in − 1)·stride_h − 2·pad_h + k_h + out_pad_h`, likewise for the width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose2dGeom {
    /// Batch size `n`.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Vertical stride (≥ 1).
    pub stride_h: usize,
    /// Horizontal stride (≥ 1).
    pub stride_w: usize,
    /// Padding removed from top and bottom of the full output.
    pub pad_h: usize,
    /// Padding removed from left and right of the full output.
    pub pad_w: usize,
    /// Extra rows added at the bottom (< stride_h).
    pub out_pad_h: usize,
    /// Extra columns added at the right (< stride_w).
    pub out_pad_w: usize,
}

impl ConvTranspose2dGeom {
    /// Output height `(h_in − 1)·stride_h − 2·pad_h + k_h + out_pad_h`.
    pub fn h_out(&self) -> usize {
        (self.h_in - 1) * self.stride_h + self.k_h + self.out_pad_h - 2 * self.pad_h
    }
    /// Output width `(w_in − 1)·stride_w − 2·pad_w + k_w + out_pad_w`.
    pub fn w_out(&self) -> usize {
        (self.w_in - 1) * self.stride_w + self.k_w + self.out_pad_w - 2 * self.pad_w
    }
    /// Elements of `x`.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    /// Elements of `y`.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    /// Elements of `w`: `c_in·c_out·k_h·k_w`.
    pub fn w_len(&self) -> usize {
        self.c_in * self.c_out * self.k_h * self.k_w
    }
    /// Multiply-adds of one forward pass.
    pub fn macs(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in * self.c_out * self.k_h * self.k_w
    }
    /// Checks sizes (non-zero input, strides, kernel; `out_pad < stride`; positive output).
    pub fn check(&self) -> Result<(), String> {
        if self.stride_h == 0 || self.stride_w == 0 {
            return Err(format!("stride must be >= 1, got ({}, {})", self.stride_h, self.stride_w));
        }
        if self.k_h == 0 || self.k_w == 0 {
            return Err(format!("kernel must be at least 1x1, got {}x{}", self.k_h, self.k_w));
        }
        if self.h_in == 0 || self.w_in == 0 {
            return Err(format!("input must be at least 1x1, got {}x{}", self.h_in, self.w_in));
        }
        if self.out_pad_h >= self.stride_h || self.out_pad_w >= self.stride_w {
            return Err(format!(
                "output padding ({}, {}) must be smaller than the stride ({}, {})",
                self.out_pad_h, self.out_pad_w, self.stride_h, self.stride_w
            ));
        }
        let full_h = (self.h_in - 1) * self.stride_h + self.k_h + self.out_pad_h;
        let full_w = (self.w_in - 1) * self.stride_w + self.k_w + self.out_pad_w;
        if full_h <= 2 * self.pad_h || full_w <= 2 * self.pad_w {
            return Err(format!(
                "padding ({}, {}) leaves no output for input {}x{} and kernel {}x{}",
                self.pad_h, self.pad_w, self.h_in, self.w_in, self.k_h, self.k_w
            ));
        }
        Ok(())
    }
    /// The dual convolution: it maps this op's output `[n, c_out, h_out, w_out]` to its input
    /// `[n, c_in, h_in, w_in]` with the same weight tensor read as `[c_in, c_out, k_h, k_w]`.
    pub fn as_conv(&self) -> Conv2dGeom {
        Conv2dGeom {
            batch: self.batch,
            c_in: self.c_out,
            h_in: self.h_out(),
            w_in: self.w_out(),
            c_out: self.c_in,
            k_h: self.k_h,
            k_w: self.k_w,
            stride_h: self.stride_h,
            stride_w: self.stride_w,
            pad_h: self.pad_h,
            pad_w: self.pad_w,
        }
    }
}

fn check_lens(op: &str, g: &Conv2dGeom, x: usize, w: usize, y: usize) {
    assert!(
        x == g.x_len() && w == g.w_len() && y == g.y_len(),
        "{op}: slice lengths (x {x}, w {w}, y {y}) do not match {g:?} (x {}, w {}, y {})",
        g.x_len(),
        g.w_len(),
        g.y_len()
    );
    if let Err(e) = g.check() {
        panic!("{op}: {e}");
    }
}

/// Output columns (`images · h_out·w_out`) aimed for per gemm of the forward pass: small
/// feature maps are batched so the gemm is wide enough.
pub const TARGET_COLS: usize = 256;
/// Columns aimed for per gemm of the input-backward pass (measured ~8 % faster than 256 on
/// the 16×16 and 8×8 SimpleConv64 layers at 1 thread). Scheduling only: each `dx` element
/// is computed the same way whatever the chunk size.
pub const TARGET_COLS_INPUT: usize = 512;
/// Least number of pixels (the gemm's reduction length) per partial product of the
/// weight-backward pass (see [`weight_chunk_cols`]).
pub const TARGET_COLS_WEIGHT: usize = 64;
/// Elements aimed for per pixel-major column matrix of the weight-backward pass (512 KiB of
/// `f32`, about half an L2): a chunk covers `max(TARGET_COLS_WEIGHT, WEIGHT_CHUNK_ELEMS / K)`
/// pixels ([`weight_chunk_cols`]). Part of the result's definition.
pub const WEIGHT_CHUNK_ELEMS: usize = 1 << 17;

/// Pixels (the reduction length) aimed for per partial product of the weight-backward pass
/// for a reduction of `kk = c_in·k_h·k_w` rows: `max(TARGET_COLS_WEIGHT, WEIGHT_CHUNK_ELEMS /
/// kk)`. A function of the shape only.
pub fn weight_chunk_cols(kk: usize) -> usize {
    (WEIGHT_CHUNK_ELEMS / kk.max(1)).max(TARGET_COLS_WEIGHT)
}
/// Row stride of the pixel-major column matrix for `kk` columns: `kk`, plus 16 spare columns
/// when `kk` is a multiple of 256. A row stride of a large power-of-two number of floats puts
/// the rows the gemm reads together in the same few L1 sets (the AVX-512 `sgemm` then packs
/// the operand instead of reading it in place); 16 more floats (one cache line) spread them.
/// Layout only: results do not depend on it.
pub fn pixel_major_ld(kk: usize) -> usize {
    if kk.is_multiple_of(256) {
        kk + 16
    } else {
        kk
    }
}
/// Multiply-adds below which a convolution runs on the calling thread.
pub const MIN_PAR_MACS: usize = 1 << 18;

/// Images per chunk for feature maps of `hw` output pixels: `ceil(target / hw)`, clipped to
/// `[1, batch]`. A function of the shape only, never of the thread count.
pub fn images_per_chunk(hw: usize, batch: usize, target: usize) -> usize {
    target.div_ceil(hw.max(1)).clamp(1, batch.max(1))
}

/// Runs `f(chunk_index, chunk, scratch, gemm_par)` over `data.chunks_mut(chunk_len)`, on the
/// current rayon pool when `par` allows it, with one scratch value per worker task (built by
/// `init`). A lone chunk runs on the calling thread and gets `gemm_par = par`, so its gemm
/// may split instead; chunks running in parallel get `Par::Seq`.
fn for_chunks<T: Float, S: Send>(
    data: &mut [T],
    chunk_len: usize,
    par: Par,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(usize, &mut [T], &mut S, Par) + Sync + Send,
) {
    if data.len() <= chunk_len {
        f(0, data, &mut init(), par);
    } else if par == Par::Seq {
        let mut s = init();
        for (ci, chunk) in data.chunks_mut(chunk_len).enumerate() {
            f(ci, chunk, &mut s, Par::Seq);
        }
    } else {
        let min_len = tasks_min_len(data.len().div_ceil(chunk_len));
        data.par_chunks_mut(chunk_len)
            .enumerate()
            .with_min_len(min_len)
            .for_each_init(init, |s, (ci, chunk)| f(ci, chunk, s, Par::Seq));
    }
}

/// Chunks per rayon task so that a call makes about four tasks per thread: enough for work
/// stealing to balance a busy machine, few enough that the per-task scratch (built by
/// `for_each_init`) is allocated a handful of times per call. Scheduling only: results do not
/// depend on it.
fn tasks_min_len(n_chunks: usize) -> usize {
    n_chunks.div_ceil(4 * rayon::current_num_threads()).max(1)
}

/// Spare columns at the end of every row of the scratch matrices (column matrix, gathered
/// `dy`, batched output). A row stride that is a multiple of 4 KiB (e.g. 1024 `f32` pixels)
/// makes `matrixmultiply`'s strided packing reads fall in the same L1 sets; 8 spare columns
/// avoid that (the weight-backward gemm of the 64×64 layer ran ~1.45× faster). The spare
/// columns are never read.
pub const LD_PAD: usize = 8;

/// Copies `imgs` images of `src: [imgs, c, hw]` into `dst: [c, imgs·hw]` with row stride `ld`
/// (image `t` at column offset `t·hw`), the layout of a batched gemm operand.
fn gather_channels<T: Float>(src: &[T], imgs: usize, c: usize, hw: usize, dst: &mut [T], ld: usize) {
    for t in 0..imgs {
        for o in 0..c {
            dst[o * ld + t * hw..o * ld + (t + 1) * hw].copy_from_slice(&src[(t * c + o) * hw..(t * c + o + 1) * hw]);
        }
    }
}

/// `dst[n·c + o] = src[o·hw + n]` (`[c, hw]` to `[hw, c]`), by 8 × 8 tiles (read as 8
/// contiguous runs, written as 8 contiguous runs) where the sizes allow, element by element
/// at the ragged edges.
fn transpose_channels<T: Float>(src: &[T], c: usize, hw: usize, dst: &mut [T]) {
    const TILE: usize = 8;
    let (src, dst) = (&src[..c * hw], &mut dst[..c * hw]);
    let (c8, hw8) = (c - c % TILE, hw - hw % TILE);
    // Pixel blocks outermost: the 8 destination rows of a block (8·c contiguous elements)
    // are finished while in L1; each source row is read sequentially across blocks.
    for n0 in (0..hw8).step_by(TILE) {
        for o0 in (0..c8).step_by(TILE) {
            let mut t = [[T::ZERO; TILE]; TILE];
            for (a, row) in t.iter_mut().enumerate() {
                row.copy_from_slice(&src[(o0 + a) * hw + n0..][..TILE]);
            }
            for b in 0..TILE {
                let d = &mut dst[(n0 + b) * c + o0..][..TILE];
                for (a, v) in d.iter_mut().enumerate() {
                    *v = t[a][b];
                }
            }
        }
    }
    for o in 0..c {
        let n_lo = if o < c8 { hw8 } else { 0 };
        for n in n_lo..hw {
            dst[n * c + o] = src[o * hw + n];
        }
    }
}

/// `y = conv2d(x, w) + b`. `x: [n, c_in, h_in, w_in]`, `w: [c_out, c_in, k_h, k_w]`,
/// `bias: [c_out]`, `y: [n, c_out, h_out, w_out]` (overwritten).
///
/// Per chunk of [`images_per_chunk`]`(h_out·w_out, n, TARGET_COLS)` images: [`im2col`] of each
/// image side by side into one column matrix `[c_in·k_h·k_w, imgs·h_out·w_out]`, one gemm
/// `W · col`, then bias. Chunks run in parallel; each output element is one gemm dot product,
/// so the result does not depend on the thread count.
///
/// # Panics
/// If a slice length does not match `g`, or `g.check()` fails.
pub fn conv2d_forward<T: Float>(g: &Conv2dGeom, x: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T], par: Par) {
    check_lens("conv2d_forward", g, x.len(), w.len(), y.len());
    if let Some(b) = bias {
        assert_eq!(b.len(), g.c_out, "conv2d_forward: bias has {} elements, expected c_out = {}", b.len(), g.c_out);
    }
    let (kk, hw) = (g.c_in * g.k_h * g.k_w, g.h_out() * g.w_out());
    let (xs, ys) = (g.c_in * g.h_in * g.w_in, g.c_out * hw);
    if y.is_empty() {
        return;
    }
    if shifted::applies(g) {
        return shifted::forward(g, x, w, bias, y, par);
    }
    if kk == 0 {
        y.fill(T::ZERO);
        if let Some(b) = bias {
            add_channel_bias(g.batch, g.c_out, hw, b, y, par);
        }
        return;
    }
    let nb = images_per_chunk(hw, g.batch, TARGET_COLS);
    let par = par.for_work(g.macs(), MIN_PAR_MACS);
    let plan = Im2colPlan::new(g);
    let wm = MatRef::row_major(w, g.c_out, kk);
    let ld_max = nb * hw + LD_PAD;
    let init = || (Scratch::<T, 2>::take([kk * ld_max, if nb > 1 { g.c_out * ld_max } else { 0 }]), Vec::new());
    for_chunks(y, nb * ys, par, init, |ci, yc, (scratch, ph), gemm_par| {
        let [col, tmp] = scratch.parts();
        let imgs = yc.len() / ys;
        let (cols, ld) = (imgs * hw, imgs * hw + LD_PAD);
        let b0 = ci * nb;
        for t in 0..imgs {
            im2col_with(&plan, g, &x[(b0 + t) * xs..(b0 + t + 1) * xs], &mut col[t * hw..], ld, ph);
        }
        let colm = MatRef::strided(&col[..kk * ld], kk, cols, ld, 1);
        if imgs == 1 {
            gemm(T::ONE, wm, colm, T::ZERO, MatMut::row_major(yc, g.c_out, hw), gemm_par);
            if let Some(b) = bias {
                add_channel_bias(1, g.c_out, hw, b, yc, Par::Seq);
            }
        } else {
            gemm(T::ONE, wm, colm, T::ZERO, MatMut::strided(&mut tmp[..g.c_out * ld], g.c_out, cols, ld, 1), gemm_par);
            for t in 0..imgs {
                for o in 0..g.c_out {
                    let bo = bias.map_or(T::ZERO, |b| b[o]);
                    let src = &tmp[o * ld + t * hw..o * ld + (t + 1) * hw];
                    let dst = &mut yc[(t * g.c_out + o) * hw..(t * g.c_out + o + 1) * hw];
                    if bias.is_some() {
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d = *s + bo;
                        }
                    } else {
                        dst.copy_from_slice(src);
                    }
                }
            }
        }
    });
}

/// `dx = ∂L/∂x` from `dy = ∂L/∂y`. `dy: [n, c_out, h_out, w_out]`, `w: [c_out, c_in, k_h, k_w]`,
/// `dx: [n, c_in, h_in, w_in]` (overwritten).
///
/// Per chunk of [`images_per_chunk`]`(h_out·w_out, n, TARGET_COLS_INPUT)` images: one gemm
/// `col = Wᵀ · dy_chunk` with
/// `dy_chunk: [c_out, imgs·h_out·w_out]`, then [`col2im`] per image. Chunks run in parallel;
/// each `dx` element is produced inside one chunk in a fixed order.
///
/// # Panics
/// If a slice length does not match `g`, or `g.check()` fails.
pub fn conv2d_backward_input<T: Float>(g: &Conv2dGeom, dy: &[T], w: &[T], dx: &mut [T], par: Par) {
    check_lens("conv2d_backward_input", g, dx.len(), w.len(), dy.len());
    let (kk, hw) = (g.c_in * g.k_h * g.k_w, g.h_out() * g.w_out());
    let (xs, ys) = (g.c_in * g.h_in * g.w_in, g.c_out * hw);
    if dx.is_empty() {
        return;
    }
    if shifted::applies(g) {
        return shifted::backward_input(g, dy, w, dx, par);
    }
    let nb = images_per_chunk(hw, g.batch, TARGET_COLS_INPUT);
    let par = par.for_work(g.macs(), MIN_PAR_MACS);
    let plan = Im2colPlan::new(g);
    let wt = MatRef::row_major(w, g.c_out, kk).t();
    let ld_max = nb * hw + LD_PAD;
    let init = || (Scratch::<T, 2>::take([kk * ld_max, if nb > 1 { g.c_out * ld_max } else { 0 }]), Vec::new());
    for_chunks(dx, nb * xs, par, init, |ci, dxc, (scratch, ph), gemm_par| {
        let [col, tmp] = scratch.parts();
        let imgs = dxc.len() / xs;
        let (cols, ld) = (imgs * hw, imgs * hw + LD_PAD);
        let b0 = ci * nb;
        let dy_chunk = &dy[b0 * ys..(b0 + imgs) * ys];
        let dym = if imgs == 1 {
            MatRef::row_major(dy_chunk, g.c_out, hw)
        } else {
            gather_channels(dy_chunk, imgs, g.c_out, hw, tmp, ld);
            MatRef::strided(&tmp[..g.c_out * ld], g.c_out, cols, ld, 1)
        };
        gemm(T::ONE, wt, dym, T::ZERO, MatMut::strided(&mut col[..kk * ld], kk, cols, ld, 1), gemm_par);
        for t in 0..imgs {
            col2im_with(&plan, g, &col[t * hw..kk * ld], ld, &mut dxc[t * xs..(t + 1) * xs], ph);
        }
    });
}

/// `dw = ∂L/∂w`. `x: [n, c_in, h_in, w_in]`, `dy: [n, c_out, h_out, w_out]`,
/// `dw: [c_out, c_in, k_h, k_w]` (overwritten).
///
/// The batch is cut into fixed chunks of
/// [`images_per_chunk`]`(h_out·w_out, n, weight_chunk_cols(K))` images (a function of the
/// shape only). Each chunk lowers its images pixel-major ([`im2col_pixel_major`]) and computes
/// its partial `dy_chunk · col_chunkᵀ` (one gemm whose reduction
/// runs over the chunk's `imgs·h_out·w_out` pixels); chunks run in parallel and the partials
/// are added in chunk order, so the result is bitwise identical for any thread count.
///
/// # Panics
/// If a slice length does not match `g`, or `g.check()` fails.
pub fn conv2d_backward_weight<T: Float>(g: &Conv2dGeom, x: &[T], dy: &[T], dw: &mut [T], par: Par) {
    check_lens("conv2d_backward_weight", g, x.len(), dw.len(), dy.len());
    if shifted::applies(g) {
        return shifted::backward_weight(g, x, dy, dw, par);
    }
    lowered_backward_weight(g, x, dy, dw, par)
}

/// The pixel-major im2col lowering of [`conv2d_backward_weight`] (also the fallback of
/// [`shifted::backward_weight`] where its fused products do not run).
fn lowered_backward_weight<T: Float>(g: &Conv2dGeom, x: &[T], dy: &[T], dw: &mut [T], par: Par) {
    let (kk, hw) = (g.c_in * g.k_h * g.k_w, g.h_out() * g.w_out());
    let (xs, ys) = (g.c_in * g.h_in * g.w_in, g.c_out * hw);
    let wl = g.c_out * kk;
    if wl == 0 {
        return;
    }
    if g.batch == 0 {
        dw.fill(T::ZERO);
        return;
    }
    let nb = images_per_chunk(hw, g.batch, weight_chunk_cols(kk));
    let n_chunks = g.batch.div_ceil(nb);
    let par = par.for_work(g.macs(), MIN_PAR_MACS);
    // `dy` is read transposed (pixel-major, packed without strided reads) when it is about as
    // large as the column matrix (few input channels); otherwise row-major.
    let dy_pixel_major = kk <= 2 * g.c_out;
    // Scratch: the chunk's pixel-major column matrix `[imgs·hw, kk]` (row stride `ld_t`); its `dy`, transposed to
    // `[imgs·hw, c_out]` or gathered to `[c_out, imgs·hw]` (row stride `ld`, also for one
    // image: the padded stride keeps the strided packing reads out of each other's L1 sets);
    // and the padded image of `im2col_pixel_major`.
    let ld = nb * hw + LD_PAD;
    let ld_t = pixel_major_ld(kk);
    let tmp_len = if dy_pixel_major { nb * hw * g.c_out } else { g.c_out * ld };
    let init = || (Scratch::<T, 2>::take([nb * hw * ld_t, tmp_len]), Vec::new());
    let partial = |ci: usize, out: &mut [T], (scratch, x_pad): &mut (Scratch<T, 2>, Vec<T>), gemm_par: Par| {
        let [col_t, tmp] = scratch.parts();
        let b0 = ci * nb;
        let imgs = nb.min(g.batch - b0);
        let cols = imgs * hw;
        for t in 0..imgs {
            im2col_pixel_major(
                g,
                &x[(b0 + t) * xs..(b0 + t + 1) * xs],
                &mut col_t[t * hw * ld_t..(t + 1) * hw * ld_t],
                ld_t,
                x_pad,
            );
        }
        // dW = dy_chunk · col_chunkᵀ with colᵀ row-major [cols, kk] (packed without strided
        // reads); `dy` as a column-major view of its transpose, or row-major [c_out, cols]
        // (then its packing gathers 16 rows per pixel: cheaper than transposing a `dy` much
        // smaller than the column matrix).
        let dy_chunk = &dy[b0 * ys..(b0 + imgs) * ys];
        let dym = if dy_pixel_major {
            for t in 0..imgs {
                transpose_channels(&dy_chunk[t * ys..(t + 1) * ys], g.c_out, hw, &mut tmp[t * hw * g.c_out..]);
            }
            MatRef::strided(&tmp[..cols * g.c_out], g.c_out, cols, 1, g.c_out)
        } else {
            gather_channels(dy_chunk, imgs, g.c_out, hw, tmp, ld);
            MatRef::strided(&tmp[..g.c_out * ld], g.c_out, cols, ld, 1)
        };
        let colt = MatRef::strided(&col_t[..cols * ld_t], cols, kk, ld_t, 1);
        gemm(T::ONE, dym, colt, T::ZERO, MatMut::row_major(out, g.c_out, kk), gemm_par);
    };
    sum_chunk_partials(dw, n_chunks, par, init, partial);
}

/// `dw = Σ_ci partial_ci` over `n_chunks` partial products, added in chunk order.
/// `partial(ci, out, scratch, par)` overwrites `out` (`dw.len()` elements) with chunk `ci`'s
/// product. Chunk 0 writes straight into `dw`; the others are added into it in chunk order:
/// sequentially through one buffer, or computed in parallel (one scratch value per task, from
/// `init`) into pooled buffers that [`add_partials_in_order`] adds afterwards (the same
/// additions in the same order, so the same bits). A lone chunk gets `par` itself.
fn sum_chunk_partials<T: Float, S: Send>(
    dw: &mut [T],
    n_chunks: usize,
    par: Par,
    init: impl Fn() -> S + Sync + Send,
    partial: impl Fn(usize, &mut [T], &mut S, Par) + Sync + Send,
) {
    let wl = dw.len();
    if n_chunks == 1 {
        partial(0, dw, &mut init(), par);
        return;
    }
    if par == Par::Seq {
        let mut s = init();
        partial(0, dw, &mut s, Par::Seq);
        let mut out = Scratch::<T, 1>::take([wl]);
        let [out] = out.parts();
        for ci in 1..n_chunks {
            partial(ci, out, &mut s, Par::Seq);
            for (d, v) in dw.iter_mut().zip(out.iter()) {
                *d += *v;
            }
        }
        return;
    }
    let mut partials = Scratch::<T, 1>::take([(n_chunks - 1) * wl]);
    let [partials] = partials.parts();
    let (init, partial) = (&init, &partial);
    rayon::join(
        || partial(0, dw, &mut init(), Par::Seq),
        || {
            partials
                .par_chunks_mut(wl)
                .enumerate()
                .with_min_len(tasks_min_len(n_chunks - 1))
                .for_each_init(init, |s, (ci, out)| partial(ci + 1, out, s, Par::Seq));
        },
    );
    add_partials_in_order(dw, partials);
}

/// `dw[j] += partials[0][j] + partials[1][j] + …` (each `partials` row `dw.len()` long), the
/// additions of every `j` in row order; blocks of `dw` run in parallel (scheduling only).
fn add_partials_in_order<T: Float>(dw: &mut [T], partials: &[T]) {
    let wl = dw.len();
    dw.par_chunks_mut(PARTIAL_SUM_BLOCK).enumerate().for_each(|(bi, d)| {
        let (lo, len) = (bi * PARTIAL_SUM_BLOCK, d.len());
        for p in partials.chunks(wl) {
            for (d, v) in d.iter_mut().zip(&p[lo..lo + len]) {
                *d += *v;
            }
        }
    });
}

/// Elements of `dw` per task when [`conv2d_backward_weight`] adds its partials (scheduling
/// only: each element's additions run in chunk order whatever the split).
const PARTIAL_SUM_BLOCK: usize = 4096;

/// `db[o] = Σ_{n,i,j} dy[n, o, i, j]`. `dy: [n, c, h, w]`, `db: [c]` (overwritten).
///
/// Each plane `dy[n, o]` is summed with [`crate::reduce::sum`], and the planes of one channel
/// are added in image order. With `par` allowing it, channels run in parallel (each `db[o]` is
/// still one task's fixed sequence of additions, so the bits do not change).
///
/// # Panics
/// If `dy.len() != n·c·hw` or `db.len() != c`.
pub fn bias_backward<T: Float>(n: usize, c: usize, hw: usize, dy: &[T], db: &mut [T], par: Par) {
    assert!(dy.len() == n * c * hw && db.len() == c, "bias_backward: lengths do not match [{n}, {c}, {hw}]");
    let channel_sum = |o: usize| {
        let mut acc = T::ZERO;
        for b in 0..n {
            acc += crate::reduce::sum(&dy[(b * c + o) * hw..(b * c + o + 1) * hw]);
        }
        acc
    };
    if par.for_work(dy.len(), MIN_PAR_BIAS_ELEMS) == Par::Rayon {
        db.par_iter_mut().enumerate().for_each(|(o, d)| *d = channel_sum(o));
    } else {
        for (o, d) in db.iter_mut().enumerate() {
            *d = channel_sum(o);
        }
    }
}

/// Elements of `dy` below which [`bias_backward`] runs on the calling thread.
pub const MIN_PAR_BIAS_ELEMS: usize = 1 << 16;

/// Transposed convolution `y = conv_transpose2d(x, w) + b`. `x: [n, c_in, h_in, w_in]`,
/// `w: [c_in, c_out, k_h, k_w]`, `bias: [c_out]`, `y: [n, c_out, h_out, w_out]` (overwritten).
///
/// # Panics
/// If a slice length does not match `g`.
pub fn conv_transpose2d_forward<T: Float>(
    g: &ConvTranspose2dGeom,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    y: &mut [T],
    par: Par,
) {
    let dual = g.as_conv();
    conv2d_backward_input(&dual, x, w, y, par);
    if let Some(b) = bias {
        add_channel_bias(g.batch, g.c_out, g.h_out() * g.w_out(), b, y, par);
    }
}

/// `dx` of a transposed convolution: `dy: [n, c_out, h_out, w_out]`, `w: [c_in, c_out, k_h, k_w]`,
/// `dx: [n, c_in, h_in, w_in]` (overwritten).
pub fn conv_transpose2d_backward_input<T: Float>(g: &ConvTranspose2dGeom, dy: &[T], w: &[T], dx: &mut [T], par: Par) {
    conv2d_forward(&g.as_conv(), dy, w, None, dx, par);
}

/// `dw` of a transposed convolution: `x: [n, c_in, h_in, w_in]`, `dy: [n, c_out, h_out, w_out]`,
/// `dw: [c_in, c_out, k_h, k_w]` (overwritten).
pub fn conv_transpose2d_backward_weight<T: Float>(g: &ConvTranspose2dGeom, x: &[T], dy: &[T], dw: &mut [T], par: Par) {
    conv2d_backward_weight(&g.as_conv(), dy, x, dw, par);
}

/// `y[n, c, ·] += b[c]` for `y: [n, c, hw]`. With `par` allowing it (and at least
/// [`MIN_PAR_BIAS_ELEMS`] elements), images run in parallel: element-wise, so the bits do not
/// change.
pub fn add_channel_bias<T: Float>(n: usize, c: usize, hw: usize, b: &[T], y: &mut [T], par: Par) {
    assert!(b.len() == c && y.len() == n * c * hw, "add_channel_bias: lengths do not match [{n}, {c}, {hw}]");
    if hw == 0 || c == 0 {
        return;
    }
    let add_planes = |y: &mut [T]| {
        for (idx, plane) in y.chunks_mut(hw).enumerate() {
            let bc = b[idx % c];
            for v in plane {
                *v += bc;
            }
        }
    };
    if par.for_work(y.len(), MIN_PAR_BIAS_ELEMS) == Par::Rayon {
        y.par_chunks_mut(c * hw).for_each(add_planes);
    } else {
        add_planes(y);
    }
}
