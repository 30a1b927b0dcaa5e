//! Stage-3 training steps against PyTorch (`tools/mtl_parity.py`): a small trunk
//! (`[4, 4, 8, 8]` on 3×16×16 inputs, heads `8 → 16 → {4, 6}`, dropout off), batch 6, four
//! AdamW steps (lr 1e-3, wd 5e-3) with each of `equal`, `uw`, `pcgrad`, `gradnorm` (the latter
//! after an epoch with mean losses (2.5, 1.7)). PyTorch implements the LibMTL formulas with
//! autograd (per-task `autograd.grad` of the shared parameters, heads with their own loss).
//! Compared: every step's task losses and every parameter after the last step.
//!
//! Regenerate (not run by CI):
//! `cargo test --release --test mtl_parity -- --ignored export` then
//! `python tools/mtl_parity.py target/mtl_parity_inputs tests/fixtures/mtl_parity`.

use detaux::io::{read_npy, write_npy, NpyData};
use detaux::mtl::train::{MtlTrainer, TrainConfig};
use detaux::mtl::weighting::WeightingSpec;
use detaux::nn::Module;
use detaux::rng::SeedTree;
use ndarray::Array4;
use rand::Rng;
use std::path::Path;

const B: usize = 6;
const STEPS: usize = 4;
const WEIGHTINGS: [&str; 4] = ["equal", "uw", "pcgrad", "gradnorm"];

fn cfg() -> TrainConfig {
    TrainConfig { widths: vec![4, 4, 8, 8], hidden: 16, dropout: 0.0, lr: 1e-3, ..TrainConfig::default() }
}

fn trainer(w: &str) -> MtlTrainer {
    MtlTrainer::new(&cfg(), 3, 16, vec![4, 6], &w.parse::<WeightingSpec>().unwrap(), &SeedTree::new(11)).unwrap()
}

fn batch() -> (Array4<f32>, Vec<Vec<usize>>) {
    let mut rng = SeedTree::new(12).rng("data");
    let x = Array4::from_shape_fn((B, 3, 16, 16), |_| rng.gen::<f32>());
    let y = vec![(0..B).map(|_| rng.gen_range(0..4)).collect(), (0..B).map(|_| rng.gen_range(0..6)).collect()];
    (x, y)
}

fn flat_params(t: &MtlTrainer) -> Vec<f32> {
    let mut v = Vec::new();
    t.model.visit_params(&mut |p| v.extend(p.value.iter().copied()));
    v
}

/// Runs the steps; returns losses `[step][task]` and the final flat parameters.
fn run(w: &str) -> (Vec<Vec<f64>>, Vec<f32>) {
    let (x, y) = batch();
    let mut t = trainer(w);
    if w == "gradnorm" {
        t.end_epoch(&[2.5, 1.7]);
    }
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        losses.push(t.step(&x, &y).unwrap().losses);
    }
    (losses, flat_params(&t))
}

#[test]
#[ignore]
fn export() {
    let dir = Path::new("target/mtl_parity_inputs");
    std::fs::create_dir_all(dir).unwrap();
    let t = trainer("equal");
    let mut names = String::new();
    t.model.visit_params(&mut |p| {
        names.push_str(&format!(
            "{} {}\n",
            p.name,
            p.value.shape().iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")
        ))
    });
    std::fs::write(dir.join("param_order.txt"), names).unwrap();
    let init = flat_params(&t);
    write_npy(&dir.join("init.npy"), &[init.len()], &init).unwrap();
    let (x, y) = batch();
    write_npy(&dir.join("x.npy"), &[B, 3, 16, 16], x.as_slice().unwrap()).unwrap();
    let yy: Vec<i64> = y.iter().flatten().map(|&v| v as i64).collect();
    write_npy(&dir.join("y.npy"), &[2, B], &yy).unwrap();
}

fn read_f32(p: &Path) -> Vec<f32> {
    match read_npy(p).unwrap().data {
        NpyData::F32(v) => v,
        d => panic!("{}: {}", p.display(), d.descr()),
    }
}

fn read_f64(p: &Path) -> Vec<f64> {
    match read_npy(p).unwrap().data {
        NpyData::F64(v) => v,
        d => panic!("{}: {}", p.display(), d.descr()),
    }
}

#[test]
fn inputs_match_the_fixture() {
    let dir = Path::new("tests/fixtures/mtl_parity");
    assert_eq!(read_f32(&dir.join("init.npy")), flat_params(&trainer("equal")));
}

#[test]
fn four_steps_of_each_weighting_match_pytorch() {
    let dir = Path::new("tests/fixtures/mtl_parity");
    for w in WEIGHTINGS {
        let (losses, params) = run(w);
        let want_l = read_f64(&dir.join(format!("{w}_losses.npy")));
        let got_l: Vec<f64> = losses.into_iter().flatten().collect();
        for (g, e) in got_l.iter().zip(&want_l) {
            assert!((g - e).abs() <= 1e-5 * (1.0 + e.abs()), "{w}: losses {got_l:?} vs {want_l:?}");
        }
        let want = read_f32(&dir.join(format!("{w}_params.npy")));
        let init = read_f32(&dir.join("init.npy"));
        assert_eq!(want.len(), params.len());
        let mut worst = 0.0f64;
        for ((g, e), i) in params.iter().zip(&want).zip(&init) {
            // Compare the update (p − p₀), relative to its size; Adam's first steps move each
            // weight by about lr, so an absolute floor of 1e-6 (≈ 1e-3 of a step) is tight.
            let (du, de) = ((*g - *i) as f64, (*e - *i) as f64);
            worst = worst.max((du - de).abs() / (1e-6 + 1e-3 * de.abs()));
        }
        assert!(worst <= 1.0, "{w}: worst normalised update error {worst}");
        // The update is not trivially zero.
        assert!(params.iter().zip(&init).any(|(a, b)| (a - b).abs() > 1e-4), "{w}");
        assert_eq!(got_l.len(), 2 * STEPS);
    }
    // The test discriminates: every pair of weightings ends far outside that tolerance.
    let all: Vec<Vec<f32>> = WEIGHTINGS.iter().map(|w| read_f32(&dir.join(format!("{w}_params.npy")))).collect();
    for i in 0..all.len() {
        for j in 0..i {
            let d = all[i].iter().zip(&all[j]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(d > 1e-5, "{} vs {}: {d}", WEIGHTINGS[i], WEIGHTINGS[j]);
        }
    }
}
