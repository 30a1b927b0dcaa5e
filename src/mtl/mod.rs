//! Stage 3: multi-task learning with the discovered auxiliary task (docs/method.md §9).
//!
//! * [`model`]: shared conv trunk (SimpleConv64's conv stack by default) + one
//!   `FC → Dropout(0.1) → ReLU → FC` head per task;
//! * [`weighting`]: equal, fixed, uncertainty (UW), DWA, GradNorm, PCGrad (LibMTL formulas);
//! * [`mod@train`]: epochs of AdamW steps (lr 1e-4, wd 5e-3, batch 32), per-epoch metrics, model
//!   selection on validation only; the STL baseline is the same call with one task;
//! * [`eval`]: accuracy and macro-F1;
//! * [`data`]: splits, auxiliary-label files, control tasks;
//! * [`report`]: arms × seeds → `report.json`, `report.md`, `curves.png` (for `detaux run`);
//! * [`job`] (feature `io`): one run on files (`metrics.json`, `epochs.jsonl`; `detaux train`).
//!
//! ```no_run
//! use detaux::mtl::{data, train, weighting::WeightingSpec};
//! use detaux::rng::SeedTree;
//! let seeds = SeedTree::new(1234);
//! let ds = detaux::data::digits::load()?.to_model_input(64, 1)?;
//! let splits = data::experiment_splits(&ds, &data::SplitConfig::default(), &seeds)?;
//! let main = data::principal_task(&ds)?;
//! let aux = data::random_labels(ds.len(), 4, &seeds)?;
//! let cfg = train::TrainConfig { epochs: 2, ..Default::default() };
//! let out = train::train(&ds, &[main, aux], &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut train::NoObserver)?;
//! println!("principal test accuracy {}", out.principal_test().accuracy);
//! # Ok::<(), detaux::Error>(())
//! ```

pub mod data;
pub mod eval;
#[cfg(feature = "io")]
pub mod job;
#[cfg(feature = "io")]
pub mod json;
pub mod model;
pub mod report;
pub mod train;
pub mod weighting;

pub use model::{MtlModel, MtlModelConfig};
pub use train::{
    train, Control, MtlEpoch, MtlStep, MtlTrainer, NoObserver, Observed, Observer, Splits, Task, TrainConfig,
    TrainOutcome,
};
