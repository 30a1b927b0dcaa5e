//! HDBSCAN benchmark on the shape of the `hdbscan` comparison (`benches/README.md`): 50 000 × 10
//! f32 well-separated blobs (8 centres in [-10, 10]^10, std 1), `min_cluster_size = 200`, at 1
//! and 2 threads.
//!
//! Data: `DETAUX_ANCHOR_DATA/hdbscan_blobs_50000x10_f32.npy` if present, else generated
//! make_blobs-like data. The `hdbscan` package (`core_dist_n_jobs = threads`) is the reference
//! side.
//!
//! `DETAUX_BENCH_N=n` (1 000..=10 000 000) times instead only the curve point of
//! `tools/curves.sh`: the same fit on n rows (`hdbscan_blobs_<n>x10_f32.npy` of
//! `DETAUX_ANCHOR_DATA`, else generated), ids `hdbscan_fit_curve/n<n>-1t` and `…-2t`.
//!
//! `cargo bench --bench hdbscan -- --quick`

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use detaux::cluster::Hdbscan;
use detaux::io::npy::{read_npy, NpyData};
use detaux::par::ThreadPool;
use detaux::rng::SeedTree;
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;
use std::time::Duration;

const N: usize = 50_000;
const D: usize = 10;
const MIN_CLUSTER_SIZE: usize = 200;

/// `n × D` points: the anchor file if present, else generated.
fn data(n: usize) -> (Vec<f32>, &'static str) {
    if let Ok(dir) = std::env::var("DETAUX_ANCHOR_DATA") {
        if let Ok(a) = read_npy(&PathBuf::from(dir).join(format!("hdbscan_blobs_{n}x{D}_f32.npy"))) {
            if let NpyData::F32(v) = a.data {
                if v.len() == n * D {
                    return (v, "anchor dump");
                }
            }
        }
        eprintln!("DETAUX_ANCHOR_DATA set but the file is missing; generating data");
    }
    let mut rng = SeedTree::new(0).rng("bench-hdbscan");
    let centres: Vec<f32> = (0..8 * D).map(|_| rng.gen_range(-10.0..10.0)).collect();
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let x = (0..n * D).map(|i| centres[((i / D) % 8) * D + i % D] + normal.sample(&mut rng)).collect();
    (x, "generated blobs")
}

fn bench(c: &mut Criterion) {
    let curve_n = common::env_size("DETAUX_BENCH_N", 1_000, 10_000_000);
    let n = curve_n.unwrap_or(N);
    let (x, source) = data(n);
    eprintln!("HDBSCAN bench data: {source}, {n} x {D}, min_cluster_size = {MIN_CLUSTER_SIZE}");
    let xa = Array2::from_shape_vec((n, D), x).unwrap();
    let mut g = c.benchmark_group(if curve_n.is_some() { "hdbscan_fit_curve" } else { "hdbscan_fit_50000x10_mcs200" });
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(30));
    for threads in [1usize, 2] {
        let pool = ThreadPool::new(threads).unwrap();
        let id = if curve_n.is_some() { format!("n{n}-{threads}t") } else { format!("{threads}") };
        g.bench_function(id, |b| {
            b.iter(|| {
                pool.install(|| {
                    let m = Hdbscan::new(MIN_CLUSTER_SIZE).fit(xa.view()).unwrap();
                    assert!(m.n_clusters >= 2);
                    m.n_clusters
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
