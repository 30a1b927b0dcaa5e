//! Layers: named parameters, PyTorch-default initialisation, a `Sequential` container.
//!
//! A layer owns its [`Param`]s (name + value). In a step, `forward` binds each parameter to the
//! tape with [`crate::autodiff::Tape::param`] under its stable name; after `backward`,
//! [`crate::autodiff::Grads::param`] returns the gradient by that name, and an optimizer walks
//! the same parameters with [`Module::visit_params_mut`]. Names are fixed at construction
//! (`"encoder.conv1.weight"`), so they are stable across runs and checkpoints.
//!
//! ```
//! use detaux::autodiff::Tape;
//! use detaux::nn::{Linear, LinearConfig, Mode, Module, Forward, Relu, Sequential};
//! use detaux::rng::SeedTree;
//! let mut rng = SeedTree::new(0).rng("init");
//! let net = Sequential::<f32>::new()
//!     .push(Linear::new("fc1", &LinearConfig::new(4, 8), &mut rng)?)
//!     .push(Relu)
//!     .push(Linear::new("fc2", &LinearConfig::new(8, 2), &mut rng)?);
//! assert_eq!(net.num_params(), 4 * 8 + 8 + 8 * 2 + 2);
//! let tape = Tape::new();
//! let x = tape.constant(ndarray::Array2::<f32>::zeros((3, 4)).into_dyn());
//! let y = net.forward(x, &mut Mode::Eval)?;
//! assert_eq!(y.shape(), vec![3, 2]);
//! # Ok::<(), detaux::Error>(())
//! ```

pub mod conv;
pub mod init;
pub mod layers;
pub mod linear;

pub use conv::{Conv2d, ConvConfig, ConvTranspose2d};
pub use layers::{Dropout, Flatten, Relu, Sequential, Unflatten};
pub use linear::{Linear, LinearConfig};

use crate::autodiff::{Element, Tensor, Var};
use crate::error::Result;
use crate::rng::Rng;

/// A named trainable tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Param<T> {
    /// Stable name, e.g. `"encoder.conv1.weight"`.
    pub name: String,
    /// Current value.
    pub value: Tensor<T>,
}

impl<T: Element> Param<T> {
    /// A parameter named `name` with value `value`.
    pub fn new(name: impl Into<String>, value: Tensor<T>) -> Self {
        Param { name: name.into(), value }
    }
    /// Binds the parameter to `tape` (a gradient-receiving leaf registered under its name).
    pub fn bind<'t>(&self, tape: &'t crate::autodiff::Tape<T>) -> Var<'t, T> {
        tape.param(&self.name, &self.value)
    }
}

/// Whether a forward pass trains (dropout active, masks drawn from the generator) or evaluates.
pub enum Mode<'r> {
    /// Inference: dropout is the identity.
    Eval,
    /// Training: dropout masks are drawn from this generator.
    Train(&'r mut Rng),
}

/// Something that owns parameters.
pub trait Module<T: Element> {
    /// Calls `f` on every parameter, in a fixed order.
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<T>));
    /// Calls `f` on every parameter mutably, in the same order.
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<T>));
    /// Total number of scalar parameters.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |p| n += p.value.len());
        n
    }
}

/// A one-input, one-output layer.
pub trait Forward<T: Element> {
    /// Applies the layer to `x`, binding its parameters to `x`'s tape.
    ///
    /// # Errors
    /// [`crate::Error::Shape`] if `x` does not have the shape the layer expects.
    fn forward<'t>(&self, x: Var<'t, T>, mode: &mut Mode<'_>) -> Result<Var<'t, T>>;
}

/// A layer usable in [`Sequential`].
pub trait Layer<T: Element>: Module<T> + Forward<T> + Send + Sync {}
impl<T: Element, L: Module<T> + Forward<T> + Send + Sync> Layer<T> for L {}
