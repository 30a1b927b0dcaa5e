//! Bounds on every size that user input decides, stated once and checked before allocating.
//!
//! A file or a flag can ask for any size; the machine and the model cannot hold any size. Each
//! bound below is what a CPU training run can use in practice, with a wide margin over every
//! preset and every dataset the crate reads (MNIST, CIFAR-10, 3DShapes, dSprites and their
//! synthetic versions):
//!
//! | bound | value | why |
//! |---|---|---|
//! | [`MAX_CLASSES`] | 65 536 | classes of one task, values of one factor: a head `[h, classes]` and per-class counts are allocated from it |
//! | [`MAX_PAIRS_PER_EPOCH`] | 10 000 000 | stage-1 pair indices of one epoch are drawn up front (16 bytes a pair: 160 MB) |
//! | [`MAX_PARAMS`] | 2²⁵ ≈ 33.5 M | model parameters; training holds about five f32 copies (weights, gradients, two Adam moments, a snapshot): ≈ 670 MB |
//! | [`MAX_SUBSPACES`] | 1 024 | stage-1 subspaces `K`; the losses compare subspaces pairwise (`K²` terms a pair) |
//! | [`MAX_THREADS`] | 256 | worker threads of the pool |
//!
//! Every check returns [`Error::InvalidParam`] (a flag or field) or [`Error::InvalidData`]
//! naming the offending value and the bound, before any buffer of that size exists.
//!
//! **Determinism**: checks only; nothing here changes a result that passes them.

use crate::error::{Error, Result};

/// Most classes of one task (or values of one factor).
pub const MAX_CLASSES: usize = 65_536;
/// Most stage-1 pairs in one epoch.
pub const MAX_PAIRS_PER_EPOCH: usize = 10_000_000;
/// Most trainable parameters of a model.
pub const MAX_PARAMS: u128 = 1 << 25;
/// Most stage-1 subspaces.
pub const MAX_SUBSPACES: usize = 1024;
/// Most worker threads.
pub const MAX_THREADS: usize = 256;
/// Largest side of the models' square input (the resize to it allocates `n · side² · c` bytes).
pub const MAX_IMAGE_SIDE: usize = 1024;

/// Checks a parameter count (computed in `u128`, so no size overflows first).
///
/// # Errors
/// [`Error::InvalidParam`] named `name` when `params > MAX_PARAMS`; `hint` says which flags
/// set the size.
pub fn check_params(name: &str, params: u128, hint: &str) -> Result<()> {
    if params > MAX_PARAMS {
        return Err(Error::param(
            name,
            format!("the model would have {params} parameters, more than the {MAX_PARAMS} this build trains; {hint}"),
        ));
    }
    Ok(())
}

/// Checks a class count (or factor cardinality) against [`MAX_CLASSES`].
///
/// # Errors
/// [`Error::InvalidData`] naming `what` when `classes > MAX_CLASSES`.
pub fn check_classes(what: &str, classes: u64) -> Result<()> {
    if classes > MAX_CLASSES as u64 {
        return Err(Error::InvalidData(format!(
            "{what}: {classes} classes (largest label + 1) is more than the {MAX_CLASSES} a task may have"
        )));
    }
    Ok(())
}

/// Checks that the labels `0..classes` all occur: a head for an absent class would be trained
/// on no image, so sparse ids are refused (re-index them to `0..k` first).
///
/// # Errors
/// [`Error::InvalidData`] naming `what`, the number of absent ids and the first few.
pub fn check_dense<I: IntoIterator<Item = usize>>(what: &str, labels: I, classes: usize) -> Result<()> {
    let mut seen = vec![false; classes];
    for l in labels {
        if let Some(s) = seen.get_mut(l) {
            *s = true;
        }
    }
    let missing: Vec<usize> = seen.iter().enumerate().filter(|(_, &s)| !s).map(|(i, _)| i).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = missing.iter().take(5).map(|m| m.to_string()).collect();
    Err(Error::InvalidData(format!(
        "{what}: labels span 0..{classes} but {} of those ids never occur ({}{}); class ids must be 0..k-1 with \
         every class present (re-index them)",
        missing.len(),
        shown.join(", "),
        if missing.len() > 5 { ", ..." } else { "" }
    )))
}

/// Checks an image side against `1..=MAX_IMAGE_SIDE`.
///
/// # Errors
/// [`Error::InvalidParam`] named `name`.
pub fn check_image_side(name: &str, side: usize) -> Result<()> {
    if side == 0 || side > MAX_IMAGE_SIDE {
        return Err(Error::param(name, format!("must be in 1..={MAX_IMAGE_SIDE}, got {side}")));
    }
    Ok(())
}

/// Checks a thread count against `1..=MAX_THREADS`.
///
/// # Errors
/// [`Error::InvalidParam`] named `name`.
pub fn check_threads(name: &str, threads: usize) -> Result<()> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(Error::param(name, format!("must be in 1..={MAX_THREADS}, got {threads}")));
    }
    Ok(())
}
