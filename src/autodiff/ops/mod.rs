//! The differentiable ops, one family per module. Each op documents its forward formula,
//! its gradient, and its shapes; each has a finite-difference test in `tests/gradcheck_ops.rs`.
//!
//! | module | ops |
//! |---|---|
//! | [`elementwise`] | add, sub, mul, div (broadcasting), neg, scalar add/mul, pow, exp, log, sqrt, abs, relu, clamp_min, sigmoid, tanh |
//! | [`reduce`] | sum/mean over all or given axes, max over an axis, argmax (no gradient) |
//! | [`shape`] | reshape, flatten, permute, transpose, concat, stack, slice, select, index_select, gather, detach |
//! | [`matmul`] | matmul (2-D and batched), linear |
//! | [`conv`] | conv2d, conv_transpose2d |
//! | [`softmax`] | softmax, log_softmax, cross_entropy, mse |
//! | [`distance`] | cdist (pairwise Euclidean distances) |
//! | [`dropout`] | seeded inverted dropout |
//!
//! ## Determinism and parallelism
//! Element-wise maps on large tensors run on the current rayon pool (each output element is
//! computed independently, so the split cannot change a bit). Reductions run sequentially in
//! a fixed order; gemm and conv go through `detaux-kernels`, which split over outputs only.

pub mod conv;
pub mod distance;
pub mod dropout;
pub mod elementwise;
pub mod matmul;
pub mod reduce;
pub mod shape;
pub mod softmax;

use super::{Element, Tensor};
use crate::par::Par;
use ndarray::{IxDyn, Zip};

/// Element count above which element-wise maps use the rayon pool.
pub(crate) const PAR_ELEMS: usize = 1 << 15;

/// `f` applied to every element (standard layout output).
pub(crate) fn map<T: Element>(par: Par, a: &Tensor<T>, f: impl Fn(T) -> T + Sync + Send) -> Tensor<T> {
    if par == Par::Rayon && a.len() >= PAR_ELEMS && rayon::current_num_threads() > 1 {
        Zip::from(a).par_map_collect(|&x| f(x))
    } else {
        a.map(|&x| f(x))
    }
}

/// `f(a, b)` element by element for two arrays of the same shape.
pub(crate) fn zip_map<T: Element>(
    par: Par,
    a: &Tensor<T>,
    b: &Tensor<T>,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Tensor<T> {
    debug_assert_eq!(a.shape(), b.shape());
    if par == Par::Rayon && a.len() >= PAR_ELEMS && rayon::current_num_threads() > 1 {
        Zip::from(a).and(b).par_map_collect(|&x, &y| f(x, y))
    } else {
        Zip::from(a).and(b).map_collect(|&x, &y| f(x, y))
    }
}

/// `f(a, b, c)` element by element for three arrays of the same shape.
pub(crate) fn zip3_map<T: Element>(
    par: Par,
    a: &Tensor<T>,
    b: &Tensor<T>,
    c: &Tensor<T>,
    f: impl Fn(T, T, T) -> T + Sync + Send,
) -> Tensor<T> {
    debug_assert!(a.shape() == b.shape() && b.shape() == c.shape());
    if par == Par::Rayon && a.len() >= PAR_ELEMS && rayon::current_num_threads() > 1 {
        Zip::from(a).and(b).and(c).par_map_collect(|&x, &y, &z| f(x, y, z))
    } else {
        Zip::from(a).and(b).and(c).map_collect(|&x, &y, &z| f(x, y, z))
    }
}

/// NumPy broadcasting of two shapes, or `None` if they are incompatible.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Sums `g` down to `shape` (the inverse of broadcasting `shape` up to `g.shape()`): leading
/// axes are summed away, axes where `shape` has 1 are summed with the dimension kept.
/// Sequential, fixed order.
pub(crate) fn sum_to_shape<T: Element>(g: &Tensor<T>, shape: &[usize]) -> Tensor<T> {
    if g.shape() == shape {
        return g.clone();
    }
    let lead = g.ndim() - shape.len();
    let mut out = g.clone();
    for _ in 0..lead {
        out = out.sum_axis(ndarray::Axis(0));
    }
    for (ax, &d) in shape.iter().enumerate() {
        if d == 1 && out.shape()[ax] != 1 {
            out = out.sum_axis(ndarray::Axis(ax)).insert_axis(ndarray::Axis(ax));
        }
    }
    out.into_shape_with_order(IxDyn(shape)).expect("sum_to_shape: element count preserved")
}

/// The contiguous slice of a standard-layout tensor.
///
/// # Panics
/// If the tensor is not in standard layout (node values always are).
pub(crate) fn slice_of<T: Element>(t: &Tensor<T>) -> &[T] {
    t.as_slice().expect("autodiff: tensor not in standard layout")
}

/// Formats a shape for error messages: `[2, 3]`.
pub(crate) fn fmt_shape(s: &[usize]) -> String {
    format!("{s:?}")
}

/// `Ok` when `axis` indexes `shape`; otherwise the shape error every axis-taking op returns.
pub(crate) fn check_axis(op: &'static str, shape: &[usize], axis: usize) -> crate::error::Result<()> {
    if axis >= shape.len() {
        return Err(crate::error::Error::shape(op, format!("axis {axis} out of range for shape {}", fmt_shape(shape))));
    }
    Ok(())
}
