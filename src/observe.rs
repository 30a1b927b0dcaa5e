//! The observer shape both trainers share.
//!
//! Stage 1 ([`crate::stage1::Observer`]) and stage 3 ([`crate::mtl::Observer`]) call their
//! observer after every optimiser step with a step record and after every epoch with an epoch
//! record, each time with the trainer (its counters already advanced), and each callback
//! returns `Result<`[`Control`]`>`: an error aborts the run and is returned by the trainer,
//! [`Control::Stop`] ends it early in a consistent state. Both callbacks default to
//! [`Control::Continue`], so an observer implements only what it needs. The library prints
//! nothing itself: progress bars, logs and checkpoints are observers.

/// What an observer wants after a step or an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// End the run now (the trainer's state is consistent; stage 1 can resume later, stage 3
    /// reports the epochs so far).
    Stop,
}
