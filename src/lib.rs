//! # detaux
//!
//! A from-scratch, CPU-only, deterministic implementation of *Detaux* ("Disentangled Latent
//! Spaces Facilitate Data-Driven Auxiliary Learning", Skenderi et al., arXiv 2310.09278):
//! discover an auxiliary classification task from data and train it beside the principal task.
//!
//! The numeric core (reverse-mode autodiff, layers, optimizers, losses, clustering) is written
//! here on `ndarray`, `matrixmultiply`, `rayon`, `rand` and `rand_distr`; hot loops live in the
//! `detaux-kernels` crate.
//!
//! ## Determinism contract
//! The same seed and inputs give bitwise-identical outputs at any thread count:
//! - every random draw comes from a stream of one master seed ([`rng::SeedTree`], ChaCha8);
//! - kernels split work over outputs, never over a reduction axis, and combine partial results
//!   in a fixed order ([`par`]);
//! - autodiff walks a flat, creation-ordered tape, so gradient accumulation order is fixed.
//!
//! With the native kernels (the default), results may differ between machines that run
//! another SIMD kernel (AVX2, AVX-512 or none), because each kernel has its own summation
//! order; never between thread counts. A pool built with [`par::KernelSet::Portable`]
//! (`--kernels portable`) runs one summation order without fused multiply-adds on every CPU,
//! so the same seed gives the same bits on any machine with the same math library.
//!
//! ## Features
//! - `io` (default): file formats of the library — JSON reports and checkpoints (serde,
//!   serde_json), PNG pictures (png), gzip (flate2).
//! - `cli` (default, implies `io`): the `detaux` binary (clap, indicatif).
//!
//! `default-features = false` keeps only the numeric core.
//!
//! ## Reading order
//! The examples are lessons, each self-contained and printing what it shows; run one with
//! `cargo run --release --example NAME`. The first six take well under a minute each:
//!
//! | example | lesson | then read |
//! |---|---|---|
//! | `examples/01_tape.rs` | build a small graph, run backward, read the gradients, check one by a finite difference | [`autodiff`] |
//! | `examples/02_gradcheck.rs` | the f64 gradient checker on a composite function (attention), and a wrong gradient it catches | [`autodiff::gradcheck`] |
//! | `examples/03_conv_lowering.rs` | a convolution by direct loops, by im2col + gemm and by the fast kernel: the same numbers, the timings | [`kernels::conv`], [`nn`] |
//! | `examples/04_losses.rs` | each of the five stage-1 losses on a tiny batch, term by term, with its gradient check | [`losses`], [`stage1::step`] |
//! | `examples/05_kmeans.rs` | k-means on blobs: the inertia per iteration, restarts, the adjusted Rand index, `k` by silhouette | [`cluster`] |
//! | `examples/06_stage1.rs` | a short disentanglement run on a small procedural set, with the probe table | [`stage1`], [`data`] |
//! | `examples/07_experiment.rs` | the digits experiment, all three stages and the control arms (a few minutes; needs `io`) | [`pipeline`], [`mtl`] |
//!
//! The method in equations, with a table from each equation to its file and test, is
//! `docs/method.md`; the layout of the code, a stage-1 step end to end and how to extend it are
//! in `docs/architecture.md`; the determinism contract and its tests in `docs/determinism.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod autodiff;
pub mod cluster;
pub mod data;
pub mod demo;
pub mod error;
pub mod io;
pub mod limits;
pub mod losses;
pub mod models;
pub mod mtl;
pub mod nn;
pub mod observe;
pub mod optim;
pub mod par;
pub mod pipeline;
pub mod rng;
pub mod stage1;
pub mod viz;

#[cfg(feature = "cli")]
pub mod cli;

pub use detaux_kernels as kernels;
pub use detaux_kernels::alloc::tune_allocator_for_training;
pub use error::{Error, Result};
