//! Classification metrics and evaluation of an [`MtlModel`] on a set of images.
//!
//! * accuracy = `#{ŷ = y} / n`;
//! * macro-F1 = mean over classes `c` of `F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)`, over the
//!   classes that occur in `y` or `ŷ` (scikit-learn `f1_score(average="macro")`, whose label set
//!   is the union of true and predicted labels; a class with `TP + FP + FN = 0` never enters).
//! * `ŷ = argmax` of the logits (first maximum on ties).
//!
//! Evaluation runs in inference mode (dropout off), in batches of the given size, in index
//! order; per-task mean cross-entropy is a sample-weighted mean of batch means, summed in f64 in
//! batch order. **Determinism**: no reduction depends on the thread count.

use super::model::MtlModel;
use crate::autodiff::Tape;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::Mode;

/// Loss, accuracy and macro-F1 of one task on one split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskMetrics {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Macro-averaged F1 (see the module docs).
    pub macro_f1: f64,
}

/// Fraction of `pred[i] == truth[i]` (0 for empty input).
pub fn accuracy(truth: &[usize], pred: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    truth.iter().zip(pred).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64
}

/// Macro-F1 over the classes present in `truth` or `pred` (see the module docs; 0 for empty input).
pub fn macro_f1(truth: &[usize], pred: &[usize]) -> f64 {
    let c = truth.iter().chain(pred).copied().max().map_or(0, |m| m + 1);
    let (mut tp, mut fp, mut fneg) = (vec![0usize; c], vec![0usize; c], vec![0usize; c]);
    for (&t, &p) in truth.iter().zip(pred) {
        if t == p {
            tp[t] += 1;
        } else {
            fp[p] += 1;
            fneg[t] += 1;
        }
    }
    let mut sum = 0.0;
    let mut classes = 0usize;
    for k in 0..c {
        let denom = 2 * tp[k] + fp[k] + fneg[k];
        if denom > 0 {
            sum += 2.0 * tp[k] as f64 / denom as f64;
            classes += 1;
        }
    }
    if classes == 0 {
        0.0
    } else {
        sum / classes as f64
    }
}

/// Index of the first maximum of each row of `[n, c]` logits.
pub fn argmax_rows(logits: &ndarray::ArrayD<f32>) -> Vec<usize> {
    logits
        .outer_iter()
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// Evaluates every task of `model` on images `indices` of `data`; `labels[t][i]` is task `t`'s
/// label of dataset image `i`.
///
/// # Errors
/// [`Error::InvalidParam`] for `batch_size == 0` or an empty index list; shape or label errors
/// from the model.
pub fn evaluate(
    model: &MtlModel,
    data: &Dataset,
    indices: &[usize],
    labels: &[Vec<usize>],
    batch_size: usize,
) -> Result<Vec<TaskMetrics>> {
    if batch_size == 0 {
        return Err(Error::param("eval batch size", "must be >= 1, got 0"));
    }
    if indices.is_empty() {
        return Err(Error::param("evaluation split", "is empty"));
    }
    let t = model.n_tasks();
    let mut loss_sum = vec![0.0f64; t];
    let mut preds: Vec<Vec<usize>> = vec![Vec::with_capacity(indices.len()); t];
    for chunk in indices.chunks(batch_size) {
        let tape = Tape::<f32>::new();
        let x = tape.constant(data.batch_nchw(chunk).into_dyn());
        let z = model.features(x)?;
        for task in 0..t {
            let logits = model.head_logits(task, z, &mut Mode::Eval)?;
            let y: Vec<usize> = chunk.iter().map(|&i| labels[task][i]).collect();
            let l = logits.cross_entropy(&y)?.scalar()? as f64;
            loss_sum[task] += l * chunk.len() as f64;
            preds[task].extend(argmax_rows(&logits.value()));
        }
    }
    Ok((0..t)
        .map(|task| {
            let truth: Vec<usize> = indices.iter().map(|&i| labels[task][i]).collect();
            TaskMetrics {
                loss: loss_sum[task] / indices.len() as f64,
                accuracy: accuracy(&truth, &preds[task]),
                macro_f1: macro_f1(&truth, &preds[task]),
            }
        })
        .collect())
}
