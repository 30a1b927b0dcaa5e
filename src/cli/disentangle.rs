//! `detaux disentangle`: stage-1 training with checkpoints, resume, pictures, latents and probe.
//!
//! The run directory (`--out RUN_DIR`) and its resume rules are the library's
//! [`crate::stage1::run_dir`]; this file maps flags to a [`Stage1Config`] and a
//! [`RunDirOptions`] and shows progress.

use crate::cli::progress::Bar;
use crate::cli::{flag_error, set, PoolArgs};
use crate::data::noise::SaltPepper;
use crate::data::pairs::PairRule;
use crate::data::spec::SPEC_HELP;
use crate::error::{Error, Result};
use crate::losses::{DistributionMode, ReconstructionLoss};
use crate::stage1::run_dir::{RunDirOptions, Stage1Run};
use crate::stage1::{OracleMode, RunEnd, Stage1Config};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `detaux disentangle`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!(
    "Writes RUN_DIR/run.json, checkpoint.safetensors, log.jsonl, reconstructions.png, traversal.png, \
     latents.npy [n,K,d], factors.npy [n,F] and probe.json. Images are resized to --image-size (64 by default) \
     (area averaging to shrink, bilinear to enlarge). The CPU budget is --epochs x --pairs-per-epoch (the reference: 40 x every image).\n\n{SPEC_HELP}"
))]
pub struct DisentangleArgs {
    /// The dataset SPEC (see below); optional with --resume (taken from the checkpoint).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Run directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs [default: 10]; the beta schedules depend only on this.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Pairs per epoch [default: 20000]; 0 = one pair per training image.
    #[arg(long)]
    pub pairs_per_epoch: Option<usize>,
    /// Principal factor by name or index [default: the dataset's, e.g. object_hue, label].
    #[arg(long)]
    pub principal: Option<String>,
    /// Master seed (data subset, split, init, pairs, noise) [default: 1234].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Partner rule [default: intended].
    #[arg(long, value_enum)]
    pub pairs: Option<PairRule>,
    /// Probability that a pair differs in the principal factor (intended, minimal pairs) [default: 0.5].
    #[arg(long)]
    pub p: Option<f64>,
    /// Oracle [default: forced].
    #[arg(long, value_enum)]
    pub oracle: Option<OracleMode>,
    /// Distribution regulariser [default: reference].
    #[arg(long, value_enum)]
    pub distribution: Option<DistributionMode>,
    /// Reconstruction loss [default: mse].
    #[arg(long, value_enum)]
    pub loss: Option<ReconstructionLoss>,
    /// Salt-and-pepper noise on training pairs (reference 'SnP').
    #[arg(long)]
    pub noise: bool,
    /// Number of subspaces K [default: 10].
    #[arg(long)]
    pub subspaces: Option<usize>,
    /// Subspace width d [default: 10].
    #[arg(long)]
    pub latent_dim: Option<usize>,
    /// Adam learning rate [default: 5e-4].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Pairs per batch [default: 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Side of the model's square input: 8, 16, 32 or 64 (images are resized once) [default: 64].
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Weight of the distance loss λ_dist [default: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_distance: Option<f64>,
    /// Weight of the sparsity/orthogonality loss λ_sp [default: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_sparsity: Option<f64>,
    /// Weight of the consistency loss λ_cons [default: 100]; 0 switches the term off.
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_consistency: Option<f64>,
    /// Weight of the distribution regulariser λ_distr [default: 1e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_distribution: Option<f64>,
    /// Held-out fraction (validation, pictures, probe) [default: 0.1].
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Write a checkpoint every this many steps (and at every epoch end).
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: u64,
    /// Also write the pictures at the end of every epoch (reconstructions_eNN.png, traversal_eNN.png).
    #[arg(long)]
    pub pictures_every_epoch: bool,
    /// Neighbours of the k-NN probe.
    #[arg(long, default_value_t = 10)]
    pub probe_neighbours: usize,
    /// Stop (with a checkpoint) once this many steps are done; continue with --resume.
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<u64>,
}

fn build_config(args: &DisentangleArgs, base: Stage1Config) -> Result<Stage1Config> {
    let mut c = base;
    set(&mut c.epochs, &args.epochs);
    if let Some(p) = args.pairs_per_epoch {
        c.pairs_per_epoch = (p != 0).then_some(p);
    }
    set(&mut c.principal, &args.principal.clone().map(Some));
    set(&mut c.seed, &args.seed);
    c.pair_mode = c.pair_mode.with(args.pairs, args.p)?;
    set(&mut c.oracle, &args.oracle);
    set(&mut c.losses.distribution, &args.distribution);
    set(&mut c.losses.reconstruction, &args.loss);
    if args.noise {
        c.noise = Some(SaltPepper::default());
    }
    set(&mut c.n_subspaces, &args.subspaces);
    set(&mut c.latent_dim, &args.latent_dim);
    set(&mut c.adam.lr, &args.lr);
    set(&mut c.batch_size, &args.batch_size);
    set(&mut c.image_size, &args.image_size);
    set(&mut c.val_fraction, &args.val_fraction);
    set(&mut c.losses.lambda_distance, &args.lambda_distance);
    set(&mut c.losses.lambda_sparsity, &args.lambda_sparsity);
    set(&mut c.losses.lambda_consistency, &args.lambda_consistency);
    set(&mut c.losses.lambda_distribution, &args.lambda_distribution);
    c.validate().map_err(|e| flag_error(e, &[("n_subspaces", "--subspaces")], true))?;
    Ok(c)
}

/// Runs `detaux disentangle`.
pub fn run(args: &DisentangleArgs) -> Result<()> {
    let options = RunDirOptions {
        checkpoint_every: args.checkpoint_every,
        stop_after_steps: args.stop_after_steps,
        pictures_every_epoch: args.pictures_every_epoch,
        probe_neighbours: args.probe_neighbours,
    };
    options.validate()?;
    let (pool, threads) = args.pool.build()?;
    let dir = args.out.as_path();
    pool.install(|| -> Result<()> {
        let t0 = Instant::now();
        let mut run = if args.resume {
            Stage1Run::resume(dir, args.dataset.as_deref(), |stored| build_config(args, stored), options)?
        } else {
            let spec =
                args.dataset.as_deref().ok_or_else(|| Error::param("--dataset", "is required (unless --resume)"))?;
            let cli_defaults = Stage1Config { epochs: 10, pairs_per_epoch: Some(20_000), ..Stage1Config::default() };
            Stage1Run::fresh(dir, spec, build_config(args, cli_defaults)?, options)?
        };
        eprintln!("{} (loaded in {:.1}s) on {threads} thread(s)", run.summary(), t0.elapsed().as_secs_f64());
        let mut obs = Bar::new("disentangle", None);
        let end = run.train(&mut obs)?;
        let seconds = obs.seconds();
        drop(obs);
        if end == RunEnd::Stopped {
            eprintln!("stopped after step {}; continue with --resume", run.trainer().global_step());
            return Ok(());
        }
        eprintln!("trained {} steps in {:.1}s; writing outputs", run.trainer().global_step(), seconds);
        let table = run.finish()?;
        println!("probe accuracy (held-out images, k-NN k={}; rows = subspaces):", table.config.neighbours);
        print!("{}", table.to_text());
        println!("wrote {}", dir.display());
        Ok(())
    })
}
