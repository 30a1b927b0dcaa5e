//! Reverse-mode automatic differentiation on a flat, step-scoped tape.
//!
//! A [`Tape`] records every op of one training step as a node: its value, its parents (by id)
//! and a backward closure. Ids are creation indices, so the tape is topologically ordered by
//! construction; [`Tape::backward`] walks it once in reverse, hands each node's output gradient
//! to its closure, and accumulates the returned input gradients into a `Vec` indexed by id.
//! There is no hash-ordered bookkeeping anywhere: the order in which gradients are summed is
//! fixed by creation order, so results are bitwise reproducible.
//!
//! A tape lives for one step and is emptied by `backward` (values and closures are dropped as
//! the walk passes them), so nothing leaks across steps; `tests/memory.rs` checks that node count
//! and resident memory stay flat over 1000 steps.
//!
//! [`Var`] is a `Copy` handle `(tape, id, generation)`; ops are methods on it
//! (`x.matmul(w)?.relu()`). The tape counts its steps: `backward` ends generation `g` and ids
//! start again from 0 in `g + 1`, so a handle kept across `backward` would name another step's
//! node. Every use of such a *stale* handle is caught by comparing its generation with the
//! tape's (one integer compare per operand): fallible ops, [`Tape::backward`],
//! [`Var::try_value`], [`Var::scalar`] and [`Grads::wrt`] return [`crate::Error::StaleVar`];
//! infallible element-wise ops and `sum_all`/`mean_all`/`detach` return the stale handle
//! unchanged, so the error surfaces at the next fallible use; the accessors `value`, `shape`,
//! `ndim` and `requires_grad` panic. No stale handle ever reads or records a node.
//! Ops whose operand shapes can disagree return [`crate::Result`] with an
//! [`crate::Error::Shape`] naming the op and both shapes; element-wise unary ops cannot fail.
//! Values are `ndarray::ArrayD<T>` in standard (C) layout, `T` = `f32` (training) or `f64`
//! (gradient checks, see [`gradcheck`]).
//!
//! ```
//! use detaux::autodiff::Tape;
//! use ndarray::{arr1, ArrayD};
//! let tape = Tape::<f64>::new();
//! let x = tape.leaf(arr1(&[1.0, 2.0, 3.0]).into_dyn());
//! let y = x.mul(x)?.sum_all();            // y = Σ x²
//! let grads = tape.backward(y)?;
//! assert_eq!(grads.wrt(x)?.unwrap(), &arr1(&[2.0, 4.0, 6.0]).into_dyn());
//! # Ok::<(), detaux::Error>(())
//! ```

pub mod gradcheck;
pub mod ops;
mod tape;

pub use tape::{Grads, Tape, Var};

use detaux_kernels::Float;

/// Element type of tensors: `f32` or `f64`.
pub trait Element: Float + ndarray::LinalgScalar + ndarray::ScalarOperand {}
impl<T: Float + ndarray::LinalgScalar + ndarray::ScalarOperand> Element for T {}

/// A dense n-dimensional array (the value type of every tape node).
pub type Tensor<T> = ndarray::ArrayD<T>;
