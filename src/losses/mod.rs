//! The five losses of Detaux stage 1 (reference `BasicModel.training_step`), one module each.
//!
//! Notation (docs/method.md §1): a batch holds `B` pairs `(x¹_b, x²_b)`, stacked as one
//! batch of `2B` images (all first images, then all second images). `S: [K, 2B, d]` holds the
//! subspace codes `s^i_{k,b}`; `S[:, b]` is `x¹_b` and `S[:, B + b]` is `x²_b`.
//!
//! | module | term |
//! |---|---|
//! | [`reconstruction`] | `L_rec`: MSE (or BCE) between input and reconstruction |
//! | [`sparsity`] | `L_sp`: coordinate-wise exclusivity of the subspaces |
//! | [`consistency`] | `L_cons`: swap one subspace between a pair, decode, re-encode |
//! | [`distance`] | `L_dist` with the (forced) oracle selection |
//! | [`distribution`] | `L_reg`: uniform use of the subspaces (`reference` detached or `trainable`) |

pub mod consistency;
pub mod distance;
pub mod distribution;
pub mod reconstruction;
pub mod sparsity;

pub use consistency::{consistency_loss, sample_mixes};
pub use distance::{distance_loss, pair_distances, select_subspaces, subspace_normalisers, Oracle};
pub use distribution::{distribution_loss, DistributionMode};
pub use reconstruction::{reconstruction_loss, ReconstructionLoss};
pub use sparsity::sparsity_loss;
