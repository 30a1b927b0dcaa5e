//! `detaux run`: flags → [`ExperimentConfig`] (a preset of [`crate::pipeline::preset`] with
//! overrides), progress bars, and the printed summary. The experiment itself, its report and
//! its files are [`crate::pipeline::experiment`]'s.

use crate::cli::disentangle::Stage1Bar;
use crate::cli::train::BarObserver;
use crate::cli::PoolArgs;
use crate::data::pairs::PairRule;
use crate::data::spec::SPEC_HELP;
use crate::error::{Error, Result};
use crate::pipeline::preset::PRESET_NAMES;
use crate::pipeline::verdict::Verdict;
use crate::pipeline::{
    AuxClustering, Experiment, ExperimentConfig, PipelineObserver, Preset, Stage1Source, ValSelection,
};
use indicatif::{MultiProgress, ProgressDrawTarget};
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
    pub clustering: Option<String>,
    /// The subspace stage 2 clusters: rule (the reference's), an index K, or carrying:FACTOR
    /// (the subspace that best predicts a known factor on the validation split: a control).
    #[arg(long)]
    pub subspace: Option<String>,
    /// Oracle-aux control arms: all (every non-principal factor), none, or FACTOR[,FACTOR…].
    #[arg(long)]
    pub oracle_aux: Option<String>,
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
    pub weighting: Option<String>,
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
}

/// The experiment settings of `args`: the preset, then every flag given.
///
/// # Errors
/// [`Error::InvalidParam`] naming the flag.
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
    if let Some(p) = &args.principal {
        c.principal = Some(p.clone());
    }
    if let Some(n) = args.seeds {
        c.seeds = n;
    }
    if let Some(s) = args.seed {
        c.first_seed = s;
    }
    if let Some(side) = args.image_size {
        c.pipeline = c.pipeline.with_image_size(side)?;
    }
    let p = &mut c.pipeline;
    let s1 = &mut p.stage1;
    if let Some(e) = args.dis_epochs {
        s1.epochs = e;
    }
    if let Some(n) = args.pairs_per_epoch {
        s1.pairs_per_epoch = Some(n);
    }
    s1.pair_mode = s1.pair_mode.with(args.pairs, None)?;
    if let Some(v) = args.lambda_distance {
        s1.losses.lambda_distance = v;
    }
    if let Some(v) = args.lambda_consistency {
        s1.losses.lambda_consistency = v;
    }
    if let Some(v) = args.dis_lr {
        s1.adam.lr = v;
    }
    if let Some(v) = args.dis_batch_size {
        s1.batch_size = v;
    }
    if let Some(m) = &args.clustering {
        p.clustering = AuxClustering { method: m.parse()?, ..p.clustering.clone() };
    }
    if let Some(rule) = &args.subspace {
        p.subspace = rule.parse()?;
    }
    if let Some(o) = &args.oracle_aux {
        p.oracle = o.parse()?;
    }
    match args.mtl_val_epochs {
        Some(0) => p.val_selection = None,
        Some(epochs) => {
            p.val_selection = Some(ValSelection::parse(
                epochs,
                args.mtl_val_clusterings.as_deref(),
                args.mtl_val_subspaces.as_deref(),
            )?)
        }
        None if args.mtl_val_clusterings.is_some() || args.mtl_val_subspaces.is_some() => {
            return Err(Error::param(
                "--mtl-val-epochs",
                "is required with --mtl-val-clusterings or --mtl-val-subspaces",
            ));
        }
        None => {}
    }
    if let Some(e) = args.epochs {
        p.stage3.epochs = e;
    }
    if let Some(f) = args.train_fraction {
        p.split.train_fraction = Some(f);
    }
    if let Some(f) = args.val_fraction {
        p.split.val_fraction = if f == 0.0 { None } else { Some(f) };
    }
    if let Some(w) = &args.weighting {
        p.weighting = w.parse()?;
    }
    c.validate().map_err(|e| match e {
        Error::InvalidParam { name, reason } => {
            let flag = match name.as_str() {
                "epochs" => "--dis-epochs",
                "pairs_per_epoch" => "--pairs-per-epoch",
                "lambda_distance" => "--lambda-distance",
                "lambda_consistency" => "--lambda-consistency",
                "lr" => "--dis-lr",
                other => return Error::InvalidParam { name: other.to_string(), reason },
            };
            Error::param(flag, reason)
        }
        other => other,
    })?;
    Ok(c)
}

/// Progress of a run: a stage-1 bar per seed, a stage-3 bar per arm, one line per stage; the
/// bars of seeds that run at the same time are drawn together.
struct Progress {
    bars: MultiProgress,
}

impl Progress {
    fn line(&self, line: String) {
        if self.bars.is_hidden() {
            eprintln!("{line}");
        } else {
            // A failed terminal write loses one progress line, nothing else.
            let _ = self.bars.println(line);
        }
    }
}

impl PipelineObserver for Progress {
    fn on_stage(&mut self, seed: u64, stage: &str) {
        self.line(format!("seed {seed}: {stage}"));
    }
    fn on_verdict(&mut self, seed: u64, v: &Verdict) {
        self.line(format!("seed {seed}: {}", v.isolation_line()));
        self.line(format!("seed {seed}: {}", v.carried_line()));
    }
    fn stage1(&mut self, seed: u64) -> Box<dyn crate::stage1::Observer> {
        Box::new(Stage1Bar::in_group(&format!("seed {seed} disentangle"), &self.bars))
    }
    fn arm(&mut self, arm: &str, seed: u64) -> Box<dyn crate::mtl::Observer> {
        Box::new(BarObserver::in_group(&format!("seed {seed} {arm}"), &self.bars))
    }
}

/// Runs `detaux run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let t_start = Instant::now();
    let config = experiment_config(args)?;
    let (pool, threads) = args.pool.build()?;
    let out_dir = args.out.clone().unwrap_or_else(|| Path::new("runs").join(&config.preset));
    let source = match (&args.stage1_from, args.resume) {
        (Some(from), _) if !from.is_dir() => {
            return Err(Error::param("--stage1-from", format!("{} is not a run directory", from.display())))
        }
        (Some(from), _) => Stage1Source::Reuse(from.clone()),
        (None, true) => Stage1Source::Resume,
        (None, false) => Stage1Source::Train,
    };
    let experiment = Experiment::new(config)?;
    let config = experiment.config();
    let data = pool.install(|| config.load_data())?;
    eprintln!(
        "detaux run: {} ({} images, principal '{}'), preset {}, {} seed(s), {threads} thread(s)",
        config.dataset,
        data.len(),
        data.principal_spec().name,
        config.preset,
        config.seeds
    );
    let mut progress = Progress { bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()) };
    let report = pool.install(|| experiment.run_to_dir(&data, &out_dir, &source, &mut progress))?;
    println!("{}", report.summary_text()?);
    println!("wrote {} in {:.1}s", out_dir.join("report.md").display(), t_start.elapsed().as_secs_f64());
    Ok(())
}
