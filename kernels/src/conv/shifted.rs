//! The shifted-phase lowering: convolutions whose kernel is a multiple of the stride, as a few
//! gemms on *views* of one phase-split copy of the input (no column matrix).
//!
//! Let `k_h = s_h·t_h` and `k_w = s_w·t_w` (`t` taps per phase and axis). Split the zero-padded
//! input of a chunk of `imgs` images into the `s_h·s_w` phase planes
//!
//! `P[(c·s_h + a)·s_w + b, t·hp·wp + u'·wp + v'] = x_pad[t, c, s_h·u' + a, s_w·v' + b]`
//!
//! with `hp = h_out + t_h − 1`, `wp = w_out + t_w − 1` (a `[c_in·s_h·s_w, R]` matrix, row
//! stride `R ≥ imgs·hp·wp + (t_h − 1)·wp + t_w − 1`, zero beyond `imgs·hp·wp`). Kernel tap
//! `(p, q) = (s_h·d_p + a, s_w·d_q + b)` then reads, for output pixel `(i, j)` of image `t`, the
//! element at column `n + d_p·wp + d_q` of row `(c, a, b)`, where `n = t·hp·wp + i·wp + j` is
//! the output's *wide* column (the output computed on the `hp × wp` grid of each image, the
//! columns `i ≥ h_out` or `j ≥ w_out` being thrown away). So with the permuted weights
//! `W'_{d}[o, (c, a, b)] = w[o, c, s_h·d_p + a, s_w·d_q + b]` (`[c_out, c_in·s_h·s_w]`, one per
//! shift `d = (d_p, d_q)`), and `P_d` the view of `P` starting at column `d_p·wp + d_q` (same
//! row stride, unit column stride):
//! - forward: `Y_wide = Σ_d W'_d · P_d` (`[c_out, imgs·hp·wp]`), then the valid columns are
//!   copied out (+ bias);
//! - input-backward: `dY_wide` is `dy` on the wide grid (zero elsewhere); `dP_d += W'_dᵀ ·
//!   dY_wide` for every shift (the views `dP_d` overlap: the adds run in shift order), then each
//!   input pixel takes its phase element.
//!
//! - weight-backward: `dW'_d[o, (c, a, b)] = Σ_n dY_wide[o, n] · P[(c, a, b), n + off_d]`, a
//!   reduction along the rows of both operands ([`backward_weight`]).
//!
//! ## Fused `f32` products (AVX2 + FMA, or AVX-512F)
//! Where [`fused_here`] (`T = f32`, AVX2 + FMA, the native kernel set), the `t_h·t_w` products of the shifts run as
//! one product of [`mod@indirect`]: reduction step `p = (row, shift)` reads the phase row at
//! its shift's offset, so each output element is one FMA chain over all
//! `c_in·k_h·k_w` terms, `P` is read in place (no packed copy per shift) and the output is
//! written once. Input-backward reads `dY_wide` with `wp + 1` zero columns in front of each
//! row (offsets `−off_d`); weight-backward uses [`indirect::indirect_dot`] on chunks of
//! [`TARGET_COLS_SHIFTED_WEIGHT`] wide columns. Elsewhere (`f64`, or no AVX2) forward and
//! input-backward run the per-shift `gemm`s above and weight-backward the pixel-major im2col
//! lowering of [`super::conv2d_backward_weight`]. Measured in the stage-1 training step
//! (`cargo bench --bench train_step -- 2t`, alternating binaries on a Zen 3 host): 292 → 259 ms.
//!
//! Compared with im2col (`[c_in·k_h·k_w, h_out·w_out]` per image, `t_h·t_w` times the size of
//! `P` for stride 2, kernel 4) nothing of the size of the column matrix is written or read
//! besides `matrixmultiply`'s own packing of the `P_d` views; the price is `t_h·t_w` gemms with
//! a `t_h·t_w`-times shorter reduction each, and the thrown-away wide columns
//! (`hp·wp / (h_out·w_out)` more work: 6 % at 32×32 outputs, 56 % at 4×4). Measured on the
//! SimpleConv64 shapes (1 thread, each pass at batch 64 against im2col, noisy machine) the
//! per-shift gemms win only for wide maps with many channels (the 32→32 layer at 16×16
//! outputs and its transposed twin: forward ~+10 %, input-backward ~+5 %); the fused
//! products also for the RGB layer and down to 8×8 outputs, but not at 4×4 (56 %
//! thrown-away columns). [`applies`] encodes that.
//!
//! ## Determinism
//! Chunks hold whole images and their size is a function of the shape only
//! ([`TARGET_COLS_SHIFTED`], [`TARGET_COLS_SHIFTED_WEIGHT`]); forward and input-backward
//! chunks write disjoint images, weight-backward chunks one partial each, added in chunk
//! order. With the fused products each output element is one fixed FMA chain
//! ([`mod@indirect`]); otherwise a fixed sequence of gemm dot products (one per shift,
//! accumulated with `β = 1` in shift order), and the gemms may split over rows/columns of
//! `C`, which never changes a result ([`crate::gemm`]).
//! Every scratch element that a gemm reads is written for the current chunk (phase tails are
//! zeroed), so nothing depends on which chunks a task ran before.

use super::im2col::{copy_strided, scatter_strided, valid_range};
use super::indirect::{self, indirect_dot, indirect_gemm, PackedA};
use super::{
    add_channel_bias, check_lens, for_chunks, images_per_chunk, lowered_backward_weight, sum_chunk_partials,
    Conv2dGeom, LD_PAD, MIN_PAR_MACS,
};
use crate::gemm::{gemm, MatMut, MatRef};
use crate::scratch::Scratch;
use crate::{Float, KernelSet, Par};

/// Wide output columns (`images · hp·wp`) aimed for per chunk of the forward and
/// input-backward passes of the shifted lowering.
pub const TARGET_COLS_SHIFTED: usize = 1024;
/// At most this many shifts (`t_h·t_w`) for [`applies`].
pub const MAX_SHIFTS: usize = 4;
/// Wide output columns aimed for per chunk of the fused weight-backward pass (its partial
/// products are added in chunk order; part of the result's definition).
pub const TARGET_COLS_SHIFTED_WEIGHT: usize = 512;
/// Below this many input channels [`applies`] keeps im2col unless the fused products run:
/// the per-shift gemms would have a reduction of only `c_in·s_h·s_w` (12 for RGB at
/// stride 2), while a fused product reduces over all `c_in·k_h·k_w` terms at once.
pub const MIN_C_IN: usize = 8;
/// Below this output height or width [`applies`] keeps im2col: the thrown-away wide columns
/// cost `hp·wp / (h_out·w_out) − 1` extra work (13 % at 16, 27 % at 8).
pub const MIN_OUT: usize = 16;
/// [`MIN_OUT`] where the fused products run: they also win at 8×8 outputs (27 % thrown-away
/// columns). Stage-1 training step, `cargo bench --bench train_step -- 2t`, alternating
/// binaries on a Zen 3 host: 259 / 252 / 246 ms with 8 against 289 / 272 / 264 ms with 16;
/// in a second set 242 / 254 / 257 ms with 8 against 270 / 264 / 274 ms with 4.
pub const MIN_OUT_FUSED: usize = 8;

/// Whether the shifted lowering can run `g`: the kernel is a multiple of the stride on both
/// axes (and `g.check()` passes).
pub fn supports(g: &Conv2dGeom) -> bool {
    g.check().is_ok() && g.k_h.is_multiple_of(g.stride_h) && g.k_w.is_multiple_of(g.stride_w)
}

/// Whether [`super::conv2d_forward`] and the backward passes use the shifted lowering for `g`:
/// [`supports`], at most [`MAX_SHIFTS`] shifts, outputs of at least [`MIN_OUT`] on each side
/// ([`MIN_OUT_FUSED`] where the fused products run),
/// and at least [`MIN_C_IN`] input channels unless the fused products run
/// ([`fused_here`]). A function of the shape, the machine and the kernel set, never of the
/// threads.
pub fn applies(g: &Conv2dGeom) -> bool {
    let fused = fused_here();
    supports(g)
        && (g.k_h / g.stride_h) * (g.k_w / g.stride_w) <= MAX_SHIFTS
        && (g.c_in >= MIN_C_IN || fused)
        && g.h_out().min(g.w_out()) >= if fused { MIN_OUT_FUSED } else { MIN_OUT }
}

/// Whether the fused indirect-row products run: this machine has them
/// ([`indirect::available`]) and the calling thread's [`KernelSet`] is `Native`.
pub fn fused_here() -> bool {
    KernelSet::current() == KernelSet::Native && indirect::available()
}

fn check_supported(op: &str, g: &Conv2dGeom, x: usize, w: usize, y: usize) {
    check_lens(op, g, x, w, y);
    assert!(
        supports(g),
        "{op}: kernel {}x{} is not a multiple of the stride ({}, {})",
        g.k_h,
        g.k_w,
        g.stride_h,
        g.stride_w
    );
}

/// Sizes of the phase layout of one geometry.
#[derive(Clone, Copy, Debug)]
struct Layout {
    s_h: usize,
    s_w: usize,
    t_h: usize,
    t_w: usize,
    ho: usize,
    wo: usize,
    hp: usize,
    wp: usize,
    /// Rows of `P`: `c_in·s_h·s_w`.
    kp: usize,
}

impl Layout {
    fn new(g: &Conv2dGeom) -> Self {
        let (t_h, t_w) = (g.k_h / g.stride_h, g.k_w / g.stride_w);
        let (ho, wo) = (g.h_out(), g.w_out());
        Layout {
            s_h: g.stride_h,
            s_w: g.stride_w,
            t_h,
            t_w,
            ho,
            wo,
            hp: ho + t_h - 1,
            wp: wo + t_w - 1,
            kp: g.c_in * g.stride_h * g.stride_w,
        }
    }
    fn plane(&self) -> usize {
        self.hp * self.wp
    }
    fn shifts(&self) -> usize {
        self.t_h * self.t_w
    }
    /// Column offset of shift `d = d_p·t_w + d_q`.
    fn offset(&self, d: usize) -> usize {
        (d / self.t_w) * self.wp + d % self.t_w
    }
    /// Row stride of `P` for chunks of up to `imgs` images.
    fn row_len(&self, imgs: usize) -> usize {
        imgs * self.plane() + (self.t_h - 1) * self.wp + self.t_w - 1 + LD_PAD
    }
}

/// `W'_d[o, (c, a, b)] = w[o, c, s_h·d_p + a, s_w·d_q + b]`, as `[shifts, c_out, kp]`.
fn permute_weights<T: Float>(g: &Conv2dGeom, l: &Layout, w: &[T]) -> Vec<T> {
    let mut out = vec![T::ZERO; l.shifts() * g.c_out * l.kp];
    for d in 0..l.shifts() {
        let (dp, dq) = (d / l.t_w, d % l.t_w);
        for o in 0..g.c_out {
            for c in 0..g.c_in {
                for a in 0..l.s_h {
                    for b in 0..l.s_w {
                        let (p, q) = (l.s_h * dp + a, l.s_w * dq + b);
                        out[(d * g.c_out + o) * l.kp + (c * l.s_h + a) * l.s_w + b] =
                            w[((o * g.c_in + c) * g.k_h + p) * g.k_w + q];
                    }
                }
            }
        }
    }
    out
}

/// Per column phase `b < s_w`: its valid phase columns `[v_lo, v_hi)` and the first input
/// column `v0` they hold (column `v_lo + j` holds input column `v0 + j·s_w`).
fn column_phases(g: &Conv2dGeom, l: &Layout) -> Vec<(usize, usize, usize)> {
    (0..l.s_w)
        .map(|b| {
            let (v_lo, v_hi) = valid_range(l.wp, l.s_w, b, g.pad_w, g.w_in);
            (v_lo, v_hi, (v_lo * l.s_w + b).saturating_sub(g.pad_w))
        })
        .collect()
}

/// For `s_w = 2`: the column phases `(b_even, b_odd)` when each holds one parity of every
/// input row in full (`v0 = 0` and `v0 = 1`, `w_in / 2` columns each, `w_in` even), so that
/// [`split`] and [`merge`] can (de)interleave a row in one pass instead of two strided ones.
fn column_pair(g: &Conv2dGeom, cols: &[(usize, usize, usize)]) -> Option<(usize, usize)> {
    if cols.len() != 2 || !g.w_in.is_multiple_of(2) {
        return None;
    }
    let half = g.w_in / 2;
    let full = |b: usize, v0: usize| cols[b].0 < cols[b].1 && cols[b].1 - cols[b].0 == half && cols[b].2 == v0;
    if full(0, 0) && full(1, 1) {
        Some((0, 1))
    } else if full(1, 0) && full(0, 1) {
        Some((1, 0))
    } else {
        None
    }
}

/// Writes the phase planes of `imgs` images `x: [imgs, c_in, h_in, w_in]` into `phases`
/// (row stride `r_len`), and zeroes each row from column `imgs·hp·wp` to `r_len`.
///
/// `x` is read once, in memory order (image, channel, row): each input row `u` belongs to
/// phase row `up = (u + pad_h) / s_h` of the phases `a = (u + pad_h) mod s_h`, `b < s_w`, and
/// is copied to each of them while it is in L1. The padding of every phase plane (its rows
/// outside the valid range, the columns outside it) is zeroed as the rows are written.
fn split<T: Float>(g: &Conv2dGeom, l: &Layout, x: &[T], imgs: usize, phases: &mut [T], r_len: usize) {
    let (plane, xs, xplane) = (l.plane(), g.c_in * g.h_in * g.w_in, g.h_in * g.w_in);
    let cols = column_phases(g, l);
    let pair = column_pair(g, &cols);
    for t in 0..imgs {
        for c in 0..g.c_in {
            let x_c = &x[t * xs + c * xplane..t * xs + (c + 1) * xplane];
            // Phase rows that no input row fills: zero.
            for a in 0..l.s_h {
                let (u_lo, u_hi) = valid_range(l.hp, l.s_h, a, g.pad_h, g.h_in);
                for b in 0..l.s_w {
                    let row = ((c * l.s_h + a) * l.s_w + b) * r_len + t * plane;
                    let ph = &mut phases[row..row + plane];
                    ph[..u_lo * l.wp].fill(T::ZERO);
                    ph[u_hi.max(u_lo) * l.wp..].fill(T::ZERO);
                }
            }
            for (u, src) in x_c.chunks_exact(g.w_in).enumerate() {
                let (up, a) = ((u + g.pad_h) / l.s_h, (u + g.pad_h) % l.s_h);
                if up >= l.hp {
                    continue;
                }
                let base = (c * l.s_h + a) * l.s_w * r_len + t * plane + up * l.wp;
                if let Some((be, bo)) = pair {
                    // Both column phases at once: even input columns to `be`, odd to `bo`.
                    let (lo, hi) = (base + be * r_len, base + bo * r_len);
                    let (first, second) = phases.split_at_mut(lo.max(hi));
                    let (ev_row, od_row) = if lo < hi {
                        (&mut first[lo..lo + l.wp], &mut second[..l.wp])
                    } else {
                        (&mut second[..l.wp], &mut first[hi..hi + l.wp])
                    };
                    let (ev_lo, od_lo) = (cols[be].0, cols[bo].0);
                    ev_row[..ev_lo].fill(T::ZERO);
                    ev_row[cols[be].1..].fill(T::ZERO);
                    od_row[..od_lo].fill(T::ZERO);
                    od_row[cols[bo].1..].fill(T::ZERO);
                    for ((pair, e), o) in src.chunks_exact(2).zip(&mut ev_row[ev_lo..]).zip(&mut od_row[od_lo..]) {
                        *e = pair[0];
                        *o = pair[1];
                    }
                    continue;
                }
                for (b, &(v_lo, v_hi, v0)) in cols.iter().enumerate() {
                    let row = base + b * r_len;
                    let dst = &mut phases[row..row + l.wp];
                    if v_lo >= v_hi {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    dst[..v_lo].fill(T::ZERO);
                    dst[v_hi..].fill(T::ZERO);
                    copy_strided(&mut dst[v_lo..v_hi], &src[v0..], l.s_w);
                }
            }
        }
    }
    for row in phases.chunks_exact_mut(r_len).take(l.kp) {
        row[imgs * plane..].fill(T::ZERO);
    }
}

/// The adjoint of [`split`] on the pixels it reads: `dx[t, c, u, v]` (overwritten) takes the
/// phase element holding pixel `(u, v)`; pixels no phase holds get zero.
fn merge<T: Float>(g: &Conv2dGeom, l: &Layout, phases: &[T], r_len: usize, imgs: usize, dx: &mut [T]) {
    let (plane, xs, xplane) = (l.plane(), g.c_in * g.h_in * g.w_in, g.h_in * g.w_in);
    // Phase `a` holds the distinct rows `up·s_h + a − pad_h` for `up` in its valid range, so
    // the phases hold every pixel exactly when their row and column counts add up to the
    // image's; only otherwise do some pixels need the zero.
    let rows_held: usize = (0..l.s_h).map(|a| span(valid_range(l.hp, l.s_h, a, g.pad_h, g.h_in))).sum();
    let cols_held: usize = (0..l.s_w).map(|b| span(valid_range(l.wp, l.s_w, b, g.pad_w, g.w_in))).sum();
    if rows_held != g.h_in || cols_held != g.w_in {
        dx.fill(T::ZERO);
    }
    // `dx` is written once, in memory order (image, channel, row): row `u` takes its pixels
    // from phase row `up = (u + pad_h) / s_h` of the phases `a = (u + pad_h) mod s_h`, `b < s_w`.
    let cols = column_phases(g, l);
    let pair = column_pair(g, &cols);
    for t in 0..imgs {
        for c in 0..g.c_in {
            let x_c = &mut dx[t * xs + c * xplane..t * xs + (c + 1) * xplane];
            for (u, dst) in x_c.chunks_exact_mut(g.w_in).enumerate() {
                let (up, a) = ((u + g.pad_h) / l.s_h, (u + g.pad_h) % l.s_h);
                if up >= l.hp {
                    continue;
                }
                let base = (c * l.s_h + a) * l.s_w * r_len + t * plane + up * l.wp;
                if let Some((be, bo)) = pair {
                    // Both column phases at once: `be` to the even columns, `bo` to the odd.
                    let ev = &phases[base + be * r_len + cols[be].0..][..g.w_in / 2];
                    let od = &phases[base + bo * r_len + cols[bo].0..][..g.w_in / 2];
                    for ((pair, e), o) in dst.chunks_exact_mut(2).zip(ev).zip(od) {
                        pair[0] = *e;
                        pair[1] = *o;
                    }
                    continue;
                }
                for (b, &(v_lo, v_hi, v0)) in cols.iter().enumerate() {
                    if v_lo >= v_hi {
                        continue;
                    }
                    let row = base + b * r_len;
                    scatter_strided(&mut dst[v0..], &phases[row + v_lo..row + v_hi], l.s_w);
                }
            }
        }
    }
}

/// Length of a half-open range `(lo, hi)` (0 if empty).
fn span((lo, hi): (usize, usize)) -> usize {
    hi.saturating_sub(lo)
}

/// `dy: [imgs, c_out, ho, wo]` onto the wide grid `[c_out, imgs·hp·wp]` (row stride `ld`),
/// zero in the thrown-away columns.
fn widen<T: Float>(l: &Layout, c_out: usize, dy: &[T], imgs: usize, wide: &mut [T], ld: usize) {
    let (plane, hw) = (l.plane(), l.ho * l.wo);
    for o in 0..c_out {
        let row = &mut wide[o * ld..o * ld + imgs * plane];
        for t in 0..imgs {
            let src = &dy[(t * c_out + o) * hw..(t * c_out + o + 1) * hw];
            let dst = &mut row[t * plane..(t + 1) * plane];
            for (i, dst_row) in dst.chunks_exact_mut(l.wp).enumerate() {
                if i < l.ho {
                    dst_row[..l.wo].copy_from_slice(&src[i * l.wo..(i + 1) * l.wo]);
                    dst_row[l.wo..].fill(T::ZERO);
                } else {
                    dst_row.fill(T::ZERO);
                }
            }
        }
    }
}

/// The view `P_d`: rows `kp`, columns `cols`, starting at column `off` of every row.
fn phase_view<'a, T>(phases: &'a [T], l: &Layout, r_len: usize, off: usize, cols: usize) -> MatRef<'a, T> {
    MatRef::strided(&phases[off..], l.kp, cols, r_len, 1)
}

/// The chunking shared by [`forward`] and [`backward_input`]: `nb` images per chunk, each
/// chunk's phase rows of `r_len` columns and its `[c_out, ld_y]` wide output or `dy` matrix.
struct ChunkPlan<T> {
    l: Layout,
    /// Padded output plane per image (`l.plane()`).
    plane: usize,
    /// `h_out · w_out`.
    hw: usize,
    /// Elements of one input image.
    xs: usize,
    /// Elements of one output image.
    ys: usize,
    nb: usize,
    par: Par,
    /// The weights permuted per shift ([`permute_weights`]).
    wp: Vec<T>,
    r_len: usize,
    ld_y: usize,
}

impl<T: Float> ChunkPlan<T> {
    fn new(g: &Conv2dGeom, w: &[T], par: Par) -> Self {
        let l = Layout::new(g);
        let (plane, hw) = (l.plane(), l.ho * l.wo);
        let nb = images_per_chunk(plane, g.batch, TARGET_COLS_SHIFTED);
        let wp = permute_weights(g, &l, w);
        let r_len = l.row_len(nb);
        ChunkPlan {
            plane,
            hw,
            xs: g.c_in * g.h_in * g.w_in,
            ys: g.c_out * hw,
            nb,
            par: par.for_work(g.macs(), MIN_PAR_MACS),
            wp,
            r_len,
            ld_y: nb * plane + LD_PAD,
            l,
        }
    }
}

/// The permuted weights as `f32` when the fused products run here: `T = f32` and
/// [`indirect::available`] (AVX2 + FMA). Otherwise the per-shift gemms run.
fn fused_weights<T: Float>(wp: &[T]) -> Option<&[f32]> {
    T::as_f32(wp).filter(|_| fused_here())
}

/// Forward pass (see the module docs); same contract as [`super::conv2d_forward`].
///
/// # Panics
/// If a slice length does not match `g`, `g.check()` fails, or `!supports(g)`.
pub fn forward<T: Float>(g: &Conv2dGeom, x: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T], par: Par) {
    check_supported("shifted::forward", g, x.len(), w.len(), y.len());
    if let Some(b) = bias {
        assert_eq!(b.len(), g.c_out, "shifted::forward: bias has {} elements, expected c_out = {}", b.len(), g.c_out);
    }
    if y.is_empty() {
        return;
    }
    let ChunkPlan { l, plane, hw, xs, ys, nb, par, wp, r_len, ld_y } = ChunkPlan::new(g, w, par);
    // Fused (f32, AVX2): reduction step p = r·shifts + d reads phase row r at shift d.
    let s = l.shifts();
    let fused = fused_weights(&wp).map(|wp| {
        let a = PackedA::new(g.c_out, l.kp * s, |o, p| wp[((p % s) * g.c_out + o) * l.kp + p / s]);
        let offs: Vec<usize> = (0..l.kp * s).map(|p| (p / s) * r_len + l.offset(p % s)).collect();
        (a, offs)
    });
    let init = || Scratch::<T, 2>::take([l.kp * r_len, g.c_out * ld_y]);
    for_chunks(y, nb * ys, par, init, |ci, yc, scratch, gemm_par| {
        let [phases, wide] = scratch.parts();
        let imgs = yc.len() / ys;
        let cols = imgs * plane;
        let b0 = ci * nb;
        split(g, &l, &x[b0 * xs..(b0 + imgs) * xs], imgs, phases, r_len);
        if let (Some((a, offs)), Some(ph), Some(wide)) = (&fused, T::as_f32(phases), T::as_f32_mut(wide)) {
            indirect_gemm(a, ph, offs, cols, wide, ld_y, gemm_par);
        } else {
            for d in 0..l.shifts() {
                let wd = MatRef::row_major(&wp[d * g.c_out * l.kp..(d + 1) * g.c_out * l.kp], g.c_out, l.kp);
                let beta = if d == 0 { T::ZERO } else { T::ONE };
                let c = MatMut::strided(&mut wide[..], g.c_out, cols, ld_y, 1);
                gemm(T::ONE, wd, phase_view(phases, &l, r_len, l.offset(d), cols), beta, c, gemm_par);
            }
        }
        for t in 0..imgs {
            for o in 0..g.c_out {
                let src = &wide[o * ld_y + t * plane..o * ld_y + (t + 1) * plane];
                let dst = &mut yc[(t * g.c_out + o) * hw..(t * g.c_out + o + 1) * hw];
                for (dst_row, src_row) in dst.chunks_exact_mut(l.wo).zip(src.chunks_exact(l.wp)) {
                    dst_row.copy_from_slice(&src_row[..l.wo]);
                }
            }
        }
        if let Some(b) = bias {
            add_channel_bias(imgs, g.c_out, hw, b, yc, Par::Seq);
        }
    });
}

/// Input-backward pass (see the module docs); same contract as
/// [`super::conv2d_backward_input`].
///
/// # Panics
/// If a slice length does not match `g`, `g.check()` fails, or `!supports(g)`.
pub fn backward_input<T: Float>(g: &Conv2dGeom, dy: &[T], w: &[T], dx: &mut [T], par: Par) {
    check_supported("shifted::backward_input", g, dx.len(), w.len(), dy.len());
    if dx.is_empty() {
        return;
    }
    let ChunkPlan { l, plane, hw: _, xs, ys, nb, par, wp, r_len, ld_y } = ChunkPlan::new(g, w, par);
    // Fused (f32, AVX2): `dP[r, m] = Σ_{o, d} W'_d[o, r] · dY_wide[o, m − off_d]`, reduction
    // step p = o·shifts + d. Each row of `dY_wide` gets `lead` zero columns in front (the
    // largest offset), so every read lies inside its row or the zeros.
    let lead = l.offset(l.shifts() - 1);
    let ld_b = lead + ld_y;
    let s = l.shifts();
    let fused = fused_weights(&wp).zip(T::as_f32(dy)).map(|(wp, dy)| {
        let a = PackedA::new(l.kp, g.c_out * s, |r, p| wp[((p % s) * g.c_out + p / s) * l.kp + r]);
        let offs: Vec<usize> = (0..g.c_out * s).map(|p| (p / s) * ld_b + lead - l.offset(p % s)).collect();
        (a, offs, dy)
    });
    let init = || Scratch::<T, 2>::take([l.kp * r_len, g.c_out * ld_b]);
    for_chunks(dx, nb * xs, par, init, |ci, dxc, scratch, gemm_par| {
        let [phases, wide] = scratch.parts();
        let imgs = dxc.len() / xs;
        let cols = imgs * plane;
        let b0 = ci * nb;
        if let (Some((a, offs, dy)), Some(dp), Some(wide), Some(dxc)) =
            (&fused, T::as_f32_mut(phases), T::as_f32_mut(wide), T::as_f32_mut(dxc))
        {
            widen(&l, g.c_out, &dy[b0 * ys..(b0 + imgs) * ys], imgs, &mut wide[lead..], ld_b);
            for row in wide.chunks_mut(ld_b) {
                row[..lead].fill(0.0);
            }
            indirect_gemm(a, wide, offs, cols, dp, r_len, gemm_par);
            merge(g, &l, dp, r_len, imgs, dxc);
            return;
        }
        widen(&l, g.c_out, &dy[b0 * ys..(b0 + imgs) * ys], imgs, wide, ld_y);
        let dym = MatRef::strided(&wide[..], g.c_out, cols, ld_y, 1);
        // Shift 0 overwrites columns [0, cols) of every row; the later shifts add into
        // [off, off + cols), so the tail beyond `cols` starts at zero.
        for row in phases.chunks_exact_mut(r_len) {
            row[cols..].fill(T::ZERO);
        }
        for d in 0..l.shifts() {
            let wd = MatRef::row_major(&wp[d * g.c_out * l.kp..(d + 1) * g.c_out * l.kp], g.c_out, l.kp).t();
            let beta = if d == 0 { T::ZERO } else { T::ONE };
            let off = l.offset(d);
            let c = MatMut::strided(&mut phases[off..], l.kp, cols, r_len, 1);
            gemm(T::ONE, wd, dym, beta, c, gemm_par);
        }
        merge(g, &l, phases, r_len, imgs, dxc);
    });
}

/// Weight-backward pass; same contract as [`super::conv2d_backward_weight`].
///
/// With the fused `f32` products ([`indirect::available`]) it runs on the phase planes:
/// `dW'_d[o, (c, a, b)] = Σ_n dY_wide[o, n] · P[(c, a, b), n + off_d]` ([`indirect_dot`]; the
/// thrown-away wide columns of `dY_wide` are zero), one partial per chunk of
/// [`TARGET_COLS_SHIFTED_WEIGHT`] wide columns, the partials added in chunk order, then
/// un-permuted into `dw`. Otherwise (`f64`, or no AVX2) it is the pixel-major im2col lowering
/// of [`super::conv2d_backward_weight`].
///
/// # Panics
/// If a slice length does not match `g`, `g.check()` fails, or `!supports(g)`.
pub fn backward_weight<T: Float>(g: &Conv2dGeom, x: &[T], dy: &[T], dw: &mut [T], par: Par) {
    check_supported("shifted::backward_weight", g, x.len(), dw.len(), dy.len());
    let fused = T::as_f32(x).zip(T::as_f32(dy)).filter(|_| fused_here());
    let (Some((x, dy)), Some(dw)) = (fused, T::as_f32_mut(dw)) else {
        return lowered_backward_weight(g, x, dy, dw, par);
    };
    if g.batch == 0 {
        dw.fill(0.0);
        return;
    }
    let l = Layout::new(g);
    let (plane, hw, s) = (l.plane(), l.ho * l.wo, l.shifts());
    let (xs, ys) = (g.c_in * g.h_in * g.w_in, g.c_out * hw);
    let nb = images_per_chunk(plane, g.batch, TARGET_COLS_SHIFTED_WEIGHT);
    let n_chunks = g.batch.div_ceil(nb);
    let r_len = l.row_len(nb);
    let ld = nb * plane + LD_PAD;
    let q_len = l.kp * s;
    let wl = g.c_out * q_len;
    // Reduction step q = r·shifts + d reads phase row r at shift d.
    let offs: Vec<usize> = (0..q_len).map(|q| (q / s) * r_len + l.offset(q % s)).collect();
    let par = par.for_work(g.macs(), MIN_PAR_MACS);
    let partial = |ci: usize, out: &mut [f32], scratch: &mut Scratch<f32, 2>, dot_par: Par| {
        let [phases, wide] = scratch.parts();
        let b0 = ci * nb;
        let imgs = nb.min(g.batch - b0);
        split(g, &l, &x[b0 * xs..(b0 + imgs) * xs], imgs, phases, r_len);
        widen(&l, g.c_out, &dy[b0 * ys..(b0 + imgs) * ys], imgs, wide, ld);
        indirect_dot(wide, g.c_out, ld, phases, &offs, imgs * plane, out, dot_par);
    };
    let init = || Scratch::<f32, 2>::take([l.kp * r_len, g.c_out * ld]);
    // The permuted gradient `[c_out, kp·shifts]`, the chunks' partials added in chunk order.
    let mut sum = Scratch::<f32, 1>::take([wl]);
    let [sum] = sum.parts();
    sum_chunk_partials(sum, n_chunks, par, init, partial);
    // dw[o, c, s_h·d_p + a, s_w·d_q + b] = sum[o, ((c·s_h + a)·s_w + b)·shifts + d].
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for p in 0..g.k_h {
                for q in 0..g.k_w {
                    let (dp, a, dq, b) = (p / l.s_h, p % l.s_h, q / l.s_w, q % l.s_w);
                    let r = (c * l.s_h + a) * l.s_w + b;
                    dw[((o * g.c_in + c) * g.k_h + p) * g.k_w + q] = sum[o * q_len + r * s + dp * l.t_w + dq];
                }
            }
        }
    }
}
