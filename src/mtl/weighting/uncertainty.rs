//! Uncertainty weighting (Kendall, Gal & Cipolla, "Multi-task learning using uncertainty to
//! weigh losses for scene geometry and semantics", CVPR 2018), in LibMTL's form
//! (`LibMTL/weighting/UW.py`, docs/method.md §9):
//!
//! `L = Σ_i [ L_i / (2·e^{s_i}) + s_i / 2 ]`, `s_i = log σ_i²` trainable, initialised to −0.5.
//!
//! Gradients: `∂L/∂L_i = 1/(2e^{s_i})`, `∂L/∂s_i = −L_i/(2e^{s_i}) + 1/2`. The effective task
//! weights reported are `1/(2e^{s_i})`. `s` is the parameter `"weighting.uw.log_var"` (`[T]`).

use super::{stack_losses, Weighting, WeightingKind};
use crate::autodiff::{Tensor, Var};
use crate::error::Result;
use crate::nn::{Module, Param};

/// Trainable per-task log-variances `s` (see the module docs).
#[derive(Clone, Debug)]
pub struct UncertaintyWeights {
    s: Param<f32>,
}

impl UncertaintyWeights {
    /// `s_i = −0.5` for `n_tasks` tasks.
    pub fn new(n_tasks: usize) -> Self {
        Self::with_log_vars(&vec![-0.5; n_tasks])
    }
    /// With given initial `s`.
    pub fn with_log_vars(s: &[f32]) -> Self {
        UncertaintyWeights {
            s: Param::new("weighting.uw.log_var", Tensor::from_shape_vec(vec![s.len()], s.to_vec()).expect("1-D")),
        }
    }
    /// The current `s`.
    pub fn log_vars(&self) -> Vec<f32> {
        self.s.value.iter().copied().collect()
    }
}

impl Module<f32> for UncertaintyWeights {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<f32>)) {
        f(&self.s);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<f32>)) {
        f(&mut self.s);
    }
}

impl Weighting for UncertaintyWeights {
    fn name(&self) -> &'static str {
        "uw"
    }
    fn n_tasks(&self) -> usize {
        self.s.value.len()
    }
    fn kind(&self) -> WeightingKind {
        WeightingKind::Loss
    }
    fn combine_losses<'t>(&self, losses: &[Var<'t, f32>]) -> Result<Var<'t, f32>> {
        let l = stack_losses(losses, self.n_tasks(), "uncertainty weighting")?;
        let s = self.s.bind(l.tape());
        let scaled = l.div(s.exp().mul_scalar(2.0))?;
        Ok(scaled.add(s.mul_scalar(0.5))?.sum_all())
    }
    fn trainable(&mut self) -> Option<&mut dyn Module<f32>> {
        Some(self)
    }
    fn weights(&self) -> Vec<f64> {
        self.s.value.iter().map(|&s| 1.0 / (2.0 * (s as f64).exp())).collect()
    }
}
