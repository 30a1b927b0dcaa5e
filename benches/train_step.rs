//! One full stage-1 training step: B = 32 pairs of 64×64×3 images (and of 32×32×3 images,
//! the digits preset's model input, ids `side32-…`), all five loss terms active (β1 = β2 = β3 = 1, past the warm-up, consistency with 2B mixes), forced
//! oracle, backward, and one Adam step (lr 5e-4, weight decay 1e-6), at 1 and 2 threads, on
//! the native kernels (ids `1t`, `2t`) and on the portable ones (`portable-1t`, `portable-2t`,
//! the cost of `--kernels portable`).
//!
//! `DETAUX_BENCH_BATCH=B` (2..=1024) times instead only the curve point of `tools/curves.sh`:
//! the same 64×64×3 step with B pairs on the native kernels, ids
//! `stage1_train_step_curve/bB-1t` and `…-2t`.
//!
//! The same step in PyTorch is the reference side of `benches/README.md`.
//! Run: `cargo bench --bench train_step` (`-- --quick` to check it works). Like the `detaux`
//! binary, the bench first calls [`detaux::tune_allocator_for_training`].

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use detaux::autodiff::Tape;
use detaux::losses::{sample_mixes, Oracle};
use detaux::models::{DisentangleModel, ModelConfig};
use detaux::optim::{Adam, Optimizer};
use detaux::par::{KernelSet, ThreadPool};
use detaux::rng::SeedTree;
use detaux::stage1::{training_step, Betas, LossConfig, Stage1Config};
use ndarray::Array4;
use rand::Rng as _;
use std::time::Duration;

const B: usize = 32;

/// The inputs of a step with `batch` pairs: two image batches, the forced oracle and the mixes.
struct Batch {
    x1: Array4<f32>,
    x2: Array4<f32>,
    oracle: Oracle,
    mixes: Vec<(usize, usize)>,
}

fn batch(batch: usize, side: usize, seeds: &SeedTree) -> Batch {
    let mut rng = seeds.rng("data");
    let mut images = || Array4::<f32>::from_shape_fn((batch, 3, side, side), |_| rng.gen::<f32>());
    let (x1, x2) = (images(), images());
    let differs: Vec<bool> = (0..batch).map(|b| b % 2 == 0).collect();
    let mixes = sample_mixes(10, batch, &mut seeds.rng("mixes"));
    Batch { x1, x2, oracle: Oracle::Forced { differs }, mixes }
}

/// Benchmarks one training step on `input` in `pool` (a fresh model and Adam state).
fn bench_step(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: String,
    pool: &ThreadPool,
    input: &Batch,
    side: usize,
    seeds: &SeedTree,
) {
    let betas = Betas::all_on();
    let losses = LossConfig::default();
    let config = ModelConfig { image_size: side, ..ModelConfig::default() };
    let mut model = DisentangleModel::<f32>::new(config, &mut seeds.rng("init")).expect("model");
    let mut opt = Adam::new(Stage1Config::default().adam).expect("adam");
    g.bench_function(BenchmarkId::from_parameter(id), |bench| {
        bench.iter(|| {
            pool.install(|| {
                let tape = Tape::new();
                let out = training_step(
                    &model,
                    &tape,
                    input.x1.clone().into_dyn(),
                    input.x2.clone().into_dyn(),
                    &input.oracle,
                    &betas,
                    &losses,
                    Some(&input.mixes),
                )
                .expect("step");
                let grads = tape.backward(out.loss).expect("backward");
                opt.step(&mut model, &grads).expect("adam");
                out.terms.total
            })
        })
    });
}

fn bench_train_step(c: &mut Criterion) {
    // As the `detaux` binary does: reuse freed tensor buffers across steps.
    detaux::tune_allocator_for_training();
    let seeds = SeedTree::new(4);
    if let Some(pairs) = common::env_size("DETAUX_BENCH_BATCH", 2, 1024) {
        let input = batch(pairs, 64, &seeds);
        let mut g = c.benchmark_group("stage1_train_step_curve");
        g.sample_size(20).measurement_time(Duration::from_secs(15)).warm_up_time(Duration::from_secs(3));
        for threads in [1usize, 2] {
            let pool = ThreadPool::new(threads).expect("pool");
            bench_step(&mut g, format!("b{pairs}-{threads}t"), &pool, &input, 64, &seeds);
        }
        g.finish();
        return;
    }
    let inputs = [64usize, 32, 16].map(|side| (side, batch(B, side, &seeds)));
    let mut g = c.benchmark_group("stage1_train_step_b32");
    g.sample_size(20).measurement_time(Duration::from_secs(15)).warm_up_time(Duration::from_secs(3));
    let cases = [1usize, 2].into_iter().flat_map(|t| {
        [
            (64, KernelSet::Native, t),
            (64, KernelSet::Portable, t),
            (32, KernelSet::Native, t),
            (16, KernelSet::Native, t),
        ]
    });
    for (side, kernels, threads) in cases {
        let pool = ThreadPool::with_kernels(threads, kernels).expect("pool");
        let id = match (side, kernels) {
            (64, KernelSet::Native) => format!("{threads}t"),
            (64, KernelSet::Portable) => format!("portable-{threads}t"),
            _ => format!("side{side}-{threads}t"),
        };
        let (_, input) = inputs.iter().find(|(s, _)| *s == side).expect("input side");
        bench_step(&mut g, id, &pool, input, side, &seeds);
    }
    g.finish();
}

criterion_group!(benches, bench_train_step);
criterion_main!(benches);
