//! Reconstruction loss `L_rec`.
//!
//! - MSE (default, reference `--loss mse`): `L_rec = mean over 2B·C·H·W of (x̂ − x)²`, where
//!   `x̂` is the decoder output (no activation).
//! - BCE (reference `--loss bce`): the decoder output `a` is squashed, `x̂ = σ(a)`, and
//!   `L_rec = −mean(x·ln x̂ + (1 − x)·ln(1 − x̂))`, computed from the logits as
//!   `mean(max(a, 0) − a·x + ln(1 + e^{−|a|}))` (same value, no overflow). The reference calls
//!   `BCELoss(input, output)` with the arguments swapped (docs/method.md §12); detaux uses
//!   the correct order (prediction `x̂`, target `x`).
//!
//! The target is the (possibly noisy) input itself.

use crate::autodiff::{Element, Var};
use crate::error::Result;

/// Which reconstruction criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ReconstructionLoss {
    /// Mean squared error on the raw decoder output.
    #[default]
    Mse,
    /// Binary cross-entropy on `σ(decoder output)`.
    Bce,
}

impl ReconstructionLoss {
    /// The decoder's output activation: identity for MSE, sigmoid for BCE (reference `squash`).
    pub fn squash<'t, T: Element>(self, decoded: Var<'t, T>) -> Var<'t, T> {
        match self {
            ReconstructionLoss::Mse => decoded,
            ReconstructionLoss::Bce => decoded.sigmoid(),
        }
    }
}

/// `L_rec` between the decoder output `decoded: [n, c, h, w]` and the target `x` (same shape).
///
/// # Errors
/// [`crate::Error::Shape`] if the shapes differ.
pub fn reconstruction_loss<'t, T: Element>(
    kind: ReconstructionLoss,
    decoded: Var<'t, T>,
    x: Var<'t, T>,
) -> Result<Var<'t, T>> {
    match kind {
        ReconstructionLoss::Mse => decoded.mse(x),
        ReconstructionLoss::Bce => {
            if decoded.shape() != x.shape() {
                return decoded.mse(x); // same shape error message as MSE
            }
            let softplus_neg_abs = decoded.abs().neg().exp().add_scalar(T::ONE).log();
            Ok(decoded.relu().sub(decoded.mul(x)?)?.add(softplus_neg_abs)?.mean_all())
        }
    }
}
