//! Process-wide allocator settings for training loops.
//!
//! A training step allocates and frees tens of megabytes of activations, gradients and
//! lowering scratch, in blocks of 128 KiB to 8 MiB (`[64, 32, 32, 32]` f32 is 8 MiB). glibc's
//! `malloc` serves a block at or above `M_MMAP_THRESHOLD` with a fresh `mmap` and returns it
//! with `munmap` on free, and gives the top of a heap back to the kernel once more than
//! `M_TRIM_THRESHOLD` is free there. Either way the next step's blocks are new pages: each page
//! is faulted in and zeroed by the kernel again. `perf` on the stage-3 step
//! (`benches/mtl_step.rs`, 2 threads) put about 10 % of all samples in the kernel's page-fault
//! and unmap paths.
//!
//! [`tune_allocator_for_training`] raises `M_MMAP_THRESHOLD` to glibc's maximum (32 MiB on
//! 64-bit) and `M_TRIM_THRESHOLD` to 1 GiB, so freed blocks stay in malloc's free lists and are
//! reused by the next step. It also sets `M_ARENA_MAX` to 1: the training step runs on a rayon
//! worker thread, and a non-main arena is made of `mmap`ed 64 MiB heaps that glibc unmaps as
//! soon as one is empty, whatever the trim threshold (`heap_trim`); with one arena every
//! thread allocates from the main heap, which the trim threshold governs. On a stage-1 run
//! (`detaux disentangle --dataset shapes3d-synth:2000 --epochs 2 --pairs-per-epoch 1280
//! --threads 2`, 80 steps) `perf stat` counted 55 115 page faults without it, 45 207 with it. It is meant for programs (the `detaux` binary, the benches), not
//! for library code: it changes process-global state. The cost is that up to a step's peak of
//! freed memory stays mapped between steps.
//!
//! On targets other than Linux with glibc it does nothing and returns `false`.
//!
//! [`zeroed`] allocates an output buffer whose zero-fill is split over the rayon pool. A
//! reused block must be zeroed by `calloc` (a `memset` of up to 8 MiB), and on the calling
//! thread that is serial work: in a 2-thread stage-1 step the zeroing of conv outputs and
//! gradients was about half of all `memset` samples, with the other worker idle.
//!
//! **Determinism.** Where a buffer lives never changes a result: no kernel's arithmetic depends
//! on addresses or alignment.

use crate::{Float, Par};
use rayon::prelude::*;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use core::ffi::c_int;

    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    /// `M_TRIM_THRESHOLD` (glibc `malloc.h`).
    const M_TRIM_THRESHOLD: c_int = -1;
    /// `M_MMAP_THRESHOLD` (glibc `malloc.h`).
    const M_MMAP_THRESHOLD: c_int = -3;
    /// `M_ARENA_MAX` (glibc `malloc.h`).
    const M_ARENA_MAX: c_int = -8;
    /// glibc's largest accepted `M_MMAP_THRESHOLD` on 64-bit (`DEFAULT_MMAP_THRESHOLD_MAX`).
    const MMAP_THRESHOLD_MAX: c_int = 32 << 20;
    /// 1 GiB.
    const TRIM_THRESHOLD: c_int = 1 << 30;

    pub(super) fn tune() -> bool {
        let threshold = if cfg!(target_pointer_width = "64") { MMAP_THRESHOLD_MAX } else { 512 << 10 };
        // SAFETY: `mallopt` only stores malloc tuning parameters (under malloc's own lock, so it
        // is thread-safe) and takes plain integers; both values are in the ranges glibc
        // documents for these parameters. It returns 1 on success, 0 on error.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, threshold) == 1
                && mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
                && mallopt(M_ARENA_MAX, 1) == 1
        }
    }
}

/// Keeps freed tensor-sized blocks for reuse instead of returning them to the kernel (see the
/// module docs). Returns whether the settings were applied (`false` off glibc).
pub fn tune_allocator_for_training() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        glibc::tune()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Elements below which [`zeroed`] fills on the calling thread (512 KiB of `f32`).
pub const MIN_PAR_ZERO_ELEMS: usize = 1 << 17;
/// Elements zeroed per rayon task by [`zeroed`] (128 KiB of `f32`).
const ZERO_CHUNK: usize = 1 << 15;

/// A vector of `len` zeros. With `par` = [`Par::Rayon`], `len ≥` [`MIN_PAR_ZERO_ELEMS`] and a
/// pool of more than one thread, the zeros are written in parallel chunks; otherwise this is
/// `vec![T::ZERO; len]`. The result is the same either way.
pub fn zeroed<T: Float>(len: usize, par: Par) -> Vec<T> {
    if par.for_work(len, MIN_PAR_ZERO_ELEMS) == Par::Seq {
        return vec![T::ZERO; len];
    }
    let mut v: Vec<T> = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len].par_chunks_mut(ZERO_CHUNK).for_each(|chunk| {
        for e in chunk {
            e.write(T::ZERO);
        }
    });
    // SAFETY: the capacity is at least `len`, and the loop above wrote every one of the first
    // `len` elements (the chunks cover `spare_capacity_mut()[..len]` exactly).
    unsafe { v.set_len(len) };
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_is_all_zeros_at_every_size_and_policy() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        for len in [0, 1, super::ZERO_CHUNK + 3, super::MIN_PAR_ZERO_ELEMS, 3 * super::MIN_PAR_ZERO_ELEMS + 7] {
            for par in [crate::Par::Seq, crate::Par::Rayon] {
                // Dirty the allocator's free lists first, so a reused block would show.
                drop(vec![f32::NAN; len]);
                let v: Vec<f32> = pool.install(|| super::zeroed(len, par));
                assert_eq!(v.len(), len);
                assert!(v.iter().all(|&x| x.to_bits() == 0), "len {len}, {par:?}");
            }
        }
    }

    #[test]
    fn tuning_applies_on_glibc_and_allocation_still_works() {
        let applied = super::tune_allocator_for_training();
        assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
        // Large blocks are still usable and freed blocks reusable after tuning.
        for round in 0..3u8 {
            let v = vec![round; 8 << 20];
            assert!(v.iter().all(|&b| b == round));
        }
    }
}
