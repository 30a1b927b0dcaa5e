//! Bitwise determinism of training: the demo conv autoencoder (conv → linear → conv-transpose,
//! MSE, Adam) trained for 20 steps gives bitwise-identical parameters at 1, 2 and 4 rayon
//! threads, and across two runs.

use detaux::demo::{flat_params, train, DemoConfig};
use detaux::par::ThreadPool;

fn params_after_20_steps(threads: usize) -> (Vec<f32>, Vec<f32>) {
    // Big enough that gemm, conv and element-wise maps take their parallel paths.
    let cfg = DemoConfig { steps: 20, n_images: 128, batch: 64, size: 32, channels: 16, ..DemoConfig::default() };
    let pool = ThreadPool::new(threads).unwrap();
    let run = pool.install(|| train(&cfg, |_, _| {})).unwrap();
    (flat_params(&run.model), run.losses)
}

#[test]
fn twenty_steps_are_bitwise_identical_at_1_2_4_threads_and_across_runs() {
    let (p1, l1) = params_after_20_steps(1);
    let (p1b, l1b) = params_after_20_steps(1);
    assert!(l1[19] < l1[0], "the loss must fall: {l1:?}");
    for threads in [2, 4] {
        let (p, l) = params_after_20_steps(threads);
        assert_eq!(
            l.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            l1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "losses at {threads} threads"
        );
        assert!(
            p.iter().zip(&p1).all(|(a, b)| a.to_bits() == b.to_bits()),
            "parameters at {threads} threads differ from 1 thread"
        );
    }
    assert!(p1.iter().zip(&p1b).all(|(a, b)| a.to_bits() == b.to_bits()), "two runs differ");
    assert_eq!(l1, l1b);
}

#[test]
fn a_different_seed_gives_different_parameters() {
    let a = train(&DemoConfig { steps: 2, seed: 1, ..DemoConfig::default() }, |_, _| {}).unwrap();
    let b = train(&DemoConfig { steps: 2, seed: 2, ..DemoConfig::default() }, |_, _| {}).unwrap();
    assert_ne!(flat_params(&a.model), flat_params(&b.model));
}
