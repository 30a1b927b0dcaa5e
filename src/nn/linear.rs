//! Fully connected layer (PyTorch `nn.Linear`).
//!
//! `x: [n, in] → y = x·Wᵀ + b: [n, out]`, `W: [out, in]`, `b: [out]`.

use super::{init, Forward, Mode, Module, Param};
use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// The shape of a [`Linear`] layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearConfig {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Whether the layer adds a bias.
    pub bias: bool,
}

impl LinearConfig {
    /// `in_features → out_features` with a bias (PyTorch's default).
    pub fn new(in_features: usize, out_features: usize) -> Self {
        LinearConfig { in_features, out_features, bias: true }
    }

    /// # Errors
    /// [`Error::InvalidParam`] for a zero size or a weight of more than
    /// [`crate::limits::MAX_PARAMS`] elements.
    pub fn validate(&self) -> Result<()> {
        let (i, o) = (self.in_features, self.out_features);
        if i == 0 || o == 0 {
            return Err(Error::param("features", format!("must be >= 1, got {i} -> {o}")));
        }
        match i.checked_mul(o) {
            Some(n) if n as u128 <= crate::limits::MAX_PARAMS => Ok(()),
            _ => Err(Error::param(
                "features",
                format!("a {o}x{i} weight is above {} parameters", crate::limits::MAX_PARAMS),
            )),
        }
    }
}

/// `y = x·Wᵀ + b`.
#[derive(Clone, Debug)]
pub struct Linear<T> {
    /// `[out, in]`, named `"{name}.weight"`.
    pub weight: Param<T>,
    /// `[out]`, named `"{name}.bias"`.
    pub bias: Option<Param<T>>,
}

impl<T: Element> Linear<T> {
    /// A layer of shape `config` with PyTorch-default initialisation drawn from `rng` (weight
    /// first, then bias); parameters named `"{name}.weight"`, `"{name}.bias"`.
    ///
    /// # Errors
    /// As [`LinearConfig::validate`].
    pub fn new(name: &str, config: &LinearConfig, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let LinearConfig { in_features, out_features, bias } = *config;
        let shape = [out_features, in_features];
        let weight = Param::new(format!("{name}.weight"), init::kaiming_uniform_default(&shape, rng));
        let bias = bias.then(|| Param::new(format!("{name}.bias"), init::bias_default(out_features, &shape, rng)));
        Ok(Linear { weight, bias })
    }
}

impl<T: Element> Module<T> for Linear<T> {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<T>)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<T>)) {
        f(&mut self.weight);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }
}

impl<T: Element> Forward<T> for Linear<T> {
    fn forward<'t>(&self, x: Var<'t, T>, _mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        let tape = x.tape();
        x.linear(self.weight.bind(tape), self.bias.as_ref().map(|b| b.bind(tape)))
    }
}
