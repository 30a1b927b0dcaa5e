//! Networks of the method: the SimpleConv encoder/decoder and the Detaux disentanglement
//! autoencoder built from them.

pub mod disentangle;
pub mod simpleconv;

pub use disentangle::{DisentangleModel, ModelConfig, SubspaceCodes};
pub use simpleconv::{
    conv_trunk, simple_conv_decoder, simple_conv_encoder, simple_conv_trunk, trunk_widths, IMAGE_SIDES,
};
