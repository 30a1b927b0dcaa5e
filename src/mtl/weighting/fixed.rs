//! Fixed weights: `L = Σ_i w_i L_i` with user-chosen `w` (the hand-tuned linear
//! combination that Kendall, Gal & Cipolla, CVPR 2018, "Multi-task learning using uncertainty
//! to weigh losses for scene geometry and semantics", compare against).

use super::{weighted_sum, Weighting, WeightingKind};
use crate::autodiff::Var;
use crate::error::Result;

/// `L = Σ_i w_i L_i`, `w` fixed.
#[derive(Clone, Debug)]
pub struct FixedWeights {
    w: Vec<f64>,
}

impl FixedWeights {
    /// With weights `w` (one per task).
    pub fn new(w: Vec<f64>) -> Self {
        FixedWeights { w }
    }
}

impl Weighting for FixedWeights {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn n_tasks(&self) -> usize {
        self.w.len()
    }
    fn kind(&self) -> WeightingKind {
        WeightingKind::Loss
    }
    fn combine_losses<'t>(&self, losses: &[Var<'t, f32>]) -> Result<Var<'t, f32>> {
        weighted_sum(losses, &self.w, "fixed weighting")
    }
    fn weights(&self) -> Vec<f64> {
        self.w.clone()
    }
}
