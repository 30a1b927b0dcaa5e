//! Parameter-free layers and the [`Sequential`] container.

use super::{Forward, Layer, Mode, Module, Param};
use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};

/// `max(0, x)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relu;

/// Inverted dropout with drop probability `p` (identity in [`Mode::Eval`]).
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    /// Drop probability in `[0, 1)`.
    pub p: f64,
}

/// `[n, d1, d2, …] → [n, d1·d2·…]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten;

/// `[n, Π shape] → [n, shape…]`.
#[derive(Clone, Debug)]
pub struct Unflatten {
    /// The per-sample shape, e.g. `[64, 4, 4]`.
    pub shape: Vec<usize>,
}

macro_rules! no_params {
    ($t:ty) => {
        impl<T: Element> Module<T> for $t {
            fn visit_params<'a>(&'a self, _f: &mut dyn FnMut(&'a Param<T>)) {}
            fn visit_params_mut(&mut self, _f: &mut dyn FnMut(&mut Param<T>)) {}
        }
    };
}
no_params!(Relu);
no_params!(Dropout);
no_params!(Flatten);
no_params!(Unflatten);

impl<T: Element> Forward<T> for Relu {
    fn forward<'t>(&self, x: Var<'t, T>, _mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        Ok(x.relu())
    }
}

impl<T: Element> Forward<T> for Dropout {
    fn forward<'t>(&self, x: Var<'t, T>, mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        match mode {
            Mode::Eval => Ok(x),
            Mode::Train(rng) => x.dropout(self.p, rng),
        }
    }
}

impl<T: Element> Forward<T> for Flatten {
    fn forward<'t>(&self, x: Var<'t, T>, _mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        if x.ndim() < 2 {
            return Err(Error::shape(
                "flatten",
                format!("expected [n, ...] with at least 2 axes, got {:?}", x.shape()),
            ));
        }
        x.flatten(1)
    }
}

impl<T: Element> Forward<T> for Unflatten {
    fn forward<'t>(&self, x: Var<'t, T>, _mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        let s = x.shape();
        let per: usize = self.shape.iter().product();
        if s.len() != 2 || s[1] != per {
            return Err(Error::shape(
                "unflatten",
                format!("expected [n, {per}] to unflatten to {:?}, got {s:?}", self.shape),
            ));
        }
        let mut shape = vec![s[0]];
        shape.extend(&self.shape);
        x.reshape(&shape)
    }
}

/// Layers applied in order.
pub struct Sequential<T: Element> {
    layers: Vec<Box<dyn Layer<T>>>,
}

impl<T: Element> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Sequential<T> {
    /// An empty container (the identity).
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }
    /// Appends a layer.
    pub fn push(mut self, layer: impl Layer<T> + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// `true` if there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<T: Element> Module<T> for Sequential<T> {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<T>)) {
        for l in &self.layers {
            l.visit_params(f);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<T>)) {
        for l in &mut self.layers {
            l.visit_params_mut(f);
        }
    }
}

impl<T: Element> Forward<T> for Sequential<T> {
    fn forward<'t>(&self, mut x: Var<'t, T>, mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        for l in &self.layers {
            x = l.forward(x, mode)?;
        }
        Ok(x)
    }
}
