//! Per-thread pools of scratch buffers for the lowering kernels.
//!
//! A convolution call needs large scratch matrices (the column matrix `[c_in·k_h·k_w, cols]`,
//! gathered or transposed `dy`, phase planes): several MiB per rayon task, and a training step
//! makes dozens of such calls. Allocating them fresh means zero-filling them every time
//! (`memset` was about 7 % of a 2-thread stage-1 step), although every kernel overwrites the
//! part it reads. [`Scratch::take`] instead hands out buffers kept by the calling thread from
//! earlier calls, grown (zero-filled in the new part only) when too short, and gives them
//! back when dropped.
//!
//! **Contents are not reset**: a buffer holds whatever an earlier call left in it, so a
//! kernel may only read scratch elements it has written in the same chunk. The kernels
//! already obey this (`for_each_init` reuses one scratch state across the chunks of a rayon
//! task); `conv_kernels_never_read_stale_scratch` in `kernels/tests/conv_sweep.rs` fills the
//! pool with NaN before running every lowering against its oracle.
//!
//! Each thread keeps at most [`POOL_LEN`] buffers, at the size of the largest request so far
//! (for the stage-1 model a few MiB per thread, held until the thread exits).
//!
//! **Determinism.** Where a buffer comes from never changes a result (see above).

use crate::Float;

/// Most buffers a thread keeps in its pool; extra ones are freed on return.
pub const POOL_LEN: usize = 8;

/// `N` scratch buffers of requested lengths, taken from the calling thread's pool (see the
/// module docs) and returned to the pool of the thread that drops it.
pub struct Scratch<T: Float, const N: usize> {
    bufs: [Vec<T>; N],
    lens: [usize; N],
}

impl<T: Float, const N: usize> Scratch<T, N> {
    /// Buffers of at least `lens[i]` elements (contents unspecified).
    pub fn take(lens: [usize; N]) -> Self {
        let bufs = T::with_scratch_pool(|pool| {
            std::array::from_fn(|i| {
                let len = lens[i];
                // The smallest pooled buffer that is long enough, else the longest one.
                let fit = pool.iter().enumerate().filter(|(_, b)| b.len() >= len).min_by_key(|(_, b)| b.len());
                let pick = fit.or_else(|| pool.iter().enumerate().max_by_key(|(_, b)| b.len())).map(|(j, _)| j);
                let mut v = pick.map(|j| pool.swap_remove(j)).unwrap_or_default();
                if v.len() < len {
                    v.resize(len, T::ZERO);
                }
                v
            })
        });
        Scratch { bufs, lens }
    }

    /// The buffers, each exactly its requested length.
    pub fn parts(&mut self) -> [&mut [T]; N] {
        let mut it = self.bufs.iter_mut().zip(self.lens).map(|(b, len)| &mut b[..len]);
        std::array::from_fn(|_| it.next().expect("N buffers"))
    }
}

impl<T: Float, const N: usize> Drop for Scratch<T, N> {
    fn drop(&mut self) {
        let bufs = std::mem::replace(&mut self.bufs, std::array::from_fn(|_| Vec::new()));
        T::with_scratch_pool(|pool| {
            for b in bufs {
                if b.is_empty() {
                    continue;
                }
                if pool.len() < POOL_LEN {
                    pool.push(b);
                } else if let Some((j, _)) =
                    pool.iter().enumerate().min_by_key(|(_, p)| p.len()).filter(|(_, p)| p.len() < b.len())
                {
                    pool[j] = b;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_have_the_requested_lengths_and_are_reused() {
        let ptr = {
            let mut s = Scratch::<f32, 2>::take([1000, 10]);
            let [a, b] = s.parts();
            assert_eq!((a.len(), b.len()), (1000, 10));
            a.fill(3.0);
            a.as_ptr() as usize
        };
        let mut s = Scratch::<f32, 1>::take([500]);
        let [a] = s.parts();
        assert_eq!(a.len(), 500);
        // The 1000-long buffer is the only one long enough: it comes back, contents kept.
        assert_eq!(a.as_ptr() as usize, ptr);
        assert_eq!(a[499], 3.0);
    }
}
