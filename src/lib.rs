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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod autodiff;
pub mod cluster;
pub mod data;
pub mod demo;
pub mod error;
pub mod io;
pub mod losses;
pub mod models;
pub mod mtl;
pub mod nn;
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
