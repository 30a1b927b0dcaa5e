//! Sparsity / orthogonality loss `L_sp` (coordinate-wise exclusivity across subspaces).
//!
//! `L_sp = mean_{i, b, j} Σ_k | s^i_{k,b,j} · Σ_{l≠k} s^i_{l,b,j} |`
//!
//! over the `2B` images and the `d` coordinates. It is zero exactly when every latent coordinate
//! is used by at most one subspace, so the K summed codes occupy disjoint coordinates (an
//! orthogonal product). `Σ_{l≠k} s_l` is computed as `(Σ_l s_l) − s_k`.

use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};

/// `L_sp` of codes `S: [K, n, d]`.
///
/// # Errors
/// [`Error::Shape`] if `S` is not 3-D.
pub fn sparsity_loss<'t, T: Element>(codes: Var<'t, T>) -> Result<Var<'t, T>> {
    if codes.ndim() != 3 {
        return Err(Error::shape("sparsity_loss", format!("codes {:?} must be [K, n, d]", codes.shape())));
    }
    let total = codes.sum_axes(&[0], true)?; // [1, n, d]
    let others = total.sub(codes)?; // Σ_{l≠k} s_l, [K, n, d]
    Ok(codes.mul(others)?.abs().sum_axes(&[0], false)?.mean_all())
}
