//! Matrix products, through `detaux_kernels::gemm` (strided views, so transposes are free).
//!
//! | op | shapes | forward | gradient |
//! |---|---|---|---|
//! | `matmul` | `[m, k]·[k, n] → [m, n]` | A·B | ∂A = G·Bᵀ, ∂B = Aᵀ·G |
//! | `matmul` (batched) | `[b, m, k]·[b, k, n] → [b, m, n]` | per batch | per batch |
//! | `linear(w, bias)` | `x: [n, in]`, `w: [out, in]`, `bias: [out]` → `[n, out]` | x·wᵀ + bias | ∂x = G·w, ∂w = Gᵀ·x, ∂bias = Σₙ G |
//!
//! `linear` uses PyTorch's `nn.Linear` weight layout `[out, in]`.
//!
//! ## Determinism
//! gemm splits rows of the output over fixed blocks; the bias gradient is a sequential
//! column sum in row order.

use super::{fmt_shape, slice_of};
use crate::autodiff::{Element, Tensor, Var};
use crate::error::{Error, Result};
use crate::par::Par;
use detaux_kernels::gemm::{gemm, MatMut, MatRef};
use ndarray::{ArrayD, IxDyn};

/// `C = op(A)·op(B)` on dense row-major buffers, `op` = transpose when the flag is set.
/// `a` is `[m, k]` (or `[k, m]` if `ta`), `b` is `[k, n]` (or `[n, k]` if `tb`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_into<T: Element>(
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    m: usize,
    k: usize,
    n: usize,
    beta: T,
    c: &mut [T],
    par: Par,
) {
    let av = if ta { MatRef::row_major(a, k, m).t() } else { MatRef::row_major(a, m, k) };
    let bv = if tb { MatRef::row_major(b, n, k).t() } else { MatRef::row_major(b, k, n) };
    gemm(T::ONE, av, bv, beta, MatMut::row_major(c, m, n), par);
}

impl<'t, T: Element> Var<'t, T> {
    /// Matrix product: `[m, k]·[k, n]` or batched `[b, m, k]·[b, k, n]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the ranks are not both 2 or both 3, the inner dimensions differ, or
    /// the batch sizes differ.
    pub fn matmul(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        let (av, bv) = (self.try_value()?, other.try_value()?);
        let (sa, sb) = (av.shape().to_vec(), bv.shape().to_vec());
        let bad = |why: &str| Error::shape("matmul", format!("shapes {} and {} {why}", fmt_shape(&sa), fmt_shape(&sb)));
        let (batch, m, k, n) = match (sa.len(), sb.len()) {
            (2, 2) => (1, sa[0], sa[1], sb[1]),
            (3, 3) => {
                if sa[0] != sb[0] {
                    return Err(bad("have different batch sizes"));
                }
                (sa[0], sa[1], sa[2], sb[2])
            }
            _ => return Err(bad("must both be 2-D or both 3-D")),
        };
        let kb = if sb.len() == 2 { sb[0] } else { sb[1] };
        if k != kb {
            return Err(bad(&format!("do not agree (inner dimensions {k} and {kb})")));
        }
        let par = self.tape.par();
        let mut out_shape = if sa.len() == 3 { vec![batch] } else { vec![] };
        out_shape.extend([m, n]);
        let mut out = vec![T::ZERO; batch * m * n];
        let (a, b) = (slice_of(&av), slice_of(&bv));
        for i in 0..batch {
            gemm_into(
                &a[i * m * k..][..m * k],
                false,
                &b[i * k * n..][..k * n],
                false,
                m,
                k,
                n,
                T::ZERO,
                &mut out[i * m * n..][..m * n],
                par,
            );
        }
        let out = ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("sized");
        Ok(self.tape.push_op(out, &[self, other], move |g, needs| {
            let gs = slice_of(g);
            let (a, b) = (slice_of(&av), slice_of(&bv));
            let ga = needs[0].then(|| {
                let mut da = vec![T::ZERO; batch * m * k];
                for i in 0..batch {
                    // dA = G·Bᵀ : [m, n]·[n, k]
                    gemm_into(
                        &gs[i * m * n..][..m * n],
                        false,
                        &b[i * k * n..][..k * n],
                        true,
                        m,
                        n,
                        k,
                        T::ZERO,
                        &mut da[i * m * k..][..m * k],
                        par,
                    );
                }
                ArrayD::from_shape_vec(IxDyn(&sa), da).expect("sized")
            });
            let gb = needs[1].then(|| {
                let mut db = vec![T::ZERO; batch * k * n];
                for i in 0..batch {
                    // dB = Aᵀ·G : [k, m]·[m, n]
                    gemm_into(
                        &a[i * m * k..][..m * k],
                        true,
                        &gs[i * m * n..][..m * n],
                        false,
                        k,
                        m,
                        n,
                        T::ZERO,
                        &mut db[i * k * n..][..k * n],
                        par,
                    );
                }
                ArrayD::from_shape_vec(IxDyn(&sb), db).expect("sized")
            });
            vec![ga, gb]
        }))
    }

    /// Affine map `x·wᵀ + bias` with `x: [n, in]`, `w: [out, in]`, `bias: [out]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not 2-D, `w` is not `[out, in]`, or `bias` is not `[out]`.
    pub fn linear(self, w: Var<'t, T>, bias: Option<Var<'t, T>>) -> Result<Var<'t, T>> {
        let (xv, wv) = (self.try_value()?, w.try_value()?);
        let (sx, sw) = (xv.shape().to_vec(), wv.shape().to_vec());
        if sx.len() != 2 || sw.len() != 2 || sx[1] != sw[1] {
            return Err(Error::shape(
                "linear",
                format!(
                    "input {} and weight {} do not agree (expected [n, in] and [out, in])",
                    fmt_shape(&sx),
                    fmt_shape(&sw)
                ),
            ));
        }
        let (n, din, dout) = (sx[0], sx[1], sw[0]);
        let bv = match bias {
            Some(b) => {
                let bv = b.try_value()?;
                if bv.shape() != [dout] {
                    return Err(Error::shape(
                        "linear",
                        format!(
                            "bias {} does not match weight {} (expected [{dout}])",
                            fmt_shape(bv.shape()),
                            fmt_shape(&sw)
                        ),
                    ));
                }
                Some(bv)
            }
            None => None,
        };
        let par = self.tape.par();
        // Overwritten: by the bias rows (then β = 1), or by the product with β = 0.
        let mut out = detaux_kernels::alloc::output_buffer(n * dout, par);
        let beta = if let Some(bv) = &bv {
            let b = slice_of(bv);
            for row in out.chunks_mut(dout.max(1)) {
                row.copy_from_slice(b);
            }
            T::ONE
        } else {
            T::ZERO
        };
        gemm_into(slice_of(&xv), false, slice_of(&wv), true, n, din, dout, beta, &mut out, par);
        let out = ArrayD::from_shape_vec(IxDyn(&[n, dout]), out).expect("sized");
        let mut parents = vec![self, w];
        parents.extend(bias);
        Ok(self.tape.push_op(out, &parents, move |g, needs| {
            let gs = slice_of(g);
            let dx = needs[0].then(|| {
                // dX = G·W : [n, out]·[out, in]
                let mut dx = detaux_kernels::alloc::output_buffer(n * din, par);
                gemm_into(gs, false, slice_of(&wv), false, n, dout, din, T::ZERO, &mut dx, par);
                ArrayD::from_shape_vec(IxDyn(&[n, din]), dx).expect("sized")
            });
            let dw = needs[1].then(|| {
                // dW = Gᵀ·X : [out, n]·[n, in]
                let mut dw = detaux_kernels::alloc::output_buffer(dout * din, par);
                gemm_into(gs, true, slice_of(&xv), false, dout, n, din, T::ZERO, &mut dw, par);
                ArrayD::from_shape_vec(IxDyn(&[dout, din]), dw).expect("sized")
            });
            let mut grads = vec![dx, dw];
            if needs.len() == 3 {
                grads.push(needs[2].then(|| column_sums(gs, n, dout)));
            }
            grads
        }))
    }
}

/// Column sums of a row-major `[rows, cols]` buffer, rows added in order.
pub(crate) fn column_sums<T: Element>(g: &[T], rows: usize, cols: usize) -> Tensor<T> {
    let mut s = vec![T::ZERO; cols];
    for r in 0..rows {
        for (acc, &v) in s.iter_mut().zip(&g[r * cols..(r + 1) * cols]) {
            *acc += v;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[cols]), s).expect("sized")
}
