//! Finite-difference (central, f64) gradient tests of every differentiable op and layer.
//!
//! Each op is checked with `detaux::autodiff::gradcheck::check`, which contracts the op's
//! output with fixed random weights and compares reverse-mode gradients of every input element
//! with central differences. Inputs avoid the kinks of piecewise ops (relu/abs/clamp at 0,
//! ties of max).

#![allow(clippy::cloned_ref_to_slice_refs)] // `&[x.clone()]` reads better in a table of checks

use detaux::autodiff::gradcheck::{check, GradCheck};
use detaux::autodiff::ops::shape::{concat, stack};
use detaux::autodiff::{Tape, Tensor, Var};
use detaux::error::Result;
use detaux::nn::{
    Conv2d, ConvConfig, ConvTranspose2d, Dropout, Flatten, Forward, Linear, LinearConfig, Mode, Module, Relu,
    Sequential, Unflatten,
};
use detaux::rng::SeedTree;
use ndarray::{ArrayD, IxDyn};
use rand::Rng;

/// Uniform values in `[lo, hi)` from a seeded stream.
fn rand_t(shape: &[usize], seed: u64, lo: f64, hi: f64) -> Tensor<f64> {
    let mut rng = SeedTree::new(seed).rng("test");
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.gen_range(lo..hi)).collect()).unwrap()
}

/// Values in `±[0.2, 1.2)`: away from 0, for ops with a kink there.
fn away_from_zero(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut rng = SeedTree::new(seed).rng("test");
    rand_t(shape, seed, 0.2, 1.2).mapv(|v| if rng.gen::<bool>() { v } else { -v })
}

fn assert_grad<F>(name: &str, inputs: &[Tensor<f64>], f: F)
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let report = check(&GradCheck::default(), inputs, f).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(report.checked > 0, "{name}: nothing checked");
    assert!(report.passed(), "{name}: {report}");
}

#[test]
fn binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 4] =
        [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[2, 1, 4], &[3, 1]), (&[], &[2, 2])];
    for (i, (sa, sb)) in shapes.iter().enumerate() {
        let a = rand_t(sa, 10 + i as u64, -1.0, 1.0);
        let b = rand_t(sb, 20 + i as u64, 0.5, 1.5); // positive: div is smooth
        assert_grad("add", &[a.clone(), b.clone()], |_, v| v[0].add(v[1]));
        assert_grad("sub", &[a.clone(), b.clone()], |_, v| v[0].sub(v[1]));
        assert_grad("mul", &[a.clone(), b.clone()], |_, v| v[0].mul(v[1]));
        assert_grad("div", &[a.clone(), b.clone()], |_, v| v[0].div(v[1]));
        assert_grad("div (rhs broadcast first)", &[b.clone(), a.mapv(|x| x + 2.0)], |_, v| v[0].div(v[1]));
    }
}

#[test]
fn unary_ops() {
    let x = rand_t(&[3, 4], 1, -2.0, 2.0);
    let pos = rand_t(&[3, 4], 2, 0.3, 2.0);
    let kinky = away_from_zero(&[3, 4], 3);
    assert_grad("neg", &[x.clone()], |_, v| Ok(v[0].neg()));
    assert_grad("add_scalar", &[x.clone()], |_, v| Ok(v[0].add_scalar(0.7)));
    assert_grad("mul_scalar", &[x.clone()], |_, v| Ok(v[0].mul_scalar(-1.3)));
    assert_grad("square", &[x.clone()], |_, v| Ok(v[0].square()));
    assert_grad("exp", &[x.clone()], |_, v| Ok(v[0].exp()));
    assert_grad("sigmoid", &[x.clone()], |_, v| Ok(v[0].sigmoid()));
    assert_grad("tanh", &[x.clone()], |_, v| Ok(v[0].tanh()));
    assert_grad("log", &[pos.clone()], |_, v| Ok(v[0].log()));
    assert_grad("sqrt", &[pos.clone()], |_, v| Ok(v[0].sqrt()));
    assert_grad("powf", &[pos.clone()], |_, v| Ok(v[0].powf(2.5)));
    assert_grad("powf (integer, negative base)", &[x.clone()], |_, v| Ok(v[0].powf(3.0)));
    assert_grad("abs", &[kinky.clone()], |_, v| Ok(v[0].abs()));
    assert_grad("relu", &[kinky.clone()], |_, v| Ok(v[0].relu()));
    assert_grad("clamp_min (hinge)", &[kinky.mapv(|v| v + 0.05)], |_, v| Ok(v[0].clamp_min(0.05)));
}

#[test]
fn reductions() {
    let x = rand_t(&[2, 3, 4], 4, -1.0, 1.0);
    assert_grad("sum_all", &[x.clone()], |_, v| Ok(v[0].sum_all()));
    assert_grad("mean_all", &[x.clone()], |_, v| Ok(v[0].mean_all()));
    assert_grad("sum_axes [1]", &[x.clone()], |_, v| v[0].sum_axes(&[1], false));
    assert_grad("sum_axes [2, 0] keep", &[x.clone()], |_, v| v[0].sum_axes(&[2, 0], true));
    assert_grad("mean_axes [0, 2]", &[x.clone()], |_, v| v[0].mean_axes(&[0, 2], false));
    assert_grad("mean_axes [1] keep", &[x.clone()], |_, v| v[0].mean_axes(&[1], true));
    // Distinct values: no ties for max.
    let distinct =
        ArrayD::from_shape_vec(IxDyn(&[2, 3, 4]), (0..24).map(|i| ((i * 7) % 24) as f64 * 0.1).collect()).unwrap();
    assert_grad("max_axis 1", &[distinct.clone()], |_, v| v[0].max_axis(1, false));
    assert_grad("max_axis 2 keep", &[distinct.clone()], |_, v| v[0].max_axis(2, true));
}

#[test]
fn argmax_and_max_pick_the_first_maximum() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(ndarray::arr2(&[[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]).into_dyn());
    assert_eq!(x.argmax(1).unwrap(), ndarray::arr1(&[1usize, 0]).into_dyn());
    let m = x.max_axis(1, false).unwrap();
    let g = tape.backward(m.sum_all()).unwrap();
    assert_eq!(g.wrt(x).unwrap().unwrap(), &ndarray::arr2(&[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).into_dyn());
}

#[test]
fn softmax_family_and_losses() {
    let x = rand_t(&[3, 5], 5, -2.0, 2.0);
    assert_grad("softmax axis 1", &[x.clone()], |_, v| v[0].softmax(1));
    assert_grad("softmax axis 0", &[x.clone()], |_, v| v[0].softmax(0));
    assert_grad("log_softmax axis 1", &[x.clone()], |_, v| v[0].log_softmax(1));
    assert_grad("log_softmax axis 0", &[x.clone()], |_, v| v[0].log_softmax(0));
    assert_grad("cross_entropy", &[x.clone()], |_, v| v[0].cross_entropy(&[4, 0, 2]));
    let y = rand_t(&[3, 5], 6, -1.0, 1.0);
    assert_grad("mse", &[x.clone(), y], |_, v| v[0].mse(v[1]));
}

#[test]
fn cross_entropy_matches_log_softmax_definition() {
    let x = rand_t(&[4, 3], 7, -3.0, 3.0);
    let tape = Tape::<f64>::new();
    let v = tape.constant(x.clone());
    let ce = v.cross_entropy(&[0, 2, 1, 1]).unwrap().scalar().unwrap();
    let ls = v.log_softmax(1).unwrap().value();
    let want = -(ls[[0, 0]] + ls[[1, 2]] + ls[[2, 1]] + ls[[3, 1]]) / 4.0;
    assert!((ce - want).abs() < 1e-12);
}

#[test]
fn shape_ops() {
    let x = rand_t(&[2, 3, 4], 8, -1.0, 1.0);
    assert_grad("reshape", &[x.clone()], |_, v| v[0].reshape(&[4, 6]));
    assert_grad("flatten", &[x.clone()], |_, v| v[0].flatten(1));
    assert_grad("permute", &[x.clone()], |_, v| v[0].permute(&[2, 0, 1]));
    assert_grad("transpose", &[x.clone()], |_, v| v[0].transpose(0, 2));
    assert_grad("slice", &[x.clone()], |_, v| v[0].slice(2, 1, 3));
    assert_grad("select", &[x.clone()], |_, v| v[0].select(1, 2));
    assert_grad("index_select with repeats", &[x.clone()], |_, v| v[0].index_select(1, &[2, 0, 2, 1]));
    let idx = ArrayD::from_shape_vec(IxDyn(&[2, 3, 2]), vec![0, 3, 1, 1, 2, 0, 3, 3, 0, 2, 1, 0]).unwrap();
    assert_grad("gather", &[x.clone()], move |_, v| v[0].gather(2, &idx));
    let y = rand_t(&[2, 1, 4], 9, -1.0, 1.0);
    assert_grad("concat", &[x.clone(), y], |_, v| concat(&[v[0], v[1], v[0]], 1));
    let z = rand_t(&[2, 3, 4], 10, -1.0, 1.0);
    assert_grad("stack", &[x.clone(), z], |_, v| stack(&[v[0], v[1]], 1));
}

#[test]
fn detach_stops_the_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(ndarray::arr1(&[1.5, -2.0]).into_dyn());
    let y = x.mul(x.detach()).unwrap().sum_all(); // d/dx (x · stop(x)) = stop(x)
    let g = tape.backward(y).unwrap();
    assert_eq!(g.wrt(x).unwrap().unwrap(), &ndarray::arr1(&[1.5, -2.0]).into_dyn());
}

#[test]
fn matmul_and_linear() {
    let a = rand_t(&[3, 4], 11, -1.0, 1.0);
    let b = rand_t(&[4, 5], 12, -1.0, 1.0);
    assert_grad("matmul 2-D", &[a, b], |_, v| v[0].matmul(v[1]));
    let a = rand_t(&[2, 3, 4], 13, -1.0, 1.0);
    let b = rand_t(&[2, 4, 2], 14, -1.0, 1.0);
    assert_grad("matmul batched", &[a, b], |_, v| v[0].matmul(v[1]));
    let x = rand_t(&[5, 3], 15, -1.0, 1.0);
    let w = rand_t(&[4, 3], 16, -1.0, 1.0);
    let bias = rand_t(&[4], 17, -1.0, 1.0);
    assert_grad("linear", &[x.clone(), w.clone(), bias], |_, v| v[0].linear(v[1], Some(v[2])));
    assert_grad("linear without bias", &[x, w], |_, v| v[0].linear(v[1], None));
}

#[test]
fn conv2d_model_shape_and_odd_configs() {
    // The model's layers: kernel 4, stride 2, padding 1.
    let x = rand_t(&[2, 3, 8, 8], 18, -1.0, 1.0);
    let w = rand_t(&[4, 3, 4, 4], 19, -0.5, 0.5);
    let b = rand_t(&[4], 20, -0.5, 0.5);
    assert_grad("conv2d k4 s2 p1", &[x, w, b], |_, v| v[0].conv2d(v[1], Some(v[2]), [2, 2], [1, 1]));
    // Odd: non-square input and strides, kernel 3x2, asymmetric padding, batch 1.
    let x = rand_t(&[1, 2, 7, 5], 21, -1.0, 1.0);
    let w = rand_t(&[3, 2, 3, 2], 22, -0.5, 0.5);
    assert_grad("conv2d k3x2 s(2,1) p(0,2)", &[x, w], |_, v| v[0].conv2d(v[1], None, [2, 1], [0, 2]));
    let x = rand_t(&[3, 1, 5, 5], 23, -1.0, 1.0);
    let w = rand_t(&[2, 1, 1, 1], 24, -0.5, 0.5);
    assert_grad("conv2d 1x1", &[x, w], |_, v| v[0].conv2d(v[1], None, [1, 1], [0, 0]));
}

#[test]
fn conv_transpose2d_model_shape_and_odd_configs() {
    let x = rand_t(&[2, 4, 4, 4], 25, -1.0, 1.0);
    let w = rand_t(&[4, 3, 4, 4], 26, -0.5, 0.5);
    let b = rand_t(&[3], 27, -0.5, 0.5);
    assert_grad("conv_transpose2d k4 s2 p1", &[x, w, b], |_, v| {
        v[0].conv_transpose2d(v[1], Some(v[2]), [2, 2], [1, 1], [0, 0])
    });
    let x = rand_t(&[1, 2, 3, 4], 28, -1.0, 1.0);
    let w = rand_t(&[2, 3, 3, 2], 29, -0.5, 0.5);
    assert_grad("conv_transpose2d k3x2 s(3,2) p(1,0) op(2,1)", &[x, w], |_, v| {
        v[0].conv_transpose2d(v[1], None, [3, 2], [1, 0], [2, 1])
    });
}

#[test]
fn cdist_and_zero_distance() {
    let a = rand_t(&[4, 3], 30, -1.0, 1.0);
    let b = rand_t(&[5, 3], 31, -1.0, 1.0);
    assert_grad("cdist", &[a.clone(), b], |_, v| v[0].cdist(v[1]));
    assert_grad("cdist with itself (diagonal excluded)", &[a.clone()], |t, v| {
        // Off-diagonal entries only: the diagonal is a kink (distance 0).
        let d = v[0].cdist(v[0])?;
        let mask = t.constant(ArrayD::from_shape_fn(IxDyn(&[4, 4]), |i| if i[0] == i[1] { 0.0 } else { 1.0 }));
        d.mul(mask)
    });
    // At zero distance the gradient is 0, not NaN (as PyTorch's cdist).
    let tape = Tape::<f64>::new();
    let x = tape.leaf(a);
    let g = tape.backward(x.cdist(x).unwrap().sum_all()).unwrap();
    assert!(g.wrt(x).unwrap().unwrap().iter().all(|v| v.is_finite()));
}

#[test]
fn dropout_with_a_fixed_mask() {
    let x = rand_t(&[4, 6], 32, -1.0, 1.0);
    // A fresh generator from the same seed each call: the same mask every evaluation.
    assert_grad("dropout p=0.3", &[x.clone()], |_, v| v[0].dropout(0.3, &mut SeedTree::new(5).rng("dropout")));
    let tape = Tape::<f64>::new();
    let y = tape.constant(x.clone()).dropout(0.5, &mut SeedTree::new(5).rng("dropout")).unwrap().value();
    let kept = y.iter().filter(|v| **v != 0.0).count();
    assert!(kept > 4 && kept < 20, "kept {kept} of 24");
    for (a, b) in y.iter().zip(x.iter()) {
        assert!(*a == 0.0 || (a - 2.0 * b).abs() < 1e-15);
    }
    assert!(tape.constant(x).dropout(1.0, &mut SeedTree::new(0).rng("d")).is_err());
}

/// Finite differences on every parameter of a layer (and its input), through
/// `Grads::param` — checks the layer wiring, names and binding, not only the ops.
fn assert_layer_grads<L: Module<f64> + Forward<f64>>(name: &str, layer: &mut L, x: Tensor<f64>) {
    let eps = 1e-6;
    let weights = rand_t(&[4096], 99, -1.0, 1.0);
    let loss_of = |layer: &L, x: &Tensor<f64>| -> f64 {
        let tape = Tape::new();
        let y =
            layer.forward(tape.constant(x.clone()), &mut Mode::Train(&mut SeedTree::new(3).rng("dropout"))).unwrap();
        y.value().iter().zip(weights.iter()).map(|(a, b)| a * b).sum()
    };
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let y = layer.forward(xv, &mut Mode::Train(&mut SeedTree::new(3).rng("dropout"))).unwrap();
    assert!(y.value().len() <= weights.len());
    let w = tape.constant(
        weights.slice(ndarray::s![..y.value().len()]).to_owned().into_shape_with_order(IxDyn(&y.shape())).unwrap(),
    );
    let grads = tape.backward(y.mul(w).unwrap().sum_all()).unwrap();
    let close = |a: f64, n: f64| (a - n).abs() <= 1e-8 + 1e-6 * a.abs().max(n.abs());
    // Input gradient.
    let gx = grads.wrt(xv).unwrap().unwrap().clone();
    let mut xp = x.clone();
    for k in 0..x.len() {
        let o = xp.as_slice().unwrap()[k];
        xp.as_slice_mut().unwrap()[k] = o + eps;
        let lp = loss_of(layer, &xp);
        xp.as_slice_mut().unwrap()[k] = o - eps;
        let lm = loss_of(layer, &xp);
        xp.as_slice_mut().unwrap()[k] = o;
        let n = (lp - lm) / (2.0 * eps);
        assert!(close(gx.as_slice().unwrap()[k], n), "{name}: input elem {k}: {} vs {n}", gx.as_slice().unwrap()[k]);
    }
    // Parameter gradients, by name.
    let mut names = Vec::new();
    layer.visit_params(&mut |p| names.push((p.name.clone(), p.value.len())));
    assert!(!names.is_empty() || layer.num_params() == 0);
    for (pname, len) in names {
        let g = grads.param(&pname).unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        for k in 0..len {
            let set = |layer: &mut L, delta: f64| {
                layer.visit_params_mut(&mut |p| {
                    if p.name == pname {
                        p.value.as_slice_mut().unwrap()[k] += delta;
                    }
                })
            };
            set(layer, eps);
            let lp = loss_of(layer, &x);
            set(layer, -2.0 * eps);
            let lm = loss_of(layer, &x);
            set(layer, eps);
            let n = (lp - lm) / (2.0 * eps);
            let a = g.as_slice().unwrap()[k];
            assert!(close(a, n), "{name}: {pname}[{k}]: {a} vs {n}");
        }
    }
}

#[test]
fn layers() {
    let mut rng = SeedTree::new(7).rng("init");
    let mut lin = Linear::<f64>::new("fc", &LinearConfig::new(3, 4), &mut rng).unwrap();
    assert_layer_grads("Linear", &mut lin, rand_t(&[2, 3], 40, -1.0, 1.0));
    let mut conv =
        Conv2d::<f64>::new("conv", &ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(2, 3, 4) }, &mut rng)
            .unwrap();
    assert_layer_grads("Conv2d k4 s2 p1", &mut conv, rand_t(&[2, 2, 6, 6], 41, -1.0, 1.0));
    let mut deconv = ConvTranspose2d::<f64>::new(
        "deconv",
        &ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(3, 2, 4) },
        &mut rng,
    )
    .unwrap();
    assert_layer_grads("ConvTranspose2d k4 s2 p1", &mut deconv, rand_t(&[2, 3, 3, 3], 42, -1.0, 1.0));
    let mut seq = Sequential::<f64>::new()
        .push(Conv2d::new("enc", &ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(1, 2, 4) }, &mut rng).unwrap())
        .push(Relu)
        .push(Flatten)
        .push(Linear::new("fc", &LinearConfig::new(2 * 3 * 3, 8), &mut rng).unwrap())
        .push(Dropout { p: 0.25 })
        .push(Unflatten { shape: vec![2, 2, 2] })
        .push(
            ConvTranspose2d::new("dec", &ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(2, 1, 4) }, &mut rng)
                .unwrap(),
        );
    assert_layer_grads(
        "Sequential conv-relu-flatten-linear-dropout-unflatten-deconv",
        &mut seq,
        rand_t(&[2, 1, 6, 6], 43, -1.0, 1.0),
    );
}

#[test]
fn gradcheck_detects_a_wrong_gradient() {
    // x · stop(x) has reverse-mode gradient x but finite-difference gradient 2x: the checker
    // must report it (this guards against a checker that cannot fail).
    let x = rand_t(&[3], 50, 0.5, 1.0);
    let report = check(&GradCheck::default(), &[x], |_, v| v[0].mul(v[0].detach())).unwrap();
    assert_eq!(report.failures, 3, "{report}");
}

#[test]
fn parameter_free_layers_one_by_one() {
    // Each layer alone (the Sequential test above checks them composed).
    assert_layer_grads("Relu", &mut Relu, away_from_zero(&[2, 3, 2], 60));
    assert_layer_grads("Flatten", &mut Flatten, rand_t(&[2, 3, 2], 61, -1.0, 1.0));
    assert_layer_grads("Unflatten", &mut Unflatten { shape: vec![3, 2] }, rand_t(&[2, 6], 62, -1.0, 1.0));
    // Train mode with a generator re-seeded per evaluation: a fixed mask.
    assert_layer_grads("Dropout p=0.4", &mut Dropout { p: 0.4 }, rand_t(&[3, 5], 63, -1.0, 1.0));
    let mut empty = Sequential::<f64>::new();
    assert_layer_grads("empty Sequential (identity)", &mut empty, rand_t(&[2, 2], 64, -1.0, 1.0));
}
