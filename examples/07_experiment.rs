//! Lesson 7: the digits experiment through the library alone: the same settings, files and
//! `report.json` metrics as `detaux run` (which adds only flags and progress bars).
//!
//! ```sh
//! cargo run --release --example 07_experiment -- [OUT_DIR] [SEEDS]
//! ```
//!
//! With the defaults (`runs/example-digits`, the preset's 3 seeds) it takes about 4 minutes on
//! two cores; `cargo run --release -- run --out runs/digits` then writes a `report.json` whose
//! every key but `timing` is equal. With `DETAUX_EXAMPLE_SHORT=1` every stage runs a token
//! budget (one seed, two stage-1 epochs of 128 pairs, two stage-3 epochs, k-means with k = 3):
//! the files and their structure are the same, the numbers mean nothing; CI runs it so.

use detaux::cluster::{AuxClustering, Clustering};
use detaux::pipeline::{Experiment, ExperimentConfig, PipelineObserver, Preset, Stage1Source};
use std::path::PathBuf;

/// Prints one line per stage (the CLI draws progress bars instead).
struct Lines;

impl PipelineObserver for Lines {
    fn on_stage(&mut self, seed: u64, stage: &str) {
        eprintln!("seed {seed}: {stage}");
    }
}

fn main() -> detaux::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "runs/example-digits".into()));
    // 1. Start from a preset; every field is a plain value a library user may change.
    let mut config = ExperimentConfig::from_preset(&Preset::digits());
    if let Some(n) = args.next() {
        config.seeds = n.parse().map_err(|_| detaux::Error::param("SEEDS", format!("not a number: {n}")))?;
    }
    if std::env::var_os("DETAUX_EXAMPLE_SHORT").is_some() {
        config.seeds = 1;
        config.pipeline.stage1.epochs = 2;
        config.pipeline.stage1.pairs_per_epoch = Some(128);
        config.pipeline.stage3.epochs = 2;
        config.pipeline.clustering = AuxClustering::new(Clustering::KMeans { k: 3 });
    }
    // 2. Load the data the way the preset says (built-in digits, resized to 64 × 64).
    let data = config.load_data()?;
    // 3. Run every seed: stage 1, the probe and verdict, stage 2, every stage-3 arm.
    let report = Experiment::new(config)?.run_to_dir(&data, &out, &Stage1Source::Train, &mut Lines)?;
    // 4. The same summary `detaux run` prints: arms, paired differences, verdicts.
    println!("{}", report.summary_text()?);
    println!("wrote {}", out.join("report.json").display());
    Ok(())
}
