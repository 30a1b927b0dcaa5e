//! `detaux cluster`: stage 2, latents → auxiliary labels (docs/method.md §7-§8).
//!
//! ## Inputs
//! - `--latents FILE.npy`: `[n, d]` (clustered as is) or `[n, K, d]` (a subspace is chosen by
//!   [`crate::cluster::select_subspace`], or `--subspace k`), `f32` or `f64`.
//!   Optional `--factors FILE.npy` (int64 `[n, n_factors]`) for the metrics.
//! - `--run RUN_DIR`: a stage-1 run directory. Contract (kept loose on purpose):
//!   - `RUN_DIR/latents.npy`: `[n, K, d]` f32 (or f64), rows in dataset order (required);
//!   - `RUN_DIR/factors.npy`: int64 `[n, n_factors]` ground-truth factors, same order (optional);
//!   - `RUN_DIR/factors.json`, else `RUN_DIR/run.json`: the factor names (optional), either a
//!     JSON list of strings, or an object with a `"names"` or `"factors"` list (of strings, or of
//!     objects with a `"name"`, as `detaux disentangle`'s `run.json`); unnamed factors are called
//!     `factor0`, `factor1`, ….
//!
//! ## Method
//! `X = s_chosen` for every row. A fit sample of `--fit-sample N` rows (default: all) is drawn
//! without replacement with the seed stream `cluster/fit-sample`, as the reference fits on
//! 50 000 random rows of 3DShapes. k-means (`--k K` or `--k auto`: silhouette over
//! `--k-min..=--k-max`) is fitted on the sample and `predict`s every row; HDBSCAN is fitted on
//! the sample and, as the reference, labels every row with `approximate_predict`; if any label is
//! noise (−1), all labels are shifted by +1 (noise becomes class 0).
//!
//! ## Outputs (in `--out DIR`, default: `RUN_DIR`, or the latents file's directory)
//! - `aux_labels.npy`: int64 `[n]`, dataset order (loadable by numpy / the reference
//!   `aux_learning.py`);
//! - `clusters.json`: input shape, chosen subspace and every subspace's score, method and
//!   parameters, cluster sizes, k-means inertia / iterations / `k auto` scores or HDBSCAN cluster
//!   count and noise, a sampled silhouette, and ARI / NMI / homogeneity / completeness against
//!   every known factor;
//! - `clusters.png`: the chosen subspace projected on its first two principal axes (up to 5 000
//!   rows drawn with the seed), coloured by aux label (noise grey).

use crate::cluster::metrics::{
    adjusted_rand_index, homogeneity_completeness, normalized_mutual_info, silhouette_sampled,
};
use crate::cluster::{cluster_codes, select_subspace, AuxClustering, Clustering};
use crate::error::{Error, Result};
use crate::io::npy::{read_npy, write_npy, NpyData};
use crate::par::ThreadPool;
use crate::rng::SeedTree;
use ndarray::{Array2, Array3, Axis};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Clustering method.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// k-means (k-means++ init, Lloyd, best of --n-init).
    Kmeans,
    /// HDBSCAN (excess of mass, noise -> label 0 after the +1 shift).
    Hdbscan,
}

/// Arguments of `detaux cluster`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["run", "latents"])))]
pub struct ClusterArgs {
    /// Stage-1 run directory (reads latents.npy, and factors.npy/factors.json if present).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Latents NPY, [n, d] or [n, K, d], f32 or f64.
    #[arg(long)]
    pub latents: Option<PathBuf>,
    /// Ground-truth factors NPY (int64 [n, n_factors]) for the metrics (with --latents).
    #[arg(long)]
    pub factors: Option<PathBuf>,
    /// Clustering method.
    #[arg(long, value_enum, default_value_t = Method::Hdbscan)]
    pub method: Method,
    /// Number of k-means clusters, or `auto` (silhouette over --k-min..=--k-max).
    #[arg(long, default_value = "auto", allow_hyphen_values = true)]
    pub k: String,
    /// Smallest k tried by --k auto.
    #[arg(long, default_value_t = 2)]
    pub k_min: usize,
    /// Largest k tried by --k auto.
    #[arg(long, default_value_t = 12)]
    pub k_max: usize,
    /// k-means restarts.
    #[arg(long, default_value_t = 10)]
    pub n_init: usize,
    /// k-means iteration cap (the reference uses 1000).
    #[arg(long, default_value_t = 1000)]
    pub max_iter: usize,
    /// HDBSCAN min_cluster_size (the reference hard-codes 200).
    #[arg(long, default_value_t = 200)]
    pub min_cluster_size: usize,
    /// HDBSCAN min_samples (default: min_cluster_size).
    #[arg(long)]
    pub min_samples: Option<usize>,
    /// Fit on this many seeded random rows (default: all); every row is then labelled.
    #[arg(long)]
    pub fit_sample: Option<usize>,
    /// Rows used by the silhouette score (seeded sample).
    #[arg(long, default_value_t = 5000)]
    pub silhouette_sample: usize,
    /// Master seed.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Use this subspace instead of the automatic choice (latents [n, K, d] only).
    #[arg(long)]
    pub subspace: Option<usize>,
    /// Output directory (default: RUN_DIR, or the latents file's directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads (default: all available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Kernels: native (this CPU's fastest) or portable (the same bits on any CPU).
    #[arg(long, default_value = "native")]
    pub kernels: crate::par::KernelSet,
}

enum Latents {
    Flat(Array2<f32>),
    Split(Array3<f32>),
}

fn load_latents(path: &Path) -> Result<Latents> {
    let a = read_npy(path)?;
    let data: Vec<f32> = match a.data {
        NpyData::F32(v) => v,
        NpyData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        other => return Err(Error::format(path, format!("latents must be f32 or f64, got {}", other.descr()))),
    };
    match a.shape.as_slice() {
        [n, d] => Ok(Latents::Flat(Array2::from_shape_vec((*n, *d), data).expect("npy shape"))),
        [n, k, d] => Ok(Latents::Split(Array3::from_shape_vec((*n, *k, *d), data).expect("npy shape"))),
        s => Err(Error::format(path, format!("latents must be [n, d] or [n, K, d], got shape {s:?}"))),
    }
}

fn load_factors(path: &Path, n: usize) -> Result<Array2<i64>> {
    let a = read_npy(path)?;
    let v = match a.data {
        NpyData::I64(v) => v,
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        other => return Err(Error::format(path, format!("factors must be integers, got {}", other.descr()))),
    };
    let (rows, cols) = match a.shape.as_slice() {
        [r] => (*r, 1),
        [r, c] => (*r, *c),
        s => return Err(Error::format(path, format!("factors must be [n] or [n, n_factors], got {s:?}"))),
    };
    if rows != n {
        return Err(Error::format(path, format!("factors have {rows} rows, latents {n}")));
    }
    Ok(Array2::from_shape_vec((rows, cols), v).expect("npy shape"))
}

fn factor_names(path: &Path, count: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..count).map(|i| format!("factor{i}")).collect();
    let Ok(text) = std::fs::read_to_string(path) else { return names };
    let Ok(v) = serde_json::from_str::<Value>(&text) else { return names };
    let list = match &v {
        Value::Array(a) => Some(a.clone()),
        Value::Object(o) => o.get("names").or_else(|| o.get("factors")).and_then(|x| x.as_array().cloned()),
        _ => None,
    };
    for (i, item) in list.unwrap_or_default().iter().enumerate().take(count) {
        let name =
            item.as_str().map(str::to_string).or_else(|| item.get("name").and_then(|x| x.as_str()).map(str::to_string));
        if let Some(s) = name {
            names[i] = s;
        }
    }
    names
}

/// Runs stage 2 and writes `aux_labels.npy`, `clusters.json` and `clusters.png`.
pub fn run(args: &ClusterArgs) -> Result<()> {
    let threads = args.threads.unwrap_or_else(crate::par::default_threads);
    let pool = ThreadPool::with_kernels(threads, args.kernels)?;
    if args.silhouette_sample == 0 {
        return Err(Error::param("--silhouette-sample", "must be >= 1, got 0"));
    }
    if args.run.is_some() && args.factors.is_some() {
        return Err(Error::param("--factors", "only applies to --latents (--run reads RUN/factors.npy)"));
    }
    if args.method == Method::Hdbscan && args.k != "auto" {
        return Err(Error::param("--k", "only applies to --method kmeans"));
    }
    let seeds = SeedTree::new(args.seed).child("cluster");
    let t0 = Instant::now();
    let (latents_path, factors_path, names_path, default_out) = match (&args.run, &args.latents) {
        (Some(dir), _) => {
            // Factor names: factors.json if present, else run.json's "factors" (what
            // `detaux disentangle` writes: a list of {"name", "cardinality"}).
            let names = if dir.join("factors.json").exists() { dir.join("factors.json") } else { dir.join("run.json") };
            (dir.join("latents.npy"), Some(dir.join("factors.npy")), Some(names), dir.clone())
        }
        (None, Some(f)) => {
            let parent = f.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            (f.clone(), args.factors.clone(), None, parent)
        }
        (None, None) => return Err(Error::param("--run/--latents", "one of them is required")),
    };
    let out = args.out.clone().unwrap_or(default_out);
    let latents = load_latents(&latents_path)?;
    let (x, subspace_json, input_shape) = match latents {
        Latents::Flat(x) => {
            if args.subspace.is_some() {
                return Err(Error::param("--subspace", "needs latents of shape [n, K, d]"));
            }
            let shape = vec![x.nrows(), x.ncols()];
            (x, Value::Null, shape)
        }
        Latents::Split(l) => {
            let choice = select_subspace(l.view(), args.subspace)?;
            let x = l.index_axis(Axis(1), choice.chosen).to_owned();
            let j = json!({"chosen": choice.chosen, "overridden": choice.overridden,
                           "scores": choice.scores, "rule": "argmin_{k>=1} |mean_b <s_k, s_0>|"});
            (x, j, l.shape().to_vec())
        }
    };
    let n = x.nrows();
    if n == 0 {
        return Err(Error::InvalidData(format!("{}: no rows", latents_path.display())));
    }
    let factors = match &factors_path {
        Some(p) if p.exists() => Some(load_factors(p, n)?),
        Some(p) if args.factors.is_some() => {
            return Err(Error::io(p, std::io::Error::from(std::io::ErrorKind::NotFound)))
        }
        _ => None,
    };
    let fit_rows = crate::viz::scatter::sample_rows(n, args.fit_sample.unwrap_or(n), &seeds, "fit-sample");
    let x_fit = x.select(Axis(0), &fit_rows);
    let method = match args.method {
        Method::Kmeans if args.k == "auto" => Clustering::KMeansAuto { k_min: args.k_min, k_max: args.k_max },
        Method::Kmeans => Clustering::KMeans {
            k: args
                .k
                .parse::<usize>()
                .map_err(|_| Error::param("--k", format!("expected a number or 'auto', got '{}'", args.k)))?,
        },
        Method::Hdbscan => {
            Clustering::Hdbscan { min_cluster_size: args.min_cluster_size, min_samples: args.min_samples }
        }
    };
    let clustering = AuxClustering {
        method,
        n_init: args.n_init,
        max_iter: args.max_iter,
        silhouette_sample: args.silhouette_sample,
    };
    let aux = pool.install(|| cluster_codes(x_fit.view(), x.view(), &clustering, &seeds))?;
    let mut info = serde_json::Map::new();
    let fit = &aux.info;
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
    let noise_shift = aux.noise_label.is_some();
    let (n_labels, sizes) = (aux.classes(), aux.sizes());
    if n_labels < 2 {
        // One label is no auxiliary task: refuse before any file (earlier labels stay).
        return Err(Error::InvalidData(format!(
            "{}: the clustering gave one label for all {n} rows, no auxiliary task; nothing written \
             (try a smaller --min-cluster-size, or --method kmeans)",
            latents_path.display()
        )));
    }
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let labels = aux.labels;
    let silhouette = pool.install(|| silhouette_sampled(x.view(), &labels, args.silhouette_sample, &seeds))?;
    let mut metrics = Vec::new();
    if let Some(f) = &factors {
        let names = names_path
            .as_deref()
            .map(|p| factor_names(p, f.ncols()))
            .unwrap_or_else(|| factor_names(Path::new(""), f.ncols()));
        for (j, name) in names.iter().enumerate() {
            let truth: Vec<i64> = f.column(j).to_vec();
            let (h, c) = homogeneity_completeness(&truth, &labels)?;
            metrics.push(json!({"factor": name, "index": j,
                "ari": adjusted_rand_index(&truth, &labels)?, "nmi": normalized_mutual_info(&truth, &labels)?,
                "homogeneity": h, "completeness": c}));
        }
    }
    let labels_path = out.join("aux_labels.npy");
    write_npy(&labels_path, &[n], &labels)?;
    let title = format!(
        "{} subspace {} ({} labels)",
        match args.method {
            Method::Kmeans => "k-means",
            Method::Hdbscan => "HDBSCAN",
        },
        subspace_json.get("chosen").map_or("-".to_string(), |v| v.to_string()),
        n_labels
    );
    crate::viz::scatter_canvas(x.view(), &labels, noise_shift.then_some(0), &title, &seeds)
        .save_png(&out.join("clusters.png"))?;
    let report = json!({
        "input": latents_path.display().to_string(),
        "input_shape": input_shape,
        "n": n,
        "d": x.ncols(),
        "subspace": subspace_json,
        "method": format!("{:?}", args.method).to_lowercase(),
        "params": {"k": args.k, "n_init": args.n_init, "max_iter": args.max_iter,
                   "min_cluster_size": args.min_cluster_size, "min_samples": args.min_samples,
                   "seed": args.seed, "fit_sample": fit_rows.len()},
        "fit": Value::Object(info),
        "noise_shifted": noise_shift,
        "n_labels": n_labels,
        "cluster_sizes": sizes,
        "silhouette_sampled": silhouette,
        "silhouette_sample": args.silhouette_sample.min(n),
        "metrics": metrics,
        "threads": threads,
        "seconds": t0.elapsed().as_secs_f64(),
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| Error::InvalidData(format!("clusters.json: {e}")))?;
    crate::io::write_atomic(&out.join("clusters.json"), text.as_bytes())?;
    eprintln!(
        "cluster: {n} rows, {n_labels} labels (sizes {sizes:?}), silhouette {silhouette:.3}, {:.1} s -> {}",
        t0.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
