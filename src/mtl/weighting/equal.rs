//! Equal weighting (LibMTL `EW`): `L = Σ_i L_i` — the reference Detaux aux stage's
//! `CE(main) + CE(aux)` (`aux_learning.py`), and the baseline of every weighting paper, e.g.
//! Kendall, Gal & Cipolla, "Multi-task learning using uncertainty to weigh losses", CVPR 2018.

use super::{weighted_sum, Weighting, WeightingKind};
use crate::autodiff::Var;
use crate::error::Result;

/// `L = Σ_i L_i`.
#[derive(Clone, Debug)]
pub struct EqualWeights {
    n_tasks: usize,
}

impl EqualWeights {
    /// For `n_tasks` tasks.
    pub fn new(n_tasks: usize) -> Self {
        EqualWeights { n_tasks }
    }
}

impl Weighting for EqualWeights {
    fn name(&self) -> &'static str {
        "equal"
    }
    fn n_tasks(&self) -> usize {
        self.n_tasks
    }
    fn kind(&self) -> WeightingKind {
        WeightingKind::Loss
    }
    fn combine_losses<'t>(&self, losses: &[Var<'t, f32>]) -> Result<Var<'t, f32>> {
        weighted_sum(losses, &vec![1.0; self.n_tasks], "equal weighting")
    }
    fn weights(&self) -> Vec<f64> {
        vec![1.0; self.n_tasks]
    }
}
