//! Multi-task loss weighting: how per-task losses `L_1..L_T` (task 1 = principal) become one
//! update of the shared trunk and the heads. One type per strategy behind [`Weighting`];
//! formulas follow LibMTL (`median-research-group/LibMTL`, `LibMTL/weighting/*.py`).
//!
//! | name (`--weighting`) | type | update |
//! |---|---|---|
//! | `equal` | [`EqualWeights`] | `L = Σ_i L_i` |
//! | `fixed:w1,w2,…` | [`FixedWeights`] | `L = Σ_i w_i L_i` |
//! | `uw` | [`UncertaintyWeights`] | `L = Σ_i [L_i / (2e^{s_i}) + s_i/2]`, `s` trainable, init −0.5 |
//! | `dwa` | [`DynamicWeightAverage`] | `L = Σ_i w_i L_i`, `w = T·softmax(r/τ)`, `r_i = L̄_i(e−1)/L̄_i(e−2)`, τ = 2 |
//! | `gradnorm` | [`GradNorm`] | shared grad `Σ_i λ_i g_i`, `λ = T·softmax(ω)`, ω trained on the GradNorm loss, α = 1.5 |
//! | `pcgrad` | [`PcGrad`] | shared grad `Σ_i g̃_i`, `g̃_i` = `g_i` with conflicting components projected out |
//!
//! *Loss-level* strategies ([`WeightingKind::Loss`]) build the total loss on the tape
//! ([`Weighting::combine_losses`]); one backward gives every gradient (and, for `uw`, the
//! gradient of its own parameters, which the trainer applies with the model's optimizer
//! settings, as LibMTL puts them in the model's optimizer).
//!
//! *Gradient-level* strategies ([`WeightingKind::Gradient`]) receive the per-task gradients
//! `g_i = ∂L_i/∂θ_shared` of all shared (trunk) parameters, flattened in parameter order, and
//! return the combined shared gradient ([`Weighting::combine_gradients`]). As in LibMTL
//! (`AbsWeighting._compute_grad`, `rep_grad=False`), each head receives the plain gradient of
//! its own task loss (heads are task-specific, so no weighting applies to them).
//!
//! Bookkeeping across epochs (DWA, GradNorm) uses the per-task mean training loss of each
//! finished epoch, passed to [`Weighting::end_epoch`] (LibMTL's `train_loss_buffer`).
//!
//! **Determinism**: all reductions here are sequential loops in f64 over a fixed order;
//! PCGrad's random task order comes from a generator of the run's seed tree.

mod dwa;
mod equal;
mod fixed;
mod gradnorm;
mod pcgrad;
mod uncertainty;

pub use dwa::DynamicWeightAverage;
pub use equal::EqualWeights;
pub use fixed::FixedWeights;
pub use gradnorm::GradNorm;
pub use pcgrad::PcGrad;
pub use uncertainty::UncertaintyWeights;

use crate::autodiff::ops::shape::stack;
use crate::autodiff::{Grads, Var};
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::rng::SeedTree;

/// Whether a strategy combines losses or per-task gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightingKind {
    /// Builds the total loss on the tape.
    Loss,
    /// Combines per-task gradients of the shared parameters.
    Gradient,
}

/// What a gradient-level strategy returns for one step.
pub struct GradientCombination {
    /// The combined gradient of the shared parameters, flattened in parameter order.
    pub shared: Vec<f32>,
    /// Gradients of the strategy's own trainable parameters (GradNorm's ω), if any, to be
    /// applied to [`Weighting::trainable`].
    pub weighting_grads: Option<Grads<f32>>,
}

/// A loss-weighting strategy (see the [module docs](self)).
pub trait Weighting: Send {
    /// The `--weighting` name, e.g. `"uw"`.
    fn name(&self) -> &'static str;
    /// Number of tasks it was built for.
    fn n_tasks(&self) -> usize;
    /// Loss- or gradient-level.
    fn kind(&self) -> WeightingKind;
    /// The total loss from per-task scalar losses (same tape). For gradient-level strategies
    /// this is the plain sum (used for logging only).
    ///
    /// # Errors
    /// [`Error::Shape`] if the number of losses is not `n_tasks()` or they are not scalars.
    fn combine_losses<'t>(&self, losses: &[Var<'t, f32>]) -> Result<Var<'t, f32>>;
    /// Combines per-task shared gradients (`grads[i]` = flattened `∂L_i/∂θ_shared`; `losses[i]`
    /// = `L_i`). Only called for [`WeightingKind::Gradient`].
    ///
    /// # Errors
    /// [`Error::Shape`] if the counts or lengths disagree.
    fn combine_gradients(&mut self, losses: &[f64], grads: &[Vec<f32>]) -> Result<GradientCombination> {
        let _ = (losses, grads);
        Err(Error::param("weighting", format!("{} is a loss-level strategy", self.name())))
    }
    /// Records the per-task mean training losses of the epoch that just ended.
    fn end_epoch(&mut self, mean_losses: &[f64]) {
        let _ = mean_losses;
    }
    /// The strategy's own trainable parameters (uw's `s`, GradNorm's ω), if any.
    fn trainable(&mut self) -> Option<&mut dyn Module<f32>> {
        None
    }
    /// The current effective task weights (for logs and reports).
    fn weights(&self) -> Vec<f64>;
}

/// A parsed `--weighting` value.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightingSpec {
    /// `equal`.
    Equal,
    /// `fixed:w1,w2,…`.
    Fixed(Vec<f64>),
    /// `uw`.
    Uncertainty,
    /// `dwa`.
    Dwa,
    /// `gradnorm`.
    GradNorm,
    /// `pcgrad`.
    PcGrad,
}

/// The valid `--weighting` forms, for messages and help.
pub const WEIGHTING_FORMS: &str = "equal, fixed:W1,W2,..., uw, dwa, gradnorm, pcgrad";

impl std::str::FromStr for WeightingSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| Error::param("--weighting", format!("{why}; valid: {WEIGHTING_FORMS}"));
        match s {
            "equal" | "ew" => Ok(WeightingSpec::Equal),
            "uw" | "uncertainty" => Ok(WeightingSpec::Uncertainty),
            "dwa" => Ok(WeightingSpec::Dwa),
            "gradnorm" => Ok(WeightingSpec::GradNorm),
            "pcgrad" => Ok(WeightingSpec::PcGrad),
            _ => match s.strip_prefix("fixed:") {
                Some(list) => {
                    let w: std::result::Result<Vec<f64>, _> =
                        list.split(',').map(|t| t.trim().parse::<f64>()).collect();
                    match w {
                        Ok(w) if !w.is_empty() && w.iter().all(|v| v.is_finite() && *v >= 0.0) => {
                            Ok(WeightingSpec::Fixed(w))
                        }
                        _ => Err(bad(format!("'{s}': weights must be finite numbers >= 0 separated by commas"))),
                    }
                }
                None => Err(bad(format!("unknown weighting '{s}'"))),
            },
        }
    }
}

impl std::fmt::Display for WeightingSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightingSpec::Equal => write!(f, "equal"),
            WeightingSpec::Fixed(w) => {
                let list: Vec<String> = w.iter().map(|v| v.to_string()).collect();
                write!(f, "fixed:{}", list.join(","))
            }
            WeightingSpec::Uncertainty => write!(f, "uw"),
            WeightingSpec::Dwa => write!(f, "dwa"),
            WeightingSpec::GradNorm => write!(f, "gradnorm"),
            WeightingSpec::PcGrad => write!(f, "pcgrad"),
        }
    }
}

impl WeightingSpec {
    /// Builds the strategy for `n_tasks` tasks; PCGrad draws its task orders from stream
    /// `"pcgrad"` of `seeds`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `--weighting` if `fixed` has a different number of weights
    /// than tasks, or `n_tasks == 0`.
    pub fn build(&self, n_tasks: usize, seeds: &SeedTree) -> Result<Box<dyn Weighting>> {
        if n_tasks == 0 {
            return Err(Error::param("--weighting", "needs at least one task"));
        }
        Ok(match self {
            WeightingSpec::Equal => Box::new(EqualWeights::new(n_tasks)),
            WeightingSpec::Fixed(w) => {
                if w.len() != n_tasks {
                    return Err(Error::param(
                        "--weighting",
                        format!("fixed has {} weight(s) but there are {n_tasks} task(s)", w.len()),
                    ));
                }
                Box::new(FixedWeights::new(w.clone()))
            }
            WeightingSpec::Uncertainty => Box::new(UncertaintyWeights::new(n_tasks)),
            WeightingSpec::Dwa => Box::new(DynamicWeightAverage::new(n_tasks, 2.0)),
            WeightingSpec::GradNorm => Box::new(GradNorm::new(n_tasks, 1.5)),
            WeightingSpec::PcGrad => Box::new(PcGrad::new(n_tasks, seeds.rng("pcgrad"))),
        })
    }
}

/// `[T]` vector of the scalar losses, after checking their count.
pub(crate) fn stack_losses<'t>(losses: &[Var<'t, f32>], n_tasks: usize, who: &'static str) -> Result<Var<'t, f32>> {
    if losses.len() != n_tasks {
        return Err(Error::shape(who, format!("expected {n_tasks} task losses, got {}", losses.len())));
    }
    if let Some(l) = losses.iter().find(|l| l.shape().iter().product::<usize>() != 1) {
        return Err(Error::shape(who, format!("task losses must be scalars, got shape {:?}", l.shape())));
    }
    let flat: Vec<Var<'t, f32>> = losses.iter().map(|l| l.reshape(&[])).collect::<Result<_>>()?;
    stack(&flat, 0)
}

/// `Σ_i w_i L_i` on the tape, `w` a constant.
pub(crate) fn weighted_sum<'t>(losses: &[Var<'t, f32>], w: &[f64], who: &'static str) -> Result<Var<'t, f32>> {
    let l = stack_losses(losses, w.len(), who)?;
    let wv = l.tape().constant(ndarray::Array1::from_iter(w.iter().map(|&v| v as f32)).into_dyn());
    Ok(l.mul(wv)?.sum_all())
}

/// Checks `grads` (T vectors of equal length) and `losses` (T values).
pub(crate) fn check_grads(losses: &[f64], grads: &[Vec<f32>], n_tasks: usize, who: &'static str) -> Result<usize> {
    if grads.len() != n_tasks || losses.len() != n_tasks {
        return Err(Error::shape(
            who,
            format!("expected {n_tasks} task gradients and losses, got {} and {}", grads.len(), losses.len()),
        ));
    }
    let d = grads[0].len();
    if let Some(g) = grads.iter().find(|g| g.len() != d) {
        return Err(Error::shape(who, format!("task gradients have lengths {d} and {}", g.len())));
    }
    Ok(d)
}

/// `Σ_i w_i g_i` element-wise in f64, task order fixed.
pub(crate) fn weighted_grad_sum(grads: &[Vec<f32>], w: &[f64]) -> Vec<f32> {
    let d = grads.first().map_or(0, |g| g.len());
    (0..d).map(|k| grads.iter().zip(w).map(|(g, &wi)| wi * g[k] as f64).sum::<f64>() as f32).collect()
}

/// `Σ_k a_k b_k` in f64, sequential.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `n · softmax(z)` for `n = z.len()` task weights (they sum to `n`), in f64, shifted by the
/// maximum for stability: DWA's weights of the loss ratios and GradNorm's weights of its logits.
pub(crate) fn scaled_softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| z.len() as f64 * v / s).collect()
}
