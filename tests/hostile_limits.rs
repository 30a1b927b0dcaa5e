//! Hostile sizes (issue: huge labels, huge flags, sparse or single classes, divergence):
//! every size that user input decides is bounded before it is allocated, and every refusal is
//! a typed error that names the bound.
// Without io the digits tests are out, and some imports with them.
#![cfg_attr(not(feature = "io"), allow(unused_imports, dead_code))]

use detaux::data::{Dataset, FactorSpec, LabelKind};
use detaux::io::write_npy;
use detaux::limits::{MAX_CLASSES, MAX_PARAMS, MAX_THREADS};
use detaux::models::disentangle::{DisentangleModel, ModelConfig};
use detaux::mtl::data::{load_aux_labels, principal_task, SplitConfig};
use detaux::mtl::model::{MtlModel, MtlModelConfig};
use detaux::mtl::train::{train, NoObserver, Splits, Task, TrainConfig};
use detaux::mtl::weighting::WeightingSpec;
use detaux::nn::Module;
use detaux::rng::SeedTree;
use detaux::stage1::Stage1Config;
use detaux::Error;
use ndarray::Array2;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detaux-hostile-limits-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn aux_file(name: &str, labels: &[i64]) -> PathBuf {
    let p = scratch(name).join("aux.npy");
    write_npy(&p, &[labels.len()], labels).unwrap();
    p
}

fn msg(e: Error) -> String {
    e.to_string()
}

#[test]
fn huge_aux_labels_are_refused_before_allocating() {
    let mut a: Vec<i64> = (0..300).map(|i| i % 3).collect();
    for huge in [10_000_000i64, i64::MAX, MAX_CLASSES as i64] {
        a[0] = huge;
        let p = aux_file("huge", &a);
        let err = msg(load_aux_labels(&p, a.len()).unwrap_err());
        assert!(err.contains("aux.npy") && err.contains(&MAX_CLASSES.to_string()), "{err}");
    }
    a[0] = MAX_CLASSES as i64 - 1;
    // The bound itself is allowed by the range check; the ids are then sparse and refused.
    let err = msg(load_aux_labels(&aux_file("edge", &a), a.len()).unwrap_err());
    assert!(err.contains("never occur"), "{err}");
}

#[test]
fn sparse_or_single_aux_classes_are_refused() {
    let sparse: Vec<i64> = (0..100).map(|i| if i % 2 == 0 { 3 } else { 900 }).collect();
    let err = msg(load_aux_labels(&aux_file("sparse", &sparse), 100).unwrap_err());
    assert!(err.contains("899 of those ids never occur (0, 1, 2, 4, 5, ...)"), "{err}");
    let ones = vec![1i64; 100];
    let err = msg(load_aux_labels(&aux_file("ones", &ones), 100).unwrap_err());
    assert!(err.contains("never occur (0)"), "{err}");
    let dense: Vec<i64> = (0..100).map(|i| i % 4).collect();
    assert_eq!(load_aux_labels(&aux_file("dense", &dense), 100).unwrap().classes, 4);
}

#[test]
fn task_class_counts_are_bounded() {
    let err = msg(Task::new("t", vec![0, 1], 10_000_000, 2).unwrap_err());
    assert!(err.contains("65536"), "{err}");
    assert!(Task::new("t", vec![0, 1], MAX_CLASSES, 2).is_ok());
}

fn npy_dir(name: &str, labels: &[i64], factors_txt: Option<&str>) -> PathBuf {
    let d = scratch(&format!("npy-{name}"));
    write_npy(&d.join("images.npy"), &[labels.len(), 4, 4], &vec![7u8; labels.len() * 16]).unwrap();
    write_npy(&d.join("labels.npy"), &[labels.len()], labels).unwrap();
    if let Some(t) = factors_txt {
        std::fs::write(d.join("factors.txt"), t).unwrap();
    }
    d
}

#[test]
fn npy_dataset_labels_and_cardinalities_are_bounded() {
    let load = |d: &PathBuf| detaux::data::npy_pair::load_npy_dir(d);
    for huge in [1i64 << 31, 5_000_000, MAX_CLASSES as i64] {
        let err = msg(load(&npy_dir("big", &[0, 1, huge], None)).unwrap_err());
        assert!(err.contains("labels.npy") && err.contains("65535"), "{err}");
    }
    let err = msg(load(&npy_dir("card", &[0, 1, 2], Some("label 4000000000\n"))).unwrap_err());
    assert!(err.contains("factors.txt") && err.contains("1..=65536"), "{err}");
    // Sparse ids without factors.txt: refused, naming the file and the way out.
    let err = msg(load(&npy_dir("sparse", &[3, 900, 3], None)).unwrap_err());
    assert!(err.contains("labels.npy") && err.contains("never occur") && err.contains("factors.txt"), "{err}");
    // Declared explicitly: accepted.
    assert_eq!(
        load(&npy_dir("declared", &[3, 900, 3], Some("label 901\n"))).unwrap().factor_specs()[0].cardinality,
        901
    );
}

#[test]
fn dataset_cardinality_is_bounded() {
    let err = Dataset::new(
        "x",
        vec![0; 16],
        4,
        4,
        1,
        Array2::zeros((1, 1)),
        vec![FactorSpec::new("label", 4_000_000_000)],
        LabelKind::Classes,
    )
    .unwrap_err();
    assert!(msg(err).contains("65536"));
}

#[test]
fn one_class_principal_task_is_refused_for_every_format() {
    // CIFAR-10 records all of class 3: the format declares 10 classes, the data has one.
    let d = scratch("cifar1");
    let mut bytes = Vec::new();
    for _ in 0..4 {
        bytes.push(3u8);
        bytes.extend(std::iter::repeat_n(9u8, 3072));
    }
    std::fs::write(d.join("test_batch.bin"), &bytes).unwrap();
    let data = detaux::data::cifar::load_cifar10_dir(&d).unwrap();
    let err = msg(principal_task(&data).unwrap_err());
    assert!(err.contains("only 1 value of 'label'"), "{err}");
}

#[test]
fn stage1_sizes_are_bounded_before_building_anything() {
    let base = Stage1Config { pairs_per_epoch: Some(20_000), ..Stage1Config::default() };
    for (c, field) in [
        (Stage1Config { pairs_per_epoch: Some(1_000_000_000), ..base.clone() }, "pairs_per_epoch"),
        (Stage1Config { pairs_per_epoch: Some(usize::MAX), ..base.clone() }, "pairs_per_epoch"),
        (Stage1Config { latent_dim: 100_000_000, ..base.clone() }, "model size"),
        (Stage1Config { n_subspaces: 100_000, ..base.clone() }, "n_subspaces"),
        (Stage1Config { n_subspaces: 1000, latent_dim: 1000, ..base.clone() }, "model size"),
        (Stage1Config { n_subspaces: 1024, latent_dim: usize::MAX, ..base.clone() }, "model size"),
    ] {
        match c.validate() {
            Err(Error::InvalidParam { name, .. }) => assert_eq!(name, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(base.validate().is_ok());
}

#[test]
fn stage3_sizes_are_bounded_and_named_as_flags() {
    for (c, flag) in [
        (TrainConfig { widths: vec![100_000], ..TrainConfig::default() }, "--trunk-widths"),
        (TrainConfig { widths: vec![32; 40], ..TrainConfig::default() }, "--trunk-widths"),
        (TrainConfig { hidden: 0, ..TrainConfig::default() }, "--head-hidden"),
        (TrainConfig { lr: 0.0, ..TrainConfig::default() }, "--lr"),
        (TrainConfig { weight_decay: f64::NAN, ..TrainConfig::default() }, "--weight-decay"),
    ] {
        match c.validate() {
            Err(Error::InvalidParam { name, .. }) => assert!(name == flag || name == "model size", "{flag}: {name}"),
            other => panic!("{flag}: {other:?}"),
        }
    }
    assert!(TrainConfig::default().validate().is_ok());
    assert!(detaux::par::ThreadPool::new(1000).is_err());
    assert!(detaux::par::ThreadPool::new(MAX_THREADS + 1).is_err());
}

#[test]
fn parameter_counts_match_the_built_models() {
    let seeds = SeedTree::new(1);
    for (c, d, k, s) in [(1, 10, 10, 64), (3, 4, 2, 64), (3, 33, 7, 64), (1, 10, 10, 32), (3, 5, 3, 16), (1, 4, 2, 8)] {
        let cfg = ModelConfig { channels: c, latent_dim: d, n_subspaces: k, image_size: s };
        let m = DisentangleModel::<f32>::new(cfg, &mut seeds.rng("init")).unwrap();
        let mut n = 0;
        m.encoder.visit_params(&mut |p| n += p.value.len());
        m.decoder.visit_params(&mut |p| n += p.value.len());
        for (a, b) in &m.projectors {
            a.visit_params(&mut |p| n += p.value.len());
            b.visit_params(&mut |p| n += p.value.len());
        }
        assert_eq!(cfg.num_params(), n as u128);
    }
    let cfg = MtlModelConfig {
        widths: vec![8, 16, 4],
        hidden: 20,
        ..MtlModelConfig::simple_conv(3, 64, vec![10, 4]).unwrap()
    };
    let m = MtlModel::new(cfg.clone(), &mut seeds.rng("init")).unwrap();
    assert_eq!(cfg.num_params(), m.num_params() as u128);
    let default = MtlModelConfig::simple_conv(3, 64, vec![10, 4]).unwrap();
    assert!(default.num_params() < MAX_PARAMS);
}

// The built-in digits are gzipped: they need the io feature.
#[cfg(feature = "io")]
#[test]
fn stage3_divergence_stops_training() {
    let data = detaux::data::spec::DatasetSpec::Digits.load(&SeedTree::new(1)).unwrap();
    let data = data.select(&(0..200).collect::<Vec<_>>()).unwrap().to_model_input(16, 1).unwrap();
    let tasks = vec![principal_task(&data).unwrap()];
    let seeds = SeedTree::new(3);
    let splits = detaux::mtl::data::experiment_splits(&data, &SplitConfig::default(), &seeds).unwrap();
    let splits = Splits { train: splits.train, val: None, test: splits.test };
    let cfg = TrainConfig { epochs: 2, lr: 1e6, widths: vec![4, 4], hidden: 16, ..TrainConfig::default() };
    let err = train(&data, &tasks, &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut NoObserver).unwrap_err();
    assert!(msg(err).contains("training diverged"));
}
