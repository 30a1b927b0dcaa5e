//! HDBSCAN benchmark on the shape of the `hdbscan` comparison (`benches/README.md`): 50 000 × 10
//! f32 well-separated blobs (8 centres in [-10, 10]^10, std 1), `min_cluster_size = 200`, at 1
//! and 2 threads.
//!
//! Data: `DETAUX_ANCHOR_DATA/hdbscan_blobs_50000x10_f32.npy` if present, else generated
//! make_blobs-like data. The `hdbscan` package (`core_dist_n_jobs = threads`) is the reference
//! side.
//!
//! `cargo bench --bench hdbscan -- --quick`

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

fn data() -> (Vec<f32>, &'static str) {
    if let Ok(dir) = std::env::var("DETAUX_ANCHOR_DATA") {
        if let Ok(a) = read_npy(&PathBuf::from(dir).join("hdbscan_blobs_50000x10_f32.npy")) {
            if let NpyData::F32(v) = a.data {
                return (v, "anchor dump");
            }
        }
        eprintln!("DETAUX_ANCHOR_DATA set but the file is missing; generating data");
    }
    let mut rng = SeedTree::new(0).rng("bench-hdbscan");
    let centres: Vec<f32> = (0..8 * D).map(|_| rng.gen_range(-10.0..10.0)).collect();
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let x = (0..N * D).map(|i| centres[((i / D) % 8) * D + i % D] + normal.sample(&mut rng)).collect();
    (x, "generated blobs")
}

fn bench(c: &mut Criterion) {
    let (x, source) = data();
    eprintln!("HDBSCAN bench data: {source}, {N} x {D}, min_cluster_size = 200");
    let xa = Array2::from_shape_vec((N, D), x).unwrap();
    let mut g = c.benchmark_group("hdbscan_fit_50000x10_mcs200");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(30));
    for threads in [1usize, 2] {
        let pool = ThreadPool::new(threads).unwrap();
        g.bench_function(format!("{threads}"), |b| {
            b.iter(|| {
                pool.install(|| {
                    let m = Hdbscan::new(200).fit(xa.view()).unwrap();
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
