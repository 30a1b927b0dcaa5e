//! Every public op given mismatched shapes returns `Error::Shape` naming the op and both shapes.

use detaux::autodiff::ops::shape::{concat, stack};
use detaux::autodiff::{Tape, Var};
use detaux::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};

fn t<'t>(tape: &'t Tape<f32>, shape: &[usize]) -> Var<'t, f32> {
    tape.leaf(ArrayD::zeros(IxDyn(shape)))
}

/// Asserts a shape error from `op` whose message contains every string in `parts`.
fn expect_shape_err(r: Result<Var<'_, f32>>, op: &str, parts: &[&str]) {
    match r {
        Err(e @ Error::Shape { .. }) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("{op}:")), "message {msg:?} does not name {op}");
            for p in parts {
                assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
            }
        }
        Err(e) => panic!("{op}: expected a shape error, got {e}"),
        Ok(v) => panic!("{op}: expected a shape error, got shape {:?}", v.shape()),
    }
}

#[test]
fn binary_ops() {
    let tape = Tape::new();
    let (a, b) = (t(&tape, &[2, 3]), t(&tape, &[4]));
    expect_shape_err(a.add(b), "add", &["[2, 3]", "[4]"]);
    expect_shape_err(a.sub(b), "sub", &["[2, 3]", "[4]"]);
    expect_shape_err(a.mul(b), "mul", &["[2, 3]", "[4]"]);
    expect_shape_err(a.div(b), "div", &["[2, 3]", "[4]"]);
    expect_shape_err(a.mse(t(&tape, &[3, 2])), "mse", &["[2, 3]", "[3, 2]"]);
}

#[test]
fn matmul_linear_cdist() {
    let tape = Tape::new();
    expect_shape_err(t(&tape, &[2, 3]).matmul(t(&tape, &[4, 5])), "matmul", &["[2, 3]", "[4, 5]"]);
    expect_shape_err(t(&tape, &[2, 2, 3]).matmul(t(&tape, &[3, 3, 1])), "matmul", &["[2, 2, 3]", "[3, 3, 1]"]);
    expect_shape_err(t(&tape, &[2, 3]).matmul(t(&tape, &[2, 3, 1])), "matmul", &["[2, 3]", "[2, 3, 1]"]);
    expect_shape_err(t(&tape, &[2, 3]).linear(t(&tape, &[4, 5]), None), "linear", &["[2, 3]", "[4, 5]"]);
    expect_shape_err(t(&tape, &[2, 3]).linear(t(&tape, &[4, 3]), Some(t(&tape, &[5]))), "linear", &["[5]", "[4, 3]"]);
    expect_shape_err(t(&tape, &[2, 3]).cdist(t(&tape, &[2, 4])), "cdist", &["[2, 3]", "[2, 4]"]);
}

#[test]
fn convolutions() {
    let tape = Tape::new();
    let x = t(&tape, &[1, 3, 8, 8]);
    expect_shape_err(
        x.conv2d(t(&tape, &[4, 2, 3, 3]), None, [1, 1], [0, 0]),
        "conv2d",
        &["[1, 3, 8, 8]", "[4, 2, 3, 3]"],
    );
    expect_shape_err(
        x.conv2d(t(&tape, &[4, 3, 9, 9]), None, [1, 1], [0, 0]),
        "conv2d",
        &["[1, 3, 8, 8]", "[4, 3, 9, 9]"],
    );
    expect_shape_err(x.conv2d(t(&tape, &[4, 3, 3, 3]), None, [0, 1], [0, 0]), "conv2d", &["stride"]);
    expect_shape_err(
        x.conv2d(t(&tape, &[4, 3, 3, 3]), Some(t(&tape, &[3])), [1, 1], [0, 0]),
        "conv2d",
        &["[3]", "[4]"],
    );
    expect_shape_err(
        x.conv_transpose2d(t(&tape, &[4, 2, 3, 3]), None, [1, 1], [0, 0], [0, 0]),
        "conv_transpose2d",
        &["[1, 3, 8, 8]", "[4, 2, 3, 3]"],
    );
    expect_shape_err(
        x.conv_transpose2d(t(&tape, &[3, 2, 3, 3]), None, [2, 2], [0, 0], [2, 0]),
        "conv_transpose2d",
        &["output padding"],
    );
    expect_shape_err(
        t(&tape, &[3, 8, 8]).conv2d(t(&tape, &[4, 3, 3, 3]), None, [1, 1], [0, 0]),
        "conv2d",
        &["[3, 8, 8]"],
    );
}

#[test]
fn shape_ops() {
    let tape = Tape::new();
    let x = t(&tape, &[2, 3]);
    expect_shape_err(x.reshape(&[4, 2]), "reshape", &["[2, 3]", "[4, 2]"]);
    expect_shape_err(x.permute(&[0, 0]), "permute", &["[0, 0]", "[2, 3]"]);
    expect_shape_err(x.transpose(0, 2), "transpose", &["[2, 3]"]);
    expect_shape_err(x.slice(1, 2, 5), "slice", &["2..5", "[2, 3]"]);
    expect_shape_err(x.select(0, 2), "select", &["[2, 3]"]);
    expect_shape_err(x.index_select(1, &[0, 3]), "index_select", &["3", "[2, 3]"]);
    let idx = ArrayD::<usize>::zeros(IxDyn(&[3, 3]));
    expect_shape_err(x.gather(1, &idx), "gather", &["[3, 3]", "[2, 3]"]);
    expect_shape_err(concat(&[x, t(&tape, &[3, 3])], 1), "concat", &["[2, 3]", "[3, 3]"]);
    expect_shape_err(stack(&[x, t(&tape, &[3, 2])], 0), "stack", &["[2, 3]", "[3, 2]"]);
    expect_shape_err(x.flatten(2), "flatten", &["[2, 3]"]);
}

#[test]
fn reductions_and_losses() {
    let tape = Tape::new();
    let x = t(&tape, &[2, 3]);
    expect_shape_err(x.sum_axes(&[2], false), "sum_axes", &["[2, 3]"]);
    expect_shape_err(x.sum_axes(&[1, 1], false), "sum_axes", &["[2, 3]"]);
    expect_shape_err(x.mean_axes(&[5], false), "mean_axes", &["[2, 3]"]);
    expect_shape_err(x.max_axis(2, false), "max_axis", &["[2, 3]"]);
    expect_shape_err(x.softmax(2), "softmax", &["[2, 3]"]);
    expect_shape_err(x.log_softmax(3), "log_softmax", &["[2, 3]"]);
    expect_shape_err(x.cross_entropy(&[0, 1, 2]), "cross_entropy", &["[2, 3]", "3 targets"]);
    assert!(matches!(x.cross_entropy(&[0, 3]), Err(Error::InvalidData(_))));
    assert!(matches!(x.argmax(2), Err(Error::Shape { op: "argmax", .. })));
    // backward needs a one-element loss
    match tape.backward(x) {
        Err(e @ Error::Shape { .. }) => assert!(e.to_string().contains("[2, 3]")),
        _ => panic!("backward on a non-scalar must be a shape error"),
    }
}

#[test]
fn more_rank_and_index_errors() {
    let tape = Tape::new();
    let x = t(&tape, &[2, 3]);
    // Rank mismatches of the 2-D ops name both shapes.
    expect_shape_err(t(&tape, &[3]).matmul(t(&tape, &[3, 2])), "matmul", &["[3]", "[3, 2]"]);
    expect_shape_err(t(&tape, &[3]).linear(t(&tape, &[4, 3]), None), "linear", &["[3]", "[4, 3]"]);
    expect_shape_err(t(&tape, &[2, 3, 1]).cdist(t(&tape, &[2, 3])), "cdist", &["[2, 3, 1]", "[2, 3]"]);
    expect_shape_err(t(&tape, &[2, 3]).mse(t(&tape, &[3])), "mse", &["[2, 3]", "[3]"]);
    expect_shape_err(t(&tape, &[6]).cross_entropy(&[0]), "cross_entropy", &["[6]"]);
    // Axes and indices out of range.
    expect_shape_err(x.slice(3, 0, 1), "slice", &["[2, 3]"]);
    expect_shape_err(x.slice(1, 2, 1), "slice", &["[2, 3]"]);
    expect_shape_err(x.select(2, 0), "select", &["[2, 3]"]);
    expect_shape_err(x.index_select(2, &[0]), "index_select", &["[2, 3]"]);
    let idx_val = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![0usize, 3]).unwrap();
    expect_shape_err(x.gather(1, &idx_val), "gather", &["[2, 3]"]);
    let idx_rank = ArrayD::<usize>::zeros(IxDyn(&[2]));
    expect_shape_err(x.gather(0, &idx_rank), "gather", &["[2]", "[2, 3]"]);
    expect_shape_err(x.permute(&[1]), "permute", &["[1]", "[2, 3]"]);
    expect_shape_err(x.flatten(5), "flatten", &["[2, 3]"]);
    expect_shape_err(concat(&[x, t(&tape, &[2, 3, 1])], 1), "concat", &["[2, 3]", "[2, 3, 1]"]);
    expect_shape_err(concat(&[x, x], 2), "concat", &["[2, 3]"]);
    expect_shape_err(concat::<f32>(&[], 0), "concat", &["no inputs"]);
    expect_shape_err(stack::<f32>(&[], 0), "stack", &["no inputs"]);
    expect_shape_err(stack(&[x, x], 3), "stack", &["[2, 3]"]);
    expect_shape_err(x.max_axis(0, false).and_then(|m| m.softmax(1)), "softmax", &["[3]"]);
    let empty = t(&tape, &[2, 0]);
    expect_shape_err(empty.max_axis(1, false), "max_axis", &["[2, 0]"]);
}

#[test]
fn convolution_bias_and_geometry_errors() {
    let tape = Tape::new();
    let x = t(&tape, &[2, 3, 4, 4]);
    expect_shape_err(
        x.conv_transpose2d(t(&tape, &[3, 2, 4, 4]), Some(t(&tape, &[3])), [2, 2], [1, 1], [0, 0]),
        "conv_transpose2d",
        &["[3]", "[2]"],
    );
    expect_shape_err(
        x.conv_transpose2d(t(&tape, &[3, 2, 1, 1]), None, [1, 1], [2, 2], [0, 0]),
        "conv_transpose2d",
        &["[2, 3, 4, 4]", "[3, 2, 1, 1]"],
    );
    expect_shape_err(
        t(&tape, &[3, 4, 4]).conv_transpose2d(t(&tape, &[3, 2, 4, 4]), None, [2, 2], [1, 1], [0, 0]),
        "conv_transpose2d",
        &["[3, 4, 4]", "[3, 2, 4, 4]"],
    );
    expect_shape_err(x.conv2d(t(&tape, &[4, 3, 4]), None, [1, 1], [0, 0]), "conv2d", &["[2, 3, 4, 4]", "[4, 3, 4]"]);
}

#[test]
fn layers_report_the_op_and_both_shapes() {
    use detaux::nn::{
        Conv2d, ConvConfig, ConvTranspose2d, Flatten, Forward, Linear, LinearConfig, Mode, Sequential, Unflatten,
    };
    use detaux::rng::SeedTree;
    let mut rng = SeedTree::new(1).rng("init");
    let tape = Tape::<f32>::new();
    let lin = Linear::<f32>::new("fc", &LinearConfig::new(3, 4), &mut rng).unwrap();
    expect_shape_err(lin.forward(t(&tape, &[2, 5]), &mut Mode::Eval), "linear", &["[2, 5]", "[4, 3]"]);
    let k4s2 = |c_in, c_out| ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(c_in, c_out, 4) };
    let conv = Conv2d::<f32>::new("c", &k4s2(3, 4), &mut rng).unwrap();
    expect_shape_err(
        conv.forward(t(&tape, &[1, 2, 8, 8]), &mut Mode::Eval),
        "conv2d",
        &["[1, 2, 8, 8]", "[4, 3, 4, 4]"],
    );
    let deconv = ConvTranspose2d::<f32>::new("d", &k4s2(3, 4), &mut rng).unwrap();
    expect_shape_err(
        deconv.forward(t(&tape, &[1, 2, 8, 8]), &mut Mode::Eval),
        "conv_transpose2d",
        &["[1, 2, 8, 8]", "[3, 4, 4, 4]"],
    );
    expect_shape_err(Flatten.forward(t(&tape, &[5]), &mut Mode::Eval), "flatten", &["[5]"]);
    expect_shape_err(
        Unflatten { shape: vec![2, 2] }.forward(t(&tape, &[3, 5]), &mut Mode::Eval),
        "unflatten",
        &["[2, 2]", "[3, 5]"],
    );
    // A container passes its layer's error through unchanged.
    let seq =
        Sequential::<f32>::new().push(Flatten).push(Linear::new("fc", &LinearConfig::new(7, 2), &mut rng).unwrap());
    expect_shape_err(seq.forward(t(&tape, &[2, 2, 3]), &mut Mode::Eval), "linear", &["[2, 6]", "[2, 7]"]);
}

#[test]
fn stage1_losses_reject_mismatched_selections() {
    use detaux::losses::{distance_loss, distribution_loss, DistributionMode};
    let tape = Tape::new();
    let sel = ndarray::Array2::<f32>::zeros((3, 4));
    // A `[1, K]` distance row would broadcast against `sel: [B, K]`; the losses refuse it.
    expect_shape_err(distance_loss(t(&tape, &[1, 4]), &sel), "distance_loss", &["[1, 4]", "[3, 4]"]);
    expect_shape_err(distance_loss(t(&tape, &[3, 4, 1]), &sel), "distance_loss", &["[3, 4, 1]"]);
    for mode in [DistributionMode::Reference, DistributionMode::Trainable] {
        expect_shape_err(distribution_loss(mode, t(&tape, &[12]), &sel), "distribution_loss", &["[12]", "[3, 4]"]);
        expect_shape_err(distribution_loss(mode, t(&tape, &[1, 4]), &sel), "distribution_loss", &["[1, 4]"]);
    }
    assert!(distance_loss(t(&tape, &[3, 4]), &sel).is_ok());
}
