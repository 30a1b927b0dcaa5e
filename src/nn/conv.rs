//! Convolution layers (PyTorch `nn.Conv2d` and `nn.ConvTranspose2d`, no dilation or groups).
//!
//! `Conv2d`: `[n, c_in, h, w] → [n, c_out, h', w']`, weight `[c_out, c_in, k, k]`.
//! `ConvTranspose2d`: `[n, c_in, h, w] → [n, c_out, h', w']`, weight `[c_in, c_out, k, k]`.
//! Shapes and formulas: [`crate::autodiff::ops::conv`].

use super::{init, Forward, Mode, Module, Param};
use crate::autodiff::{Element, Var};
use crate::error::Result;
use crate::rng::Rng;

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
    /// A square-kernel layer with PyTorch-default initialisation drawn from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        let shape = [c_out, c_in, kernel, kernel];
        let weight = Param::new(format!("{name}.weight"), init::kaiming_uniform_default(&shape, rng));
        let bias = bias.then(|| Param::new(format!("{name}.bias"), init::bias_default(c_out, &shape, rng)));
        Conv2d { weight, bias, stride: [stride; 2], padding: [padding; 2] }
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
    /// A square-kernel layer with PyTorch-default initialisation (fan_in = `c_out·k·k`, as
    /// PyTorch computes it from the `[c_in, c_out, k, k]` weight).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        let shape = [c_in, c_out, kernel, kernel];
        let weight = Param::new(format!("{name}.weight"), init::kaiming_uniform_default(&shape, rng));
        let bias = bias.then(|| Param::new(format!("{name}.bias"), init::bias_default(c_out, &shape, rng)));
        ConvTranspose2d { weight, bias, stride: [stride; 2], padding: [padding; 2], output_padding: [0; 2] }
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
