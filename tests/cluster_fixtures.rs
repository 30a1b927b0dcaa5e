//! Agreement with scikit-learn's KMeans and the `hdbscan` package on fixtures written by
//! `tools/cluster_fixtures.py` (committed under `tests/fixtures/cluster/`).

use detaux::cluster::metrics::adjusted_rand_index;
use detaux::cluster::{Hdbscan, Init, KMeans};
use detaux::io::npy::{read_npy, NpyData};
use ndarray::Array2;
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster").join(format!("{name}.npy"))
}

fn f32_matrix(name: &str) -> Array2<f32> {
    let a = read_npy(&path(name)).unwrap();
    let data = match a.data {
        NpyData::F32(v) => v,
        other => panic!("{name}: expected f32, got {}", other.descr()),
    };
    Array2::from_shape_vec((a.shape[0], a.shape[1]), data).unwrap()
}

fn i64_vec(name: &str) -> Vec<i64> {
    match read_npy(&path(name)).unwrap().data {
        NpyData::I64(v) => v,
        other => panic!("{name}: expected int, got {}", other.descr()),
    }
}

fn f64_vec(name: &str) -> Vec<f64> {
    match read_npy(&path(name)).unwrap().data {
        NpyData::F64(v) => v,
        other => panic!("{name}: expected f64, got {}", other.descr()),
    }
}

#[test]
fn kmeans_matches_sklearn_from_the_same_initial_centres() {
    let x = f32_matrix("kmeans_x");
    let init = f32_matrix("kmeans_init");
    let labels = i64_vec("kmeans_labels");
    let meta = f64_vec("kmeans_meta");
    let model = KMeans::new(8).init(Init::Given(init)).max_iter(300).tol(1e-4).fit(x.view()).unwrap();
    let ari = adjusted_rand_index(&labels, &model.labels).unwrap();
    assert_eq!(ari, 1.0, "ARI {ari}");
    // Same initial centres => the same cluster numbering, too.
    assert_eq!(model.labels, labels);
    let rel = (model.inertia - meta[0]).abs() / meta[0];
    assert!(rel < 1e-4, "inertia {} vs sklearn {} (rel {rel})", model.inertia, meta[0]);
    assert_eq!(model.n_iter as f64, meta[1], "n_iter");
    assert!(model.converged);
    let centres = f32_matrix("kmeans_centres");
    for (a, b) in model.centres.iter().zip(centres.iter()) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "centre {a} vs {b}");
    }
}

fn check_hdbscan(name: &str) {
    let x = f32_matrix(&format!("{name}_x"));
    let want = i64_vec(&format!("{name}_labels"));
    let want_probs = f64_vec(&format!("{name}_probs"));
    let params = i64_vec(&format!("{name}_params"));
    let mut h = Hdbscan::new(params[0] as usize);
    if params[1] > 0 {
        h = h.min_samples(params[1] as usize);
    }
    let model = h.fit(x.view()).unwrap();
    let ari = adjusted_rand_index(&want, &model.labels).unwrap();
    let want_clusters = want.iter().copied().filter(|&l| l >= 0).max().map_or(0, |m| m + 1) as usize;
    assert_eq!(model.n_clusters, want_clusters, "{name}: number of clusters");
    assert!(ari >= 0.99, "{name}: ARI {ari}");
    let noise_want: Vec<usize> = (0..want.len()).filter(|&i| want[i] == -1).collect();
    let noise_got: Vec<usize> = (0..want.len()).filter(|&i| model.labels[i] == -1).collect();
    assert_eq!(noise_got, noise_want, "{name}: noise points differ");
    let max_dp = want_probs.iter().zip(&model.probabilities).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(max_dp < 1e-3, "{name}: probabilities differ by up to {max_dp}");

    let q = f32_matrix(&format!("{name}_q"));
    let want_q = i64_vec(&format!("{name}_qlabels"));
    let want_qp = f64_vec(&format!("{name}_qprobs"));
    let (ql, qp) = model.approximate_predict(q.view()).unwrap();
    // Same numbering as the fit labels: map ours to theirs through the fit labels.
    let ari_q = adjusted_rand_index(&want_q, &ql).unwrap();
    assert!(ari_q >= 0.99, "{name}: approximate_predict ARI {ari_q}");
    let qn_want: Vec<usize> = (0..want_q.len()).filter(|&i| want_q[i] == -1).collect();
    let qn_got: Vec<usize> = (0..ql.len()).filter(|&i| ql[i] == -1).collect();
    assert_eq!(qn_got, qn_want, "{name}: predicted noise differs");
    let max_dqp = want_qp.iter().zip(&qp).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(max_dqp < 1e-3, "{name}: predicted probabilities differ by up to {max_dqp}");
}

#[test]
fn hdbscan_matches_package_on_blobs() {
    check_hdbscan("hdb1");
}

#[test]
fn hdbscan_matches_package_on_blobs_with_noise() {
    check_hdbscan("hdb2");
}

#[test]
fn hdbscan_matches_package_on_moons_with_min_samples() {
    check_hdbscan("hdb3");
}
