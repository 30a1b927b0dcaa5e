//! One stage-1 training step: the reference `training_step`.
//!
//! `x = [x¹; x²]` (`2B` images) → `S: [K, 2B, d]`, `x̂` →
//!
//! `L = L_rec + β1·(λ_dist·L_dist + λ_sp·L_sp) + β2·λ_cons·L_cons + β3·λ_distr·L_reg`
//!
//! with the terms of [`crate::losses`]. Before the warm-up ends only `L_rec` is computed; the
//! others are reported as 0. The oracle selection is computed from values (no gradient).

use super::schedule::Betas;
use crate::autodiff::ops::shape::concat;
use crate::autodiff::{Element, Tape, Tensor, Var};
use crate::error::{Error, Result};
use crate::losses::{
    consistency_loss, distance_loss, distribution_loss, pair_distances, reconstruction_loss, select_subspaces,
    sparsity_loss, subspace_normalisers, DistributionMode, Oracle, ReconstructionLoss,
};
use crate::models::DisentangleModel;
use ndarray::Array2;

/// Loss weights and variants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossConfig {
    /// `λ_dist`. Default 0.1 (reference).
    pub lambda_distance: f64,
    /// `λ_sp`. Default 0.1 (reference).
    pub lambda_sparsity: f64,
    /// `λ_cons`. Default 100 (reference).
    pub lambda_consistency: f64,
    /// `λ_distr`. Default 1e-4 (reference).
    pub lambda_distribution: f64,
    /// Reconstruction criterion. Default MSE.
    pub reconstruction: ReconstructionLoss,
    /// Distribution regulariser form. Default `Reference` (detached).
    pub distribution: DistributionMode,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            lambda_distance: 0.1,
            lambda_sparsity: 0.1,
            lambda_consistency: 100.0,
            lambda_distribution: 1e-4,
            reconstruction: ReconstructionLoss::Mse,
            distribution: DistributionMode::Reference,
        }
    }
}

impl LossConfig {
    /// Checks that every λ is finite and non-negative.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the λ.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("lambda_distance", self.lambda_distance),
            ("lambda_sparsity", self.lambda_sparsity),
            ("lambda_consistency", self.lambda_consistency),
            ("lambda_distribution", self.lambda_distribution),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::param(name, format!("must be finite and >= 0, got {v}")));
            }
        }
        Ok(())
    }
}

/// The value of every term of one step (unweighted), and the weighted total.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossTerms {
    /// `L_rec`.
    pub reconstruction: f64,
    /// `L_sp` (0 during warm-up).
    pub sparsity: f64,
    /// `L_cons` (0 when inactive).
    pub consistency: f64,
    /// `L_dist` (0 during warm-up).
    pub distance: f64,
    /// `L_reg` (0 during warm-up).
    pub distribution: f64,
    /// The weighted total `L`.
    pub total: f64,
}

impl std::fmt::Display for LossTerms {
    /// `rec R sp S cons C dist D distr G` (unweighted terms).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rec {:.5} sp {:.4} cons {:.5} dist {:.4} distr {:.4}",
            self.reconstruction, self.sparsity, self.consistency, self.distance, self.distribution
        )
    }
}

/// The outcome of [`training_step`].
pub struct StepResult<'t, T: Element> {
    /// The total loss (back-propagate this).
    pub loss: Var<'t, T>,
    /// Term values.
    pub terms: LossTerms,
    /// The oracle's one-hot selection `[B, K]` (after warm-up).
    pub selection: Option<Array2<T>>,
}

/// Runs the forward pass and every loss term on pairs `x1, x2: [B, c, 64, 64]`.
///
/// `mixes` are the consistency term's kept `(k, b)` combinations (see
/// [`crate::losses::sample_mixes`]); they are required when the consistency term is active.
///
/// # Errors
/// [`Error::Shape`] for inputs of the wrong shape or `x1`/`x2` of different shapes;
/// [`Error::InvalidParam`] if consistency is active and no mixes are given.
#[allow(clippy::too_many_arguments)]
pub fn training_step<'t, T: Element>(
    model: &DisentangleModel<T>,
    tape: &'t Tape<T>,
    x1: Tensor<T>,
    x2: Tensor<T>,
    oracle: &Oracle,
    betas: &Betas,
    cfg: &LossConfig,
    mixes: Option<&[(usize, usize)]>,
) -> Result<StepResult<'t, T>> {
    if x1.shape() != x2.shape() {
        return Err(Error::shape(
            "training_step",
            format!("pair batches {:?} and {:?} differ", x1.shape(), x2.shape()),
        ));
    }
    let x = concat(&[tape.constant(x1), tape.constant(x2)], 0)?;
    let (codes, decoded) = model.forward(x)?;
    let rec = reconstruction_loss(cfg.reconstruction, decoded, x)?;
    let mut terms = LossTerms { reconstruction: rec.scalar()?.to_f64(), ..LossTerms::default() };
    if !betas.warm {
        terms.total = terms.reconstruction;
        return Ok(StepResult { loss: rec, terms, selection: None });
    }
    let w = |v: f64| T::from_f64(v);
    let mut total = rec;

    let sparsity = sparsity_loss(codes)?;
    terms.sparsity = sparsity.scalar()?.to_f64();

    if betas.consistency_active(cfg.lambda_consistency) {
        let mixes =
            mixes.ok_or_else(|| Error::param("mixes", "the consistency term is active but no mixes were given"))?;
        let cons = consistency_loss(model, cfg.reconstruction, codes, mixes)?;
        terms.consistency = cons.scalar()?.to_f64();
        total = total.add(cons.mul_scalar(w(betas.beta2 * cfg.lambda_consistency)))?;
    }

    let dist = pair_distances(codes)?;
    let mu = subspace_normalisers(&codes.value());
    let sel = select_subspaces(&dist.value(), &mu, oracle)?;
    let distance = distance_loss(dist, &sel)?;
    terms.distance = distance.scalar()?.to_f64();
    let weighted = distance.mul_scalar(w(cfg.lambda_distance)).add(sparsity.mul_scalar(w(cfg.lambda_sparsity)))?;
    total = total.add(weighted.mul_scalar(w(betas.beta1)))?;

    let reg = distribution_loss(cfg.distribution, dist, &sel)?;
    terms.distribution = reg.scalar()?.to_f64();
    total = total.add(reg.mul_scalar(w(betas.beta3 * cfg.lambda_distribution)))?;

    terms.total = total.scalar()?.to_f64();
    Ok(StepResult { loss: total, terms, selection: Some(sel) })
}
