//! Data benches: rendering 48 000 procedural 3DShapes-like images and loading them
//! back from the NPY pair format, at 1 and 2 threads.
//!
//! Run: `cargo bench --bench data`. Throughput is reported in images/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use detaux::data::npy_pair::{load_npy_dir, write_npy_dir};
use detaux::data::shapes3d;
use detaux::par::ThreadPool;
use std::time::Duration;

const N: usize = 48_000;

/// Every 10th grid index: 48 000 images that cover every factor value.
fn indices() -> Vec<usize> {
    (0..shapes3d::grid().len()).step_by(10).collect()
}

fn bench_generate(c: &mut Criterion) {
    let idx = indices();
    assert_eq!(idx.len(), N);
    // The layout table is built once per process; build it outside the timing.
    shapes3d::generate("warm-up", &idx[..1]).expect("generate");
    let mut g = c.benchmark_group("shapes3d_generate_48k");
    g.sample_size(10).measurement_time(Duration::from_secs(10)).throughput(Throughput::Elements(N as u64));
    for threads in [1usize, 2] {
        let pool = ThreadPool::new(threads).expect("pool");
        g.bench_with_input(BenchmarkId::from_parameter(format!("{threads}t")), &threads, |b, _| {
            b.iter(|| pool.install(|| shapes3d::generate("bench", &idx).expect("generate")))
        });
    }
    g.finish();
}

fn bench_load(c: &mut Criterion) {
    let idx = indices();
    let data = shapes3d::generate("bench", &idx).expect("generate");
    let dir = std::env::temp_dir().join(format!("detaux-bench-data-{}", std::process::id()));
    write_npy_dir(&data, &dir).expect("write");
    let mut g = c.benchmark_group("shapes3d_npy_load_48k");
    g.sample_size(10).measurement_time(Duration::from_secs(10)).throughput(Throughput::Elements(N as u64));
    for threads in [1usize, 2] {
        let pool = ThreadPool::new(threads).expect("pool");
        g.bench_with_input(BenchmarkId::from_parameter(format!("{threads}t")), &threads, |b, _| {
            b.iter(|| pool.install(|| load_npy_dir(&dir).expect("load")))
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_generate, bench_load);
criterion_main!(benches);
