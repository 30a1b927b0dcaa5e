//! Explicit parallelism: every kernel takes a [`Par`].
//!
//! `Par::Seq` runs on the calling thread. `Par::Rayon` splits the kernel's *outputs* into
//! chunks and runs them on the current rayon pool (the `detaux` crate installs a pool of
//! `--threads` workers around its work). Because only outputs are split, the result does not
//! depend on the choice or on the pool size.

/// How a kernel may use threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Par {
    /// Run sequentially on the calling thread.
    Seq,
    /// Split outputs over the current rayon pool.
    #[default]
    Rayon,
}

impl Par {
    /// `Seq` when the current rayon pool has one thread, or the work (in multiply-adds or
    /// element operations) is below `min_work`; otherwise `self`.
    pub fn for_work(self, work: usize, min_work: usize) -> Par {
        if self == Par::Seq || work < min_work || rayon::current_num_threads() <= 1 {
            Par::Seq
        } else {
            Par::Rayon
        }
    }
}
