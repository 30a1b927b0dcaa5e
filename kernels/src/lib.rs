//! # detaux-kernels
//!
//! The hot loops of detaux, written on plain slices with explicit shapes and strides. Nothing
//! here knows about tensors, tapes or gradients: the `detaux` crate builds those on top.
//! This is the only crate of the workspace allowed `unsafe` (SIMD intrinsics, the gemm calls);
//! every `unsafe` block carries a `// SAFETY:` comment.
//!
//! ## Modules
//! - [`float`]: the [`Float`] element trait (implemented for `f32` and `f64`).
//! - [`par`]: the [`Par`] parallelism argument taken by every kernel.
//! - [`kernel_set`]: [`KernelSet`], the machine's fastest kernels or the portable ones (the
//!   same bits on every CPU), chosen per rayon pool.
//! - [`gemm`]: `C ← α·A·B + β·C` over strided slices, split over rows (or, for few-row
//!   products, columns) of C; `f32` runs on [`sgemm`] (our AVX-512 kernel where the CPU has
//!   it, else `matrixmultiply`), `f64` on `matrixmultiply`.
//! - [`sgemm`]: the single-precision gemm on raw strided pointers behind [`gemm`].
//! - [`conv`]: 2-D convolution and transposed convolution, forward and both backward passes
//!   (im2col/col2im + gemm; pixel-major im2col for the weight gradient; the shifted-phase
//!   lowering of [`conv::shifted`] for wide maps, fused into the AVX2 / AVX-512 indirect-row
//!   products of [`conv::indirect`]), with direct-loop oracles (also of im2col/col2im) in
//!   [`conv::reference`].
//! - [`distance`]: squared-L2 kernels for clustering: nearest-centre assignment with fused
//!   centroid sums (k-means), structure-of-arrays distance rows (HDBSCAN's k-NN and Prim).
//! - [`reduce`]: blocked, deterministic sums and dot products.
//! - [`adam`]: the fused Adam/AdamW parameter update.
//! - [`scratch`]: per-thread pools of reusable scratch buffers for the lowering kernels.
//! - [`alloc`]: process-wide allocator settings for training loops
//!   ([`alloc::tune_allocator_for_training`]).
//!
//! Tests: `kernels/tests/` sweeps every fast kernel against its oracle and checks bitwise
//! thread-count invariance; speed is measured in `benches/kernels.rs` (root crate).
//!
//! ## Determinism
//! Every kernel gives bitwise-identical results for any [`Par`] value and any rayon pool size:
//! work is split over *outputs* only (rows of C, images of a batch, fixed blocks of a
//! reduction), each output is computed by one sequential loop, and partial results are combined
//! in a fixed order. With [`KernelSet::Native`] results may differ between machines when a
//! different SIMD kernel runs (AVX-512 or not, FMA or not); with [`KernelSet::Portable`] they
//! do not; they never differ between thread counts.

#![warn(missing_docs)]

pub mod adam;
pub mod alloc;
pub mod conv;
pub mod distance;
pub mod float;
pub mod gemm;
pub mod kernel_set;
pub mod par;
pub mod reduce;
pub mod scratch;
pub mod sgemm;

pub use float::Float;
pub use kernel_set::KernelSet;
pub use par::Par;
