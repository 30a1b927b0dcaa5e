//! Consistency loss `L_cons` (swap, decode, re-encode).
//!
//! For subspace `k` and pair `b`, the mixed code set `m^{(k,b)}` is `x²_b`'s codes with
//! subspace `k` replaced by `x¹_b`'s: `m_l = s¹_{k,b}` if `l = k`, else `s²_{l,b}`. Of the
//! `K·B` mixes, `2B` are kept (a seeded random permutation of the flat indices `k·B + b`,
//! as the reference's `randperm(K·B)[:2B]`). Each kept mix is aggregated, decoded, squashed,
//! re-encoded and re-projected, `ŝ = p(f(σ(g(Σ_l m_l))))`, and
//!
//! `L_cons = mean over (K, 2B, d) of (ŝ_l − m_l)²`.
//!
//! Gradients flow through `g`, `f`, `p` and the mixed codes themselves (nothing detached).

use super::reconstruction::ReconstructionLoss;
use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use crate::models::DisentangleModel;
use crate::rng::Rng;
use ndarray::{ArrayD, IxDyn};
use rand::seq::SliceRandom;

/// The kept mixes `(k, b)`: a random permutation of the `K·B` flat indices `k·B + b`,
/// truncated to `min(2B, K·B)`.
pub fn sample_mixes(n_subspaces: usize, n_pairs: usize, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut flat: Vec<usize> = (0..n_subspaces * n_pairs).collect();
    flat.shuffle(rng);
    flat.truncate((2 * n_pairs).min(flat.len()));
    flat.into_iter().map(|i| (i / n_pairs, i % n_pairs)).collect()
}

/// `L_cons` for codes `S: [K, 2B, d]` and the kept mixes `(k, b)`.
///
/// # Errors
/// [`Error::Shape`] if `S` is not `[K, 2B, d]`; [`Error::InvalidData`] if a mix is out of range
/// or there are none.
pub fn consistency_loss<'t, T: Element>(
    model: &DisentangleModel<T>,
    recon: ReconstructionLoss,
    codes: Var<'t, T>,
    mixes: &[(usize, usize)],
) -> Result<Var<'t, T>> {
    let s = codes.shape();
    if s.len() != 3 || !s[1].is_multiple_of(2) {
        return Err(Error::shape("consistency_loss", format!("codes {s:?} must be [K, 2B, d]")));
    }
    let (k, b) = (s[0], s[1] / 2);
    if mixes.is_empty() {
        return Err(Error::InvalidData("consistency_loss: no mixes".into()));
    }
    if let Some(&(kk, bb)) = mixes.iter().find(|&&(kk, bb)| kk >= k || bb >= b) {
        return Err(Error::InvalidData(format!("consistency_loss: mix ({kk}, {bb}) out of range for K={k}, B={b}")));
    }
    let tape = codes.tape();
    let pairs: Vec<usize> = mixes.iter().map(|&(_, bb)| bb).collect();
    let partners: Vec<usize> = pairs.iter().map(|&bb| b + bb).collect();
    let from_first = codes.index_select(1, &pairs)?; // [K, M, d]
    let from_second = codes.index_select(1, &partners)?;
    let m = mixes.len();
    let pick = ArrayD::from_shape_fn(IxDyn(&[k, m, 1]), |i| if mixes[i[1]].0 == i[0] { T::ONE } else { T::ZERO });
    let keep = pick.mapv(|v| T::ONE - v);
    let mixed = from_first.mul(tape.constant(pick))?.add(from_second.mul(tape.constant(keep))?)?; // [K, M, d]
    let decoded = recon.squash(model.decode(model.aggregate(mixed)?)?);
    let reencoded = model.project(model.encode(decoded)?)?;
    reencoded.mse(mixed)
}
