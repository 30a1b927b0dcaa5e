//! Subspace choice (docs/method.md §7).
//!
//! Latents `s: [n, K, d]` (row `b`, subspace `k`, coordinate). Subspace 0 is the forced
//! principal subspace. The reference (`clustering.py`) scores every other subspace by
//! `score_k = |mean_b ⟨s_k(x_b), s_0(x_b)⟩|` (mean first, then absolute value) and takes
//! `argmin_{k ≥ 1} score_k` (lowest k on ties): the subspace least aligned with the principal one.
//! The means are taken in f64, sequentially over `b`.

use crate::error::{Error, Result};
use ndarray::{ArrayView3, Axis};

/// The chosen subspace and the score of every subspace `k ≥ 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubspaceChoice {
    /// The chosen subspace (`1..K`, or the override).
    pub chosen: usize,
    /// `scores[k − 1] = |mean_b ⟨s_k, s_0⟩|` for `k = 1..K`.
    pub scores: Vec<f64>,
    /// Whether `chosen` came from the override.
    pub overridden: bool,
}

/// Scores the subspaces of `latents: [n, K, d]` and picks one (or takes `override_k`).
///
/// # Errors
/// [`Error::InvalidData`] if `n = 0`, `K < 2` (there is no subspace but the principal one) or a
/// value is not finite; [`Error::InvalidParam`] if `override_k` is not in `0..K`.
pub fn select_subspace(latents: ArrayView3<f32>, override_k: Option<usize>) -> Result<SubspaceChoice> {
    let (n, k_total, d) = latents.dim();
    if n == 0 || d == 0 {
        return Err(Error::InvalidData(format!("latents: empty array (shape [{n}, {k_total}, {d}])")));
    }
    if k_total < 2 {
        return Err(Error::InvalidData(format!(
            "latents: need at least 2 subspaces (principal + one), shape is [{n}, {k_total}, {d}]"
        )));
    }
    if let Some(v) = latents.iter().find(|v| !v.is_finite()) {
        return Err(Error::InvalidData(format!("latents: non-finite value {v}")));
    }
    if let Some(k) = override_k {
        if k >= k_total {
            return Err(Error::param("subspace", format!("must be in 0..{k_total}, got {k}")));
        }
    }
    let mut sums = vec![0f64; k_total - 1];
    for row in latents.axis_iter(Axis(0)) {
        let s0 = row.index_axis(Axis(0), 0);
        for k in 1..k_total {
            let sk = row.index_axis(Axis(0), k);
            sums[k - 1] += s0.iter().zip(sk.iter()).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>();
        }
    }
    let scores: Vec<f64> = sums.iter().map(|s| (s / n as f64).abs()).collect();
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s < scores[best] {
            best = i;
        }
    }
    Ok(match override_k {
        Some(k) => SubspaceChoice { chosen: k, scores, overridden: true },
        None => SubspaceChoice { chosen: best + 1, scores, overridden: false },
    })
}
