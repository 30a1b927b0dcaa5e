//! Training a multi-task (or single-task) model: epochs of shuffled mini-batches, one
//! weighting strategy, per-epoch metrics, optional model selection on a validation split.
//!
//! Per step, on a batch `x: [b, c, s, s]` with labels `y_t` of every task `t`:
//! `z = trunk(x)`, `L_t = CE(head_t(z), y_t)`, then
//! * loss-level weighting: `L = weighting(L_1..L_T)`, one backward, AdamW step on the model
//!   (and on the weighting's own parameters, same settings);
//! * gradient-level weighting: one tape per task (`trunk → head_t → L_t → backward`, so the
//!   trunk forward runs `T` times; the trunk has no dropout, so every run gives the same `z`),
//!   the flattened trunk gradients `g_t` go to the weighting, heads get `∂L_t/∂θ_t`; then one
//!   AdamW step with the combined gradients.
//!
//! Optimiser: AdamW (decoupled decay), lr 1e-4, weight decay 5e-3, batch 32 (the reference's
//! `aux_learning.py`); the last batch of an epoch may be smaller (PyTorch `drop_last=False`).
//!
//! Metrics per epoch: on the training batches as they are trained (dropout active, as the
//! reference's Lightning `training_step` logs them): mean task loss, accuracy and macro-F1; on
//! the test split (and the validation split, if any) in inference mode after the epoch.
//! Model selection: with a validation split, the reported epoch is the one with the best
//! validation accuracy of the principal task (task 0; the first on ties) — the test split is
//! never used to choose anything; without one, the last epoch is reported.
//!
//! A task loss that is non-finite or above [`DIVERGED_LOSS_RATIO`] `· ln(classes)` (the
//! loss of a uniform prediction is `ln(classes)`) stops training with [`Error::InvalidData`]
//! ("training diverged"), as in stage 1: a diverged model has no result worth reporting.
//!
//! The STL baseline is [`train`] with only the principal task: same trunk, same initial
//! weights (see [`super::model`]), same epochs, batches and optimiser.
//!
//! **Determinism**: initial weights from stream `init`, epoch `e`'s shuffle from stream
//! `shuffle[e]`, dropout masks from stream `dropout` (heads in task order, per step), all under
//! `seeds.child("mtl")`; the kernels are thread-count independent, so so is the result.

use super::eval::{accuracy, argmax_rows, evaluate, macro_f1, TaskMetrics};
use super::model::{MtlModel, MtlModelConfig};
use super::weighting::{Weighting, WeightingKind, WeightingSpec};
use crate::autodiff::{Grads, Tape, Tensor};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{Mode, Module};
use crate::optim::{Adam, Optimizer};
use crate::rng::{streams, Rng, SeedTree};
use rand::seq::SliceRandom;

/// A task's batch loss above this multiple of `ln(classes)` (the loss of a uniform
/// prediction) is divergence: the model puts its logits thousands of nats on wrong classes,
/// which no run that is still learning does.
pub const DIVERGED_LOSS_RATIO: f64 = 1000.0;

/// One classification task: a label for every image of the dataset (dataset order).
#[derive(Clone, Debug)]
pub struct Task {
    /// Name for reports (`"label"`, `"aux"`).
    pub name: String,
    /// `labels[i]` of dataset image `i`, in `0..classes`.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
}

impl Task {
    /// A task, checking that every label is below `classes` and the length is `n`.
    ///
    /// # Errors
    /// [`Error::InvalidData`] naming the task.
    pub fn new(name: impl Into<String>, labels: Vec<usize>, classes: usize, n: usize) -> Result<Self> {
        let name = name.into();
        if labels.len() != n {
            return Err(Error::InvalidData(format!(
                "task '{name}': {} labels for a dataset of {n} images",
                labels.len()
            )));
        }
        crate::limits::check_classes(&format!("task '{name}'"), classes as u64)?;
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(Error::InvalidData(format!("task '{name}': label {l} of image {i} is not in 0..{classes}")));
        }
        Ok(Task { name, labels, classes })
    }
}

/// Which images train, validate and test (indices into the dataset).
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training images.
    pub train: Vec<usize>,
    /// Validation images (carved from the training split), for model selection.
    pub val: Option<Vec<usize>>,
    /// Test images: evaluated every epoch, never used for selection.
    pub test: Vec<usize>,
}

/// Hyperparameters of a stage-3 training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Epochs (default 30, the reference's).
    pub epochs: usize,
    /// Mini-batch size (default 32).
    pub batch_size: usize,
    /// AdamW learning rate (default 1e-4).
    pub lr: f64,
    /// AdamW decoupled weight decay (default 5e-3).
    pub weight_decay: f64,
    /// Batch size of evaluation passes (default 256; does not change results).
    pub eval_batch_size: usize,
    /// Trunk conv widths (default SimpleConv64's `[32, 32, 64, 64]`).
    pub widths: Vec<usize>,
    /// Head hidden width (default 512).
    pub hidden: usize,
    /// Head dropout (default 0.1).
    pub dropout: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 30,
            batch_size: 32,
            lr: 1e-4,
            weight_decay: 5e-3,
            eval_batch_size: 256,
            widths: vec![32, 32, 64, 64],
            hidden: 512,
            dropout: 0.1,
        }
    }
}

impl TrainConfig {
    /// Checks the fields the trainer itself uses (the model checks its own).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("--epochs", "must be >= 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(Error::param("--batch-size", "must be >= 1, got 0"));
        }
        if self.eval_batch_size == 0 {
            return Err(Error::param("eval_batch_size", "must be >= 1, got 0"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param("--lr", format!("must be a finite number > 0, got {}", self.lr)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::param(
                "--weight-decay",
                format!("must be a finite number >= 0, got {}", self.weight_decay),
            ));
        }
        // The network's sizes, with the smallest task (its heads are checked again with the
        // real class counts): too large widths are refused before any data is loaded.
        let probe = MtlModelConfig {
            channels: 3,
            input_size: if self.widths.len() < 32 { 64usize.max(1 << self.widths.len()) } else { 64 },
            widths: self.widths.clone(),
            hidden: self.hidden,
            dropout: self.dropout,
            task_classes: vec![2],
        };
        probe.validate().map_err(|e| match e {
            Error::InvalidParam { name, reason } => {
                let flag = match name.as_str() {
                    "widths" | "input_size" => "--trunk-widths",
                    "hidden" => "--head-hidden",
                    other => other,
                };
                Error::param(flag, reason)
            }
            other => other,
        })?;
        Ok(())
    }
}

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct MtlEpoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Per task, on the training batches (dropout active).
    pub train: Vec<TaskMetrics>,
    /// Per task, on the validation split (if any).
    pub val: Option<Vec<TaskMetrics>>,
    /// Per task, on the test split.
    pub test: Vec<TaskMetrics>,
    /// Mean over the epoch's steps of the weighted total loss (for gradient-level strategies,
    /// the plain sum).
    pub total_loss: f64,
    /// Task weights in effect at the epoch's last step.
    pub weights: Vec<f64>,
    /// Wall time of the epoch (training + evaluation), seconds. Not part of the determinism
    /// contract.
    pub seconds: f64,
}

impl std::fmt::Display for MtlEpoch {
    /// `epoch E: train loss L acc A | test acc T macro-F1 F (S s)` for the principal task
    /// (1-based epoch).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (Some(train), Some(test)) = (self.train.first(), self.test.first()) else {
            return write!(f, "epoch {:>3}", self.epoch + 1);
        };
        write!(
            f,
            "epoch {:>3}: train loss {:.4} acc {:.4} | test acc {:.4} macro-F1 {:.4} ({:.1}s)",
            self.epoch + 1,
            train.loss,
            train.accuracy,
            test.accuracy,
            test.macro_f1,
            self.seconds
        )
    }
}

/// The outcome of [`train`].
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Task names, task 0 principal.
    pub task_names: Vec<String>,
    /// Classes per task.
    pub task_classes: Vec<usize>,
    /// The weighting's name.
    pub weighting: String,
    /// Every epoch.
    pub epochs: Vec<MtlEpoch>,
    /// The reported epoch (see the module docs).
    pub selected_epoch: usize,
    /// `"last_epoch"` or `"best_val_principal_accuracy"`.
    pub selection: &'static str,
    /// Trainable parameters of the model.
    pub n_params: usize,
    /// Optimiser steps taken.
    pub steps: usize,
}

impl TrainOutcome {
    /// Test metrics of every task at the selected epoch.
    pub fn test(&self) -> &[TaskMetrics] {
        &self.epochs[self.selected_epoch].test
    }
    /// Test metrics of the principal task at the selected epoch.
    pub fn principal_test(&self) -> TaskMetrics {
        self.test()[0]
    }
}

impl std::fmt::Display for TrainOutcome {
    /// `WEIGHTING: principal 'NAME' test accuracy A, macro-F1 F (epoch E, SELECTION)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.principal_test();
        write!(
            f,
            "{}: principal '{}' test accuracy {:.4}, macro-F1 {:.4} (epoch {}, {})",
            self.weighting,
            self.task_names[0],
            p.accuracy,
            p.macro_f1,
            self.selected_epoch + 1,
            self.selection
        )
    }
}

pub use crate::observe::{Control, NoObserver, Observed, Observer};

/// One finished optimiser step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MtlStep {
    /// 0-based epoch of the step.
    pub epoch: usize,
    /// 0-based batch within the epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches_per_epoch: usize,
    /// Steps done so far, this one included.
    pub global_step: usize,
    /// Steps of the whole run.
    pub total_steps: usize,
    /// Images in the step's batch.
    pub images: usize,
    /// The step's weighted total loss.
    pub loss: f64,
}

/// [`train`] reports to an [`Observer<MtlTrainer>`](Observer). [`Control::Stop`] from
/// `on_step` ends training after that step (the partial epoch is evaluated and recorded like a
/// full one); from `on_epoch`, after that epoch. The outcome then reports the epochs so far.
impl Observed for MtlTrainer {
    type Step = MtlStep;
    type Epoch = MtlEpoch;
}

/// The model, its optimiser state and the weighting: one training step at a time.
/// (Public so that the bench times exactly the trainer's step.)
pub struct MtlTrainer {
    /// The network.
    pub model: MtlModel,
    weighting: Box<dyn Weighting>,
    opt: Adam<f32>,
    weighting_opt: Adam<f32>,
    dropout_rng: Rng,
    shared_names: Vec<String>,
    shared_shapes: Vec<Vec<usize>>,
}

/// What one step reports.
pub struct StepOutput {
    /// Per-task loss `L_t` of the batch.
    pub losses: Vec<f64>,
    /// The combined loss (weighted; plain sum for gradient-level strategies).
    pub total: f64,
    /// Per-task predictions (argmax of the training-mode logits).
    pub predictions: Vec<Vec<usize>>,
}

impl MtlTrainer {
    /// A model for `channels`-channel `input_size²` images and `task_classes`, with the
    /// weighting `spec`; all randomness from `seeds` (use `seeds = root.child("mtl")`).
    ///
    /// # Errors
    /// Invalid configuration (model, optimiser, weighting).
    pub fn new(
        cfg: &TrainConfig,
        channels: usize,
        input_size: usize,
        task_classes: Vec<usize>,
        spec: &WeightingSpec,
        seeds: &SeedTree,
    ) -> Result<Self> {
        cfg.validate()?;
        let n_tasks = task_classes.len();
        let mcfg = MtlModelConfig {
            channels,
            input_size,
            widths: cfg.widths.clone(),
            hidden: cfg.hidden,
            dropout: cfg.dropout,
            task_classes,
        };
        let model = MtlModel::new(mcfg, &mut seeds.rng(streams::INIT))?;
        let weighting = spec.build(n_tasks, &seeds.child("weighting"))?;
        let mut shared_names = Vec::new();
        let mut shared_shapes = Vec::new();
        model.visit_shared(&mut |p| {
            shared_names.push(p.name.clone());
            shared_shapes.push(p.value.shape().to_vec());
        });
        Ok(MtlTrainer {
            model,
            weighting,
            opt: Adam::adamw(cfg.lr, cfg.weight_decay)?,
            weighting_opt: Adam::adamw(cfg.lr, cfg.weight_decay)?,
            dropout_rng: seeds.rng(streams::DROPOUT),
            shared_names,
            shared_shapes,
        })
    }

    /// The weighting strategy.
    pub fn weighting(&self) -> &dyn Weighting {
        self.weighting.as_ref()
    }

    /// Tells the weighting an epoch ended with these per-task mean losses.
    pub fn end_epoch(&mut self, mean_losses: &[f64]) {
        self.weighting.end_epoch(mean_losses);
    }

    /// One optimiser step on images `x: [b, c, s, s]` with `targets[t]` the labels of task `t`.
    ///
    /// # Errors
    /// Shape/label errors.
    pub fn step(&mut self, x: &ndarray::Array4<f32>, targets: &[Vec<usize>]) -> Result<StepOutput> {
        let t = self.model.n_tasks();
        if targets.len() != t {
            return Err(Error::shape("mtl step", format!("{} target lists for {t} tasks", targets.len())));
        }
        match self.weighting.kind() {
            WeightingKind::Loss => self.step_loss_level(x, targets),
            WeightingKind::Gradient => self.step_gradient_level(x, targets),
        }
    }

    fn step_loss_level(&mut self, x: &ndarray::Array4<f32>, targets: &[Vec<usize>]) -> Result<StepOutput> {
        let tape = Tape::<f32>::new();
        let z = self.model.features(tape.constant(x.clone().into_dyn()))?;
        let mut losses = Vec::with_capacity(targets.len());
        let mut predictions = Vec::with_capacity(targets.len());
        for (task, y) in targets.iter().enumerate() {
            let logits = self.model.head_logits(task, z, &mut Mode::Train(&mut self.dropout_rng))?;
            predictions.push(argmax_rows(&logits.value()));
            losses.push(logits.cross_entropy(y)?);
        }
        let loss_values: Vec<f64> = losses.iter().map(|l| l.scalar().map(|v| v as f64)).collect::<Result<_>>()?;
        let total = self.weighting.combine_losses(&losses)?;
        let total_value = total.scalar()? as f64;
        let grads = tape.backward(total)?;
        self.opt.step(&mut self.model, &grads)?;
        if let Some(w) = self.weighting.trainable() {
            self.weighting_opt.step(w, &grads)?;
        }
        Ok(StepOutput { losses: loss_values, total: total_value, predictions })
    }

    fn step_gradient_level(&mut self, x: &ndarray::Array4<f32>, targets: &[Vec<usize>]) -> Result<StepOutput> {
        let t = targets.len();
        let mut loss_values = Vec::with_capacity(t);
        let mut predictions = Vec::with_capacity(t);
        let mut flat: Vec<Vec<f32>> = Vec::with_capacity(t);
        let mut named: Vec<(String, Tensor<f32>)> = Vec::new();
        let xd = x.clone().into_dyn();
        for (task, y) in targets.iter().enumerate() {
            let tape = Tape::<f32>::new();
            let z = self.model.features(tape.constant(xd.clone()))?;
            let logits = self.model.head_logits(task, z, &mut Mode::Train(&mut self.dropout_rng))?;
            predictions.push(argmax_rows(&logits.value()));
            let loss = logits.cross_entropy(y)?;
            loss_values.push(loss.scalar()? as f64);
            let grads = tape.backward(loss)?;
            let mut g = Vec::new();
            for (name, shape) in self.shared_names.iter().zip(&self.shared_shapes) {
                match grads.param(name) {
                    Some(pg) => g.extend(pg.iter().copied()),
                    None => g.extend(std::iter::repeat_n(0.0, shape.iter().product())),
                }
            }
            flat.push(g);
            for name in self.model.head_names(task) {
                if let Some(pg) = grads.param(&name) {
                    named.push((name, pg));
                }
            }
        }
        let combo = self.weighting.combine_gradients(&loss_values, &flat)?;
        let mut offset = 0;
        for (name, shape) in self.shared_names.iter().zip(&self.shared_shapes) {
            let len: usize = shape.iter().product();
            let v = combo.shared[offset..offset + len].to_vec();
            offset += len;
            named.push((name.clone(), Tensor::from_shape_vec(shape.clone(), v).expect("sized")));
        }
        let grads = Grads::from_named(named);
        self.opt.step(&mut self.model, &grads)?;
        if let (Some(wg), Some(w)) = (combo.weighting_grads, self.weighting.trainable()) {
            self.weighting_opt.step(w, &wg)?;
        }
        Ok(StepOutput { total: loss_values.iter().sum(), losses: loss_values, predictions })
    }
}

/// Trains on `tasks` (task 0 principal) with weighting `spec`; see the [module docs](self).
/// `seeds` is the run's root node (streams under `seeds.child("mtl")`).
///
/// # Errors
/// [`Error::InvalidParam`] for an invalid config or empty splits, [`Error::InvalidData`] for
/// tasks whose label count differs from the dataset, plus model errors.
pub fn train(
    data: &Dataset,
    tasks: &[Task],
    splits: &Splits,
    spec: &WeightingSpec,
    cfg: &TrainConfig,
    seeds: &SeedTree,
    observer: &mut dyn Observer<MtlTrainer>,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    if tasks.is_empty() {
        return Err(Error::param("tasks", "need at least the principal task"));
    }
    for task in tasks {
        if task.labels.len() != data.len() {
            return Err(Error::InvalidData(format!(
                "task '{}' has {} labels but the dataset has {} images",
                task.name,
                task.labels.len(),
                data.len()
            )));
        }
    }
    if splits.train.is_empty() || splits.test.is_empty() {
        return Err(Error::param("splits", "train and test splits must be non-empty"));
    }
    if data.height() != data.width() {
        return Err(Error::param("dataset", format!("images must be square, got {}x{}", data.height(), data.width())));
    }
    let node = seeds.child("mtl");
    let classes: Vec<usize> = tasks.iter().map(|t| t.classes).collect();
    let mut trainer = MtlTrainer::new(cfg, data.channels(), data.height(), classes.clone(), spec, &node)?;
    let labels: Vec<Vec<usize>> = tasks.iter().map(|t| t.labels.clone()).collect();
    let steps_per_epoch = splits.train.len().div_ceil(cfg.batch_size);
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut records = Vec::with_capacity(cfg.epochs);
    let mut steps = 0;
    let mut stop = false;
    for epoch in 0..cfg.epochs {
        let t0 = std::time::Instant::now();
        let mut order = splits.train.clone();
        order.shuffle(&mut node.rng_indexed(streams::SHUFFLE, epoch as u64));
        let nt = tasks.len();
        let mut loss_sum = vec![0.0f64; nt];
        let mut total_sum = 0.0f64;
        let mut truth: Vec<Vec<usize>> = vec![Vec::with_capacity(order.len()); nt];
        let mut preds: Vec<Vec<usize>> = vec![Vec::with_capacity(order.len()); nt];
        let mut epoch_steps = 0;
        for (s, batch) in order.chunks(cfg.batch_size).enumerate() {
            let x = data.batch_nchw(batch);
            let targets: Vec<Vec<usize>> = labels.iter().map(|l| batch.iter().map(|&i| l[i]).collect()).collect();
            let out = trainer.step(&x, &targets)?;
            let diverged =
                |t: usize, l: f64| !l.is_finite() || l > DIVERGED_LOSS_RATIO * (tasks[t].classes.max(2) as f64).ln();
            if let Some((t, &l)) = out.losses.iter().enumerate().find(|&(t, &l)| diverged(t, l)) {
                return Err(Error::InvalidData(format!(
                    "training diverged: task '{}' loss {l} at epoch {epoch} batch {s} (step {}); lower --lr",
                    tasks[t].name,
                    steps + 1
                )));
            }
            for task in 0..nt {
                loss_sum[task] += out.losses[task];
                truth[task].extend_from_slice(&targets[task]);
                preds[task].extend_from_slice(&out.predictions[task]);
            }
            total_sum += out.total;
            steps += 1;
            epoch_steps += 1;
            let record = MtlStep {
                epoch,
                batch: s,
                batches_per_epoch: steps_per_epoch,
                global_step: steps,
                total_steps,
                images: batch.len(),
                loss: out.total,
            };
            if observer.on_step(&trainer, &record)? == Control::Stop {
                stop = true;
                break;
            }
        }
        let mean_losses: Vec<f64> = loss_sum.iter().map(|l| l / epoch_steps as f64).collect();
        let weights = trainer.weighting().weights();
        trainer.end_epoch(&mean_losses);
        let train_metrics = (0..nt)
            .map(|task| TaskMetrics {
                loss: mean_losses[task],
                accuracy: accuracy(&truth[task], &preds[task]),
                macro_f1: macro_f1(&truth[task], &preds[task]),
            })
            .collect();
        let val = match &splits.val {
            Some(v) if !v.is_empty() => Some(evaluate(&trainer.model, data, v, &labels, cfg.eval_batch_size)?),
            _ => None,
        };
        let test = evaluate(&trainer.model, data, &splits.test, &labels, cfg.eval_batch_size)?;
        let rec = MtlEpoch {
            epoch,
            train: train_metrics,
            val,
            test,
            total_loss: total_sum / epoch_steps as f64,
            weights,
            seconds: t0.elapsed().as_secs_f64(),
        };
        stop |= observer.on_epoch(&trainer, &rec)? == Control::Stop;
        records.push(rec);
        if stop {
            break;
        }
    }
    let (selected_epoch, selection) = if records.iter().all(|r| r.val.is_some()) {
        let mut best = 0;
        for (e, r) in records.iter().enumerate() {
            let acc = r.val.as_ref().expect("checked")[0].accuracy;
            if acc > records[best].val.as_ref().expect("checked")[0].accuracy {
                best = e;
            }
        }
        (best, "best_val_principal_accuracy")
    } else {
        (records.len() - 1, "last_epoch")
    };
    Ok(TrainOutcome {
        task_names: tasks.iter().map(|t| t.name.clone()).collect(),
        task_classes: classes,
        weighting: spec.to_string(),
        epochs: records,
        selected_epoch,
        selection,
        n_params: trainer.model.num_params(),
        steps,
    })
}
