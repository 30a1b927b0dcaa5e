//! Stage-3 weighting strategies against small hand-computed cases, the metrics, the model's
//! shapes and initialisation, and `Grads::from_named`.

use detaux::autodiff::{Grads, Tape, Tensor};
use detaux::mtl::eval::{accuracy, macro_f1};
use detaux::mtl::weighting::{
    DynamicWeightAverage, EqualWeights, FixedWeights, GradNorm, PcGrad, UncertaintyWeights, Weighting, WeightingKind,
    WeightingSpec,
};
use detaux::mtl::{MtlModel, MtlModelConfig};
use detaux::nn::{Module, Param};
use detaux::rng::SeedTree;
use ndarray::arr0;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

/// Total loss value and the gradients w.r.t. each task loss.
fn loss_grads(w: &dyn Weighting, values: &[f32]) -> (f64, Vec<f64>, Grads<f32>, Vec<usize>) {
    let tape = Tape::<f32>::new();
    let ls: Vec<_> = values.iter().map(|&v| tape.leaf(arr0(v).into_dyn())).collect();
    let ids: Vec<usize> = ls.iter().map(|l| l.id()).collect();
    let total = w.combine_losses(&ls).unwrap();
    let tv = total.scalar().unwrap() as f64;
    let grads = tape.backward(total).unwrap();
    let dl: Vec<f64> = ls.iter().map(|l| *grads.wrt(*l).unwrap().unwrap().iter().next().unwrap() as f64).collect();
    (tv, dl, grads, ids)
}

#[test]
fn equal_weights_sum_the_losses() {
    let w = EqualWeights::new(3);
    assert_eq!(w.kind(), WeightingKind::Loss);
    let (total, dl, _, _) = loss_grads(&w, &[2.0, 0.5, 1.25]);
    assert!(close(total, 3.75, 1e-6));
    assert_eq!(dl, vec![1.0, 1.0, 1.0]);
}

#[test]
fn fixed_weights_weight_the_losses() {
    let w = FixedWeights::new(vec![1.0, 0.25]);
    let (total, dl, _, _) = loss_grads(&w, &[2.0, 4.0]);
    assert!(close(total, 3.0, 1e-6));
    assert_eq!(dl, vec![1.0, 0.25]);
    assert!(WeightingSpec::Fixed(vec![1.0]).build(2, &SeedTree::new(0)).is_err());
}

#[test]
fn uncertainty_weighting_matches_the_libmtl_formula_and_its_gradient() {
    // L = Σ L_i/(2e^{s_i}) + s_i/2 with s = -0.5, L = (2, 0.5):
    // = 2.5·e^{0.5}/2 − 0.5 = 1.5609; ∂/∂L_i = e^{0.5}/2 = 0.82436;
    // ∂/∂s_0 = −2·e^{0.5}/2 + 0.5 = −1.14872; ∂/∂s_1 = −0.5·e^{0.5}/2 + 0.5 = 0.08782.
    let mut w = UncertaintyWeights::new(2);
    assert_eq!(w.log_vars(), vec![-0.5, -0.5]);
    let e = 0.5f64.exp();
    let (total, dl, grads, _) = loss_grads(&w, &[2.0, 0.5]);
    assert!(close(total, 1.25 * e - 0.5, 1e-6), "{total}");
    assert!(close(dl[0], e / 2.0, 1e-6) && close(dl[1], e / 2.0, 1e-6), "{dl:?}");
    let gs = grads.param("weighting.uw.log_var").unwrap();
    assert!(close(gs[[0]] as f64, -e + 0.5, 1e-6), "{gs}");
    assert!(close(gs[[1]] as f64, -0.25 * e + 0.5, 1e-6), "{gs}");
    assert!(w.trainable().is_some());
    let ws = w.weights();
    assert!(close(ws[0], e / 2.0, 1e-9));
}

#[test]
fn dwa_is_equal_for_two_epochs_then_softmax_of_loss_ratios() {
    let mut w = DynamicWeightAverage::new(2, 2.0);
    assert_eq!(w.weights(), vec![1.0, 1.0]);
    w.end_epoch(&[1.0, 1.0]);
    assert_eq!(w.weights(), vec![1.0, 1.0]);
    w.end_epoch(&[0.5, 1.0]);
    // r = (0.5, 1.0), w = 2·softmax(r/2) = 2·(e^.25, e^.5)/(e^.25 + e^.5).
    let (a, b) = (0.25f64.exp(), 0.5f64.exp());
    let expect = [2.0 * a / (a + b), 2.0 * b / (a + b)];
    let got = w.weights();
    assert!(close(got[0], expect[0], 1e-12) && close(got[1], expect[1], 1e-12), "{got:?}");
    let (total, dl, _, _) = loss_grads(&w, &[2.0, 3.0]);
    assert!(close(total, 2.0 * expect[0] + 3.0 * expect[1], 1e-6));
    assert!(close(dl[0], expect[0], 1e-6));
    // Only the last two epochs matter.
    w.end_epoch(&[0.25, 2.0]);
    let (a, b) = ((0.5f64 / 2.0).exp(), (2.0f64 / 2.0).exp());
    assert!(close(w.weights()[0], 2.0 * a / (a + b), 1e-12));
}

#[test]
fn pcgrad_projects_conflicting_gradients_by_hand() {
    // g1 = (1, 0), g2 = (−1, 1): g1·g2 = −1 < 0.
    // g̃1 = g1 − (−1/2)·g2 = (0.5, 0.5); g̃2 = g2 − (−1/1)·g1 = (0, 1); sum (0.5, 1.5).
    let mut w = PcGrad::new(2, SeedTree::new(3).rng("pcgrad"));
    assert_eq!(w.kind(), WeightingKind::Gradient);
    let c = w.combine_gradients(&[1.0, 1.0], &[vec![1.0, 0.0], vec![-1.0, 1.0]]).unwrap();
    assert_eq!(c.shared, vec![0.5, 1.5]);
    assert!(c.weighting_grads.is_none());
    // Non-conflicting gradients are summed unchanged.
    let c = w.combine_gradients(&[1.0, 1.0], &[vec![1.0, 2.0], vec![3.0, 0.5]]).unwrap();
    assert_eq!(c.shared, vec![4.0, 2.5]);
    // After projection no g̃_i conflicts with the g_j it was projected on (2 tasks).
    let p = w.project(&[vec![2.0, -1.0, 0.5], vec![-1.0, 0.25, 3.0]]);
    let d: f64 = p[0].iter().zip([-1.0, 0.25, 3.0]).map(|(a, b)| a * b).sum();
    assert!(d.abs() < 1e-12 || d > 0.0, "{d}");
    // Mismatched inputs are errors.
    assert!(w.combine_gradients(&[1.0], &[vec![1.0]]).is_err());
    assert!(w.combine_gradients(&[1.0, 1.0], &[vec![1.0], vec![1.0, 2.0]]).is_err());
}

#[test]
fn pcgrad_three_tasks_is_reproducible_from_the_seed_and_order_dependent() {
    let g = vec![vec![1.0, 0.0], vec![-1.0, 1.0], vec![-0.5, -1.0]];
    let run = |seed| {
        let mut w = PcGrad::new(3, SeedTree::new(seed).rng("pcgrad"));
        (0..5).map(|_| w.combine_gradients(&[1.0; 3], &g).unwrap().shared).collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    // Over 5 steps with random orders the results are not all the same vector (order matters
    // when three gradients conflict pairwise).
    let r = run(1);
    let mut all: Vec<Vec<f32>> = r.clone();
    all.extend(run(2));
    assert!(all.iter().any(|v| v != &all[0]), "{all:?}");
}

#[test]
fn gradnorm_first_epoch_sums_then_balances_by_hand() {
    let mut w = GradNorm::new(2, 1.5);
    let g = vec![vec![3.0, 0.0], vec![0.0, 4.0]];
    // Epoch 0: plain sum, no ω gradient.
    let c = w.combine_gradients(&[1.0, 1.0], &g).unwrap();
    assert_eq!(c.shared, vec![3.0, 4.0]);
    assert!(c.weighting_grads.is_none());
    assert_eq!(w.weights(), vec![1.0, 1.0]);
    // After epoch 0 with mean losses (2, 1):
    // λ = 2·softmax(1, 1) = (1, 1); G = (3, 4), Ḡ = 3.5; L̃ = (0.5, 1), r = (2/3, 4/3);
    // target = 3.5·r^1.5 = (1.9052, 5.3886); G − target = (+, −), so ∂L_grad/∂λ = (3, −4);
    // ∂λ/∂ω = 2·(diag(s) − s sᵀ) with s = (½, ½) = [[½, −½], [−½, ½]] → ∂L_grad/∂ω = (3.5, −3.5).
    w.end_epoch(&[2.0, 1.0]);
    let c = w.combine_gradients(&[1.0, 1.0], &g).unwrap();
    assert_eq!(c.shared, vec![3.0, 4.0]);
    let go = c.weighting_grads.unwrap().param("weighting.gradnorm.loss_scale").unwrap();
    assert!(close(go[[0]] as f64, 3.5, 1e-6) && close(go[[1]] as f64, -3.5, 1e-6), "{go}");
    // With ω = (ln 3, 0): λ = 2·(3/4, 1/4) = (1.5, 0.5), shared = (4.5, 2.0).
    w.visit_params_mut(&mut |p: &mut Param<f32>| {
        p.value[[0]] = 3f32.ln();
        p.value[[1]] = 0.0;
    });
    let c = w.combine_gradients(&[1.0, 1.0], &g).unwrap();
    assert!(close(c.shared[0] as f64, 4.5, 1e-6) && close(c.shared[1] as f64, 2.0, 1e-6), "{:?}", c.shared);
    let lw = w.weights();
    assert!(close(lw[0], 1.5, 1e-6) && close(lw[1], 0.5, 1e-6));
}

#[test]
fn weighting_names_parse_and_unknown_ones_are_errors() {
    for (s, k) in [("equal", "equal"), ("uw", "uw"), ("dwa", "dwa"), ("gradnorm", "gradnorm"), ("pcgrad", "pcgrad")] {
        let spec: WeightingSpec = s.parse().unwrap();
        assert_eq!(spec.build(2, &SeedTree::new(0)).unwrap().name(), k);
        assert_eq!(spec.to_string(), s);
    }
    assert_eq!("fixed:1,0.5".parse::<WeightingSpec>().unwrap(), WeightingSpec::Fixed(vec![1.0, 0.5]));
    let e = "magic".parse::<WeightingSpec>().unwrap_err().to_string();
    assert!(e.contains("unknown weighting 'magic'") && e.contains("pcgrad"), "{e}");
    assert!("fixed:1,x".parse::<WeightingSpec>().is_err());
    assert!("fixed:-1".parse::<WeightingSpec>().is_err());
}

#[test]
fn grads_from_named_feed_an_optimizer() {
    let g = Grads::from_named(vec![
        ("a".to_string(), Tensor::from_elem(vec![2], 1.0f32)),
        ("a".to_string(), Tensor::from_elem(vec![2], 0.5f32)),
        ("b".to_string(), Tensor::from_elem(vec![1], 2.0f32)),
    ]);
    assert_eq!(g.param("a").unwrap().as_slice().unwrap(), &[1.5, 1.5]);
    assert_eq!(g.param("b").unwrap().as_slice().unwrap(), &[2.0]);
    assert!(g.param("c").is_none());
    assert_eq!(g.param_names(), vec!["a", "b"]);
}

#[test]
fn metrics_match_hand_computed_values() {
    // truth 0 0 1 1 2, pred 0 1 1 1 0: acc 3/5.
    // class 0: tp1 fp1 fn1 → 2/4; class 1: tp2 fp1 fn0 → 4/5; class 2: tp0 fp0 fn1 → 0. mean 0.43333.
    let t = [0, 0, 1, 1, 2];
    let p = [0, 1, 1, 1, 0];
    assert!(close(accuracy(&t, &p), 0.6, 1e-12));
    assert!(close(macro_f1(&t, &p), (0.5 + 0.8 + 0.0) / 3.0, 1e-12));
    // A class absent from both truth and predictions does not count (sklearn's label set).
    assert!(close(macro_f1(&[0, 2], &[0, 2]), 1.0, 1e-12));
    assert_eq!(accuracy(&[], &[]), 0.0);
}

#[test]
fn model_has_the_reference_shapes_and_the_stl_model_shares_initial_weights() {
    let cfg = MtlModelConfig::simple_conv(3, 64, vec![4, 6]).unwrap();
    assert_eq!(cfg.feature_dim(), 1024);
    let m = MtlModel::new(cfg, &mut SeedTree::new(7).rng("init")).unwrap();
    let conv = 3 * 32 * 16 + 32 + 32 * 32 * 16 + 32 + 32 * 64 * 16 + 64 + 64 * 64 * 16 + 64;
    let heads = (1024 * 512 + 512 + 512 * 4 + 4) + (1024 * 512 + 512 + 512 * 6 + 6);
    assert_eq!(m.num_params(), conv + heads);
    let tape = Tape::<f32>::new();
    let z = m.features(tape.constant(ndarray::Array4::<f32>::zeros((2, 3, 64, 64)).into_dyn())).unwrap();
    assert_eq!(z.shape(), vec![2, 1024]);
    let y = m.head_logits(1, z, &mut detaux::nn::Mode::Eval).unwrap();
    assert_eq!(y.shape(), vec![2, 6]);
    assert!(m.features(tape.constant(ndarray::Array4::<f32>::zeros((2, 1, 64, 64)).into_dyn())).is_err());
    // STL: same generator → same trunk and principal head.
    let stl =
        MtlModel::new(MtlModelConfig::simple_conv(3, 64, vec![4]).unwrap(), &mut SeedTree::new(7).rng("init")).unwrap();
    let mut a = Vec::new();
    stl.visit_params(&mut |p| a.push(p.clone()));
    let mut b = Vec::new();
    m.visit_params(&mut |p| b.push(p.clone()));
    assert_eq!(a[..], b[..a.len()]);
    // The trunk equals SimpleConv64's conv stack draw for draw.
    let sc = detaux::models::simple_conv_trunk::<f32>("trunk", 3, 64, &mut SeedTree::new(7).rng("init")).unwrap();
    let mut c = Vec::new();
    sc.visit_params(&mut |p| c.push(p.clone()));
    assert_eq!(c[..], b[..c.len()]);
    // Bad configs.
    assert!(
        MtlModel::new(MtlModelConfig::simple_conv(3, 64, vec![1]).unwrap(), &mut SeedTree::new(0).rng("i")).is_err()
    );
    let odd = MtlModelConfig { input_size: 20, ..MtlModelConfig::simple_conv(1, 64, vec![2]).unwrap() };
    assert!(odd.validate().is_err());
}
