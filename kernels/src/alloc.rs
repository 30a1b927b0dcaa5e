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
//! **Determinism.** Where a buffer lives never changes a result: no kernel's arithmetic depends
//! on addresses or alignment.

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

#[cfg(test)]
mod tests {
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
