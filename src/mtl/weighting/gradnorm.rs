//! GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: gradient normalization for
//! adaptive loss balancing in deep multitask networks", ICML 2018), as LibMTL
//! (`LibMTL/weighting/GradNorm.py`, `rep_grad=False`: gradients of all shared parameters):
//!
//! ```text
//! epoch 0:        shared gradient = Σ_i g_i                    (λ = 1)
//! epoch e ≥ 1:    λ = T·softmax(ω)                             (ω trainable, init 1)
//!                 G_i = ‖λ_i g_i‖₂,  Ḡ = mean_i G_i
//!                 L̃_i = L_i / L̄_i(0),  r_i = L̃_i / mean_j L̃_j   (L̄_i(0): epoch-0 mean loss)
//!                 L_grad = Σ_i |G_i − sg(Ḡ · r_i^α)|,  α = 1.5
//!                 ω receives ∂L_grad/∂ω (applied by the model's optimizer);
//!                 shared gradient = Σ_i sg(λ_i) g_i
//! ```
//!
//! `sg` = stop-gradient. `∂L_grad/∂ω` is computed on a small tape from the softmax, so it is
//! exactly the autodiff of the formula. ω is the parameter `"weighting.gradnorm.loss_scale"`.

use super::{check_grads, dot, weighted_grad_sum, GradientCombination, Weighting, WeightingKind};
use crate::autodiff::{Tape, Tensor, Var};
use crate::error::{Error, Result};
use crate::nn::{Module, Param};

/// GradNorm (see the module docs).
#[derive(Clone, Debug)]
pub struct GradNorm {
    alpha: f64,
    omega: Param<f32>,
    initial_losses: Option<Vec<f64>>,
}

impl GradNorm {
    /// For `n_tasks` tasks with asymmetry `α` (LibMTL default 1.5).
    pub fn new(n_tasks: usize, alpha: f64) -> Self {
        GradNorm {
            alpha,
            omega: Param::new("weighting.gradnorm.loss_scale", Tensor::from_elem(vec![n_tasks], 1.0f32)),
            initial_losses: None,
        }
    }
    /// Sets the epoch-0 mean losses directly (as after one epoch), for tests and resuming.
    pub fn set_initial_losses(&mut self, l0: Vec<f64>) {
        self.initial_losses = Some(l0);
    }
    fn lambda(&self) -> Vec<f64> {
        let w: Vec<f64> = self.omega.value.iter().map(|&v| v as f64).collect();
        super::scaled_softmax(&w)
    }
}

impl Module<f32> for GradNorm {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<f32>)) {
        f(&self.omega);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<f32>)) {
        f(&mut self.omega);
    }
}

impl Weighting for GradNorm {
    fn name(&self) -> &'static str {
        "gradnorm"
    }
    fn n_tasks(&self) -> usize {
        self.omega.value.len()
    }
    fn kind(&self) -> WeightingKind {
        WeightingKind::Gradient
    }
    fn combine_losses<'t>(&self, losses: &[Var<'t, f32>]) -> Result<Var<'t, f32>> {
        super::weighted_sum(losses, &vec![1.0; self.n_tasks()], "gradnorm")
    }
    fn combine_gradients(&mut self, losses: &[f64], grads: &[Vec<f32>]) -> Result<GradientCombination> {
        let t = self.n_tasks();
        check_grads(losses, grads, t, "gradnorm")?;
        let Some(l0) = self.initial_losses.clone() else {
            return Ok(GradientCombination { shared: weighted_grad_sum(grads, &vec![1.0; t]), weighting_grads: None });
        };
        if let Some(i) = l0.iter().position(|&v| v.is_nan() || v <= 0.0) {
            return Err(Error::InvalidData(format!("gradnorm: epoch-0 mean loss of task {i} is {}, not > 0", l0[i])));
        }
        let norms: Vec<f64> = grads
            .iter()
            .map(|g| {
                let g64: Vec<f64> = g.iter().map(|&x| x as f64).collect();
                dot(&g64, &g64).sqrt()
            })
            .collect();
        let lambda = self.lambda();
        let g_per: Vec<f64> = lambda.iter().zip(&norms).map(|(l, n)| l * n).collect();
        let g_bar = g_per.iter().sum::<f64>() / t as f64;
        let ratio: Vec<f64> = losses.iter().zip(&l0).map(|(l, l0)| l / l0).collect();
        let r_mean = ratio.iter().sum::<f64>() / t as f64;
        let target: Vec<f32> = ratio.iter().map(|r| (g_bar * (r / r_mean).powf(self.alpha)) as f32).collect();
        // L_grad on a tape: ω → λ = T·softmax(ω) → G = λ ⊙ ‖g‖ → Σ |G − target|.
        let tape = Tape::<f32>::new();
        let omega = self.omega.bind(&tape);
        let lam = omega.softmax(0)?.mul_scalar(t as f32);
        let n = tape.constant(Tensor::from_shape_vec(vec![t], norms.iter().map(|&v| v as f32).collect()).expect("1-D"));
        let c = tape.constant(Tensor::from_shape_vec(vec![t], target).expect("1-D"));
        let l_grad = lam.mul(n)?.sub(c)?.abs().sum_all();
        let wgrads = tape.backward(l_grad)?;
        Ok(GradientCombination { shared: weighted_grad_sum(grads, &lambda), weighting_grads: Some(wgrads) })
    }
    fn end_epoch(&mut self, mean_losses: &[f64]) {
        if self.initial_losses.is_none() {
            self.initial_losses = Some(mean_losses.to_vec());
        }
    }
    fn trainable(&mut self) -> Option<&mut dyn Module<f32>> {
        Some(self)
    }
    fn weights(&self) -> Vec<f64> {
        if self.initial_losses.is_none() {
            vec![1.0; self.n_tasks()]
        } else {
            self.lambda()
        }
    }
}
