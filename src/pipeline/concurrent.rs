//! Seeds and arms run side by side: the pipeline of several master seeds inside one thread
//! pool.
//!
//! A stage-1 step splits its work over the pool's threads, but at the presets' sizes much of
//! a step (element-wise ops, the optimiser, small convolutions) does not split well, so two
//! threads make one step only about 1.3–1.4× faster (`benches/README.md`); the same holds for
//! a stage-3 step. The pipeline's work is made of independent **jobs**: per seed, one
//! *prepare* job (split, stage 1, probe, stage 2: the first half of [`super::run_seed`])
//! and, once it is done, one job per stage-3 arm (and one for `detaux-mtl-val`). [`run_seeds`] runs one *worker* per
//! pool thread; each worker takes the next job from a shared board — every seed's prepare job
//! first (in seed order; they are the long ones), then the arms (in seed order, then report
//! order) — so every thread trains a model of its own while there is one to train. A worker
//! that finds no job while a prepare job is still running lends its thread to the other jobs'
//! parallel loops until a job appears; once no job can appear it returns, and its thread
//! serves the remaining jobs' loops as any idle pool thread. With 3 seeds on 2 threads, the
//! third seed's stage 1 runs beside the first two seeds' arms instead of after them.
//!
//! Seeds are taken in waves of at most `2 × threads`, so at most that many seeds' data and
//! models are in memory at once, and each wave's outcomes are handed to the caller in seed
//! order before the next wave starts.
//!
//! The caller's [`PipelineObserver`] and [`Stage1Store`] are shared between the jobs behind a
//! mutex (their calls are per stage, epoch or step, never in a hot loop). When a job fails,
//! no new job starts and the running ones stop at their next step or epoch (their observers
//! return an error); the failing job's error is returned — of several, the lowest seed's.
//!
//! **Determinism.** A job's result does not depend on the pool size or on what runs beside it
//! (every kernel gives the same bits at any thread count, each arm is seeded on its own, and no
//! state is shared between jobs but the observer and the store, which receive results and do
//! not change them). Only wall times and the interleaving of observer calls differ between
//! runs.

use super::{prepare_seed, JobResult, PipelineConfig, PipelineObserver, PreparedSeed, SeedOutcome, Stage1Store};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::mtl::MtlTrainer;
use crate::observe::{Control, Observed, Observer};
use crate::pipeline::verdict::Verdict;
use crate::stage1::{Stage1Config, Stage1Trainer, TrainState};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Runs the pipeline for every seed of `seeds` (see the module docs; each seed's outcome is
/// [`super::run_seed`]'s) and calls `on_outcome` with each outcome, in seed order.
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
        let w = Wave {
            data,
            cfg,
            seeds,
            shared: &shared,
            board: Mutex::new(Board {
                next_prepare: 0,
                preparing: 0,
                ready: BTreeSet::new(),
                results: seeds.iter().map(|_| Vec::new()).collect(),
                errors: Vec::new(),
            }),
            prepared: seeds.iter().map(|_| OnceLock::new()).collect(),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        rayon::broadcast(|_| w.work());
        for o in w.outcomes()? {
            on_outcome(o)?;
        }
    }
    Ok(())
}

/// A job of a wave: seed `i`'s prepare job, or its stage-3 job `j`.
#[derive(Clone, Copy)]
enum Job {
    Prepare(usize),
    Learn(usize, usize),
}

/// The jobs of one wave and their results.
struct Wave<'w, 'a> {
    data: &'w Dataset,
    cfg: &'w PipelineConfig,
    seeds: &'w [u64],
    shared: &'w Shared<'a>,
    board: Mutex<Board>,
    /// Seed `i`'s state after its prepare job.
    prepared: Vec<OnceLock<PreparedSeed>>,
    cancel: Arc<AtomicBool>,
}

/// What is left to do and what is done.
struct Board {
    /// Prepare jobs handed out so far (seed order).
    next_prepare: usize,
    /// Prepare jobs running now.
    preparing: usize,
    /// Stage-3 jobs `(seed index, job)` whose seed is prepared, not yet handed out.
    ready: BTreeSet<(usize, usize)>,
    /// `results[i][j]`: seed `i`'s job `j` once done.
    results: Vec<Vec<Option<JobResult>>>,
    /// `(seed index, job (prepare = 0, stage-3 job j = j + 1), error, cancelled)`.
    errors: Vec<(usize, usize, Error, bool)>,
}

impl Wave<'_, '_> {
    /// One worker: takes jobs until none is left (see the module docs).
    fn work(&self) {
        let mut idle_since: Option<Instant> = None;
        loop {
            let job = {
                let mut b = lock(&self.board);
                if self.cancel.load(Ordering::SeqCst) {
                    return;
                }
                if b.next_prepare < self.seeds.len() {
                    b.next_prepare += 1;
                    b.preparing += 1;
                    Job::Prepare(b.next_prepare - 1)
                } else if let Some((i, j)) = b.ready.pop_first() {
                    Job::Learn(i, j)
                } else if b.preparing == 0 {
                    return;
                } else {
                    drop(b);
                    lend_thread(&mut idle_since);
                    continue;
                }
            };
            idle_since = None;
            self.run(job);
        }
    }

    /// Runs `job` and posts its result (or error) on the board. A prepared seed's state is
    /// set before its stage-3 jobs are posted, so a worker never takes one too early.
    fn run(&self, job: Job) {
        let stopped = Arc::new(AtomicBool::new(false));
        let mut obs = SeedObserver { shared: self.shared, cancel: &self.cancel, stopped: &stopped };
        match job {
            Job::Prepare(i) => {
                let mut st = SeedStore { shared: self.shared };
                let prepared = prepare_seed(self.data, self.cfg, self.seeds[i], &mut obs, &mut st);
                let mut b = lock(&self.board);
                b.preparing -= 1;
                match prepared {
                    Ok(p) => {
                        let jobs = p.jobs();
                        // Set once: each seed's prepare job runs once.
                        let _ = self.prepared[i].set(p);
                        b.results[i] = (0..jobs).map(|_| None).collect();
                        b.ready.extend((0..jobs).map(|j| (i, j)));
                    }
                    Err(e) => self.fail(&mut b, (i, 0), e, &stopped),
                }
            }
            Job::Learn(i, j) => {
                let result = match self.prepared[i].get() {
                    Some(p) => p.run_job(j, self.data, self.cfg, &mut obs),
                    None => Err(Error::InvalidData(format!("seed {}: stage-3 job before stage 1", self.seeds[i]))),
                };
                let mut b = lock(&self.board);
                match result {
                    Ok(r) => b.results[i][j] = Some(r),
                    Err(e) => self.fail(&mut b, (i, j + 1), e, &stopped),
                }
            }
        }
    }

    /// Records the error of job `(seed index, slot)` (prepare = 0, stage-3 job `j` = `j + 1`)
    /// and, unless the job stopped because of another job's failure, cancels the wave.
    fn fail(&self, b: &mut Board, (i, slot): (usize, usize), e: Error, stopped: &AtomicBool) {
        let cancelled = stopped.load(Ordering::SeqCst);
        if !cancelled {
            self.cancel.store(true, Ordering::SeqCst);
        }
        b.errors.push((i, slot, e, cancelled));
    }

    /// The wave's outcomes in seed order, or the lowest seed's own error (not a
    /// cancellation), else any error.
    fn outcomes(self) -> Result<Vec<SeedOutcome>> {
        let board = self.board.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut errors = board.errors;
        errors.sort_by_key(|&(i, slot, _, cancelled)| (cancelled, i, slot));
        if let Some((_, _, e, _)) = errors.into_iter().next() {
            return Err(e);
        }
        let mut out = Vec::with_capacity(self.seeds.len());
        for ((cell, results), &seed) in self.prepared.into_iter().zip(board.results).zip(self.seeds) {
            let results: Option<Vec<JobResult>> = results.into_iter().collect();
            match (cell.into_inner(), results) {
                (Some(p), Some(r)) => out.push(p.finish(r)),
                _ => return Err(Error::InvalidData(format!("seed {seed}: a job of the pipeline did not run"))),
            }
        }
        Ok(out)
    }
}

/// While a worker waits for a job: runs one pending piece of another job's parallel loops,
/// if any; else yields the thread, and after a millisecond without work sleeps 100 µs per
/// call.
fn lend_thread(idle_since: &mut Option<Instant>) {
    if rayon::yield_now() == Some(rayon::Yield::Executed) {
        *idle_since = None;
        return;
    }
    let since = *idle_since.get_or_insert_with(Instant::now);
    if since.elapsed() < Duration::from_millis(1) {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The caller's observer and store, shared by the jobs of a wave.
struct Shared<'a> {
    observer: Mutex<&'a mut (dyn PipelineObserver + Send)>,
    store: Mutex<&'a mut (dyn Stage1Store + Send)>,
}

/// Locks `m`; a poisoned lock (a panic in another seed's observer) is used as it is.
fn lock<'m, T: ?Sized>(m: &'m Mutex<T>) -> MutexGuard<'m, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One job's view of the shared observer; its training observers fail once `cancel` is set.
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

/// One job's view of the shared store.
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

/// A training observer that fails once another job of the wave has failed.
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
