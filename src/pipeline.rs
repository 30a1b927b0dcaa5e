//! The whole Detaux pipeline for one seed: stage 1 → stage 2 → stage 3 with its control arms.
//!
//! For a dataset already at model input size (`[n, c, 64, 64]` images, see
//! [`Dataset::to_model_input`]) and a master seed `s`:
//!
//! 1. **Split** ([`experiment_splits`], seed `s`): train (optionally scarce, `train_fraction`),
//!    optional validation, test. The test images are never used for training or selection.
//! 2. **Disentangle** ([`crate::stage1`]): the stage-1 model is trained on the *training* images
//!    only (its weak supervision uses the principal labels, so training it on test images
//!    would leak them), seed `s`. Then the K subspace codes of every image are exported,
//!    `[n, K, d]`.
//! 3. **Discover** ([`crate::cluster`]): the subspace `argmin_{k≥1} |mean_b ⟨s_k, s_0⟩|` over the
//!    training images (or an override), then k-means (fixed `k` or `k` chosen by silhouette) or
//!    HDBSCAN fitted on the training rows and predicting every row; HDBSCAN noise becomes label 0
//!    (the reference's +1 shift).
//! 4. **Learn** ([`crate::mtl::report::run_all_arms`]): `stl`, `detaux-mtl`, `random-aux` (uniform
//!    labels with the same `k`) and `pixel-kmeans-aux` (k-means with the same `k` on raw pixels
//!    of the training images), each with the same trunk, epochs and optimiser.
//!
//! ## Determinism
//! Every random draw comes from `SeedTree::new(s)` and its named children; every stage is
//! thread-count invariant, so a seed's metrics are bitwise identical at any `--threads`.
//! Only the wall times differ.

use crate::cluster::metrics::normalized_mutual_info;
use crate::cluster::{cluster_codes, select_subspace, KMeans};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::mtl::data::{experiment_splits, labels_from_i64, labels_task, principal_task, SplitConfig};
use crate::mtl::report::{pixel_kmeans_control, run_all_arms, ArmRun, SeedTasks};
use crate::mtl::weighting::WeightingSpec;
use crate::mtl::{Observer as MtlObserver, Splits, TrainConfig};
use crate::rng::SeedTree;
use crate::stage1::{export_latents, Observer as Stage1Observer, Stage1Config, Trainer};
use ndarray::{Array2, Array3, Axis};
use std::time::Instant;

pub use crate::cluster::{AuxClustering, Clustering};

/// Everything one pipeline run needs besides the data and the seed.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Stage-1 configuration; its `seed` is replaced by the run's seed.
    pub stage1: Stage1Config,
    /// Stage-2 method and k-means settings (its `n_init` also serves the pixel-k-means control).
    pub clustering: AuxClustering,
    /// Use this subspace instead of the selection rule.
    pub subspace: Option<usize>,
    /// Stage-3 splits.
    pub split: SplitConfig,
    /// Stage-3 training.
    pub stage3: TrainConfig,
    /// Stage-3 loss weighting of the MTL arms.
    pub weighting: WeightingSpec,
    /// At most this many training images are used to fit the pixel-k-means control.
    pub pixel_kmeans_max_fit: usize,
}

/// What one seed produced.
pub struct SeedOutcome {
    /// The master seed.
    pub seed: u64,
    /// Split sizes (train, val, test).
    pub split_sizes: (usize, usize, usize),
    /// The subspace that was clustered.
    pub chosen_subspace: usize,
    /// `subspace_scores[k − 1] = |mean_b ⟨s_k, s_0⟩|` for `k = 1..K` (training images).
    pub subspace_scores: Vec<f64>,
    /// Number of auxiliary labels.
    pub aux_classes: usize,
    /// Images per auxiliary label (all images).
    pub aux_sizes: Vec<usize>,
    /// NMI between the auxiliary labels and every factor, on all images: `(name, nmi)`.
    pub aux_nmi: Vec<(String, f64)>,
    /// Final validation reconstruction loss of stage 1.
    pub stage1_val_loss: Option<f64>,
    /// The stage-3 runs (`stl`, `detaux-mtl`, `random-aux`, `pixel-kmeans-aux`).
    pub runs: Vec<ArmRun>,
    /// Wall time of each stage, seconds (not deterministic).
    pub stage_seconds: Vec<(String, f64)>,
    /// The training images (dataset indices) — the images stage 1 was trained on.
    pub train_indices: Vec<usize>,
    /// The trained stage-1 model (for pictures).
    pub stage1: Trainer,
    /// The chosen subspace's codes of every image, `[n, d]`, and the aux labels (for pictures).
    pub codes: Array2<f32>,
    /// The auxiliary labels of every image, dataset order.
    pub aux_labels: Vec<i64>,
}

/// Progress hooks of [`run_seed`].
pub struct Hooks<'a> {
    /// Called when a stage starts: `(seed, stage name)`.
    pub stage: &'a mut dyn FnMut(u64, &str),
    /// Observes the stage-1 training.
    pub stage1: &'a mut dyn Stage1Observer,
    /// Gives the observer of each stage-3 run: `(arm, seed)`.
    pub arm: &'a mut dyn FnMut(&str, u64) -> Box<dyn MtlObserver>,
}

/// Passes stage-1 events on and keeps the last validation reconstruction loss.
struct ValLossRecorder<'a> {
    inner: &'a mut dyn Stage1Observer,
    last: Option<f64>,
}

impl Stage1Observer for ValLossRecorder<'_> {
    fn on_step(&mut self, t: &Trainer, r: &crate::stage1::StepRecord) -> Result<crate::stage1::Control> {
        self.inner.on_step(t, r)
    }
    fn on_epoch(&mut self, t: &Trainer, r: &crate::stage1::EpochRecord) -> Result<crate::stage1::Control> {
        self.last = Some(r.val_reconstruction);
        self.inner.on_epoch(t, r)
    }
}

/// Runs the pipeline for one seed (see the module docs).
///
/// # Errors
/// Whatever a stage reports (invalid parameters, too few images for the split or the
/// clustering, …).
pub fn run_seed(data: &Dataset, cfg: &PipelineConfig, seed: u64, hooks: &mut Hooks<'_>) -> Result<SeedOutcome> {
    let seeds = SeedTree::new(seed);
    let mut stage_seconds = Vec::new();
    let principal = principal_task(data)?;
    let splits: Splits = experiment_splits(data, &cfg.split, &seeds)?;

    (hooks.stage)(seed, "disentangle");
    let t = Instant::now();
    let train_data = data.select(&splits.train)?;
    let mut s1 = cfg.stage1.clone();
    s1.seed = seed;
    s1.principal = Some(data.principal_spec().name.clone());
    let mut trainer = Trainer::new(s1, &train_data)?;
    let mut recorder = ValLossRecorder { inner: &mut *hooks.stage1, last: None };
    trainer.run(&train_data, &mut recorder)?;
    let stage1_val_loss = recorder.last;
    let latents: Array3<f32> = export_latents(trainer.model(), data)?;
    stage_seconds.push(("disentangle".to_string(), t.elapsed().as_secs_f64()));

    (hooks.stage)(seed, "cluster");
    let t = Instant::now();
    let train_latents = latents.select(Axis(0), &splits.train);
    let choice = select_subspace(train_latents.view(), cfg.subspace)?;
    let codes = latents.index_axis(Axis(1), choice.chosen).to_owned();
    let fit = codes.select(Axis(0), &splits.train);
    let clustered = cluster_codes(fit.view(), codes.view(), &cfg.clustering, &seeds.child("cluster"))?;
    let aux_sizes = clustered.sizes();
    let aux_labels = clustered.labels;
    let aux = labels_task("aux", labels_from_i64(&aux_labels)?)?;
    if aux.classes < 2 {
        return Err(Error::InvalidData(format!(
            "stage 2 found {} auxiliary label(s) on subspace {}: nothing to learn beside the principal task \
             (try another --clustering or --subspace)",
            aux.classes, choice.chosen
        )));
    }
    let mut aux_nmi = Vec::new();
    for (j, spec) in data.factor_specs().iter().enumerate() {
        let truth: Vec<i64> = data.labels(j).iter().map(|&v| v as i64).collect();
        aux_nmi.push((spec.name.clone(), normalized_mutual_info(&truth, &aux_labels)?));
    }
    let pixel_kmeans = KMeans::new(aux.classes).n_init(cfg.clustering.n_init).seed(seeds.child("controls").seed_u64());
    let pixel = pixel_kmeans_control(data, &splits.train, cfg.pixel_kmeans_max_fit, &pixel_kmeans, &seeds)?;
    stage_seconds.push(("cluster".to_string(), t.elapsed().as_secs_f64()));

    (hooks.stage)(seed, "learn");
    let t = Instant::now();
    let tasks = SeedTasks { seed, discovered: aux.clone(), pixel_kmeans: Some(pixel) };
    let runs = run_all_arms(data, &splits, &principal, &tasks, &cfg.weighting, &cfg.stage3, hooks.arm)?;
    stage_seconds.push(("learn".to_string(), t.elapsed().as_secs_f64()));

    Ok(SeedOutcome {
        seed,
        split_sizes: (splits.train.len(), splits.val.as_ref().map_or(0, Vec::len), splits.test.len()),
        chosen_subspace: choice.chosen,
        subspace_scores: choice.scores.clone(),
        aux_classes: aux.classes,
        aux_sizes,
        aux_nmi,
        stage1_val_loss,
        runs,
        stage_seconds,
        train_indices: splits.train.clone(),
        stage1: trainer,
        codes,
        aux_labels,
    })
}
