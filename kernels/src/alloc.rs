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
//! [`output_buffer`] goes one step further for outputs a kernel overwrites completely (conv
//! outputs and their input and weight gradients): it hands out a buffer that an earlier
//! [`recycle`] gave back to the calling thread (a gradient the tape has finished with), with
//! stale contents and no zero-fill at all, and falls back to [`zeroed`] when the pool has no
//! buffer large enough. Every conv kernel overwrites its output (`kernels/tests/conv_sweep.rs`
//! runs each one on an output pre-filled with garbage), so the stale contents are never read.
//! The pool keeps at most [`OUTPUT_POOL_LEN`] buffers and [`OUTPUT_POOL_ELEMS`] elements per
//! thread and type. `perf` on the 32 × 32 stage-1 step put about half of all `memset` samples in
//! the zero-fill of conv outputs and gradients.
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

/// Most buffers a thread keeps for [`output_buffer`].
pub const OUTPUT_POOL_LEN: usize = 16;
/// Most elements (summed capacities) a thread keeps for [`output_buffer`]: 64 MiB of `f32`.
pub const OUTPUT_POOL_ELEMS: usize = 1 << 24;
/// Buffers below this many elements are neither kept nor taken (their zero-fill is cheap).
pub const MIN_RECYCLE_ELEMS: usize = 1 << 12;

/// A vector of `len` elements **with unspecified contents**, for an output that the caller
/// overwrites completely before reading it: the smallest buffer of this thread's pool
/// ([`recycle`]) with room for `len` elements, else [`zeroed`]`(len, par)`. Never reads the
/// contents, so the result of a kernel that overwrites its output does not depend on it.
pub fn output_buffer<T: Float>(len: usize, par: Par) -> Vec<T> {
    if len >= MIN_RECYCLE_ELEMS {
        let pick = T::with_output_pool(|pool| {
            let j = pool.iter().enumerate().filter(|(_, b)| b.capacity() >= len).min_by_key(|(_, b)| b.capacity())?.0;
            Some(pool.swap_remove(j))
        });
        if let Some(mut v) = pick {
            // Within the capacity: no reallocation, and only a grown tail is written (zeros).
            v.resize(len, T::ZERO);
            return v;
        }
    }
    zeroed(len, par)
}

/// Gives a buffer the caller has finished with to this thread's pool for [`output_buffer`]
/// (kept if it has at least [`MIN_RECYCLE_ELEMS`] elements of capacity and the pool's limits
/// allow it, replacing a smaller kept buffer when the pool is full; otherwise freed).
pub fn recycle<T: Float>(v: Vec<T>) {
    let cap = v.capacity();
    if !(MIN_RECYCLE_ELEMS..=OUTPUT_POOL_ELEMS).contains(&cap) {
        return;
    }
    T::with_output_pool(|pool| {
        let mut held: usize = pool.iter().map(Vec::capacity).sum();
        // Make room by dropping smaller buffers, never a larger one.
        while pool.len() >= OUTPUT_POOL_LEN || held + cap > OUTPUT_POOL_ELEMS {
            let Some((j, c)) = pool.iter().enumerate().map(|(j, b)| (j, b.capacity())).min_by_key(|&(_, c)| c) else {
                break;
            };
            if c >= cap {
                return;
            }
            pool.swap_remove(j);
            held -= c;
        }
        pool.push(v);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_buffers_have_the_length_and_come_from_the_pool() {
        let big = super::MIN_RECYCLE_ELEMS * 3;
        let v = vec![7.0f32; big];
        let ptr = v.as_ptr() as usize;
        super::recycle(v);
        // A shorter request takes the recycled buffer (contents unspecified, length exact).
        let w: Vec<f32> = super::output_buffer(big - 5, crate::Par::Seq);
        assert_eq!((w.len(), w.as_ptr() as usize), (big - 5, ptr));
        super::recycle(w);
        // A longer one than anything pooled gets fresh zeros.
        let z: Vec<f32> = super::output_buffer(big * 2, crate::Par::Seq);
        assert_eq!(z.len(), big * 2);
        assert!(z.iter().all(|&x| x == 0.0));
        // The pooled buffer grown back to its capacity: the tail is written.
        let g: Vec<f32> = super::output_buffer(big, crate::Par::Seq);
        assert_eq!((g.len(), g.as_ptr() as usize), (big, ptr));
        // Small buffers are not kept; the pool never exceeds its limits.
        for _ in 0..3 * super::OUTPUT_POOL_LEN {
            super::recycle(vec![1.0f32; super::MIN_RECYCLE_ELEMS]);
            super::recycle(vec![1.0f32; 16]);
        }
        <f32 as crate::Float>::with_output_pool(|p| {
            assert!(p.len() <= super::OUTPUT_POOL_LEN);
            assert!(p.iter().all(|b| b.capacity() >= super::MIN_RECYCLE_ELEMS));
            assert!(p.iter().map(Vec::capacity).sum::<usize>() <= super::OUTPUT_POOL_ELEMS);
        });
    }

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
