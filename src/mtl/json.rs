//! JSON forms of training outcomes (`metrics.json`, `epochs.jsonl`, `report.json`); needs the
//! `io` feature (serde_json).
//!
//! Everything that is part of the determinism contract is under keys other than `"seconds"`
//! / `"timing"`, so two runs can be compared by dropping those.

use super::eval::TaskMetrics;
use super::train::{MtlEpoch, TrainOutcome};
use serde_json::{json, Value};

/// `{"loss", "accuracy", "macro_f1"}` per task, keyed by task name, in task order.
pub fn metrics_json(names: &[String], m: &[TaskMetrics]) -> Value {
    Value::Array(
        names
            .iter()
            .zip(m)
            .map(|(n, t)| json!({"task": n, "loss": t.loss, "accuracy": t.accuracy, "macro_f1": t.macro_f1}))
            .collect(),
    )
}

/// One epoch.
pub fn epoch_json(names: &[String], r: &MtlEpoch) -> Value {
    json!({
        "epoch": r.epoch,
        "total_loss": r.total_loss,
        "weights": r.weights,
        "train": metrics_json(names, &r.train),
        "val": r.val.as_ref().map(|v| metrics_json(names, v)),
        "test": metrics_json(names, &r.test),
        "seconds": r.seconds,
    })
}

/// The whole outcome (without run configuration).
pub fn outcome_json(o: &TrainOutcome) -> Value {
    let names = &o.task_names;
    json!({
        "weighting": o.weighting,
        "tasks": names.iter().zip(&o.task_classes).map(|(n, c)| json!({"name": n, "classes": c})).collect::<Vec<_>>(),
        "n_params": o.n_params,
        "steps": o.steps,
        "selection": o.selection,
        "selected_epoch": o.selected_epoch,
        "test": metrics_json(names, o.test()),
        "epochs": o.epochs.iter().map(|r| epoch_json(names, r)).collect::<Vec<_>>(),
    })
}
