//! Stage 1: weakly supervised, forced disentanglement (reference `detaux.py` + `BasicModel`).
//!
//! - [`schedule`]: the β ramps and the 25% reconstruction-only warm-up;
//! - [`step`]: one training step — every loss term of `training_step`, weighted;

pub mod schedule;
pub mod step;

pub use schedule::Betas;
pub use step::{training_step, LossConfig, LossTerms, StepResult};
