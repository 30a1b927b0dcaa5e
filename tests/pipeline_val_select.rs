//! The `detaux-mtl-val` arm: candidates are scored on the validation split, the best is
//! trained in full; with the rule's own subspace and clustering as the only candidate it
//! reproduces `detaux-mtl` bitwise; without a validation split it is refused.
// Without io the digits tests are out, and some imports with them.
#![cfg_attr(not(feature = "io"), allow(unused_imports, dead_code))]

use detaux::pipeline::{Experiment, ExperimentConfig, Quiet, ValSelection};
use detaux::Error;

mod common;

fn tiny_config() -> ExperimentConfig {
    common::tiny_pipeline_config()
}

fn accuracies(report: &detaux::pipeline::ExperimentReport, arm: &str) -> Vec<f64> {
    let run = report.runs.runs.iter().find(|r| r.arm == arm).unwrap_or_else(|| panic!("no arm {arm}"));
    run.outcome.epochs.iter().map(|e| e.test[0].accuracy).collect()
}

// The built-in digits are gzipped: they need the io feature.
#[cfg(feature = "io")]
#[test]
fn the_rules_own_candidate_reproduces_detaux_mtl_and_the_best_candidate_wins() {
    let config = tiny_config();
    let data = config.load_data().unwrap();
    let plain = Experiment::new(config.clone()).unwrap().run(&data, &mut Quiet).unwrap();
    let rule = plain.seeds[0].chosen_subspace;

    // One candidate: the rule's subspace with the pipeline's clustering = stage 2's task.
    let mut same = config.clone();
    same.pipeline.val_selection = Some(ValSelection { subspaces: Some(vec![rule]), clusterings: vec![], epochs: 1 });
    let r = Experiment::new(same).unwrap().run(&data, &mut Quiet).unwrap();
    assert_eq!(accuracies(&r, "detaux-mtl-val"), accuracies(&r, "detaux-mtl"));
    assert_eq!(accuracies(&r, "detaux-mtl"), accuracies(&plain, "detaux-mtl"), "the extra arm changed another arm");
    let sel = r.seeds[0].val_selection.as_ref().expect("selection recorded");
    assert_eq!(sel.candidates.len(), 1);
    assert_eq!((sel.candidates[0].subspace, sel.candidates[0].classes), (rule, 3));

    // Several candidates: the chosen one has the highest validation score (first on ties).
    let mut many = config.clone();
    many.pipeline.val_selection = Some(ValSelection {
        subspaces: Some(vec![1, 2, 3]),
        clusterings: vec!["kmeans:2".parse().unwrap(), "kmeans:4".parse().unwrap()],
        epochs: 2,
    });
    let r = Experiment::new(many).unwrap().run(&data, &mut Quiet).unwrap();
    let sel = r.seeds[0].val_selection.as_ref().unwrap();
    assert_eq!(sel.candidates.len(), 6);
    let scores: Vec<f64> = sel.candidates.iter().map(|c| c.val_accuracy.unwrap()).collect();
    let best = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(sel.chosen, scores.iter().position(|&s| s == best).unwrap());
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    assert_eq!(r.seeds[0].chosen_subspace, rule, "the rule's own arm is unchanged");
    assert!(r.paired().unwrap().iter().any(|p| p.arm == "detaux-mtl-val"));
    assert!(r.markdown().unwrap().contains("detaux-mtl-val"));
}

#[test]
fn detaux_mtl_val_needs_a_validation_split_and_valid_subspaces() {
    let mut c = tiny_config();
    c.pipeline.split.val_fraction = None;
    c.pipeline.val_selection = Some(ValSelection { subspaces: None, clusterings: vec![], epochs: 1 });
    assert!(matches!(Experiment::new(c), Err(Error::InvalidParam { name, .. }) if name == "--mtl-val-epochs"));
    for (subspaces, epochs) in [(Some(vec![0]), 1), (Some(vec![10]), 1), (Some(vec![]), 1), (None, 0)] {
        let mut c = tiny_config();
        c.pipeline.val_selection = Some(ValSelection { subspaces, clusterings: vec![], epochs });
        assert!(matches!(Experiment::new(c), Err(Error::InvalidParam { name, .. }) if name.starts_with("--mtl-val")));
    }
}
