//! Convolution layers (PyTorch `nn.Conv2d` and `nn.ConvTranspose2d`, no dilation or groups).
//!
//! `Conv2d`: `[n, c_in, h, w] → [n, c_out, h', w']`, weight `[c_out, c_in, k, k]`.
//! `ConvTranspose2d`: `[n, c_in, h, w] → [n, c_out, h', w']`, weight `[c_in, c_out, k, k]`.
//! Shapes and formulas: [`crate::autodiff::ops::conv`].

use super::{init, Forward, Mode, Module, Param};
use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// The shape of a square-kernel convolution layer ([`Conv2d`], [`ConvTranspose2d`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvConfig {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel side `k` (a `k × k` kernel).
    pub kernel: usize,
    /// Stride, both directions.
    pub stride: usize,
    /// Zero padding, both sides of both directions.
    pub padding: usize,
    /// Whether the layer adds a bias.
    pub bias: bool,
}

impl ConvConfig {
    /// `c_in → c_out` channels with a `kernel × kernel` kernel, stride 1, no padding and a bias
    /// (PyTorch's defaults); set the other fields with struct update syntax.
    pub fn new(c_in: usize, c_out: usize, kernel: usize) -> Self {
        ConvConfig { c_in, c_out, kernel, stride: 1, padding: 0, bias: true }
    }

    /// # Errors
    /// [`Error::InvalidParam`] for a zero channel count, kernel or stride, or a weight of more
    /// than [`crate::limits::MAX_PARAMS`] elements.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("c_in", self.c_in), ("c_out", self.c_out), ("kernel", self.kernel), ("stride", self.stride)]
        {
            if v == 0 {
                return Err(Error::param(name, "must be >= 1, got 0"));
            }
        }
        let weight =
            [self.c_in, self.c_out, self.kernel, self.kernel].iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        match weight {
            Some(n) if n as u128 <= crate::limits::MAX_PARAMS => Ok(()),
            _ => Err(Error::param(
                "c_out",
                format!(
                    "a {}x{}x{k}x{k} weight is above {} parameters",
                    self.c_out,
                    self.c_in,
                    crate::limits::MAX_PARAMS,
                    k = self.kernel
                ),
            )),
        }
    }
}

/// 2-D convolution layer.
#[derive(Clone, Debug)]
pub struct Conv2d<T> {
    /// `[c_out, c_in, k, k]`, named `"{name}.weight"`.
    pub weight: Param<T>,
    /// `[c_out]`, named `"{name}.bias"`.
    pub bias: Option<Param<T>>,
    /// `[vertical, horizontal]` stride.
    pub stride: [usize; 2],
    /// `[vertical, horizontal]` zero padding.
    pub padding: [usize; 2],
}

impl<T: Element> Conv2d<T> {
    /// A layer of shape `config` with PyTorch-default initialisation drawn from `rng` (weight
    /// first, then bias); parameters named `"{name}.weight"`, `"{name}.bias"`.
    ///
    /// # Errors
    /// As [`ConvConfig::validate`].
    pub fn new(name: &str, config: &ConvConfig, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let ConvConfig { c_in, c_out, kernel, stride, padding, bias } = *config;
        let shape = [c_out, c_in, kernel, kernel];
        let weight = Param::new(format!("{name}.weight"), init::kaiming_uniform_default(&shape, rng));
        let bias = bias.then(|| Param::new(format!("{name}.bias"), init::bias_default(c_out, &shape, rng)));
        Ok(Conv2d { weight, bias, stride: [stride; 2], padding: [padding; 2] })
    }
}

impl<T: Element> Module<T> for Conv2d<T> {
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

impl<T: Element> Forward<T> for Conv2d<T> {
    fn forward<'t>(&self, x: Var<'t, T>, _mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        let tape = x.tape();
        x.conv2d(self.weight.bind(tape), self.bias.as_ref().map(|b| b.bind(tape)), self.stride, self.padding)
    }
}

/// 2-D transposed convolution layer.
#[derive(Clone, Debug)]
pub struct ConvTranspose2d<T> {
    /// `[c_in, c_out, k, k]`, named `"{name}.weight"`.
    pub weight: Param<T>,
    /// `[c_out]`, named `"{name}.bias"`.
    pub bias: Option<Param<T>>,
    /// `[vertical, horizontal]` stride.
    pub stride: [usize; 2],
    /// `[vertical, horizontal]` padding.
    pub padding: [usize; 2],
    /// `[vertical, horizontal]` output padding (< stride).
    pub output_padding: [usize; 2],
}

impl<T: Element> ConvTranspose2d<T> {
    /// A layer of shape `config` with PyTorch-default initialisation (fan_in = `c_out·k·k`, as
    /// PyTorch computes it from the `[c_in, c_out, k, k]` weight), no output padding.
    ///
    /// # Errors
    /// As [`ConvConfig::validate`].
    pub fn new(name: &str, config: &ConvConfig, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let ConvConfig { c_in, c_out, kernel, stride, padding, bias } = *config;
        let shape = [c_in, c_out, kernel, kernel];
        let weight = Param::new(format!("{name}.weight"), init::kaiming_uniform_default(&shape, rng));
        let bias = bias.then(|| Param::new(format!("{name}.bias"), init::bias_default(c_out, &shape, rng)));
        Ok(ConvTranspose2d { weight, bias, stride: [stride; 2], padding: [padding; 2], output_padding: [0; 2] })
    }
}

impl<T: Element> Module<T> for ConvTranspose2d<T> {
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

impl<T: Element> Forward<T> for ConvTranspose2d<T> {
    fn forward<'t>(&self, x: Var<'t, T>, _mode: &mut Mode<'_>) -> Result<Var<'t, T>> {
        let tape = x.tape();
        x.conv_transpose2d(
            self.weight.bind(tape),
            self.bias.as_ref().map(|b| b.bind(tape)),
            self.stride,
            self.padding,
            self.output_padding,
        )
    }
}
