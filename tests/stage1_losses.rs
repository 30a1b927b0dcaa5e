//! Finite-difference (f64) gradient tests of each stage-1 loss term, plus value checks of the
//! oracle selection and the schedules.

#![allow(clippy::cloned_ref_to_slice_refs, clippy::needless_range_loop)]

use detaux::autodiff::gradcheck::{check, GradCheck};
use detaux::autodiff::{Tape, Tensor};
use detaux::losses::{
    consistency_loss, distance_loss, distribution_loss, pair_distances, reconstruction_loss, select_subspaces,
    sparsity_loss, subspace_normalisers, DistributionMode, Oracle, ReconstructionLoss,
};
use detaux::models::{DisentangleModel, ModelConfig};
use detaux::rng::SeedTree;
use detaux::stage1::{training_step, Betas, LossConfig};
use ndarray::{arr2, ArrayD, IxDyn};
use rand::Rng;

fn rand_t(shape: &[usize], seed: u64, lo: f64, hi: f64) -> Tensor<f64> {
    let mut rng = SeedTree::new(seed).rng("test");
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.gen_range(lo..hi)).collect()).unwrap()
}

fn assert_passes(name: &str, report: detaux::autodiff::gradcheck::GradCheckReport) {
    assert!(report.checked > 0 && report.passed(), "{name}: {report}");
}

#[test]
fn reconstruction_mse_and_bce() {
    let recon = rand_t(&[2, 1, 3, 3], 1, -2.0, 2.0);
    let target = rand_t(&[2, 1, 3, 3], 2, 0.0, 1.0);
    for kind in [ReconstructionLoss::Mse, ReconstructionLoss::Bce] {
        let r = check(&GradCheck::default(), &[recon.clone(), target.clone()], |_, v| {
            reconstruction_loss(kind, v[0], v[1])
        })
        .unwrap();
        assert_passes(&format!("{kind:?}"), r);
    }
    // BCE from logits equals −mean(x ln σ(a) + (1−x) ln(1−σ(a))).
    let tape = Tape::<f64>::new();
    let v = reconstruction_loss(ReconstructionLoss::Bce, tape.constant(recon.clone()), tape.constant(target.clone()))
        .unwrap()
        .scalar()
        .unwrap();
    let direct: f64 = recon
        .iter()
        .zip(target.iter())
        .map(|(&a, &x)| {
            let p = 1.0 / (1.0 + (-a).exp());
            -(x * p.ln() + (1.0 - x) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / recon.len() as f64;
    assert!((v - direct).abs() < 1e-12);
}

#[test]
fn sparsity_value_and_gradient() {
    // Two subspaces using disjoint coordinates: zero loss.
    let tape = Tape::<f64>::new();
    let disjoint = ArrayD::from_shape_vec(IxDyn(&[2, 1, 2]), vec![1.0, 0.0, 0.0, 3.0]).unwrap();
    assert_eq!(sparsity_loss(tape.constant(disjoint)).unwrap().scalar().unwrap(), 0.0);
    // Overlap: |1·2| + |2·1| on coordinate 0, over 1 image and 2 coordinates → 4 / 2.
    let overlap = ArrayD::from_shape_vec(IxDyn(&[2, 1, 2]), vec![1.0, 0.0, 2.0, 0.0]).unwrap();
    assert_eq!(sparsity_loss(tape.constant(overlap)).unwrap().scalar().unwrap(), 2.0);
    let codes = rand_t(&[3, 4, 5], 3, -1.0, 1.0);
    let r = check(&GradCheck::default(), &[codes], |_, v| sparsity_loss(v[0])).unwrap();
    assert_passes("sparsity", r);
}

#[test]
fn distance_selection_and_gradient() {
    let codes = rand_t(&[4, 6, 3], 4, -1.0, 1.0); // K=4, B=3
    let tape = Tape::<f64>::new();
    let dist = pair_distances(tape.constant(codes.clone())).unwrap();
    let d = dist.value();
    assert_eq!(d.shape(), &[3, 4]);
    // D[b, k] = ‖S[k, b] − S[k, 3 + b]‖².
    let want: f64 = (0..3).map(|t| (codes[[2, 1, t]] - codes[[2, 4, t]]).powi(2)).sum();
    assert!((d[[1, 2]] - want).abs() < 1e-15);
    let mu = subspace_normalisers(&codes);
    // μ_k: mean over all 36 ordered pairs, diagonal zeros included, + 1e-8.
    let mut m0 = 0.0;
    for i in 0..6 {
        for j in 0..6 {
            m0 += (0..3).map(|t| (codes[[0, i, t]] - codes[[0, j, t]]).powi(2)).sum::<f64>().sqrt();
        }
    }
    assert!((mu[0] - (m0 / 36.0 + 1e-8)).abs() < 1e-14);
    let norm: Vec<Vec<f64>> = (0..3).map(|b| (0..4).map(|k| d[[b, k]] / mu[k]).collect()).collect();
    let argmax =
        |row: &[f64], from: usize| (from..row.len()).fold(from, |best, k| if row[k] > row[best] { k } else { best });
    let unforced = select_subspaces(&d, &mu, &Oracle::Unforced).unwrap();
    let forced = select_subspaces(&d, &mu, &Oracle::Forced { differs: vec![true, false, false] }).unwrap();
    for b in 0..3 {
        assert_eq!(unforced.row(b).iter().position(|&v| v == 1.0), Some(argmax(&norm[b], 0)));
        let want = if b == 0 { 0 } else { argmax(&norm[b], 1) };
        assert_eq!(forced.row(b).iter().position(|&v| v == 1.0), Some(want), "forced row {b}");
        assert_eq!(forced.row(b).sum(), 1.0);
    }
    assert!(select_subspaces(&d, &mu, &Oracle::Forced { differs: vec![true] }).is_err());
    for (name, sel) in [("unforced", unforced), ("forced", forced)] {
        let s = sel.clone();
        let r = check(&GradCheck::default(), &[codes.clone()], move |_, v| distance_loss(pair_distances(v[0])?, &s))
            .unwrap();
        assert_passes(&format!("distance ({name})"), r);
    }
}

#[test]
fn distance_hinge_value() {
    // One pair, K = 2, selection e_1: L = mean(mask·D) + 10·mean(relu(0.05 − sel·D)).
    let tape = Tape::<f64>::new();
    let d = tape.constant(arr2(&[[0.5, 0.01]]).into_dyn());
    let sel = arr2(&[[0.0, 1.0]]);
    let v = distance_loss(d, &sel).unwrap().scalar().unwrap();
    // Non-selected entries contribute the constant relu(0.05 − 0) = 0.05 (no gradient).
    let want = (0.5 + 0.0) / 2.0 + 10.0 * (0.05 + 0.04) / 2.0;
    assert!((v - want).abs() < 1e-15, "{v} vs {want}");
}

#[test]
fn distribution_reference_is_detached_and_trainable_has_gradient() {
    let codes = rand_t(&[3, 4, 2], 5, -0.1, 0.1);
    let tape = Tape::<f64>::new();
    let c = tape.leaf(codes.clone());
    let dist = pair_distances(c).unwrap();
    let sel = arr2(&[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]);
    let reg = distribution_loss(DistributionMode::Reference, dist, &sel).unwrap();
    // usage = (1, 0, 0): 100·mean((1/3 − 1)², (1/3)², (1/3)²) = 100·(4/9 + 1/9 + 1/9)/3.
    assert!((reg.scalar().unwrap() - 100.0 * (6.0 / 9.0) / 3.0).abs() < 1e-12);
    assert!(!reg.requires_grad(), "the reference regulariser must carry no gradient");
    let r = check(&GradCheck::default(), &[codes], move |_, v| {
        distribution_loss(DistributionMode::Trainable, pair_distances(v[0])?, &sel)
    })
    .unwrap();
    assert_passes("distribution (trainable)", r);
}

#[test]
fn consistency_gradient_through_decoder_and_encoder() {
    let cfg = ModelConfig { channels: 1, latent_dim: 3, n_subspaces: 2, image_size: 64 };
    let model = DisentangleModel::<f64>::new(cfg, &mut SeedTree::new(9).rng("init")).unwrap();
    let codes = rand_t(&[2, 4, 3], 6, -1.0, 1.0); // K=2, B=2
    let mixes = vec![(0, 1), (1, 0), (1, 1)];
    let r =
        check(&GradCheck::default(), &[codes], |_, v| consistency_loss(&model, ReconstructionLoss::Mse, v[0], &mixes))
            .unwrap();
    assert_passes("consistency (w.r.t. codes)", r);
}

#[test]
fn full_step_gradient_on_projector_parameters() {
    // Finite differences on every projector parameter and a sample of decoder/encoder weights,
    // through the whole weighted training_step (forced oracle, all terms on).
    let cfg = ModelConfig { channels: 1, latent_dim: 3, n_subspaces: 3, image_size: 64 };
    let mut model = DisentangleModel::<f64>::new(cfg, &mut SeedTree::new(11).rng("init")).unwrap();
    let x1 = rand_t(&[2, 1, 64, 64], 7, 0.0, 1.0);
    let x2 = rand_t(&[2, 1, 64, 64], 8, 0.0, 1.0);
    let oracle = Oracle::Forced { differs: vec![true, false] };
    let mixes = vec![(2, 0), (0, 1), (1, 1), (2, 1)];
    let loss_cfg = LossConfig { distribution: DistributionMode::Trainable, ..LossConfig::default() };
    let run = |m: &DisentangleModel<f64>| {
        let tape = Tape::new();
        let out = training_step(m, &tape, x1.clone(), x2.clone(), &oracle, &Betas::all_on(), &loss_cfg, Some(&mixes))
            .unwrap();
        (out.loss.scalar().unwrap(), out.selection.unwrap())
    };
    let tape = Tape::new();
    let out = training_step(&model, &tape, x1.clone(), x2.clone(), &oracle, &Betas::all_on(), &loss_cfg, Some(&mixes))
        .unwrap();
    let sel0 = out.selection.clone().unwrap();
    let grads = tape.backward(out.loss).unwrap();
    let targets = [
        "projector0.fc1.weight",
        "projector1.fc2.bias",
        "projector2.fc2.weight",
        "decoder.fc1.weight",
        "encoder.fc2.bias",
    ];
    let eps = 1e-6;
    let mut checked = 0;
    for name in targets {
        let g = grads.param(name).unwrap();
        for k in (0..g.len()).step_by(1 + g.len() / 5) {
            let bump = |m: &mut DisentangleModel<f64>, delta: f64| {
                detaux::nn::Module::visit_params_mut(m, &mut |p| {
                    if p.name == name {
                        p.value.as_slice_mut().unwrap()[k] += delta;
                    }
                })
            };
            bump(&mut model, eps);
            let (lp, sp) = run(&model);
            bump(&mut model, -2.0 * eps);
            let (lm, sm) = run(&model);
            bump(&mut model, eps);
            assert!(sp == sel0 && sm == sel0, "the oracle selection changed under a tiny perturbation");
            let n = (lp - lm) / (2.0 * eps);
            let a = g.as_slice().unwrap()[k];
            assert!(
                (a - n).abs() <= 1e-7 + 1e-5 * a.abs().max(n.abs()),
                "{name}[{k}]: analytic {a:e} vs numeric {n:e}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20);
}

#[test]
fn schedule_matches_the_reference_arithmetic() {
    // docs/method.md §4 with E = 40.
    assert!(!Betas::at(10, 40).unwrap().warm);
    let b11 = Betas::at(11, 40).unwrap();
    assert!(b11.warm && (b11.beta1 - 0.044).abs() < 1e-3 && !b11.consistency_active(100.0));
    let b13 = Betas::at(13, 40).unwrap();
    assert!((b13.beta1 - 0.153).abs() < 1e-3 && (b13.beta2 - 0.013).abs() < 1e-3 && b13.consistency_active(100.0));
    let b16 = Betas::at(16, 40).unwrap();
    assert!(b16.beta1 == 1.0 && b16.beta3 == 0.0);
    assert!((Betas::at(18, 40).unwrap().beta2 - 0.287).abs() < 1e-3);
    assert_eq!(Betas::at(20, 40).unwrap().beta2, 1.0);
    assert!(Betas::at(0, 0).is_err());
}
