//! PCGrad, "projecting conflicting gradients" (Yu, Kumar, Gupta, Levine, Hausman & Finn,
//! "Gradient surgery for multi-task learning", NeurIPS 2020), as LibMTL
//! (`LibMTL/weighting/PCGrad.py`):
//!
//! ```text
//! g̃_i ← g_i                              for every task i
//! for i in 0..T:
//!     for j in shuffle(0..T):             (a fresh random order per i)
//!         if g̃_i · g_j < 0:  g̃_i ← g̃_i − (g̃_i · g_j / ‖g_j‖²) g_j
//! shared gradient = Σ_i g̃_i
//! ```
//!
//! `g_i` are the gradients of all shared parameters, flattened. The order is drawn from the
//! strategy's own seeded generator (Fisher–Yates via `rand::seq::SliceRandom::shuffle`), so a
//! run is reproducible. Dot products and norms are f64 sequential sums.

use super::{check_grads, dot, GradientCombination, Weighting, WeightingKind};
use crate::autodiff::Var;
use crate::error::Result;
use crate::rng::Rng;
use rand::seq::SliceRandom;

/// PCGrad (see the module docs).
pub struct PcGrad {
    n_tasks: usize,
    rng: Rng,
}

impl PcGrad {
    /// For `n_tasks` tasks; task orders come from `rng`.
    pub fn new(n_tasks: usize, rng: Rng) -> Self {
        PcGrad { n_tasks, rng }
    }

    /// The projected gradients `g̃_i` (before summing), drawing task orders from the generator.
    pub fn project(&mut self, grads: &[Vec<f32>]) -> Vec<Vec<f64>> {
        let g: Vec<Vec<f64>> = grads.iter().map(|v| v.iter().map(|&x| x as f64).collect()).collect();
        let sq: Vec<f64> = g.iter().map(|v| dot(v, v)).collect();
        let mut pc = g.clone();
        for pci in pc.iter_mut() {
            let mut order: Vec<usize> = (0..self.n_tasks).collect();
            order.shuffle(&mut self.rng);
            for &j in &order {
                let gij = dot(pci, &g[j]);
                if gij < 0.0 && sq[j] > 0.0 {
                    let c = gij / sq[j];
                    for (p, &gj) in pci.iter_mut().zip(&g[j]) {
                        *p -= c * gj;
                    }
                }
            }
        }
        pc
    }
}

impl Weighting for PcGrad {
    fn name(&self) -> &'static str {
        "pcgrad"
    }
    fn n_tasks(&self) -> usize {
        self.n_tasks
    }
    fn kind(&self) -> WeightingKind {
        WeightingKind::Gradient
    }
    fn combine_losses<'t>(&self, losses: &[Var<'t, f32>]) -> Result<Var<'t, f32>> {
        super::weighted_sum(losses, &vec![1.0; self.n_tasks], "pcgrad")
    }
    fn combine_gradients(&mut self, losses: &[f64], grads: &[Vec<f32>]) -> Result<GradientCombination> {
        let d = check_grads(losses, grads, self.n_tasks, "pcgrad")?;
        let pc = self.project(grads);
        let shared = (0..d).map(|k| pc.iter().map(|v| v[k]).sum::<f64>() as f32).collect();
        Ok(GradientCombination { shared, weighting_grads: None })
    }
    fn weights(&self) -> Vec<f64> {
        vec![1.0; self.n_tasks]
    }
}
