//! Properties of the clustering stage: Lloyd monotonicity, thread-count invariance, HDBSCAN
//! row-permutation invariance, empty-cluster policy, metrics against scikit-learn values,
//! subspace selection, and a clear error for every bad input.

use detaux::cluster::metrics::{
    adjusted_rand_index, homogeneity_completeness, normalized_mutual_info, silhouette_sampled,
};
use detaux::cluster::{choose_k_by_silhouette, select_subspace, Hdbscan, Init, KMeans};
use detaux::par::ThreadPool;
use detaux::rng::SeedTree;
use detaux::Error;
use ndarray::{Array2, Array3};
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Gaussian blobs: `k` centres uniform in `[-box, box]^d`, std `std`.
fn blobs(n: usize, d: usize, k: usize, std: f32, bx: f32, seed: u64) -> Array2<f32> {
    let mut rng = SeedTree::new(seed).rng("blobs");
    let centres: Vec<f32> = (0..k * d).map(|_| rng.gen_range(-bx..bx)).collect();
    let normal = Normal::new(0.0f32, std).unwrap();
    Array2::from_shape_fn((n, d), |(i, j)| centres[(i % k) * d + j] + normal.sample(&mut rng))
}

#[test]
fn lloyd_inertia_never_increases() {
    for (seed, init) in [(1u64, Init::KMeansPlusPlus), (2, Init::Random), (3, Init::KMeansPlusPlus)] {
        let x = blobs(6000, 10, 16, 6.0, 10.0, seed);
        let m = KMeans::new(12).n_init(1).max_iter(60).tol(0.0).init(init).seed(seed).fit(x.view()).unwrap();
        assert!(m.inertia_history.len() >= 5, "too few iterations to test: {}", m.n_iter);
        for w in m.inertia_history.windows(2) {
            // Up to the rounding of the f32 distance expansion.
            assert!(w[1] <= w[0] * (1.0 + 1e-6), "inertia rose: {} -> {}", w[0], w[1]);
        }
        assert!(m.inertia <= m.inertia_history[0]);
        assert!(m.centres.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn kmeans_is_bitwise_invariant_to_thread_count() {
    let x = blobs(20_000, 10, 8, 4.0, 10.0, 5);
    let fit = |t: usize| {
        ThreadPool::new(t).unwrap().install(|| KMeans::new(8).n_init(2).max_iter(50).seed(9).fit(x.view()).unwrap())
    };
    let a = fit(1);
    for t in [2, 4] {
        let b = fit(t);
        assert_eq!(a.labels, b.labels, "labels differ at {t} threads");
        assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        assert_eq!(a.n_iter, b.n_iter);
        let bits = |m: &Array2<f32>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.centres), bits(&b.centres));
        assert_eq!(a.predict(x.view()).unwrap(), b.predict(x.view()).unwrap());
    }
}

#[test]
fn hdbscan_is_bitwise_invariant_to_thread_count() {
    let x = blobs(3000, 5, 4, 1.0, 8.0, 6);
    let q = blobs(300, 5, 4, 2.0, 8.0, 7);
    let fit = |t: usize| {
        ThreadPool::new(t).unwrap().install(|| {
            let m = Hdbscan::new(25).fit(x.view()).unwrap();
            let p = m.approximate_predict(q.view()).unwrap();
            (m.labels, m.probabilities.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), p.0)
        })
    };
    let a = fit(1);
    assert!(a.0.iter().any(|&l| l >= 1), "expected several clusters");
    for t in [2, 4] {
        assert_eq!(a, fit(t), "HDBSCAN differs at {t} threads");
    }
}

#[test]
fn hdbscan_permuting_rows_permutes_labels() {
    let mut x = blobs(2400, 4, 4, 0.8, 8.0, 8);
    // Add uniform noise rows.
    let mut rng = SeedTree::new(8).rng("noise");
    for i in 0..400 {
        for j in 0..4 {
            x[[i * 6, j]] = rng.gen_range(-12.0..12.0);
        }
    }
    let n = x.nrows();
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        perm.swap(i, j);
    }
    let xp = Array2::from_shape_fn((n, 4), |(i, j)| x[[perm[i], j]]);
    let a = Hdbscan::new(30).fit(x.view()).unwrap();
    let b = Hdbscan::new(30).fit(xp.view()).unwrap();
    let a_perm: Vec<i64> = perm.iter().map(|&p| a.labels[p]).collect();
    assert!(a.labels.contains(&-1), "expected noise");
    // Exact ties of mutual-reachability weights (common: mr is often a core distance) are
    // broken by point index, so a handful of boundary points may change sides under a
    // permutation (the `hdbscan` package has the same property); the partition must agree.
    let ari = adjusted_rand_index(&a_perm, &b.labels).unwrap();
    assert!(ari >= 0.995, "ARI {ari}");
    let noise_diff = a_perm.iter().zip(&b.labels).filter(|(x, y)| (**x == -1) != (**y == -1)).count();
    assert!(noise_diff * 200 <= n, "{noise_diff} of {n} points change noise status");
    assert_eq!(a.n_clusters, b.n_clusters);
}

#[test]
fn empty_cluster_is_relocated_to_the_farthest_point() {
    // Two tight groups and one far outlier; centre 2 starts far from everything, so it is
    // empty after the first assignment and must be moved to the point farthest from its centre
    // (the outlier).
    let mut rows = Vec::new();
    for i in 0..50 {
        rows.extend_from_slice(&[0.0 + 0.01 * i as f32, 0.0]);
        rows.extend_from_slice(&[10.0 + 0.01 * i as f32, 0.0]);
    }
    rows.extend_from_slice(&[5.0, 30.0]);
    let x = Array2::from_shape_vec((101, 2), rows).unwrap();
    let init = Array2::from_shape_vec((3, 2), vec![0.0, 0.0, 10.0, 0.0, 1000.0, 1000.0]).unwrap();
    let m = KMeans::new(3).init(Init::Given(init)).fit(x.view()).unwrap();
    assert!(m.centres.iter().all(|v| v.is_finite()));
    assert_eq!(m.labels[100], 2, "the outlier takes the empty cluster");
    assert_eq!(m.centres.row(2).to_vec(), vec![5.0, 30.0]);
    assert!(m.labels[..100].iter().all(|&l| l < 2));
    assert!(m.converged);
}

#[test]
fn predict_on_training_points_returns_the_labels() {
    let x = blobs(5000, 10, 6, 1.0, 10.0, 10);
    let m = KMeans::new(6).n_init(3).seed(4).fit(x.view()).unwrap();
    assert_eq!(m.predict(x.view()).unwrap(), m.labels);
    assert!(m.converged);
}

#[test]
fn metrics_match_scikit_learn() {
    // Values from scikit-learn 1.9.1 (adjusted_rand_score, normalized_mutual_info_score,
    // homogeneity_score, completeness_score, silhouette_score).
    let a = [0i64, 0, 1, 1, 2, 2, 2, 0];
    let b = [1i64, 1, 0, 0, 2, 2, 0, 0];
    let close = |x: f64, y: f64| assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    close(adjusted_rand_index(&a, &b).unwrap(), 0.18181818181818182);
    close(normalized_mutual_info(&a, &b).unwrap(), 0.5300257549140327);
    let (h, c) = homogeneity_completeness(&a, &b).unwrap();
    close(h, 0.5196243460723442);
    close(c, 0.5408520829727553);
    let x =
        Array2::from_shape_vec((8, 2), vec![0., 0., 0., 1., 1., 0., 5., 5., 5., 6., 6., 5., 2., 2., 9., 0.]).unwrap();
    let s = silhouette_sampled(x.view(), &a, 100, &SeedTree::new(0)).unwrap();
    assert!((s - -0.21574869751930237).abs() < 1e-6, "{s}");
    // Permuted labels are the same partition.
    let p: Vec<i64> = a.iter().map(|&l| (l + 1) % 3 + 10).collect();
    assert_eq!(adjusted_rand_index(&a, &p).unwrap(), 1.0);
    close(normalized_mutual_info(&a, &p).unwrap(), 1.0);
}

#[test]
fn k_auto_finds_the_number_of_blobs() {
    let x = blobs(3000, 10, 5, 0.5, 10.0, 12);
    let choice =
        choose_k_by_silhouette(x.view(), &KMeans::new(2).n_init(3).seed(1), 2, 8, 1000, &SeedTree::new(3)).unwrap();
    assert_eq!(choice.k, 5, "{:?}", choice.scores);
    assert_eq!(choice.scores.len(), 7);
}

#[test]
fn subspace_selection_takes_the_least_aligned_subspace() {
    let n = 500;
    let mut rng = SeedTree::new(1).rng("lat");
    // s0 random; s1 = s0 (aligned), s2 independent zero-mean (|mean| ≈ 0), s3 = -0.5 s0.
    let mut lat = Array3::<f32>::zeros((n, 4, 3));
    for b in 0..n {
        for j in 0..3 {
            let v: f32 = rng.gen_range(-1.0..1.0);
            lat[[b, 0, j]] = v;
            lat[[b, 1, j]] = v;
            lat[[b, 2, j]] = rng.gen_range(-1.0..1.0);
            lat[[b, 3, j]] = -0.5 * v;
        }
    }
    let c = select_subspace(lat.view(), None).unwrap();
    assert_eq!(c.chosen, 2, "{:?}", c.scores);
    assert_eq!(c.scores.len(), 3);
    assert!(c.scores[0] > 0.5 && c.scores[2] > 0.2 && c.scores[1] < 0.1);
    let o = select_subspace(lat.view(), Some(3)).unwrap();
    assert!(o.overridden && o.chosen == 3 && o.scores == c.scores);
    assert!(matches!(select_subspace(lat.view(), Some(4)), Err(Error::InvalidParam { .. })));
    assert!(matches!(select_subspace(Array3::<f32>::zeros((5, 1, 3)).view(), None), Err(Error::InvalidData(_))));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let x = blobs(20, 3, 2, 1.0, 5.0, 1);
    let msg = |r: Result<String, Error>| r.unwrap_err().to_string();
    let km = |k: usize| KMeans::new(k).fit(x.view()).map(|_| String::new());
    assert!(msg(km(0)).contains("n_clusters"));
    assert!(msg(km(21)).contains("n_clusters"));
    assert!(msg(KMeans::new(2).n_init(0).fit(x.view()).map(|_| String::new())).contains("n_init"));
    assert!(msg(KMeans::new(2).max_iter(0).fit(x.view()).map(|_| String::new())).contains("max_iter"));
    assert!(msg(KMeans::new(2).tol(-1.0).fit(x.view()).map(|_| String::new())).contains("tol"));
    let bad_init = Init::Given(Array2::zeros((3, 3)));
    assert!(msg(KMeans::new(2).init(bad_init).fit(x.view()).map(|_| String::new())).contains("init"));
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut y = x.clone();
        y[[7, 2]] = bad;
        let e = msg(KMeans::new(2).fit(y.view()).map(|_| String::new()));
        assert!(e.contains("non-finite") && e.contains("row 7") && e.contains("column 2"), "{e}");
        let e = msg(Hdbscan::new(5).fit(y.view()).map(|_| String::new()));
        assert!(e.contains("non-finite"), "{e}");
    }
    let empty = Array2::<f32>::zeros((0, 3));
    assert!(msg(KMeans::new(1).fit(empty.view()).map(|_| String::new())).contains("empty"));
    assert!(msg(Hdbscan::new(5).fit(empty.view()).map(|_| String::new())).contains("empty"));
    let no_cols = Array2::<f32>::zeros((4, 0));
    assert!(msg(KMeans::new(1).fit(no_cols.view()).map(|_| String::new())).contains("empty"));
    for mcs in [0, 1] {
        assert!(msg(Hdbscan::new(mcs).fit(x.view()).map(|_| String::new())).contains("min_cluster_size"));
    }
    assert!(msg(Hdbscan::new(5).min_samples(0).fit(x.view()).map(|_| String::new())).contains("min_samples"));
    let model = KMeans::new(2).fit(x.view()).unwrap();
    assert!(matches!(model.predict(Array2::<f32>::zeros((2, 4)).view()), Err(Error::Shape { .. })));
}
