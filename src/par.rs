//! Thread control: a crate-owned rayon pool built from `--threads` and `--kernels`.
//!
//! Kernels take a [`Par`] argument; [`ThreadPool::install`] runs a closure inside a pool of
//! exactly `n` worker threads, so `Par::Rayon` work inside it uses those `n` threads and no
//! more. Results never depend on `n` (see the kernels crate's determinism notes);
//! `tests/determinism.rs` checks that bitwise.
//!
//! The pool also fixes the [`KernelSet`] of everything run inside it: each worker thread is
//! marked with the set when it starts, and `install` runs its closure on a worker. `Native`
//! (the default) is the machine's fastest kernels; `Portable` gives the same bits on any CPU
//! (`tests/portable_kernels.rs` pins a short stage-1 and stage-3 run to committed hashes).
//!
//! `matrixmultiply`'s own `threading` feature stays off: one pool, ours.

pub use detaux_kernels::{KernelSet, Par};

use crate::error::{Error, Result};

/// A rayon pool with a fixed number of threads and a fixed [`KernelSet`].
pub struct ThreadPool {
    pool: rayon::ThreadPool,
    threads: usize,
    kernels: KernelSet,
}

impl ThreadPool {
    /// A pool of `threads` workers (`1..=`[`crate::limits::MAX_THREADS`]) on the native kernels.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `threads` outside `1..=MAX_THREADS` or when the OS refuses to start the threads.
    pub fn new(threads: usize) -> Result<Self> {
        Self::with_kernels(threads, KernelSet::Native)
    }

    /// A pool of `threads` workers (`1..=`[`crate::limits::MAX_THREADS`]) whose kernels are
    /// `kernels`.
    ///
    /// # Errors
    /// As [`ThreadPool::new`].
    pub fn with_kernels(threads: usize, kernels: KernelSet) -> Result<Self> {
        crate::limits::check_threads("--threads", threads)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("detaux-{i}"))
            .start_handler(move |_| kernels.mark_this_thread())
            .build()
            .map_err(|e| Error::param("--threads", format!("could not start {threads} threads: {e}")))?;
        Ok(ThreadPool { pool, threads, kernels })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The kernel set of everything run inside the pool.
    pub fn kernels(&self) -> KernelSet {
        self.kernels
    }

    /// Runs `f` inside the pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

/// The number of threads the machine offers (`available_parallelism`, at least 1).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
