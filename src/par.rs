//! Thread control: a crate-owned rayon pool built from `--threads`.
//!
//! Kernels take a [`Par`] argument; [`ThreadPool::install`] runs a closure inside a pool of
//! exactly `n` worker threads, so `Par::Rayon` work inside it uses those `n` threads and no
//! more. Results never depend on `n` (see the kernels crate's determinism notes);
//! `tests/determinism.rs` checks that bitwise.
//!
//! `matrixmultiply`'s own `threading` feature stays off: one pool, ours.

pub use detaux_kernels::Par;

use crate::error::{Error, Result};

/// A rayon pool with a fixed number of threads.
pub struct ThreadPool {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl ThreadPool {
    /// A pool of `threads` workers (`1..=`[`crate::limits::MAX_THREADS`]).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `threads` outside `1..=MAX_THREADS` or when the OS refuses to start the threads.
    pub fn new(threads: usize) -> Result<Self> {
        crate::limits::check_threads("--threads", threads)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("detaux-{i}"))
            .build()
            .map_err(|e| Error::param("--threads", format!("could not start {threads} threads: {e}")))?;
        Ok(ThreadPool { pool, threads })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
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
