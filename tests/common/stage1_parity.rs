//! Inputs of the stage-1 PyTorch parity check, regenerated bit-exactly from seed 2024.
//!
//! `tools/stage1_parity.py` reads what `export_stage1_parity_inputs` (in `tests/stage1_parity.rs`,
//! `--ignored`) writes, runs the reference `training_step` in float64 PyTorch, and writes the
//! expected loss terms and gradients into `tests/fixtures/stage1_parity/`.

use detaux::losses::sample_mixes;
use detaux::models::{DisentangleModel, ModelConfig};
use detaux::rng::SeedTree;
use ndarray::{Array4, ArrayD};
use rand::Rng;

/// Pairs per batch in the parity check.
pub const PAIRS: usize = 4;
/// Seed of everything in the parity check.
pub const SEED: u64 = 2024;

/// The model, two image batches `[B, 3, 64, 64]`, the principal-factor flags and the mixes.
pub struct ParityInputs {
    pub model: DisentangleModel<f64>,
    pub x1: ArrayD<f64>,
    pub x2: ArrayD<f64>,
    pub differs: Vec<bool>,
    pub mixes: Vec<(usize, usize)>,
}

pub fn inputs() -> ParityInputs {
    let seeds = SeedTree::new(SEED);
    let model = DisentangleModel::<f64>::new(ModelConfig::default(), &mut seeds.rng("init")).unwrap();
    let mut rng = seeds.rng("data");
    // Smooth random images in [0, 1): per-image colour gradients plus noise, so conv features vary.
    let mut img = || {
        let (a, b, c) = (rng.gen::<f64>(), rng.gen::<f64>(), rng.gen::<f64>());
        let mut x = Array4::<f64>::zeros((PAIRS, 3, 64, 64));
        for ((n, ch, i, j), v) in x.indexed_iter_mut() {
            let base = (a * i as f64 + b * j as f64) / 128.0 + c * ch as f64 / 3.0 + 0.1 * n as f64;
            *v = (base + 0.2 * rng.gen::<f64>()).fract();
        }
        x.into_dyn()
    };
    let x1 = img();
    let x2 = img();
    let differs = vec![true, false, true, false];
    let mixes = sample_mixes(10, PAIRS, &mut seeds.rng("consistency"));
    ParityInputs { model, x1, x2, differs, mixes }
}
