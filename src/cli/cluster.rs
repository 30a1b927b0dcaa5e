//! `detaux cluster`: stage 2, latents → auxiliary labels (docs/method.md §7-§8).
//!
//! What the job reads and writes is the library's [`crate::cluster::job`]; a `--run`
//! directory is read as [`crate::stage1::run_dir`] describes. This file maps flags to a
//! [`ClusterJob`].

use crate::cli::{set, PoolArgs};
use crate::cluster::job::{run_cluster_job, ClusterJob};
use crate::cluster::Clustering;
use crate::error::{Error, Result};
use std::path::PathBuf;

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
    #[arg(long, conflicts_with = "run")]
    pub factors: Option<PathBuf>,
    /// `kmeans:K`, `kmeans:auto[:MIN-MAX]` (silhouette picks k), `hdbscan:MIN_CLUSTER_SIZE[:MIN_SAMPLES]`
    /// (the reference: `hdbscan:200`).
    #[arg(long, default_value = "hdbscan:200")]
    pub clustering: Clustering,
    /// k-means restarts.
    #[arg(long, default_value_t = 10)]
    pub n_init: usize,
    /// k-means iteration cap (the reference uses 1000).
    #[arg(long, default_value_t = 1000)]
    pub max_iter: usize,
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
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
}

/// Runs stage 2 and writes `aux_labels.npy`, `clusters.json` and `clusters.png`.
pub fn run(args: &ClusterArgs) -> Result<()> {
    let (pool, _) = args.pool.build()?;
    let mut job = match (&args.run, &args.latents) {
        (Some(dir), _) => ClusterJob::on_run_dir(dir, args.clustering.clone()),
        (None, Some(f)) => ClusterJob::on_latents(f, args.factors.as_deref(), args.clustering.clone()),
        (None, None) => return Err(Error::param("--run/--latents", "one of them is required")),
    };
    set(&mut job.out, &args.out);
    set(&mut job.subspace, &args.subspace.map(Some));
    set(&mut job.fit_sample, &args.fit_sample.map(Some));
    job.clustering.n_init = args.n_init;
    job.clustering.max_iter = args.max_iter;
    job.clustering.silhouette_sample = args.silhouette_sample;
    job.silhouette_sample = args.silhouette_sample;
    job.seed = args.seed;
    let o = pool.install(|| run_cluster_job(&job))?;
    eprintln!("cluster: {o} -> {}", job.out.display());
    Ok(())
}
