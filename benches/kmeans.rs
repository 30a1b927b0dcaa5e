//! k-means benchmarks on the shape of the scikit-learn comparison (`benches/README.md`):
//! 480 000 × 10 f32, k = 64, at 1 and 2 threads.
//!
//! Data: if `DETAUX_ANCHOR_DATA` names a directory holding `kmeans_blobs_480000x10_f32.npy` and
//! `kmeans_blobs_480000x10_k64_init.npy` (scikit-learn's k-means++ centres), those are used; otherwise
//! make_blobs-like data (16 centres uniform in [-10, 10]^10, std 8, seeded) and centres from our
//! own k-means++.
//!
//! - `lloyd_iteration/{1,2}`: one Lloyd iteration (fused assignment + centroid sums, then the
//!   means) — compare with scikit-learn's `(fit − init) / n_iter`.
//! - `lloyd_fit_100/{1,2}`: `KMeans` from the given centres, 100 iterations, `tol = 0`
//!   (+ the final relabel and inertia), like scikit-learn's fit minus its init.
//! - `kmeans_plusplus/{1,2}`: greedy k-means++ for k = 64.
//!
//! `DETAUX_BENCH_N=n` (k-means data of n rows, 1 000..=10 000 000) and/or `DETAUX_BENCH_K=k`
//! (8..=4 096, at most n) time instead only the curve point of `tools/curves.sh`: one Lloyd
//! iteration on n × 10 (default 480 000) with k centres (default 64), ids
//! `lloyd_iteration_curve/n<n>-k<k>-1t` and `…-2t`, on `kmeans_blobs_<n>x10_f32.npy` and
//! `kmeans_blobs_<n>x10_k<k>_init.npy` of `DETAUX_ANCHOR_DATA` (else generated as above).
//!
//! `cargo bench --bench kmeans -- --quick`

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use detaux::cluster::kmeans::kmeans_plusplus;
use detaux::cluster::{Init, KMeans};
use detaux::io::npy::{read_npy, NpyData};
use detaux::par::{Par, ThreadPool};
use detaux::rng::SeedTree;
use detaux_kernels::distance::{assign_and_accumulate, CentrePanels};
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;

const N: usize = 480_000;
const D: usize = 10;
const K: usize = 64;

fn load_f32(path: &std::path::Path, len: usize) -> Option<Vec<f32>> {
    match read_npy(path).ok()?.data {
        NpyData::F32(v) if v.len() == len => Some(v),
        _ => None,
    }
}

/// `n × D` points and `k` initial centres: the anchor files if present, else generated.
fn data(n: usize, k: usize) -> (Vec<f32>, Vec<f32>, &'static str) {
    if let Ok(dir) = std::env::var("DETAUX_ANCHOR_DATA") {
        let dir = PathBuf::from(dir);
        if let (Some(x), Some(c)) = (
            load_f32(&dir.join(format!("kmeans_blobs_{n}x{D}_f32.npy")), n * D),
            load_f32(&dir.join(format!("kmeans_blobs_{n}x{D}_k{k}_init.npy")), k * D),
        ) {
            return (x, c, "anchor dump");
        }
        eprintln!("DETAUX_ANCHOR_DATA set but files missing; generating data");
    }
    let mut rng = SeedTree::new(0).rng("bench-blobs");
    let centres: Vec<f32> = (0..16 * D).map(|_| rng.gen_range(-10.0..10.0)).collect();
    let normal = Normal::new(0.0f32, 8.0).unwrap();
    let x: Vec<f32> = (0..n * D).map(|i| centres[((i / D) % 16) * D + i % D] + normal.sample(&mut rng)).collect();
    let c = kmeans_plusplus(&x, D, k, &mut SeedTree::new(1).rng("init"));
    (x, c, "generated blobs")
}

/// One Lloyd iteration from `centres`: the fused assignment and centroid sums, then the means.
fn lloyd_iteration(x: &[f32], centres: &[f32], k: usize, labels: &mut [u32], dist: &mut [f32]) -> Vec<f32> {
    let cp = CentrePanels::new(centres, k, D);
    let acc = assign_and_accumulate(x, &cp, labels, dist, Par::Rayon);
    acc.sums
        .chunks(D)
        .zip(&acc.counts)
        .flat_map(|(s, &n)| s.iter().map(move |v| (v / n.max(1) as f64) as f32))
        .collect()
}

/// The curve point `n × D`, `k` centres: Lloyd iterations only.
fn bench_curve_point(c: &mut Criterion, n: usize, k: usize) {
    let (x, init, source) = data(n, k);
    eprintln!("k-means bench data: {source}, {n} x {D}, k = {k}");
    let (mut labels, mut dist) = (vec![0u32; n], vec![0f32; n]);
    let mut g = c.benchmark_group("lloyd_iteration_curve");
    g.sample_size(20);
    for threads in [1usize, 2] {
        let pool = ThreadPool::new(threads).unwrap();
        g.bench_function(format!("n{n}-k{k}-{threads}t"), |b| {
            b.iter(|| pool.install(|| lloyd_iteration(&x, &init, k, &mut labels, &mut dist)))
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let n = common::env_size("DETAUX_BENCH_N", 1_000, 10_000_000);
    let k = common::env_size("DETAUX_BENCH_K", 8, 4_096);
    if n.is_some() || k.is_some() {
        let (n, k) = (n.unwrap_or(N), k.unwrap_or(K));
        assert!(k <= n, "DETAUX_BENCH_K = {k} is more than DETAUX_BENCH_N = {n}");
        return bench_curve_point(c, n, k);
    }
    let (x, init, source) = data(N, K);
    eprintln!("k-means bench data: {source}, {N} x {D}, k = {K}");
    let xa = Array2::from_shape_vec((N, D), x.clone()).unwrap();
    let inita = Array2::from_shape_vec((K, D), init.clone()).unwrap();
    for threads in [1usize, 2] {
        let pool = ThreadPool::new(threads).unwrap();
        let mut g = c.benchmark_group("lloyd_iteration");
        g.sample_size(20);
        let mut labels = vec![0u32; N];
        let mut dist = vec![0f32; N];
        g.bench_function(format!("{threads}"), |b| {
            b.iter(|| pool.install(|| lloyd_iteration(&x, &init, K, &mut labels, &mut dist)))
        });
        g.finish();
        let mut g = c.benchmark_group("lloyd_fit_100");
        g.sample_size(10);
        g.bench_function(format!("{threads}"), |b| {
            b.iter(|| {
                pool.install(|| {
                    let m =
                        KMeans::new(K).init(Init::Given(inita.clone())).max_iter(100).tol(0.0).fit(xa.view()).unwrap();
                    assert_eq!(m.n_iter, 100, "the overlapping blobs should run all 100 iterations");
                    m.inertia
                })
            })
        });
        g.finish();
        let mut g = c.benchmark_group("kmeans_plusplus");
        g.sample_size(10);
        g.bench_function(format!("{threads}"), |b| {
            b.iter(|| pool.install(|| kmeans_plusplus(&x, D, K, &mut SeedTree::new(2).rng("init"))))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
