//! Stage 2: from disentangled latents to auxiliary labels (docs/method.md §7-§8).
//!
//! - [`select_subspace`]: the reference rule `best = argmin_{k ≥ 1} |mean_b ⟨s_k(x_b), s_0(x_b)⟩|`
//!   on latents `[n, K, d]`, with the score of every subspace and an override.
//! - [`KMeans`]: k-means++ (greedy, as scikit-learn) or random or given initial centres, Lloyd
//!   iterations on the blocked distance kernel of `detaux_kernels::distance`, best of `n_init`
//!   by inertia, `predict`.
//! - [`Hdbscan`]: core distances, mutual-reachability minimum spanning tree (Prim, O(n) memory),
//!   single-linkage tree, condensed tree, excess-of-mass selection, noise = −1, and
//!   `approximate_predict`, following the `hdbscan` package (0.8.x) step by step.
//! - [`metrics`]: inertia, sampled silhouette, ARI, NMI, homogeneity, completeness; and
//!   [`choose_k_by_silhouette`] for `--k auto`.
//! - [`cluster_codes`]: one subspace's codes to auxiliary labels (fit, label every row, the
//!   HDBSCAN noise shift), shared by `detaux cluster` and the pipeline.
//! - [`job`] (feature `io`): stage 2 on files (latents in; labels, report, picture out).
//!
//! Data are `[n, d]` row-major `f32` matrices (`ndarray::ArrayView2<f32>`; `f64` input is
//! converted with [`to_f32`]). Every entry point validates its input: an empty matrix, `d = 0`
//! or a NaN/infinite value is an [`Error::InvalidData`] naming the row and column.
//!
//! ## Determinism
//! All randomness (k-means++ draws, random init, silhouette samples, fit subsamples) comes from
//! [`crate::rng::SeedTree`] streams; all parallel work is split over fixed point blocks and
//! combined in block order, so labels, centres and scores are bitwise identical at any thread
//! count (`tests/cluster_props.rs` checks 1, 2 and 4 threads).

pub mod auxiliary;
pub mod hdbscan;
#[cfg(feature = "io")]
pub mod job;
pub mod kmeans;
pub mod metrics;
pub mod subspace;

pub use auxiliary::{cluster_codes, AuxClustering, AuxLabels, ClusterFitInfo, Clustering};
pub use hdbscan::{Hdbscan, HdbscanModel};
pub use kmeans::{Init, KMeans, KMeansModel};
pub use metrics::choose_k_by_silhouette;
pub use subspace::{select_subspace, SubspaceChoice};

use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2};
use std::borrow::Cow;

/// Checks that `x` is a non-empty `[n, d]` matrix of finite values and returns it as one
/// contiguous row-major slice (borrowed when it already is). `what` names the input in errors.
pub(crate) fn check_matrix<'a>(x: &ArrayView2<'a, f32>, what: &str) -> Result<Cow<'a, [f32]>> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return Err(Error::InvalidData(format!(
            "{what}: empty matrix (shape [{n}, {d}]); need at least one row and column"
        )));
    }
    let data: Cow<'a, [f32]> = match x.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.iter().copied().collect()),
    };
    if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidData(format!(
            "{what}: non-finite value {} at row {}, column {}",
            data[pos],
            pos / d,
            pos % d
        )));
    }
    Ok(data)
}

/// Converts an `f64` matrix to `f32` (values outside the `f32` range become infinite and are
/// then rejected by the clustering entry points).
pub fn to_f32(x: ArrayView2<f64>) -> Array2<f32> {
    x.mapv(|v| v as f32)
}
