//! The stage-1 pair sampler (docs/method.md §5).
//!
//! An epoch is a list of pairs `(i1, i2)` of dataset indices drawn from a *pool* (e.g. the
//! training split):
//!
//! 1. **First images.** A seeded permutation of the pool, so every pool image appears once per
//!    epoch, as in the reference's forced-mode dataset. With `pairs_per_epoch = Some(m)`, the
//!    first `m` entries of the permutation (for `m` > pool size, further independent
//!    permutations are appended).
//! 2. **Partners**, mode [`PairMode::Intended`] `{ p }`: with probability `p` the partner's
//!    principal factor differs from the first image's, its new value uniform over the *other
//!    values present in the pool*; otherwise it is equal. The partner is then drawn uniformly
//!    among the pool images with that principal value. For a full factor grid (or a sub-grid
//!    given by factor ranges) each combination appears once, so this makes every other factor
//!    exactly uniform — the same distribution as "draw the other factors uniformly and look the
//!    tuple up". For a random subset of the grid it equals that rule with rejection of absent
//!    tuples (uniform over the present tuples), without ever looping. For class-labelled data
//!    (one factor `label`) it reads: a partner of a different class with probability `p`
//!    (class uniform over the other classes), else of the same class (possibly the first image
//!    itself, as in the reference).
//!    Mode [`PairMode::Uniform`]: the partner is uniform over the pool (the reference code's
//!    as-run behaviour for 3DShapes). Mode [`PairMode::Minimal`] `{ p }`: the principal factor
//!    changes with probability `p`, otherwise exactly one other factor does, and the partner
//!    agrees with the first image on as many of the remaining factors as the pool allows
//!    (PMP's one-factor `simple_dynamics` with the forced principal; a scan of one bucket per
//!    pair).
//! 3. **Batches**: consecutive chunks of `batch_size` pairs; with `drop_last` a final short
//!    chunk is dropped.
//!
//! **Reproducibility.** Epoch `e` depends only on (seed node, `e`, pool, config): the
//! permutation uses stream `SHUFFLE` (index = round) and the partners stream `PAIRS` of
//! `seeds.child_indexed("epoch", e)`. A trainer resuming mid-epoch recomputes
//! [`PairSampler::epoch_pairs`] and skips the batches already done. Sampling is sequential, so
//! it does not depend on the thread count.
//!
//! ```
//! use detaux::data::{shapes3d, pairs::{PairConfig, PairMode, PairSampler}};
//! use detaux::rng::SeedTree;
//! let idx = shapes3d::grid().first_n(600).unwrap();
//! let data = shapes3d::generate("demo", &idx).unwrap();
//! let pool: Vec<usize> = (0..data.len()).collect();
//! let config = PairConfig { mode: PairMode::Intended { p: 0.5 }, pairs_per_epoch: Some(64), batch_size: 32, drop_last: true };
//! let sampler = PairSampler::new(&data, &pool, data.principal(), config, SeedTree::new(7)).unwrap();
//! let batch = sampler.epoch_batches(0)[0].load(&data);
//! assert_eq!(batch.x1.shape(), &[32, 3, 64, 64]);
//! ```

use super::dataset::Dataset;
use crate::error::{Error, Result};
use crate::rng::{streams, SeedTree};
use ndarray::{Array2, Array4};
use rand::seq::SliceRandom;
use rand::Rng as _;

/// How partners are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PairMode {
    /// The intended sampler: principal factor differs with probability `p` (in `[0, 1]`).
    Intended {
        /// Probability that the partner's principal factor differs (reference default 0.5).
        p: f64,
    },
    /// Partner uniform over the pool (the reference's as-run behaviour).
    Uniform,
    /// Minimal change (PMP's `simple_dynamics` with one changed factor, plus the forced
    /// principal): with probability `p` the principal factor changes (new value uniform over
    /// the other present values), otherwise one other factor `f` (uniform over the factors with
    /// at least two values) changes; the partner is a pool image with the target principal
    /// value (and, in the second case, `f` different from the first image's) that agrees with
    /// the first image on as many remaining factors as possible (ties uniform). On a full grid
    /// exactly one factor changes; on a random subset, as few as the subset allows.
    Minimal {
        /// Probability that the partner's principal factor differs.
        p: f64,
    },
}

impl Default for PairMode {
    fn default() -> Self {
        PairMode::Intended { p: 0.5 }
    }
}

/// A [`PairMode`] without its probability: what `--pairs` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PairRule {
    /// Principal factor differs with probability p (docs/method.md §5).
    Intended,
    /// Partner uniform over the training images (reference as-run behaviour).
    Uniform,
    /// Principal factor changes with probability p, else one other factor; the rest kept
    /// where the data allows (PMP's one-factor pairs).
    Minimal,
}

impl PairMode {
    /// `self` with its rule and/or probability replaced. A new rule keeps the current
    /// probability (0.5 when coming from `Uniform`); a probability alone keeps the rule
    /// (`Intended` when the current rule is `Uniform`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] (named `--p`) for a probability with the `Uniform` rule.
    pub fn with(self, rule: Option<PairRule>, p: Option<f64>) -> Result<PairMode> {
        let keep = match self {
            PairMode::Intended { p } | PairMode::Minimal { p } => p,
            PairMode::Uniform => 0.5,
        };
        Ok(match (rule, p) {
            (Some(PairRule::Uniform), Some(_)) => {
                return Err(Error::param("--p", "only applies to --pairs intended or minimal"))
            }
            (Some(PairRule::Uniform), None) => PairMode::Uniform,
            (Some(PairRule::Minimal), p) => PairMode::Minimal { p: p.unwrap_or(keep) },
            (Some(PairRule::Intended), p) => PairMode::Intended { p: p.unwrap_or(keep) },
            (None, Some(p)) => match self {
                PairMode::Minimal { .. } => PairMode::Minimal { p },
                _ => PairMode::Intended { p },
            },
            (None, None) => self,
        })
    }
}

/// Sampler settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairConfig {
    /// Partner rule. Default: `Intended { p: 0.5 }`.
    pub mode: PairMode,
    /// Pairs per epoch; `None` = one per pool image (default).
    pub pairs_per_epoch: Option<usize>,
    /// Pairs per batch (reference: 32).
    pub batch_size: usize,
    /// Drop a final short batch (reference: true).
    pub drop_last: bool,
}

impl Default for PairConfig {
    fn default() -> Self {
        PairConfig { mode: PairMode::default(), pairs_per_epoch: None, batch_size: 32, drop_last: true }
    }
}

/// One batch of pairs, as indices; [`PairIndices::load`] turns it into tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairIndices {
    /// Dataset indices of the first images.
    pub first: Vec<usize>,
    /// Dataset indices of the partners.
    pub second: Vec<usize>,
}

/// One batch of pairs as tensors.
#[derive(Clone, Debug)]
pub struct PairBatch {
    /// First images, f32 in `[0, 1]`, `[b, c, h, w]`.
    pub x1: Array4<f32>,
    /// Partners, f32 in `[0, 1]`, `[b, c, h, w]`.
    pub x2: Array4<f32>,
    /// Factors of the first images, `[b, n_factors]`.
    pub f1: Array2<i64>,
    /// Factors of the partners, `[b, n_factors]`.
    pub f2: Array2<i64>,
    /// The indices the batch was built from.
    pub indices: PairIndices,
}

impl PairIndices {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.first.len()
    }
    /// `true` if there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }
    /// Converts to tensors (images per batch only, never the whole set).
    ///
    /// # Panics
    /// If an index is outside `dataset` (use the dataset the sampler was built on).
    pub fn load(&self, dataset: &Dataset) -> PairBatch {
        PairBatch {
            x1: dataset.batch_nchw(&self.first),
            x2: dataset.batch_nchw(&self.second),
            f1: dataset.factor_batch(&self.first),
            f2: dataset.factor_batch(&self.second),
            indices: self.clone(),
        }
    }
}

/// Draws epochs of pairs; see the module docs.
#[derive(Clone, Debug)]
pub struct PairSampler {
    pool: Vec<usize>,
    /// Principal value of every dataset image (only pool entries are read).
    principal_of: Vec<u32>,
    /// Pool members grouped by principal value (`buckets[v]`, ascending), empty if absent.
    buckets: Vec<Vec<usize>>,
    /// Principal values present in the pool, ascending.
    present: Vec<u32>,
    config: PairConfig,
    seeds: SeedTree,
    dataset_len: usize,
    /// The factor matrix (read by [`PairMode::Minimal`]).
    factors: Array2<u32>,
    principal: usize,
    /// Factors other than the principal taking at least two values in the pool.
    varying: Vec<usize>,
}

impl PairSampler {
    /// A sampler over `pool` (dataset indices) with principal factor `principal`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `p` outside `[0, 1]` (or NaN), `batch_size == 0`,
    /// `pairs_per_epoch == Some(0)`, an empty pool, a pool index outside the dataset, a
    /// principal index out of range, an epoch shorter than one batch with `drop_last`, or
    /// `p > 0` when the pool holds a single principal value (no partner can differ).
    pub fn new(
        dataset: &Dataset,
        pool: &[usize],
        principal: usize,
        config: PairConfig,
        seeds: SeedTree,
    ) -> Result<Self> {
        if let PairMode::Intended { p } | PairMode::Minimal { p } = config.mode {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::param("p", format!("must be in [0, 1], got {p}")));
            }
        }
        if config.batch_size == 0 {
            return Err(Error::param("batch_size", "must be >= 1, got 0"));
        }
        if config.pairs_per_epoch == Some(0) {
            return Err(Error::param("pairs_per_epoch", "must be >= 1, got 0"));
        }
        if pool.is_empty() {
            return Err(Error::param("pool", "the pair sampler needs at least one image, got 0"));
        }
        if let Some(&bad) = pool.iter().find(|&&i| i >= dataset.len()) {
            return Err(Error::param("pool", format!("index {bad} >= {} images of {}", dataset.len(), dataset.name())));
        }
        if principal >= dataset.n_factors() {
            return Err(Error::param(
                "principal",
                format!("factor index {principal} >= {} factors of {}", dataset.n_factors(), dataset.name()),
            ));
        }
        let epoch_len = config.pairs_per_epoch.unwrap_or(pool.len());
        if config.drop_last && epoch_len < config.batch_size {
            return Err(Error::param(
                "batch_size",
                format!("{} exceeds the {epoch_len} pairs per epoch, and drop_last leaves no batch", config.batch_size),
            ));
        }
        let principal_of: Vec<u32> = dataset.factors().column(principal).to_vec();
        let mut buckets = vec![Vec::new(); dataset.factor_specs()[principal].cardinality];
        for &i in pool {
            buckets[principal_of[i] as usize].push(i);
        }
        let present: Vec<u32> = (0..buckets.len() as u32).filter(|&v| !buckets[v as usize].is_empty()).collect();
        if let PairMode::Intended { p } | PairMode::Minimal { p } = config.mode {
            if p > 0.0 && present.len() < 2 {
                return Err(Error::param(
                    "p",
                    format!(
                        "{p} > 0 but factor '{}' takes a single value in the pool, so no partner can differ",
                        dataset.factor_specs()[principal].name
                    ),
                ));
            }
        }
        let varying: Vec<usize> = (0..dataset.n_factors())
            .filter(|&f| f != principal && pool.iter().any(|&i| dataset.factor(i, f) != dataset.factor(pool[0], f)))
            .collect();
        Ok(PairSampler {
            pool: pool.to_vec(),
            principal_of,
            buckets,
            present,
            config,
            seeds,
            dataset_len: dataset.len(),
            factors: dataset.factors().to_owned(),
            principal,
            varying,
        })
    }

    /// The settings.
    pub fn config(&self) -> &PairConfig {
        &self.config
    }
    /// Pairs per epoch.
    pub fn epoch_len(&self) -> usize {
        self.config.pairs_per_epoch.unwrap_or(self.pool.len())
    }
    /// Batches per epoch (after `drop_last`).
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.epoch_len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }
    /// Size of the dataset the sampler was built on.
    pub fn dataset_len(&self) -> usize {
        self.dataset_len
    }

    /// Every pair of epoch `e`, in order (deterministic in the seed node and `e`).
    pub fn epoch_pairs(&self, epoch: u64) -> Vec<(usize, usize)> {
        let node = self.seeds.child_indexed("epoch", epoch);
        let len = self.epoch_len();
        let mut firsts = Vec::with_capacity(len);
        let mut round = 0u64;
        while firsts.len() < len {
            let mut perm = self.pool.clone();
            perm.shuffle(&mut node.rng_indexed(streams::SHUFFLE, round));
            let take = (len - firsts.len()).min(perm.len());
            firsts.extend_from_slice(&perm[..take]);
            round += 1;
        }
        let mut rng = node.rng(streams::PAIRS);
        firsts
            .into_iter()
            .map(|i1| {
                let i2 = match self.config.mode {
                    PairMode::Uniform => self.pool[rng.gen_range(0..self.pool.len())],
                    PairMode::Intended { p } => {
                        let v1 = self.principal_of[i1];
                        let differ = rng.gen::<f64>() < p;
                        let v2 = if differ {
                            // Uniform over the other present values: skip v1's slot.
                            let pos = self.present.binary_search(&v1).expect("v1 is present in the pool");
                            let j = rng.gen_range(0..self.present.len() - 1);
                            self.present[if j >= pos { j + 1 } else { j }]
                        } else {
                            v1
                        };
                        let bucket = &self.buckets[v2 as usize];
                        bucket[rng.gen_range(0..bucket.len())]
                    }
                    PairMode::Minimal { p } => self.minimal_partner(i1, p, &mut rng),
                };
                (i1, i2)
            })
            .collect()
    }

    /// [`PairMode::Minimal`]'s partner of `i1`.
    fn minimal_partner(&self, i1: usize, p: f64, rng: &mut crate::rng::Rng) -> usize {
        let o = self.principal;
        let v1 = self.principal_of[i1];
        let row1 = self.factors.row(i1);
        let varying = &self.varying;
        let differ = varying.is_empty() || rng.gen::<f64>() < p;
        let (v2, changed) = if differ && self.present.len() >= 2 {
            let pos = self.present.binary_search(&v1).expect("v1 is present in the pool");
            let j = rng.gen_range(0..self.present.len() - 1);
            (self.present[if j >= pos { j + 1 } else { j }], None)
        } else if varying.is_empty() {
            return i1;
        } else {
            (v1, Some(varying[rng.gen_range(0..varying.len())]))
        };
        let mut best = usize::MAX;
        let mut ties: Vec<usize> = Vec::new();
        for &c in &self.buckets[v2 as usize] {
            let row = self.factors.row(c);
            if let Some(f) = changed {
                if row[f] == row1[f] {
                    continue;
                }
            }
            let mismatches = (0..row.len()).filter(|&g| g != o && Some(g) != changed && row[g] != row1[g]).count();
            if mismatches < best {
                best = mismatches;
                ties.clear();
            }
            if mismatches == best {
                ties.push(c);
            }
        }
        if ties.is_empty() {
            // No pool image with a different value of `changed` shares the principal value.
            let bucket = &self.buckets[v2 as usize];
            return bucket[rng.gen_range(0..bucket.len())];
        }
        ties[rng.gen_range(0..ties.len())]
    }

    /// The batches of epoch `e` as index lists (short last batch dropped if `drop_last`).
    pub fn epoch_batches(&self, epoch: u64) -> Vec<PairIndices> {
        let pairs = self.epoch_pairs(epoch);
        let b = self.config.batch_size;
        pairs
            .chunks(b)
            .filter(|c| !self.config.drop_last || c.len() == b)
            .map(|c| PairIndices { first: c.iter().map(|p| p.0).collect(), second: c.iter().map(|p| p.1).collect() })
            .collect()
    }

    /// Iterates over epoch `e`'s batches as tensors, skipping the first `skip` (resume).
    ///
    /// # Panics
    /// If `dataset` is not the one the sampler was built on (different length).
    pub fn iter_epoch<'a>(
        &self,
        dataset: &'a Dataset,
        epoch: u64,
        skip: usize,
    ) -> impl Iterator<Item = PairBatch> + 'a {
        assert_eq!(dataset.len(), self.dataset_len, "PairSampler used with a different dataset");
        self.epoch_batches(epoch).into_iter().skip(skip).map(move |b| b.load(dataset))
    }
}
