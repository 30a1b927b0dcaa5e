//! The stage-3 multi-task network: a shared conv trunk and one classification head per task.
//!
//! Trunk, `[n, c, s, s] → [n, f]`: `L` convolutions (kernel 4, stride 2, padding 1, each
//! followed by ReLU, widths `w_1..w_L`) and a flatten, so `f = w_L · (s / 2^L)²`. The default
//! (`widths = [32, 32, 64, 64]`, `s = 64`) is exactly the SimpleConv64 encoder's conv stack
//! ([`crate::models::simple_conv_trunk`], docs/method.md §9): `f = 64·4·4 = 1024`; at `s = 32`
//! the SimpleConv stack is `[32, 64, 64]` ([`crate::models::trunk_widths`]).
//! Other widths/depths give a smaller or larger CNN; images are resized to `s` at load time
//! ([`crate::data::Dataset::to_model_input`], docs/method.md §2).
//!
//! Head `t`, `[n, f] → [n, C_t]`: `Linear(f → h) → Dropout(p) → ReLU → Linear(h → C_t)`, the
//! reference's `classification_heads` (`models/aux_learning_model.py`, `h = 512`, `p = 0.1`).
//!
//! Parameter names: `"trunk.conv{1..L}.{weight,bias}"`, `"head{t}.fc{1,2}.{weight,bias}"`.
//! The trunk's parameters are the *shared* parameters of the weighting strategies.
//!
//! Initialisation: PyTorch defaults, drawn in order trunk, head 0, head 1, … from one
//! generator; so a single-task model (principal head only) built from the same generator has
//! bit-identical trunk and principal head to the multi-task one (the STL baseline starts from
//! the same weights).

use crate::autodiff::Var;
use crate::error::{Error, Result};
use crate::models::conv_trunk;
use crate::nn::{Dropout, Forward, Linear, LinearConfig, Mode, Module, Param, Sequential};
use crate::rng::Rng;

/// Shape of the network.
#[derive(Clone, Debug, PartialEq)]
pub struct MtlModelConfig {
    /// Input channels (1 or 3).
    pub channels: usize,
    /// Input side `s` (square images); must be divisible by `2^widths.len()`.
    pub input_size: usize,
    /// Output channels of each trunk convolution. Default `[32, 32, 64, 64]` (SimpleConv64).
    pub widths: Vec<usize>,
    /// Hidden width `h` of every head. Default 512.
    pub hidden: usize,
    /// Dropout probability in every head. Default 0.1.
    pub dropout: f64,
    /// Number of classes of each task (task 0 is the principal task).
    pub task_classes: Vec<usize>,
}

impl MtlModelConfig {
    /// The default trunk (SimpleConv's conv stack for side `input_size`,
    /// [`crate::models::trunk_widths`]) and heads for `channels`-channel images and the given
    /// tasks.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `input_size` is not a SimpleConv side.
    pub fn simple_conv(channels: usize, input_size: usize, task_classes: Vec<usize>) -> Result<Self> {
        Ok(MtlModelConfig {
            channels,
            input_size,
            widths: crate::models::trunk_widths(input_size)?,
            hidden: 512,
            dropout: 0.1,
            task_classes,
        })
    }

    /// Trunk output width `f = w_L · (s / 2^L)²`.
    pub fn feature_dim(&self) -> usize {
        let side = self.input_size >> self.widths.len();
        self.widths.last().copied().unwrap_or(self.channels) * side * side
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.channels != 1 && self.channels != 3 {
            return Err(Error::param("channels", format!("must be 1 or 3, got {}", self.channels)));
        }
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err(Error::param("widths", format!("need at least one conv of width >= 1, got {:?}", self.widths)));
        }
        let l = self.widths.len() as u32;
        if self.input_size == 0 || self.widths.len() >= 32 || !self.input_size.is_multiple_of(1usize << l) {
            return Err(Error::param(
                "input_size",
                format!("{} must be a positive multiple of 2^{l} for {l} stride-2 convolutions", self.input_size),
            ));
        }
        if self.hidden == 0 {
            return Err(Error::param("hidden", "must be >= 1, got 0"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::param("dropout", format!("must be in [0, 1), got {}", self.dropout)));
        }
        if self.task_classes.is_empty() {
            return Err(Error::param("tasks", "need at least one task"));
        }
        if let Some(t) = self.task_classes.iter().position(|&c| c < 2) {
            return Err(Error::param(
                "tasks",
                format!("task {t} has {} class(es); a classification task needs >= 2", self.task_classes[t]),
            ));
        }
        crate::limits::check_params("model size", self.num_params(), "lower --trunk-widths or --head-hidden")
    }

    /// Number of trainable parameters, computed without building the model (in `u128`, so
    /// any `usize` sizes fit): trunk convolutions (k4, bias) and every head `f → h → classes`.
    pub fn num_params(&self) -> u128 {
        let mut c_in = self.channels as u128;
        let mut n = 0u128;
        for &w in &self.widths {
            n += c_in * w as u128 * 16 + w as u128;
            c_in = w as u128;
        }
        let side = (self.input_size >> self.widths.len().min(63)) as u128;
        let f = c_in * side * side;
        let h = self.hidden as u128;
        for &c in &self.task_classes {
            n += f * h + h + h * c as u128 + c as u128;
        }
        n
    }
}

/// One task head: `Linear → Dropout → ReLU → Linear`.
pub struct Head {
    fc1: Linear<f32>,
    dropout: Dropout,
    fc2: Linear<f32>,
}

impl Head {
    fn new(t: usize, features: usize, hidden: usize, classes: usize, p: f64, rng: &mut Rng) -> Result<Self> {
        let fc1 = Linear::new(&format!("head{t}.fc1"), &LinearConfig::new(features, hidden), rng)?;
        let fc2 = Linear::new(&format!("head{t}.fc2"), &LinearConfig::new(hidden, classes), rng)?;
        Ok(Head { fc1, dropout: Dropout { p }, fc2 })
    }
}

impl Module<f32> for Head {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<f32>)) {
        self.fc1.visit_params(f);
        self.fc2.visit_params(f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<f32>)) {
        self.fc1.visit_params_mut(f);
        self.fc2.visit_params_mut(f);
    }
}

impl Forward<f32> for Head {
    fn forward<'t>(&self, x: Var<'t, f32>, mode: &mut Mode<'_>) -> Result<Var<'t, f32>> {
        let h = self.fc1.forward(x, mode)?;
        let h = self.dropout.forward(h, mode)?;
        self.fc2.forward(h.relu(), mode)
    }
}

/// The shared trunk plus one head per task. See the [module docs](self).
pub struct MtlModel {
    config: MtlModelConfig,
    trunk: Sequential<f32>,
    heads: Vec<Head>,
}

impl MtlModel {
    /// Builds the network, drawing PyTorch-default initial weights from `rng` (trunk, then heads
    /// in task order).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if the config is invalid.
    pub fn new(config: MtlModelConfig, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let trunk = conv_trunk("trunk", config.channels, &config.widths, rng)?;
        let f = config.feature_dim();
        let heads = config
            .task_classes
            .iter()
            .enumerate()
            .map(|(t, &c)| Head::new(t, f, config.hidden, c, config.dropout, rng))
            .collect::<Result<Vec<_>>>()?;
        Ok(MtlModel { config, trunk, heads })
    }

    /// The configuration.
    pub fn config(&self) -> &MtlModelConfig {
        &self.config
    }

    /// Number of tasks (heads).
    pub fn n_tasks(&self) -> usize {
        self.heads.len()
    }

    /// Shared features `[n, f]` of images `x: [n, c, s, s]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not `[n, channels, s, s]`.
    pub fn features<'t>(&self, x: Var<'t, f32>) -> Result<Var<'t, f32>> {
        let s = x.shape();
        let c = &self.config;
        if s.len() != 4 || s[1] != c.channels || s[2] != c.input_size || s[3] != c.input_size {
            return Err(Error::shape(
                "mtl model",
                format!("expected input [n, {}, {}, {}], got {s:?}", c.channels, c.input_size, c.input_size),
            ));
        }
        self.trunk.forward(x, &mut Mode::Eval)
    }

    /// Logits `[n, C_t]` of task `t` from shared features.
    ///
    /// # Panics
    /// If `t >= n_tasks()`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `features` is not `[n, f]`.
    pub fn head_logits<'t>(&self, t: usize, features: Var<'t, f32>, mode: &mut Mode<'_>) -> Result<Var<'t, f32>> {
        self.heads[t].forward(features, mode)
    }

    /// Calls `f` on every shared (trunk) parameter, in order.
    pub fn visit_shared<'a>(&'a self, f: &mut dyn FnMut(&'a Param<f32>)) {
        self.trunk.visit_params(f);
    }

    /// Names of the shared parameters, in order.
    pub fn shared_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        self.trunk.visit_params(&mut |p| v.push(p.name.clone()));
        v
    }

    /// Names of head `t`'s parameters, in order.
    pub fn head_names(&self, t: usize) -> Vec<String> {
        let mut v = Vec::new();
        self.heads[t].visit_params(&mut |p| v.push(p.name.clone()));
        v
    }
}

impl Module<f32> for MtlModel {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<f32>)) {
        self.trunk.visit_params(f);
        for h in &self.heads {
            h.visit_params(f);
        }
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<f32>)) {
        self.trunk.visit_params_mut(f);
        for h in &mut self.heads {
            h.visit_params_mut(f);
        }
    }
}
