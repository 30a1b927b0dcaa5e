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
/// `ld`; columns `h_out·w_out..ld` of each row are left untouched).
///
/// # Panics
/// If `x_img.len() != c_in·h_in·w_in`, `ld < h_out·w_out`, or `col` is too short.
pub fn im2col<T: Float>(g: &Conv2dGeom, x_img: &[T], col: &mut [T], ld: usize) {
    check("im2col", g, x_img.len(), col.len(), ld);
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
                        if s_w == 1 {
                            dst[j_lo..j_hi].copy_from_slice(&src[v0..v0 + (j_hi - j_lo)]);
                        } else {
                            for (d, s) in dst[j_lo..j_hi].iter_mut().zip(src[v0..].iter().step_by(s_w)) {
                                *d = *s;
                            }
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x_img` (overwritten) `[c_in, h_in, w_in]` receives, at each
/// pixel, the sum of every `col` entry (row stride `ld`) that [`im2col`] would read from it.
///
/// # Panics
/// If `x_img.len() != c_in·h_in·w_in`, `ld < h_out·w_out`, or `col` is too short.
pub fn col2im<T: Float>(g: &Conv2dGeom, col: &[T], ld: usize, x_img: &mut [T]) {
    check("col2im", g, x_img.len(), col.len(), ld);
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
                    let dst = &mut x_c[u * g.w_in + v0..(u + 1) * g.w_in];
                    if s_w == 1 {
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst.iter_mut().step_by(s_w).zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}
