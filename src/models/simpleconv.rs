//! SimpleConv64 (the reference's `models/simpleconv_ae.py`, `with_bn=0`).
//!
//! Encoder, `[n, c, 64, 64] → [n, d]`:
//! `Conv(c→32) → ReLU → Conv(32→32) → ReLU → Conv(32→64) → ReLU → Conv(64→64) → ReLU →
//! Flatten (1024) → Linear(1024→256) → ReLU → Linear(256→d)`, every conv kernel 4, stride 2,
//! padding 1 (64 → 32 → 16 → 8 → 4).
//!
//! Decoder, `[n, d] → [n, c, 64, 64]`:
//! `Linear(d→256) → ReLU → Linear(256→256) → ReLU → Linear(256→1024) → ReLU →
//! Unflatten(64, 4, 4) → ConvT(64→64) → ReLU → ConvT(64→32) → ReLU → ConvT(32→32) → ReLU →
//! ConvT(32→c)`, every transposed conv kernel 4, stride 2, padding 1; no output activation
//! (the BCE variant applies a sigmoid outside).
//!
//! Parameters are created (and drawn from the generator) in layer order, weight before bias,
//! with PyTorch's default initialisation.

use crate::autodiff::Element;
use crate::nn::{Conv2d, ConvTranspose2d, Flatten, Linear, Relu, Sequential, Unflatten};
use crate::rng::Rng;

/// The four-conv trunk `[n, c, 64, 64] → [n, 1024]` (convs + ReLUs + flatten), shared by the
/// encoder and the stage-3 MTL trunk. Parameter names `"{prefix}.conv{1..4}.{weight,bias}"`.
pub fn simple_conv64_trunk<T: Element>(prefix: &str, channels: usize, rng: &mut Rng) -> Sequential<T> {
    let widths = [channels, 32, 32, 64, 64];
    let mut s = Sequential::new();
    for i in 0..4 {
        s = s
            .push(Conv2d::new(&format!("{prefix}.conv{}", i + 1), widths[i], widths[i + 1], 4, 2, 1, true, rng))
            .push(Relu);
    }
    s.push(Flatten)
}

/// The SimpleConv64 encoder `[n, c, 64, 64] → [n, d]`; names `"{prefix}.conv{1..4}.*"`,
/// `"{prefix}.fc1.*"`, `"{prefix}.fc2.*"`.
pub fn simple_conv64_encoder<T: Element>(
    prefix: &str,
    channels: usize,
    latent_dim: usize,
    rng: &mut Rng,
) -> Sequential<T> {
    simple_conv64_trunk(prefix, channels, rng)
        .push(Linear::new(&format!("{prefix}.fc1"), 64 * 4 * 4, 256, true, rng))
        .push(Relu)
        .push(Linear::new(&format!("{prefix}.fc2"), 256, latent_dim, true, rng))
}

/// The SimpleConv64 decoder `[n, d] → [n, c, 64, 64]`; names `"{prefix}.fc{1..3}.*"`,
/// `"{prefix}.deconv{1..4}.*"`.
pub fn simple_conv64_decoder<T: Element>(
    prefix: &str,
    channels: usize,
    latent_dim: usize,
    rng: &mut Rng,
) -> Sequential<T> {
    let mut s = Sequential::new()
        .push(Linear::new(&format!("{prefix}.fc1"), latent_dim, 256, true, rng))
        .push(Relu)
        .push(Linear::new(&format!("{prefix}.fc2"), 256, 256, true, rng))
        .push(Relu)
        .push(Linear::new(&format!("{prefix}.fc3"), 256, 64 * 4 * 4, true, rng))
        .push(Relu)
        .push(Unflatten { shape: vec![64, 4, 4] });
    let widths = [64, 64, 32, 32, channels];
    for i in 0..4 {
        s = s.push(ConvTranspose2d::new(
            &format!("{prefix}.deconv{}", i + 1),
            widths[i],
            widths[i + 1],
            4,
            2,
            1,
            true,
            rng,
        ));
        if i < 3 {
            s = s.push(Relu);
        }
    }
    s
}
