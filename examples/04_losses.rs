//! Lesson 4: the five stage-1 losses of Detaux on a tiny batch, term by term.
//!
//! Codes `S: [K, 2B, d]` hold subspace `k` of every image: the first images of the `B` pairs at
//! `0..B`, their partners at `B..2B` (`docs/method.md` §1). Here `K = 3`, `B = 2`, `d = 2`, so
//! every number can be followed by hand. Each loss is printed with its parts and then checked
//! by the f64 finite-difference checker of lesson 2; the same checks, and value checks against
//! hand-computed cases, are the tests in `tests/stage1_losses.rs`.
//!
//! | loss | equation (`docs/method.md`) | module | test in `tests/stage1_losses.rs` |
//! |---|---|---|---|
//! | `L_rec` | §3.1 | `losses::reconstruction` | `reconstruction_mse_and_bce` |
//! | `L_sp` | §3.2 | `losses::sparsity` | `sparsity_value_and_gradient` |
//! | `L_dist` + oracle | §3.4 | `losses::distance` | `distance_selection_and_gradient`, `distance_hinge_value` |
//! | `L_reg` | §3.5 | `losses::distribution` | `distribution_reference_is_detached_and_trainable_has_gradient` |
//! | `L_cons` | §3.3 | `losses::consistency` | `consistency_gradient_through_decoder_and_encoder` |
//! | total `L` | §4 | `stage1::training_step` | `full_step_gradient_on_projector_parameters` |
//!
//! ```sh
//! cargo run --release --example 04_losses
//! ```
//! Next: `05_kmeans`, the clustering of stage 2.

use detaux::autodiff::gradcheck::{check, GradCheck, GradCheckReport};
use detaux::autodiff::{Tape, Tensor};
use detaux::losses::{
    consistency_loss, distance_loss, distribution_loss, pair_distances, reconstruction_loss, sample_mixes,
    select_subspaces, sparsity_loss, subspace_normalisers, DistributionMode, Oracle, ReconstructionLoss,
};
use detaux::models::{DisentangleModel, ModelConfig};
use detaux::rng::SeedTree;
use detaux::stage1::{training_step, Betas, LossConfig};
use ndarray::{ArrayD, IxDyn};
use rand::Rng;

/// A seeded tensor with values in `[lo, hi)`.
fn random(shape: &[usize], name: &str, lo: f64, hi: f64) -> Tensor<f64> {
    let mut rng = SeedTree::new(4).rng(name);
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.gen_range(lo..hi)).collect()).expect("sized")
}

/// Prints a gradient-check report and stops the lesson if it failed.
fn show(name: &str, report: GradCheckReport) {
    println!("   gradient check of {name}: {report}");
    assert!(report.checked > 0 && report.passed(), "{name}: gradient check failed");
}

fn main() -> detaux::Result<()> {
    let (k, b, d) = (3, 2, 2);
    let codes = random(&[k, 2 * b, d], "codes", -1.0, 1.0);
    println!("codes S: [K = {k}, 2B = {}, d = {d}]\n{codes:.3}\n", 2 * b);
    let tape = Tape::<f64>::new();
    let s = tape.constant(codes.clone());
    let cfg = GradCheck::default();

    // ── L_rec: the reconstruction error, on a tiny 2-image "batch" of 1×3×3 images.
    let decoded = random(&[2, 1, 3, 3], "decoded", -2.0, 2.0);
    let target = random(&[2, 1, 3, 3], "target", 0.0, 1.0);
    println!("1. L_rec (§3.1)");
    for kind in [ReconstructionLoss::Mse, ReconstructionLoss::Bce] {
        let value = reconstruction_loss(kind, tape.constant(decoded.clone()), tape.constant(target.clone()))?;
        println!("   {kind:?}: {:.6}", value.scalar()?);
        show(
            &format!("L_rec {kind:?}"),
            check(&cfg, &[decoded.clone(), target.clone()], |_, v| reconstruction_loss(kind, v[0], v[1]))?,
        );
    }

    // ── L_sp: |s_k · Σ_{l≠k} s_l| per coordinate, summed over k, averaged over images and coordinates.
    println!("\n2. L_sp (§3.2)");
    for img in 0..2 * b {
        let per_coord: Vec<String> = (0..d)
            .map(|j| {
                let total: f64 = (0..k).map(|kk| codes[[kk, img, j]]).sum();
                let v: f64 = (0..k).map(|kk| (codes[[kk, img, j]] * (total - codes[[kk, img, j]])).abs()).sum();
                format!("{v:.4}")
            })
            .collect();
        println!("   image {img}: Σ_k |s_k·Σ_(l≠k) s_l| per coordinate = [{}]", per_coord.join(", "));
    }
    println!("   L_sp = mean of those = {:.6}", sparsity_loss(s)?.scalar()?);
    show("L_sp", check(&cfg, std::slice::from_ref(&codes), |_, v| sparsity_loss(v[0]))?);

    // ── The oracle and L_dist.
    println!("\n3. D, μ, the oracle and L_dist (§1, §3.4)");
    let dist = pair_distances(s)?;
    let dist_value = dist.value();
    let mu = subspace_normalisers(&codes);
    println!("   D = ‖s¹_k − s²_k‖² per pair (rows) and subspace (columns):\n{dist_value:.4}");
    println!("   μ_k (mean unsquared distance among the 2B codes of subspace k) = {mu:.4?}");
    for (name, oracle) in [
        ("unforced", Oracle::Unforced),
        ("forced, only pair 1 differs in the principal factor", Oracle::Forced { differs: vec![false, true] }),
    ] {
        let sel = select_subspaces(&dist_value, &mu, &oracle)?;
        let chosen: Vec<usize> = sel.rows().into_iter().map(|r| r.iter().position(|&v| v == 1.0).unwrap()).collect();
        let value = distance_loss(dist, &sel)?.scalar()?;
        let pull: f64 = (0..b)
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .map(|(i, j)| (1.0 - sel[[i, j]]) * dist_value[[i, j]])
            .sum::<f64>()
            / (b * k) as f64;
        println!("   {name}: selected subspace per pair {chosen:?}");
        println!("     pull = mean(mask·D) = {pull:.6}, push = 10·mean(max(0, 0.05 − sel·D)) = {:.6}", value - pull);
        println!("     L_dist = {value:.6}");
        let fixed = sel.clone(); // the selection has no gradient: it is held fixed in the check
        show(
            &format!("L_dist ({name})"),
            check(&cfg, std::slice::from_ref(&codes), move |_, v| distance_loss(pair_distances(v[0])?, &fixed))?,
        );
    }

    // ── L_reg: uniform use of the subspaces. The trainable form's softmax(1000·D) is one-hot
    //    (and flat, so without gradient) unless the distances are small, as they are early in
    //    training; so this part uses the codes scaled by 0.03 (D about 1e-3).
    println!("\n4. L_reg (§3.5), on the codes × 0.03");
    let small = codes.mapv(|v| 0.03 * v);
    let small_dist = pair_distances(tape.constant(small.clone()))?.value();
    let sel = select_subspaces(&small_dist, &subspace_normalisers(&small), &Oracle::Unforced)?;
    println!("   selection (one row per pair):\n{sel}");
    for mode in [DistributionMode::Reference, DistributionMode::Trainable] {
        let t = Tape::<f64>::new();
        let leaf = t.leaf(small.clone());
        let reg = distribution_loss(mode, pair_distances(leaf)?, &sel)?;
        let value = reg.scalar()?;
        let has_gradient = t.backward(reg)?.wrt(leaf)?.is_some_and(|g| g.iter().any(|&v| v != 0.0));
        println!("   {mode:?}: L_reg = {value:.6}; gradient reaches the codes: {has_gradient}");
    }
    let fixed = sel.clone();
    show(
        "L_reg (Trainable)",
        check(&cfg, &[small], move |_, v| {
            distribution_loss(DistributionMode::Trainable, pair_distances(v[0])?, &fixed)
        })?,
    );

    // ── L_cons: swap one subspace, decode, re-encode. This needs the autoencoder itself
    //    (SimpleConv64 at 64×64, here with K = 3 projectors in R^2, one channel).
    println!("\n5. L_cons (§3.3)");
    let model = DisentangleModel::<f64>::new(
        ModelConfig { channels: 1, latent_dim: d, n_subspaces: k, image_size: 64 },
        &mut SeedTree::new(4).rng("init"),
    )?;
    let mixes = sample_mixes(k, b, &mut SeedTree::new(4).rng("mixes"));
    println!("   kept mixes (subspace k of x¹_b into x²_b): {mixes:?}");
    let cons = consistency_loss(&model, ReconstructionLoss::Mse, s, &mixes)?;
    println!("   L_cons = mean (ŝ − m)² over the re-encoded mixes = {:.6}", cons.scalar()?);
    show(
        "L_cons (w.r.t. the codes)",
        check(&cfg, std::slice::from_ref(&codes), |_, v| {
            consistency_loss(&model, ReconstructionLoss::Mse, v[0], &mixes)
        })?,
    );

    // ── The total: one training step on two pairs of 64×64 images at epoch 15 of 40.
    println!("\n6. The total L (§4), one training step at epoch 15 of 40");
    let betas = Betas::at(15, 40)?;
    let losses = LossConfig::default();
    let x1 = random(&[b, 1, 64, 64], "x1", 0.0, 1.0);
    let x2 = random(&[b, 1, 64, 64], "x2", 0.0, 1.0);
    let oracle = Oracle::Forced { differs: vec![true, false] };
    let t = Tape::new();
    let mixes = betas.consistency_active(losses.lambda_consistency).then_some(&mixes[..]);
    let step = training_step(&model, &t, x1, x2, &oracle, &betas, &losses, mixes)?;
    let terms = step.terms;
    println!("   β1 = {:.3}, β2 = {:.3}, β3 = {:.3}", betas.beta1, betas.beta2, betas.beta3);
    println!(
        "   L_rec {:.4e}  L_dist {:.4e}  L_sp {:.4e}  L_cons {:.4e}  L_reg {:.4e}",
        terms.reconstruction, terms.distance, terms.sparsity, terms.consistency, terms.distribution
    );
    println!("   (an untrained model codes two noise images nearly alike: D ≈ 0, so L_dist ≈ the hinge's 10·0.05)");
    let by_hand = terms.reconstruction
        + betas.beta1 * (losses.lambda_distance * terms.distance + losses.lambda_sparsity * terms.sparsity)
        + betas.beta2 * losses.lambda_consistency * terms.consistency
        + betas.beta3 * losses.lambda_distribution * terms.distribution;
    println!("   L = L_rec + β1(λ_dist L_dist + λ_sp L_sp) + β2 λ_cons L_cons + β3 λ_distr L_reg");
    println!("     = {:.6} (training_step) = {by_hand:.6} (from the terms)", terms.total);
    assert!((terms.total - by_hand).abs() < 1e-9 * by_hand.abs().max(1.0));
    Ok(())
}
