//! `detaux train`: stage 3 on its own — train the shared trunk with the principal task and an
//! auxiliary labelling (or alone, the STL baseline), write metrics.
//!
//! The outputs (`metrics.json`, `epochs.jsonl`) are the library's [`crate::mtl::job`]; this
//! file maps flags to a [`TrainJob`] and shows progress.

use crate::cli::progress::Bar;
use crate::cli::{flag_error, PoolArgs};
use crate::data::spec::SPEC_HELP;
use crate::error::Result;
use crate::mtl::data::SplitConfig;
use crate::mtl::job::TrainJob;
use crate::mtl::train::TrainConfig;
use crate::mtl::weighting::{WeightingSpec, WEIGHTING_FORMS};
use std::path::PathBuf;

/// Arguments of `detaux train`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!("Weightings: {WEIGHTING_FORMS}.\n\n{SPEC_HELP}"))]
pub struct TrainArgs {
    /// The dataset SPEC (see below).
    #[arg(long)]
    pub dataset: String,
    /// Auxiliary labels: an integer NPY file `[n]` in dataset order, or `none` for the
    /// single-task (STL) baseline.
    #[arg(long)]
    pub aux_labels: String,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Loss weighting: equal, fixed:W1,W2, uw, dwa, gradnorm, pcgrad.
    #[arg(long, default_value = "equal")]
    pub weighting: WeightingSpec,
    /// Epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Master seed (splits, initial weights, shuffles, dropout).
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Keep this fraction of every class of the training split (scarce data).
    #[arg(long)]
    pub train_fraction: Option<f64>,
    /// Test fraction of the stratified split (datasets without a 3DShapes or shipped split).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Carve this fraction of the training split as validation and report the epoch with the
    /// best validation accuracy of the principal task (default: report the last epoch).
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Principal factor by name or index (default: the dataset's own).
    #[arg(long)]
    pub principal: Option<String>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 5e-3)]
    pub weight_decay: f64,
    /// Side of the model's square input: images are resized once (default 64).
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    /// Output channels of the trunk's stride-2 convolutions, comma-separated (default: the
    /// SimpleConv stack for --image-size, 32,32,64,64 at 64).
    #[arg(long, value_delimiter = ',')]
    pub trunk_widths: Option<Vec<usize>>,
    /// Hidden width of every head.
    #[arg(long, default_value_t = 512)]
    pub head_hidden: usize,
}

/// Runs `detaux train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let (pool, threads) = args.pool.build()?;
    let widths = match &args.trunk_widths {
        Some(w) => w.clone(),
        None => crate::models::trunk_widths(args.image_size).map_err(|e| flag_error(e, &[], true))?,
    };
    let job = TrainJob {
        dataset: args.dataset.clone(),
        principal: args.principal.clone(),
        aux_labels: (args.aux_labels != "none").then(|| PathBuf::from(&args.aux_labels)),
        image_size: args.image_size,
        split: SplitConfig {
            test_fraction: args.test_fraction,
            train_fraction: args.train_fraction,
            val_fraction: args.val_fraction,
        },
        config: TrainConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            weight_decay: args.weight_decay,
            widths,
            hidden: args.head_hidden,
            ..TrainConfig::default()
        },
        weighting: args.weighting.clone(),
        seed: args.seed,
        out: args.out.clone(),
    };
    pool.install(|| {
        let prepared = job.prepare()?;
        eprintln!("{} on {threads} thread(s)", prepared.summary());
        let label = if prepared.tasks().len() == 1 { "stl" } else { "mtl" };
        // The bar is a temporary: cleared before the result line is printed.
        let (outcome, path) = prepared.run(&mut Bar::new(label, None))?;
        println!("{outcome} on {}; wrote {}", args.dataset, path.display());
        Ok(())
    })
}
