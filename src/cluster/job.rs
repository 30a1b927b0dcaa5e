//! Stage 2 as a job on files: latents in, `aux_labels.npy`, `clusters.json` and `clusters.png`
//! out (what `detaux cluster` runs).
//!
//! Inputs: latents `[n, d]` (clustered as is) or `[n, K, d]` (a subspace is chosen by
//! [`select_subspace`], or given), f32 or f64 ([`crate::stage1::run_dir::read_latents`]);
//! optionally factors `[n, F]` and a factor-names file for the metrics.
//!
//! Method: `X = s_chosen` for every row. A fit sample of `fit_sample` rows (default: all) is
//! drawn without replacement with the seed stream `cluster/fit-sample`, as the reference fits
//! on 50 000 random rows of 3DShapes; [`cluster_codes`] fits on it and labels every row (HDBSCAN
//! noise shifted into label 0).
//!
//! Outputs (in `out`):
//! - `aux_labels.npy`: int64 `[n]`, dataset order (loadable by numpy / the reference
//!   `aux_learning.py`);
//! - `clusters.json`: input shape, chosen subspace and every subspace's score, method and
//!   parameters, cluster sizes, k-means inertia / iterations / `k auto` scores or HDBSCAN
//!   cluster count and noise, a sampled silhouette, and ARI / NMI / homogeneity / completeness
//!   against every known factor;
//! - `clusters.png`: the chosen subspace projected on its first two principal axes (up to
//!   5 000 rows drawn with the seed), coloured by aux label (noise grey).
//!
//! A clustering that gives a single label is refused before any file is written (earlier
//! labels stay). `clusters.json` is the manifest: it is removed before the labels are
//! replaced, written last, and records [`labels_fingerprint`] of the labels, which
//! [`check_labels_manifest`] (called by [`crate::mtl::data::load_aux_labels`]) compares. **Determinism**: as [`cluster_codes`]; `clusters.json` holds the wall time.

use super::metrics::{adjusted_rand_index, homogeneity_completeness, normalized_mutual_info, silhouette_sampled};
use super::{cluster_codes, select_subspace, AuxClustering, Clustering};
use crate::error::{Error, Result};
use crate::io::npy::write_npy;
use crate::rng::SeedTree;
use crate::stage1::run_dir::{factor_names, read_factors, read_latents, Latents};
use ndarray::Axis;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One stage-2 job.
#[derive(Clone, Debug)]
pub struct ClusterJob {
    /// Latents file.
    pub latents: PathBuf,
    /// Factors file for the metrics; `None` = no metrics. A missing file is an error only when
    /// `factors_required`.
    pub factors: Option<PathBuf>,
    /// Whether a missing factors file is an error (it was asked for explicitly).
    pub factors_required: bool,
    /// Factor names file ([`factor_names`]); `None` = `factor0`, `factor1`, ….
    pub names: Option<PathBuf>,
    /// Output directory.
    pub out: PathBuf,
    /// Clustered subspace; `None` = the reference's rule (latents `[n, K, d]` only).
    pub subspace: Option<usize>,
    /// Method and k-means settings.
    pub clustering: AuxClustering,
    /// Fit on this many seeded random rows; `None` = all.
    pub fit_sample: Option<usize>,
    /// Rows of the reported silhouette (seeded sample); at least 1.
    pub silhouette_sample: usize,
    /// Master seed (streams under `cluster/`).
    pub seed: u64,
}

impl ClusterJob {
    /// A job on a stage-1 run directory ([`crate::stage1::run_dir`]): its latents, factors and
    /// factor names, outputs into the same directory; the reference's subspace rule, `clustering`
    /// with the default k-means settings, every row fitted, a 5 000-row silhouette, seed 1234.
    pub fn on_run_dir(dir: &Path, clustering: Clustering) -> ClusterJob {
        use crate::stage1::run_dir;
        ClusterJob {
            latents: dir.join(run_dir::LATENTS),
            factors: Some(dir.join(run_dir::FACTORS)),
            factors_required: false,
            names: Some(run_dir::factor_names_file(dir)),
            out: dir.to_path_buf(),
            ..ClusterJob::on_latents(&dir.join(run_dir::LATENTS), None, clustering)
        }
    }

    /// A job on a latents file, with an optional factors file for the metrics (then required),
    /// outputs beside the latents; the other settings as [`ClusterJob::on_run_dir`].
    pub fn on_latents(latents: &Path, factors: Option<&Path>, clustering: Clustering) -> ClusterJob {
        let out = match latents.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ClusterJob {
            latents: latents.to_path_buf(),
            factors: factors.map(Path::to_path_buf),
            factors_required: factors.is_some(),
            names: None,
            out,
            subspace: None,
            clustering: AuxClustering::new(clustering),
            fit_sample: None,
            silhouette_sample: 5000,
            seed: 1234,
        }
    }
}

/// What a job produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterOutcome {
    /// Rows labelled.
    pub n: usize,
    /// Number of labels.
    pub n_labels: usize,
    /// Rows per label.
    pub sizes: Vec<usize>,
    /// Sampled silhouette of the labels.
    pub silhouette: f64,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl std::fmt::Display for ClusterOutcome {
    /// `N rows, K labels (sizes [...]), silhouette S, T s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows, {} labels (sizes {:?}), silhouette {:.3}, {:.1} s",
            self.n, self.n_labels, self.sizes, self.silhouette, self.seconds
        )
    }
}

/// Runs `job` (in the current thread pool).
///
/// # Errors
/// [`Error::InvalidParam`] for a zero silhouette sample or a subspace with `[n, d]` latents;
/// read errors naming the file; a clustering with a single label ([`Error::InvalidData`]);
/// I/O errors writing the outputs.
pub fn run_cluster_job(job: &ClusterJob) -> Result<ClusterOutcome> {
    if job.silhouette_sample == 0 {
        return Err(Error::param("--silhouette-sample", "must be >= 1, got 0"));
    }
    let t0 = Instant::now();
    let seeds = SeedTree::new(job.seed).child("cluster");
    let (x, subspace_json, input_shape) = match read_latents(&job.latents)? {
        Latents::Flat(x) => {
            if job.subspace.is_some() {
                return Err(Error::param("--subspace", "needs latents of shape [n, K, d]"));
            }
            let shape = vec![x.nrows(), x.ncols()];
            (x, Value::Null, shape)
        }
        Latents::Split(l) => {
            let choice = select_subspace(l.view(), job.subspace)?;
            let x = l.index_axis(Axis(1), choice.chosen).to_owned();
            let j = json!({"chosen": choice.chosen, "overridden": choice.overridden,
                           "scores": choice.scores, "rule": "argmin_{k>=1} |mean_b <s_k, s_0>|"});
            (x, j, l.shape().to_vec())
        }
    };
    let n = x.nrows();
    if n == 0 {
        return Err(Error::InvalidData(format!("{}: no rows", job.latents.display())));
    }
    let factors = match &job.factors {
        Some(p) if p.exists() => Some(read_factors(p, n)?),
        Some(p) if job.factors_required => {
            return Err(Error::io(p, std::io::Error::from(std::io::ErrorKind::NotFound)))
        }
        _ => None,
    };
    let fit_rows = crate::viz::scatter::sample_rows(n, job.fit_sample.unwrap_or(n), &seeds, "fit-sample");
    let x_fit = x.select(Axis(0), &fit_rows);
    let aux = cluster_codes(x_fit.view(), x.view(), &job.clustering, &seeds)?;
    let noise_shift = aux.noise_label.is_some();
    let (n_labels, sizes) = (aux.classes(), aux.sizes());
    if n_labels < 2 {
        return Err(Error::InvalidData(format!(
            "{}: the clustering gave one label for all {n} rows, no auxiliary task; nothing written \
             (try a smaller hdbscan minimum cluster size, or --clustering kmeans:K)",
            job.latents.display()
        )));
    }
    let fit = &aux.info;
    let mut info = serde_json::Map::new();
    if !fit.k_auto_scores.is_empty() {
        info.insert(
            "k_auto_scores".into(),
            json!(fit.k_auto_scores.iter().map(|(k, s)| json!({"k": k, "silhouette": s})).collect::<Vec<_>>()),
        );
    }
    for (key, value) in [
        ("k", fit.k.map(|v| json!(v))),
        ("inertia_fit", fit.inertia_fit.map(|v| json!(v))),
        ("n_iter", fit.n_iter.map(|v| json!(v))),
        ("converged", fit.converged.map(|v| json!(v))),
        ("n_clusters", fit.n_clusters.map(|v| json!(v))),
        ("noise_in_fit", fit.noise_in_fit.map(|v| json!(v))),
    ] {
        if let Some(v) = value {
            info.insert(key.into(), v);
        }
    }
    std::fs::create_dir_all(&job.out).map_err(|e| Error::io(&job.out, e))?;
    let labels = aux.labels;
    let silhouette = silhouette_sampled(x.view(), &labels, job.silhouette_sample, &seeds)?;
    let mut metrics = Vec::new();
    if let Some(f) = &factors {
        let names = factor_names(job.names.as_deref().unwrap_or(Path::new("")), f.ncols());
        for (j, name) in names.iter().enumerate() {
            let truth: Vec<i64> = f.column(j).to_vec();
            let (h, c) = homogeneity_completeness(&truth, &labels)?;
            metrics.push(json!({"factor": name, "index": j,
                "ari": adjusted_rand_index(&truth, &labels)?, "nmi": normalized_mutual_info(&truth, &labels)?,
                "homogeneity": h, "completeness": c}));
        }
    }
    // clusters.json names the labels it describes: the old one goes before the labels are
    // replaced and the new one comes last, so a kill never leaves a report of other labels.
    let manifest = job.out.join("clusters.json");
    if let Err(e) = std::fs::remove_file(&manifest) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(Error::io(&manifest, e));
        }
    }
    write_npy(&job.out.join("aux_labels.npy"), &[n], &labels)?;
    let (method, params) = match job.clustering.method {
        Clustering::KMeans { k } => ("kmeans", json!({"k": k})),
        Clustering::KMeansAuto { k_min, k_max } => ("kmeans", json!({"k": "auto", "k_min": k_min, "k_max": k_max})),
        Clustering::Hdbscan { min_cluster_size, min_samples } => {
            ("hdbscan", json!({"min_cluster_size": min_cluster_size, "min_samples": min_samples}))
        }
    };
    let title = format!(
        "{} subspace {} ({} labels)",
        if method == "kmeans" { "k-means" } else { "HDBSCAN" },
        subspace_json.get("chosen").map_or("-".to_string(), |v| v.to_string()),
        n_labels
    );
    crate::viz::scatter_canvas(x.view(), &labels, noise_shift.then_some(0), &title, &seeds)
        .save_png(&job.out.join("clusters.png"))?;
    let mut params = params;
    let p = params.as_object_mut().expect("object");
    if method == "kmeans" {
        p.insert("n_init".into(), json!(job.clustering.n_init));
        p.insert("max_iter".into(), json!(job.clustering.max_iter));
    }
    p.insert("seed".into(), json!(job.seed));
    p.insert("fit_sample".into(), json!(fit_rows.len()));
    let seconds = t0.elapsed().as_secs_f64();
    let report = json!({
        "input": job.latents.display().to_string(),
        "input_shape": input_shape,
        "n": n,
        "d": x.ncols(),
        "subspace": subspace_json,
        "method": method,
        "params": params,
        "fit": Value::Object(info),
        "noise_shifted": noise_shift,
        "n_labels": n_labels,
        "aux_labels_fingerprint": labels_fingerprint(&labels),
        "cluster_sizes": sizes,
        "silhouette_sampled": silhouette,
        "silhouette_sample": job.silhouette_sample.min(n),
        "metrics": metrics,
        "threads": rayon::current_num_threads(),
        "seconds": seconds,
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| Error::InvalidData(format!("clusters.json: {e}")))?;
    crate::io::write_atomic(&manifest, text.as_bytes())?;
    Ok(ClusterOutcome { n, n_labels, sizes, silhouette, seconds })
}

/// The FNV-1a 64 hash of labels (as little-endian `i64`), 16 hex digits: `clusters.json`'s
/// `aux_labels_fingerprint`.
pub fn labels_fingerprint(labels: &[i64]) -> String {
    let bytes: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
    format!("{:016x}", crate::rng::fnv1a64_bytes(&bytes))
}

/// Checks labels read from an `aux_labels.npy` at `path` against a `clusters.json` beside it,
/// if that report names the labels it describes (`aux_labels_fingerprint`): a report of other
/// labels means the directory holds parts of two `detaux cluster` calls.
///
/// # Errors
/// [`Error::Format`] naming `path` when the report describes other labels; read errors of a
/// report that exists but cannot be read.
pub fn check_labels_manifest(path: &Path, labels: &[i64]) -> Result<()> {
    if path.file_name().is_none_or(|n| n != "aux_labels.npy") {
        return Ok(());
    }
    let manifest = path.with_file_name("clusters.json");
    let text = match std::fs::read_to_string(&manifest) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&manifest, e)),
    };
    let recorded = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("aux_labels_fingerprint").and_then(Value::as_str).map(str::to_string));
    match recorded {
        Some(f) if f != labels_fingerprint(labels) => Err(Error::format(
            path,
            format!(
                "{} beside it describes other labels (left by an interrupted `detaux cluster`?); run `detaux \
                 cluster` again",
                manifest.display()
            ),
        )),
        _ => Ok(()),
    }
}
