//! Which kernels run: the machine's fastest ([`KernelSet::Native`]) or the portable ones
//! ([`KernelSet::Portable`]), whose results are the same bits on every CPU.
//!
//! Every kernel is defined by a summation order: which products are added, in what sequence,
//! with or without fused multiply-adds. The native set picks, per machine, the kernel that is
//! fastest there (the AVX-512 [`crate::sgemm`], `matrixmultiply`'s FMA / AVX / SSE2 / NEON
//! micro-kernels, the AVX2 + FMA copies of [`crate::distance`], the fused
//! [`crate::conv::indirect`] products), so the bits of a result depend on the CPU. The portable
//! set runs only plain loops with a fixed order and separate multiply and add (IEEE 754
//! rounds each one, and Rust never contracts them into an FMA):
//! - gemm ([`crate::gemm`]): every element of `C` is `acc = Σ_p A[i, p]·B[p, j]` accumulated
//!   sequentially from `p = 0` in the element type, then `α·acc + β·C` (`α·acc` when `β = 0`):
//!   [`crate::gemm::gemm_portable_raw`]. The compiler may vectorise it across `j` (different
//!   outputs), which changes no bit.
//! - convolution: im2col / col2im (or the per-shift products of [`crate::conv::shifted`]) with
//!   that gemm; the fused indirect-row products are not used.
//! - distances: the portable copies of [`crate::distance`] (separate multiply and add).
//! - reductions ([`crate::reduce`]) and Adam ([`crate::adam`]) have one definition already.
//!
//! Elementary functions (`exp`, `ln`, `tanh`, `powf`) are outside the kernels: they come from
//! the platform's math library in both sets, so equal bits across machines also need the same
//! math library.
//!
//! ## How the choice reaches the kernels
//! Like the thread count, the kernel set belongs to the rayon pool a computation runs in: the
//! `detaux` crate's `ThreadPool` marks each of its worker threads with its set when the thread
//! starts ([`KernelSet::mark_this_thread`]), and a kernel reads [`KernelSet::current`] on the
//! thread that calls it. Everything inside one pool therefore sees one set; threads that were
//! never marked (a plain `main`, rayon's global pool) see `Native`.
//!
//! ## Determinism
//! Both sets are bitwise independent of [`crate::Par`] and of the pool size. `Portable` is,
//! in addition, independent of the CPU; it costs speed (measured in `benches/README.md`).

use std::cell::Cell;

/// The kernels a computation runs on. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum KernelSet {
    /// The fastest kernels of this machine (the default); the bits may differ between CPUs.
    #[default]
    Native,
    /// Plain loops with one fixed summation order and no fused multiply-add: the same bits on
    /// any CPU.
    Portable,
}

thread_local! {
    static CURRENT: Cell<KernelSet> = const { Cell::new(KernelSet::Native) };
}

impl KernelSet {
    /// The set of the calling thread: the one its pool marked it with, else `Native`.
    #[inline]
    pub fn current() -> KernelSet {
        CURRENT.with(Cell::get)
    }

    /// Marks the calling thread: kernels it calls from now on use `self`. Meant for the start
    /// handler of a pool's worker threads, so that a whole pool uses one set.
    pub fn mark_this_thread(self) {
        CURRENT.with(|c| c.set(self));
    }

    /// The name used on the command line: `"native"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            KernelSet::Native => "native",
            KernelSet::Portable => "portable",
        }
    }
}

impl std::str::FromStr for KernelSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(KernelSet::Native),
            "portable" => Ok(KernelSet::Portable),
            other => Err(format!("unknown kernel set {other:?} (expected native or portable)")),
        }
    }
}

impl std::fmt::Display for KernelSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
