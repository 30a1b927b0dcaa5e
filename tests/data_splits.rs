//! Splits: the 3DShapes split from factor indices, stratified train/test, train_fraction.

use detaux::data::split::{shapes3d_split, shapes3d_split_factors, stratified_split, train_fraction};
use detaux::data::{shapes3d, Dataset, FactorSpec, LabelKind};
use detaux::rng::SeedTree;
use ndarray::Array2;

#[test]
fn shapes3d_split_is_360k_120k_from_factor_indices() {
    let g = shapes3d::grid();
    let all: Vec<usize> = (0..g.len()).collect();
    let factors = g.factor_matrix(&all).unwrap(); // no rendering: factors are computed
    let split = shapes3d_split_factors(factors.view(), 0, 1);
    assert_eq!(split.train.len(), 360_000);
    assert_eq!(split.test.len(), 120_000);
    assert!(split.test.iter().all(|&i| factors[[i, 0]] >= 5 && factors[[i, 1]] >= 5));
    assert!(split.train.iter().all(|&i| factors[[i, 0]] < 5 || factors[[i, 1]] < 5));
    // Through a Dataset (1×1 placeholder pixels: the split reads factors by name only).
    let d = Dataset::new("grid", vec![0u8; g.len()], 1, 1, 1, factors, shapes3d::factor_specs(), LabelKind::Factors)
        .unwrap();
    let s2 = shapes3d_split(&d).unwrap();
    assert_eq!(s2, split);
    // A dataset without those factors: an error naming the factor and the valid names.
    let other = Dataset::new(
        "other",
        vec![0u8; 4],
        1,
        1,
        1,
        Array2::from_shape_vec((4, 1), vec![0u32, 1, 0, 1]).unwrap(),
        vec![FactorSpec::new("label", 2)],
        LabelKind::Classes,
    )
    .unwrap();
    let e = shapes3d_split(&other).unwrap_err().to_string();
    assert!(e.contains("floor_hue") && e.contains("label"), "{e}");
}

fn class_counts(idx: &[usize], labels: &[usize], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    idx.iter().for_each(|&i| c[labels[i]] += 1);
    c
}

#[test]
fn stratified_split_sizes_disjoint_and_seeded() {
    // Unbalanced classes: 100, 50, 7, 2, 1 images.
    let sizes = [100usize, 50, 7, 2, 1];
    let labels: Vec<usize> = sizes.iter().enumerate().flat_map(|(c, &n)| std::iter::repeat_n(c, n)).collect();
    // Interleave so classes are not contiguous.
    let n = labels.len();
    let perm: Vec<usize> = (0..n).map(|i| (i * 37) % n).collect();
    let labels: Vec<usize> = perm.iter().map(|&i| labels[i]).collect();
    let all: Vec<usize> = (0..n).collect();
    let s = stratified_split(&all, &labels, 0.2, &SeedTree::new(5)).unwrap();
    assert_eq!(class_counts(&s.test, &labels, 5), vec![20, 10, 1, 1, 0]);
    assert_eq!(class_counts(&s.train, &labels, 5), vec![80, 40, 6, 1, 1]);
    let mut union: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
    union.sort_unstable();
    assert_eq!(union, all);
    assert!(s.train.windows(2).all(|w| w[0] < w[1]) && s.test.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(s, stratified_split(&all, &labels, 0.2, &SeedTree::new(5)).unwrap());
    assert_ne!(s, stratified_split(&all, &labels, 0.2, &SeedTree::new(6)).unwrap());
    // Subsets of indices are respected.
    let half: Vec<usize> = (0..n).step_by(2).collect();
    let s = stratified_split(&half, &labels, 0.5, &SeedTree::new(5)).unwrap();
    assert_eq!(s.train.len() + s.test.len(), half.len());
    assert!(s.train.iter().chain(&s.test).all(|i| i % 2 == 0));
}

#[test]
fn train_fraction_is_stratified() {
    let labels: Vec<usize> = (0..1000).map(|i| if i % 10 == 0 { 1 } else { 0 }).collect(); // 900 / 100
    let train: Vec<usize> = (0..800).collect(); // 720 of class 0, 80 of class 1
    let kept = train_fraction(&train, &labels, 0.1, &SeedTree::new(1)).unwrap();
    assert_eq!(class_counts(&kept, &labels, 2), vec![72, 8]);
    assert!(kept.iter().all(|&i| i < 800));
    let tiny = train_fraction(&train, &labels, 0.001, &SeedTree::new(1)).unwrap();
    assert_eq!(class_counts(&tiny, &labels, 2), vec![1, 1], "every class keeps at least one image");
    assert_eq!(train_fraction(&train, &labels, 1.0, &SeedTree::new(1)).unwrap(), train);
}

#[test]
fn bad_split_parameters() {
    let labels = vec![0usize, 1, 0, 1];
    let all = vec![0usize, 1, 2, 3];
    for f in [0.0, 1.0, -0.5, f64::NAN] {
        let e = stratified_split(&all, &labels, f, &SeedTree::new(1)).unwrap_err().to_string();
        assert!(e.contains("test_fraction"), "{e}");
    }
    for f in [0.0, 1.5, f64::NAN] {
        let e = train_fraction(&all, &labels, f, &SeedTree::new(1)).unwrap_err().to_string();
        assert!(e.contains("train_fraction"), "{e}");
    }
    assert!(stratified_split(&[], &labels, 0.5, &SeedTree::new(1)).unwrap_err().to_string().contains("zero images"));
    assert!(stratified_split(&[7], &labels, 0.5, &SeedTree::new(1)).unwrap_err().to_string().contains('7'));
}
