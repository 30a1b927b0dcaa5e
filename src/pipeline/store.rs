//! Where a pipeline keeps each seed's stage-1 state between runs.
//!
//! Stage 1 is the expensive part of a seed. A [`Stage1Store`] lets a run
//!
//! - **resume**: a seed whose stage 1 was interrupted continues from its last epoch-end state,
//!   and a seed whose stage 1 finished is not trained again;
//! - **reuse**: experiments that differ only after stage 1 (the clustering, the subspace, the
//!   stage-3 weighting) share one stage-1 run per seed.
//!
//! A stored state is used only when it was made with exactly the same stage-1 configuration
//! (seed and principal included) on exactly the same training images: the pipeline passes a
//! [`data_fingerprint`] of the stage-1 training set, and a store refuses a state whose
//! configuration or fingerprint differs, with an error that says which.
//!
//! [`NoStore`] keeps nothing (the default of [`super::Experiment::run`]); with the `io` feature,
//! [`DirStore`] keeps `seed-S/stage1.safetensors` files in the
//! [`crate::stage1::checkpoint`] format.
//!
//! ## Determinism
//! Training resumes at an epoch boundary with the weights, the Adam moments and the position;
//! every random stream is addressed by `(seed, epoch, batch)`, so a resumed or reused stage 1
//! is bitwise identical to an uninterrupted one and so is everything after it.

use crate::data::Dataset;
use crate::error::Result;
use crate::stage1::{Stage1Config, Stage1Trainer, TrainState};

/// Keeps seeds' stage-1 states (see the module docs).
pub trait Stage1Store {
    /// The state saved for `seed` with exactly `config` on the training images whose
    /// [`data_fingerprint`] is `data`, if there is one.
    ///
    /// # Errors
    /// A state exists but was made with another configuration or other data, or cannot be read.
    fn load(&mut self, seed: u64, config: &Stage1Config, data: u64) -> Result<Option<TrainState>>;

    /// Saves `trainer`'s state for `seed` (called at every stage-1 epoch end).
    ///
    /// # Errors
    /// The state cannot be written.
    fn save(&mut self, seed: u64, trainer: &Stage1Trainer, data: u64) -> Result<()>;
}

/// A [`Stage1Store`] that keeps nothing: every run trains stage 1 from scratch.
pub struct NoStore;

impl Stage1Store for NoStore {
    fn load(&mut self, _: u64, _: &Stage1Config, _: u64) -> Result<Option<TrainState>> {
        Ok(None)
    }
    fn save(&mut self, _: u64, _: &Stage1Trainer, _: u64) -> Result<()> {
        Ok(())
    }
}

/// The fingerprint of everything stage 1 reads of a dataset: [`Dataset::fingerprint`] (image
/// size, image bytes, factor names, cardinalities and values) combined with the principal
/// factor's index.
pub fn data_fingerprint(data: &Dataset) -> u64 {
    let head = format!("{}/{}", data.fingerprint(), data.principal());
    crate::rng::fnv1a64(&head)
}

#[cfg(feature = "io")]
pub use dir::{remove_other_seed_dirs, DirStore};

#[cfg(feature = "io")]
mod dir {
    use super::*;
    use crate::error::Error;
    use crate::stage1::checkpoint::{config_to_json, load_checkpoint, save_checkpoint};
    use std::path::{Path, PathBuf};

    /// The file of a seed's stage-1 state inside a run directory.
    pub fn stage1_path(dir: &Path, seed: u64) -> PathBuf {
        dir.join(format!("seed-{seed}")).join("stage1.safetensors")
    }

    /// Removes the `seed-S` directories of `dir` whose `S` is not in `seeds`: what an earlier
    /// run into `dir` with other seeds left, which the new report does not describe. Other
    /// entries are left alone.
    ///
    /// # Errors
    /// [`Error::Io`] naming the directory that cannot be listed or removed.
    pub fn remove_other_seed_dirs(dir: &Path, seeds: &[u64]) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            let seed = path.file_name().and_then(|n| n.to_str()?.strip_prefix("seed-")?.parse::<u64>().ok());
            if seed.is_some_and(|s| !seeds.contains(&s)) && path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }

    /// A [`Stage1Store`] on run directories: `DIR/seed-S/stage1.safetensors`.
    ///
    /// States are written (atomically, at every stage-1 epoch end) into the `write`
    /// directory and read from the `read` directory. The checkpoint's `dataset` field holds
    /// the dataset SPEC and `data_fingerprint` the training images' [`data_fingerprint`] (16 hex
    /// digits), so a state made on other data is refused.
    #[derive(Clone, Debug)]
    pub struct DirStore {
        read: Option<(PathBuf, &'static str)>,
        required: bool,
        write: Option<PathBuf>,
        spec: String,
    }

    impl DirStore {
        /// Writes every seed's state into `dir` and reads nothing (a fresh run).
        pub fn fresh(dir: &Path, spec: &str) -> Self {
            DirStore { read: None, required: false, write: Some(dir.to_path_buf()), spec: spec.to_string() }
        }

        /// Reads and writes `dir`: seeds with a state there continue from it (`--resume`).
        pub fn resume(dir: &Path, spec: &str) -> Self {
            DirStore {
                read: Some((dir.to_path_buf(), "--resume")),
                required: false,
                write: Some(dir.to_path_buf()),
                spec: spec.to_string(),
            }
        }

        /// Reads every seed's state from the run directory `from` (which must hold one per
        /// seed) and writes into `dir` (`--stage1-from`).
        pub fn reuse(from: &Path, dir: &Path, spec: &str) -> Self {
            DirStore {
                read: Some((from.to_path_buf(), "--stage1-from")),
                required: true,
                write: Some(dir.to_path_buf()),
                spec: spec.to_string(),
            }
        }

        fn data_id(data: u64) -> String {
            format!("{data:016x}")
        }
    }

    impl Stage1Store for DirStore {
        fn load(&mut self, seed: u64, config: &Stage1Config, data: u64) -> Result<Option<TrainState>> {
            let Some((dir, flag)) = &self.read else { return Ok(None) };
            let flag = *flag;
            let path = stage1_path(dir, seed);
            if !path.exists() {
                if self.required {
                    return Err(Error::param(
                        flag,
                        format!("{} does not exist (no stage-1 state for seed {seed})", path.display()),
                    ));
                }
                return Ok(None);
            }
            let ck = load_checkpoint(&path)?;
            if ck.data_fingerprint != Self::data_id(data) {
                return Err(Error::param(
                    flag,
                    format!(
                        "{} was trained on other data ('{}', fingerprint {}; this run: '{}', {})",
                        path.display(),
                        ck.dataset,
                        ck.data_fingerprint,
                        self.spec,
                        Self::data_id(data)
                    ),
                ));
            }
            let (have, want) = (config_to_json(&ck.config), config_to_json(config));
            if have != want {
                let (have, want) =
                    (have.as_object().cloned().unwrap_or_default(), want.as_object().cloned().unwrap_or_default());
                let differ: Vec<String> = want
                    .iter()
                    .filter(|(k, v)| have.get(*k) != Some(*v))
                    .map(|(k, v)| {
                        format!("{k}: {} there, {v} here", have.get(k).map_or("missing".into(), |h| h.to_string()))
                    })
                    .collect();
                return Err(Error::param(
                    flag,
                    format!("{} has another stage-1 configuration ({})", path.display(), differ.join("; ")),
                ));
            }
            Ok(Some(ck.state))
        }

        fn save(&mut self, seed: u64, trainer: &Stage1Trainer, data: u64) -> Result<()> {
            let Some(dir) = &self.write else { return Ok(()) };
            let path = stage1_path(dir, seed);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            save_checkpoint(&path, &trainer.state(), trainer.config(), &self.spec, &Self::data_id(data))
        }
    }
}
