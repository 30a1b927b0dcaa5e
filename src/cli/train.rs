//! `detaux train`: stage 3 on its own — train the shared trunk with the principal task and an
//! auxiliary labelling (or alone, the STL baseline), write metrics.
//!
//! Output (both atomic): `DIR/metrics.json` (run configuration, split sizes, per-epoch and
//! selected-epoch metrics; wall times under `"timing"` and `"seconds"` keys only) and
//! `DIR/epochs.jsonl` (one line per finished epoch, rewritten after each epoch).

use crate::data::spec::{DatasetSpec, SPEC_HELP};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::mtl::data::{experiment_splits, load_aux_labels, principal_task, split_rule, SplitConfig};
use crate::mtl::json::{epoch_json, outcome_json};
use crate::mtl::train::{train, EpochRecord, Observer, TrainConfig};
use crate::mtl::weighting::{WeightingSpec, WEIGHTING_FORMS};
use crate::par::ThreadPool;
use crate::rng::SeedTree;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    pub weighting: String,
    /// Epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Master seed (splits, initial weights, shuffles, dropout).
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Worker threads (results are identical for any value; default: all available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Kernels: native (this CPU's fastest) or portable (the same bits on any CPU).
    #[arg(long, default_value = "native")]
    pub kernels: crate::par::KernelSet,
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
    /// Output channels of the trunk's stride-2 convolutions, comma-separated (default: the
    /// SimpleConv64 conv stack).
    #[arg(long, default_value = "32,32,64,64")]
    pub trunk_widths: String,
    /// Hidden width of every head.
    #[arg(long, default_value_t = 512)]
    pub head_hidden: usize,
}

/// Parses `--trunk-widths` (`"32,32,64,64"`).
///
/// # Errors
/// [`Error::InvalidParam`] named `--trunk-widths`.
pub fn parse_widths(s: &str) -> Result<Vec<usize>> {
    let w: std::result::Result<Vec<usize>, _> = s.split(',').map(|t| t.trim().parse::<usize>()).collect();
    match w {
        Ok(w) if !w.is_empty() && w.iter().all(|&v| v >= 1) => Ok(w),
        _ => Err(Error::param(
            "--trunk-widths",
            format!("'{s}': expected comma-separated integers >= 1, e.g. 32,32,64,64"),
        )),
    }
}

/// An indicatif bar on stderr fed by the trainer.
pub struct BarObserver {
    bar: ProgressBar,
    epochs: usize,
    prefix: String,
    lines: Vec<String>,
    out: Option<(PathBuf, Vec<String>)>,
    write_error: Option<Error>,
}

impl BarObserver {
    /// A bar labelled `prefix`; if `jsonl` is given, each epoch is appended to that file
    /// (rewritten atomically) with task names `names`.
    pub fn new(prefix: &str, epochs: usize, jsonl: Option<(PathBuf, Vec<String>)>) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(prefix.to_string());
        BarObserver { bar, epochs, prefix: prefix.to_string(), lines: Vec::new(), out: jsonl, write_error: None }
    }
    /// Removes the bar; returns the first error writing the JSONL file, if any (the run
    /// fails with it: a log that silently stopped is worse than none).
    pub fn finish(&mut self) -> Result<()> {
        self.bar.finish_and_clear();
        self.write_error.take().map_or(Ok(()), Err)
    }
    /// Rewrites the JSONL file (atomically) with every epoch so far.
    fn write_jsonl(&self) -> Result<()> {
        if let Some((path, _)) = &self.out {
            let mut text = self.lines.join("\n");
            text.push('\n');
            write_atomic(path, text.as_bytes())?;
        }
        Ok(())
    }
}

impl Observer for BarObserver {
    fn on_start(&mut self, total_steps: usize) {
        self.bar.set_length(total_steps as u64);
    }
    fn on_step(&mut self, epoch: usize, _step: usize, _spe: usize, loss: f64) {
        self.bar.inc(1);
        self.bar.set_message(format!("epoch {}/{} loss {loss:.4}", epoch + 1, self.epochs));
    }
    fn on_epoch(&mut self, r: &EpochRecord) {
        let p = &r.test[0];
        let line = format!(
            "{} epoch {:>3}/{}: train loss {:.4} acc {:.4} | test acc {:.4} macro-F1 {:.4} ({:.1}s)",
            self.prefix,
            r.epoch + 1,
            self.epochs,
            r.train[0].loss,
            r.train[0].accuracy,
            p.accuracy,
            p.macro_f1,
            r.seconds
        );
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
        if let Some((_, names)) = &self.out {
            self.lines.push(epoch_json(names, r).to_string());
            if self.write_error.is_none() {
                if let Err(e) = self.write_jsonl() {
                    self.write_error = Some(e);
                }
            }
        }
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Runs `detaux train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    let t_start = Instant::now();
    let spec: DatasetSpec = args.dataset.parse()?;
    let weighting: WeightingSpec = args.weighting.parse()?;
    let threads = args.threads.unwrap_or_else(crate::par::default_threads);
    let pool = ThreadPool::with_kernels(threads, args.kernels)?;
    let cfg = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        weight_decay: args.weight_decay,
        widths: parse_widths(&args.trunk_widths)?,
        hidden: args.head_hidden,
        ..TrainConfig::default()
    };
    cfg.validate()?;
    let split_cfg = SplitConfig {
        test_fraction: args.test_fraction,
        train_fraction: args.train_fraction,
        val_fraction: args.val_fraction,
    };
    let seeds = SeedTree::new(args.seed);
    let aux_path = match args.aux_labels.as_str() {
        "none" => None,
        p => Some(PathBuf::from(p)),
    };
    let mut data = pool.install(|| spec.load(&seeds))?;
    if let Some(p) = &args.principal {
        data.set_principal(p)?;
    }
    let mut tasks = vec![principal_task(&data)?];
    if let Some(p) = &aux_path {
        tasks.push(load_aux_labels(p, data.len())?);
    }
    // Checks the weighting against the task count before any work (e.g. fixed:W1,W2 with STL).
    weighting.build(tasks.len(), &seeds)?;
    let channels = data.channels();
    let data = pool.install(|| data.to_model_input(64, channels))?;
    let splits = pool.install(|| experiment_splits(&data, &split_cfg, &seeds))?;
    create_dir(&args.out)?;
    let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    eprintln!(
        "{}: {} images; split {} train {} / val {} / test {}; tasks {}; weighting {}; {} epochs on {threads} thread(s)",
        spec,
        data.len(),
        split_rule(&data),
        splits.train.len(),
        splits.val.as_ref().map_or(0, |v| v.len()),
        splits.test.len(),
        tasks.iter().map(|t| format!("{} ({} classes)", t.name, t.classes)).collect::<Vec<_>>().join(", "),
        weighting,
        cfg.epochs
    );
    let mut obs = BarObserver::new(
        if tasks.len() == 1 { "stl" } else { "mtl" },
        cfg.epochs,
        Some((args.out.join("epochs.jsonl"), names)),
    );
    let t_train = Instant::now();
    let outcome = pool.install(|| train(&data, &tasks, &splits, &weighting, &cfg, &seeds, &mut obs));
    let logged = obs.finish();
    let outcome = outcome?;
    logged?;
    let train_seconds = t_train.elapsed().as_secs_f64();
    let doc = json!({
        "command": "train",
        "version": env!("CARGO_PKG_VERSION"),
        "dataset": spec.to_string(),
        "principal": data.principal_spec().name,
        "aux_labels": aux_path.as_ref().map(|p| p.display().to_string()),
        "seed": args.seed,
        "threads": threads,
        "config": {
            "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "weight_decay": cfg.weight_decay,
            "optimizer": "AdamW", "trunk_widths": cfg.widths, "head_hidden": cfg.hidden, "dropout": cfg.dropout,
            "input": format!("{}x{}x{}", data.height(), data.width(), data.channels()),
            "test_fraction": args.test_fraction, "train_fraction": args.train_fraction, "val_fraction": args.val_fraction,
        },
        "split": {
            "rule": split_rule(&data), "train": splits.train.len(),
            "val": splits.val.as_ref().map(|v| v.len()), "test": splits.test.len(),
        },
        "result": outcome_json(&outcome),
        "timing": {"train_seconds": train_seconds, "total_seconds": t_start.elapsed().as_secs_f64()},
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::InvalidData(format!("metrics json: {e}")))?;
    let path = args.out.join("metrics.json");
    write_atomic(&path, text.as_bytes())?;
    let p = outcome.principal_test();
    println!(
        "{} on {}: principal '{}' test accuracy {:.4}, macro-F1 {:.4} (epoch {}, {}); {:.1}s; wrote {}",
        outcome.weighting,
        spec,
        outcome.task_names[0],
        p.accuracy,
        p.macro_f1,
        outcome.selected_epoch + 1,
        outcome.selection,
        train_seconds,
        path.display()
    );
    Ok(())
}
