//! The whole Detaux pipeline for one seed: stage 1 → stage 2 → stage 3 with its control arms.
//!
//! For a dataset already at model input size (`[n, c, s, s]` images with `s` =
//! `stage1.image_size`, see [`Dataset::to_model_input`]) and a master seed `s`:
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
//!    labels with the same `k`), `pixel-kmeans-aux` (k-means with the same `k` on raw pixels
//!    of the training images) and one `oracle-aux:<factor>` arm per chosen known factor (the
//!    true factor as the auxiliary task: the ceiling a perfect discovery could reach), each
//!    with the same split, initial trunk, epochs and optimiser.
//!
//! After stage 1, the **probe** ([`crate::stage1::probe_fit_score`]) measures how well each
//! subspace predicts each known factor: a k-NN vote among the codes of the stage-1 training
//! images, scored on held-out images (the test split, at most `probe_max_images`, never
//! trained on). The [`verdict`] states whether s0 isolates the principal factor and
//! what the clustered subspace carries. The probe is a diagnostic: nothing in the pipeline is
//! selected with it.
//!
//! Modules: [`preset`] (the presets as values), [`experiment`] (the multi-seed loop and its
//! report), [`verdict`], [`stats`] (paired differences to the baseline).
//!
//! # Library API
//! ```no_run
//! use detaux::pipeline::{Experiment, ExperimentConfig, Preset, Quiet};
//! let mut config = ExperimentConfig::from_preset(&Preset::digits());
//! config.seeds = 1; // every preset value is a plain field
//! config.pipeline.stage3.epochs = 20;
//! let data = config.load_data()?;
//! let report = Experiment::new(config)?.run(&data, &mut Quiet)?;
//! for seed in &report.seeds {
//!     println!("{}", seed.verdict.isolation_line());
//! }
//! println!("{}", report.summary_text()?);
//! # Ok::<(), detaux::Error>(())
//! ```
//!
//! ## Determinism
//! Every random draw comes from `SeedTree::new(s)` and its named children; every stage is
//! thread-count invariant, so a seed's metrics are bitwise identical at any `--threads`.
//! Only the wall times differ.

pub mod concurrent;
pub mod describe;
pub mod experiment;
pub mod preset;
pub mod stats;
pub mod store;
pub mod val_select;
pub mod verdict;

use crate::cluster::metrics::normalized_mutual_info;
use crate::cluster::{cluster_codes, select_subspace, KMeans};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::DisentangleModel;
use crate::mtl::data::{experiment_splits, labels_from_i64, labels_task, principal_task, SplitConfig};
use crate::mtl::report::{pixel_kmeans_control, run_arm, ArmRun, SeedTasks};
use crate::mtl::weighting::WeightingSpec;
use crate::mtl::{MtlTrainer, Splits, TrainConfig};
use crate::observe::{Control, NoObserver, Observer};
use crate::rng::SeedTree;
use crate::stage1::{
    encode_subspaces, export_latents, probe_fit_score, reconstruction_error, ProbeConfig, ProbeTable, RunEnd,
    Stage1Config, Stage1Epoch, Stage1Step, Stage1Trainer,
};
use ndarray::{Array2, Array3, Axis};
use std::time::Instant;
use verdict::Verdict;

pub use crate::cluster::{AuxClustering, Clustering};
#[cfg(feature = "io")]
pub use experiment::Stage1Source;
pub use experiment::{Experiment, ExperimentConfig, ExperimentReport, SeedSummary};
pub use preset::Preset;
pub use store::{NoStore, Stage1Store};
pub use val_select::{Selection, ValSelection};

/// Which oracle-aux control arms to train.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum OracleArms {
    /// None.
    None,
    /// One per known factor other than the principal (default).
    #[default]
    AllOther,
    /// These factors, by name.
    Factors(Vec<String>),
}

impl std::str::FromStr for OracleArms {
    type Err = Error;
    /// `all`, `none` or `FACTOR[,FACTOR…]` (the `--oracle-aux` forms).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "all" => Ok(OracleArms::AllOther),
            "none" => Ok(OracleArms::None),
            list => {
                let names: Vec<String> = list.split(',').map(|x| x.trim().to_string()).collect();
                if names.iter().any(String::is_empty) {
                    return Err(Error::param(
                        "--oracle-aux",
                        format!("expected all, none or FACTOR[,FACTOR…], got '{s}'"),
                    ));
                }
                Ok(OracleArms::Factors(names))
            }
        }
    }
}

impl OracleArms {
    /// The factor indices of `data` these arms use, in dataset factor order for `AllOther`,
    /// else in the given order.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] (named `--oracle-aux`) for an unknown factor, the principal
    /// factor, or a factor named twice.
    pub fn resolve(&self, data: &Dataset) -> Result<Vec<usize>> {
        let p = data.principal();
        match self {
            OracleArms::None => Ok(Vec::new()),
            OracleArms::AllOther => Ok((0..data.n_factors()).filter(|&f| f != p).collect()),
            OracleArms::Factors(names) => {
                let mut out = Vec::new();
                for n in names {
                    let f = data.factor_index(n).map_err(|_| {
                        let known: Vec<&str> = data.factor_specs().iter().map(|s| s.name.as_str()).collect();
                        Error::param("--oracle-aux", format!("unknown factor '{n}' (known: {})", known.join(", ")))
                    })?;
                    if f == p {
                        return Err(Error::param(
                            "--oracle-aux",
                            format!("'{n}' is the principal factor; an oracle arm needs another factor"),
                        ));
                    }
                    if out.contains(&f) {
                        return Err(Error::param("--oracle-aux", format!("'{n}' is named twice")));
                    }
                    out.push(f);
                }
                Ok(out)
            }
        }
    }
}

/// Which subspace stage 2 clusters.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SubspaceRule {
    /// The reference's rule: `argmin_{k≥1} |mean_b ⟨s_k, s_0⟩|` on the training images.
    #[default]
    Reference,
    /// This subspace (`--subspace K`).
    Fixed(usize),
    /// The subspace `k ≥ 1` that best predicts this known factor (`--subspace carrying:F`): the
    /// probe's k-NN vote among the training images' codes, scored on the **validation** split
    /// (never on test). A control that separates "the rule picks the wrong factor" from "the
    /// labels of the right factor do not help".
    Carrying(String),
}

impl std::str::FromStr for SubspaceRule {
    type Err = Error;
    /// `rule`, `K` or `carrying:FACTOR`.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some(("carrying", f)) if !f.is_empty() => Ok(SubspaceRule::Carrying(f.to_string())),
            _ if s == "rule" => Ok(SubspaceRule::Reference),
            _ => s.parse().map(SubspaceRule::Fixed).map_err(|_| {
                Error::param("--subspace", format!("expected rule, an index or carrying:FACTOR, got '{s}'"))
            }),
        }
    }
}

impl std::fmt::Display for SubspaceRule {
    /// The form [`str::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubspaceRule::Reference => f.write_str("rule"),
            SubspaceRule::Fixed(k) => write!(f, "{k}"),
            SubspaceRule::Carrying(name) => write!(f, "carrying:{name}"),
        }
    }
}

/// The subspace `k ≥ 1` whose codes best predict factor `factor` (k-NN votes of `fit`, scored
/// on `score`; ties go to the lower index). `latents` are `[n, K, d]`.
fn subspace_carrying(
    data: &Dataset,
    latents: &Array3<f32>,
    fit: &[usize],
    score: &[usize],
    factor: usize,
    probe: ProbeConfig,
) -> Result<usize> {
    let column = |idx: &[usize]| data.factors().select(Axis(0), idx).select(Axis(1), &[factor]);
    let names = [data.factor_specs()[factor].name.clone()];
    let table = probe_fit_score(
        latents.select(Axis(0), fit).view(),
        column(fit).view(),
        latents.select(Axis(0), score).view(),
        column(score).view(),
        &names,
        probe,
    )?;
    let mut best = 1;
    for k in 2..table.accuracy.nrows() {
        if table.accuracy[[k, 0]] > table.accuracy[[best, 0]] {
            best = k;
        }
    }
    Ok(best)
}

/// Everything one pipeline run needs besides the data and the seed.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Stage-1 configuration; its `seed` is replaced by the run's seed.
    pub stage1: Stage1Config,
    /// Stage-2 method and k-means settings (its `n_init` also serves the pixel-k-means control).
    pub clustering: AuxClustering,
    /// Which subspace stage 2 clusters.
    pub subspace: SubspaceRule,
    /// Stage-3 splits.
    pub split: SplitConfig,
    /// Stage-3 training.
    pub stage3: TrainConfig,
    /// Stage-3 loss weighting of the MTL arms.
    pub weighting: WeightingSpec,
    /// At most this many training images are used to fit the pixel-k-means control.
    pub pixel_kmeans_max_fit: usize,
    /// Oracle-aux control arms.
    pub oracle: OracleArms,
    /// The stage-1 probe's settings.
    pub probe: ProbeConfig,
    /// At most this many test images are probed (a seeded sample).
    pub probe_max_images: usize,
    /// The verdict's threshold on s0's probe accuracy for the principal factor.
    pub isolation_threshold: f64,
    /// The `detaux-mtl-val` arm ([`val_select`]); `None` = not trained.
    pub val_selection: Option<ValSelection>,
    /// Also probe stage 1 at every epoch end and report each epoch's verdict
    /// ([`PipelineObserver::on_epoch_verdict`], [`SeedOutcome::epoch_verdicts`]): how a
    /// stage-1 budget is chosen. Costs one probe (encoding the training and probed images) per
    /// epoch. Default off.
    pub probe_every_epoch: bool,
}

/// [`crate::models::trunk_widths`] with the error named after the flag.
fn image_side_widths(side: usize) -> Result<Vec<usize>> {
    crate::models::trunk_widths(side).map_err(|_| {
        Error::param("--image-size", format!("must be one of {:?}, got {side}", crate::models::IMAGE_SIDES))
    })
}

impl PipelineConfig {
    /// A configuration with the given stage configs and the defaults for the rest: k-means
    /// with `k` by silhouette in 2..=8, the selection rule, 20 % test, equal weighting, 2 000
    /// pixel-k-means fit images, every oracle arm, the default probe on at most 2 000 test
    /// images, threshold [`verdict::ISOLATION_THRESHOLD`].
    pub fn new(stage1: Stage1Config, stage3: TrainConfig) -> Self {
        PipelineConfig {
            stage1,
            clustering: AuxClustering::new(Clustering::KMeansAuto { k_min: 2, k_max: 8 }),
            subspace: SubspaceRule::Reference,
            split: SplitConfig::default(),
            stage3,
            weighting: WeightingSpec::Equal,
            pixel_kmeans_max_fit: 2000,
            oracle: OracleArms::AllOther,
            probe: ProbeConfig::default(),
            probe_max_images: 2000,
            isolation_threshold: verdict::ISOLATION_THRESHOLD,
            val_selection: None,
            probe_every_epoch: false,
        }
    }

    /// This configuration at image side `side` (`stage1.image_size`: the models' square input;
    /// images are resized to `side × side` once at load time), with stage 3's trunk widths set to the
    /// SimpleConv stack for that side ([`crate::models::trunk_widths`]: `[32, 64, 64]` at 32,
    /// the reference's `[32, 32, 64, 64]` at 64), so the stage-3 trunk is the stage-1 encoder's
    /// conv stack at every side.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] (named `--image-size`) if `side` is not a SimpleConv side.
    pub fn with_image_size(mut self, side: usize) -> Result<Self> {
        self.stage3.widths = image_side_widths(side)?;
        self.stage1.image_size = side;
        Ok(self)
    }

    /// Checks every field that does not need the data.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn validate(&self) -> Result<()> {
        image_side_widths(self.stage1.image_size)?;
        self.stage1.validate()?;
        self.stage3.validate()?;
        if self.pixel_kmeans_max_fit == 0 {
            return Err(Error::param("pixel_kmeans_max_fit", "must be >= 1"));
        }
        if self.probe_max_images < 4 {
            return Err(Error::param("probe_max_images", format!("must be >= 4, got {}", self.probe_max_images)));
        }
        if !(self.isolation_threshold > 0.0 && self.isolation_threshold <= 1.0) {
            return Err(Error::param(
                "isolation_threshold",
                format!("must be in (0, 1], got {}", self.isolation_threshold),
            ));
        }
        if matches!(self.subspace, SubspaceRule::Carrying(_)) && self.split.val_fraction.is_none_or(|v| v <= 0.0) {
            return Err(Error::param("--subspace", "carrying:FACTOR needs a validation split (--val-fraction > 0)"));
        }
        if let Some(sel) = &self.val_selection {
            sel.validate(self.stage1.n_subspaces)?;
            if self.split.val_fraction.is_none_or(|v| v <= 0.0) {
                return Err(Error::param(
                    "--mtl-val-epochs",
                    "the detaux-mtl-val arm needs a validation split (--val-fraction > 0)",
                ));
            }
        }
        Ok(())
    }
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
    /// Final validation reconstruction loss of stage 1 (its own held-out part of the
    /// training images).
    pub stage1_val_loss: Option<f64>,
    /// The probe on held-out test images.
    pub probe: ProbeTable,
    /// Mean reconstruction loss of stage 1 on the probed images.
    pub probe_reconstruction: f64,
    /// The probed images (dataset indices, ascending).
    pub probe_images: Vec<usize>,
    /// The verdict on the probe.
    pub verdict: Verdict,
    /// With [`PipelineConfig::probe_every_epoch`]: `(epoch, verdict)` at every stage-1 epoch end
    /// this run trained (1-based epochs; a resumed run starts at its first new epoch), else empty.
    pub epoch_verdicts: Vec<(usize, Verdict)>,
    /// The stage-3 runs (`stl`, `detaux-mtl`, `random-aux`, `pixel-kmeans-aux`, oracle arms).
    pub runs: Vec<ArmRun>,
    /// Wall time of each stage, seconds (not deterministic).
    pub stage_seconds: Vec<(String, f64)>,
    /// The training images (dataset indices) — the images stage 1 was trained on.
    pub train_indices: Vec<usize>,
    /// The trained stage-1 model (for pictures).
    pub stage1: Stage1Trainer,
    /// The chosen subspace's codes of every image, `[n, d]`, and the aux labels (for pictures).
    pub codes: Array2<f32>,
    /// The auxiliary labels of every image, dataset order.
    pub aux_labels: Vec<i64>,
    /// The `detaux-mtl-val` arm's choice, if it ran.
    pub val_selection: Option<Selection>,
}

/// Receives the progress of a pipeline run; every method has a do-nothing default. The
/// library prints nothing itself.
pub trait PipelineObserver {
    /// A stage of seed `seed` starts: `"disentangle"`, `"probe"`, `"cluster"` or `"learn"`.
    fn on_stage(&mut self, seed: u64, stage: &str) {
        let _ = (seed, stage);
    }
    /// The observer of seed `seed`'s stage-1 training.
    fn stage1(&mut self, seed: u64) -> Box<dyn Observer<Stage1Trainer>> {
        let _ = seed;
        Box::new(NoObserver)
    }
    /// Seed `seed`'s stage-1 verdict, as soon as it is known (before stage 3).
    fn on_verdict(&mut self, seed: u64, verdict: &Verdict) {
        let _ = (seed, verdict);
    }
    /// With [`PipelineConfig::probe_every_epoch`]: the verdict on seed `seed`'s stage-1 model
    /// at the end of epoch `epoch` (1-based).
    fn on_epoch_verdict(&mut self, seed: u64, epoch: usize, verdict: &Verdict) {
        let _ = (seed, epoch, verdict);
    }
    /// The observer of one stage-3 run.
    fn arm(&mut self, arm: &str, seed: u64) -> Box<dyn Observer<MtlTrainer>> {
        let _ = (arm, seed);
        Box::new(NoObserver)
    }
}

/// A [`PipelineObserver`] that ignores everything.
pub struct Quiet;
impl PipelineObserver for Quiet {}

/// The oracle-aux tasks of `arms`: for each resolved factor `f`, the arm name
/// `oracle-aux:<name of f>` and the task whose labels are exactly factor `f` of every image.
///
/// # Errors
/// As [`OracleArms::resolve`] and [`crate::mtl::Task::new`].
pub fn oracle_tasks(data: &Dataset, arms: &OracleArms) -> Result<Vec<(String, crate::mtl::Task)>> {
    let mut out = Vec::new();
    for f in arms.resolve(data)? {
        let spec = &data.factor_specs()[f];
        let name = format!("oracle-aux:{}", spec.name);
        out.push((name.clone(), crate::mtl::Task::new(name, data.labels(f), spec.cardinality, data.len())?));
    }
    Ok(out)
}

/// What the stage-1 probe reads: the data, the images whose codes vote (the training split)
/// and the probed images.
struct ProbeInputs<'a> {
    data: &'a Dataset,
    cfg: &'a PipelineConfig,
    fit: &'a [usize],
    probed: &'a [usize],
}

impl ProbeInputs<'_> {
    /// The probe table of `model` and the subspace the selection rule (or the override)
    /// picks on the training codes.
    fn table(&self, model: &DisentangleModel<f32>, override_k: Option<usize>) -> Result<(ProbeTable, usize)> {
        let fit_codes = encode_subspaces(model, self.data, self.fit)?;
        let fit_factors = self.data.factors().select(Axis(0), self.fit);
        let probe_codes = encode_subspaces(model, self.data, self.probed)?;
        let probe_factors = self.data.factors().select(Axis(0), self.probed);
        let names: Vec<String> = self.data.factor_specs().iter().map(|s| s.name.clone()).collect();
        let table = probe_fit_score(
            fit_codes.view(),
            fit_factors.view(),
            probe_codes.view(),
            probe_factors.view(),
            &names,
            self.cfg.probe,
        )?;
        let chosen = select_subspace(fit_codes.view(), override_k)?.chosen;
        Ok((table, chosen))
    }

    /// The verdict on `model` (the reference's subspace rule names the carried factor).
    fn verdict(&self, model: &DisentangleModel<f32>) -> Result<Verdict> {
        let (table, chosen) = self.table(model, None)?;
        verdict::verdict(&table, self.data.principal(), chosen, self.cfg.isolation_threshold)
    }
}

/// Passes stage-1 events on, saves the state into the store at every epoch end and, if
/// asked, probes the model there.
struct StoringObserver<'i, 's, 'p, 'o> {
    inner: &'i mut dyn Observer<Stage1Trainer>,
    store: &'s mut dyn Stage1Store,
    seed: u64,
    data: u64,
    /// The probe inputs, the pipeline's observer and the verdicts so far (`probe_every_epoch`).
    probe: Option<(&'p ProbeInputs<'p>, &'p mut (dyn PipelineObserver + 'o))>,
    verdicts: Vec<(usize, Verdict)>,
}

impl Observer<Stage1Trainer> for StoringObserver<'_, '_, '_, '_> {
    fn on_step(&mut self, t: &Stage1Trainer, r: &Stage1Step) -> Result<Control> {
        self.inner.on_step(t, r)
    }
    fn on_epoch(&mut self, t: &Stage1Trainer, r: &Stage1Epoch) -> Result<Control> {
        self.store.save(self.seed, t, self.data)?;
        let control = self.inner.on_epoch(t, r)?;
        if let Some((inputs, observer)) = &mut self.probe {
            let v = inputs.verdict(t.model())?;
            observer.on_epoch_verdict(self.seed, r.epoch + 1, &v);
            self.verdicts.push((r.epoch + 1, v));
        }
        Ok(control)
    }
}

/// Runs the pipeline for one seed (see the module docs); stage 1 continues from (or reuses)
/// the state `store` holds for this seed and saves into it at every epoch end. Stage 3's arms
/// run one after another (see [`concurrent::run_seeds`] for several seeds and arms side by
/// side, with the same results).
///
/// # Errors
/// Whatever a stage or the store reports (invalid parameters, too few images for the split or
/// the clustering, a stored state made with other settings, …).
pub fn run_seed(
    data: &Dataset,
    cfg: &PipelineConfig,
    seed: u64,
    observer: &mut dyn PipelineObserver,
    store: &mut dyn Stage1Store,
) -> Result<SeedOutcome> {
    let prepared = prepare_seed(data, cfg, seed, observer, store)?;
    let mut results = Vec::with_capacity(prepared.jobs());
    for job in 0..prepared.jobs() {
        results.push(prepared.run_job(job, data, cfg, observer)?);
    }
    Ok(prepared.finish(results))
}

/// A seed after stages 1 and 2 ([`prepare_seed`]): its stage-3 jobs (one per arm, then the
/// `detaux-mtl-val` selection if configured) and its outcome so far. The jobs share nothing
/// but this read-only state, so they may run in any order or side by side.
pub(crate) struct PreparedSeed {
    splits: Splits,
    principal: crate::mtl::Task,
    /// The codes of every image, `[n, K, d]`, kept only for the `detaux-mtl-val` selection.
    latents: Option<Array3<f32>>,
    arms: Vec<(String, Option<crate::mtl::Task>)>,
    /// Everything but the stage-3 runs, the selection and their wall times.
    outcome: SeedOutcome,
}

/// What one stage-3 job of a [`PreparedSeed`] produced.
pub(crate) enum JobResult {
    /// An arm's run.
    Arm(ArmRun),
    /// The `detaux-mtl-val` arm: the selection, its run, and the selection's wall time.
    Selected(Selection, ArmRun, f64),
}

impl PreparedSeed {
    /// The number of stage-3 jobs: the arms, plus one for `detaux-mtl-val` if configured.
    pub(crate) fn jobs(&self) -> usize {
        self.arms.len() + usize::from(self.latents.is_some())
    }

    /// Runs job `job` (`< self.jobs()`): arm `job`, or the `detaux-mtl-val` selection and arm.
    pub(crate) fn run_job(
        &self,
        job: usize,
        data: &Dataset,
        cfg: &PipelineConfig,
        observer: &mut dyn PipelineObserver,
    ) -> Result<JobResult> {
        let seed = self.outcome.seed;
        if let Some((arm, aux)) = self.arms.get(job) {
            let mut obs = observer.arm(arm, seed);
            let run = run_arm(
                arm,
                data,
                &self.splits,
                &self.principal,
                aux.as_ref(),
                &cfg.weighting,
                &cfg.stage3,
                seed,
                obs.as_mut(),
            )?;
            return Ok(JobResult::Arm(run));
        }
        let (Some(sel), Some(latents)) = (&cfg.val_selection, &self.latents) else {
            return Err(Error::param("job", format!("seed {seed} has {} stage-3 jobs, not {}", self.jobs(), job + 1)));
        };
        observer.on_stage(seed, "select");
        let t = Instant::now();
        let (task, selection) = val_select::select_task(
            sel,
            data,
            latents.view(),
            &self.splits,
            &self.principal,
            &cfg.clustering,
            &cfg.weighting,
            &cfg.stage3,
            seed,
        )?;
        let select_seconds = t.elapsed().as_secs_f64();
        let mut obs = observer.arm("detaux-mtl-val", seed);
        let run = run_arm(
            "detaux-mtl-val",
            data,
            &self.splits,
            &self.principal,
            Some(&task),
            &cfg.weighting,
            &cfg.stage3,
            seed,
            obs.as_mut(),
        )?;
        Ok(JobResult::Selected(selection, run, select_seconds))
    }

    /// The seed's outcome from the results of every job, in job order. `stage_seconds` gets
    /// `learn` (the arms' summed wall times) and, with `detaux-mtl-val`, `select` and a second
    /// `learn` (its arm).
    pub(crate) fn finish(self, results: Vec<JobResult>) -> SeedOutcome {
        let mut outcome = self.outcome;
        let mut learn = 0.0;
        let mut selected = None;
        for r in results {
            match r {
                JobResult::Arm(run) => {
                    learn += run.seconds;
                    outcome.runs.push(run);
                }
                JobResult::Selected(selection, run, seconds) => selected = Some((selection, run, seconds)),
            }
        }
        outcome.stage_seconds.push(("learn".to_string(), learn));
        if let Some((selection, run, seconds)) = selected {
            outcome.stage_seconds.push(("select".to_string(), seconds));
            outcome.stage_seconds.push(("learn".to_string(), run.seconds));
            outcome.runs.push(run);
            outcome.val_selection = Some(selection);
        }
        outcome
    }
}

/// Stages 1 and 2 of one seed (split, disentangle, probe, cluster, the control tasks): the
/// first half of [`run_seed`]. Ends by announcing the seed's `"learn"` stage.
pub(crate) fn prepare_seed(
    data: &Dataset,
    cfg: &PipelineConfig,
    seed: u64,
    observer: &mut dyn PipelineObserver,
    store: &mut dyn Stage1Store,
) -> Result<PreparedSeed> {
    cfg.validate()?;
    cfg.oracle.resolve(data)?;
    if data.height() != cfg.stage1.image_size || data.width() != cfg.stage1.image_size {
        return Err(Error::param(
            "dataset",
            format!(
                "{}: images are {}x{}, the pipeline's image_size is {} (resize with Dataset::to_model_input)",
                data.name(),
                data.height(),
                data.width(),
                cfg.stage1.image_size
            ),
        ));
    }
    let seeds = SeedTree::new(seed);
    let mut stage_seconds = Vec::new();
    let principal = principal_task(data)?;
    let splits: Splits = experiment_splits(data, &cfg.split, &seeds)?;

    // The probed test images: a seeded sample, fixed before stage 1 (the per-epoch probe uses
    // the same ones).
    let probe_images: Vec<usize> =
        crate::viz::scatter::sample_rows(splits.test.len(), cfg.probe_max_images, &seeds.child("probe"), "images")
            .into_iter()
            .map(|i| splits.test[i])
            .collect();
    let inputs = ProbeInputs { data, cfg, fit: &splits.train, probed: &probe_images };

    observer.on_stage(seed, "disentangle");
    let t = Instant::now();
    let train_data = data.select(&splits.train)?;
    let mut s1 = cfg.stage1.clone();
    s1.seed = seed;
    s1.principal = Some(data.principal_spec().name.clone());
    let fingerprint = store::data_fingerprint(&train_data);
    let mut trainer = match store.load(seed, &s1, fingerprint)? {
        Some(state) => Stage1Trainer::restore(s1, &train_data, state)?,
        None => Stage1Trainer::new(s1, &train_data)?,
    };
    let mut s1_observer = observer.stage1(seed);
    let probe = if cfg.probe_every_epoch { Some((&inputs, &mut *observer)) } else { None };
    let mut storing =
        StoringObserver { inner: s1_observer.as_mut(), store, seed, data: fingerprint, probe, verdicts: Vec::new() };
    let end = trainer.run(&train_data, &mut storing)?;
    let StoringObserver { store, verdicts: epoch_verdicts, .. } = storing;
    if end == RunEnd::Stopped {
        return Err(Error::InvalidData(format!(
            "seed {seed}: stage 1 was stopped by its observer before it finished (its last epoch-end state is in the store)"
        )));
    }
    drop(s1_observer);
    // A reused state runs no epoch above; keep it beside this run's other outputs as well.
    store.save(seed, &trainer, fingerprint)?;
    let stage1_val_loss = Some(trainer.validation_loss(&train_data)?);
    let latents: Array3<f32> = export_latents(trainer.model(), data)?;
    stage_seconds.push(("disentangle".to_string(), t.elapsed().as_secs_f64()));

    observer.on_stage(seed, "probe");
    let t = Instant::now();
    let (table, _) = inputs.table(trainer.model(), None)?;
    let probe_reconstruction =
        reconstruction_error(trainer.model(), trainer.config().losses.reconstruction, data, &probe_images)?;
    stage_seconds.push(("probe".to_string(), t.elapsed().as_secs_f64()));

    observer.on_stage(seed, "cluster");
    let t = Instant::now();
    let train_latents = latents.select(Axis(0), &splits.train);
    let override_k = match &cfg.subspace {
        SubspaceRule::Reference => None,
        SubspaceRule::Fixed(k) => Some(*k),
        SubspaceRule::Carrying(name) => {
            let f = data.factor_index(name).map_err(|e| Error::param("--subspace", e.to_string()))?;
            let Some(val) = &splits.val else {
                return Err(Error::param(
                    "--subspace",
                    "carrying:FACTOR needs a validation split (--val-fraction > 0)",
                ));
            };
            Some(subspace_carrying(data, &latents, &splits.train, val, f, cfg.probe)?)
        }
    };
    let choice = select_subspace(train_latents.view(), override_k)?;
    let codes = latents.index_axis(Axis(1), choice.chosen).to_owned();
    let fit = codes.select(Axis(0), &splits.train);
    let clustered = cluster_codes(fit.view(), codes.view(), &cfg.clustering, &seeds.child("cluster"))?;
    let verdict = verdict::verdict(&table, data.principal(), choice.chosen, cfg.isolation_threshold)?;
    observer.on_verdict(seed, &verdict);
    if clustered.classes() < 2 {
        return Err(Error::InvalidData(format!(
            "seed {seed}: stage 2 found {} auxiliary label(s) on subspace {}: nothing to learn beside the \
             principal task (try another --clustering or --subspace; `run --resume` into the same --out keeps \
             the finished stage 1)",
            clustered.classes(),
            choice.chosen
        )));
    }
    let aux_sizes = clustered.sizes();
    let aux_labels = clustered.labels;
    let aux = labels_task("aux", labels_from_i64(&aux_labels)?)?;
    let mut aux_nmi = Vec::new();
    for (j, spec) in data.factor_specs().iter().enumerate() {
        let truth: Vec<i64> = data.labels(j).iter().map(|&v| v as i64).collect();
        aux_nmi.push((spec.name.clone(), normalized_mutual_info(&truth, &aux_labels)?));
    }
    let pixel_kmeans = KMeans::new(aux.classes).n_init(cfg.clustering.n_init).seed(seeds.child("controls").seed_u64());
    let pixel = pixel_kmeans_control(data, &splits.train, cfg.pixel_kmeans_max_fit, &pixel_kmeans, &seeds)?;

    let oracle = oracle_tasks(data, &cfg.oracle)?;
    stage_seconds.push(("cluster".to_string(), t.elapsed().as_secs_f64()));

    let split_sizes = (splits.train.len(), splits.val.as_ref().map_or(0, Vec::len), splits.test.len());
    let (aux_classes, train_indices) = (aux.classes, splits.train.clone());
    let tasks = SeedTasks { seed, discovered: aux, pixel_kmeans: Some(pixel), oracle };
    let arms = tasks.arms(data)?;
    let latents = cfg.val_selection.as_ref().map(|_| latents);
    observer.on_stage(seed, "learn");
    Ok(PreparedSeed {
        splits,
        principal,
        latents,
        arms,
        outcome: SeedOutcome {
            seed,
            split_sizes,
            chosen_subspace: choice.chosen,
            subspace_scores: choice.scores.clone(),
            aux_classes,
            aux_sizes,
            aux_nmi,
            stage1_val_loss,
            probe: table,
            probe_reconstruction,
            probe_images,
            verdict,
            epoch_verdicts,
            runs: Vec::new(),
            stage_seconds,
            train_indices,
            stage1: trainer,
            codes,
            aux_labels,
            val_selection: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{FactorSpec, LabelKind};
    use ndarray::Array2;

    /// 60 images, factors (principal p, other f with 3 values); subspace 3 is f's one-hot,
    /// every other subspace is a fixed pseudo-random code: `carrying:f` must pick 3.
    #[test]
    fn carrying_picks_the_subspace_that_encodes_the_factor() {
        let n = 60;
        let factors = Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { (i % 2) as u32 } else { (i % 3) as u32 });
        let specs = vec![FactorSpec::new("p", 2), FactorSpec::new("f", 3)];
        let data = Dataset::new("toy", vec![0u8; n], 1, 1, 1, factors, specs, LabelKind::Factors).unwrap();
        let mut h = 0x2545_F491_4F6C_DD1Du64;
        let latents = Array3::from_shape_fn((n, 5, 3), |(i, k, j)| {
            if k == 3 {
                f32::from(u8::from(i % 3 == j))
            } else {
                h ^= h << 13;
                h ^= h >> 7;
                h ^= h << 17;
                (h % 1000) as f32 / 1000.0
            }
        });
        let fit: Vec<usize> = (0..40).collect();
        let score: Vec<usize> = (40..60).collect();
        let k = subspace_carrying(&data, &latents, &fit, &score, 1, ProbeConfig::default()).unwrap();
        assert_eq!(k, 3);
        assert_eq!("carrying:f".parse::<SubspaceRule>().unwrap(), SubspaceRule::Carrying("f".into()));
        assert_eq!("4".parse::<SubspaceRule>().unwrap(), SubspaceRule::Fixed(4));
        assert_eq!("rule".parse::<SubspaceRule>().unwrap(), SubspaceRule::Reference);
        assert!("carrying:".parse::<SubspaceRule>().is_err() && "x".parse::<SubspaceRule>().is_err());
        for r in [SubspaceRule::Reference, SubspaceRule::Fixed(2), SubspaceRule::Carrying("f".into())] {
            assert_eq!(r.to_string().parse::<SubspaceRule>().unwrap(), r);
        }
    }
}
