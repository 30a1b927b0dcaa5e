//! Stage 1: weakly supervised, forced disentanglement (reference `detaux.py` + `BasicModel`).
//!
//! - [`schedule`]: the β ramps and the 25% reconstruction-only warm-up;
//! - [`step`]: one training step — every loss term of `training_step`, weighted;
//! - [`train`]: the training loop ([`Stage1Trainer`], [`Stage1Config`], [`Observer`]), held-out split,
//!   validation loss, resumable [`TrainState`], latent encoding and export;
//! - [`checkpoint`] (feature `io`): safetensors-compatible checkpoints, atomic, checked on load;
//! - [`run_dir`] (feature `io`): the run directory (checkpoint, log, latents, probe) a
//!   resumable run writes and stage 2 reads;
//! - [`pictures`]: reconstructions and the latent traversal grid;
//! - [`mod@probe`]: k-NN probe accuracy per (subspace, factor) on held-out images.
//!
//! # Library API (what `detaux disentangle` and the pipeline call)
//! ```no_run
//! use detaux::data::spec::DatasetSpec;
//! use detaux::rng::SeedTree;
//! use detaux::stage1::{export_latents, probe, NoObserver, ProbeConfig, Stage1Config, Stage1Trainer};
//! let data = "shapes3d-synth:2000".parse::<DatasetSpec>()?.load(&SeedTree::new(1234))?.to_model_input(64, 3)?;
//! let config = Stage1Config { epochs: 4, pairs_per_epoch: Some(640), principal: Some("object_hue".into()), ..Stage1Config::default() };
//! let mut trainer = Stage1Trainer::new(config, &data)?;
//! trainer.run(&data, &mut NoObserver)?;           // or an Observer for progress / checkpoints
//! let latents = export_latents(trainer.model(), &data)?;   // [n, K, d], dataset order
//! let held_out = &trainer.split().test;
//! let codes = detaux::stage1::encode_subspaces(trainer.model(), &data, held_out)?;
//! let factors = data.factors().select(ndarray::Axis(0), held_out);
//! let names: Vec<String> = data.factor_specs().iter().map(|s| s.name.clone()).collect();
//! let table = probe(codes.view(), factors.view(), &names, ProbeConfig::default(), &SeedTree::new(1234).child("probe"))?;
//! println!("{}", table.to_text());
//! # Ok::<(), detaux::Error>(())
//! ```
//! Resume: `Stage1Trainer::restore(config, &data, checkpoint.state)` with a
//! [`checkpoint::load_checkpoint`] result; the run continues bitwise identically.

#[cfg(feature = "io")]
pub mod checkpoint;
pub mod pictures;
pub mod probe;
#[cfg(feature = "io")]
pub mod run_dir;
pub mod schedule;
pub mod step;
pub mod train;

pub use probe::{probe, probe_fit_score, ProbeConfig, ProbeTable};
pub use schedule::Betas;
pub use step::{training_step, LossConfig, LossTerms, StepResult};
pub use train::{
    decode_subspaces, encode_subspaces, export_latents, held_out_split, reconstruction_error, Control, NoObserver,
    Observed, Observer, OracleMode, RunEnd, Stage1Config, Stage1Epoch, Stage1Step, Stage1Trainer, TrainState,
};
