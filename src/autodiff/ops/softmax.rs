//! Softmax family and the standard losses.
//!
//! | op | forward | gradient |
//! |---|---|---|
//! | `softmax(axis)` | yᵢ = e^{xᵢ−m} / Σⱼ e^{xⱼ−m} (m = max, for stability) | ∂x = y ⊙ (g − Σ g⊙y) |
//! | `log_softmax(axis)` | xᵢ − m − ln Σⱼ e^{xⱼ−m} | ∂x = g − softmax ⊙ Σ g |
//! | `cross_entropy(t)` | mean over rows of `logsumexp(xₙ) − xₙ[tₙ]` (logits `[n, c]`, integer targets) | (softmax − onehot(t))·g/n |
//! | `mse(b)` | mean of (a − b)² | ∂a = 2(a − b)·g/N, ∂b = −∂a |
//!
//! Lanes are processed one at a time in index order (deterministic).

use super::{check_axis, fmt_shape, map, slice_of, zip_map};
use crate::autodiff::{Element, Tensor, Var};
use crate::error::{Error, Result};
use ndarray::{ArrayD, Axis, Dimension, IxDyn, Zip};
use std::rc::Rc;

fn softmax_array<T: Element>(x: &Tensor<T>, axis: usize) -> Tensor<T> {
    let mut y = x.clone();
    for mut lane in y.lanes_mut(Axis(axis)) {
        let m = lane.iter().fold(-T::INFINITY, |a, &b| a.max(b));
        let mut s = T::ZERO;
        for v in lane.iter_mut() {
            *v = (*v - m).exp();
            s += *v;
        }
        for v in lane.iter_mut() {
            *v /= s;
        }
    }
    y
}

/// `ln Σⱼ e^{xⱼ}` of one lane, shifted by its maximum `m` for stability: `m + ln Σⱼ e^{xⱼ−m}`
/// (the terms summed in lane order).
fn log_sum_exp<T: Element, D: Dimension>(lane: ndarray::ArrayView<'_, T, D>) -> T {
    let m = lane.iter().fold(-T::INFINITY, |a, &b| a.max(b));
    m + lane.iter().map(|&v| (v - m).exp()).fold(T::ZERO, |a, b| a + b).ln()
}

/// Σ over `axis` of `a ⊙ b`, kept as a size-1 axis (so it broadcasts back).
fn lane_dot<T: Element>(a: &Tensor<T>, b: &Tensor<T>, axis: usize) -> Tensor<T> {
    (a * b).sum_axis(Axis(axis)).insert_axis(Axis(axis))
}

impl<'t, T: Element> Var<'t, T> {
    /// Softmax along `axis`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `axis` is out of range.
    pub fn softmax(self, axis: usize) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        check_axis("softmax", xv.shape(), axis)?;
        let y = Rc::new(softmax_array(&xv, axis));
        let yc = Rc::clone(&y);
        Ok(self.tape.push_op_rc(y, &[self], move |g, _| {
            let s = lane_dot(g, &yc, axis);
            vec![Some(&*yc * &(g - &s))]
        }))
    }

    /// Log-softmax along `axis` (stable: shifts by the lane maximum).
    ///
    /// # Errors
    /// [`Error::Shape`] if `axis` is out of range.
    pub fn log_softmax(self, axis: usize) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        check_axis("log_softmax", xv.shape(), axis)?;
        let mut y = (*xv).clone();
        for mut lane in y.lanes_mut(Axis(axis)) {
            let lse = log_sum_exp(lane.view());
            lane.mapv_inplace(|v| v - lse);
        }
        let y = Rc::new(y);
        let yc = Rc::clone(&y);
        Ok(self.tape.push_op_rc(y, &[self], move |g, _| {
            let gs = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
            let mut dx = g.clone();
            Zip::from(&mut dx).and(&*yc).and_broadcast(&gs).for_each(|d, &ly, &s| *d -= ly.exp() * s);
            vec![Some(dx)]
        }))
    }

    /// Mean cross-entropy of logits `[n, c]` against integer class `targets` (`n` of them),
    /// `= mean_n (log Σ_c e^{x[n,c]} − x[n, t_n])` (PyTorch `F.cross_entropy`, mean reduction).
    ///
    /// # Errors
    /// [`Error::Shape`] if the logits are not 2-D or `targets.len() != n`;
    /// [`Error::InvalidData`] if a target is `>= c`.
    pub fn cross_entropy(self, targets: &[usize]) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        if xv.ndim() != 2 || xv.shape()[0] != targets.len() {
            return Err(Error::shape(
                "cross_entropy",
                format!(
                    "logits {} and {} targets do not agree (expected [n, c] and n targets)",
                    fmt_shape(xv.shape()),
                    targets.len()
                ),
            ));
        }
        let (n, c) = (xv.shape()[0], xv.shape()[1]);
        if let Some((i, &t)) = targets.iter().enumerate().find(|(_, &t)| t >= c) {
            return Err(Error::InvalidData(format!("cross_entropy: target {t} of row {i} is not a class in 0..{c}")));
        }
        let p = softmax_array(&xv, 1);
        let mut total = T::ZERO;
        for (row, &t) in targets.iter().enumerate() {
            let lane = xv.index_axis(Axis(0), row);
            total += log_sum_exp(lane.view()) - lane[t];
        }
        let inv_n = T::ONE / T::from_usize(n);
        let out = ArrayD::from_elem(IxDyn(&[]), total * inv_n);
        let targets = targets.to_vec();
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            let scale = *g.iter().next().expect("scalar") * inv_n;
            let mut dx = p;
            for (row, &t) in targets.iter().enumerate() {
                dx[[row, t]] -= T::ONE;
            }
            dx.mapv_inplace(|v| v * scale);
            let _ = c;
            vec![Some(dx)]
        }))
    }

    /// Mean squared error `mean((self − target)²)` over all elements (shapes must be equal).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes differ.
    pub fn mse(self, target: Var<'t, T>) -> Result<Var<'t, T>> {
        self.live("mse")?;
        target.live("mse")?;
        let (a, b) = (self.shape(), target.shape());
        if a != b {
            return Err(Error::shape(
                "mse",
                format!("prediction {} and target {} differ", fmt_shape(&a), fmt_shape(&b)),
            ));
        }
        // One op for `(self − target).square().mean_all()`, with the same arithmetic: the
        // difference `d` in one pass, `Σ d²` as a blocked dot product (the same products and
        // additions as the blocked sum of the squares), times `1/N`; backward `gs·(d + d)` with
        // `gs = g·(1/N)`, and its negation for `target`.
        let (av, bv) = (self.try_value()?, target.try_value()?);
        let par = self.tape.par();
        let d = zip_map(par, &av, &bv, |x, y| x - y);
        let inv_n = T::ONE / T::from_usize(d.len());
        let sum_sq = detaux_kernels::reduce::dot_par(slice_of(&d), slice_of(&d), par);
        let out = ArrayD::from_elem(IxDyn(&[]), sum_sq * inv_n);
        Ok(self.tape.push_op(out, &[self, target], move |g, needs| {
            let gs = *g.iter().next().expect("scalar gradient") * inv_n;
            let ga = map(par, &d, |x| gs * (x + x));
            let gb = needs[1].then(|| map(par, &ga, |v| -v));
            vec![needs[0].then_some(ga), gb]
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::autodiff::{Tape, Tensor};
    use ndarray::{ArrayD, IxDyn};

    /// `(value, ∂a, ∂b)` of `loss(a, b)`, as bits.
    fn run(
        a: &Tensor<f32>,
        b: &Tensor<f32>,
        loss: impl for<'t> Fn(crate::autodiff::Var<'t, f32>, crate::autodiff::Var<'t, f32>) -> crate::autodiff::Var<'t, f32>,
    ) -> (u32, Vec<u32>, Vec<u32>) {
        let tape = Tape::new();
        let (va, vb) = (tape.leaf(a.clone()), tape.leaf(b.clone()));
        let l = loss(va, vb);
        let value = l.scalar().unwrap().to_bits();
        let g = tape.backward(l).unwrap();
        let bits = |v| g.wrt(v).unwrap().unwrap().iter().map(|x: &f32| x.to_bits()).collect();
        (value, bits(va), bits(vb))
    }

    #[test]
    fn mse_equals_the_composed_ops_bitwise() {
        // Below one reduction block, across several (blocked sum), and past the parallel map size.
        for len in [7, (1 << 14) + 3, 5 * (1 << 14) + 11] {
            let gen = |seed: u64| {
                let mut s = seed;
                ArrayD::from_shape_fn(IxDyn(&[len]), |_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0
                })
            };
            let (a, b) = (gen(1), gen(2));
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let fused = pool.install(|| run(&a, &b, |x, y| x.mse(y).unwrap()));
                let composed = pool.install(|| run(&a, &b, |x, y| x.sub(y).unwrap().square().mean_all()));
                assert!(fused == composed, "len {len}, {threads} threads");
            }
        }
    }
}
