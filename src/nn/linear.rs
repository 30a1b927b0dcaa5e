//! Fully connected layer (PyTorch `nn.Linear`).
//!
//! `x: [n, in] → y = x·Wᵀ + b: [n, out]`, `W: [out, in]`, `b: [out]`.

use super::{init, Forward, Mode, Module, Param};
use crate::autodiff::{Element, Var};
use crate::error::Result;
use crate::rng::Rng;

/// `y = x·Wᵀ + b`.
#[derive(Clone, Debug)]
pub struct Linear<T> {
    /// `[out, in]`, named `"{name}.weight"`.
    pub weight: Param<T>,
    /// `[out]`, named `"{name}.bias"`.
    pub bias: Option<Param<T>>,
}

impl<T: Element> Linear<T> {
    /// A layer with PyTorch-default initialisation drawn from `rng` (weight first, then bias).
    pub fn new(name: &str, in_features: usize, out_features: usize, bias: bool, rng: &mut Rng) -> Self {
        let shape = [out_features, in_features];
        let weight = Param::new(format!("{name}.weight"), init::kaiming_uniform_default(&shape, rng));
        let bias = bias.then(|| Param::new(format!("{name}.bias"), init::bias_default(out_features, &shape, rng)));
        Linear { weight, bias }
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
