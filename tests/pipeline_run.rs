//! `detaux run` end to end: a shortened digits pipeline writes every report file, is bitwise
//! reproducible at 1 and 2 threads, and rejects bad flags with one-line errors.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};

mod common;
use common::cli::detaux;

fn scratch(name: &str) -> PathBuf {
    common::cli::scratch("run", name)
}

/// A shortened digits pipeline: 3 seeds, tiny budgets (at 2 threads the third seed's stage 1
/// runs beside the first two seeds' arms; at 1 thread everything runs one job at a time).
fn short_run(dir: &Path, threads: &str) -> serde_json::Value {
    let d = dir.to_str().unwrap();
    let (code, out, err) = detaux(&[
        "run",
        "--dataset",
        "digits",
        "--out",
        d,
        "--seeds",
        "3",
        "--dis-epochs",
        "2",
        "--pairs-per-epoch",
        "128",
        "--epochs",
        "2",
        "--clustering",
        "kmeans:3",
        "--train-fraction",
        "0.2",
        "--threads",
        threads,
    ]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("detaux-mtl"), "summary table missing: {out}");
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn shortened_digits_pipeline_writes_every_file_and_is_thread_count_invariant() {
    let a = scratch("t1");
    let b = scratch("t2");
    // What an earlier run into the same --out with 4 seeds left: its fourth seed's directory
    // is removed (the new report does not describe it); other entries are left alone.
    std::fs::create_dir_all(a.join("seed-1237")).unwrap();
    std::fs::write(a.join("seed-1237").join("aux_labels.npy"), b"stale").unwrap();
    std::fs::create_dir_all(a.join("seed-notes")).unwrap();
    let mut ra = short_run(&a, "1");
    assert!(!a.join("seed-1237").exists(), "a seed directory of an earlier run is left behind");
    assert!(a.join("seed-notes").is_dir());
    for f in ["report.json", "report.md", "curves.png", "traversal.png", "reconstructions.png", "clusters.png"] {
        let meta = std::fs::metadata(a.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    for seed in [1234, 1235, 1236] {
        let labels = a.join(format!("seed-{seed}")).join("aux_labels.npy");
        let bytes = std::fs::read(&labels).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
    }
    let arms = ra["arms"].as_object().expect("arms object");
    for arm in ["stl", "detaux-mtl", "random-aux", "pixel-kmeans-aux"] {
        let acc = &arms[arm]["principal_test_accuracy"];
        assert_eq!(acc["values"].as_array().map(Vec::len), Some(3), "{arm}: one value per seed");
        let m = acc["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&m), "{arm}: accuracy {m}");
    }
    let seeds = ra["details"]["seeds"].as_array().unwrap();
    assert_eq!(seeds.len(), 3);
    let mut holding = 0;
    for s in seeds {
        assert_eq!(s["aux_classes"].as_u64(), Some(3));
        let chosen = s["chosen_subspace"].as_u64().unwrap();
        assert!((1..10).contains(&chosen));
        // The probe table: 10 subspaces × the one known factor, with chance, on test images.
        let probe = &s["probe"];
        assert_eq!(probe["factors"], serde_json::json!(["label"]));
        assert_eq!(probe["accuracy"].as_array().map(Vec::len), Some(10));
        assert!(probe["n_test"].as_u64().unwrap() > 100);
        let v = &s["verdict"];
        assert_eq!(v["principal"], "label");
        assert_eq!(v["s0_principal"], probe["accuracy"][0][0]);
        assert_eq!(v["carried"]["subspace"].as_u64(), Some(chosen));
        holding += usize::from(v["isolates"].as_bool().unwrap());
        assert!(s["probe_reconstruction"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(ra["verdict"]["seeds_holding"].as_u64(), Some(holding as u64));
    assert_eq!(ra["verdict"]["holds_for_every_seed"].as_bool(), Some(holding == 3));
    // Paired differences: every arm but stl, per seed arm − stl.
    let paired = ra["paired_vs_stl"].as_object().expect("paired_vs_stl");
    assert_eq!(paired.len(), 3);
    for arm in ["detaux-mtl", "random-aux", "pixel-kmeans-aux"] {
        let p = &paired[arm]["selected_epoch"];
        assert_eq!(p["n"].as_u64(), Some(3));
        for (i, d) in p["values"].as_array().unwrap().iter().enumerate() {
            let a = arms[arm]["principal_test_accuracy"]["values"][i].as_f64().unwrap();
            let b = arms["stl"]["principal_test_accuracy"]["values"][i].as_f64().unwrap();
            assert_eq!(d.as_f64().unwrap(), a - b, "{arm} seed {i}");
        }
        assert!(paired[arm]["last_epoch"]["mean"].is_number());
    }
    for f in ["traversal.png", "reconstructions.png", "clusters.png"] {
        assert!(a.join("seed-1235").join(f).exists(), "seed-1235/{f} missing");
    }
    let md = std::fs::read_to_string(a.join("report.md")).unwrap();
    assert!(md.contains("detaux-mtl") && md.contains("curves.png") && md.contains("traversal.png"));
    assert!(md.contains("## Stage-1 verdict") && md.contains("## Paired differences") && md.contains("| s0 |"));

    let mut rb = short_run(&b, "2");
    ra.as_object_mut().unwrap().remove("timing");
    rb.as_object_mut().unwrap().remove("timing");
    assert_eq!(ra, rb, "report.json differs between 1 and 2 threads (beyond timing)");
    for seed in [1234, 1236] {
        assert_eq!(
            std::fs::read(a.join(format!("seed-{seed}/aux_labels.npy"))).unwrap(),
            std::fs::read(b.join(format!("seed-{seed}/aux_labels.npy"))).unwrap()
        );
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = scratch("bad");
    let d = dir.to_str().unwrap();
    let cases: [(&[&str], &str); 13] = [
        (&["--dis-epochs", "0"], "--dis-epochs"),
        (&["--pairs-per-epoch", "0"], "--pairs-per-epoch"),
        (&["--clustering", "spectral:4"], "--clustering"),
        (&["--clustering", "kmeans:1"], "--clustering"),
        (&["--preset", "imagenet"], "--preset"),
        (&["--seeds", "0"], "--seeds"),
        (&["--weighting", "magic"], "magic"),
        (&["--dataset", "npy:/nonexistent/detaux-dir"], "/nonexistent/detaux-dir"),
        (&["--lambda-distance=-1"], "--lambda-distance"),
        (&["--oracle-aux", "colour"], "--oracle-aux"),
        (&["--seeds", "1000000"], "--seeds"),
        (&["--stage1-from", "/nonexistent/detaux-run"], "--stage1-from"),
        (&["--dis-batch-size", "0"], "batch"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run", "--out", d];
        args.extend_from_slice(extra);
        let (code, _, err) = detaux(&args);
        assert_ne!(code, 0, "{extra:?} should fail");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{extra:?}: expected one line, got {err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{extra:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A clustering that finds a single label can only be known after stage 1: the run fails with
/// one line that says so and how to keep stage 1, and `--resume` with another clustering then
/// reuses the finished stage 1 instead of training it again.
#[test]
fn a_one_label_clustering_fails_after_stage1_and_resume_keeps_stage1() {
    let dir = scratch("one-label");
    let d = dir.to_str().unwrap();
    let base = [
        "run",
        "--dataset",
        "digits",
        "--out",
        d,
        "--seeds",
        "1",
        "--dis-epochs",
        "2",
        "--pairs-per-epoch",
        "64",
        "--epochs",
        "1",
        "--train-fraction",
        "0.2",
        "--threads",
        "2",
    ];
    // At most 230 training codes: a minimum cluster size of 1 000 leaves one label.
    let (code, _, err) = detaux(&[&base[..], &["--clustering", "hdbscan:1000"]].concat());
    assert_eq!(code, 2, "{err}");
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or_default().to_string();
    assert!(line.contains("seed 1234: stage 2 found 1 auxiliary label") && line.contains("--resume"), "{err}");
    let stage1 = dir.join("seed-1234").join("stage1.safetensors");
    let before = std::fs::read(&stage1).expect("the finished stage 1 is kept");
    let (code, _, err) = detaux(&[&base[..], &["--clustering", "kmeans:3", "--resume"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("disentangle epoch"), "stage 1 trained again: {err}");
    assert_eq!(std::fs::read(&stage1).unwrap(), before, "stage 1 changed on resume");
    let _ = std::fs::remove_dir_all(&dir);
}
