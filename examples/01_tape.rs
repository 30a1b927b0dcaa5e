//! Lesson 1: the tape.
//!
//! detaux differentiates in reverse mode on a *tape*: every op applied to a [`Var`] appends one
//! node (its value, its parents' ids and a backward closure). Node ids are creation indices, so
//! the tape is already in topological order, and `backward` walks it once in reverse, adding
//! each node's input gradients into a vector indexed by id. That fixed order is why gradients
//! are bitwise reproducible.
//!
//! This lesson builds a one-layer network `L = mean(tanh(x·W + b)²)`, prints the tape, runs
//! `backward`, reads `∂L/∂W` and `∂L/∂b`, and checks one element of `∂L/∂W` by a central finite
//! difference `(L(W + h·e) − L(W − h·e)) / 2h`.
//!
//! ```sh
//! cargo run --release --example 01_tape
//! ```
//! Next: `02_gradcheck` does the finite-difference check for every element at once.

use detaux::autodiff::{Tape, Tensor, Var};
use ndarray::{arr1, arr2};

/// The function of this lesson on a given tape: `L = mean(tanh(x·W + b)²)`.
/// `x: [3, 2]` (3 samples, 2 features), `W: [2, 2]`, `b: [2]` (broadcast over rows).
fn loss<'t>(x: Var<'t, f64>, w: Var<'t, f64>, b: Var<'t, f64>) -> detaux::Result<Var<'t, f64>> {
    let pre = x.matmul(w)?.add(b)?; // [3, 2]; `add` broadcasts b over the rows
    Ok(pre.tanh().square().mean_all()) // a scalar (0-d) node
}

/// `L` as a plain number for given `W` (a fresh tape each time; nothing is recorded for later).
fn loss_value(x: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>) -> detaux::Result<f64> {
    let tape = Tape::new();
    loss(tape.constant(x.clone()), tape.constant(w.clone()), tape.constant(b.clone()))?.scalar()
}

fn main() -> detaux::Result<()> {
    let x = arr2(&[[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]]).into_dyn();
    let w = arr2(&[[0.3, -0.2], [0.1, 0.4]]).into_dyn();
    let b = arr1(&[0.05, -0.1]).into_dyn();

    // 1. A tape records one step. `leaf` marks a value we want gradients for; `constant` one
    //    we do not (the data).
    let tape = Tape::<f64>::new();
    let xv = tape.constant(x.clone());
    let wv = tape.leaf(w.clone());
    let bv = tape.leaf(b.clone());
    let l = loss(xv, wv, bv)?;
    println!("1. forward: L = mean(tanh(x·W + b)²) = {:.6}", l.scalar()?);
    println!("   the tape holds {} nodes: x, W, b, matmul, add, tanh, square, sum, ×1/6", tape.len());
    println!("   (mean_all is recorded as a sum and a scaling: a composite op is just several nodes)");

    // 2. backward walks the tape once, last node first, and empties it.
    let grads = tape.backward(l)?;
    // `wrt` is an error for a Var of another (stale) tape, and `None` for a Var L does not
    // depend on.
    let dw = grads.wrt(wv)?.expect("L depends on W");
    let db = grads.wrt(bv)?.expect("L depends on b");
    println!("2. backward: the tape now holds {} nodes", tape.len());
    println!("   dL/dW =\n{dw:.6}");
    println!("   dL/db = {db:.6}");
    println!("   dL/dx = {:?} (x is a constant: no gradient kept)", grads.wrt(xv)?.map(|_| ()));

    // 3. Check one element by a central difference. For a smooth function the error of the
    //    central difference is O(h²), so with h = 1e-5 analytic and numeric agree to ~1e-10.
    let h = 1e-5;
    let (i, j) = (0, 1);
    let mut w_plus = w.clone();
    w_plus[[i, j]] += h;
    let mut w_minus = w.clone();
    w_minus[[i, j]] -= h;
    let numeric = (loss_value(&x, &w_plus, &b)? - loss_value(&x, &w_minus, &b)?) / (2.0 * h);
    let analytic = dw[[i, j]];
    println!("3. finite difference of dL/dW[{i},{j}]: analytic {analytic:.10}, numeric {numeric:.10}");
    println!("   difference {:.2e}", (analytic - numeric).abs());
    assert!((analytic - numeric).abs() < 1e-8, "the gradient check failed");
    println!("   they agree: the tape's gradient is right for this element.");
    Ok(())
}
