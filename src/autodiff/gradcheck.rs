//! Finite-difference gradient checking in `f64`.
//!
//! For a function `f(x₁, …, x_k) → y` built from tape ops, [`check`] contracts the output with
//! a fixed pseudo-random weight tensor `r` (so every output element is tested),
//! `L = Σ y ⊙ r`, computes `∂L/∂xᵢ` by reverse mode, and compares each element with the central
//! difference `(L(x + h·e) − L(x − h·e)) / 2h`. An element passes when
//! `|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)`.
//!
//! Central differences are exact for quadratics and have `O(h²)` error otherwise; keep inputs
//! away from kinks (`relu` at 0, `abs` at 0, ties of `max`) when testing such ops.
//!
//! ```
//! use detaux::autodiff::gradcheck::{check, GradCheck};
//! use ndarray::arr2;
//! let x = arr2(&[[0.3, -1.2], [2.0, 0.7]]).into_dyn();
//! let report = check(&GradCheck::default(), &[x], |_, v| Ok(v[0].tanh().mul(v[0])?))?;
//! assert!(report.passed(), "{report}");
//! # Ok::<(), detaux::Error>(())
//! ```

use super::{Tape, Tensor, Var};
use crate::error::Result;
use crate::rng::SeedTree;
use rand::Rng;

/// Settings of a gradient check.
#[derive(Clone, Copy, Debug)]
pub struct GradCheck {
    /// Finite-difference step `h` (default `1e-6`).
    pub eps: f64,
    /// Relative tolerance (default `1e-6`).
    pub rtol: f64,
    /// Absolute tolerance (default `1e-8`).
    pub atol: f64,
    /// Seed of the output-contraction weights (default 0).
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { eps: 1e-6, rtol: 1e-6, atol: 1e-8, seed: 0 }
    }
}

/// The outcome of [`check`]: the worst element and how many failed.
#[derive(Clone, Debug)]
pub struct GradCheckReport {
    /// Elements compared.
    pub checked: usize,
    /// Elements outside tolerance.
    pub failures: usize,
    /// `(input, flat element, analytic, numeric)` of the largest normalised error.
    pub worst: Option<(usize, usize, f64, f64)>,
    /// Largest `|analytic − numeric| / (atol + rtol·max(|a|, |n|))`; ≤ 1 passes.
    pub worst_ratio: f64,
}

impl GradCheckReport {
    /// `true` if every element is within tolerance.
    pub fn passed(&self) -> bool {
        self.failures == 0
    }
}

impl std::fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} gradient elements out of tolerance", self.failures, self.checked)?;
        if let Some((i, k, a, n)) = self.worst {
            write!(
                f,
                "; worst: input {i} element {k}: analytic {a:e} vs numeric {n:e} (ratio {:.3})",
                self.worst_ratio
            )?;
        }
        Ok(())
    }
}

/// Checks reverse-mode gradients of `f` at `inputs` against central differences.
///
/// # Errors
/// Whatever `f` returns.
pub fn check<F>(cfg: &GradCheck, inputs: &[Tensor<f64>], f: F) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    // Fixed contraction weights in [0.5, 1.5) with random signs, one per output element.
    let out_len = {
        let tape = Tape::new();
        let vars: Vec<_> = inputs.iter().map(|x| tape.constant(x.clone())).collect();
        f(&tape, &vars)?.value().len()
    };
    let mut rng = SeedTree::new(cfg.seed).rng("gradcheck");
    let weights: Vec<f64> = (0..out_len)
        .map(|_| {
            let m: f64 = rng.gen_range(0.5..1.5);
            if rng.gen::<bool>() {
                m
            } else {
                -m
            }
        })
        .collect();
    let loss_of = |xs: &[Tensor<f64>]| -> Result<f64> {
        let tape = Tape::new();
        let vars: Vec<_> = xs.iter().map(|x| tape.constant(x.clone())).collect();
        let y = f(&tape, &vars)?.value();
        Ok(y.iter().zip(&weights).map(|(a, b)| a * b).sum())
    };
    // Analytic gradients.
    let tape = Tape::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let y = f(&tape, &vars)?;
    let shape = y.shape();
    let w = tape.constant(Tensor::from_shape_vec(ndarray::IxDyn(&shape), weights.clone()).expect("sized"));
    let loss = y.mul(w)?.sum_all();
    let grads = tape.backward(loss)?;
    let analytic: Vec<Tensor<f64>> = vars
        .iter()
        .zip(inputs)
        .map(|(v, x)| Ok(grads.wrt(*v)?.cloned().unwrap_or_else(|| Tensor::zeros(x.raw_dim()))))
        .collect::<Result<_>>()?;
    let mut report = GradCheckReport { checked: 0, failures: 0, worst: None, worst_ratio: 0.0 };
    let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
    for i in 0..xs.len() {
        for k in 0..xs[i].len() {
            let orig = xs[i].as_slice().expect("standard layout")[k];
            xs[i].as_slice_mut().expect("standard layout")[k] = orig + cfg.eps;
            let lp = loss_of(&xs)?;
            xs[i].as_slice_mut().expect("standard layout")[k] = orig - cfg.eps;
            let lm = loss_of(&xs)?;
            xs[i].as_slice_mut().expect("standard layout")[k] = orig;
            let numeric = (lp - lm) / (2.0 * cfg.eps);
            let a = analytic[i].as_standard_layout().as_slice().expect("standard layout")[k];
            let ratio = (a - numeric).abs() / (cfg.atol + cfg.rtol * a.abs().max(numeric.abs()));
            report.checked += 1;
            let within = ratio <= 1.0; // false for NaN
            if !within {
                report.failures += 1;
            }
            if ratio.is_nan() || ratio > report.worst_ratio {
                report.worst_ratio = ratio;
                report.worst = Some((i, k, a, numeric));
            }
        }
    }
    Ok(report)
}
