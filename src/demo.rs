//! A small convolutional autoencoder trained on procedural images: the engine's end-to-end
//! demonstration (`detaux demo`), and the workload of the determinism and memory tests.
//!
//! Data: `n` grayscale `size × size` images, each a filled disc or square of random centre,
//! radius and brightness on a dark background, drawn from the seed's `"generate"` stream.
//!
//! Model (`size` divisible by 2): `Conv2d(1→c, k4, s2, p1) → ReLU → Flatten →
//! Linear(c·(size/2)² → latent) → ReLU → Linear(latent → c·(size/2)²) → ReLU → Unflatten →
//! ConvTranspose2d(c→1, k4, s2, p1)`, loss `MSE(x̂, x)`, Adam.
//!
//! ```
//! use detaux::demo::{train, DemoConfig};
//! let cfg = DemoConfig { steps: 5, ..DemoConfig::default() };
//! let run = train(&cfg, |_, _| {})?;
//! assert_eq!(run.losses.len(), 5);
//! # Ok::<(), detaux::Error>(())
//! ```

use crate::autodiff::{Tape, Tensor};
use crate::error::{Error, Result};
use crate::nn::{
    Conv2d, ConvConfig, ConvTranspose2d, Flatten, Forward, Linear, LinearConfig, Mode, Module, Relu, Sequential,
    Unflatten,
};
use crate::optim::{Adam, AdamConfig, Optimizer};
use crate::rng::{streams, SeedTree};
use ndarray::{Array4, Axis};
use rand::seq::SliceRandom;
use rand::Rng;

/// Settings of the demo run.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoConfig {
    /// Master seed. Default 1234.
    pub seed: u64,
    /// Images in the synthetic set. Default 512.
    pub n_images: usize,
    /// Image side (even, ≥ 4). Default 32.
    pub size: usize,
    /// Channels of the conv layer. Default 16.
    pub channels: usize,
    /// Latent width. Default 32.
    pub latent: usize,
    /// Batch size. Default 32.
    pub batch: usize,
    /// Training steps. Default 300.
    pub steps: usize,
    /// Adam learning rate. Default 2e-3.
    pub lr: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig { seed: 1234, n_images: 512, size: 32, channels: 16, latent: 32, batch: 32, steps: 300, lr: 2e-3 }
    }
}

impl DemoConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.size < 4 || !self.size.is_multiple_of(2) {
            return Err(Error::param("size", format!("must be even and >= 4, got {}", self.size)));
        }
        for (name, v) in
            [("n_images", self.n_images), ("channels", self.channels), ("latent", self.latent), ("batch", self.batch)]
        {
            if v == 0 {
                return Err(Error::param(name, "must be >= 1, got 0"));
            }
        }
        if self.batch > self.n_images {
            return Err(Error::param("batch", format!("{} exceeds n_images {}", self.batch, self.n_images)));
        }
        Ok(())
    }
}

/// The result of a demo run.
pub struct DemoRun {
    /// Loss of every step.
    pub losses: Vec<f32>,
    /// The trained model.
    pub model: Sequential<f32>,
    /// Tape nodes recorded per step (constant across steps).
    pub nodes_per_step: Vec<usize>,
}

/// The `[n, 1, size, size]` synthetic images (values in `[0, 1]`).
pub fn synthetic_images(cfg: &DemoConfig) -> Array4<f32> {
    let mut rng = SeedTree::new(cfg.seed).rng(streams::GENERATE);
    let s = cfg.size as f32;
    let mut x = Array4::<f32>::zeros((cfg.n_images, 1, cfg.size, cfg.size));
    for mut img in x.axis_iter_mut(Axis(0)) {
        let (cx, cy) = (rng.gen_range(0.25 * s..0.75 * s), rng.gen_range(0.25 * s..0.75 * s));
        let r = rng.gen_range(0.1 * s..0.3 * s);
        let level = rng.gen_range(0.5f32..1.0);
        let disc = rng.gen::<bool>();
        for i in 0..cfg.size {
            for j in 0..cfg.size {
                let (dy, dx) = (i as f32 + 0.5 - cy, j as f32 + 0.5 - cx);
                let inside = if disc { dx * dx + dy * dy <= r * r } else { dx.abs() <= r && dy.abs() <= r };
                img[[0, i, j]] = if inside { level } else { 0.05 };
            }
        }
    }
    x
}

/// The demo autoencoder, initialised from the seed's `"init"` stream.
///
/// # Errors
/// [`crate::Error::InvalidParam`] for a zero size in `cfg` (see [`DemoConfig::validate`]).
pub fn model(cfg: &DemoConfig) -> Result<Sequential<f32>> {
    let mut rng = SeedTree::new(cfg.seed).rng(streams::INIT);
    let h = cfg.size / 2;
    let flat = cfg.channels * h * h;
    Ok(Sequential::new()
        .push(Conv2d::new(
            "enc.conv",
            &ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(1, cfg.channels, 4) },
            &mut rng,
        )?)
        .push(Relu)
        .push(Flatten)
        .push(Linear::new("enc.fc", &LinearConfig::new(flat, cfg.latent), &mut rng)?)
        .push(Relu)
        .push(Linear::new("dec.fc", &LinearConfig::new(cfg.latent, flat), &mut rng)?)
        .push(Relu)
        .push(Unflatten { shape: vec![cfg.channels, h, h] })
        .push(ConvTranspose2d::new(
            "dec.deconv",
            &ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(cfg.channels, 1, 4) },
            &mut rng,
        )?))
}

/// Trains the demo autoencoder; `on_step(step, loss)` is called after every step.
///
/// Batches are drawn by reshuffling the image indices every epoch (seed stream `"shuffle"`,
/// one stream per epoch), so the run is a pure function of the config.
///
/// # Errors
/// [`Error::InvalidParam`] for an invalid config.
pub fn train(cfg: &DemoConfig, mut on_step: impl FnMut(usize, f32)) -> Result<DemoRun> {
    cfg.validate()?;
    let data = synthetic_images(cfg);
    let mut net = model(cfg)?;
    let mut opt = Adam::new(AdamConfig { lr: cfg.lr, ..AdamConfig::default() })?;
    let seeds = SeedTree::new(cfg.seed);
    let per_epoch = cfg.n_images / cfg.batch;
    let mut order: Vec<usize> = Vec::new();
    let mut losses = Vec::with_capacity(cfg.steps);
    let mut nodes_per_step = Vec::with_capacity(cfg.steps);
    for step in 0..cfg.steps {
        let (epoch, b) = (step / per_epoch, step % per_epoch);
        if b == 0 {
            order = (0..cfg.n_images).collect();
            order.shuffle(&mut seeds.rng_indexed(streams::SHUFFLE, epoch as u64));
        }
        let batch: Tensor<f32> = data.select(Axis(0), &order[b * cfg.batch..(b + 1) * cfg.batch]).into_dyn();
        let tape = Tape::new();
        let x = tape.constant(batch);
        let recon = net.forward(x, &mut Mode::Eval)?;
        let loss = recon.mse(x)?;
        nodes_per_step.push(tape.len());
        let value = loss.scalar()?;
        let grads = tape.backward(loss)?;
        opt.step(&mut net, &grads)?;
        losses.push(value);
        on_step(step, value);
    }
    Ok(DemoRun { losses, model: net, nodes_per_step })
}

/// All parameters of a model, concatenated in visiting order (for bitwise comparisons).
pub fn flat_params(m: &dyn Module<f32>) -> Vec<f32> {
    let mut out = Vec::new();
    m.visit_params(&mut |p| out.extend(p.value.iter().copied()));
    out
}
