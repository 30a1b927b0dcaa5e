//! The stage-3 report: arms × seeds on a tiny digits setting → report.json / report.md /
//! curves.png; summary statistics; control tasks.
#![cfg(feature = "cli")]

use detaux::mtl::data::{experiment_splits, principal_task, random_labels, SplitConfig};
use detaux::mtl::report::{mean_std, pixel_features, pixel_kmeans_task, run_arm, Report};
use detaux::mtl::train::{NoObserver, TrainConfig};
use detaux::mtl::weighting::WeightingSpec;
use detaux::rng::SeedTree;
use serde_json::{json, Value};

#[test]
fn mean_and_sample_std_by_hand() {
    let (m, s) = mean_std(&[0.5, 0.7, 0.9]);
    assert!((m - 0.7).abs() < 1e-12);
    assert!((s - 0.2).abs() < 1e-12); // sqrt((0.04 + 0 + 0.04) / 2)
    assert_eq!(mean_std(&[0.3]), (0.3, 0.0));
}

#[test]
fn control_tasks_are_seeded_and_checked() {
    let data = detaux::data::digits::load().unwrap();
    let a = random_labels(data.len(), 5, &SeedTree::new(3)).unwrap();
    let b = random_labels(data.len(), 5, &SeedTree::new(3)).unwrap();
    let c = random_labels(data.len(), 5, &SeedTree::new(4)).unwrap();
    assert_eq!(a.labels, b.labels);
    assert_ne!(a.labels, c.labels);
    assert_eq!(a.classes, 5);
    assert!((0..5).all(|k| a.labels.contains(&k)));
    assert!(random_labels(10, 1, &SeedTree::new(0)).is_err());
    let t = pixel_kmeans_task(&data, (0..data.len()).map(|i| i % 3).collect()).unwrap();
    assert_eq!((t.name.as_str(), t.classes), ("pixel-kmeans-aux", 3));
    assert!(pixel_kmeans_task(&data, vec![0, 1]).is_err());
    let f = pixel_features(&data, &[0, 1]);
    assert_eq!(f.shape(), &[2, 64]);
    assert_eq!(f[[0, 5]], data.image(0)[5] as f32 / 255.0);
}

#[test]
fn report_of_two_arms_and_two_seeds_is_written_and_consistent() {
    let data = detaux::data::digits::load().unwrap().to_model_input(64, 1).unwrap();
    let split_cfg = SplitConfig { test_fraction: 0.05, train_fraction: Some(0.05), val_fraction: None };
    let splits = experiment_splits(&data, &split_cfg, &SeedTree::new(0)).unwrap();
    let principal = principal_task(&data).unwrap();
    let cfg = TrainConfig { epochs: 2, widths: vec![4, 4, 8, 8], hidden: 16, ..TrainConfig::default() };
    let mut report = Report { config: json!({"preset": "test"}), details: json!({"subspace": 3}), ..Report::default() };
    for seed in [1u64, 2] {
        let rnd = random_labels(data.len(), 4, &SeedTree::new(seed)).unwrap();
        report.runs.push(
            run_arm("stl", &data, &splits, &principal, None, &WeightingSpec::Equal, &cfg, seed, &mut NoObserver)
                .unwrap(),
        );
        report.runs.push(
            run_arm(
                "random-aux",
                &data,
                &splits,
                &principal,
                Some(&rnd),
                &WeightingSpec::Equal,
                &cfg,
                seed,
                &mut NoObserver,
            )
            .unwrap(),
        );
    }
    report.stage_seconds = vec![("stage3".into(), 1.5)];
    report.figures = vec![("cluster scatter".into(), "clusters.png".into())];
    let dir = std::env::temp_dir().join(format!("detaux-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    report.write(&dir).unwrap();
    let j: Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(j["seeds"], json!([1, 2]));
    assert_eq!(j["details"]["subspace"], 3);
    for arm in ["stl", "random-aux"] {
        let a = &j["arms"][arm]["principal_test_accuracy"];
        let vals: Vec<f64> = a["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let expect: Vec<f64> =
            report.runs.iter().filter(|r| r.arm == arm).map(|r| r.outcome.principal_test().accuracy).collect();
        assert_eq!(vals, expect);
        let (m, s) = mean_std(&vals);
        assert_eq!(a["mean"].as_f64().unwrap(), m);
        assert_eq!(a["std"].as_f64().unwrap(), s);
        assert_eq!(j["arms"][arm]["runs"].as_array().unwrap().len(), 2);
    }
    assert_eq!(j["arms"]["random-aux"]["runs"][0]["tasks"][1]["classes"], 4);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| stl |")
            && md.contains("| random-aux |")
            && md.contains("curves.png")
            && md.contains("clusters.png")
    );
    assert!(md.find("| stl |").unwrap() < md.find("| random-aux |").unwrap());
    let png = std::fs::read(dir.join("curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(report.summary_text().lines().count() == 3, "{}", report.summary_text());
    // The curves differ between arms somewhere (the picture is drawn from real runs).
    let canvas = report.curves_canvas();
    let coloured = canvas.pixels().chunks(3).filter(|p| p[0] != p[1] || p[1] != p[2]).count();
    assert!(coloured > 100);
    // Everything but "timing" is reproducible: a second identical report gives the same JSON.
    let mut j2 = report.to_json();
    let mut j1 = j.clone();
    j1.as_object_mut().unwrap().remove("timing");
    j2.as_object_mut().unwrap().remove("timing");
    assert_eq!(j1, j2);
}

#[test]
fn all_arms_of_one_seed_share_the_split_and_the_principal_task() {
    use detaux::mtl::report::{run_all_arms, SeedTasks};
    let data = detaux::data::digits::load().unwrap().to_model_input(64, 1).unwrap();
    let split_cfg = SplitConfig { test_fraction: 0.05, train_fraction: Some(0.03), val_fraction: None };
    let splits = experiment_splits(&data, &split_cfg, &SeedTree::new(0)).unwrap();
    let principal = principal_task(&data).unwrap();
    let discovered = detaux::mtl::data::labels_task("aux", (0..data.len()).map(|i| i % 3).collect()).unwrap();
    let pixel = pixel_kmeans_task(&data, (0..data.len()).map(|i| (i / 7) % 2).collect()).unwrap();
    let cfg = TrainConfig { epochs: 1, widths: vec![4, 4, 8, 8], hidden: 16, ..TrainConfig::default() };
    let tasks = SeedTasks { seed: 3, discovered, pixel_kmeans: Some(pixel), oracle: Vec::new() };
    let mut seen = Vec::new();
    let runs = run_all_arms(&data, &splits, &principal, &tasks, &WeightingSpec::Uncertainty, &cfg, &mut |a, s| {
        seen.push((a.to_string(), s));
        Box::new(NoObserver)
    })
    .unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r.arm.as_str()).collect();
    assert_eq!(names, vec!["stl", "detaux-mtl", "random-aux", "pixel-kmeans-aux"]);
    assert_eq!(seen.len(), 4);
    assert_eq!(runs[0].outcome.weighting, "equal");
    assert_eq!(runs[1].outcome.weighting, "uw");
    assert_eq!(runs[2].outcome.task_classes, vec![10, 3]);
    assert_eq!(runs[3].outcome.task_classes, vec![10, 2]);
    assert!(runs.iter().all(|r| r.outcome.steps == runs[0].outcome.steps));
}

#[test]
fn pixel_kmeans_control_clusters_raw_digits_into_meaningful_groups() {
    use detaux::cluster::metrics::normalized_mutual_info;
    use detaux::cluster::KMeans;
    use detaux::mtl::report::pixel_kmeans_control;
    let data = detaux::data::digits::load().unwrap(); // raw 8x8
    let fit: Vec<usize> = (0..data.len()).collect();
    let km = KMeans::new(10).n_init(2).seed(5);
    let t = pixel_kmeans_control(&data, &fit, 600, &km, &SeedTree::new(1)).unwrap();
    let t2 = pixel_kmeans_control(&data, &fit, 600, &km, &SeedTree::new(1)).unwrap();
    assert_eq!(t.labels, t2.labels);
    assert_eq!(t.labels.len(), data.len());
    assert!(t.classes >= 2 && t.classes <= 10);
    let truth: Vec<i64> = data.labels(0).iter().map(|&v| v as i64).collect();
    let pred: Vec<i64> = t.labels.iter().map(|&v| v as i64).collect();
    let nmi = normalized_mutual_info(&truth, &pred).unwrap();
    assert!(nmi > 0.5, "NMI {nmi}");
    assert!(pixel_kmeans_control(&data, &fit, 0, &km, &SeedTree::new(1)).is_err());
}
