//! SimpleConv (the reference's `models/simpleconv_ae.py` SimpleConv64, `with_bn=0`), for square
//! images of side `s = 4 · 2^L` with `L = 1..=4` stride-2 stages (`s` = 8, 16, 32 or 64).
//!
//! The trunk's conv widths are the last `L` of `[32, 32, 64, 64]` ([`trunk_widths`]): at
//! `s = 64` exactly the reference's four convs, at `s = 32` the reference's without its second
//! `32 → 32` conv. Every stack ends at `64 × 4 × 4 = 1024` features, so the fully connected
//! layers are the same at every side.
//!
//! Encoder, `[n, c, s, s] → [n, d]` (shown for `s = 64`):
//! `Conv(c→32) → ReLU → Conv(32→32) → ReLU → Conv(32→64) → ReLU → Conv(64→64) → ReLU →
//! Flatten (1024) → Linear(1024→256) → ReLU → Linear(256→d)`, every conv kernel 4, stride 2,
//! padding 1 (64 → 32 → 16 → 8 → 4).
//!
//! Decoder, `[n, d] → [n, c, s, s]`, the mirror image:
//! `Linear(d→256) → ReLU → Linear(256→256) → ReLU → Linear(256→1024) → ReLU →
//! Unflatten(64, 4, 4) → ConvT(64→64) → ReLU → ConvT(64→32) → ReLU → ConvT(32→32) → ReLU →
//! ConvT(32→c)`, every transposed conv kernel 4, stride 2, padding 1; no output activation
//! (the BCE variant applies a sigmoid outside).
//!
//! At `s = 32` the convolutions' products shrink from ≈ 15.2 + 1.0·c to ≈ 6.3 + 0.26·c million
//! multiply-adds per image and pass (the parts that do not scale with the side, such as the
//! fully connected layers, the K projectors and the losses, stay); it is a preset value for
//! images whose source is smaller than 32 × 32 (8 × 8 digits, 28 × 28 MNIST), where the larger
//! side only upscales.
//!
//! Parameters are created (and drawn from the generator) in layer order, weight before bias,
//! with PyTorch's default initialisation.

use crate::autodiff::Element;
use crate::error::{Error, Result};
use crate::nn::{Conv2d, ConvConfig, ConvTranspose2d, Flatten, Linear, LinearConfig, Relu, Sequential, Unflatten};
use crate::rng::Rng;

/// The reference's conv widths at side 64; a smaller side drops the first ones.
const WIDTHS_64: [usize; 4] = [32, 32, 64, 64];

/// Trunk output features at every side: `64 · 4 · 4`.
pub const TRUNK_FEATURES: usize = 64 * 4 * 4;

/// The image sides the SimpleConv stack accepts.
pub const IMAGE_SIDES: [usize; 4] = [8, 16, 32, 64];

/// The trunk's conv output widths for images of side `side` (the last `log2(side / 4)` of
/// `[32, 32, 64, 64]`).
///
/// # Errors
/// [`Error::InvalidParam`] (`image_size`) unless `side` is one of [`IMAGE_SIDES`].
pub fn trunk_widths(side: usize) -> Result<Vec<usize>> {
    let Some(l) = IMAGE_SIDES.iter().position(|&s| s == side) else {
        return Err(Error::param("image_size", format!("must be one of {IMAGE_SIDES:?}, got {side}")));
    };
    Ok(WIDTHS_64[WIDTHS_64.len() - (l + 1)..].to_vec())
}

/// A conv trunk `[n, c, s, s] → [n, w_L · (s / 2^L)²]`: convs (kernel 4, stride 2, padding
/// 1, output widths `widths`) each followed by ReLU, then a flatten. Parameter names
/// `"{prefix}.conv{1..L}.{weight,bias}"`. The stage-3 MTL trunk with any widths.
///
/// # Errors
/// As [`ConvConfig::validate`] (a zero width).
pub fn conv_trunk<T: Element>(prefix: &str, channels: usize, widths: &[usize], rng: &mut Rng) -> Result<Sequential<T>> {
    let mut s = Sequential::new();
    let mut cin = channels;
    for (i, &w) in widths.iter().enumerate() {
        s = s.push(Conv2d::new(&format!("{prefix}.conv{}", i + 1), &down(cin, w), rng)?).push(Relu);
        cin = w;
    }
    Ok(s.push(Flatten))
}

/// The SimpleConv layer shape: kernel 4, stride 2, padding 1 (halves or doubles the side).
fn down(c_in: usize, c_out: usize) -> ConvConfig {
    ConvConfig { stride: 2, padding: 1, ..ConvConfig::new(c_in, c_out, 4) }
}

/// The SimpleConv trunk `[n, c, s, s] → [n, 1024]`: [`conv_trunk`] with [`trunk_widths`]`(s)`,
/// shared by the encoder and the default stage-3 MTL trunk.
///
/// # Errors
/// [`crate::Error::InvalidParam`] if `side` is not one of [`IMAGE_SIDES`] or `channels` is 0.
pub fn simple_conv_trunk<T: Element>(
    prefix: &str,
    channels: usize,
    side: usize,
    rng: &mut Rng,
) -> Result<Sequential<T>> {
    conv_trunk(prefix, channels, &trunk_widths(side)?, rng)
}

/// The SimpleConv encoder `[n, c, s, s] → [n, d]`; names `"{prefix}.conv{1..L}.*"`,
/// `"{prefix}.fc1.*"`, `"{prefix}.fc2.*"`.
///
/// # Errors
/// As [`simple_conv_trunk`], and for `latent_dim = 0`.
pub fn simple_conv_encoder<T: Element>(
    prefix: &str,
    channels: usize,
    side: usize,
    latent_dim: usize,
    rng: &mut Rng,
) -> Result<Sequential<T>> {
    Ok(simple_conv_trunk(prefix, channels, side, rng)?
        .push(Linear::new(&format!("{prefix}.fc1"), &LinearConfig::new(TRUNK_FEATURES, 256), rng)?)
        .push(Relu)
        .push(Linear::new(&format!("{prefix}.fc2"), &LinearConfig::new(256, latent_dim), rng)?))
}

/// The SimpleConv decoder `[n, d] → [n, c, s, s]`; names `"{prefix}.fc{1..3}.*"`,
/// `"{prefix}.deconv{1..L}.*"`.
///
/// # Errors
/// As [`simple_conv_encoder`].
pub fn simple_conv_decoder<T: Element>(
    prefix: &str,
    channels: usize,
    side: usize,
    latent_dim: usize,
    rng: &mut Rng,
) -> Result<Sequential<T>> {
    let mut s = Sequential::new()
        .push(Linear::new(&format!("{prefix}.fc1"), &LinearConfig::new(latent_dim, 256), rng)?)
        .push(Relu)
        .push(Linear::new(&format!("{prefix}.fc2"), &LinearConfig::new(256, 256), rng)?)
        .push(Relu)
        .push(Linear::new(&format!("{prefix}.fc3"), &LinearConfig::new(256, TRUNK_FEATURES), rng)?)
        .push(Relu)
        .push(Unflatten { shape: vec![64, 4, 4] });
    // The trunk's widths reversed, then the image channels: 64 → 64 → 32 → 32 → c at side 64.
    let mut widths = trunk_widths(side)?;
    widths.reverse();
    widths.push(channels);
    let l = widths.len() - 1;
    for i in 0..l {
        s = s.push(ConvTranspose2d::new(&format!("{prefix}.deconv{}", i + 1), &down(widths[i], widths[i + 1]), rng)?);
        if i + 1 < l {
            s = s.push(Relu);
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_per_side() {
        assert_eq!(trunk_widths(64).unwrap(), vec![32, 32, 64, 64]);
        assert_eq!(trunk_widths(32).unwrap(), vec![32, 64, 64]);
        assert_eq!(trunk_widths(16).unwrap(), vec![64, 64]);
        assert_eq!(trunk_widths(8).unwrap(), vec![64]);
        for bad in [0, 4, 24, 48, 128] {
            assert!(trunk_widths(bad).is_err(), "{bad}");
        }
    }
}
