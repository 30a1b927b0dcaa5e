//! Optimizers with PyTorch semantics: [`Sgd`] (momentum), [`Adam`] (L2 weight decay) and
//! AdamW (decoupled weight decay, [`Adam::adamw`]).
//!
//! An optimizer walks a model's parameters in [`crate::nn::Module::visit_params_mut`] order,
//! looks up each gradient by the parameter's name in the step's [`crate::autodiff::Grads`], and
//! updates it in place. A parameter with no gradient this step is skipped and its state (moment
//! estimates, step count) left untouched, as PyTorch does for `p.grad is None`. State is kept in
//! a `BTreeMap` keyed by parameter name (ordered, so saving it is deterministic).
//!
//! ```
//! use detaux::autodiff::Tape;
//! use detaux::nn::{Linear, LinearConfig, Module, Forward, Mode};
//! use detaux::optim::{Adam, AdamConfig, Optimizer};
//! use detaux::rng::SeedTree;
//! let mut rng = SeedTree::new(0).rng("init");
//! let mut layer = Linear::<f32>::new("fc", &LinearConfig::new(3, 1), &mut rng)?;
//! let mut opt = Adam::new(AdamConfig { lr: 1e-2, ..AdamConfig::default() })?;
//! let x = ndarray::Array2::<f32>::ones((4, 3)).into_dyn();
//! let mut losses = vec![];
//! for _ in 0..20 {
//!     let tape = Tape::new();
//!     let y = layer.forward(tape.constant(x.clone()), &mut Mode::Eval)?;
//!     let loss = y.square().mean_all();
//!     losses.push(loss.scalar()?);
//!     let grads = tape.backward(loss)?;
//!     opt.step(&mut layer, &grads)?;
//! }
//! assert!(losses[19] < losses[0]);
//! # Ok::<(), detaux::Error>(())
//! ```

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig, AdamState, WeightDecay};
pub use sgd::{Sgd, SgdConfig};

use crate::autodiff::{Element, Grads, Tensor};
use crate::error::{Error, Result};
use crate::nn::Module;

/// Updates a model's parameters from one step's gradients.
pub trait Optimizer<T: Element> {
    /// Applies one update to every parameter of `model` that has a gradient in `grads`.
    ///
    /// # Errors
    /// [`Error::Shape`] if a gradient's shape differs from its parameter's.
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) -> Result<()>;
}

/// The gradient of `name` in standard layout, checked against the parameter's shape.
pub(crate) fn grad_for<T: Element>(grads: &Grads<T>, name: &str, value: &Tensor<T>) -> Result<Option<Tensor<T>>> {
    match grads.param(name) {
        None => Ok(None),
        Some(g) if g.shape() == value.shape() => Ok(Some(g.as_standard_layout().into_owned())),
        Some(g) => Err(Error::shape(
            "optimizer step",
            format!("gradient of {name} has shape {:?} but the parameter has {:?}", g.shape(), value.shape()),
        )),
    }
}

pub(crate) fn check_positive(name: &str, v: f64, allow_zero: bool) -> Result<()> {
    let ok = v.is_finite() && (v > 0.0 || (allow_zero && v == 0.0));
    if !ok {
        let bound = if allow_zero { ">= 0" } else { "> 0" };
        return Err(Error::param(name, format!("must be finite and {bound}, got {v}")));
    }
    Ok(())
}
