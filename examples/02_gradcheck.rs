//! Lesson 2: checking gradients with the f64 finite-difference checker.
//!
//! Every differentiable op and loss in detaux is tested by
//! [`detaux::autodiff::gradcheck::check`]: it contracts the function's output with fixed
//! pseudo-random weights `r` (so every output element matters), `L = Σ y ⊙ r`, computes `∂L/∂xᵢ`
//! by reverse mode, and compares each input element with the central difference
//! `(L(x + h·e) − L(x − h·e)) / 2h`. An element passes when
//! `|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)`.
//!
//! The function here is a composite the crate does not have as one op: single-head attention,
//! `Attn(Q, K, V) = softmax(Q·Kᵀ / √d, rows) · V` with `Q: [4, 3]`, `K, V: [5, 3]`. The checker
//! needs nothing but the function written with tape ops. Then it is shown a *wrong* gradient
//! (`x · stop_gradient(x)`, whose reverse-mode derivative is `x` but whose true derivative is
//! `2x`) to show that it can fail.
//!
//! ```sh
//! cargo run --release --example 02_gradcheck
//! ```
//! Next: `03_conv_lowering`, the kernel behind the convolution op.

use detaux::autodiff::gradcheck::{check, GradCheck};
use detaux::autodiff::{Tape, Tensor, Var};
use detaux::rng::SeedTree;
use ndarray::{ArrayD, Axis, IxDyn};
use rand::Rng;

/// Single-head attention from tape ops: `softmax(Q·Kᵀ/√d) · V`.
fn attention<'t>(q: Var<'t, f64>, k: Var<'t, f64>, v: Var<'t, f64>) -> detaux::Result<Var<'t, f64>> {
    let d = q.shape()[1] as f64;
    let scores = q.matmul(k.transpose(0, 1)?)?.mul_scalar(1.0 / d.sqrt()); // [4, 5]
    scores.softmax(1)?.matmul(v) // [4, 3]
}

/// A seeded random tensor with values in `[-1, 1)`.
fn random(shape: &[usize], name: &str) -> Tensor<f64> {
    let mut rng = SeedTree::new(2).rng(name);
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()).expect("sized")
}

fn main() -> detaux::Result<()> {
    let inputs = [random(&[4, 3], "q"), random(&[5, 3], "k"), random(&[5, 3], "v")];

    // 1. The value, on a tape of our own.
    let tape = Tape::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.constant(x.clone())).collect();
    let y = attention(vars[0], vars[1], vars[2])?;
    let value = y.value();
    println!("1. Attn(Q, K, V): output {:?}, first row {:.4}", y.shape(), value.index_axis(Axis(0), 0));

    // 2. The check: every element of Q, K and V (12 + 15 + 15 = 42), two extra evaluations each.
    let cfg = GradCheck::default();
    println!("2. gradcheck with h = {:e}, rtol = {:e}, atol = {:e}:", cfg.eps, cfg.rtol, cfg.atol);
    let report = check(&cfg, &inputs, |_, v| attention(v[0], v[1], v[2]))?;
    println!("   {report}");
    println!("   largest normalised error {:.3} (at most 1 passes)", report.worst_ratio);
    assert!(report.passed(), "attention gradients must pass");

    // 3. A function whose reverse-mode gradient is wrong on purpose: f(x) = x · stop(x).
    //    Reverse mode sees ∂f/∂x = stop(x) = x; the finite difference sees 2x.
    let x = random(&[3], "x").mapv(|v| v + 1.5); // away from 0, where both would be 0
    let report = check(&cfg, &[x], |_, v| v[0].mul(v[0].detach()))?;
    println!("3. x · stop_gradient(x): {report}");
    assert_eq!(report.failures, 3, "the checker must catch every element");
    println!("   every element fails, as it must: a checker that cannot fail would prove nothing.");
    Ok(())
}
