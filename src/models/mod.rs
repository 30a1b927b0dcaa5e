//! Networks of the method: the SimpleConv64 encoder/decoder and the Detaux disentanglement
//! autoencoder built from them.

pub mod disentangle;
pub mod simpleconv;

pub use disentangle::{DisentangleModel, ModelConfig, SubspaceCodes};
pub use simpleconv::{simple_conv64_decoder, simple_conv64_encoder, simple_conv64_trunk};
