//! Lesson 6: a short stage-1 run (disentangle) on a small procedural 3DShapes-like set.
//!
//! Stage 1 trains the autoencoder of `docs/method.md` §2 on image pairs with the five losses of
//! lesson 4, under the schedules of §4, with the forced oracle: when a pair differs in the
//! principal factor (here the object's hue) subspace 0 is the one allowed to change. Afterwards
//! the *probe* measures what each subspace learned: for every subspace `k` and every factor, a
//! 10-nearest-neighbour vote among the codes `s_k` of the training images predicts the factor
//! of held-out images. Accuracy near 1 means `s_k` carries the factor; near the `chance` row
//! means it does not. The method wants `s0` to predict object hue and little else.
//!
//! The set is the 3DShapes grid restricted to 2 floor hues × 2 wall hues × 4 object hues ×
//! 4 scales × 4 shapes × 3 orientations (768 images, rendered here in a second); the run is
//! 10 epochs × 20 batches of 16 pairs, a few hundred times shorter than the reference's. At this
//! budget every subspace still carries most factors (they are all projections of one code),
//! and what training changes first is *where s0 differs from the others*: the last lines compare
//! s0's row with the mean of the other rows. It shows the mechanics, not the paper's result;
//! `detaux disentangle` and `detaux run` do the same at full size.
//!
//! ```sh
//! cargo run --release --example 06_stage1
//! ```
//! Next: `07_experiment`, all three stages through the library.

use detaux::data::pairs::PairMode;
use detaux::data::shapes3d;
use detaux::stage1::{
    encode_subspaces, probe_fit_score, Control, LossConfig, Observer, ProbeConfig, Stage1Config, Stage1Epoch,
    Stage1Trainer,
};
use std::time::Instant;

/// Prints one line per epoch: the β weights and the mean of each loss term.
struct EpochLines {
    start: Instant,
}

impl Observer<Stage1Trainer> for EpochLines {
    fn on_epoch(&mut self, trainer: &Stage1Trainer, r: &Stage1Epoch) -> detaux::Result<Control> {
        let b = detaux::stage1::Betas::at(r.epoch, trainer.config().epochs)?;
        let t = r.mean_terms;
        println!(
            "{:>5} {:>5.2} {:>5.2} {:>8.5} {:>8.5} {:>8.5} {:>8.5} {:>8.5} {:>8.5} {:>6.1}",
            r.epoch,
            b.beta1,
            b.beta2,
            t.reconstruction,
            t.sparsity,
            t.distance,
            t.consistency,
            t.total,
            r.val_reconstruction,
            self.start.elapsed().as_secs_f64()
        );
        Ok(Control::Continue)
    }
}

fn main() -> detaux::Result<()> {
    // 1. The data: a sub-grid of the procedural 3DShapes factors, rendered at 64×64×3.
    let indices = shapes3d::grid().range_subset(&[0..2, 0..2, 0..4, 0..4, 0..4, 0..3])?;
    let data = shapes3d::generate("shapes3d sub-grid", &indices)?;
    println!("1. {} images of 64×64×{}, factors {:?}", data.len(), data.channels(), shapes3d::FACTOR_NAMES);

    // 2. The run: the reference's model, losses, schedules and Adam; a short budget; the
    //    `minimal` pair rule (the principal changes with p = 0.5, otherwise exactly one other
    //    factor) of the `shapes3d` preset, and the `digits` preset's λ_dist = 30, λ_cons = 1
    //    (a strong distance term acts within few steps).
    let config = Stage1Config {
        epochs: 10,
        pairs_per_epoch: Some(320),
        batch_size: 16,
        pair_mode: PairMode::Minimal { p: 0.5 },
        losses: LossConfig { lambda_distance: 30.0, lambda_consistency: 1.0, ..LossConfig::default() },
        principal: Some("object_hue".into()),
        val_fraction: 0.25,
        val_images: 64,
        seed: 6,
        ..Stage1Config::default()
    };
    let mut trainer = Stage1Trainer::new(config, &data)?;
    println!(
        "2. training on {} images ({} held out), {} epochs × {} batches; terms are 0 during the warm-up",
        trainer.split().train.len(),
        trainer.split().test.len(),
        trainer.config().epochs,
        trainer.batches_per_epoch()
    );
    println!("epoch    β1    β2    L_rec     L_sp   L_dist   L_cons        L  val rec   time");
    trainer.run(&data, &mut EpochLines { start: Instant::now() })?;

    // 3. The probe: votes from the training images' codes, scored on the held-out images.
    let split = trainer.split().clone();
    let fit = encode_subspaces(trainer.model(), &data, &split.train)?;
    let score = encode_subspaces(trainer.model(), &data, &split.test)?;
    let factors = data.factors();
    let rows = |idx: &[usize]| factors.select(ndarray::Axis(0), idx);
    let names: Vec<String> = data.factor_specs().iter().map(|f| f.name.clone()).collect();
    let table = probe_fit_score(
        fit.view(),
        rows(&split.train).view(),
        score.view(),
        rows(&split.test).view(),
        &names,
        ProbeConfig::default(),
    )?;
    println!("\n3. probe accuracy (rows: subspaces; columns: factors; held-out images):");
    print!("{}", table.to_text());
    // 4. The method wants s0 high on the principal factor and low on the others, and the
    //    other subspaces the other way round.
    let k = table.accuracy.nrows();
    println!("\n4. s0 against the mean of s1..s{}:", k - 1);
    for (f, name) in names.iter().enumerate() {
        let others = (1..k).map(|s| table.accuracy[[s, f]]).sum::<f64>() / (k - 1) as f64;
        let role = if name == "object_hue" { "  (principal)" } else { "" };
        println!(
            "   {name:<12} s0 {:.3}   others {others:.3}   chance {:.3}{role}",
            table.accuracy[[0, f]],
            table.chance[f]
        );
    }
    Ok(())
}
