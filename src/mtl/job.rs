//! Stage 3 as a job on files (what `detaux train` runs): a dataset SPEC and an optional
//! auxiliary-label file in; `metrics.json` and `epochs.jsonl` out.
//!
//! [`TrainJob::prepare`] loads and resizes the data, builds the tasks (the principal factor and,
//! if given, the auxiliary labels) and the splits, and checks the weighting against the task
//! count, all before any output exists; [`PreparedTrain::run`] trains with the caller's
//! observer and writes, atomically:
//!
//! - `epochs.jsonl`: one line per finished epoch ([`super::json::epoch_json`]), rewritten after
//!   each epoch; a write error fails the run (a log that silently stopped is worse than none);
//! - `metrics.json`: the run configuration, the split sizes, every epoch and the selected
//!   epoch ([`super::json::outcome_json`]); wall times only under `"timing"` / `"seconds"`.
//!
//! **Determinism**: as [`super::train()`]; only the wall times differ between runs.

use super::data::{experiment_splits, load_aux_labels, principal_task, split_rule, SplitConfig};
use super::json::{epoch_json, outcome_json};
use super::train::{train, Control, MtlEpoch, MtlStep, MtlTrainer, Observer, Splits, Task, TrainConfig, TrainOutcome};
use super::weighting::WeightingSpec;
use crate::data::spec::DatasetSpec;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::rng::SeedTree;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One stage-3 run on files.
#[derive(Clone, Debug)]
pub struct TrainJob {
    /// Dataset SPEC (procedural SPECs are seeded with `seed`).
    pub dataset: String,
    /// Principal factor by name or index; `None` = the dataset's own.
    pub principal: Option<String>,
    /// Auxiliary labels (`.npy`, one per image, dataset order); `None` = STL.
    pub aux_labels: Option<PathBuf>,
    /// Side of the model's square input (images are resized once).
    pub image_size: usize,
    /// Splits.
    pub split: SplitConfig,
    /// Training settings.
    pub config: TrainConfig,
    /// Loss weighting.
    pub weighting: WeightingSpec,
    /// Master seed.
    pub seed: u64,
    /// Output directory (created when training starts).
    pub out: PathBuf,
}

/// A job with its data, tasks and splits ready.
pub struct PreparedTrain {
    job: TrainJob,
    spec: DatasetSpec,
    data: Dataset,
    tasks: Vec<Task>,
    splits: Splits,
}

impl TrainJob {
    /// Loads and checks everything; writes nothing.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an invalid config (named by the CLI flag), a weighting that
    /// does not fit the task count, an image size outside `1..=`[`crate::limits::MAX_IMAGE_SIDE`];
    /// whatever loading the data or the labels reports.
    pub fn prepare(self) -> Result<PreparedTrain> {
        if self.image_size == 0 || self.image_size > crate::limits::MAX_IMAGE_SIDE {
            return Err(Error::param(
                "--image-size",
                format!("must be in 1..={}, got {}", crate::limits::MAX_IMAGE_SIDE, self.image_size),
            ));
        }
        self.config.validate()?;
        let spec: DatasetSpec = self.dataset.parse()?;
        let seeds = SeedTree::new(self.seed);
        let mut data = spec.load(&seeds)?;
        if let Some(p) = &self.principal {
            data.set_principal(p)?;
        }
        let mut tasks = vec![principal_task(&data)?];
        if let Some(p) = &self.aux_labels {
            tasks.push(load_aux_labels(p, data.len())?);
        }
        // The weighting against the task count before any work (e.g. fixed:W1,W2 with STL).
        self.weighting.build(tasks.len(), &seeds)?;
        let channels = data.channels();
        let data = data.to_model_input(self.image_size, channels)?;
        let splits = experiment_splits(&data, &self.split, &seeds)?;
        Ok(PreparedTrain { job: self, spec, data, tasks, splits })
    }
}

impl PreparedTrain {
    /// One line: dataset, split sizes, tasks, weighting, epochs.
    pub fn summary(&self) -> String {
        let (data, s) = (&self.data, &self.splits);
        format!(
            "{}: {} images; split {} train {} / val {} / test {}; tasks {}; weighting {}; {} epochs",
            self.spec,
            data.len(),
            split_rule(data),
            s.train.len(),
            s.val.as_ref().map_or(0, |v| v.len()),
            s.test.len(),
            self.tasks.iter().map(|t| format!("{} ({} classes)", t.name, t.classes)).collect::<Vec<_>>().join(", "),
            self.job.weighting,
            self.job.config.epochs
        )
    }

    /// The tasks (task 0 principal).
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Trains (reporting to `observer`) and writes `epochs.jsonl` and `metrics.json`; returns
    /// the outcome and the path of `metrics.json`.
    ///
    /// # Errors
    /// I/O errors creating the directory or writing either file; whatever training reports
    /// (a directory this call created is removed again if training fails before any epoch).
    pub fn run(self, observer: &mut dyn Observer<MtlTrainer>) -> Result<(TrainOutcome, PathBuf)> {
        let t_start = Instant::now();
        let job = &self.job;
        let created = !job.out.exists();
        std::fs::create_dir_all(&job.out).map_err(|e| Error::io(&job.out, e))?;
        let mut log = EpochLog {
            path: job.out.join("epochs.jsonl"),
            names: self.tasks.iter().map(|t| t.name.clone()).collect(),
            lines: Vec::new(),
            inner: observer,
        };
        let seeds = SeedTree::new(job.seed);
        let trained = train(&self.data, &self.tasks, &self.splits, &job.weighting, &job.config, &seeds, &mut log);
        let outcome = match trained {
            Ok(o) => o,
            Err(e) => {
                // A run that failed before its first epoch leaves no empty directory behind
                // (`remove_dir` removes only an empty one; finished epochs' log stays).
                if created {
                    let _ = std::fs::remove_dir(&job.out);
                }
                return Err(e);
            }
        };
        let (data, cfg, splits) = (&self.data, &job.config, &self.splits);
        let doc = json!({
            "command": "train",
            "version": env!("CARGO_PKG_VERSION"),
            "dataset": self.spec.to_string(),
            "principal": data.principal_spec().name,
            "aux_labels": job.aux_labels.as_ref().map(|p| p.display().to_string()),
            "seed": job.seed,
            "threads": rayon::current_num_threads(),
            "config": {
                "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                "optimizer": "AdamW", "trunk_widths": cfg.widths, "head_hidden": cfg.hidden, "dropout": cfg.dropout,
                "input": format!("{}x{}x{}", data.height(), data.width(), data.channels()),
                "test_fraction": job.split.test_fraction, "train_fraction": job.split.train_fraction,
                "val_fraction": job.split.val_fraction,
            },
            "split": {
                "rule": split_rule(data), "train": splits.train.len(),
                "val": splits.val.as_ref().map(|v| v.len()), "test": splits.test.len(),
            },
            "result": outcome_json(&outcome),
            "timing": {"train_seconds": t_start.elapsed().as_secs_f64()},
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::InvalidData(format!("metrics json: {e}")))?;
        let path = job.out.join("metrics.json");
        write_atomic(&path, text.as_bytes())?;
        Ok((outcome, path))
    }
}

/// Rewrites `epochs.jsonl` after every epoch, then calls the caller's observer.
struct EpochLog<'a> {
    path: PathBuf,
    names: Vec<String>,
    lines: Vec<String>,
    inner: &'a mut dyn Observer<MtlTrainer>,
}

impl EpochLog<'_> {
    fn write(&self, path: &Path) -> Result<()> {
        let mut text = self.lines.join("\n");
        text.push('\n');
        write_atomic(path, text.as_bytes())
    }
}

impl Observer<MtlTrainer> for EpochLog<'_> {
    fn on_step(&mut self, t: &MtlTrainer, r: &MtlStep) -> Result<Control> {
        self.inner.on_step(t, r)
    }
    fn on_epoch(&mut self, t: &MtlTrainer, r: &MtlEpoch) -> Result<Control> {
        self.lines.push(epoch_json(&self.names, r).to_string());
        self.write(&self.path)?;
        self.inner.on_epoch(t, r)
    }
}
