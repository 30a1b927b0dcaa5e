//! Reductions.
//!
//! | op | forward | gradient |
//! |---|---|---|
//! | `sum_all` | Σ x (shape `[]`) | g broadcast to x's shape |
//! | `mean_all` | Σ x / n | g / n |
//! | `sum_axes(axes, keep)` | Σ over `axes` | g broadcast back over `axes` |
//! | `mean_axes(axes, keep)` | mean over `axes` | g / (product of reduced sizes) |
//! | `max_axis(axis, keep)` | max over `axis` | g routed to the first maximal element of each lane |
//! | `argmax(axis)` | index of the first maximum (a plain array, no gradient) | — |
//!
//! ## Determinism
//! `sum_all` uses the blocked kernel (`detaux_kernels::reduce::sum_par`: fixed blocks, partials
//! added in index order); axis sums fold lanes sequentially in index order.

use super::{fmt_shape, slice_of};
use crate::autodiff::{Element, Tensor, Var};
use crate::error::{Error, Result};
use ndarray::{ArrayD, Axis, Dimension, IxDyn};

fn check_axes(op: &'static str, shape: &[usize], axes: &[usize]) -> Result<Vec<usize>> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != axes.len() {
        return Err(Error::shape(op, format!("axes {axes:?} repeat an axis (input shape {})", fmt_shape(shape))));
    }
    if let Some(&bad) = sorted.iter().find(|&&a| a >= shape.len()) {
        return Err(Error::shape(op, format!("axis {bad} out of range for shape {}", fmt_shape(shape))));
    }
    Ok(sorted)
}

/// The shape with `axes` set to 1 (kept) — the shape a reduced gradient broadcasts from.
fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
}

impl<'t, T: Element> Var<'t, T> {
    /// Sum of all elements (a 0-dimensional result).
    pub fn sum_all(self) -> Var<'t, T> {
        if !self.is_live() {
            return self;
        }
        let xv = self.value();
        let s = detaux_kernels::reduce::sum_par(slice_of(&xv), self.tape.par());
        let shape = xv.raw_dim();
        self.tape.push_op(ArrayD::from_elem(IxDyn(&[]), s), &[self], move |g, _| {
            let gs = *g.iter().next().expect("scalar gradient");
            vec![Some(ArrayD::from_elem(shape, gs))]
        })
    }

    /// Mean of all elements (a 0-dimensional result). The mean of an empty tensor is NaN.
    pub fn mean_all(self) -> Var<'t, T> {
        if !self.is_live() {
            return self;
        }
        let n = T::from_usize(self.value().len());
        self.sum_all().mul_scalar(T::ONE / n)
    }

    /// Sum over `axes` (any order, no repeats); `keep_dims` keeps them with size 1.
    ///
    /// # Errors
    /// [`Error::Shape`] if an axis is out of range or repeated.
    pub fn sum_axes(self, axes: &[usize], keep_dims: bool) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        let in_shape = xv.shape().to_vec();
        let sorted = check_axes("sum_axes", &in_shape, axes)?;
        let mut out = (*xv).clone();
        for &ax in sorted.iter().rev() {
            out = out.sum_axis(Axis(ax));
        }
        let kept = kept_shape(&in_shape, &sorted);
        if keep_dims {
            out = out.into_shape_with_order(IxDyn(&kept)).expect("same element count");
        }
        let in_dim = xv.raw_dim();
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            let g = g.view().into_shape_with_order(IxDyn(&kept)).expect("same element count");
            vec![Some(g.broadcast(in_dim).expect("kept dims broadcast").to_owned())]
        }))
    }

    /// Mean over `axes`; `keep_dims` keeps them with size 1.
    ///
    /// # Errors
    /// [`Error::Shape`] if an axis is out of range or repeated.
    pub fn mean_axes(self, axes: &[usize], keep_dims: bool) -> Result<Var<'t, T>> {
        self.live("mean_axes")?;
        let shape = self.shape();
        check_axes("mean_axes", &shape, axes)?;
        let count: usize = axes.iter().map(|&a| shape[a]).product();
        Ok(self.sum_axes(axes, keep_dims)?.mul_scalar(T::ONE / T::from_usize(count)))
    }

    /// Maximum over `axis`; the gradient goes to the first maximal element of each lane.
    ///
    /// # Errors
    /// [`Error::Shape`] if `axis` is out of range or has size 0.
    pub fn max_axis(self, axis: usize, keep_dims: bool) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        let idx = argmax_array("max_axis", &xv, axis)?;
        let mut out = ArrayD::from_shape_fn(idx.raw_dim(), |i| {
            let mut full: Vec<usize> = i.slice().to_vec();
            full.insert(axis, idx[&i]);
            xv[IxDyn(&full)]
        });
        let in_shape = xv.shape().to_vec();
        if keep_dims {
            out = out.insert_axis(Axis(axis));
        }
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            let g = if keep_dims { g.index_axis(Axis(axis), 0).to_owned() } else { g.clone() };
            let mut dx = ArrayD::zeros(IxDyn(&in_shape));
            for (i, &k) in idx.indexed_iter() {
                let mut full: Vec<usize> = i.slice().to_vec();
                full.insert(axis, k);
                dx[IxDyn(&full)] = g[&i];
            }
            vec![Some(dx)]
        }))
    }

    /// Index of the first maximum along `axis` (the axis is removed). Not differentiable:
    /// returns a plain array.
    ///
    /// # Errors
    /// [`Error::Shape`] if `axis` is out of range or has size 0.
    pub fn argmax(self, axis: usize) -> Result<ArrayD<usize>> {
        argmax_array("argmax", &*self.try_value()?, axis)
    }
}

/// Index of the first maximum along `axis` (NaN never wins unless the lane is all NaN).
pub(crate) fn argmax_array<T: Element>(op: &'static str, x: &Tensor<T>, axis: usize) -> Result<ArrayD<usize>> {
    if axis >= x.ndim() {
        return Err(Error::shape(op, format!("axis {axis} out of range for shape {}", fmt_shape(x.shape()))));
    }
    if x.shape()[axis] == 0 {
        return Err(Error::shape(op, format!("axis {axis} of shape {} is empty", fmt_shape(x.shape()))));
    }
    Ok(x.map_axis(Axis(axis), |lane| {
        let mut best = 0;
        for (k, &v) in lane.iter().enumerate() {
            let b = lane[best];
            if v > b || (b.partial_cmp(&b).is_none() && v.partial_cmp(&v).is_some()) {
                best = k;
            }
        }
        best
    }))
}
