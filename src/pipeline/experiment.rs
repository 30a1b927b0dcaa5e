//! An experiment: the pipeline over several master seeds, and the report a person reads.
//!
//! [`Experiment::run`] calls [`super::run_seed`] for seeds `first_seed, first_seed + 1, …` on one
//! dataset and gathers, per seed, a [`SeedSummary`] (split sizes, the stage-1 probe table and
//! [`Verdict`], the discovered task) and every stage-3 run. The [`ExperimentReport`] adds, per
//! arm, the principal-task test accuracy at the validation-selected epoch (the headline) and at
//! the last epoch, and the [`PairedDifference`] of every arm to `stl` at both.
//!
//! With the `io` feature, [`Experiment::run_to_dir`] writes into a directory:
//!
//! | file | content |
//! |---|---|
//! | `report.json` | the numbers under stable keys (below); wall times only under `"timing"` |
//! | `report.md` | the same as tables: verdicts, arms, paired differences, probe tables, discovered tasks |
//! | `curves.png` | principal-task training loss and test accuracy per epoch of each arm (mean over seeds) |
//! | `traversal.png`, `reconstructions.png`, `clusters.png` | the first seed's pictures |
//! | `seed-S/…` | every seed's `aux_labels.npy` (int64, dataset order), the three pictures and `stage1.safetensors` (the stage-1 state, saved at every epoch end; see [`super::store`]); a finished run removes `seed-S` directories of seeds it did not run |
//!
//! Its [`Stage1Source`] says where stage 1 comes from: trained here, continued from the states
//! already in the directory (`Resume`: an interrupted run goes on where it stopped, finished
//! seeds are not trained again), or reused from another run directory (`Reuse`: experiments
//! that differ only after stage 1 share it). A stored state is used only with the same
//! stage-1 settings on the same training images.
//!
//! `report.json` keys: `version`; `config` (preset, dataset, principal, seeds, and every stage's
//! settings); `seeds` (list); `verdict` (`holds_for_every_seed`, `seeds_holding`, `seeds`,
//! `threshold`); `arms.<arm>` with `principal_test_accuracy`, `principal_test_macro_f1` and
//! `principal_test_accuracy_last_epoch` (each `{mean, std, values}`, values in seed order) and
//! `runs`; `paired_vs_stl.<arm>.{selected_epoch, last_epoch}` (each `{seeds, values, mean, std,
//! se, improved, n}`); `details.seeds[i]` with `seed`, `split`, `stage1_val_reconstruction`,
//! `probe_reconstruction`, `probe` (`factors`, `chance`, `accuracy[k][f]`, `n_train`, `n_test`,
//! `neighbours`), `verdict`, `chosen_subspace`, `subspace_scores`, `aux_classes`, `aux_sizes`,
//! `aux_nmi_with_factors`, `val_selection` (null, or `candidates[i]` with `subspace`,
//! `clustering`, `classes`, `val_accuracy`, then `chosen` and `epochs`), `stage1_epoch_verdicts`
//! (`[{epoch, verdict}]` with `probe_every_epoch`, else empty); `figures`; `timing`
//! (per stage: `disentangle`, `probe`, `cluster`, `learn`, `select` = the cost of
//! `detaux-mtl-val`'s choice).
//!
//! **Determinism.** Every seed's outcome is thread-count invariant ([`super::run_seed`]); the report
//! is assembled in seed order. Only `timing` differs between runs.

use super::stats::{paired_difference, PairedDifference};
use super::verdict::Verdict;
use super::{NoStore, PipelineConfig, PipelineObserver, Preset, SeedOutcome, Selection, Stage1Store};
use crate::data::spec::DatasetSpec;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::mtl::report::{ArmSummary, Report};
use crate::rng::SeedTree;

/// At most this many seeds in one experiment (each seed trains every stage).
pub const MAX_SEEDS: usize = 1000;

/// Everything an experiment needs.
#[derive(Clone, Debug)]
pub struct ExperimentConfig {
    /// The preset the settings came from (for the report).
    pub preset: String,
    /// Dataset SPEC.
    pub dataset: String,
    /// Principal factor by name or index; `None` = the dataset's own.
    pub principal: Option<String>,
    /// First master seed.
    pub first_seed: u64,
    /// Number of seeds.
    pub seeds: usize,
    /// Every stage's settings.
    pub pipeline: PipelineConfig,
}

impl ExperimentConfig {
    /// The settings of `preset`.
    pub fn from_preset(preset: &Preset) -> Self {
        ExperimentConfig {
            preset: preset.name.to_string(),
            dataset: preset.dataset.to_string(),
            principal: preset.principal.map(str::to_string),
            first_seed: preset.first_seed,
            seeds: preset.seeds,
            pipeline: preset.pipeline.clone(),
        }
    }

    /// Checks every setting that does not need the data.
    ///
    /// # Errors
    /// [`Error::InvalidParam`]: `seeds` outside `1..=MAX_SEEDS`, seeds that overflow `u64`, a
    /// SPEC that does not parse, or an invalid pipeline setting.
    pub fn validate(&self) -> Result<()> {
        if self.seeds == 0 || self.seeds > MAX_SEEDS {
            return Err(Error::param("--seeds", format!("must be in 1..={MAX_SEEDS}, got {}", self.seeds)));
        }
        if self.first_seed.checked_add(self.seeds as u64 - 1).is_none() {
            return Err(Error::param("--seed", format!("{} + {} seeds overflows", self.first_seed, self.seeds)));
        }
        self.dataset.parse::<DatasetSpec>()?;
        self.pipeline.validate()
    }

    /// The master seeds, in run order.
    pub fn seed_list(&self) -> Vec<u64> {
        (0..self.seeds as u64).map(|i| self.first_seed + i).collect()
    }

    /// Loads the dataset (procedural SPECs are seeded with `first_seed`), sets the principal
    /// factor, checks the oracle arms against its factors and resizes the images to the
    /// models' `image_size × image_size` input.
    ///
    /// # Errors
    /// Whatever the loader reports; an unknown principal factor; as
    /// [`super::OracleArms::resolve`].
    pub fn load_data(&self) -> Result<Dataset> {
        let spec: DatasetSpec = self.dataset.parse()?;
        let mut data = spec.load(&SeedTree::new(self.first_seed))?;
        if let Some(p) = &self.principal {
            data.set_principal(p)?;
        }
        self.pipeline.oracle.resolve(&data)?;
        let channels = data.channels();
        data.to_model_input(self.pipeline.stage1.image_size, channels)
    }

    /// One line on what runs: `SPEC (N images, principal 'NAME'), preset P, S seed(s)`.
    pub fn describe(&self, data: &Dataset) -> String {
        format!(
            "{} ({} images, principal '{}'), preset {}, {} seed(s)",
            self.dataset,
            data.len(),
            data.principal_spec().name,
            self.preset,
            self.seeds
        )
    }
}

/// A factor's NMI with the auxiliary labels.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct FactorNmi {
    /// Factor name.
    pub factor: String,
    /// NMI on all images.
    pub nmi: f64,
}

/// Split sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct SplitSizes {
    /// Training images (stage 1 and stage 3).
    pub train: usize,
    /// Validation images (epoch selection).
    pub val: usize,
    /// Test images.
    pub test: usize,
}

/// The probe table in report form.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct ProbeSummary {
    /// Factor names (columns).
    pub factors: Vec<String>,
    /// Chance level per factor.
    pub chance: Vec<f64>,
    /// `accuracy[k][f]`.
    pub accuracy: Vec<Vec<f64>>,
    /// Images whose codes vote (the stage-1 training images).
    pub n_train: usize,
    /// Images scored (held-out test images).
    pub n_test: usize,
    /// k of the k-NN vote.
    pub neighbours: usize,
}

/// What stages 1 and 2 of one seed produced.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct SeedSummary {
    /// Master seed.
    pub seed: u64,
    /// Split sizes.
    pub split: SplitSizes,
    /// Stage 1's last validation reconstruction loss (its held-out part of the training images).
    pub stage1_val_reconstruction: Option<f64>,
    /// Stage 1's reconstruction loss on the probed test images.
    pub probe_reconstruction: f64,
    /// The probe.
    pub probe: ProbeSummary,
    /// The verdict.
    pub verdict: Verdict,
    /// The clustered subspace.
    pub chosen_subspace: usize,
    /// `|mean ⟨s_k, s_0⟩|` for `k = 1..K`.
    pub subspace_scores: Vec<f64>,
    /// Number of auxiliary labels.
    pub aux_classes: usize,
    /// Images per auxiliary label.
    pub aux_sizes: Vec<usize>,
    /// NMI of the auxiliary labels with every known factor.
    pub aux_nmi_with_factors: Vec<FactorNmi>,
    /// The `detaux-mtl-val` arm's candidates and choice, if it ran.
    pub val_selection: Option<Selection>,
    /// With [`super::PipelineConfig::probe_every_epoch`], the verdict at every stage-1 epoch
    /// end this run trained; else empty.
    pub stage1_epoch_verdicts: Vec<EpochVerdict>,
}

/// The verdict on a stage-1 model at the end of one epoch.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct EpochVerdict {
    /// 1-based stage-1 epoch.
    pub epoch: usize,
    /// The verdict on the model at its end.
    pub verdict: Verdict,
}

impl SeedSummary {
    fn new(o: &SeedOutcome) -> Self {
        let t = &o.probe;
        SeedSummary {
            seed: o.seed,
            split: SplitSizes { train: o.split_sizes.0, val: o.split_sizes.1, test: o.split_sizes.2 },
            stage1_val_reconstruction: o.stage1_val_loss,
            probe_reconstruction: o.probe_reconstruction,
            probe: ProbeSummary {
                factors: t.factors.clone(),
                chance: t.chance.clone(),
                accuracy: t.accuracy.outer_iter().map(|r| r.to_vec()).collect(),
                n_train: t.n_train,
                n_test: t.n_test,
                neighbours: t.config.neighbours,
            },
            verdict: o.verdict.clone(),
            chosen_subspace: o.chosen_subspace,
            subspace_scores: o.subspace_scores.clone(),
            aux_classes: o.aux_classes,
            aux_sizes: o.aux_sizes.clone(),
            aux_nmi_with_factors: o.aux_nmi.iter().map(|(f, v)| FactorNmi { factor: f.clone(), nmi: *v }).collect(),
            val_selection: o.val_selection.clone(),
            stage1_epoch_verdicts: o
                .epoch_verdicts
                .iter()
                .map(|(epoch, verdict)| EpochVerdict { epoch: *epoch, verdict: verdict.clone() })
                .collect(),
        }
    }
}

/// One arm's paired differences to `stl`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct ArmPaired {
    /// Arm name.
    #[cfg_attr(feature = "io", serde(skip))]
    pub arm: String,
    /// At the reported (validation-selected, else last) epoch.
    pub selected_epoch: PairedDifference,
    /// At the last epoch.
    pub last_epoch: PairedDifference,
}

/// Everything an experiment measured.
#[derive(Clone, Debug)]
pub struct ExperimentReport {
    /// The settings.
    pub config: ExperimentConfig,
    /// Stages 1–2 per seed, in seed order.
    pub seeds: Vec<SeedSummary>,
    /// Every stage-3 run and the wall times.
    pub runs: Report,
}

fn by_seed(a: &ArmSummary, values: &[f64]) -> Vec<(u64, f64)> {
    a.seeds.iter().copied().zip(values.iter().copied()).collect()
}

impl ExperimentReport {
    /// Seeds whose verdict holds.
    pub fn seeds_holding(&self) -> usize {
        self.seeds.iter().filter(|s| s.verdict.isolates).count()
    }

    /// Paired differences of every arm but `stl` to `stl`, in report arm order (empty if there
    /// is no `stl` arm).
    ///
    /// # Errors
    /// As [`paired_difference`].
    pub fn paired(&self) -> Result<Vec<ArmPaired>> {
        let summaries = self.runs.summaries();
        let Some(stl) = summaries.iter().find(|a| a.arm == "stl") else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for a in summaries.iter().filter(|a| a.arm != "stl") {
            out.push(ArmPaired {
                arm: a.arm.clone(),
                selected_epoch: paired_difference(&by_seed(a, &a.accuracy), &by_seed(stl, &stl.accuracy))?,
                last_epoch: paired_difference(&by_seed(a, &a.accuracy_last), &by_seed(stl, &stl.accuracy_last))?,
            });
        }
        Ok(out)
    }

    /// The verdict lines, one per seed.
    pub fn verdict_text(&self) -> String {
        let mut s = format!(
            "stage-1 verdict: s0 isolates the principal on {} of {} seed(s)\n",
            self.seeds_holding(),
            self.seeds.len()
        );
        for x in &self.seeds {
            s += &format!("  seed {}: {}\n", x.seed, x.verdict.isolation_line());
            s += &format!("  seed {}: {}\n", x.seed, x.verdict.carried_line());
        }
        s
    }

    /// The paired-difference table as Markdown.
    ///
    /// # Errors
    /// As [`ExperimentReport::paired`].
    pub fn paired_markdown(&self) -> Result<String> {
        let mut s = String::from(
            "| arm | Δ accuracy vs stl (mean ± std) | standard error | seeds improved | Δ at the last epoch (mean ± std) | seeds improved (last) |\n|---|---|---|---|---|---|\n",
        );
        for p in self.paired()? {
            let (a, l) = (&p.selected_epoch, &p.last_epoch);
            s += &format!(
                "| {} | {:+.4} ± {:.4} | {:.4} | {} / {} | {:+.4} ± {:.4} | {} / {} |\n",
                p.arm, a.mean, a.std, a.se, a.improved, a.n, l.mean, l.std, l.improved, l.n
            );
        }
        s.push_str("\nΔ = arm − stl of the same seed (same split and initial trunk); std is over seeds, standard error = std / √n.\n");
        Ok(s)
    }

    /// Each seed's probe table and verdict as Markdown.
    pub fn probe_markdown(&self) -> String {
        let mut s = String::new();
        for x in &self.seeds {
            let p = &x.probe;
            s += &format!(
                "### Seed {}\n\nk-NN probe (k = {}): votes of the codes of {} stage-1 training images, scored on {} held-out test images; reconstruction loss on them {:.5}.\n\n| subspace |",
                x.seed,
                p.neighbours,
                p.n_train,
                p.n_test,
                x.probe_reconstruction
            );
            for f in &p.factors {
                s += &format!(" {f} |");
            }
            s += "\n|---|";
            s += &"---|".repeat(p.factors.len());
            s.push('\n');
            for (k, row) in p.accuracy.iter().enumerate() {
                let mark = if k == x.chosen_subspace { " (clustered)" } else { "" };
                s += &format!("| s{k}{mark} |");
                for v in row {
                    s += &format!(" {v:.3} |");
                }
                s.push('\n');
            }
            s += "| chance |";
            for v in &p.chance {
                s += &format!(" {v:.3} |");
            }
            s += &format!("\n\n- {}\n- {}\n\n", x.verdict.isolation_line(), x.verdict.carried_line());
        }
        s
    }

    /// The discovered task per seed as Markdown.
    pub fn discovered_markdown(&self) -> String {
        let mut s = String::from(
            "| seed | train / val / test images | chosen subspace | aux labels | label sizes | NMI(aux, factor) |\n|---|---|---|---|---|---|\n",
        );
        for x in &self.seeds {
            let nmi: Vec<String> =
                x.aux_nmi_with_factors.iter().map(|n| format!("{} {:.3}", n.factor, n.nmi)).collect();
            s += &format!(
                "| {} | {} / {} / {} | s{} | {} | {:?} | {} |\n",
                x.seed,
                x.split.train,
                x.split.val,
                x.split.test,
                x.chosen_subspace,
                x.aux_classes,
                x.aux_sizes,
                nmi.join(", ")
            );
        }
        s.push_str("\nThe chosen subspace is argmin over k >= 1 of |mean <s_k, s_0>| on the training images (or the --subspace override); NMI is computed on all images.\n");
        s
    }

    /// The `detaux-mtl-val` choices per seed as Markdown (empty if the arm did not run).
    pub fn val_selection_markdown(&self) -> String {
        let mut s = String::new();
        for x in &self.seeds {
            let Some(sel) = &x.val_selection else { continue };
            if s.is_empty() {
                s += &format!(
                    "Each candidate (subspace, clustering) trained a {}-epoch MTL run scored by its best principal-task accuracy on the validation split (no test image read); `detaux-mtl-val` is the full run with the best candidate.\n\n| seed | candidates | chosen | its validation accuracy | the rule's subspace |\n|---|---|---|---|---|\n",
                    sel.epochs
                );
            }
            let c = &sel.candidates[sel.chosen];
            let list: Vec<String> = sel
                .candidates
                .iter()
                .map(|c| match c.val_accuracy {
                    Some(a) => format!("s{} {} ({}): {a:.3}", c.subspace, c.clustering, c.classes),
                    None => format!("s{} {}: {} label", c.subspace, c.clustering, c.classes),
                })
                .collect();
            s += &format!(
                "| {} | {} | s{} {} | {:.4} | s{} |\n",
                x.seed,
                list.join("; "),
                c.subspace,
                c.clustering,
                c.val_accuracy.unwrap_or(f64::NAN),
                x.chosen_subspace
            );
        }
        s
    }

    /// A one-screen plain-text summary: the arms, the paired differences and the verdicts.
    ///
    /// # Errors
    /// As [`ExperimentReport::paired`].
    pub fn summary_text(&self) -> Result<String> {
        let mut s = self.runs.summary_text();
        s.push('\n');
        s += &format!("{:<26} {:>22} {:>10} {:>9}\n", "paired vs stl", "Δ accuracy", "std. err.", "improved");
        for p in self.paired()? {
            let a = &p.selected_epoch;
            s += &format!(
                "{:<26} {:>22} {:>10.4} {:>9}\n",
                p.arm,
                format!("{:+.4} ± {:.4}", a.mean, a.std),
                a.se,
                format!("{}/{}", a.improved, a.n)
            );
        }
        s.push('\n');
        s += &self.verdict_text();
        Ok(s)
    }

    /// `report.md`.
    ///
    /// # Errors
    /// As [`ExperimentReport::paired`].
    pub fn markdown(&self) -> Result<String> {
        let c = &self.config;
        let mut s = format!(
            "# Detaux report\n\nPreset `{}`, dataset `{}` ({side}×{side} model input), {} seed(s) from {}.\n\n## Stage-1 verdict\n\n",
            c.preset, c.dataset, c.seeds, c.first_seed, side = c.pipeline.stage1.image_size
        );
        s += &format!(
            "s0 isolates the principal factor (probe ≥ {:.2} on it, every other known factor predicted better by another subspace) on **{} of {}** seeds.\n\n",
            c.pipeline.isolation_threshold,
            self.seeds_holding(),
            self.seeds.len()
        );
        for x in &self.seeds {
            s += &format!("- seed {}: {}; {}\n", x.seed, x.verdict.isolation_line(), x.verdict.carried_line());
        }
        s += "\n## Principal task, test split\n\n";
        s += &self.runs.table_md();
        s += "\nMean ± sample standard deviation over seeds, at each run's reported epoch (the best validation epoch when a validation split is used, else the last; never chosen on test), and at the last epoch.\n\n## Paired differences to the single-task baseline\n\n";
        s += &self.paired_markdown()?;
        s += "\n## Per seed\n\n| arm | seed | accuracy | macro-F1 | reported epoch | accuracy at the last epoch |\n|---|---|---|---|---|---|\n";
        for r in &self.runs.runs {
            let p = r.outcome.principal_test();
            let last = r.outcome.epochs.last().map_or(f64::NAN, |e| e.test[0].accuracy);
            s += &format!(
                "| {} | {} | {:.4} | {:.4} | {} | {:.4} |\n",
                r.arm,
                r.seed,
                p.accuracy,
                p.macro_f1,
                r.outcome.selected_epoch + 1,
                last
            );
        }
        s += "\n## Stage 1: probe tables\n\n";
        s += &self.probe_markdown();
        s += "## Discovered auxiliary task per seed\n\n";
        s += &self.discovered_markdown();
        let val = self.val_selection_markdown();
        if !val.is_empty() {
            s += "\n## Validation-selected discovery (detaux-mtl-val)\n\n";
            s += &val;
            s += "\nIts cost is the `select` row of the wall-time table.\n";
        }
        if !self.runs.stage_seconds.is_empty() {
            s += "\n## Wall time\n\n| stage | seconds |\n|---|---|\n";
            for (n, t) in &self.runs.stage_seconds {
                s += &format!("| {n} | {t:.1} |\n");
            }
        }
        s += "\n## Pictures\n\n- Training curves (principal-task training loss and test accuracy per epoch, mean over seeds): ![curves](curves.png)\n";
        for (title, file) in &self.runs.figures {
            s += &format!("- {title}: ![{title}]({file})\n");
        }
        Ok(s)
    }
}

/// Runs an [`ExperimentConfig`] (see the module docs).
#[derive(Clone, Debug)]
pub struct Experiment {
    config: ExperimentConfig,
}

impl Experiment {
    /// A validated experiment.
    ///
    /// # Errors
    /// As [`ExperimentConfig::validate`].
    pub fn new(config: ExperimentConfig) -> Result<Self> {
        config.validate()?;
        Ok(Experiment { config })
    }

    /// The settings.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// Runs every seed on `data` (from [`ExperimentConfig::load_data`]), several at once when
    /// the calling thread pool has more than one thread (see [`super::concurrent`]).
    ///
    /// # Errors
    /// Whatever a stage reports.
    pub fn run(&self, data: &Dataset, observer: &mut (dyn PipelineObserver + Send)) -> Result<ExperimentReport> {
        self.run_with(data, observer, &mut NoStore, &mut |_, _| Ok(()))
    }

    /// Runs every seed, calling `on_seed(outcome, data)` after each, in seed order.
    fn run_with(
        &self,
        data: &Dataset,
        observer: &mut (dyn PipelineObserver + Send),
        store: &mut (dyn Stage1Store + Send),
        on_seed: &mut dyn FnMut(&SeedOutcome, &Dataset) -> Result<()>,
    ) -> Result<ExperimentReport> {
        let mut runs = Report::default();
        let mut seeds = Vec::new();
        let seed_list = self.config.seed_list();
        super::concurrent::run_seeds(data, &self.config.pipeline, &seed_list, observer, store, &mut |outcome| {
            on_seed(&outcome, data)?;
            for (name, s) in &outcome.stage_seconds {
                match runs.stage_seconds.iter_mut().find(|(n, _)| n == name) {
                    Some(t) => t.1 += s,
                    None => runs.stage_seconds.push((name.clone(), *s)),
                }
            }
            seeds.push(SeedSummary::new(&outcome));
            runs.runs.extend(outcome.runs);
            Ok(())
        })?;
        Ok(ExperimentReport { config: self.config.clone(), seeds, runs })
    }
}

#[cfg(feature = "io")]
pub use write::Stage1Source;

#[cfg(feature = "io")]
mod write {
    use super::super::store::{remove_other_seed_dirs, DirStore};
    use super::*;
    use crate::stage1::pictures::held_out_pictures;
    use serde_json::{json, Value};
    use std::path::Path;

    fn create_dir(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
    }

    /// Writes a seed's labels and pictures into `dir/seed-S/` (and the first seed's pictures
    /// into `dir`).
    fn write_seed(o: &SeedOutcome, data: &Dataset, dir: &Path, first: bool) -> Result<()> {
        let seed_dir = dir.join(format!("seed-{}", o.seed));
        create_dir(&seed_dir)?;
        crate::io::write_npy(&seed_dir.join("aux_labels.npy"), &[o.aux_labels.len()], &o.aux_labels)?;
        let loss = o.stage1.config().losses.reconstruction;
        let (recon, traversal) = held_out_pictures(o.stage1.model(), loss, data, &o.probe_images)?;
        let scatter = crate::viz::scatter_canvas(
            o.codes.view(),
            &o.aux_labels,
            None,
            &format!("subspace {} ({} aux labels), seed {}", o.chosen_subspace, o.aux_classes, o.seed),
            &SeedTree::new(o.seed),
        );
        let targets: Vec<&Path> = if first { vec![&seed_dir, dir] } else { vec![&seed_dir] };
        for d in targets {
            recon.save_png(&d.join("reconstructions.png"))?;
            traversal.save_png(&d.join("traversal.png"))?;
            scatter.save_png(&d.join("clusters.png"))?;
        }
        Ok(())
    }

    impl ExperimentConfig {
        /// The settings as JSON (the stage-1 part as in checkpoints: floats as exact strings).
        pub fn to_json(&self) -> Value {
            let p = &self.pipeline;
            json!({
                "preset": self.preset,
                "dataset": self.dataset,
                "principal": self.principal,
                "first_seed": self.first_seed,
                "seeds": self.seeds,
                "stage1": crate::stage1::checkpoint::config_to_json(&p.stage1),
                "stage1_trained_on": "training split (after the validation carve-out)",
                "probe": {"neighbours": p.probe.neighbours, "votes": "codes of the stage-1 training images",
                          "max_images": p.probe_max_images, "scored": "test split (seeded sample)",
                          "isolation_threshold": p.isolation_threshold, "every_epoch": p.probe_every_epoch},
                "mtl_val": p.val_selection.as_ref().map(|v| json!({
                    "subspaces": v.subspaces, "epochs": v.epochs,
                    "clusterings": v.clusterings.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })),
                "stage2": {"clustering": p.clustering.method.to_string(), "subspace": p.subspace.to_string(),
                           "n_init": p.clustering.n_init, "pixel_kmeans_max_fit": p.pixel_kmeans_max_fit},
                "oracle_arms": match &p.oracle {
                    super::super::OracleArms::None => json!("none"),
                    super::super::OracleArms::AllOther => json!("all"),
                    super::super::OracleArms::Factors(f) => json!(f),
                },
                "stage3": {"epochs": p.stage3.epochs, "batch_size": p.stage3.batch_size, "lr": p.stage3.lr,
                           "weight_decay": p.stage3.weight_decay, "optimizer": "AdamW",
                           "weighting": p.weighting.to_string(), "widths": p.stage3.widths,
                           "hidden": p.stage3.hidden, "dropout": p.stage3.dropout},
                "split": {"test_fraction": p.split.test_fraction, "train_fraction": p.split.train_fraction,
                          "val_fraction": p.split.val_fraction},
            })
        }
    }

    impl ExperimentReport {
        /// The document of `report.json` (keys in the module docs).
        ///
        /// # Errors
        /// As [`ExperimentReport::paired`]; [`Error::InvalidData`] if a value cannot be encoded.
        pub fn to_json(&self) -> Result<Value> {
            let enc = |e: serde_json::Error| Error::InvalidData(format!("report json: {e}"));
            let runs_json = self.runs.to_json();
            let mut paired = serde_json::Map::new();
            for p in self.paired()? {
                paired.insert(p.arm.clone(), serde_json::to_value(&p).map_err(enc)?);
            }
            Ok(json!({
                "version": env!("CARGO_PKG_VERSION"),
                "config": self.config.to_json(),
                "seeds": self.config.seed_list(),
                "verdict": {
                    "holds_for_every_seed": self.seeds_holding() == self.seeds.len(),
                    "seeds_holding": self.seeds_holding(),
                    "seeds": self.seeds.len(),
                    "threshold": self.config.pipeline.isolation_threshold,
                },
                "arms": runs_json["arms"],
                "paired_vs_stl": paired,
                "details": {"seeds": serde_json::to_value(&self.seeds).map_err(enc)?},
                "figures": runs_json["figures"],
                "timing": runs_json["timing"],
            }))
        }

        /// Writes `report.json`, `report.md` and `curves.png` into `dir`, each atomically.
        ///
        /// # Errors
        /// [`Error::Io`] on write failures; as [`ExperimentReport::to_json`].
        pub fn write(&self, dir: &Path) -> Result<()> {
            create_dir(dir)?;
            let text = serde_json::to_string_pretty(&self.to_json()?)
                .map_err(|e| Error::InvalidData(format!("report json: {e}")))?;
            crate::io::write_atomic(&dir.join("report.json"), text.as_bytes())?;
            crate::io::write_atomic(&dir.join("report.md"), self.markdown()?.as_bytes())?;
            self.runs.curves_canvas().save_png(&dir.join("curves.png"))
        }
    }

    /// Where [`Experiment::run_to_dir`] takes each seed's stage 1 from.
    #[derive(Clone, Debug, PartialEq, Eq, Default)]
    pub enum Stage1Source {
        /// Train every seed's stage 1 (the default).
        #[default]
        Train,
        /// Continue from the states in the output directory; seeds without one are trained.
        Resume,
        /// Reuse the finished states of this run directory (one per seed is required).
        Reuse(std::path::PathBuf),
    }

    impl Stage1Source {
        /// The source the flags `--stage1-from DIR` and `--resume` name (at most one of them).
        ///
        /// # Errors
        /// [`Error::InvalidParam`] named `--stage1-from` when `DIR` is not a directory.
        pub fn from_flags(stage1_from: Option<&Path>, resume: bool) -> Result<Self> {
            match stage1_from {
                Some(from) if !from.is_dir() => {
                    Err(Error::param("--stage1-from", format!("{} is not a run directory", from.display())))
                }
                Some(from) => Ok(Stage1Source::Reuse(from.to_path_buf())),
                None if resume => Ok(Stage1Source::Resume),
                None => Ok(Stage1Source::Train),
            }
        }
    }

    impl Experiment {
        /// Runs every seed and writes the report and every seed's labels, pictures and
        /// stage-1 state into `dir` (see the module docs).
        ///
        /// # Errors
        /// Whatever a stage reports; [`Error::InvalidParam`] (named `--resume` or
        /// `--stage1-from`) for a stored state made with other settings or data;
        /// [`Error::Io`] on write failures.
        pub fn run_to_dir(
            &self,
            data: &Dataset,
            dir: &Path,
            source: &Stage1Source,
            observer: &mut (dyn PipelineObserver + Send),
        ) -> Result<ExperimentReport> {
            create_dir(dir)?;
            let spec = &self.config.dataset;
            let mut store = match source {
                Stage1Source::Train => DirStore::fresh(dir, spec),
                Stage1Source::Resume => DirStore::resume(dir, spec),
                Stage1Source::Reuse(from) => DirStore::reuse(from, dir, spec),
            };
            let mut first = true;
            let mut report = self.run_with(data, observer, &mut store, &mut |o, d| {
                let r = write_seed(o, d, dir, first);
                first = false;
                r
            })?;
            report.runs.figures = vec![
                ("Stage-1 latent traversal (first seed)".into(), "traversal.png".into()),
                ("Stage-1 reconstructions (first seed)".into(), "reconstructions.png".into()),
                ("Chosen subspace, coloured by aux label (first seed)".into(), "clusters.png".into()),
            ];
            report.write(dir)?;
            remove_other_seed_dirs(dir, &self.config.seed_list())?;
            Ok(report)
        }
    }
}
