//! `im2col` / `col2im`: the lowering of one image to the column matrix of a convolution.
//!
//! For one image `x: [c_in, h_in, w_in]` and a [`Conv2dGeom`] (its `batch` is ignored), the
//! column matrix `col: [c_in·k_h·k_w, h_out·w_out]` is
//!
//! `col[(c·k_h + p)·k_w + q, i·w_out + j] = x[c, i·s_h + p − pad_h, j·s_w + q − pad_w]`
//!
//! (zero where the coordinate falls in the padding), so that `y = W · col` with `W` read as
//! `[c_out, c_in·k_h·k_w]`. Row `r` of `col` starts at `col[r·ld]`; `ld ≥ h_out·w_out` lets
//! several images share one column matrix side by side (image `t` at column offset
//! `t·h_out·w_out`). `col2im` is the adjoint: it scatters-adds every column entry back onto the
//! input pixel it was read from.
//!
//! ## Determinism
//! Both are sequential over one image; `col2im` adds into each pixel in a fixed order (row
//! `(c, p, q)` of `col` ascending, then `i`, then `j`).

use super::Conv2dGeom;
use crate::Float;

/// The output positions `o ∈ [lo, hi)` whose input coordinate `o·stride + k − pad` lies in
/// `[0, size)`, clipped to `[0, n_out)`.
#[inline]
pub(crate) fn valid_range(n_out: usize, stride: usize, k: usize, pad: usize, size: usize) -> (usize, usize) {
    let lo = if pad > k { (pad - k).div_ceil(stride) } else { 0 };
    let hi = if size + pad > k { (size + pad - k).div_ceil(stride) } else { 0 };
    let hi = hi.min(n_out);
    (lo.min(hi), hi)
}

/// How [`im2col_with`] / [`col2im_with`] walk the image. All three give identical bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Per column-matrix row `(c, p, q)` and output row `i`: zero-fill the padding and copy
    /// the valid `j` range (a strided gather when `s_w > 1`).
    Rows,
    /// A table, per `(p, q)` and output pixel, of the source offset inside a channel plane
    /// (`u32::MAX` in the padding), so each column-matrix row is one flat gather.
    Table,
    /// First split the zero-padded image into `s_h·s_w` phase planes
    /// `P[c, a, b][u', v'] = x_pad[c, s_h·u' + a, s_w·v' + b]` (a scratch buffer of
    /// [`Im2colPlan::scratch_len`] elements); every column-matrix row is then a set of
    /// contiguous, branch-free copies `P[c, p mod s_h, q mod s_w][i + p / s_h, q / s_w ..]`.
    Phases,
}

/// A prepared lowering for one geometry: the [`Strategy`] and, for [`Strategy::Table`], its
/// offset table. Built once per convolution call, shared read-only by every image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Im2colPlan {
    key: [usize; 9],
    strategy: Strategy,
    table: Vec<u32>,
    /// Phase-plane height and width (`Phases` only).
    hp: usize,
    wp: usize,
}

fn geom_key(g: &Conv2dGeom) -> [usize; 9] {
    [g.c_in, g.h_in, g.w_in, g.k_h, g.k_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w]
}

/// Output widths below this use [`Strategy::Table`] in [`Im2colPlan::new`].
pub const TABLE_MAX_W_OUT: usize = 16;

impl Im2colPlan {
    /// [`Strategy::Table`] for outputs narrower than [`TABLE_MAX_W_OUT`], otherwise
    /// [`Strategy::Phases`] (measured fastest on the SimpleConv64 shapes, `benches/kernels.rs`).
    pub fn new(g: &Conv2dGeom) -> Self {
        let s = if g.w_out() < TABLE_MAX_W_OUT { Strategy::Table } else { Strategy::Phases };
        Self::with_strategy(g, s)
    }

    /// A plan using `strategy`.
    ///
    /// # Panics
    /// For [`Strategy::Table`], if a channel plane has `u32::MAX` pixels or more.
    pub fn with_strategy(g: &Conv2dGeom, strategy: Strategy) -> Self {
        let (ho, wo) = (g.h_out(), g.w_out());
        let mut table = Vec::new();
        if strategy == Strategy::Table {
            assert!(g.h_in * g.w_in < u32::MAX as usize, "Im2colPlan: plane too large for u32 offsets");
            table.reserve(g.k_h * g.k_w * ho * wo);
            for p in 0..g.k_h {
                for q in 0..g.k_w {
                    for i in 0..ho {
                        let u = (i * g.stride_h + p).checked_sub(g.pad_h).filter(|&u| u < g.h_in);
                        for j in 0..wo {
                            let v = (j * g.stride_w + q).checked_sub(g.pad_w).filter(|&v| v < g.w_in);
                            table.push(match (u, v) {
                                (Some(u), Some(v)) => (u * g.w_in + v) as u32,
                                _ => u32::MAX,
                            });
                        }
                    }
                }
            }
        }
        let hp = ho + (g.k_h - 1) / g.stride_h;
        let wp = wo + (g.k_w - 1) / g.stride_w;
        Im2colPlan { key: geom_key(g), strategy, table, hp, wp }
    }

    /// The strategy of this plan.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Elements of scratch [`im2col_with`] / [`col2im_with`] need (0 unless `Phases`).
    pub fn scratch_len(&self) -> usize {
        match self.strategy {
            Strategy::Phases => self.key[0] * self.key[5] * self.key[6] * self.hp * self.wp,
            _ => 0,
        }
    }

    fn check_geom(&self, g: &Conv2dGeom) {
        assert_eq!(self.key, geom_key(g), "Im2colPlan: built for another geometry");
    }
}

fn check(op: &str, g: &Conv2dGeom, img: usize, col: usize, ld: usize) {
    let hw = g.h_out() * g.w_out();
    let rows = g.c_in * g.k_h * g.k_w;
    assert!(
        img == g.c_in * g.h_in * g.w_in && ld >= hw && (rows == 0 || col >= (rows - 1) * ld + hw),
        "{op}: image of {img} elements / column buffer of {col} with ld {ld} do not fit {g:?} \
         (image {}, col [{rows}, {hw}])",
        g.c_in * g.h_in * g.w_in
    );
}

/// Writes the column matrix of one image `x_img: [c_in, h_in, w_in]` into `col` (row stride
/// `ld`; columns `h_out·w_out..ld` of each row are left untouched). Uses
/// [`Im2colPlan::new`]`(g)`; inside loops prefer [`im2col_with`] and a reused plan.
///
/// # Panics
/// If `x_img.len() != c_in·h_in·w_in`, `ld < h_out·w_out`, or `col` is too short.
pub fn im2col<T: Float>(g: &Conv2dGeom, x_img: &[T], col: &mut [T], ld: usize) {
    im2col_with(&Im2colPlan::new(g), g, x_img, col, ld, &mut Vec::new());
}

/// [`im2col`] with a prepared plan and a reusable scratch buffer (grown to
/// [`Im2colPlan::scratch_len`] on first use).
///
/// # Panics
/// As [`im2col`], or if `plan` was built for another geometry.
pub fn im2col_with<T: Float>(
    plan: &Im2colPlan,
    g: &Conv2dGeom,
    x_img: &[T],
    col: &mut [T],
    ld: usize,
    scratch: &mut Vec<T>,
) {
    check("im2col", g, x_img.len(), col.len(), ld);
    plan.check_geom(g);
    match plan.strategy {
        Strategy::Rows => im2col_rows(g, x_img, col, ld),
        Strategy::Table => im2col_table(&plan.table, g, x_img, col, ld),
        Strategy::Phases => {
            let len = plan.scratch_len();
            if scratch.len() < len {
                scratch.resize(len, T::ZERO);
            }
            let phases = &mut scratch[..len];
            split_phases(plan, g, x_img, phases);
            im2col_phases(plan, g, phases, col, ld);
        }
    }
}

/// The adjoint of [`im2col`]: `x_img` (overwritten) `[c_in, h_in, w_in]` receives, at each
/// pixel, the sum of every `col` entry (row stride `ld`) that [`im2col`] would read from it,
/// added in the order of `col`'s rows `(c, p, q)`, then `i`, then `j`.
///
/// # Panics
/// If `x_img.len() != c_in·h_in·w_in`, `ld < h_out·w_out`, or `col` is too short.
pub fn col2im<T: Float>(g: &Conv2dGeom, col: &[T], ld: usize, x_img: &mut [T]) {
    col2im_with(&Im2colPlan::new(g), g, col, ld, x_img, &mut Vec::new());
}

/// [`col2im`] with a prepared plan and a reusable scratch buffer. Every strategy adds into
/// each pixel in the same order, so all give identical bits.
///
/// # Panics
/// As [`col2im`], or if `plan` was built for another geometry.
pub fn col2im_with<T: Float>(
    plan: &Im2colPlan,
    g: &Conv2dGeom,
    col: &[T],
    ld: usize,
    x_img: &mut [T],
    scratch: &mut Vec<T>,
) {
    check("col2im", g, x_img.len(), col.len(), ld);
    plan.check_geom(g);
    match plan.strategy {
        Strategy::Rows => col2im_rows(g, col, ld, x_img),
        Strategy::Table => col2im_table(&plan.table, g, col, ld, x_img),
        Strategy::Phases => {
            let len = plan.scratch_len();
            if scratch.len() < len {
                scratch.resize(len, T::ZERO);
            }
            let phases = &mut scratch[..len];
            col2im_phases(plan, g, col, ld, phases);
            merge_phases(plan, g, phases, x_img);
        }
    }
}

fn im2col_rows<T: Float>(g: &Conv2dGeom, x_img: &[T], col: &mut [T], ld: usize) {
    let (ho, wo) = (g.h_out(), g.w_out());
    let (s_h, s_w) = (g.stride_h, g.stride_w);
    let plane = g.h_in * g.w_in;
    let mut r = 0;
    for c in 0..g.c_in {
        let x_c = &x_img[c * plane..(c + 1) * plane];
        for p in 0..g.k_h {
            let (i_lo, i_hi) = valid_range(ho, s_h, p, g.pad_h, g.h_in);
            for q in 0..g.k_w {
                let (j_lo, j_hi) = valid_range(wo, s_w, q, g.pad_w, g.w_in);
                let row = &mut col[r * ld..r * ld + ho * wo];
                for i in 0..ho {
                    let dst = &mut row[i * wo..(i + 1) * wo];
                    if i < i_lo || i >= i_hi {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    let u = i * s_h + p - g.pad_h;
                    let src = &x_c[u * g.w_in..(u + 1) * g.w_in];
                    dst[..j_lo].fill(T::ZERO);
                    dst[j_hi..].fill(T::ZERO);
                    if j_lo < j_hi {
                        let v0 = j_lo * s_w + q - g.pad_w;
                        copy_strided(&mut dst[j_lo..j_hi], &src[v0..], s_w);
                    }
                }
                r += 1;
            }
        }
    }
}

fn col2im_rows<T: Float>(g: &Conv2dGeom, col: &[T], ld: usize, x_img: &mut [T]) {
    x_img.fill(T::ZERO);
    let (ho, wo) = (g.h_out(), g.w_out());
    let (s_h, s_w) = (g.stride_h, g.stride_w);
    let plane = g.h_in * g.w_in;
    let mut r = 0;
    for c in 0..g.c_in {
        let x_c = &mut x_img[c * plane..(c + 1) * plane];
        for p in 0..g.k_h {
            let (i_lo, i_hi) = valid_range(ho, s_h, p, g.pad_h, g.h_in);
            for q in 0..g.k_w {
                let (j_lo, j_hi) = valid_range(wo, s_w, q, g.pad_w, g.w_in);
                let row = &col[r * ld..r * ld + ho * wo];
                r += 1;
                if j_lo >= j_hi {
                    continue;
                }
                let v0 = j_lo * s_w + q - g.pad_w;
                for i in i_lo..i_hi {
                    let u = i * s_h + p - g.pad_h;
                    let src = &row[i * wo + j_lo..i * wo + j_hi];
                    add_strided(&mut x_c[u * g.w_in + v0..(u + 1) * g.w_in], src, s_w);
                }
            }
        }
    }
}

fn im2col_table<T: Float>(table: &[u32], g: &Conv2dGeom, x_img: &[T], col: &mut [T], ld: usize) {
    let (kk2, hw, plane) = (g.k_h * g.k_w, g.h_out() * g.w_out(), g.h_in * g.w_in);
    for c in 0..g.c_in {
        let x_c = &x_img[c * plane..(c + 1) * plane];
        for pq in 0..kk2 {
            let r = c * kk2 + pq;
            let offs = &table[pq * hw..(pq + 1) * hw];
            for (d, &o) in col[r * ld..r * ld + hw].iter_mut().zip(offs) {
                // Padding entries hold u32::MAX, out of range of the plane: they read zero.
                *d = x_c.get(o as usize).copied().unwrap_or(T::ZERO);
            }
        }
    }
}

fn col2im_table<T: Float>(table: &[u32], g: &Conv2dGeom, col: &[T], ld: usize, x_img: &mut [T]) {
    x_img.fill(T::ZERO);
    let (kk2, hw, plane) = (g.k_h * g.k_w, g.h_out() * g.w_out(), g.h_in * g.w_in);
    for c in 0..g.c_in {
        let x_c = &mut x_img[c * plane..(c + 1) * plane];
        for pq in 0..kk2 {
            let r = c * kk2 + pq;
            let offs = &table[pq * hw..(pq + 1) * hw];
            for (v, &o) in col[r * ld..r * ld + hw].iter().zip(offs) {
                if let Some(d) = x_c.get_mut(o as usize) {
                    *d += *v;
                }
            }
        }
    }
}

/// `phases[((c·s_h + a)·s_w + b)·hp·wp + u'·wp + v'] = x_pad[c, s_h·u' + a, s_w·v' + b]`.
fn split_phases<T: Float>(plan: &Im2colPlan, g: &Conv2dGeom, x_img: &[T], phases: &mut [T]) {
    let (hp, wp) = (plan.hp, plan.wp);
    let (s_h, s_w) = (g.stride_h, g.stride_w);
    let plane = g.h_in * g.w_in;
    for c in 0..g.c_in {
        let x_c = &x_img[c * plane..(c + 1) * plane];
        for a in 0..s_h {
            let (u_lo, u_hi) = valid_range(hp, s_h, a, g.pad_h, g.h_in);
            for b in 0..s_w {
                let (v_lo, v_hi) = valid_range(wp, s_w, b, g.pad_w, g.w_in);
                let ph = &mut phases[((c * s_h + a) * s_w + b) * hp * wp..][..hp * wp];
                for up in 0..hp {
                    let dst = &mut ph[up * wp..(up + 1) * wp];
                    if up < u_lo || up >= u_hi || v_lo >= v_hi {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    let u = up * s_h + a - g.pad_h;
                    dst[..v_lo].fill(T::ZERO);
                    dst[v_hi..].fill(T::ZERO);
                    let v0 = v_lo * s_w + b - g.pad_w;
                    copy_strided(&mut dst[v_lo..v_hi], &x_c[u * g.w_in + v0..(u + 1) * g.w_in], s_w);
                }
            }
        }
    }
}

/// The adjoint of [`split_phases`] on the pixels it reads: `x_img[c, u, v]` takes the phase
/// element that holds it (pixels no phase holds are never read by the convolution: zero).
fn merge_phases<T: Float>(plan: &Im2colPlan, g: &Conv2dGeom, phases: &[T], x_img: &mut [T]) {
    let (hp, wp) = (plan.hp, plan.wp);
    let (s_h, s_w) = (g.stride_h, g.stride_w);
    let plane = g.h_in * g.w_in;
    x_img.fill(T::ZERO);
    for c in 0..g.c_in {
        let x_c = &mut x_img[c * plane..(c + 1) * plane];
        for a in 0..s_h {
            let (u_lo, u_hi) = valid_range(hp, s_h, a, g.pad_h, g.h_in);
            for b in 0..s_w {
                let (v_lo, v_hi) = valid_range(wp, s_w, b, g.pad_w, g.w_in);
                if v_lo >= v_hi {
                    continue;
                }
                let ph = &phases[((c * s_h + a) * s_w + b) * hp * wp..][..hp * wp];
                for up in u_lo..u_hi {
                    let u = up * s_h + a - g.pad_h;
                    let v0 = v_lo * s_w + b - g.pad_w;
                    scatter_strided(
                        &mut x_c[u * g.w_in + v0..(u + 1) * g.w_in],
                        &ph[up * wp + v_lo..up * wp + v_hi],
                        s_w,
                    );
                }
            }
        }
    }
}

fn im2col_phases<T: Float>(plan: &Im2colPlan, g: &Conv2dGeom, phases: &[T], col: &mut [T], ld: usize) {
    let (hp, wp) = (plan.hp, plan.wp);
    let (ho, wo) = (g.h_out(), g.w_out());
    let (s_h, s_w) = (g.stride_h, g.stride_w);
    let mut r = 0;
    for c in 0..g.c_in {
        for p in 0..g.k_h {
            for q in 0..g.k_w {
                let ph = &phases[((c * s_h + p % s_h) * s_w + q % s_w) * hp * wp..][..hp * wp];
                let (di, dj) = (p / s_h, q / s_w);
                let row = &mut col[r * ld..r * ld + ho * wo];
                for (i, dst) in row.chunks_exact_mut(wo).enumerate() {
                    copy_row(dst, &ph[(i + di) * wp + dj..(i + di) * wp + dj + wo]);
                }
                r += 1;
            }
        }
    }
}

fn col2im_phases<T: Float>(plan: &Im2colPlan, g: &Conv2dGeom, col: &[T], ld: usize, phases: &mut [T]) {
    let (hp, wp) = (plan.hp, plan.wp);
    let (ho, wo) = (g.h_out(), g.w_out());
    let (s_h, s_w) = (g.stride_h, g.stride_w);
    phases.fill(T::ZERO);
    let mut r = 0;
    for c in 0..g.c_in {
        for p in 0..g.k_h {
            for q in 0..g.k_w {
                let ph = &mut phases[((c * s_h + p % s_h) * s_w + q % s_w) * hp * wp..][..hp * wp];
                let (di, dj) = (p / s_h, q / s_w);
                let row = &col[r * ld..r * ld + ho * wo];
                for (i, src) in row.chunks_exact(wo).enumerate() {
                    for (d, v) in ph[(i + di) * wp + dj..(i + di) * wp + dj + wo].iter_mut().zip(src) {
                        *d += *v;
                    }
                }
                r += 1;
            }
        }
    }
}

/// `dst.copy_from_slice(src)` as a plain loop: for the short rows of small feature maps it
/// beats a `memcpy` call.
#[inline(always)]
fn copy_row<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// `dst[j·s] = src[j]` for every `j < src.len()`.
#[inline]
pub(crate) fn scatter_strided<T: Copy>(dst: &mut [T], src: &[T], s: usize) {
    for (d, v) in dst.iter_mut().step_by(s).zip(src) {
        *d = *v;
    }
}

/// `dst[j] = src[j·s]` for every `j < dst.len()` (`src` must hold `(dst.len() − 1)·s + 1`
/// elements). Strides 1 and 2 get loops the compiler vectorises.
#[inline]
pub(crate) fn copy_strided<T: Copy>(dst: &mut [T], src: &[T], s: usize) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    match s {
        1 => dst.copy_from_slice(&src[..n]),
        2 => {
            let (head, last) = dst.split_at_mut(n - 1);
            for (d, pair) in head.iter_mut().zip(src[..2 * (n - 1)].chunks_exact(2)) {
                *d = pair[0];
            }
            last[0] = src[2 * (n - 1)];
        }
        _ => {
            for (d, v) in dst.iter_mut().zip(src.iter().step_by(s)) {
                *d = *v;
            }
        }
    }
}

/// `dst[j·s] += src[j]` for every `j < src.len()` (`dst` must hold `(src.len() − 1)·s + 1`
/// elements).
#[inline]
fn add_strided<T: Float>(dst: &mut [T], src: &[T], s: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    match s {
        1 => {
            for (d, v) in dst[..n].iter_mut().zip(src) {
                *d += *v;
            }
        }
        2 => {
            for (pair, v) in dst[..2 * (n - 1)].chunks_exact_mut(2).zip(&src[..n - 1]) {
                pair[0] += *v;
            }
            dst[2 * (n - 1)] += src[n - 1];
        }
        _ => {
            for (d, v) in dst.iter_mut().step_by(s).zip(src) {
                *d += *v;
            }
        }
    }
}

/// The transposed column matrix of one image, pixel-major: `col_t[(i·w_out + j)·ld + r] =
/// col[r, i·w_out + j]` with `K = c_in·k_h·k_w`, `r = (c·k_h + p)·k_w + q` and row stride
/// `ld ≥ K` (the layout in which a gemm whose reduction runs over pixels reads this operand
/// without strided gathers; the `ld − K` spare columns of each row are not written). `x_pad`
/// is scratch for the zero-padded image (grown as needed). Each row is built from `c_in·k_h`
/// contiguous runs of `k_w` padded-input pixels.
///
/// # Panics
/// If `x_img.len() != c_in·h_in·w_in`, `ld < K` or `col_t.len() != (h_out·w_out − 1)·ld + K`
/// (at least; any longer slice is fine).
pub fn im2col_pixel_major<T: Float>(g: &Conv2dGeom, x_img: &[T], col_t: &mut [T], ld: usize, x_pad: &mut Vec<T>) {
    let (ho, wo) = (g.h_out(), g.w_out());
    let kk = g.c_in * g.k_h * g.k_w;
    assert!(
        x_img.len() == g.c_in * g.h_in * g.w_in && ld >= kk && col_t.len() >= (ho * wo).saturating_sub(1) * ld + kk,
        "im2col_pixel_major: image of {} / buffer of {} elements do not fit {g:?}",
        x_img.len(),
        col_t.len()
    );
    let (hpad, wpad) = (g.h_in + 2 * g.pad_h, g.w_in + 2 * g.pad_w);
    let plane = hpad * wpad;
    // The border stays zero between calls of one geometry (only the interior is written).
    if x_pad.len() != g.c_in * plane {
        x_pad.clear();
        x_pad.resize(g.c_in * plane, T::ZERO);
    }
    for c in 0..g.c_in {
        for u in 0..g.h_in {
            let dst = &mut x_pad[c * plane + (u + g.pad_h) * wpad + g.pad_w..][..g.w_in];
            dst.copy_from_slice(&x_img[(c * g.h_in + u) * g.w_in..][..g.w_in]);
        }
    }
    let (kh, kw) = (g.k_h, g.k_w);
    for i in 0..ho {
        let block_len = (wo - 1) * ld + kk;
        let block = &mut col_t[i * wo * ld..i * wo * ld + block_len];
        for c in 0..g.c_in {
            for p in 0..kh {
                let src_row = &x_pad[c * plane + (i * g.stride_h + p) * wpad..][..wpad];
                let r0 = (c * kh + p) * kw;
                if kw == 4 {
                    let s = g.stride_w;
                    assert!((wo - 1) * s + 4 <= src_row.len() && r0 + 4 <= kk && block.len() == block_len);
                    let (sp, dp) = (src_row.as_ptr(), block.as_mut_ptr());
                    for j in 0..wo {
                        // SAFETY: the assert above bounds every read (`j·s + 4 <= src_row.len()`
                        // for `j < wo`) and write (`j·ld + r0 + 4 <= block.len()`); `x_pad` and
                        // `col_t` are distinct borrows, so the ranges do not overlap. A
                        // fixed-size 4-element copy compiles to one vector move.
                        unsafe { std::ptr::copy_nonoverlapping(sp.add(j * s), dp.add(j * ld + r0), 4) };
                    }
                } else {
                    for j in 0..wo {
                        copy_row(
                            &mut block[j * ld + r0..j * ld + r0 + kw],
                            &src_row[j * g.stride_w..j * g.stride_w + kw],
                        );
                    }
                }
            }
        }
    }
}
