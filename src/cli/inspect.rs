//! `detaux inspect`: load a dataset and print what a user needs to trust it.

use crate::cli::{flag_error, PoolArgs};
use crate::data::spec::SPEC_HELP;
use crate::error::Result;
use crate::mtl::data::SplitConfig;
use crate::pipeline::describe::inspect;

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
    let split = SplitConfig {
        test_fraction: args.test_fraction,
        train_fraction: args.train_fraction,
        val_fraction: args.val_fraction,
    };
    let (pool, _) = args.pool.build()?;
    let text = pool.install(|| {
        inspect(&args.dataset, args.principal.as_deref(), args.model_size, &split, args.seed)
            .map_err(|e| flag_error(e, &[], true))
    })?;
    print!("{text}");
    Ok(())
}
