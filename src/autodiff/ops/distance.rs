//! Pairwise Euclidean distances (`torch.cdist` with p = 2).
//!
//! `a: [n, d]`, `b: [m, d]` → `D: [n, m]`, `D[i, j] = ‖aᵢ − bⱼ‖₂ = √(Σ_k (a[i,k] − b[j,k])²)`,
//! computed from the differences (not the ‖a‖² − 2a·b + ‖b‖² expansion) so that equal rows give
//! exactly 0.
//! Gradient: `∂a[i] = Σ_j g[i,j]·(aᵢ − bⱼ)/D[i,j]`, `∂b[j] = −Σ_i g[i,j]·(aᵢ − bⱼ)/D[i,j]`, with
//! the convention that a zero distance contributes 0 (as PyTorch's `cdist` backward; the
//! distance is not differentiable there).

use super::{fmt_shape, slice_of};
use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};

impl<'t, T: Element> Var<'t, T> {
    /// Pairwise Euclidean distances between the rows of `self: [n, d]` and `other: [m, d]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if either is not 2-D or their row lengths differ.
    pub fn cdist(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        let (av, bv) = (self.try_value()?, other.try_value()?);
        let (sa, sb) = (av.shape().to_vec(), bv.shape().to_vec());
        if sa.len() != 2 || sb.len() != 2 || sa[1] != sb[1] {
            return Err(Error::shape(
                "cdist",
                format!("shapes {} and {} do not agree (expected [n, d] and [m, d])", fmt_shape(&sa), fmt_shape(&sb)),
            ));
        }
        let (n, m, d) = (sa[0], sb[0], sa[1]);
        let (a, b) = (slice_of(&av), slice_of(&bv));
        let mut dist = vec![T::ZERO; n * m];
        for i in 0..n {
            for j in 0..m {
                let mut s = T::ZERO;
                for k in 0..d {
                    let t = a[i * d + k] - b[j * d + k];
                    s += t * t;
                }
                dist[i * m + j] = s.sqrt();
            }
        }
        let out = ArrayD::from_shape_vec(IxDyn(&[n, m]), dist.clone()).expect("sized");
        Ok(self.tape.push_op(out, &[self, other], move |g, needs| {
            let gs = slice_of(g);
            let (a, b) = (slice_of(&av), slice_of(&bv));
            let mut da = vec![T::ZERO; n * d];
            let mut db = vec![T::ZERO; m * d];
            for i in 0..n {
                for j in 0..m {
                    let dij = dist[i * m + j];
                    if dij == T::ZERO {
                        continue;
                    }
                    let c = gs[i * m + j] / dij;
                    for k in 0..d {
                        let t = c * (a[i * d + k] - b[j * d + k]);
                        da[i * d + k] += t;
                        db[j * d + k] -= t;
                    }
                }
            }
            vec![
                needs[0].then(|| ArrayD::from_shape_vec(IxDyn(&[n, d]), da)).map(|r| r.expect("sized")),
                needs[1].then(|| ArrayD::from_shape_vec(IxDyn(&[m, d]), db)).map(|r| r.expect("sized")),
            ]
        }))
    }
}
