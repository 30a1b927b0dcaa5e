//! Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019), PyTorch semantics.
//!
//! For each parameter, at its step `t` (counted per parameter from 1), with gradient `g`:
//!
//! ```text
//! L2 (torch.optim.Adam, weight_decay=wd):        g ← g + wd·p
//! Decoupled (torch.optim.AdamW, weight_decay=wd): p ← p·(1 − lr·wd)
//! m ← β1·m + (1 − β1)·g
//! v ← β2·v + (1 − β2)·g²
//! p ← p − lr/(1 − β1^t) · m / (√v/√(1 − β2^t) + ε)
//! ```
//!
//! This is the order of PyTorch's single-tensor implementation (`amsgrad=False`,
//! `maximize=False`); the fused update is `detaux_kernels::adam::adam_update`.

use super::{check_positive, grad_for, Optimizer};
use crate::autodiff::{Element, Grads, Tensor};
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::par::Par;
use detaux_kernels::adam::{adam_update, AdamStep, WeightDecayMode};
use std::collections::BTreeMap;

/// How weight decay enters the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightDecay {
    /// Added to the gradient, `g + wd·p` (PyTorch `Adam`).
    L2,
    /// Applied to the weights, `p·(1 − lr·wd)` (PyTorch `AdamW`).
    Decoupled,
}

/// Adam/AdamW hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate. Default `1e-3` (PyTorch).
    pub lr: f64,
    /// `(β1, β2)`. Default `(0.9, 0.999)` (PyTorch).
    pub betas: (f64, f64),
    /// ε. Default `1e-8` (PyTorch).
    pub eps: f64,
    /// Weight decay. Default `0` (PyTorch `Adam`; `AdamW`'s default is `1e-2`, see [`Adam::adamw`]).
    pub weight_decay: f64,
    /// How weight decay is applied. Default [`WeightDecay::L2`].
    pub decay: WeightDecay,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, decay: WeightDecay::L2 }
    }
}

impl AdamConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field: `lr > 0`, `0 ≤ β < 1`, `eps > 0`, `weight_decay ≥ 0`.
    pub fn validate(&self) -> Result<()> {
        check_positive("lr", self.lr, false)?;
        for (name, b) in [("beta1", self.betas.0), ("beta2", self.betas.1)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::param(name, format!("must be in [0, 1), got {b}")));
            }
        }
        check_positive("eps", self.eps, false)?;
        check_positive("weight_decay", self.weight_decay, true)
    }
}

/// Per-parameter state: step count and the two moment estimates.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState<T> {
    /// Steps taken for this parameter.
    pub step: u64,
    /// First-moment estimate `m`.
    pub m: Tensor<T>,
    /// Second-moment estimate `v`.
    pub v: Tensor<T>,
}

/// The Adam / AdamW optimizer.
#[derive(Clone, Debug)]
pub struct Adam<T> {
    config: AdamConfig,
    state: BTreeMap<String, AdamState<T>>,
    par: Par,
}

impl<T: Element> Adam<T> {
    /// An optimizer with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if the config is invalid.
    pub fn new(config: AdamConfig) -> Result<Self> {
        config.validate()?;
        Ok(Adam { config, state: BTreeMap::new(), par: Par::Rayon })
    }
    /// AdamW: decoupled weight decay `wd`, other fields PyTorch's defaults, learning rate `lr`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `lr` or `wd` is invalid.
    pub fn adamw(lr: f64, weight_decay: f64) -> Result<Self> {
        Self::new(AdamConfig { lr, weight_decay, decay: WeightDecay::Decoupled, ..AdamConfig::default() })
    }
    /// The hyperparameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }
    /// Changes the learning rate (for schedules).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `lr` is not finite and positive.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        check_positive("lr", lr, false)?;
        self.config.lr = lr;
        Ok(())
    }
    /// Per-parameter state, by parameter name (for checkpoints).
    pub fn state(&self) -> &BTreeMap<String, AdamState<T>> {
        &self.state
    }
    /// Replaces the state (when resuming from a checkpoint).
    pub fn set_state(&mut self, state: BTreeMap<String, AdamState<T>>) {
        self.state = state;
    }
}

impl<T: Element> Optimizer<T> for Adam<T> {
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()> {
        let mut result = Ok(());
        let cfg = self.config;
        let par = self.par;
        let state = &mut self.state;
        model.visit_params_mut(&mut |p| {
            if result.is_err() {
                return;
            }
            let g = match grad_for(grads, &p.name, &p.value) {
                Ok(Some(g)) => g,
                Ok(None) => return,
                Err(e) => {
                    result = Err(e);
                    return;
                }
            };
            let st = state.entry(p.name.clone()).or_insert_with(|| AdamState {
                step: 0,
                m: Tensor::zeros(p.value.raw_dim()),
                v: Tensor::zeros(p.value.raw_dim()),
            });
            if st.m.shape() != p.value.shape() {
                result = Err(Error::shape(
                    "adam step",
                    format!(
                        "state of {} has shape {:?} but the parameter has {:?}",
                        p.name,
                        st.m.shape(),
                        p.value.shape()
                    ),
                ));
                return;
            }
            st.step += 1;
            let s = AdamStep {
                lr: cfg.lr,
                beta1: cfg.betas.0,
                beta2: cfg.betas.1,
                eps: cfg.eps,
                weight_decay: cfg.weight_decay,
                mode: match cfg.decay {
                    WeightDecay::L2 => WeightDecayMode::L2,
                    WeightDecay::Decoupled => WeightDecayMode::Decoupled,
                },
                step: st.step,
            };
            if !p.value.is_standard_layout() {
                p.value = p.value.as_standard_layout().into_owned();
            }
            let pv = p.value.as_slice_mut().expect("standard layout");
            let (m, v) = (st.m.as_slice_mut().expect("standard layout"), st.v.as_slice_mut().expect("standard layout"));
            adam_update(pv, g.as_slice().expect("standard layout"), m, v, &s, par);
        });
        result
    }
}
