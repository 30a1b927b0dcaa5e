//! The Detaux disentanglement autoencoder (reference `BasicModel` with SimpleConv64).
//!
//! `x: [n, c, s, s]` → encoder `f` → `z = f(x): [n, d]` → K projectors
//! `s_k = p_k(z) = W2_k·relu(W1_k·z + b1_k) + b2_k: [n, d]` (all in the same `R^d`) →
//! aggregation `z̃ = Σ_k s_k` → decoder `x̂ = g(z̃): [n, c, s, s]`. The reference's side is
//! `s = 64`; smaller sides use the shallower SimpleConv stack of [`super::simpleconv`].
//!
//! The K codes are kept stacked as one tensor `S: [K, n, d]` ([`SubspaceCodes`]), which is the
//! layout every loss works on.

use super::simpleconv::{simple_conv_decoder, simple_conv_encoder, trunk_widths, TRUNK_FEATURES};
use crate::autodiff::ops::shape::stack;
use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use crate::nn::{Forward, Linear, LinearConfig, Mode, Module, Param, Sequential};
use crate::rng::Rng;

/// Sizes of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    /// Image channels (1 or 3). Default 3.
    pub channels: usize,
    /// Latent width `d`. Default 10 (reference `latentdim`).
    pub latent_dim: usize,
    /// Number of subspaces `K`. Default 10 (reference `n_latent_factors`).
    pub n_subspaces: usize,
    /// Image side `s` (square images). Default 64 (the reference's); see
    /// [`super::simpleconv::IMAGE_SIDES`].
    pub image_size: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { channels: 3, latent_dim: 10, n_subspaces: 10, image_size: 64 }
    }
}

impl ModelConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    /// [`Error::InvalidParam`]: channels must be 1 or 3, `d ≥ 1`, `2 ≤ K ≤ MAX_SUBSPACES`
    /// (subspace 0 is the principal one, at least one more is needed for the auxiliary task),
    /// an image side SimpleConv accepts, at most [`crate::limits::MAX_PARAMS`] parameters.
    pub fn validate(&self) -> Result<()> {
        if self.channels != 1 && self.channels != 3 {
            return Err(Error::param("channels", format!("must be 1 or 3, got {}", self.channels)));
        }
        if self.latent_dim == 0 {
            return Err(Error::param("latent_dim", "must be >= 1, got 0"));
        }
        if self.n_subspaces < 2 || self.n_subspaces > crate::limits::MAX_SUBSPACES {
            return Err(Error::param(
                "n_subspaces",
                format!("must be in 2..={}, got {}", crate::limits::MAX_SUBSPACES, self.n_subspaces),
            ));
        }
        trunk_widths(self.image_size)?;
        crate::limits::check_params("model size", self.num_params(), "lower --subspaces or --latent-dim")
    }

    /// Number of trainable parameters, computed without building the model (in `u128`, so
    /// any `usize` sizes fit): encoder, `K` projectors `d → d → d`, decoder (side 64 if the
    /// side is invalid).
    pub fn num_params(&self) -> u128 {
        let (c, d, k) = (self.channels as u128, self.latent_dim as u128, self.n_subspaces as u128);
        let conv = |i: u128, o: u128| i * o * 16 + o;
        let lin = |i: u128, o: u128| i * o + o;
        let widths = trunk_widths(self.image_size).or_else(|_| trunk_widths(64)).unwrap_or_default();
        let mut convs = 0;
        let mut cin = c;
        for &w in &widths {
            convs += conv(cin, w as u128);
            cin = w as u128;
        }
        // The decoder's transposed convs: 64 → the trunk's widths reversed (after the first) → c.
        let mut deconvs = 0;
        let mut cin = 64;
        for &w in widths.iter().rev().skip(1).chain(std::iter::once(&self.channels)) {
            deconvs += conv(cin, w as u128);
            cin = w as u128;
        }
        let f = TRUNK_FEATURES as u128;
        let encoder = convs + lin(f, 256) + lin(256, d);
        let projectors = k * 2 * lin(d, d);
        let decoder = lin(d, 256) + lin(256, 256) + lin(256, f) + deconvs;
        encoder + projectors + decoder
    }
}

/// The K subspace codes of a batch, stacked: `[K, n, d]`.
pub type SubspaceCodes<'t, T> = Var<'t, T>;

/// Encoder, K projectors, decoder.
pub struct DisentangleModel<T: Element> {
    /// Sizes.
    pub config: ModelConfig,
    /// SimpleConv64 encoder, parameters `"encoder.*"`.
    pub encoder: Sequential<T>,
    /// Projector `k`: `(first, second)` linear layers, parameters `"projector{k}.fc{1,2}.*"`.
    pub projectors: Vec<(Linear<T>, Linear<T>)>,
    /// SimpleConv64 decoder, parameters `"decoder.*"`.
    pub decoder: Sequential<T>,
}

impl<T: Element> DisentangleModel<T> {
    /// A freshly initialised model (encoder, then projectors 0..K, then decoder, each with
    /// PyTorch-default init, drawn in that order from `rng`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an invalid config.
    pub fn new(config: ModelConfig, rng: &mut Rng) -> Result<Self> {
        config.validate()?;
        let d = config.latent_dim;
        let encoder = simple_conv_encoder("encoder", config.channels, config.image_size, d, rng)?;
        let projectors = (0..config.n_subspaces)
            .map(|k| {
                let a = Linear::new(&format!("projector{k}.fc1"), &LinearConfig::new(d, d), rng)?;
                let b = Linear::new(&format!("projector{k}.fc2"), &LinearConfig::new(d, d), rng)?;
                Ok((a, b))
            })
            .collect::<Result<Vec<_>>>()?;
        let decoder = simple_conv_decoder("decoder", config.channels, config.image_size, d, rng)?;
        Ok(DisentangleModel { config, encoder, projectors, decoder })
    }

    /// `x: [n, c, s, s] → z: [n, d]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not `[n, c, s, s]`.
    pub fn encode<'t>(&self, x: Var<'t, T>) -> Result<Var<'t, T>> {
        let s = x.shape();
        let side = self.config.image_size;
        if s.len() != 4 || s[1] != self.config.channels || s[2] != side || s[3] != side {
            return Err(Error::shape(
                "DisentangleModel::encode",
                format!("input {s:?} must be [n, {}, {side}, {side}]", self.config.channels),
            ));
        }
        self.encoder.forward(x, &mut Mode::Eval)
    }

    /// `z: [n, d] → S: [K, n, d]` (the K projections).
    ///
    /// # Errors
    /// [`Error::Shape`] if `z` is not `[n, d]`.
    pub fn project<'t>(&self, z: Var<'t, T>) -> Result<SubspaceCodes<'t, T>> {
        let codes = self
            .projectors
            .iter()
            .map(|(a, b)| b.forward(a.forward(z, &mut Mode::Eval)?.relu(), &mut Mode::Eval))
            .collect::<Result<Vec<_>>>()?;
        stack(&codes, 0)
    }

    /// `S: [K, n, d] → z̃ = Σ_k S[k]: [n, d]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `S` is not 3-D.
    pub fn aggregate<'t>(&self, codes: SubspaceCodes<'t, T>) -> Result<Var<'t, T>> {
        codes.sum_axes(&[0], false)
    }

    /// `z̃: [n, d] → x̂: [n, c, s, s]` (no output activation).
    ///
    /// # Errors
    /// [`Error::Shape`] if `z̃` is not `[n, d]`.
    pub fn decode<'t>(&self, z: Var<'t, T>) -> Result<Var<'t, T>> {
        self.decoder.forward(z, &mut Mode::Eval)
    }

    /// Full pass: returns `(S: [K, n, d], x̂: [n, c, s, s])`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not `[n, c, s, s]`.
    pub fn forward<'t>(&self, x: Var<'t, T>) -> Result<(SubspaceCodes<'t, T>, Var<'t, T>)> {
        let codes = self.project(self.encode(x)?)?;
        let recon = self.decode(self.aggregate(codes)?)?;
        Ok((codes, recon))
    }
}

impl<T: Element> Module<T> for DisentangleModel<T> {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param<T>)) {
        self.encoder.visit_params(f);
        for (a, b) in &self.projectors {
            a.visit_params(f);
            b.visit_params(f);
        }
        self.decoder.visit_params(f);
    }
    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&mut Param<T>)) {
        self.encoder.visit_params_mut(f);
        for (a, b) in &mut self.projectors {
            a.visit_params_mut(f);
            b.visit_params_mut(f);
        }
        self.decoder.visit_params_mut(f);
    }
}
