//! Direct-loop convolutions: slow, obviously correct, the oracles of the fast kernels.
//!
//! Each output element is a plain sum written straight from the formula in the parent module's
//! docs; no im2col, no gemm, no threads.

use super::Conv2dGeom;
use crate::Float;

/// Signed input coordinate `i·s + p − pad`, or `None` when it falls in the zero padding.
#[inline]
fn in_coord(out: usize, stride: usize, k: usize, pad: usize, size: usize) -> Option<usize> {
    let v = (out * stride + k) as isize - pad as isize;
    if v >= 0 && (v as usize) < size {
        Some(v as usize)
    } else {
        None
    }
}

/// Oracle of [`super::conv2d_forward`].
pub fn conv2d_forward<T: Float>(g: &Conv2dGeom, x: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T]) {
    let (ho, wo) = (g.h_out(), g.w_out());
    for n in 0..g.batch {
        for o in 0..g.c_out {
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = bias.map_or(T::ZERO, |b| b[o]);
                    for c in 0..g.c_in {
                        for p in 0..g.k_h {
                            let Some(u) = in_coord(i, g.stride_h, p, g.pad_h, g.h_in) else { continue };
                            for q in 0..g.k_w {
                                let Some(v) = in_coord(j, g.stride_w, q, g.pad_w, g.w_in) else { continue };
                                acc += w[((o * g.c_in + c) * g.k_h + p) * g.k_w + q]
                                    * x[((n * g.c_in + c) * g.h_in + u) * g.w_in + v];
                            }
                        }
                    }
                    y[((n * g.c_out + o) * ho + i) * wo + j] = acc;
                }
            }
        }
    }
}

/// Oracle of [`super::conv2d_backward_input`] (scatter form).
pub fn conv2d_backward_input<T: Float>(g: &Conv2dGeom, dy: &[T], w: &[T], dx: &mut [T]) {
    let (ho, wo) = (g.h_out(), g.w_out());
    dx.iter_mut().for_each(|v| *v = T::ZERO);
    for n in 0..g.batch {
        for o in 0..g.c_out {
            for i in 0..ho {
                for j in 0..wo {
                    let d = dy[((n * g.c_out + o) * ho + i) * wo + j];
                    for c in 0..g.c_in {
                        for p in 0..g.k_h {
                            let Some(u) = in_coord(i, g.stride_h, p, g.pad_h, g.h_in) else { continue };
                            for q in 0..g.k_w {
                                let Some(v) = in_coord(j, g.stride_w, q, g.pad_w, g.w_in) else { continue };
                                dx[((n * g.c_in + c) * g.h_in + u) * g.w_in + v] +=
                                    w[((o * g.c_in + c) * g.k_h + p) * g.k_w + q] * d;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Oracle of [`super::conv2d_backward_weight`].
pub fn conv2d_backward_weight<T: Float>(g: &Conv2dGeom, x: &[T], dy: &[T], dw: &mut [T]) {
    let (ho, wo) = (g.h_out(), g.w_out());
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for p in 0..g.k_h {
                for q in 0..g.k_w {
                    let mut acc = T::ZERO;
                    for n in 0..g.batch {
                        for i in 0..ho {
                            let Some(u) = in_coord(i, g.stride_h, p, g.pad_h, g.h_in) else { continue };
                            for j in 0..wo {
                                let Some(v) = in_coord(j, g.stride_w, q, g.pad_w, g.w_in) else { continue };
                                acc += dy[((n * g.c_out + o) * ho + i) * wo + j]
                                    * x[((n * g.c_in + c) * g.h_in + u) * g.w_in + v];
                            }
                        }
                    }
                    dw[((o * g.c_in + c) * g.k_h + p) * g.k_w + q] = acc;
                }
            }
        }
    }
}

/// Oracle of [`super::bias_backward`].
pub fn bias_backward<T: Float>(n: usize, c: usize, hw: usize, dy: &[T], db: &mut [T]) {
    assert!(dy.len() == n * c * hw && db.len() == c, "bias_backward: lengths do not match [{n}, {c}, {hw}]");
    for (o, d) in db.iter_mut().enumerate() {
        let mut acc = T::ZERO;
        for b in 0..n {
            for v in &dy[(b * c + o) * hw..(b * c + o + 1) * hw] {
                acc += *v;
            }
        }
        *d = acc;
    }
}

/// Oracle of [`super::im2col`]: each column entry read straight from the formula.
pub fn im2col<T: Float>(g: &Conv2dGeom, x_img: &[T], col: &mut [T], ld: usize) {
    let (ho, wo) = (g.h_out(), g.w_out());
    for c in 0..g.c_in {
        for p in 0..g.k_h {
            for q in 0..g.k_w {
                let r = (c * g.k_h + p) * g.k_w + q;
                for i in 0..ho {
                    for j in 0..wo {
                        let u = in_coord(i, g.stride_h, p, g.pad_h, g.h_in);
                        let v = in_coord(j, g.stride_w, q, g.pad_w, g.w_in);
                        col[r * ld + i * wo + j] = match (u, v) {
                            (Some(u), Some(v)) => x_img[(c * g.h_in + u) * g.w_in + v],
                            _ => T::ZERO,
                        };
                    }
                }
            }
        }
    }
}

/// Oracle of [`super::col2im`] in gather form: each pixel `(c, u, v)` sums the column entries
/// `(c, p, q; i, j)` with `i·s_h + p − pad_h = u` and `j·s_w + q − pad_w = v`.
pub fn col2im<T: Float>(g: &Conv2dGeom, col: &[T], ld: usize, x_img: &mut [T]) {
    let (ho, wo) = (g.h_out(), g.w_out());
    for c in 0..g.c_in {
        for u in 0..g.h_in {
            for v in 0..g.w_in {
                let mut acc = T::ZERO;
                for p in 0..g.k_h {
                    // i·s_h = u + pad_h − p must be a non-negative multiple of s_h below h_out.
                    let Some(ti) = (u + g.pad_h).checked_sub(p) else { continue };
                    if ti % g.stride_h != 0 || ti / g.stride_h >= ho {
                        continue;
                    }
                    let i = ti / g.stride_h;
                    for q in 0..g.k_w {
                        let Some(tj) = (v + g.pad_w).checked_sub(q) else { continue };
                        if tj % g.stride_w != 0 || tj / g.stride_w >= wo {
                            continue;
                        }
                        let j = tj / g.stride_w;
                        acc += col[((c * g.k_h + p) * g.k_w + q) * ld + i * wo + j];
                    }
                }
                x_img[(c * g.h_in + u) * g.w_in + v] = acc;
            }
        }
    }
}

/// Direct oracle of [`super::conv_transpose2d_forward`] from PyTorch's definition:
/// `y[n, o, i·s_h + p − pad_h, j·s_w + q − pad_w] += x[n, c, i, j] · w[c, o, p, q]` (targets
/// outside the output are dropped), plus `bias[o]`.
pub fn conv_transpose2d_forward<T: Float>(
    g: &super::ConvTranspose2dGeom,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    y: &mut [T],
) {
    let (ho, wo) = (g.h_out(), g.w_out());
    for n in 0..g.batch {
        for o in 0..g.c_out {
            for v in &mut y[(n * g.c_out + o) * ho * wo..(n * g.c_out + o + 1) * ho * wo] {
                *v = bias.map_or(T::ZERO, |b| b[o]);
            }
        }
        for c in 0..g.c_in {
            for i in 0..g.h_in {
                for j in 0..g.w_in {
                    let xv = x[((n * g.c_in + c) * g.h_in + i) * g.w_in + j];
                    for o in 0..g.c_out {
                        for p in 0..g.k_h {
                            let Some(u) = in_coord(i, g.stride_h, p, g.pad_h, ho) else { continue };
                            for q in 0..g.k_w {
                                let Some(v) = in_coord(j, g.stride_w, q, g.pad_w, wo) else { continue };
                                y[((n * g.c_out + o) * ho + u) * wo + v] +=
                                    xv * w[((c * g.c_out + o) * g.k_h + p) * g.k_w + q];
                            }
                        }
                    }
                }
            }
        }
    }
}
