//! The one observer shape of both trainers.
//!
//! A training loop ([`Observed`]: the stage-1 [`crate::stage1::Stage1Trainer`] and the stage-3
//! [`crate::mtl::MtlTrainer`]) calls its [`Observer`] after every optimiser step with a step
//! record and after every epoch with an epoch record, each time with the trainer (its counters
//! already advanced), and each callback returns `Result<`[`Control`]`>`: an error aborts the
//! run and is returned by the trainer, [`Control::Stop`] ends it early in a consistent state
//! (what "consistent" means is each trainer's: stage 1 can resume, stage 3 reports the epochs
//! so far). Both callbacks default to [`Control::Continue`], so an observer implements only
//! what it needs, and a wrapper written once for `Observer<T>` serves both stages. The
//! library prints nothing itself: progress bars, logs and checkpoints are observers.

use crate::error::Result;

/// What an observer wants after a step or an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// End the run now (the trainer's state is consistent; stage 1 can resume later, stage 3
    /// reports the epochs so far).
    Stop,
}

/// A training loop that reports to an [`Observer`]: the records it hands over.
pub trait Observed {
    /// The record of one optimiser step.
    type Step;
    /// The record of one epoch.
    type Epoch;
}

/// Progress callbacks of a training loop `T` (see the module docs).
pub trait Observer<T: Observed + ?Sized> {
    /// After every optimiser step.
    ///
    /// # Errors
    /// Any error aborts the run and is returned by the trainer.
    fn on_step(&mut self, _trainer: &T, _record: &T::Step) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After every epoch (and its evaluation).
    ///
    /// # Errors
    /// Any error aborts the run and is returned by the trainer.
    fn on_epoch(&mut self, _trainer: &T, _record: &T::Epoch) -> Result<Control> {
        Ok(Control::Continue)
    }
}

/// An observer that does nothing.
pub struct NoObserver;
impl<T: Observed + ?Sized> Observer<T> for NoObserver {}
