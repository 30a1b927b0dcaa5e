//! Stage 2's last step: one subspace's codes `[n, d]` to auxiliary labels `[n]`.
//!
//! The model is fitted on a set of rows `fit` (the training images, or a seeded sample of them)
//! and then labels every row of `all`:
//! - k-means with a fixed `k`: best of `n_init` k-means++ restarts on `fit`, then
//!   `label_i = argmin_c ‖x_i − μ_c‖²`;
//! - k-means with `k` chosen in `k_min..=k_max` by the sampled silhouette on `fit`
//!   ([`choose_k_by_silhouette`]), then as above;
//! - HDBSCAN on `fit`, then `approximate_predict` on `all` (the `hdbscan` package's rule).
//!
//! HDBSCAN marks noise with −1; as in the reference (`clustering.py`), every label is then
//! shifted by +1 so noise becomes label 0 and the labels are `0..classes`. k-means labels are
//! never shifted. [`AuxLabels::noise_label`] says which case happened.
//!
//! `detaux cluster` and `detaux run` (the pipeline) both call [`cluster_codes`], so the two
//! give the same labels for the same codes, settings and seed.
//!
//! ## Determinism
//! The k-means++ draws use the stream `seeds.child("kmeans")` and the silhouette samples the
//! stream `seeds` itself; the clustering kernels are thread-count invariant (see the module
//! docs of [`super`]), so the labels are too.

use super::{choose_k_by_silhouette, Hdbscan, KMeans};
use crate::error::{Error, Result};
use crate::rng::SeedTree;
use ndarray::ArrayView2;

/// How the codes of the chosen subspace become labels.
#[derive(Clone, Debug, PartialEq)]
pub enum Clustering {
    /// k-means (k-means++, `n_init` restarts) with a fixed `k`.
    KMeans {
        /// Number of clusters.
        k: usize,
    },
    /// k-means with `k` in `k_min..=k_max` chosen by the sampled silhouette.
    KMeansAuto {
        /// Smallest `k` tried (≥ 2).
        k_min: usize,
        /// Largest `k` tried.
        k_max: usize,
    },
    /// HDBSCAN with `min_cluster_size` (the reference's default method, 200 on 3DShapes).
    Hdbscan {
        /// Minimum cluster size (≥ 2).
        min_cluster_size: usize,
        /// `min_samples` of the core distances; `None` = `min_cluster_size` (the package's default).
        min_samples: Option<usize>,
    },
}

impl std::str::FromStr for Clustering {
    type Err = Error;

    /// Parses `kmeans:K`, `kmeans:auto` (2..=8), `kmeans:auto:MIN-MAX`,
    /// `hdbscan:MIN_CLUSTER_SIZE` or `hdbscan:MIN_CLUSTER_SIZE:MIN_SAMPLES`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `--clustering`.
    fn from_str(s: &str) -> Result<Clustering> {
        let bad = |why: &str| {
            Error::param(
                "--clustering",
                format!("{why}; expected kmeans:K, kmeans:auto[:MIN-MAX] or hdbscan:M[:S], got '{s}'"),
            )
        };
        let num = |t: &str| t.parse::<usize>().map_err(|_| bad(&format!("'{t}' is not a number")));
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["kmeans", "auto"] => Ok(Clustering::KMeansAuto { k_min: 2, k_max: 8 }),
            ["kmeans", "auto", range] => {
                let (a, b) = range.split_once('-').ok_or_else(|| bad("the range must be MIN-MAX"))?;
                let (k_min, k_max) = (num(a)?, num(b)?);
                if k_min < 2 || k_min > k_max {
                    return Err(bad("need 2 <= MIN <= MAX"));
                }
                Ok(Clustering::KMeansAuto { k_min, k_max })
            }
            ["kmeans", k] => match num(k)? {
                k if k >= 2 => Ok(Clustering::KMeans { k }),
                _ => Err(bad("k must be >= 2")),
            },
            ["hdbscan", m, rest @ ..] if rest.len() <= 1 => {
                let min_samples = rest.first().map(|t| num(t)).transpose()?;
                match (num(m)?, min_samples) {
                    (_, Some(0)) => Err(bad("min_samples must be >= 1")),
                    (m, min_samples) if m >= 2 => Ok(Clustering::Hdbscan { min_cluster_size: m, min_samples }),
                    _ => Err(bad("the minimum cluster size must be >= 2")),
                }
            }
            _ => Err(bad("unknown form")),
        }
    }
}

impl std::fmt::Display for Clustering {
    /// The form [`str::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clustering::KMeans { k } => write!(f, "kmeans:{k}"),
            Clustering::KMeansAuto { k_min, k_max } => write!(f, "kmeans:auto:{k_min}-{k_max}"),
            Clustering::Hdbscan { min_cluster_size, min_samples: None } => write!(f, "hdbscan:{min_cluster_size}"),
            Clustering::Hdbscan { min_cluster_size, min_samples: Some(s) } => {
                write!(f, "hdbscan:{min_cluster_size}:{s}")
            }
        }
    }
}

/// [`Clustering`] plus the k-means settings it shares across methods.
#[derive(Clone, Debug, PartialEq)]
pub struct AuxClustering {
    /// The method.
    pub method: Clustering,
    /// k-means restarts (default 10, scikit-learn 1.0's).
    pub n_init: usize,
    /// k-means iteration cap (default 300, scikit-learn's; the reference passes 1000).
    pub max_iter: usize,
    /// Rows of the seeded sample that scores each `k` of [`Clustering::KMeansAuto`] (default 2000).
    pub silhouette_sample: usize,
}

impl AuxClustering {
    /// `method` with the default k-means settings.
    pub fn new(method: Clustering) -> Self {
        AuxClustering { method, n_init: 10, max_iter: 300, silhouette_sample: 2000 }
    }
}

/// Facts about one fit, for reports (`clusters.json`, `report.json`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterFitInfo {
    /// k-means: the `k` used.
    pub k: Option<usize>,
    /// k-means: inertia on the fit rows.
    pub inertia_fit: Option<f64>,
    /// k-means: Lloyd iterations of the best restart.
    pub n_iter: Option<usize>,
    /// k-means: whether the best restart converged within `max_iter`.
    pub converged: Option<bool>,
    /// `k` auto: the silhouette of every `k` tried, `(k, score)`.
    pub k_auto_scores: Vec<(usize, f64)>,
    /// HDBSCAN: clusters found on the fit rows.
    pub n_clusters: Option<usize>,
    /// HDBSCAN: fit rows labelled noise.
    pub noise_in_fit: Option<usize>,
}

/// The labels of every row of `all`, in `0..classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuxLabels {
    /// One label per row of `all`.
    pub labels: Vec<i64>,
    /// `Some(0)` when HDBSCAN noise was shifted into label 0; `None` otherwise.
    pub noise_label: Option<i64>,
    /// Facts about the fit.
    pub info: ClusterFitInfo,
}

impl AuxLabels {
    /// Number of distinct label values `max + 1` (0 for no rows).
    pub fn classes(&self) -> usize {
        self.labels.iter().copied().max().map_or(0, |m| m as usize + 1)
    }

    /// Rows per label, `[classes]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0usize; self.classes()];
        self.labels.iter().for_each(|&l| sizes[l as usize] += 1);
        sizes
    }
}

/// Fits `cfg.method` on the rows `fit` and labels every row of `all` (see the module docs).
///
/// `fit` and `all` are `[n_fit, d]` and `[n, d]`; `seeds` is the clustering stream
/// (`SeedTree::new(seed).child("cluster")` in the CLI and the pipeline).
///
/// # Errors
/// Whatever [`KMeans`], [`choose_k_by_silhouette`] or [`Hdbscan`] report: bad settings, empty
/// or non-finite input, `fit` and `all` of different widths.
pub fn cluster_codes(
    fit: ArrayView2<f32>,
    all: ArrayView2<f32>,
    cfg: &AuxClustering,
    seeds: &SeedTree,
) -> Result<AuxLabels> {
    let base = KMeans::new(2).n_init(cfg.n_init).max_iter(cfg.max_iter).seed(seeds.child("kmeans").seed_u64());
    let mut info = ClusterFitInfo::default();
    let kmeans_labels = |k: usize, info: &mut ClusterFitInfo| -> Result<Vec<i64>> {
        let model = base.clone().with_clusters(k).fit(fit)?;
        info.k = Some(k);
        info.inertia_fit = Some(model.inertia);
        info.n_iter = Some(model.n_iter);
        info.converged = Some(model.converged);
        model.predict(all)
    };
    let (labels, noise_label) = match &cfg.method {
        Clustering::KMeans { k } => (kmeans_labels(*k, &mut info)?, None),
        Clustering::KMeansAuto { k_min, k_max } => {
            let choice = choose_k_by_silhouette(fit, &base, *k_min, *k_max, cfg.silhouette_sample, seeds)?;
            info.k_auto_scores = choice.scores.clone();
            (kmeans_labels(choice.k, &mut info)?, None)
        }
        Clustering::Hdbscan { min_cluster_size, min_samples } => {
            let mut h = Hdbscan::new(*min_cluster_size);
            if let Some(m) = min_samples {
                h = h.min_samples(*m);
            }
            let model = h.fit(fit)?;
            info.n_clusters = Some(model.n_clusters);
            info.noise_in_fit = Some(model.labels.iter().filter(|&&l| l < 0).count());
            let (mut labels, _) = model.approximate_predict(all)?;
            let shifted = labels.iter().any(|&l| l < 0);
            if shifted {
                labels.iter_mut().for_each(|l| *l += 1);
            }
            (labels, shifted.then_some(0))
        }
    };
    Ok(AuxLabels { labels, noise_label, info })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn clustering_forms_parse_and_print_back() {
        let forms = [
            ("kmeans:4", Clustering::KMeans { k: 4 }),
            ("kmeans:auto:2-12", Clustering::KMeansAuto { k_min: 2, k_max: 12 }),
            ("hdbscan:200", Clustering::Hdbscan { min_cluster_size: 200, min_samples: None }),
            ("hdbscan:40:5", Clustering::Hdbscan { min_cluster_size: 40, min_samples: Some(5) }),
        ];
        for (text, c) in forms {
            assert_eq!(text.parse::<Clustering>().unwrap(), c);
            assert_eq!(c.to_string(), text);
        }
        assert_eq!("kmeans:auto".parse::<Clustering>().unwrap(), Clustering::KMeansAuto { k_min: 2, k_max: 8 });
        for bad in
            ["kmeans:1", "kmeans:x", "kmeans:auto:5-3", "hdbscan:1", "hdbscan:40:0", "hdbscan:40:5:6", "dbscan:3"]
        {
            let e = bad.parse::<Clustering>().unwrap_err().to_string();
            assert!(e.contains("--clustering"), "{bad}: {e}");
        }
    }

    /// Three tight blobs of 40 points in 2-D and two far-away outliers.
    fn blobs_with_outliers() -> Array2<f32> {
        let mut rows = Vec::new();
        for (c, (cx, cy)) in [(0.0f32, 0.0f32), (10.0, 0.0), (0.0, 10.0)].into_iter().enumerate() {
            for i in 0..40 {
                let t = (i as f32) * 0.37 + c as f32;
                rows.push([cx + 0.3 * t.sin(), cy + 0.3 * t.cos()]);
            }
        }
        rows.push([50.0, 50.0]);
        rows.push([-50.0, 60.0]);
        Array2::from_shape_vec((rows.len(), 2), rows.concat()).unwrap()
    }

    #[test]
    fn kmeans_labels_are_those_of_the_model_fitted_on_the_fit_rows() {
        let x = blobs_with_outliers();
        let fit = x.slice_axis(ndarray::Axis(0), (..120).into());
        let seeds = SeedTree::new(7).child("cluster");
        let got = cluster_codes(fit, x.view(), &AuxClustering::new(Clustering::KMeans { k: 3 }), &seeds).unwrap();
        let model = KMeans::new(3).seed(seeds.child("kmeans").seed_u64()).fit(fit).unwrap();
        assert_eq!(got.labels, model.predict(x.view()).unwrap());
        assert_eq!(got.noise_label, None);
        assert_eq!((got.classes(), got.info.k), (3, Some(3)));
        assert_eq!(got.sizes().iter().sum::<usize>(), x.nrows());
    }

    #[test]
    fn hdbscan_noise_is_shifted_into_label_zero() {
        let x = blobs_with_outliers();
        let cfg = AuxClustering::new(Clustering::Hdbscan { min_cluster_size: 10, min_samples: Some(5) });
        let got = cluster_codes(x.view(), x.view(), &cfg, &SeedTree::new(7)).unwrap();
        assert_eq!(got.noise_label, Some(0));
        assert_eq!(got.info.n_clusters, Some(3));
        // The outliers are noise (label 0); each blob is one label in 1..=3.
        assert_eq!(&got.labels[120..], &[0, 0]);
        for blob in got.labels[..120].chunks(40) {
            assert!(blob[0] >= 1 && blob.iter().all(|&l| l == blob[0]), "{blob:?}");
        }
        assert_eq!(got.classes(), 4);
    }

    #[test]
    fn auto_k_records_every_score_and_picks_three() {
        let x = blobs_with_outliers();
        let fit = x.slice_axis(ndarray::Axis(0), (..120).into());
        let cfg = AuxClustering::new(Clustering::KMeansAuto { k_min: 2, k_max: 5 });
        let got = cluster_codes(fit, x.view(), &cfg, &SeedTree::new(7)).unwrap();
        assert_eq!(got.info.k_auto_scores.iter().map(|s| s.0).collect::<Vec<_>>(), vec![2, 3, 4, 5]);
        assert_eq!(got.info.k, Some(3));
    }
}
