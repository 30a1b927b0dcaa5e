//! `detaux cluster` end to end: a run directory with latents `[n, K, d]`, factors and names.
#![cfg(feature = "cli")]

use detaux::io::npy::{read_npy, write_npy, NpyData};
use detaux::rng::SeedTree;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;
use std::process::Command;

fn detaux(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_detaux")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detaux-cluster-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Latents `[n, 3, 4]`: subspace 0 encodes factor 0 (and is aligned with subspace 1, which
/// copies it); subspace 2 encodes factor 1 as 4 well-separated blobs, independent of s0.
fn write_run(dir: &std::path::Path, n: usize) {
    let mut rng = SeedTree::new(3).rng("cli");
    let noise = Normal::new(0.0f32, 0.05).unwrap();
    let mut lat = Vec::with_capacity(n * 12);
    let mut factors = Vec::with_capacity(n * 2);
    let centres = [[3.0f32, 0.0, 0.0, 0.0], [-3.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [0.0, -3.0, 0.0, 0.0]];
    for _ in 0..n {
        let f0: i64 = rng.gen_range(0..3);
        let f1: usize = rng.gen_range(0..4);
        let s0: Vec<f32> =
            (0..4).map(|j| if j == 0 { 1.0 + f0 as f32 } else { 0.0 } + noise.sample(&mut rng)).collect();
        lat.extend_from_slice(&s0);
        lat.extend(s0.iter().map(|v| v + noise.sample(&mut rng)));
        lat.extend(centres[f1].iter().map(|v| v + noise.sample(&mut rng)));
        factors.push(f0);
        factors.push(f1 as i64);
    }
    write_npy(&dir.join("latents.npy"), &[n, 3, 4], &lat).unwrap();
    write_npy(&dir.join("factors.npy"), &[n, 2], &factors).unwrap();
    // Names as `detaux disentangle` writes them in run.json.
    std::fs::write(
        dir.join("run.json"),
        r#"{"factors": [{"name": "principal", "cardinality": 3}, {"name": "hidden", "cardinality": 4}]}"#,
    )
    .unwrap();
}

fn labels(path: &std::path::Path) -> Vec<i64> {
    match read_npy(path).unwrap().data {
        NpyData::I64(v) => v,
        other => panic!("aux_labels must be int64, got {}", other.descr()),
    }
}

#[test]
fn cluster_kmeans_on_a_run_dir_recovers_the_hidden_factor() {
    let dir = scratch("km");
    write_run(&dir, 2000);
    let d = dir.to_str().unwrap();
    let (code, err) = detaux(&["cluster", "--run", d, "--clustering", "kmeans:auto:2-6", "--threads", "2"]);
    assert_eq!(code, 0, "{err}");
    let l = labels(&dir.join("aux_labels.npy"));
    assert_eq!(l.len(), 2000);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("clusters.json")).unwrap()).unwrap();
    assert_eq!(json["subspace"]["chosen"], 2, "{json}");
    assert_eq!(json["fit"]["k"], 4);
    assert_eq!(json["metrics"][1]["factor"], "hidden");
    assert!(json["metrics"][1]["ari"].as_f64().unwrap() > 0.99, "{json}");
    assert!(json["metrics"][0]["ari"].as_f64().unwrap().abs() < 0.05);
    // The report names the labels it describes, and they load as an auxiliary task.
    assert_eq!(json["aux_labels_fingerprint"], detaux::cluster::job::labels_fingerprint(&l));
    assert!(detaux::mtl::data::load_aux_labels(&dir.join("aux_labels.npy"), 2000).is_ok());
    let png = std::fs::read(dir.join("clusters.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Same seed, other thread count: identical labels.
    let out2 = scratch("km2");
    let (code, err) = detaux(&[
        "cluster",
        "--run",
        d,
        "--clustering",
        "kmeans:auto:2-6",
        "--threads",
        "1",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(labels(&out2.join("aux_labels.npy")), l);
}

#[test]
fn cluster_hdbscan_on_flat_latents_with_fit_sample_and_noise_shift() {
    let dir = scratch("hdb");
    write_run(&dir, 1500);
    // Flatten subspace 2 into [n, 4] plus a few far outliers (noise after HDBSCAN).
    let lat = match read_npy(&dir.join("latents.npy")).unwrap().data {
        NpyData::F32(v) => v,
        _ => unreachable!(),
    };
    let mut flat: Vec<f64> = (0..1500).flat_map(|i| lat[i * 12 + 8..i * 12 + 12].iter().map(|&v| v as f64)).collect();
    for (o, v) in [[40.0, 40.0, 0.0, 0.0], [-40.0, 40.0, 0.0, 0.0], [40.0, -40.0, 0.0, 0.0]].iter().enumerate() {
        flat[(o * 7) * 4..(o * 7) * 4 + 4].copy_from_slice(v);
    }
    let file = dir.join("flat.npy");
    write_npy(&file, &[1500, 4], &flat).unwrap();
    let out = dir.join("out");
    let (code, err) = detaux(&[
        "cluster",
        "--latents",
        file.to_str().unwrap(),
        "--clustering",
        "hdbscan:40",
        "--fit-sample",
        "1000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let l = labels(&out.join("aux_labels.npy"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("clusters.json")).unwrap()).unwrap();
    assert_eq!(json["fit"]["n_clusters"], 4, "{json}");
    assert_eq!(json["noise_shifted"], true);
    assert!(l.iter().all(|&v| (0..=4).contains(&v)));
    assert_eq!(l[0], 0, "the outlier is noise -> class 0");
    assert_eq!(json["subspace"], serde_json::Value::Null);
}

#[test]
fn cluster_bad_inputs_fail_with_one_line() {
    let dir = scratch("bad");
    write_run(&dir, 300);
    let d = dir.to_str().unwrap();
    for args in [
        vec!["cluster", "--run", d, "--clustering", "kmeans:zero"],
        vec!["cluster", "--run", d, "--clustering", "kmeans:0"],
        vec!["cluster", "--run", d, "--clustering", "hdbscan:1"],
        vec!["cluster", "--run", d, "--subspace", "7"],
        vec!["cluster", "--latents", "/nonexistent/x.npy"],
    ] {
        let (code, err) = detaux(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "{args:?}: {err}");
    }
}
