//! Procedural generators: counts, shapes, index order, subsets, determinism across thread
//! counts, and every 3DShapes factor recoverable from raw pixels.

use detaux::data::grid::FactorGrid;
use detaux::data::spec::DatasetSpec;
use detaux::data::{dsprites, shapes3d, LabelKind};
use detaux::par::ThreadPool;
use detaux::rng::SeedTree;

#[test]
fn shapes3d_grid_counts_and_index_order() {
    let g = shapes3d::grid();
    assert_eq!(g.len(), 480_000);
    assert_eq!(shapes3d::CARDINALITIES, [10, 10, 10, 8, 4, 15]);
    // Orientation fastest, floor hue slowest, as in the real file.
    assert_eq!(g.factors_of(0), vec![0, 0, 0, 0, 0, 0]);
    assert_eq!(g.factors_of(1), vec![0, 0, 0, 0, 0, 1]);
    assert_eq!(g.factors_of(15), vec![0, 0, 0, 0, 1, 0]);
    assert_eq!(g.factors_of(60), vec![0, 0, 0, 1, 0, 0]);
    assert_eq!(g.factors_of(480), vec![0, 0, 1, 0, 0, 0]);
    assert_eq!(g.factors_of(4800), vec![0, 1, 0, 0, 0, 0]);
    assert_eq!(g.factors_of(48_000), vec![1, 0, 0, 0, 0, 0]);
    assert_eq!(g.factors_of(479_999), vec![9, 9, 9, 7, 3, 14]);
    for &i in &[0usize, 1, 12_345, 99_999, 479_999] {
        let f = g.factors_of(i);
        let formula = ((((f[0] * 10 + f[1]) * 10 + f[2]) * 8 + f[3]) * 4 + f[4]) * 15 + f[5];
        assert_eq!(formula as usize, i);
        assert_eq!(g.index_of(&f), i);
    }
}

#[test]
fn shapes3d_generate_shapes_and_factors() {
    let idx: Vec<usize> = vec![0, 1, 479_999, 250_000];
    let d = shapes3d::generate("t", &idx).unwrap();
    assert_eq!((d.len(), d.height(), d.width(), d.channels()), (4, 64, 64, 3));
    assert_eq!(d.images().len(), 4 * 64 * 64 * 3);
    assert_eq!(d.kind(), LabelKind::Factors);
    let names: Vec<&str> = d.factor_specs().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, shapes3d::FACTOR_NAMES);
    assert_eq!(d.principal_spec().name, "object_hue");
    for (row, &i) in idx.iter().enumerate() {
        let f: Vec<u32> = d.factors().row(row).to_vec();
        assert_eq!(f, shapes3d::grid().factors_of(i));
    }
    // Two images differing only in orientation differ in pixels, and so on for every factor.
    let g = shapes3d::grid();
    let base = [3u32, 6, 1, 4, 2, 7];
    let b = shapes3d::generate("t", &[g.index_of(&base)]).unwrap();
    for k in 0..6 {
        let mut f = base;
        f[k] = (f[k] + 1) % shapes3d::CARDINALITIES[k] as u32;
        let o = shapes3d::generate("t", &[g.index_of(&f)]).unwrap();
        let changed = b.image(0).iter().zip(o.image(0)).filter(|(a, c)| a != c).count();
        assert!(changed > 30, "changing {} alters only {changed} bytes", shapes3d::FACTOR_NAMES[k]);
    }
}

#[test]
fn shapes3d_four_shapes_are_distinct_silhouettes() {
    let g = shapes3d::grid();
    let imgs: Vec<Vec<u8>> = (0..4)
        .map(|s| shapes3d::generate("t", &[g.index_of(&[0, 5, 2, 7, s, 7])]).unwrap().image(0).to_vec())
        .collect();
    for a in 0..4 {
        for b in a + 1..4 {
            let diff = imgs[a].chunks(3).zip(imgs[b].chunks(3)).filter(|(x, y)| x != y).count();
            assert!(diff > 60, "{} vs {}: {diff} pixels differ", shapes3d::SHAPE_NAMES[a], shapes3d::SHAPE_NAMES[b]);
        }
    }
}

#[test]
fn generators_are_identical_at_1_2_4_threads() {
    let idx = shapes3d::grid().random_subset(300, &mut SeedTree::new(5).rng("t")).unwrap();
    let didx = dsprites::grid().random_subset(300, &mut SeedTree::new(5).rng("t")).unwrap();
    let run = |t: usize| {
        ThreadPool::new(t).unwrap().install(|| {
            (
                shapes3d::generate("t", &idx).unwrap().images().to_vec(),
                dsprites::generate("t", &didx).unwrap().images().to_vec(),
            )
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
}

#[test]
fn synth_spec_subsets_are_seeded_sorted_and_cover_every_value() {
    let spec: DatasetSpec = "shapes3d-synth:200".parse().unwrap();
    let a = spec.load(&SeedTree::new(11)).unwrap();
    let b = spec.load(&SeedTree::new(11)).unwrap();
    let c = spec.load(&SeedTree::new(12)).unwrap();
    assert_eq!(a.len(), 200);
    assert_eq!(a.images(), b.images());
    assert_ne!(a.factors(), c.factors());
    for k in 0..6 {
        assert!(a.value_counts(k).iter().all(|&n| n > 0), "factor {k} misses a value");
    }
    // File order: flat indices ascending.
    let g = shapes3d::grid();
    let flat: Vec<usize> = a.factors().outer_iter().map(|r| g.index_of(r.as_slice().unwrap())).collect();
    assert!(flat.windows(2).all(|w| w[0] < w[1]));
    // Even the smallest covering subset (15 = largest cardinality) shows every value.
    let small = g.random_subset(15, &mut SeedTree::new(1).rng("t")).unwrap();
    let m = g.factor_matrix(&small).unwrap();
    for (k, &card) in shapes3d::CARDINALITIES.iter().enumerate() {
        let mut seen = vec![false; card];
        m.column(k).iter().for_each(|&v| seen[v as usize] = true);
        assert!(seen.iter().all(|&s| s), "factor {k}");
    }
    let d = "dsprites-synth:40".parse::<DatasetSpec>().unwrap().load(&SeedTree::new(2)).unwrap();
    for k in 0..5 {
        assert!(d.value_counts(k).iter().all(|&n| n > 0), "dsprites factor {k} misses a value");
    }
}

#[test]
fn range_subsets_and_bad_counts() {
    let g = shapes3d::grid();
    let r = g.range_subset(&[0..1, 2..4, 0..10, 0..8, 1..2, 0..15]).unwrap();
    assert_eq!(r.len(), 2 * 10 * 8 * 15);
    assert!(r.windows(2).all(|w| w[0] < w[1]));
    assert!(r.iter().all(|&i| {
        let f = g.factors_of(i);
        f[0] == 0 && (2..4).contains(&f[1]) && f[4] == 1
    }));
    assert!(g.range_subset(&[0..1, 2..2, 0..10, 0..8, 1..2, 0..15]).is_err());
    assert!(g.range_subset(&[0..11, 0..1, 0..10, 0..8, 1..2, 0..15]).is_err());
    assert!(g.random_subset(0, &mut SeedTree::new(1).rng("t")).is_err());
    assert!(g.random_subset(480_001, &mut SeedTree::new(1).rng("t")).is_err());
    assert_eq!(g.first_n(5).unwrap(), vec![0, 1, 2, 3, 4]);
    let e = shapes3d::generate("t", &[]).unwrap_err().to_string();
    assert!(e.contains("n") && e.contains("0"), "{e}");
    let e = shapes3d::generate("t", &[480_000]).unwrap_err().to_string();
    assert!(e.contains("480000"), "{e}");
    assert!("shapes3d-synth:0".parse::<DatasetSpec>().is_err());
    assert!("shapes3d-synth:9999999".parse::<DatasetSpec>().unwrap().load(&SeedTree::new(1)).is_err());
    let _ = FactorGrid::new(&[2, 3]);
}

#[test]
fn dsprites_counts_shapes_and_index_order() {
    let g = dsprites::grid();
    assert_eq!(g.len(), 737_280);
    assert_eq!(g.factors_of(1), vec![0, 0, 0, 0, 1]);
    assert_eq!(g.factors_of(32), vec![0, 0, 0, 1, 0]);
    assert_eq!(g.factors_of(1024), vec![0, 0, 1, 0, 0]);
    assert_eq!(g.factors_of(40 * 1024), vec![0, 1, 0, 0, 0]);
    assert_eq!(g.factors_of(6 * 40 * 1024), vec![1, 0, 0, 0, 0]);
    let idx = [0usize, 1, 737_279];
    let d = dsprites::generate("t", &idx).unwrap();
    assert_eq!((d.len(), d.height(), d.width(), d.channels()), (3, 64, 64, 1));
    // Binary, non-empty, inside the frame.
    for i in 0..3 {
        let on = d.image(i).iter().filter(|&&v| v == 255).count();
        assert!(on > 20, "image {i} has {on} pixels on");
        assert!(d.image(i).iter().all(|&v| v == 0 || v == 255));
    }
    assert_eq!(d.value_range(), (0, 255));
    // Position moves the sprite: the centroid of "on" pixels follows pos_x and pos_y.
    let centroid = |f: [u32; 5]| {
        let d = dsprites::generate("t", &[g.index_of(&f)]).unwrap();
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for (p, &v) in d.image(0).iter().enumerate() {
            if v > 0 {
                sx += (p % 64) as f64;
                sy += (p / 64) as f64;
                n += 1.0;
            }
        }
        (sx / n, sy / n, n)
    };
    let (x0, y0, _) = centroid([0, 5, 0, 0, 0]);
    let (x1, y1, _) = centroid([0, 5, 0, 31, 0]);
    let (x2, y2, _) = centroid([0, 5, 0, 0, 31]);
    assert!(x1 - x0 > 30.0 && (y1 - y0).abs() < 1.0);
    assert!(y2 - y0 > 30.0 && (x2 - x0).abs() < 1.0);
    // Scale grows the area; the three shapes differ.
    let (_, _, small) = centroid([2, 0, 0, 16, 16]);
    let (_, _, big) = centroid([2, 5, 0, 16, 16]);
    assert!(big > 3.0 * small);
    let a: Vec<u8> = dsprites::generate("t", &[g.index_of(&[0, 5, 3, 16, 16])]).unwrap().images().to_vec();
    let b: Vec<u8> = dsprites::generate("t", &[g.index_of(&[1, 5, 3, 16, 16])]).unwrap().images().to_vec();
    let c: Vec<u8> = dsprites::generate("t", &[g.index_of(&[2, 5, 3, 16, 16])]).unwrap().images().to_vec();
    assert!(a != b && b != c && a != c);
}

/// Nearest-centroid classification on raw pixels (u8 values as f64, squared Euclidean).
///
/// Centroids of factor `k` come from a *balanced design*: every value of `k` crossed with the
/// same set of values of every other factor (hues {0, 5} for the other hue factors; geometric
/// factors at every value for a geometric `k`, at a spread of values for a hue `k`), so the
/// large colour nuisance cancels between centroids. Test images are a seeded random subset of
/// the whole grid (every hue), so generalisation to unseen
/// hue combinations is part of the test. Required: accuracy >= 0.6 for every factor (chance is
/// 0.25 for shape, 1/15 for orientation).
#[test]
fn every_shapes3d_factor_is_recoverable_from_raw_pixels() {
    let g = shapes3d::grid();
    let test_idx = g.random_subset(600, &mut SeedTree::new(99).rng("test")).unwrap();
    let test = shapes3d::generate("test", &test_idx).unwrap();
    let per = test.image_len();
    for k in 0..6 {
        let card = shapes3d::CARDINALITIES[k];
        let hue_k = k < 3;
        let values: Vec<Vec<u32>> = (0..6)
            .map(|j| {
                if j == k {
                    (0..card as u32).collect()
                } else if j < 3 {
                    vec![0, 5]
                } else if hue_k {
                    match j {
                        3 => vec![0, 4, 7],
                        4 => vec![0, 1, 2, 3],
                        _ => vec![0, 7, 14],
                    }
                } else {
                    (0..shapes3d::CARDINALITIES[j] as u32).collect()
                }
            })
            .collect();
        let mut design = vec![vec![]];
        for vals in &values {
            design = design
                .iter()
                .flat_map(|p: &Vec<u32>| vals.iter().map(move |&v| [p.clone(), vec![v]].concat()))
                .collect();
        }
        let idx: Vec<usize> = design.iter().map(|f| g.index_of(f)).collect();
        let train = shapes3d::generate("train", &idx).unwrap();
        let mut cent = vec![vec![0f64; per]; card];
        let mut count = vec![0f64; card];
        for i in 0..train.len() {
            let v = train.factor(i, k) as usize;
            count[v] += 1.0;
            for (c, &p) in cent[v].iter_mut().zip(train.image(i)) {
                *c += p as f64;
            }
        }
        for (c, n) in cent.iter_mut().zip(&count) {
            c.iter_mut().for_each(|x| *x /= n);
        }
        let correct = (0..test.len())
            .filter(|&i| {
                let img = test.image(i);
                let dist = |c: &Vec<f64>| c.iter().zip(img).map(|(a, &p)| (a - p as f64).powi(2)).sum::<f64>();
                let best = (0..card).min_by(|&a, &b| dist(&cent[a]).total_cmp(&dist(&cent[b]))).unwrap();
                best == test.factor(i, k) as usize
            })
            .count();
        let acc = correct as f64 / test.len() as f64;
        let chance = 1.0 / card as f64;
        assert!(acc >= 0.6, "{}: nearest-centroid accuracy {acc:.3} (chance {chance:.3})", shapes3d::FACTOR_NAMES[k]);
        eprintln!("{}: accuracy {acc:.3}, chance {chance:.3}", shapes3d::FACTOR_NAMES[k]);
    }
}
