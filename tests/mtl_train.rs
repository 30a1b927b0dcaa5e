//! Stage 3 end to end: `detaux train` with every weighting strategy on a tiny digits setting
//! (small trunk so each run takes well under a second), determinism across thread counts,
//! model selection on validation only, and bad inputs.
#![cfg(feature = "cli")]

use detaux::io::write_npy;
use detaux::mtl::data::{experiment_splits, principal_task, random_labels, SplitConfig};
use detaux::mtl::train::{train, NoObserver, TrainConfig};
use detaux::mtl::weighting::WeightingSpec;
use detaux::rng::SeedTree;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::cli::detaux;

fn scratch(name: &str) -> PathBuf {
    common::cli::scratch_dir("mtl", name)
}

/// Aux labels for the 1797 digits: a deterministic 4-class labelling.
fn aux_file(dir: &Path) -> PathBuf {
    let p = dir.join("aux.npy");
    let v: Vec<i64> = (0..1797).map(|i| (i * 7 % 4) as i64).collect();
    write_npy(&p, &[1797], &v).unwrap();
    p
}

const TINY: [&str; 10] = [
    "--train-fraction",
    "0.06",
    "--test-fraction",
    "0.05",
    "--trunk-widths",
    "4,4,8,8",
    "--head-hidden",
    "32",
    "--seed",
    "9",
];

fn run_train(out: &Path, aux: &str, weighting: &str, epochs: usize, threads: usize) -> Value {
    let mut args = vec![
        "train",
        "--dataset",
        "digits",
        "--aux-labels",
        aux,
        "--out",
        out.to_str().unwrap(),
        "--weighting",
        weighting,
    ];
    let e = epochs.to_string();
    let t = threads.to_string();
    args.extend(["--epochs", &e, "--threads", &t]);
    args.extend(TINY);
    let (code, stdout, err) = detaux(&args);
    assert_eq!(code, 0, "{weighting}: {err}");
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let m: Value = serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let lines = std::fs::read_to_string(out.join("epochs.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), epochs, "{lines}");
    for l in lines.lines() {
        let _: Value = serde_json::from_str(l).unwrap();
    }
    m
}

fn weights_of(m: &Value, epoch: usize) -> Vec<f64> {
    m["result"]["epochs"][epoch]["weights"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

fn check_metrics(m: &Value, tasks: usize) {
    let test = m["result"]["test"].as_array().unwrap();
    assert_eq!(test.len(), tasks);
    for t in test {
        for k in ["accuracy", "macro_f1"] {
            let v = t[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} {v}");
        }
        assert!(t["loss"].as_f64().unwrap().is_finite());
    }
}

#[test]
fn every_weighting_strategy_trains_end_to_end() {
    let dir = scratch("all");
    let aux = aux_file(&dir);
    let aux = aux.to_str().unwrap();
    for w in ["equal", "fixed:1,0.5", "uw", "dwa", "gradnorm", "pcgrad"] {
        let out = dir.join(w.replace([':', ','], "_"));
        let m = run_train(&out, aux, w, 3, 2);
        check_metrics(&m, 2);
        assert_eq!(m["result"]["tasks"][1]["classes"], 4);
        let (w0, w2) = (weights_of(&m, 0), weights_of(&m, 2));
        match w {
            "equal" | "pcgrad" => assert_eq!(w2, vec![1.0, 1.0]),
            "fixed:1,0.5" => assert_eq!(w2, vec![1.0, 0.5]),
            // DWA: equal for epochs 0 and 1, then loss-ratio weights summing to T.
            "dwa" => {
                assert_eq!(weights_of(&m, 1), vec![1.0, 1.0]);
                assert_ne!(w2, vec![1.0, 1.0]);
                assert!((w2.iter().sum::<f64>() - 2.0).abs() < 1e-9);
            }
            // GradNorm: λ = 1 through epoch 0, then T·softmax(ω) with ω trained.
            "gradnorm" => {
                assert_ne!(w2, vec![1.0, 1.0]);
                assert!((w2.iter().sum::<f64>() - 2.0).abs() < 1e-6);
            }
            // UW: s moves away from −0.5.
            "uw" => assert_ne!(w0, w2),
            _ => unreachable!(),
        }
    }
}

fn strip_timing(mut m: Value) -> Value {
    let o = m.as_object_mut().unwrap();
    o.remove("timing");
    o.remove("threads");
    for e in o["result"]["epochs"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("seconds");
    }
    m
}

#[test]
fn training_is_bitwise_identical_at_one_and_two_threads() {
    let dir = scratch("det");
    let aux = aux_file(&dir);
    for w in ["equal", "uw", "gradnorm", "pcgrad"] {
        let a = strip_timing(run_train(&dir.join(format!("{w}1")), aux.to_str().unwrap(), w, 2, 1));
        let b = strip_timing(run_train(&dir.join(format!("{w}2")), aux.to_str().unwrap(), w, 2, 2));
        // serde_json prints f64 with round-trip precision, so equal text = equal bits.
        assert_eq!(a.to_string(), b.to_string(), "{w}");
    }
}

#[test]
fn stl_baseline_runs_with_aux_none() {
    let dir = scratch("stl");
    let m = run_train(&dir, "none", "equal", 1, 1);
    check_metrics(&m, 1);
    assert_eq!(m["aux_labels"], Value::Null);
    assert_eq!(m["result"]["tasks"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_inputs_give_one_line_errors() {
    let dir = scratch("bad");
    let out = dir.join("o");
    let o = out.to_str().unwrap();
    let short = dir.join("short.npy");
    write_npy(&short, &[10], &[0i64; 10]).unwrap();
    let neg = dir.join("neg.npy");
    let mut v = vec![1i64; 1797];
    v[5] = -2;
    write_npy(&neg, &[1797], &v).unwrap();
    let float = dir.join("float.npy");
    write_npy(&float, &[1797], &vec![0.5f32; 1797]).unwrap();
    let missing = dir.join("missing.npy");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--aux-labels", short.to_str().unwrap()], "10 aux labels but the dataset has 1797 images"),
        (vec!["--aux-labels", neg.to_str().unwrap()], "aux label -2 at index 5 is negative"),
        (vec!["--aux-labels", float.to_str().unwrap()], "must be integers"),
        (vec!["--aux-labels", missing.to_str().unwrap()], "missing.npy"),
        (vec!["--aux-labels", "none", "--weighting", "softmax"], "unknown weighting 'softmax'"),
        (vec!["--aux-labels", "none", "--epochs", "0"], "--epochs"),
        (vec!["--aux-labels", "none", "--trunk-widths", "4,x"], "--trunk-widths"),
        (vec!["--aux-labels", "none", "--weighting", "fixed:1,2"], "fixed has 2 weight(s) but there are 1 task(s)"),
        (vec!["--aux-labels", "none", "--train-fraction", "1.5"], "train_fraction"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["train", "--dataset", "digits", "--out", o, "--epochs", "1"];
        // `--epochs` cases replace the default `--epochs 1`.
        if extra.contains(&"--epochs") {
            args.truncate(args.len() - 2);
        }
        args.extend(extra.iter().copied());
        let (code, _, err) = detaux(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(want), "{args:?}: {err}");
    }
}

#[test]
fn model_selection_uses_the_validation_split_never_test() {
    let seeds = SeedTree::new(4);
    let data = detaux::data::digits::load().unwrap().to_model_input(64, 1).unwrap();
    let split_cfg = SplitConfig { test_fraction: 0.05, train_fraction: Some(0.1), val_fraction: Some(0.3) };
    let splits = experiment_splits(&data, &split_cfg, &seeds).unwrap();
    let val = splits.val.clone().unwrap();
    assert!(!val.is_empty());
    // Disjoint train / val / test.
    let mut all: Vec<usize> = splits.train.iter().chain(&val).chain(&splits.test).copied().collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n);
    let tasks = vec![principal_task(&data).unwrap(), random_labels(data.len(), 3, &seeds).unwrap()];
    let cfg = TrainConfig { epochs: 4, widths: vec![4, 4, 8, 8], hidden: 32, lr: 1e-3, ..TrainConfig::default() };
    let out = train(&data, &tasks, &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut NoObserver).unwrap();
    assert_eq!(out.selection, "best_val_principal_accuracy");
    let accs: Vec<f64> = out.epochs.iter().map(|r| r.val.as_ref().unwrap()[0].accuracy).collect();
    let best = accs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(out.selected_epoch, accs.iter().position(|&a| a == best).unwrap());
    assert_eq!(out.principal_test(), out.epochs[out.selected_epoch].test[0]);
    // The STL baseline (principal task only) trains the same way and starts from the same weights.
    let stl = train(&data, &tasks[..1], &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut NoObserver).unwrap();
    assert_eq!(stl.task_names, vec!["label".to_string()]);
    assert_eq!(stl.steps, out.steps);
}

#[test]
fn training_lowers_the_loss_on_an_easy_setting() {
    // Larger lr so that a few epochs visibly learn: the principal training loss must fall.
    let seeds = SeedTree::new(1);
    let data = detaux::data::digits::load().unwrap().to_model_input(64, 1).unwrap();
    let split_cfg = SplitConfig { test_fraction: 0.05, train_fraction: Some(0.15), val_fraction: None };
    let splits = experiment_splits(&data, &split_cfg, &seeds).unwrap();
    let tasks = vec![principal_task(&data).unwrap()];
    let cfg = TrainConfig { epochs: 6, widths: vec![8, 8, 16, 16], hidden: 64, lr: 2e-3, ..TrainConfig::default() };
    let out = train(&data, &tasks, &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut NoObserver).unwrap();
    let first = out.epochs[0].train[0].loss;
    let last = out.epochs.last().unwrap().train[0].loss;
    assert!(last < 0.8 * first, "train loss {first} -> {last}");
    assert!(out.principal_test().accuracy > 0.3, "{:?}", out.principal_test());
}

#[test]
fn default_trunk_steps_are_bitwise_identical_at_one_and_two_threads() {
    use detaux::mtl::train::MtlTrainer;
    use detaux::nn::Module;
    use detaux::par::ThreadPool;
    use rand::Rng;
    let mut rng = SeedTree::new(5).rng("data");
    let x = ndarray::Array4::from_shape_fn((8, 3, 64, 64), |_| rng.gen::<f32>());
    let y: Vec<Vec<usize>> = vec![(0..8).map(|i| i % 4).collect(), (0..8).map(|i| i % 6).collect()];
    for w in ["equal", "gradnorm"] {
        let spec: WeightingSpec = w.parse().unwrap();
        let params = |threads: usize| {
            let pool = ThreadPool::new(threads).unwrap();
            pool.install(|| {
                let mut t =
                    MtlTrainer::new(&TrainConfig::default(), 3, 64, vec![4, 6], &spec, &SeedTree::new(2)).unwrap();
                let mut losses = Vec::new();
                for _ in 0..2 {
                    losses.push(t.step(&x, &y).unwrap().total.to_bits());
                }
                t.end_epoch(&[1.5, 1.8]);
                losses.push(t.step(&x, &y).unwrap().total.to_bits());
                let mut bits = Vec::new();
                t.model.visit_params(&mut |p| bits.extend(p.value.iter().map(|v| v.to_bits())));
                (losses, bits)
            })
        };
        assert!(params(1) == params(2), "{w}");
    }
}

#[test]
fn cluster_ids_convert_to_labels() {
    assert_eq!(detaux::mtl::data::labels_from_i64(&[0, 2, 1]).unwrap(), vec![0, 2, 1]);
    let e = detaux::mtl::data::labels_from_i64(&[0, -1]).unwrap_err().to_string();
    assert!(e.contains("-1 at index 1"), "{e}");
}

#[test]
fn an_observer_can_stop_stage3_and_sees_every_step() {
    use detaux::mtl::train::{Control, MtlEpoch, MtlStep, MtlTrainer, Observer};
    struct StopAt {
        step: Option<usize>,
        epoch: Option<usize>,
        steps: Vec<MtlStep>,
        epochs: usize,
    }
    impl Observer<MtlTrainer> for StopAt {
        fn on_step(&mut self, _: &MtlTrainer, r: &MtlStep) -> detaux::Result<Control> {
            self.steps.push(*r);
            Ok(if Some(r.global_step) == self.step { Control::Stop } else { Control::Continue })
        }
        fn on_epoch(&mut self, _: &MtlTrainer, r: &MtlEpoch) -> detaux::Result<Control> {
            self.epochs += 1;
            Ok(if Some(r.epoch) == self.epoch { Control::Stop } else { Control::Continue })
        }
    }
    let seeds = SeedTree::new(2);
    let data = detaux::data::digits::load().unwrap().to_model_input(32, 1).unwrap();
    let split_cfg = SplitConfig { test_fraction: 0.05, train_fraction: Some(0.1), val_fraction: None };
    let splits = experiment_splits(&data, &split_cfg, &seeds).unwrap();
    let tasks = vec![principal_task(&data).unwrap()];
    let cfg = TrainConfig { epochs: 3, widths: vec![4, 8, 8], hidden: 16, ..TrainConfig::default() };
    let per_epoch = splits.train.len().div_ceil(cfg.batch_size);
    assert!(per_epoch >= 3);
    // Every step is reported, numbered 1.., with the run's totals.
    let mut all = StopAt { step: None, epoch: None, steps: vec![], epochs: 0 };
    let full = train(&data, &tasks, &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut all).unwrap();
    assert_eq!(all.steps.len(), 3 * per_epoch);
    assert!(all.steps.iter().enumerate().all(|(i, r)| r.global_step == i + 1 && r.total_steps == 3 * per_epoch));
    assert_eq!((all.epochs, full.epochs.len(), full.steps), (3, 3, 3 * per_epoch));
    // Stop from on_epoch: the epochs so far are reported, the first identical to the full run's.
    let mut at_epoch = StopAt { step: None, epoch: Some(0), steps: vec![], epochs: 0 };
    let one = train(&data, &tasks, &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut at_epoch).unwrap();
    assert_eq!((one.epochs.len(), one.steps, one.selected_epoch), (1, per_epoch, 0));
    assert_eq!(one.epochs[0].test, full.epochs[0].test);
    // Stop from on_step: training ends after that step; the partial epoch is evaluated.
    let mut at_step = StopAt { step: Some(per_epoch + 2), epoch: None, steps: vec![], epochs: 0 };
    let partial = train(&data, &tasks, &splits, &WeightingSpec::Equal, &cfg, &seeds, &mut at_step).unwrap();
    assert_eq!((partial.epochs.len(), partial.steps, at_step.epochs), (2, per_epoch + 2, 2));
    assert_eq!(partial.epochs[0].test, full.epochs[0].test);
    assert!(partial.epochs[1].train[0].loss.is_finite());
}
