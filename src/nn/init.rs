//! Seeded parameter initialisation with PyTorch's defaults.
//!
//! `nn.Linear`, `nn.Conv2d` and `nn.ConvTranspose2d` initialise their weight with
//! `kaiming_uniform_(a = √5)`: `U(−b, b)` with `b = gain·√(3 / fan_in)` and
//! `gain = √(2 / (1 + a²)) = √(1/3)`, i.e. `b = 1/√fan_in`; the bias is `U(−1/√fan_in, 1/√fan_in)`.
//! `fan_in` is `weight.shape[1] · (receptive field size)`: `in` for Linear `[out, in]`,
//! `c_in·k_h·k_w` for Conv2d `[c_out, c_in, k_h, k_w]`, and — a PyTorch quirk kept on purpose —
//! `c_out·k_h·k_w` for ConvTranspose2d, whose weight is `[c_in, c_out, k_h, k_w]`.
//!
//! Values are drawn in C order from the given generator (the caller passes a stream derived
//! from the run's seed, e.g. `SeedTree::new(seed).rng("init")`).

use crate::autodiff::{Element, Tensor};
use crate::rng::Rng;
use ndarray::IxDyn;
use rand::Rng as _;

/// `fan_in` as PyTorch's `_calculate_fan_in_and_fan_out`: `shape[1] · Π shape[2..]`.
pub fn fan_in(shape: &[usize]) -> usize {
    shape.get(1).copied().unwrap_or(1) * shape.iter().skip(2).product::<usize>()
}

/// A tensor of `shape` with elements `U(−bound, bound)`, drawn in C order (in `f64`, then rounded).
pub fn uniform<T: Element>(shape: &[usize], bound: f64, rng: &mut Rng) -> Tensor<T> {
    let n: usize = shape.iter().product();
    let data: Vec<T> = (0..n).map(|_| T::from_f64(rng.gen_range(-1.0..1.0) * bound)).collect();
    Tensor::from_shape_vec(IxDyn(shape), data).expect("sized")
}

/// PyTorch's default weight init, `kaiming_uniform_(a = √5)`: `U(±1/√fan_in)`.
pub fn kaiming_uniform_default<T: Element>(shape: &[usize], rng: &mut Rng) -> Tensor<T> {
    let fi = fan_in(shape).max(1) as f64;
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    uniform(shape, gain * (3.0 / fi).sqrt(), rng)
}

/// PyTorch's default bias init: `U(±1/√fan_in)` with the weight's `fan_in`.
pub fn bias_default<T: Element>(len: usize, weight_shape: &[usize], rng: &mut Rng) -> Tensor<T> {
    let fi = fan_in(weight_shape).max(1) as f64;
    uniform(&[len], 1.0 / fi.sqrt(), rng)
}
