//! Parity of the stage-1 `training_step` with a PyTorch re-implementation of the reference.
//!
//! `tools/stage1_parity.py` (PyTorch 2.15, float64) ran the reference `training_step` with all
//! terms active (β = 1) on the inputs of `common::stage1_parity` (regenerated here bit-exactly
//! from seed 2024) and wrote every loss term and every parameter gradient to
//! `tests/fixtures/stage1_parity/`. detaux must match in f64: relative error ≤ 1e-4 per loss
//! term and ≤ 1e-3 per gradient tensor (`‖g − g_torch‖ / ‖g_torch‖`); the oracle must select
//! the same subspaces. The f32 model is checked against the same fixture with the same bounds.
#![cfg(feature = "cli")]

mod common;

use common::stage1_parity::{inputs, ParityInputs};
use detaux::autodiff::{Element, Tape};
use detaux::io::{read_npy, write_npy, NpyData};
use detaux::losses::{DistributionMode, Oracle};
use detaux::models::DisentangleModel;
use detaux::nn::Module;
use detaux::stage1::{training_step, Betas, LossConfig};
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stage1_parity")
}

/// Writes the inputs for `tools/stage1_parity.py` to `target/stage1_parity_inputs/`.
#[test]
#[ignore = "exports inputs for tools/stage1_parity.py"]
fn export() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/stage1_parity_inputs");
    std::fs::create_dir_all(dir.join("params")).unwrap();
    let ParityInputs { model, x1, x2, differs, mixes } = inputs();
    let mut order = Vec::new();
    model.visit_params(&mut |p| {
        write_npy(&dir.join("params").join(format!("{}.npy", p.name)), p.value.shape(), p.value.as_slice().unwrap())
            .unwrap();
        order.push(p.name.clone());
    });
    std::fs::write(dir.join("param_order.txt"), order.join("\n") + "\n").unwrap();
    write_npy(&dir.join("x1.npy"), x1.shape(), x1.as_slice().unwrap()).unwrap();
    write_npy(&dir.join("x2.npy"), x2.shape(), x2.as_slice().unwrap()).unwrap();
    let d: Vec<i64> = differs.iter().map(|&b| b as i64).collect();
    write_npy(&dir.join("differs.npy"), &[d.len()], &d).unwrap();
    let m: Vec<i64> = mixes.iter().flat_map(|&(k, b)| [k as i64, b as i64]).collect();
    write_npy(&dir.join("mixes.npy"), &[mixes.len(), 2], &m).unwrap();
    println!("wrote {}", dir.display());
}

fn cast<T: Element>(m: &DisentangleModel<f64>, x: &ndarray::ArrayD<f64>) -> (DisentangleModel<T>, ndarray::ArrayD<T>) {
    let mut out = DisentangleModel::<T>::new(m.config, &mut detaux::rng::SeedTree::new(0).rng("unused")).unwrap();
    let mut src = Vec::new();
    m.visit_params(&mut |p| src.push(p.value.clone()));
    let mut i = 0;
    out.visit_params_mut(&mut |p| {
        p.value = src[i].mapv(T::from_f64);
        i += 1;
    });
    (out, x.mapv(T::from_f64))
}

fn check_case<T: Element>(case: &str, oracle_forced: bool, distribution: DistributionMode) {
    let dir = fixture_dir();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{case}.json"))).unwrap()).unwrap();
    let grads_ref = match read_npy(&dir.join(format!("{case}_grads.npy"))).unwrap().data {
        NpyData::F32(v) => v,
        other => panic!("unexpected dtype {}", other.descr()),
    };
    let inp = inputs();
    let (model, x1) = cast::<T>(&inp.model, &inp.x1);
    let (_, x2) = cast::<T>(&inp.model, &inp.x2);
    let oracle = if oracle_forced { Oracle::Forced { differs: inp.differs.clone() } } else { Oracle::Unforced };
    let cfg = LossConfig { distribution, ..LossConfig::default() };
    let tape = Tape::<T>::new();
    let out = training_step(&model, &tape, x1, x2, &oracle, &Betas::all_on(), &cfg, Some(&inp.mixes)).unwrap();
    let t = out.terms;
    let ty = T::NAME;
    for (name, got) in [
        ("reconstruction", t.reconstruction),
        ("sparsity", t.sparsity),
        ("consistency", t.consistency),
        ("distance", t.distance),
        ("distribution", t.distribution),
        ("total", t.total),
    ] {
        let want = expected[name].as_f64().unwrap();
        let rel = (got - want).abs() / want.abs().max(1e-30);
        assert!(rel <= 1e-4, "{case} ({ty}): {name} = {got:e}, torch {want:e}, relative error {rel:e}");
    }
    let sel: Vec<usize> =
        out.selection.unwrap().rows().into_iter().map(|r| r.iter().position(|&v| v == T::ONE).unwrap()).collect();
    let want_sel: Vec<usize> =
        expected["selection"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(sel, want_sel, "{case} ({ty}): oracle selection");
    let grads = tape.backward(out.loss).unwrap();
    let order: Vec<String> =
        std::fs::read_to_string(dir.join("param_order.txt")).unwrap().split_whitespace().map(String::from).collect();
    let mut offset = 0;
    let mut names = Vec::new();
    model.visit_params(&mut |p| names.push((p.name.clone(), p.value.len())));
    assert_eq!(names.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), order, "parameter order");
    for (name, len) in names {
        let g = grads.param(&name).unwrap_or_else(|| panic!("{case}: no gradient for {name}"));
        let r = &grads_ref[offset..offset + len];
        offset += len;
        let (mut diff, mut norm) = (0.0f64, 0.0f64);
        for (a, b) in g.iter().zip(r) {
            diff += (a.to_f64() - *b as f64).powi(2);
            norm += (*b as f64).powi(2);
        }
        let rel = (diff / norm.max(1e-300)).sqrt();
        assert!(rel <= 1e-3, "{case} ({ty}): gradient of {name}: relative error {rel:e}");
    }
    assert_eq!(offset, grads_ref.len());
}

#[test]
fn forced_oracle_matches_pytorch_f64() {
    check_case::<f64>("forced", true, DistributionMode::Reference);
}

#[test]
fn unforced_oracle_matches_pytorch_f64() {
    check_case::<f64>("unforced", false, DistributionMode::Reference);
}

#[test]
fn trainable_distribution_matches_pytorch_f64() {
    check_case::<f64>("forced_trainable", true, DistributionMode::Trainable);
}

#[test]
fn forced_and_unforced_match_pytorch_f32() {
    check_case::<f32>("forced", true, DistributionMode::Reference);
    check_case::<f32>("unforced", false, DistributionMode::Reference);
}
