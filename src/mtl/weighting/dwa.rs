//! Dynamic Weight Average (Liu, Johns & Davison, "End-to-end multi-task learning with
//! attention", CVPR 2019), in LibMTL's form (`LibMTL/weighting/DWA.py`, docs/method.md §9):
//!
//! at epoch `e` (0-based) with `e ≥ 2`: `r_i = L̄_i(e−1) / L̄_i(e−2)`, `w = T·softmax(r/τ)`,
//! `τ = 2`; at epochs 0 and 1, `w = 1`. `L̄_i(e)` is task `i`'s mean training loss over epoch
//! `e`. The step loss is `L = Σ_i w_i L_i`.

use super::{weighted_sum, Weighting, WeightingKind};
use crate::autodiff::Var;
use crate::error::Result;

/// DWA (see the module docs).
#[derive(Clone, Debug)]
pub struct DynamicWeightAverage {
    n_tasks: usize,
    temperature: f64,
    history: Vec<Vec<f64>>,
}

impl DynamicWeightAverage {
    /// For `n_tasks` tasks at temperature `τ` (LibMTL default 2).
    pub fn new(n_tasks: usize, temperature: f64) -> Self {
        DynamicWeightAverage { n_tasks, temperature, history: Vec::new() }
    }
}

impl Weighting for DynamicWeightAverage {
    fn name(&self) -> &'static str {
        "dwa"
    }
    fn n_tasks(&self) -> usize {
        self.n_tasks
    }
    fn kind(&self) -> WeightingKind {
        WeightingKind::Loss
    }
    fn combine_losses<'t>(&self, losses: &[Var<'t, f32>]) -> Result<Var<'t, f32>> {
        weighted_sum(losses, &self.weights(), "dwa weighting")
    }
    fn end_epoch(&mut self, mean_losses: &[f64]) {
        self.history.push(mean_losses.to_vec());
    }
    fn weights(&self) -> Vec<f64> {
        let e = self.history.len();
        if e < 2 {
            return vec![1.0; self.n_tasks];
        }
        let (prev, prev2) = (&self.history[e - 1], &self.history[e - 2]);
        let z: Vec<f64> = prev.iter().zip(prev2).map(|(a, b)| a / b / self.temperature).collect();
        super::scaled_softmax(&z)
    }
}
