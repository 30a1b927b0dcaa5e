//! One stage-3 MTL training step: batch 32 of 64×64×3 images,
//! SimpleConv64 conv trunk + 2 heads (4 and 6 classes, `Linear(1024,512)-Dropout(0.1)-ReLU-
//! Linear(512,C)`), cross-entropy sum (equal weighting), AdamW lr 1e-4 wd 5e-3, dropout active —
//! the PyTorch step of `benches/README.md`. At 1 and 2 threads.
//!
//! Run: `cargo bench --bench mtl_step` (quick check: `-- --quick`). Like the `detaux` binary,
//! the bench first calls [`detaux::tune_allocator_for_training`].

use criterion::{criterion_group, criterion_main, Criterion};
use detaux::mtl::train::{MtlTrainer, TrainConfig};
use detaux::mtl::weighting::WeightingSpec;
use detaux::par::ThreadPool;
use detaux::rng::SeedTree;
use ndarray::Array4;
use rand::Rng;

fn batch(seed: u64) -> (Array4<f32>, Vec<Vec<usize>>) {
    let mut rng = SeedTree::new(seed).rng("bench");
    let x = Array4::from_shape_fn((32, 3, 64, 64), |_| rng.gen::<f32>());
    let y0 = (0..32).map(|_| rng.gen_range(0..4)).collect();
    let y1 = (0..32).map(|_| rng.gen_range(0..6)).collect();
    (x, vec![y0, y1])
}

fn bench(c: &mut Criterion) {
    // As the `detaux` binary does: reuse freed tensor buffers across steps.
    detaux::tune_allocator_for_training();
    let (x, y) = batch(1);
    let mut group = c.benchmark_group("mtl_train_step_b32_64x64x3_2heads");
    for threads in [1usize, 2] {
        let pool = ThreadPool::new(threads).expect("pool");
        let mut trainer =
            MtlTrainer::new(&TrainConfig::default(), 3, 64, vec![4, 6], &WeightingSpec::Equal, &SeedTree::new(7))
                .expect("trainer");
        group.bench_function(format!("threads_{threads}"), |b| {
            b.iter(|| pool.install(|| trainer.step(&x, &y).expect("step").total))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
