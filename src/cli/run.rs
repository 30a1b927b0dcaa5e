//! `detaux run`: flags → [`ExperimentConfig`] (a preset of [`crate::pipeline::preset`] with
//! overrides), progress bars, and the printed summary. The experiment itself, its report and
//! its files are [`crate::pipeline::experiment`]'s.

use crate::cli::progress::RunProgress;
use crate::cli::{flag_error, set, PoolArgs};
use crate::data::pairs::PairRule;
use crate::data::spec::SPEC_HELP;
use crate::error::Result;
use crate::mtl::weighting::WeightingSpec;
use crate::pipeline::preset::PRESET_NAMES;
use crate::pipeline::{
    Clustering, Experiment, ExperimentConfig, OracleArms, Preset, Stage1Source, SubspaceRule, ValSelection,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `detaux run`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!(
    "Presets: {} (digits is the default; shapes3d-synth SPECs start from shapes3d). Every preset value \
     can be overridden by a flag. Clustering: kmeans:K, kmeans:auto, kmeans:auto:MIN-MAX, \
     hdbscan:MIN_CLUSTER_SIZE.\n\n{SPEC_HELP}", PRESET_NAMES.join(", ")
))]
pub struct RunArgs {
    /// The dataset SPEC (default: the preset's).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Output directory (created if missing; default `runs/<preset>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Preset (default: from the dataset).
    #[arg(long)]
    pub preset: Option<String>,
    /// Number of seeds (seed, seed+1, …; default: the preset's).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// First master seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Principal factor by name or index (default: the preset's, else the dataset's own).
    #[arg(long)]
    pub principal: Option<String>,
    /// Side of the models' square input (8, 16, 32 or 64; images are resized once); sets the
    /// stage-3 trunk to the stage-1 encoder's conv stack for that side.
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Stage-1 epochs.
    #[arg(long)]
    pub dis_epochs: Option<usize>,
    /// Stage-1 pairs per epoch.
    #[arg(long)]
    pub pairs_per_epoch: Option<usize>,
    /// Stage-1 partner rule.
    #[arg(long, value_enum)]
    pub pairs: Option<PairRule>,
    /// Stage-1 λ of the distance loss.
    #[arg(long)]
    pub lambda_distance: Option<f64>,
    /// Stage-1 λ of the consistency loss.
    #[arg(long)]
    pub lambda_consistency: Option<f64>,
    /// Stage-1 Adam learning rate.
    #[arg(long)]
    pub dis_lr: Option<f64>,
    /// Stage-1 pairs per batch.
    #[arg(long)]
    pub dis_batch_size: Option<usize>,
    /// Stage-2 clustering: kmeans:K, kmeans:auto[:MIN-MAX], hdbscan:M.
    #[arg(long)]
    pub clustering: Option<Clustering>,
    /// The subspace stage 2 clusters: rule (the reference's), an index K, or carrying:FACTOR
    /// (the subspace that best predicts a known factor on the validation split: a control).
    #[arg(long)]
    pub subspace: Option<SubspaceRule>,
    /// Oracle-aux control arms: all (every non-principal factor), none, or FACTOR[,FACTOR…].
    #[arg(long)]
    pub oracle_aux: Option<OracleArms>,
    /// Stage-3 epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Keep this fraction of every class of the training split (scarce data; 1 = all).
    #[arg(long)]
    pub train_fraction: Option<f64>,
    /// Carve this fraction of the kept training split for validation (epoch selection);
    /// 0 = none (report the last epoch).
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Stage-3 loss weighting of the MTL arms: equal, fixed:W1,W2, uw, dwa, gradnorm, pcgrad.
    #[arg(long)]
    pub weighting: Option<WeightingSpec>,
    /// Also train the detaux-mtl-val arm: every candidate subspace × clustering gets a short
    /// MTL run of this many epochs, scored on the validation split; 0 = no such arm.
    #[arg(long)]
    pub mtl_val_epochs: Option<usize>,
    /// Candidate clusterings of detaux-mtl-val, comma-separated (default: --clustering's).
    #[arg(long, value_name = "CLUSTERING[,CLUSTERING…]")]
    pub mtl_val_clusterings: Option<String>,
    /// Candidate subspaces of detaux-mtl-val, comma-separated (default: every subspace ≥ 1).
    #[arg(long, value_name = "K[,K…]")]
    pub mtl_val_subspaces: Option<String>,
    /// Continue the run in --out: seeds whose stage 1 finished are not trained again, an
    /// interrupted stage 1 goes on from its last epoch (same settings required).
    #[arg(long, conflicts_with = "stage1_from")]
    pub resume: bool,
    /// Reuse every seed's finished stage 1 from this run directory (same stage-1 settings and
    /// data required), e.g. to compare clusterings or weightings on one stage 1.
    #[arg(long, value_name = "RUN_DIR")]
    pub stage1_from: Option<PathBuf>,
    /// Also probe stage 1 at every epoch end and print that epoch's verdict (report.json:
    /// `stage1_epoch_verdicts`): how many stage-1 epochs a setting needs.
    #[arg(long)]
    pub probe_every_epoch: bool,
}

/// The experiment settings of `args`: the preset, then every flag given.
///
/// # Errors
/// [`crate::Error::InvalidParam`] naming the flag.
pub fn experiment_config(args: &RunArgs) -> Result<ExperimentConfig> {
    let preset = match (&args.preset, &args.dataset) {
        (Some(p), _) => Preset::named(p)?,
        (None, Some(d)) => Preset::for_dataset(d),
        (None, None) => Preset::digits(),
    };
    let mut c = ExperimentConfig::from_preset(&preset);
    if let Some(d) = &args.dataset {
        c.dataset = d.clone();
        if !d.starts_with("shapes3d") && args.preset.is_none() {
            c.principal = None;
        }
    }
    set(&mut c.principal, &args.principal.clone().map(Some));
    set(&mut c.seeds, &args.seeds);
    set(&mut c.first_seed, &args.seed);
    if let Some(side) = args.image_size {
        c.pipeline = c.pipeline.with_image_size(side)?;
    }
    let p = &mut c.pipeline;
    let s1 = &mut p.stage1;
    set(&mut s1.epochs, &args.dis_epochs);
    set(&mut s1.pairs_per_epoch, &args.pairs_per_epoch.map(Some));
    s1.pair_mode = s1.pair_mode.with(args.pairs, None)?;
    set(&mut s1.losses.lambda_distance, &args.lambda_distance);
    set(&mut s1.losses.lambda_consistency, &args.lambda_consistency);
    set(&mut s1.adam.lr, &args.dis_lr);
    set(&mut s1.batch_size, &args.dis_batch_size);
    set(&mut p.clustering.method, &args.clustering);
    set(&mut p.subspace, &args.subspace);
    set(&mut p.oracle, &args.oracle_aux);
    ValSelection::apply_flags(
        &mut p.val_selection,
        args.mtl_val_epochs,
        args.mtl_val_clusterings.as_deref(),
        args.mtl_val_subspaces.as_deref(),
    )?;
    set(&mut p.stage3.epochs, &args.epochs);
    set(&mut p.split.train_fraction, &args.train_fraction.map(Some));
    if let Some(f) = args.val_fraction {
        p.split.val_fraction = if f == 0.0 { None } else { Some(f) };
    }
    set(&mut p.weighting, &args.weighting);
    p.probe_every_epoch |= args.probe_every_epoch;
    let renames = [
        ("epochs", "--dis-epochs"),
        ("pairs_per_epoch", "--pairs-per-epoch"),
        ("lambda_distance", "--lambda-distance"),
        ("lambda_consistency", "--lambda-consistency"),
        ("lr", "--dis-lr"),
    ];
    c.validate().map_err(|e| flag_error(e, &renames, false))?;
    Ok(c)
}

/// Runs `detaux run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let t_start = Instant::now();
    let config = experiment_config(args)?;
    let (pool, threads) = args.pool.build()?;
    let out_dir = args.out.clone().unwrap_or_else(|| Path::new("runs").join(&config.preset));
    let source = Stage1Source::from_flags(args.stage1_from.as_deref(), args.resume)?;
    let experiment = Experiment::new(config)?;
    let config = experiment.config();
    let data = pool.install(|| config.load_data())?;
    eprintln!("detaux run: {}, {threads} thread(s)", config.describe(&data));
    let mut progress = RunProgress::default();
    let report = pool.install(|| experiment.run_to_dir(&data, &out_dir, &source, &mut progress))?;
    println!("{}", report.summary_text()?);
    println!("wrote {} in {:.1}s", out_dir.join("report.md").display(), t_start.elapsed().as_secs_f64());
    Ok(())
}
