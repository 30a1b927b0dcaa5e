//! The fused Adam / AdamW update, one pass over parameter, gradient and both moments.
//!
//! For step `t ≥ 1` (PyTorch `torch.optim.Adam` / `AdamW`, `amsgrad=False`, `maximize=False`,
//! single-tensor path), with `bc1 = 1 − β1^t`, `bc2 = 1 − β2^t`:
//!
//! ```text
//! Adam  (L2):        g ← g + wd·p
//! AdamW (decoupled): p ← p·(1 − lr·wd)
//! m ← β1·m + (1 − β1)·g
//! v ← β2·v + (1 − β2)·g²
//! p ← p − (lr / bc1) · m / (√v / √bc2 + ε)
//! ```
//!
//! The scalar coefficients are computed once in `f64` and rounded to `T`.
//!
//! ## Determinism
//! Purely element-wise: each element's update reads only that element, so any split is exact.

use crate::{Float, Par};
use rayon::prelude::*;

/// Elements per parallel chunk.
pub const CHUNK: usize = 1 << 15;

/// How weight decay enters the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightDecayMode {
    /// Added to the gradient (`torch.optim.Adam`'s `weight_decay`).
    L2,
    /// Applied to the parameter before the step (`torch.optim.AdamW`).
    Decoupled,
}

/// The hyperparameters of one Adam/AdamW step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay β1.
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// Denominator term ε.
    pub eps: f64,
    /// Weight decay coefficient.
    pub weight_decay: f64,
    /// How weight decay is applied.
    pub mode: WeightDecayMode,
    /// 1-based step count `t` (after incrementing for this step).
    pub step: u64,
}

/// Applies one Adam/AdamW step in place. All four slices have the same length.
///
/// # Panics
/// If the lengths differ or `step == 0`.
pub fn adam_update<T: Float>(param: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], s: &AdamStep, par: Par) {
    let n = param.len();
    assert!(grad.len() == n && m.len() == n && v.len() == n, "adam_update: slice lengths differ");
    assert!(s.step >= 1, "adam_update: step counts from 1");
    let bc1 = 1.0 - s.beta1.powi(s.step.min(i32::MAX as u64) as i32);
    let bc2 = 1.0 - s.beta2.powi(s.step.min(i32::MAX as u64) as i32);
    let c = Coeffs {
        b1: T::from_f64(s.beta1),
        one_m_b1: T::from_f64(1.0 - s.beta1),
        b2: T::from_f64(s.beta2),
        one_m_b2: T::from_f64(1.0 - s.beta2),
        step_size: T::from_f64(s.lr / bc1),
        sqrt_bc2: T::from_f64(bc2.sqrt()),
        eps: T::from_f64(s.eps),
        l2: if s.mode == WeightDecayMode::L2 { T::from_f64(s.weight_decay) } else { T::ZERO },
        decay: if s.mode == WeightDecayMode::Decoupled { T::from_f64(1.0 - s.lr * s.weight_decay) } else { T::ONE },
    };
    if par.for_work(n, 4 * CHUNK) == Par::Seq {
        update_chunk(param, grad, m, v, &c);
    } else {
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| update_chunk(p, g, m, v, &c));
    }
}

struct Coeffs<T> {
    b1: T,
    one_m_b1: T,
    b2: T,
    one_m_b2: T,
    step_size: T,
    sqrt_bc2: T,
    eps: T,
    l2: T,
    decay: T,
}

#[inline]
fn update_chunk<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: &Coeffs<T>) {
    for i in 0..p.len() {
        let mut pi = p[i];
        let gi = g[i] + c.l2 * pi;
        pi *= c.decay;
        let mi = c.b1 * m[i] + c.one_m_b1 * gi;
        let vi = c.b2 * v[i] + c.one_m_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - c.step_size * mi / (vi.sqrt() / c.sqrt_bc2 + c.eps);
    }
}

/// The oracle: the same update written element by element in `f64`.
pub fn adam_update_reference<T: Float>(param: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], s: &AdamStep) {
    let bc1 = 1.0 - s.beta1.powi(s.step as i32);
    let bc2 = 1.0 - s.beta2.powi(s.step as i32);
    for i in 0..param.len() {
        let mut p = param[i].to_f64();
        let mut g = grad[i].to_f64();
        match s.mode {
            WeightDecayMode::L2 => g += s.weight_decay * p,
            WeightDecayMode::Decoupled => p *= 1.0 - s.lr * s.weight_decay,
        }
        let mi = s.beta1 * m[i].to_f64() + (1.0 - s.beta1) * g;
        let vi = s.beta2 * v[i].to_f64() + (1.0 - s.beta2) * g * g;
        m[i] = T::from_f64(mi);
        v[i] = T::from_f64(vi);
        param[i] = T::from_f64(p - (s.lr / bc1) * mi / (vi.sqrt() / bc2.sqrt() + s.eps));
    }
}
