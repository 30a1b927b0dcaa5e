//! Distribution regulariser `L_reg`: every subspace should be selected equally often.
//!
//! - `reference` (Detaux, default): `L_reg = 100·mean_k (1/K − mean_b sel_{b,k})²` with the
//!   oracle's detached one-hot `sel`, so it has **no gradient**: it is computed and logged
//!   exactly as the reference does, but cannot change the weights.
//! - `trainable` (PMP, Fumero et al. 2021): `L_reg = 100·mean_k (1/K − mean_b P_{b,k})²` with
//!   `P = softmax_k(1000·D)` on the un-normalised squared distances, not detached, so it pushes
//!   the model to change different subspaces in different pairs.

use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use ndarray::Array2;

/// Which form of the distribution regulariser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum DistributionMode {
    /// Detached, as the Detaux reference code (no gradient).
    #[default]
    Reference,
    /// PMP's trainable soft-assignment form.
    Trainable,
}

/// `L_reg` from `D: [B, K]` and the oracle's selection `sel: [B, K]`.
///
/// # Errors
/// [`Error::Shape`] if `D` is not 2-D or its shape differs from `sel`'s (checked in both
/// modes, although `reference` reads only `sel`).
pub fn distribution_loss<'t, T: Element>(
    mode: DistributionMode,
    dist: Var<'t, T>,
    sel: &Array2<T>,
) -> Result<Var<'t, T>> {
    if dist.shape() != sel.shape() {
        return Err(Error::shape(
            "distribution_loss",
            format!("D {:?} and sel {:?} must both be [B, K]", dist.shape(), sel.shape()),
        ));
    }
    let k = T::from_usize(sel.shape()[1]);
    let hundred = T::from_f64(100.0);
    match mode {
        DistributionMode::Reference => {
            let n = T::from_usize(sel.shape()[0].max(1));
            let usage = sel.sum_axis(ndarray::Axis(0)).mapv(|s| s / n);
            let value =
                usage.iter().map(|&u| (T::ONE / k - u) * (T::ONE / k - u)).fold(T::ZERO, |a, b| a + b) / k * hundred;
            Ok(dist.tape().constant(ndarray::arr0(value).into_dyn()))
        }
        DistributionMode::Trainable => {
            let p = dist.mul_scalar(T::from_f64(1000.0)).softmax(1)?;
            let usage = p.mean_axes(&[0], false)?;
            Ok(usage.neg().add_scalar(T::ONE / k).square().mean_all().mul_scalar(hundred))
        }
    }
}
