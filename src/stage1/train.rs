//! The stage-1 training loop: epochs of pairs, the β schedule, Adam, validation, resumable state.
//!
//! A [`Stage1Trainer`] owns the model, the optimizer, the pair sampler and three counters
//! (`epoch`, `batch` within the epoch, `global_step`). [`Stage1Trainer::run`] trains until
//! `epochs` are done or an [`Observer`] asks it to stop. Per step, for epoch `e` and batch `i`:
//!
//! 1. the pair batch `i` of epoch `e` ([`PairSampler::epoch_batches`], deterministic in
//!    `(seed, e)`), loaded as `x¹, x²: [B, c, 64, 64]` f32 in `[0, 1]`;
//! 2. optional salt-and-pepper noise on both halves (node `step(e, i)` children `x1`, `x2`);
//!    the noisy images are also the reconstruction target, as in the reference;
//! 3. `differs_b = [y¹_b[o] ≠ y²_b[o]]` for the principal factor `o` (forced oracle);
//! 4. `β = Betas::at(e, E)`; if consistency is active, `2B` mixes drawn from stream
//!    `CONSISTENCY` of node `step(e, i)`;
//! 5. [`training_step`] → backward → one Adam step.
//!
//! After the last batch of an epoch, the validation reconstruction loss (MSE or BCE, clean
//! images, no noise) is computed on the first `val_images` images of the held-out split and
//! reported with [`Stage1Epoch`].
//!
//! **Split.** A stratified seeded split on the principal factor ([`stratified_split`],
//! node `split`) holds out `val_fraction` of the images; pairs are drawn only from the rest.
//! The held-out images serve the validation loss, the pictures and the probe.
//!
//! **Determinism and resume.** Every random draw comes from a stream addressed by indices
//! under `SeedTree::new(seed).child("stage1")`: `init` (weights), `split`, `pairs` (the
//! sampler's node, which derives one node per epoch), and `step(e, i) =
//! child_indexed("epoch", e).child_indexed("batch", i)` (noise, mixes). No generator carries
//! state from one step to the next, so the full RNG state of a run is `(seed, epoch, batch)`:
//! a [`TrainState`] (weights, Adam moments and step counts, counters) restores a run exactly,
//! and the resumed run is bitwise identical to an uninterrupted one. Kernels split work over
//! outputs only, so results do not depend on the thread count.

use super::schedule::Betas;
use super::step::{training_step, LossConfig, LossTerms};
use crate::autodiff::{Tape, Tensor};
use crate::data::noise::SaltPepper;
use crate::data::pairs::{PairConfig, PairIndices, PairMode, PairSampler};
use crate::data::split::stratified_split;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::losses::{reconstruction_loss, sample_mixes, Oracle};
use crate::models::{DisentangleModel, ModelConfig};
use crate::nn::Module;
use crate::optim::{Adam, AdamConfig, AdamState, Optimizer, WeightDecay};
use crate::rng::{streams, SeedTree};
use ndarray::{Array3, Axis};
use std::collections::BTreeMap;

/// Which oracle the distance loss uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OracleMode {
    /// Detaux: subspace 0 is forced to carry the principal factor (default).
    Forced,
    /// PMP: the subspace with the largest normalised distance, for every pair.
    Unforced,
}

/// Every setting of a stage-1 run. [`Stage1Config::default`] gives the reference's values.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage1Config {
    /// Epochs `E` (the β schedules depend only on this). Default 40 (reference `launch_dis.sh`).
    pub epochs: usize,
    /// Pairs per epoch; `None` = one per training image (reference). See docs/method.md §4.
    pub pairs_per_epoch: Option<usize>,
    /// Pairs per batch `B`. Default 32.
    pub batch_size: usize,
    /// Adam: lr 5e-4, weight decay 1e-6 (L2, `torch.optim.Adam`), betas (0.9, 0.999), eps 1e-8.
    pub adam: AdamConfig,
    /// λs and loss variants (reference defaults).
    pub losses: LossConfig,
    /// Number of subspaces `K`. Default 10.
    pub n_subspaces: usize,
    /// Subspace width `d`. Default 10.
    pub latent_dim: usize,
    /// The principal factor by name or index; `None` = the dataset's principal factor.
    pub principal: Option<String>,
    /// Partner rule. Default `Intended { p: 0.5 }` (docs/method.md §5).
    pub pair_mode: PairMode,
    /// Oracle. Default forced.
    pub oracle: OracleMode,
    /// Salt-and-pepper noise on the training pairs; default off.
    pub noise: Option<SaltPepper>,
    /// Master seed. Default 1234 (reference).
    pub seed: u64,
    /// Fraction of the images held out (validation loss, pictures, probe). Default 0.1.
    pub val_fraction: f64,
    /// Held-out images used for the per-epoch validation loss. Default 512.
    pub val_images: usize,
    /// Side `s` of the model's square input; the dataset must already be `s × s`
    /// ([`Dataset::to_model_input`]). Default 64 (the reference's); one of
    /// [`crate::models::IMAGE_SIDES`].
    pub image_size: usize,
}

impl Default for Stage1Config {
    fn default() -> Self {
        Stage1Config {
            epochs: 40,
            pairs_per_epoch: None,
            batch_size: 32,
            adam: AdamConfig { lr: 5e-4, weight_decay: 1e-6, decay: WeightDecay::L2, ..AdamConfig::default() },
            losses: LossConfig::default(),
            n_subspaces: 10,
            latent_dim: 10,
            principal: None,
            pair_mode: PairMode::default(),
            oracle: OracleMode::Forced,
            noise: None,
            seed: 1234,
            val_fraction: 0.1,
            val_images: 512,
            image_size: 64,
        }
    }
}

impl Stage1Config {
    /// Checks every field that does not need the dataset.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field: `epochs ≥ 1`, `batch_size ≥ 1`,
    /// `pairs_per_epoch ≥ batch_size`, valid Adam and λs, `K ≥ 2`, `d ≥ 1`, `p` in `[0, 1]`,
    /// valid noise, `0 < val_fraction < 1`, `val_images ≥ 1`.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("epochs", "must be >= 1 (the beta schedules divide by it), got 0"));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "must be >= 1, got 0"));
        }
        if let Some(p) = self.pairs_per_epoch {
            if p < self.batch_size {
                return Err(Error::param(
                    "pairs_per_epoch",
                    format!("must be >= batch_size ({}), got {p}", self.batch_size),
                ));
            }
            if p > crate::limits::MAX_PAIRS_PER_EPOCH {
                return Err(Error::param(
                    "pairs_per_epoch",
                    format!(
                        "must be <= {} (the pairs of an epoch are drawn up front), got {p}",
                        crate::limits::MAX_PAIRS_PER_EPOCH
                    ),
                ));
            }
        }
        self.adam.validate()?;
        self.losses.validate()?;
        ModelConfig {
            channels: 3,
            latent_dim: self.latent_dim,
            n_subspaces: self.n_subspaces,
            image_size: self.image_size,
        }
        .validate()?;
        if let PairMode::Intended { p } | PairMode::Minimal { p } = self.pair_mode {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::param("p", format!("must be in [0, 1], got {p}")));
            }
        }
        if let Some(n) = &self.noise {
            n.validate()?;
        }
        crate::data::split::check_test_fraction(self.val_fraction)
            .map_err(|_| Error::param("val_fraction", format!("must be in (0, 1), got {}", self.val_fraction)))?;
        if self.val_images == 0 {
            return Err(Error::param("val_images", "must be >= 1, got 0"));
        }
        Ok(())
    }

    /// The root of the run's seed hierarchy (`SeedTree::new(seed).child("stage1")`).
    pub fn seeds(&self) -> SeedTree {
        SeedTree::new(self.seed).child("stage1")
    }
}

pub use crate::observe::{Control, NoObserver, Observed, Observer};

/// One finished training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage1Step {
    /// 0-based epoch of the step.
    pub epoch: usize,
    /// 0-based batch within the epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches_per_epoch: usize,
    /// Steps done so far, this one included.
    pub global_step: u64,
    /// Every loss term (unweighted) and the weighted total.
    pub terms: LossTerms,
    /// The epoch's loss weights.
    pub betas: Betas,
    /// Whether the consistency term was computed.
    pub consistency_active: bool,
    /// Pairs in the batch.
    pub pairs: usize,
}

/// One finished epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage1Epoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Validation reconstruction loss (clean held-out images).
    pub val_reconstruction: f64,
    /// Mean of each term over the epoch's steps (resumed runs included).
    pub mean_terms: LossTerms,
    /// Steps the mean is over.
    pub steps: usize,
}

impl std::fmt::Display for Stage1Epoch {
    /// `epoch E: validation reconstruction V, train total T (rec R)` (1-based epoch).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {:>3}: validation reconstruction {:.6}, train total {:.5} (rec {:.5})",
            self.epoch + 1,
            self.val_reconstruction,
            self.mean_terms.total,
            self.mean_terms.reconstruction
        )
    }
}

/// [`Stage1Trainer::run`] reports to an [`Observer<Stage1Trainer>`](Observer): [`Control::Stop`]
/// returns from it at once, resumable. The trainer's counters are already advanced when a
/// callback runs, so [`Stage1Trainer::state`] inside `on_step` is the state *after* that step
/// (save it to checkpoint).
impl Observed for Stage1Trainer {
    type Step = Stage1Step;
    type Epoch = Stage1Epoch;
}

/// How [`Stage1Trainer::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every epoch is done.
    Finished,
    /// An observer returned [`Control::Stop`].
    Stopped,
}

/// Everything needed to continue a run exactly (see the module docs): weights, Adam state and
/// the counters that address every RNG stream.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// Next epoch to run (0-based; `== epochs` when finished).
    pub epoch: usize,
    /// Next batch within `epoch`.
    pub batch: usize,
    /// Steps done.
    pub global_step: u64,
    /// Model parameters by name, in [`Module::visit_params`] order.
    pub params: Vec<(String, Tensor<f32>)>,
    /// Adam state by parameter name.
    pub adam: BTreeMap<String, AdamState<f32>>,
    /// Sum of each loss term over the current epoch's steps done so far (for [`Stage1Epoch`]).
    pub epoch_sum: LossTerms,
    /// Steps of the current epoch done so far.
    pub epoch_steps: usize,
}

/// The stage-1 trainer; see the module docs.
pub struct Stage1Trainer {
    config: Stage1Config,
    model: DisentangleModel<f32>,
    optimizer: Adam<f32>,
    sampler: PairSampler,
    split: Split,
    principal: usize,
    epoch: usize,
    batch: usize,
    global_step: u64,
    epoch_sum: LossTerms,
    epoch_steps: usize,
}

impl Stage1Trainer {
    /// A fresh run on `dataset`, whose images must already be `image_size × image_size`
    /// ([`Dataset::to_model_input`]).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an invalid config, an unknown principal factor, images not
    /// `image_size × image_size`, or a training pool too small for one batch.
    pub fn new(config: Stage1Config, dataset: &Dataset) -> Result<Stage1Trainer> {
        config.validate()?;
        let side = config.image_size;
        if dataset.height() != side || dataset.width() != side {
            return Err(Error::param(
                "dataset",
                format!(
                    "{}: images are {}x{}; resize to {side}x{side} first (Dataset::to_model_input)",
                    dataset.name(),
                    dataset.height(),
                    dataset.width(),
                ),
            ));
        }
        let principal = match &config.principal {
            Some(key) => dataset.factor_index(key)?,
            None => dataset.principal(),
        };
        let seeds = config.seeds();
        let split = held_out_split(&config, dataset, principal)?;
        if split.train.len() < config.batch_size {
            return Err(Error::param(
                "dataset",
                format!(
                    "{}: {} training images (after holding out {}) are fewer than one batch of {}",
                    dataset.name(),
                    split.train.len(),
                    split.test.len(),
                    config.batch_size
                ),
            ));
        }
        let pair_config = PairConfig {
            mode: config.pair_mode,
            pairs_per_epoch: config.pairs_per_epoch,
            batch_size: config.batch_size,
            drop_last: true,
        };
        let sampler = PairSampler::new(dataset, &split.train, principal, pair_config, seeds.child(streams::PAIRS))?;
        let model_config = ModelConfig {
            channels: dataset.channels(),
            latent_dim: config.latent_dim,
            n_subspaces: config.n_subspaces,
            image_size: side,
        };
        let model = DisentangleModel::new(model_config, &mut seeds.rng(streams::INIT))?;
        let optimizer = Adam::new(config.adam)?;
        Ok(Stage1Trainer {
            config,
            model,
            optimizer,
            sampler,
            split,
            principal,
            epoch: 0,
            batch: 0,
            global_step: 0,
            epoch_sum: LossTerms::default(),
            epoch_steps: 0,
        })
    }

    /// A run continued from `state` (same config and dataset as the run that saved it).
    ///
    /// # Errors
    /// As [`Stage1Trainer::new`]; [`Error::InvalidData`] if the state's parameters or Adam moments
    /// do not match the model (names, shapes) or its counters are out of range.
    pub fn restore(config: Stage1Config, dataset: &Dataset, state: TrainState) -> Result<Stage1Trainer> {
        let mut t = Stage1Trainer::new(config, dataset)?;
        let bpe = t.sampler.batches_per_epoch();
        let valid_counters = (state.epoch < t.config.epochs && state.batch < bpe)
            || (state.epoch == t.config.epochs && state.batch == 0);
        if !valid_counters {
            return Err(Error::InvalidData(format!(
                "checkpoint: position epoch {} batch {} is outside a run of {} epochs x {bpe} batches",
                state.epoch, state.batch, t.config.epochs
            )));
        }
        let mut expected = Vec::new();
        t.model.visit_params(&mut |p| expected.push((p.name.clone(), p.value.shape().to_vec())));
        if state.params.len() != expected.len() {
            return Err(Error::InvalidData(format!(
                "checkpoint: {} parameters, the model has {}",
                state.params.len(),
                expected.len()
            )));
        }
        for ((name, value), (want, shape)) in state.params.iter().zip(&expected) {
            if name != want || value.shape() != shape.as_slice() {
                return Err(Error::InvalidData(format!(
                    "checkpoint: parameter {name} {:?} where the model has {want} {shape:?}",
                    value.shape()
                )));
            }
        }
        for (name, st) in &state.adam {
            match expected.iter().find(|(n, _)| n == name) {
                Some((_, shape)) if st.m.shape() == shape.as_slice() && st.v.shape() == shape.as_slice() => {}
                _ => {
                    return Err(Error::InvalidData(format!("checkpoint: Adam state for {name} does not fit the model")))
                }
            }
        }
        let mut values = state.params.into_iter().map(|(_, v)| v);
        t.model.visit_params_mut(&mut |p| p.value = values.next().expect("counted above"));
        t.optimizer.set_state(state.adam);
        t.epoch = state.epoch;
        t.batch = state.batch;
        t.global_step = state.global_step;
        t.epoch_sum = state.epoch_sum;
        t.epoch_steps = state.epoch_steps;
        Ok(t)
    }

    /// A copy of the resumable state (weights, Adam, counters).
    pub fn state(&self) -> TrainState {
        let mut params = Vec::new();
        self.model.visit_params(&mut |p| params.push((p.name.clone(), p.value.clone())));
        TrainState {
            epoch: self.epoch,
            batch: self.batch,
            global_step: self.global_step,
            params,
            adam: self.optimizer.state().clone(),
            epoch_sum: self.epoch_sum,
            epoch_steps: self.epoch_steps,
        }
    }

    /// The config.
    pub fn config(&self) -> &Stage1Config {
        &self.config
    }
    /// The model.
    pub fn model(&self) -> &DisentangleModel<f32> {
        &self.model
    }
    /// The train (pair pool) / held-out split.
    pub fn split(&self) -> &Split {
        &self.split
    }
    /// Index of the principal factor.
    pub fn principal(&self) -> usize {
        self.principal
    }
    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.sampler.batches_per_epoch()
    }
    /// Next epoch to run.
    pub fn epoch(&self) -> usize {
        self.epoch
    }
    /// Next batch within the epoch.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Steps done.
    pub fn global_step(&self) -> u64 {
        self.global_step
    }
    /// Whether every epoch is done.
    pub fn finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// Trains until done or stopped by `observer` (see the module docs for one step).
    ///
    /// # Errors
    /// Errors of the observer; [`Error::InvalidData`] if a loss becomes non-finite (naming the
    /// step); [`Error::InvalidParam`] if `dataset` is not the one the trainer was built on.
    pub fn run(&mut self, dataset: &Dataset, observer: &mut dyn Observer<Stage1Trainer>) -> Result<RunEnd> {
        if dataset.len() != self.sampler.dataset_len() {
            return Err(Error::param(
                "dataset",
                format!("{} images, but the trainer was built on {}", dataset.len(), self.sampler.dataset_len()),
            ));
        }
        let seeds = self.config.seeds();
        let bpe = self.sampler.batches_per_epoch();
        while self.epoch < self.config.epochs {
            let epoch = self.epoch;
            let betas = Betas::at(epoch, self.config.epochs)?;
            let batches = self.sampler.epoch_batches(epoch as u64);
            while self.batch < bpe {
                let i = self.batch;
                let node = seeds.child_indexed("epoch", epoch as u64).child_indexed("batch", i as u64);
                let (terms, consistency_active) = self.step(dataset, &batches[i], &betas, &node)?;
                if !terms.total.is_finite() {
                    return Err(Error::InvalidData(format!(
                        "training diverged: loss {} at epoch {epoch} batch {i} (step {})",
                        terms.total, self.global_step
                    )));
                }
                add_terms(&mut self.epoch_sum, &terms);
                self.epoch_steps += 1;
                self.batch += 1;
                self.global_step += 1;
                if self.batch == bpe {
                    self.batch = 0;
                    self.epoch += 1;
                }
                let record = Stage1Step {
                    epoch,
                    batch: i,
                    batches_per_epoch: bpe,
                    global_step: self.global_step,
                    terms,
                    betas,
                    consistency_active,
                    pairs: batches[i].len(),
                };
                let epoch_done = self.epoch != epoch;
                let finished_epoch =
                    epoch_done.then(|| (std::mem::take(&mut self.epoch_sum), std::mem::take(&mut self.epoch_steps)));
                let mut stop = observer.on_step(self, &record)? == Control::Stop;
                if let Some((sum, steps)) = finished_epoch {
                    let val = self.validation_loss(dataset)?;
                    let record =
                        Stage1Epoch { epoch, val_reconstruction: val, mean_terms: scale_terms(&sum, steps), steps };
                    stop |= observer.on_epoch(self, &record)? == Control::Stop;
                }
                if stop {
                    return Ok(if self.finished() { RunEnd::Finished } else { RunEnd::Stopped });
                }
                if epoch_done {
                    break;
                }
            }
        }
        Ok(RunEnd::Finished)
    }

    fn step(
        &mut self,
        dataset: &Dataset,
        pairs: &PairIndices,
        betas: &Betas,
        node: &SeedTree,
    ) -> Result<(LossTerms, bool)> {
        let batch = pairs.load(dataset);
        let (mut x1, mut x2) = (batch.x1, batch.x2);
        if let Some(noise) = &self.config.noise {
            noise.apply(&mut x1, &node.child("x1"))?;
            noise.apply(&mut x2, &node.child("x2"))?;
        }
        let p = self.principal;
        let oracle = match self.config.oracle {
            OracleMode::Forced => {
                Oracle::Forced { differs: (0..pairs.len()).map(|b| batch.f1[[b, p]] != batch.f2[[b, p]]).collect() }
            }
            OracleMode::Unforced => Oracle::Unforced,
        };
        let active = betas.consistency_active(self.config.losses.lambda_consistency);
        let mixes =
            active.then(|| sample_mixes(self.config.n_subspaces, pairs.len(), &mut node.rng(streams::CONSISTENCY)));
        let tape = Tape::new();
        let out = training_step(
            &self.model,
            &tape,
            x1.into_dyn(),
            x2.into_dyn(),
            &oracle,
            betas,
            &self.config.losses,
            mixes.as_deref(),
        )?;
        let terms = out.terms;
        let grads = tape.backward(out.loss)?;
        self.optimizer.step(&mut self.model, &grads)?;
        Ok((terms, active))
    }

    /// Reconstruction loss of the model on the first `val_images` held-out images (clean).
    ///
    /// # Errors
    /// Shape errors only if the dataset does not fit the model.
    pub fn validation_loss(&self, dataset: &Dataset) -> Result<f64> {
        let n = self.split.test.len().min(self.config.val_images);
        reconstruction_error(&self.model, self.config.losses.reconstruction, dataset, &self.split.test[..n])
    }
}

/// The held-out split of a run: stratified on the principal factor, seeded by the run's
/// `split` node. Train = pair pool, test = held out.
///
/// # Errors
/// As [`stratified_split`].
pub fn held_out_split(config: &Stage1Config, dataset: &Dataset, principal: usize) -> Result<Split> {
    let all: Vec<usize> = (0..dataset.len()).collect();
    stratified_split(&all, &dataset.labels(principal), config.val_fraction, &config.seeds().child(streams::SPLIT))
}

/// Images per forward pass in evaluation (validation, export, pictures).
pub const EVAL_BATCH: usize = 128;

/// Mean reconstruction loss of `model` on images `indices` (weighted by batch size, so it is
/// the mean over all the images' values).
///
/// # Errors
/// Shape errors if the dataset does not fit the model; [`Error::InvalidParam`] if `indices`
/// is empty.
pub fn reconstruction_error(
    model: &DisentangleModel<f32>,
    loss: crate::losses::ReconstructionLoss,
    dataset: &Dataset,
    indices: &[usize],
) -> Result<f64> {
    if indices.is_empty() {
        return Err(Error::param("indices", "no images to evaluate"));
    }
    let mut total = 0.0;
    for chunk in indices.chunks(EVAL_BATCH) {
        let tape = Tape::new();
        let x = tape.constant(dataset.batch_nchw(chunk).into_dyn());
        let (_, decoded) = model.forward(x)?;
        let l = reconstruction_loss(loss, decoded, x)?;
        total += l.scalar()? as f64 * chunk.len() as f64;
    }
    Ok(total / indices.len() as f64)
}

/// The K subspace codes of images `indices`, `[n, K, d]` (row `i` is `indices[i]`).
///
/// # Errors
/// Shape errors if the dataset does not fit the model.
pub fn encode_subspaces(model: &DisentangleModel<f32>, dataset: &Dataset, indices: &[usize]) -> Result<Array3<f32>> {
    let (k, d) = (model.config.n_subspaces, model.config.latent_dim);
    let mut out = Array3::<f32>::zeros((indices.len(), k, d));
    for (c, chunk) in indices.chunks(EVAL_BATCH).enumerate() {
        let tape = Tape::new();
        let x = tape.constant(dataset.batch_nchw(chunk).into_dyn());
        let codes = model.project(model.encode(x)?)?.value(); // [K, b, d]
        let codes = codes.view().into_dimensionality::<ndarray::Ix3>().expect("codes are [K, b, d]");
        let start = c * EVAL_BATCH;
        out.slice_axis_mut(Axis(0), ndarray::Slice::from(start..start + chunk.len()))
            .assign(&codes.permuted_axes([1, 0, 2]));
    }
    Ok(out)
}

/// `latents.npy` content for stage 2: the codes of every image of `dataset`, in dataset
/// order, `[n, K, d]` f32.
///
/// # Errors
/// As [`encode_subspaces`].
pub fn export_latents(model: &DisentangleModel<f32>, dataset: &Dataset) -> Result<Array3<f32>> {
    let all: Vec<usize> = (0..dataset.len()).collect();
    encode_subspaces(model, dataset, &all)
}

/// Decodes codes `[n, K, d]` (summed over K) to images `[n, c, 64, 64]` (squashed for BCE).
///
/// # Errors
/// Shape errors if the codes do not fit the model.
pub fn decode_subspaces(
    model: &DisentangleModel<f32>,
    loss: crate::losses::ReconstructionLoss,
    codes: &Array3<f32>,
) -> Result<ndarray::Array4<f32>> {
    let tape = Tape::new();
    let z = tape.constant(codes.sum_axis(Axis(1)).into_dyn());
    let x = loss.squash(model.decode(z)?).value();
    (*x).clone().into_dimensionality::<ndarray::Ix4>().map_err(|e| Error::shape("decode_subspaces", e.to_string()))
}

fn add_terms(acc: &mut LossTerms, t: &LossTerms) {
    acc.reconstruction += t.reconstruction;
    acc.sparsity += t.sparsity;
    acc.consistency += t.consistency;
    acc.distance += t.distance;
    acc.distribution += t.distribution;
    acc.total += t.total;
}

fn scale_terms(t: &LossTerms, n: usize) -> LossTerms {
    let s = 1.0 / n.max(1) as f64;
    LossTerms {
        reconstruction: t.reconstruction * s,
        sparsity: t.sparsity * s,
        consistency: t.consistency * s,
        distance: t.distance * s,
        distribution: t.distribution * s,
        total: t.total * s,
    }
}
