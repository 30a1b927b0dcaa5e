//! Distance loss `L_dist` with the oracle selection.
//!
//! For pair `b` and subspace `k`: `D_{b,k} = ‖s¹_{k,b} − s²_{k,b}‖²` (squared). The normaliser
//! `μ_k` is the mean of the **unsquared** Euclidean distances over all `(2B)²` ordered pairs of
//! the codes `{s^i_{k,b}}` (zero diagonal included) plus `1e-8`, and `D̃_{b,k} = D_{b,k}/μ_k`
//! (mixed units, as the reference).
//!
//! Oracle selection `sel_b` (one-hot over `k`, no gradient; the reference's softmax at
//! temperature `1e-6` is a hard argmax, ties go to the lowest index here):
//! - unforced (PMP): `sel_b = onehot(argmax_k D̃_{b,k})`;
//! - forced (Detaux, principal subspace 0): if the pair differs in the principal factor,
//!   `sel_b = e_0`; otherwise `sel_b = onehot(argmax_{k≥1} D̃_{b,k})` (subspace 0 never chosen).
//!
//! With `mask = 1 − sel`:
//! `L_dist = mean_{b,k}(mask·D) + 10·mean_{b,k} max(0, 0.05 − sel·D)`:
//! every subspace the oracle calls shared is pulled together, the selected one is pushed to a
//! squared distance of at least 0.05.

use crate::autodiff::{Element, Tensor, Var};
use crate::error::{Error, Result};
use ndarray::{Array2, ArrayD, Axis, IxDyn};

/// Which oracle selects the changed subspace of each pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// PMP: the subspace with the largest normalised distance.
    Unforced,
    /// Detaux: `differs[b]` says whether pair `b` differs in the principal factor (then
    /// subspace 0 is selected); otherwise the largest normalised distance among `k ≥ 1`.
    Forced {
        /// Per pair: does the principal factor (or class) differ?
        differs: Vec<bool>,
    },
}

/// `D: [B, K]` from codes `S: [K, 2B, d]` (first images at `0..B`, partners at `B..2B`).
///
/// # Errors
/// [`Error::Shape`] if `S` is not `[K, 2B, d]` with an even middle axis.
pub fn pair_distances<'t, T: Element>(codes: Var<'t, T>) -> Result<Var<'t, T>> {
    let s = codes.shape();
    if s.len() != 3 || !s[1].is_multiple_of(2) || s[1] == 0 {
        return Err(Error::shape("pair_distances", format!("codes {s:?} must be [K, 2B, d] with B >= 1")));
    }
    let b = s[1] / 2;
    let first = codes.slice(1, 0, b)?;
    let second = codes.slice(1, b, 2 * b)?;
    first.sub(second)?.square().sum_axes(&[2], false)?.transpose(0, 1)
}

/// `μ_k` for codes `S: [K, n, d]`: mean unsquared pairwise distance among the `n` codes of
/// subspace `k` (over all `n²` ordered pairs) plus `1e-8`. Computed from values only: it feeds
/// the (gradient-free) selection.
pub fn subspace_normalisers<T: Element>(codes: &Tensor<T>) -> Vec<T> {
    let (k, n, d) = (codes.shape()[0], codes.shape()[1], codes.shape()[2]);
    let c = codes.as_standard_layout();
    let v = c.as_slice().expect("standard layout");
    (0..k)
        .map(|kk| {
            let base = &v[kk * n * d..(kk + 1) * n * d];
            let mut total = T::ZERO;
            for i in 0..n {
                for j in 0..n {
                    let mut s = T::ZERO;
                    for t in 0..d {
                        let diff = base[i * d + t] - base[j * d + t];
                        s += diff * diff;
                    }
                    total += s.sqrt();
                }
            }
            total / T::from_usize(n * n) + T::from_f64(1e-8)
        })
        .collect()
}

/// The oracle's one-hot selection `sel: [B, K]` from `D: [B, K]` and `μ: [K]`.
///
/// # Errors
/// [`Error::InvalidData`] if a forced oracle's `differs` has a length other than `B`.
pub fn select_subspaces<T: Element>(dist: &Tensor<T>, mu: &[T], oracle: &Oracle) -> Result<Array2<T>> {
    let (b, k) = (dist.shape()[0], dist.shape()[1]);
    let mut sel = Array2::<T>::zeros((b, k));
    for (row, d_row) in dist.axis_iter(Axis(0)).enumerate() {
        let start = match oracle {
            Oracle::Unforced => 0,
            Oracle::Forced { differs } => {
                if differs.len() != b {
                    return Err(Error::InvalidData(format!(
                        "forced oracle: {} 'differs' flags for a batch of {b} pairs",
                        differs.len()
                    )));
                }
                if differs[row] {
                    sel[[row, 0]] = T::ONE;
                    continue;
                }
                1
            }
        };
        let mut best = start;
        for kk in start..k {
            if d_row[kk] / mu[kk] > d_row[best] / mu[best] {
                best = kk;
            }
        }
        sel[[row, best]] = T::ONE;
    }
    Ok(sel)
}

/// `L_dist` from `D: [B, K]` and the selection `sel: [B, K]`.
///
/// # Errors
/// [`Error::Shape`] if `D` is not 2-D or its shape differs from `sel`'s (no broadcasting).
pub fn distance_loss<'t, T: Element>(dist: Var<'t, T>, sel: &Array2<T>) -> Result<Var<'t, T>> {
    if dist.shape() != sel.shape() {
        return Err(Error::shape(
            "distance_loss",
            format!("D {:?} and sel {:?} must both be [B, K]", dist.shape(), sel.shape()),
        ));
    }
    let tape = dist.tape();
    let shape = sel.shape().to_vec();
    let mask =
        tape.constant(ArrayD::from_shape_vec(IxDyn(&shape), sel.iter().map(|&s| T::ONE - s).collect()).expect("sized"));
    let sel_v = tape.constant(sel.clone().into_dyn());
    let pull = dist.mul(mask)?.mean_all();
    let push = dist.mul(sel_v)?.neg().add_scalar(T::from_f64(0.05)).relu().mean_all().mul_scalar(T::from_f64(10.0));
    pull.add(push)
}
