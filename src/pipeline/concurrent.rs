//! Seeds run side by side: the pipeline of several master seeds inside one thread pool.
//!
//! A stage-1 step splits its work over the pool's threads, but at the presets' sizes much of
//! a step (element-wise ops, the optimiser, small convolutions) does not split well, so two
//! threads make one step only about 1.3–1.4× faster (`benches/README.md`). Seeds are
//! independent, so [`run_seeds`] runs them as a parallel map over the seeds in the
//! caller's pool: while there are at least as many seeds left as threads, each thread trains
//! a seed of its own; the last seeds get the idle threads through the pool's work stealing.
//!
//! Seeds are taken in waves of at most `2 × threads`, so at most that many seeds' data and
//! models are in memory at once, and each wave's outcomes are handed to the caller in seed
//! order before the next wave starts.
//!
//! The caller's [`PipelineObserver`] and [`Stage1Store`] are shared between the seeds behind a
//! mutex (their calls are per stage, epoch or step, never in a hot loop). When one seed fails,
//! the others of its wave stop at their next step or epoch (their observers return an error),
//! and the failing seed's error is returned — of several, the lowest seed's.
//!
//! **Determinism.** A seed's outcome does not depend on the pool size or on what runs beside
//! it (every kernel gives the same bits at any thread count, and no state is shared between
//! seeds but the observer and the store, which receive results and do not change them). Only
//! wall times and the interleaving of observer calls differ between runs.

use super::{run_seed, PipelineConfig, PipelineObserver, SeedOutcome, Stage1Store};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::mtl::MtlTrainer;
use crate::observe::{Control, Observed, Observer};
use crate::pipeline::verdict::Verdict;
use crate::stage1::{Stage1Config, Stage1Trainer, TrainState};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Runs [`run_seed`] for every seed of `seeds` (see the module docs) and calls
/// `on_outcome` with each outcome, in seed order.
///
/// # Errors
/// The error of the lowest failing seed, or the first error of `on_outcome`.
pub fn run_seeds(
    data: &Dataset,
    cfg: &PipelineConfig,
    seeds: &[u64],
    observer: &mut (dyn PipelineObserver + Send),
    store: &mut (dyn Stage1Store + Send),
    on_outcome: &mut dyn FnMut(SeedOutcome) -> Result<()>,
) -> Result<()> {
    let wave = 2 * rayon::current_num_threads().max(1);
    let shared = Shared { observer: Mutex::new(observer), store: Mutex::new(store) };
    for seeds in seeds.chunks(wave) {
        let cancel = Arc::new(AtomicBool::new(false));
        let results: Vec<(Result<SeedOutcome>, bool)> = seeds
            .par_iter()
            .map(|&seed| {
                let stopped = Arc::new(AtomicBool::new(false));
                let mut obs = SeedObserver { shared: &shared, cancel: &cancel, stopped: &stopped };
                let mut st = SeedStore { shared: &shared };
                let r = run_seed(data, cfg, seed, &mut obs, &mut st);
                let cancelled = stopped.load(Ordering::SeqCst);
                if r.is_err() && !cancelled {
                    cancel.store(true, Ordering::SeqCst);
                }
                (r, cancelled)
            })
            .collect();
        // The lowest seed's own error (not a cancellation), else any error, else the outcomes.
        let mut first_cancelled = None;
        let mut outcomes = Vec::with_capacity(results.len());
        for (r, cancelled) in results {
            match r {
                Ok(o) => outcomes.push(o),
                Err(e) if !cancelled => return Err(e),
                Err(e) => first_cancelled = first_cancelled.or(Some(e)),
            }
        }
        if let Some(e) = first_cancelled {
            return Err(e);
        }
        for o in outcomes {
            on_outcome(o)?;
        }
    }
    Ok(())
}

/// The caller's observer and store, shared by the seeds of a wave.
struct Shared<'a> {
    observer: Mutex<&'a mut (dyn PipelineObserver + Send)>,
    store: Mutex<&'a mut (dyn Stage1Store + Send)>,
}

/// Locks `m`; a poisoned lock (a panic in another seed's observer) is used as it is.
fn lock<'m, T: ?Sized>(m: &'m Mutex<T>) -> MutexGuard<'m, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One seed's view of the shared observer; its training observers fail once `cancel` is set.
struct SeedObserver<'s, 'a> {
    shared: &'s Shared<'a>,
    cancel: &'s Arc<AtomicBool>,
    stopped: &'s Arc<AtomicBool>,
}

impl PipelineObserver for SeedObserver<'_, '_> {
    fn on_stage(&mut self, seed: u64, stage: &str) {
        lock(&self.shared.observer).on_stage(seed, stage);
    }
    fn stage1(&mut self, seed: u64) -> Box<dyn Observer<Stage1Trainer>> {
        let inner = lock(&self.shared.observer).stage1(seed);
        Box::new(Cancellable { inner, seed, cancel: self.cancel.clone(), stopped: self.stopped.clone() })
    }
    fn on_verdict(&mut self, seed: u64, verdict: &Verdict) {
        lock(&self.shared.observer).on_verdict(seed, verdict);
    }
    fn on_epoch_verdict(&mut self, seed: u64, epoch: usize, verdict: &Verdict) {
        lock(&self.shared.observer).on_epoch_verdict(seed, epoch, verdict);
    }
    fn arm(&mut self, arm: &str, seed: u64) -> Box<dyn Observer<MtlTrainer>> {
        let inner = lock(&self.shared.observer).arm(arm, seed);
        Box::new(Cancellable { inner, seed, cancel: self.cancel.clone(), stopped: self.stopped.clone() })
    }
}

/// One seed's view of the shared store.
struct SeedStore<'s, 'a> {
    shared: &'s Shared<'a>,
}

impl Stage1Store for SeedStore<'_, '_> {
    fn load(&mut self, seed: u64, config: &Stage1Config, data: u64) -> Result<Option<TrainState>> {
        lock(&self.shared.store).load(seed, config, data)
    }
    fn save(&mut self, seed: u64, trainer: &Stage1Trainer, data: u64) -> Result<()> {
        lock(&self.shared.store).save(seed, trainer, data)
    }
}

/// A training observer that fails once another seed of the wave has failed.
struct Cancellable<O: ?Sized> {
    inner: Box<O>,
    seed: u64,
    cancel: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
}

impl<O: ?Sized> Cancellable<O> {
    fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::SeqCst) {
            self.stopped.store(true, Ordering::SeqCst);
            return Err(Error::InvalidData(format!("seed {}: stopped because another seed failed", self.seed)));
        }
        Ok(())
    }
}

impl<T: Observed> Observer<T> for Cancellable<dyn Observer<T>> {
    fn on_step(&mut self, t: &T, r: &T::Step) -> Result<Control> {
        self.check()?;
        self.inner.on_step(t, r)
    }
    fn on_epoch(&mut self, t: &T, r: &T::Epoch) -> Result<Control> {
        self.check()?;
        self.inner.on_epoch(t, r)
    }
}
