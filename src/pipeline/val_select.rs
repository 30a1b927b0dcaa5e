//! `detaux-mtl-val`: choose the discovered task with validation data instead of the rule.
//!
//! The reference's rule clusters the subspace least aligned with s0 and never asks whether
//! the resulting task helps. This arm asks: for every candidate subspace `s` (default every
//! `s ≥ 1`) and every candidate clustering `c`, it clusters `s` with `c` exactly as stage 2
//! does (fit on the training rows, same seeds), trains a **short** MTL run
//! (`epochs` epochs, the stage-3 settings otherwise) on the training images, and scores it by
//! the best principal-task accuracy on the **validation** split over those epochs:
//!
//! ```text
//! score(s, c) = max_{e < epochs} acc_val(principal | MTL(principal, cluster_c(s)), epoch e)
//! (s*, c*)    = the first candidate, in (s, c) order, with the highest score
//! ```
//!
//! Then `detaux-mtl-val` is the full stage-3 run (same split, initial trunk and epochs as every
//! other arm) with the task `cluster_{c*}(s*)`. No test image is read while choosing: the short
//! runs are evaluated on the validation split only. The cost (the short runs' wall time) is
//! reported beside the gain.
//!
//! ## Determinism
//! Candidates are visited in a fixed order, each with the seed's own streams; ties go to the
//! first candidate, so the choice is thread-count invariant.

use crate::cluster::{cluster_codes, AuxClustering, Clustering};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::mtl::data::{labels_from_i64, labels_task};
use crate::mtl::report::run_arm;
use crate::mtl::weighting::WeightingSpec;
use crate::mtl::{Splits, Task, TrainConfig};
use crate::rng::SeedTree;
use ndarray::{ArrayView3, Axis};

/// Settings of the `detaux-mtl-val` arm.
#[derive(Clone, Debug, PartialEq)]
pub struct ValSelection {
    /// Candidate subspaces; `None` = every subspace `1..K`.
    pub subspaces: Option<Vec<usize>>,
    /// Candidate clusterings; empty = the pipeline's own.
    pub clusterings: Vec<Clustering>,
    /// Epochs of each candidate's short MTL run (≥ 1).
    pub epochs: usize,
}

impl ValSelection {
    /// Applies the three `--mtl-val-*` flags to `current`: nothing given keeps it, `epochs = 0`
    /// removes the arm, otherwise [`ValSelection::parse`].
    ///
    /// # Errors
    /// As [`ValSelection::parse`]; [`Error::InvalidParam`] named `--mtl-val-epochs` for candidate
    /// lists without it.
    pub fn apply_flags(
        current: &mut Option<ValSelection>,
        epochs: Option<usize>,
        clusterings: Option<&str>,
        subspaces: Option<&str>,
    ) -> Result<()> {
        match epochs {
            Some(0) => *current = None,
            Some(e) => *current = Some(Self::parse(e, clusterings, subspaces)?),
            None if clusterings.is_some() || subspaces.is_some() => {
                return Err(Error::param(
                    "--mtl-val-epochs",
                    "is required with --mtl-val-clusterings or --mtl-val-subspaces",
                ))
            }
            None => {}
        }
        Ok(())
    }

    /// From the `--mtl-val-*` forms: `epochs` (≥ 1), optional comma-separated clusterings
    /// (`kmeans:K`, …; `None` = the pipeline's own) and subspace indices (`None` = every
    /// subspace ≥ 1).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the flag of an entry that does not parse.
    pub fn parse(epochs: usize, clusterings: Option<&str>, subspaces: Option<&str>) -> Result<Self> {
        let clusterings = match clusterings {
            Some(s) => s
                .split(',')
                .map(|c| c.trim().parse().map_err(|e: Error| Error::param("--mtl-val-clusterings", e.to_string())))
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let subspaces = match subspaces {
            Some(s) => Some(
                s.split(',')
                    .map(|k| {
                        k.trim()
                            .parse::<usize>()
                            .map_err(|_| Error::param("--mtl-val-subspaces", format!("not a subspace index: '{k}'")))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        Ok(ValSelection { subspaces, clusterings, epochs })
    }

    /// Checks the settings against `k_subspaces` latent subspaces.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] (named `--mtl-val-*`) for zero epochs, no or out-of-range
    /// subspaces, or subspace 0 (the principal's own).
    pub fn validate(&self, k_subspaces: usize) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("--mtl-val-epochs", "must be >= 1 (or leave the arm out)"));
        }
        if let Some(s) = &self.subspaces {
            if s.is_empty() {
                return Err(Error::param("--mtl-val-subspaces", "no candidate subspace"));
            }
            if let Some(bad) = s.iter().find(|&&k| k == 0 || k >= k_subspaces) {
                return Err(Error::param(
                    "--mtl-val-subspaces",
                    format!("subspace {bad} is not in 1..{} (s0 holds the principal)", k_subspaces - 1),
                ));
            }
        }
        Ok(())
    }
}

/// One candidate's short run.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct Candidate {
    /// The clustered subspace.
    pub subspace: usize,
    /// The clustering, as `--clustering` reads it.
    pub clustering: String,
    /// Auxiliary classes it found (0 = skipped: fewer than 2).
    pub classes: usize,
    /// Best validation accuracy of the principal task over the short run's epochs.
    pub val_accuracy: Option<f64>,
}

/// What the selection did for one seed.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "io", derive(serde::Serialize))]
pub struct Selection {
    /// Every candidate, in visiting order.
    pub candidates: Vec<Candidate>,
    /// Index of the chosen candidate.
    pub chosen: usize,
    /// Epochs of each short run.
    pub epochs: usize,
}

/// Chooses the auxiliary task (see the module docs) and returns it with the record.
///
/// `latents` are every image's codes `[n, K, d]`; `splits.val` must be present. The wall time
/// is the caller's to measure (the pipeline reports it as the `select` stage).
///
/// # Errors
/// [`Error::InvalidParam`] without a validation split; clustering and training errors;
/// [`Error::InvalidData`] if no candidate gives 2 or more labels.
#[allow(clippy::too_many_arguments)]
pub fn select_task(
    sel: &ValSelection,
    data: &Dataset,
    latents: ArrayView3<f32>,
    splits: &Splits,
    principal: &Task,
    base: &AuxClustering,
    weighting: &WeightingSpec,
    stage3: &TrainConfig,
    seed: u64,
) -> Result<(Task, Selection)> {
    sel.validate(latents.shape()[1])?;
    let Some(val) = splits.val.clone() else {
        return Err(Error::param(
            "--mtl-val-epochs",
            "the detaux-mtl-val arm needs a validation split (--val-fraction > 0)",
        ));
    };
    // Short runs see the training and validation images only.
    let short_splits = Splits { train: splits.train.clone(), val: Some(val.clone()), test: val };
    let short = TrainConfig { epochs: sel.epochs, ..stage3.clone() };
    let subspaces: Vec<usize> = sel.subspaces.clone().unwrap_or_else(|| (1..latents.shape()[1]).collect());
    let clusterings: Vec<AuxClustering> = if sel.clusterings.is_empty() {
        vec![base.clone()]
    } else {
        sel.clusterings.iter().map(|m| AuxClustering { method: m.clone(), ..base.clone() }).collect()
    };
    let seeds = SeedTree::new(seed);
    let mut candidates = Vec::new();
    let mut best: Option<(usize, f64, Task)> = None;
    for &s in &subspaces {
        let codes = latents.index_axis(Axis(1), s).to_owned();
        let fit = codes.select(Axis(0), &splits.train);
        for c in &clusterings {
            let labels = cluster_codes(fit.view(), codes.view(), c, &seeds.child("cluster"))?.labels;
            let task = labels_task("aux", labels_from_i64(&labels)?)?;
            let mut cand =
                Candidate { subspace: s, clustering: c.method.to_string(), classes: task.classes, val_accuracy: None };
            if task.classes >= 2 {
                let run = run_arm(
                    "candidate",
                    data,
                    &short_splits,
                    principal,
                    Some(&task),
                    weighting,
                    &short,
                    seed,
                    &mut crate::mtl::train::NoObserver,
                )?;
                let acc = run
                    .outcome
                    .epochs
                    .iter()
                    .filter_map(|e| e.val.as_ref().map(|v| v[0].accuracy))
                    .fold(f64::NEG_INFINITY, f64::max);
                cand.val_accuracy = Some(acc);
                if best.as_ref().is_none_or(|(_, b, _)| acc > *b) {
                    best = Some((candidates.len(), acc, task));
                }
            }
            candidates.push(cand);
        }
    }
    let Some((chosen, _, task)) = best else {
        return Err(Error::InvalidData("detaux-mtl-val: no candidate subspace gave 2 or more auxiliary labels".into()));
    };
    Ok((task, Selection { candidates, chosen, epochs: sel.epochs }))
}
