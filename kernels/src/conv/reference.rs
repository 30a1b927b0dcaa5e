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
