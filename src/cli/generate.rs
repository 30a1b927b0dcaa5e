//! `detaux generate`: write a procedural dataset to disk in the NPY pair format, plus a PNG
//! contact sheet of its first 64 images.
//!
//! The files are written as a unit, never over a non-empty `--out`
//! ([`crate::data::npy_pair::write_npy_dir_new`]).

use crate::cli::PoolArgs;
use crate::data::npy_pair::{check_new_dir, write_npy_dir_new};
use crate::data::spec::{DatasetSpec, SPEC_HELP};
use crate::error::Result;
use crate::rng::SeedTree;
use std::path::PathBuf;
use std::time::Instant;

/// Which generator to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenKind {
    /// 3DShapes-like: 64x64x3, floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4, orientation 15.
    Shapes3d,
    /// dSprites-like: 64x64x1 binary, shape 3, scale 6, orientation 40, pos_x 32, pos_y 32.
    Dsprites,
}

/// Arguments of `detaux generate`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!(
    "Writes DIR/images.npy (uint8 [n,64,64,c]), DIR/labels.npy (int64 [n,k], file order), \
     DIR/factors.txt (name cardinality per line) and DIR/contact_sheet.png (first 64 images).\n\
     Load the result with --dataset npy:DIR, or generate in memory with the synthetic SPECs.\n\n{SPEC_HELP}"
))]
pub struct GenerateArgs {
    /// Generator.
    #[arg(value_enum)]
    pub kind: GenKind,
    /// Number of images: a seeded uniform subset of the full grid keeping every factor value
    /// (default: the full grid, 480000 or 737280 images).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub n: Option<usize>,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Master seed (chooses the subset).
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
}

/// Generates, writes the NPY files and the contact sheet, and reports on stderr.
pub fn run(args: &GenerateArgs) -> Result<()> {
    let (pool, threads) = args.pool.build()?;
    let spec = match args.kind {
        GenKind::Shapes3d => DatasetSpec::Shapes3dSynth { n: args.n },
        GenKind::Dsprites => DatasetSpec::DspritesSynth { n: args.n },
    };
    check_new_dir(&args.out)?;
    let t0 = Instant::now();
    let data = pool.install(|| spec.load(&SeedTree::new(args.seed)))?;
    eprintln!("generated {} ({} images) in {:.2}s on {threads} threads", spec, data.len(), t0.elapsed().as_secs_f64());
    write_npy_dir_new(&data, &args.out)?;
    println!(
        "{}: {}; files images.npy, labels.npy, factors.txt, contact_sheet.png",
        args.out.display(),
        data.summary()
    );
    Ok(())
}
