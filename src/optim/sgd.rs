//! Stochastic gradient descent with momentum (PyTorch `torch.optim.SGD`).
//!
//! ```text
//! g ← g + wd·p                                   (weight_decay)
//! b ← g at the first step, else μ·b + (1 − τ)·g  (momentum μ > 0, dampening τ)
//! g ← g + μ·b if nesterov, else b
//! p ← p − lr·g
//! ```

use super::{check_positive, grad_for, Optimizer};
use crate::autodiff::{Element, Grads, Tensor};
use crate::error::{Error, Result};
use crate::nn::Module;
use std::collections::BTreeMap;

/// SGD hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (required in PyTorch; default here `1e-2`).
    pub lr: f64,
    /// Momentum μ. Default `0` (PyTorch).
    pub momentum: f64,
    /// Dampening τ. Default `0` (PyTorch).
    pub dampening: f64,
    /// L2 weight decay. Default `0` (PyTorch).
    pub weight_decay: f64,
    /// Nesterov momentum. Default `false` (PyTorch).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 1e-2, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }
}

/// The SGD optimizer.
#[derive(Clone, Debug)]
pub struct Sgd<T> {
    config: SgdConfig,
    momentum: BTreeMap<String, Tensor<T>>,
}

impl<T: Element> Sgd<T> {
    /// An optimizer with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `lr ≤ 0`, negative momentum/dampening/weight decay, or
    /// Nesterov without momentum or with dampening (as PyTorch).
    pub fn new(config: SgdConfig) -> Result<Self> {
        check_positive("lr", config.lr, false)?;
        check_positive("momentum", config.momentum, true)?;
        check_positive("dampening", config.dampening, true)?;
        check_positive("weight_decay", config.weight_decay, true)?;
        if config.nesterov && (config.momentum == 0.0 || config.dampening != 0.0) {
            return Err(Error::param("nesterov", "requires momentum > 0 and dampening = 0"));
        }
        Ok(Sgd { config, momentum: BTreeMap::new() })
    }
}

impl<T: Element> Optimizer<T> for Sgd<T> {
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()> {
        let c = self.config;
        let (lr, mu, damp, wd) =
            (T::from_f64(c.lr), T::from_f64(c.momentum), T::from_f64(c.dampening), T::from_f64(c.weight_decay));
        let mut result = Ok(());
        let bufs = &mut self.momentum;
        model.visit_params_mut(&mut |p| {
            if result.is_err() {
                return;
            }
            let mut g = match grad_for(grads, &p.name, &p.value) {
                Ok(Some(g)) => g,
                Ok(None) => return,
                Err(e) => {
                    result = Err(e);
                    return;
                }
            };
            if c.weight_decay != 0.0 {
                g.zip_mut_with(&p.value, |g, &p| *g += wd * p);
            }
            if c.momentum != 0.0 {
                match bufs.get_mut(&p.name) {
                    None => {
                        bufs.insert(p.name.clone(), g.clone());
                    }
                    Some(b) => b.zip_mut_with(&g, |b, &g| *b = mu * *b + (T::ONE - damp) * g),
                }
                let b = &bufs[&p.name];
                if c.nesterov {
                    g.zip_mut_with(b, |g, &b| *g += mu * b);
                } else {
                    g.assign(b);
                }
            }
            p.value.zip_mut_with(&g, |p, &g| *p -= lr * g);
        });
        result
    }
}
