//! `detaux inspect`: load a dataset and print what a user needs to trust it.

use crate::cli::PoolArgs;
use crate::data::spec::{DatasetSpec, SPEC_HELP};
use crate::error::Result;
use crate::mtl::data::SplitConfig;
use crate::pipeline::describe::describe;
use crate::rng::SeedTree;
use std::time::Instant;

/// Arguments of `detaux inspect`.
#[derive(clap::Args, Debug)]
#[command(after_help = SPEC_HELP)]
pub struct InspectArgs {
    /// The dataset SPEC (see below).
    #[arg(long)]
    pub dataset: String,
    /// Principal factor, by name or index (default: the dataset's own, e.g. label, object_hue).
    #[arg(long)]
    pub principal: Option<String>,
    /// Test fraction of the stratified split (datasets without the 3DShapes hue factors).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Keep this fraction of every class of the training split (scarce-data runs).
    #[arg(long)]
    pub train_fraction: Option<f64>,
    /// Carve this fraction of the kept training split for validation.
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Side of the stage-1 model input (images are resized to it at load time).
    #[arg(long, default_value_t = 64)]
    pub model_size: usize,
    /// Master seed (synthetic subsets, splits).
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
}

/// Loads the dataset and prints count, shape, value range, factors, and split sizes.
pub fn run(args: &InspectArgs) -> Result<()> {
    let spec: DatasetSpec = args.dataset.parse()?;
    crate::limits::check_image_side("--model-size", args.model_size)?;
    let split = SplitConfig {
        test_fraction: args.test_fraction,
        train_fraction: args.train_fraction,
        val_fraction: args.val_fraction,
    };
    split.validate()?;
    let (pool, _) = args.pool.build()?;
    let t0 = Instant::now();
    let mut data = pool.install(|| spec.load(&SeedTree::new(args.seed)))?;
    if let Some(p) = &args.principal {
        data.set_principal(p)?;
    }
    eprintln!("loaded in {:.2}s", t0.elapsed().as_secs_f64());
    print!("{}", pool.install(|| describe(&spec, &data, args.model_size, &split, args.seed))?);
    Ok(())
}
