//! Pair sampler: statistics of the intended and uniform rules, reproducibility per
//! (seed, epoch), pairs_per_epoch, batching, bad parameters.

use detaux::data::pairs::{PairConfig, PairMode, PairSampler};
use detaux::data::{shapes3d, Dataset, FactorSpec, LabelKind};
use detaux::rng::SeedTree;
use detaux::Error;
use ndarray::Array2;

/// A dataset with the full 3DShapes factor grid restricted to cheap sizes: tiny 1×1 images,
/// factors of a sub-grid (every combination once), so statistics run on many pairs quickly.
fn factor_grid_dataset(ranges: [std::ops::Range<u32>; 6]) -> Dataset {
    let g = shapes3d::grid();
    let idx = g.range_subset(&ranges).unwrap();
    let factors = g.factor_matrix(&idx).unwrap();
    let n = idx.len();
    Dataset::new("grid", vec![0u8; n], 1, 1, 1, factors, shapes3d::factor_specs(), LabelKind::Factors).unwrap()
}

fn config(mode: PairMode, pairs: usize) -> PairConfig {
    PairConfig { mode, pairs_per_epoch: Some(pairs), batch_size: 32, drop_last: true }
}

#[test]
fn intended_rule_differs_with_probability_p_and_others_are_uniform() {
    // Sub-grid: 3 floor hues × 2 wall hues × all object hues × all scales × all shapes × 5 orientations.
    let data = factor_grid_dataset([0..3, 0..2, 0..10, 0..8, 0..4, 0..5]);
    let pool: Vec<usize> = (0..data.len()).collect();
    let n_pairs = 20_000;
    for (principal, p) in [(2usize, 0.5), (3, 0.2), (5, 0.8), (4, 0.5)] {
        let s = PairSampler::new(&data, &pool, principal, config(PairMode::Intended { p }, n_pairs), SeedTree::new(42))
            .unwrap();
        let pairs = s.epoch_pairs(0);
        assert_eq!(pairs.len(), n_pairs);
        let differ = pairs.iter().filter(|&&(a, b)| data.factor(a, principal) != data.factor(b, principal)).count();
        let rate = differ as f64 / n_pairs as f64;
        assert!((rate - p).abs() <= 0.02, "principal {principal}: P(differ) = {rate}, p = {p}");
        // Every partner factor is near uniform over its values (the sub-grid is a full product,
        // so the rule makes the non-principal factors exactly uniform).
        for (k, spec) in data.factor_specs().iter().enumerate() {
            let values: Vec<u32> =
                (0..spec.cardinality as u32).filter(|&v| data.value_counts(k)[v as usize] > 0).collect();
            let mut counts = vec![0usize; spec.cardinality];
            pairs.iter().for_each(|&(_, b)| counts[data.factor(b, k) as usize] += 1);
            let expect = n_pairs as f64 / values.len() as f64;
            for &v in &values {
                let dev = (counts[v as usize] as f64 - expect).abs() / expect;
                assert!(dev < 0.08, "principal {principal}, factor {k} value {v}: {} vs {expect}", counts[v as usize]);
            }
        }
        // When the principal differs, the new value is uniform over the *other* values.
        let card = data.factor_specs()[principal].cardinality;
        let mut moved = vec![vec![0usize; card]; card];
        for &(a, b) in &pairs {
            let (va, vb) = (data.factor(a, principal) as usize, data.factor(b, principal) as usize);
            moved[va][vb] += 1;
        }
        let present: Vec<usize> = (0..card).filter(|&v| data.value_counts(principal)[v] > 0).collect();
        for &va in &present {
            let row = &moved[va];
            let out: usize = present.iter().filter(|&&vb| vb != va).map(|&vb| row[vb]).sum();
            let expect = out as f64 / (present.len() - 1) as f64;
            for (vb, &c) in present.iter().filter(|&&vb| vb != va).map(|&vb| (vb, &row[vb])) {
                assert!(
                    (c as f64 - expect).abs() < 5.0 * expect.sqrt() + 3.0,
                    "principal {principal}: {va}->{vb} {c} vs {expect}"
                );
            }
        }
    }
}

#[test]
fn class_labelled_rule_and_uniform_mode() {
    // 10 unbalanced classes.
    let labels: Vec<u32> = (0..3000u32).map(|i| (i * 7 + i / 11) % 10).collect();
    let n = labels.len();
    let data = Dataset::new(
        "classes",
        vec![0u8; n],
        1,
        1,
        1,
        Array2::from_shape_vec((n, 1), labels).unwrap(),
        vec![FactorSpec::new("label", 10)],
        LabelKind::Classes,
    )
    .unwrap();
    let pool: Vec<usize> = (0..n).collect();
    for p in [0.0, 0.3, 0.5, 1.0] {
        let s = PairSampler::new(&data, &pool, 0, config(PairMode::Intended { p }, 20_000), SeedTree::new(3)).unwrap();
        let pairs = s.epoch_pairs(1);
        let rate = pairs.iter().filter(|&&(a, b)| data.factor(a, 0) != data.factor(b, 0)).count() as f64 / 20_000.0;
        assert!((rate - p).abs() <= 0.02, "class rule: P(different class) = {rate}, p = {p}");
    }
    // Uniform mode: partner uniform over the pool, so P(differ) = 1 − Σ π_c² and every image
    // is about equally often a partner.
    let s = PairSampler::new(&data, &pool, 0, config(PairMode::Uniform, 30_000), SeedTree::new(3)).unwrap();
    let pairs = s.epoch_pairs(0);
    let freq = data.value_counts(0).iter().map(|&c| c as f64 / n as f64).collect::<Vec<_>>();
    let expect = 1.0 - freq.iter().map(|f| f * f).sum::<f64>();
    let rate = pairs.iter().filter(|&&(a, b)| data.factor(a, 0) != data.factor(b, 0)).count() as f64 / 30_000.0;
    assert!((rate - expect).abs() <= 0.02, "uniform: {rate} vs {expect}");
    let mut hits = vec![0usize; n];
    pairs.iter().for_each(|&(_, b)| hits[b] += 1);
    let max = *hits.iter().max().unwrap();
    assert!(max < 40, "uniform partners: one image drawn {max} times (expect about 10)");
}

#[test]
fn epochs_are_reproducible_and_cover_the_pool() {
    let data = factor_grid_dataset([0..2, 0..2, 0..10, 0..8, 0..4, 0..3]);
    let pool: Vec<usize> = (0..data.len()).step_by(2).collect();
    let cfg =
        PairConfig { mode: PairMode::Intended { p: 0.5 }, pairs_per_epoch: None, batch_size: 50, drop_last: true };
    let s1 = PairSampler::new(&data, &pool, 2, cfg, SeedTree::new(9)).unwrap();
    let s2 = PairSampler::new(&data, &pool, 2, cfg, SeedTree::new(9)).unwrap();
    let s3 = PairSampler::new(&data, &pool, 2, cfg, SeedTree::new(10)).unwrap();
    assert_eq!(s1.epoch_pairs(4), s2.epoch_pairs(4));
    assert_ne!(s1.epoch_pairs(4), s1.epoch_pairs(5));
    assert_ne!(s1.epoch_pairs(4), s3.epoch_pairs(4));
    // Without pairs_per_epoch every pool image is a first image exactly once; partners stay in the pool.
    let pairs = s1.epoch_pairs(0);
    let mut firsts: Vec<usize> = pairs.iter().map(|p| p.0).collect();
    firsts.sort_unstable();
    assert_eq!(firsts, pool);
    assert!(pairs.iter().all(|p| p.1 % 2 == 0));
    // Resume mid-epoch: batches from a fresh sampler, skipping 3, equal the tail of the first run.
    let all = s1.epoch_batches(7);
    assert_eq!(all.len(), pool.len() / 50);
    let resumed: Vec<_> = s2.iter_epoch(&data, 7, 3).collect();
    assert_eq!(resumed.len(), all.len() - 3);
    assert_eq!(resumed[0].indices, all[3]);
    assert_eq!(resumed[0].f1, data.factor_batch(&all[3].first));
}

#[test]
fn pairs_per_epoch_and_drop_last_batching() {
    let data = factor_grid_dataset([0..1, 0..1, 0..10, 0..2, 0..2, 0..5]); // 200 images
    let pool: Vec<usize> = (0..data.len()).collect();
    let mk = |pairs, batch_size, drop_last| {
        PairSampler::new(
            &data,
            &pool,
            2,
            PairConfig { mode: PairMode::default(), pairs_per_epoch: pairs, batch_size, drop_last },
            SeedTree::new(1),
        )
        .unwrap()
    };
    let s = mk(Some(70), 32, true);
    assert_eq!(s.epoch_pairs(0).len(), 70);
    assert_eq!(s.batches_per_epoch(), 2);
    assert!(s.epoch_batches(0).iter().all(|b| b.len() == 32));
    let s = mk(Some(70), 32, false);
    let lens: Vec<usize> = s.epoch_batches(0).iter().map(|b| b.len()).collect();
    assert_eq!(lens, vec![32, 32, 6]);
    // Subsampled first images are distinct (a prefix of a permutation).
    let mut firsts: Vec<usize> = s.epoch_pairs(0).iter().map(|p| p.0).collect();
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(firsts.len(), 70);
    // More pairs than images: further permutations are appended, each image used twice or thrice.
    let s = mk(Some(500), 100, true);
    let mut uses = vec![0usize; 200];
    s.epoch_pairs(0).iter().for_each(|p| uses[p.0] += 1);
    assert!(uses.iter().all(|&u| u == 2 || u == 3));
}

#[test]
fn batches_are_nchw_f32_in_unit_range() {
    let idx = shapes3d::grid().random_subset(120, &mut SeedTree::new(4).rng("t")).unwrap();
    let data = shapes3d::generate("t", &idx).unwrap();
    let pool: Vec<usize> = (0..data.len()).collect();
    let s =
        PairSampler::new(&data, &pool, data.principal(), config(PairMode::default(), 64), SeedTree::new(2)).unwrap();
    let b = s.epoch_batches(0)[1].load(&data);
    assert_eq!(b.x1.shape(), &[32, 3, 64, 64]);
    assert_eq!(b.x2.shape(), &[32, 3, 64, 64]);
    assert_eq!(b.f1.shape(), &[32, 6]);
    let (i, y, x) = (b.indices.first[5], 10, 20);
    for c in 0..3 {
        let want = data.image(i)[(y * 64 + x) * 3 + c] as f32 / 255.0;
        assert_eq!(b.x1[[5, c, y, x]], want);
    }
    assert!(b.x2.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(b.f2[[3, 2]], data.factor(b.indices.second[3], 2) as i64);
}

#[test]
fn bad_parameters_are_errors_naming_the_parameter() {
    let data = factor_grid_dataset([0..1, 0..1, 0..10, 0..2, 0..2, 0..5]);
    let pool: Vec<usize> = (0..data.len()).collect();
    let try_cfg = |cfg: PairConfig| PairSampler::new(&data, &pool, 2, cfg, SeedTree::new(1)).unwrap_err();
    for p in [-0.1, 1.5, f64::NAN] {
        let e = try_cfg(config(PairMode::Intended { p }, 64));
        assert!(matches!(&e, Error::InvalidParam { name, .. } if name == "p"), "{e}");
        assert!(e.to_string().contains("[0, 1]"), "{e}");
    }
    let e = try_cfg(PairConfig { batch_size: 0, ..config(PairMode::Uniform, 64) });
    assert!(e.to_string().contains("batch_size"), "{e}");
    let e = try_cfg(config(PairMode::Uniform, 0));
    assert!(e.to_string().contains("pairs_per_epoch"), "{e}");
    let e = try_cfg(config(PairMode::Uniform, 10));
    assert!(e.to_string().contains("drop_last"), "{e}");
    let e = PairSampler::new(&data, &[], 2, config(PairMode::Uniform, 64), SeedTree::new(1)).unwrap_err();
    assert!(e.to_string().contains("pool"), "{e}");
    let e = PairSampler::new(&data, &[0, 5000], 2, config(PairMode::Uniform, 64), SeedTree::new(1)).unwrap_err();
    assert!(e.to_string().contains("5000"), "{e}");
    // Floor hue takes one value here: it cannot differ.
    let e = PairSampler::new(&data, &pool, 0, config(PairMode::Intended { p: 0.5 }, 64), SeedTree::new(1)).unwrap_err();
    assert!(e.to_string().contains("floor_hue"), "{e}");
    // Unknown factor names list the valid names.
    let e = data.factor_index("colour").unwrap_err().to_string();
    assert!(e.contains("colour") && e.contains("object_hue") && e.contains("orientation"), "{e}");
    let mut d2 = data.clone();
    assert!(d2.set_principal("nope").is_err());
    assert!(d2.set_principal("scale").is_ok());
    assert_eq!(d2.principal(), 3);
    assert!(d2.set_principal("5").is_ok());
    assert!(d2.set_principal("6").is_err());
}

#[test]
fn minimal_rule_changes_the_principal_with_probability_p_else_exactly_one_other_factor() {
    let data = factor_grid_dataset([0..3, 0..2, 0..10, 0..4, 0..4, 0..5]);
    let pool: Vec<usize> = (0..data.len()).collect();
    let n_pairs = 8_000;
    for (principal, p) in [(2usize, 0.5), (4, 0.3)] {
        let s = PairSampler::new(&data, &pool, principal, config(PairMode::Minimal { p }, n_pairs), SeedTree::new(8))
            .unwrap();
        let pairs = s.epoch_pairs(0);
        let mut differ = 0;
        let mut changed_count = [0usize; 6];
        for &(a, b) in &pairs {
            let diff: Vec<usize> = (0..6).filter(|&f| data.factor(a, f) != data.factor(b, f)).collect();
            // A full sub-grid: exactly one factor changes.
            assert_eq!(diff.len(), 1, "pair ({a}, {b}) differs in {diff:?}");
            if diff[0] == principal {
                differ += 1;
            }
            changed_count[diff[0]] += 1;
        }
        let rate = differ as f64 / n_pairs as f64;
        assert!((rate - p).abs() < 0.03, "principal {principal}: differs at rate {rate}, p = {p}");
        // The other factors share the rest about equally.
        let others: Vec<usize> = (0..6).filter(|&f| f != principal).map(|f| changed_count[f]).collect();
        let mean = others.iter().sum::<usize>() as f64 / others.len() as f64;
        assert!(others.iter().all(|&c| (c as f64 - mean).abs() < 0.15 * mean), "{others:?}");
        assert_eq!(pairs, s.epoch_pairs(0));
    }
    // On a random subset the partner changes as few other factors as the subset allows.
    let g = shapes3d::grid();
    let idx = g.random_subset(4_000, &mut SeedTree::new(2).rng("subset")).unwrap();
    let sub = Dataset::new(
        "subset",
        vec![0u8; idx.len()],
        1,
        1,
        1,
        g.factor_matrix(&idx).unwrap(),
        shapes3d::factor_specs(),
        LabelKind::Factors,
    )
    .unwrap();
    let pool: Vec<usize> = (0..sub.len()).collect();
    let count = |mode| {
        let s = PairSampler::new(&sub, &pool, 2, config(mode, 4_000), SeedTree::new(1)).unwrap();
        let pairs = s.epoch_pairs(0);
        pairs.iter().map(|&(a, b)| (0..6).filter(|&f| sub.factor(a, f) != sub.factor(b, f)).count()).sum::<usize>()
            as f64
            / pairs.len() as f64
    };
    let (minimal, intended) = (count(PairMode::Minimal { p: 0.5 }), count(PairMode::Intended { p: 0.5 }));
    assert!(minimal < 3.0 && minimal < intended - 1.5, "minimal {minimal}, intended {intended}");
}
