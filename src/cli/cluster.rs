//! `detaux cluster`: stage 2, latents → auxiliary labels (docs/method.md §7-§8).
//!
//! What the job reads and writes is the library's [`crate::cluster::job`]; a `--run`
//! directory is read as [`crate::stage1::run_dir`] describes. This file maps flags to a
//! [`ClusterJob`].

use crate::cli::PoolArgs;
use crate::cluster::job::{run_cluster_job, ClusterJob};
use crate::cluster::{AuxClustering, Clustering};
use crate::error::{Error, Result};
use crate::stage1::run_dir;
use std::path::{Path, PathBuf};

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
    if args.run.is_some() && args.factors.is_some() {
        return Err(Error::param("--factors", "only applies to --latents (--run reads RUN/factors.npy)"));
    }
    let (latents, factors, names, default_out) = match (&args.run, &args.latents) {
        (Some(dir), _) => (
            dir.join(run_dir::LATENTS),
            Some(dir.join(run_dir::FACTORS)),
            Some(run_dir::factor_names_file(dir)),
            dir.clone(),
        ),
        (None, Some(f)) => {
            let parent = f.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            (f.clone(), args.factors.clone(), None, parent)
        }
        (None, None) => return Err(Error::param("--run/--latents", "one of them is required")),
    };
    let job = ClusterJob {
        latents,
        factors,
        factors_required: args.factors.is_some(),
        names,
        out: args.out.clone().unwrap_or(default_out),
        subspace: args.subspace,
        clustering: AuxClustering {
            method: args.clustering.clone(),
            n_init: args.n_init,
            max_iter: args.max_iter,
            silhouette_sample: args.silhouette_sample,
        },
        fit_sample: args.fit_sample,
        silhouette_sample: args.silhouette_sample,
        seed: args.seed,
    };
    let o = pool.install(|| run_cluster_job(&job))?;
    eprintln!("cluster: {o} -> {}", job.out.display());
    Ok(())
}
