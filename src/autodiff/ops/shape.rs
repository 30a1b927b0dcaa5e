//! Shape ops: they move or copy elements without arithmetic, and their gradients move the
//! output gradient back (scatter-adding where an input element was used more than once).
//!
//! | op | forward | gradient |
//! |---|---|---|
//! | `reshape(s)` | same elements, shape `s` (C order) | g reshaped back |
//! | `flatten(a)` | axes `a..` merged into one | g reshaped back |
//! | `permute(p)` | `y.shape[i] = x.shape[p[i]]` | g permuted by p⁻¹ |
//! | `transpose(a, b)` | swap axes a, b | g transposed back |
//! | `concat(xs, axis)` | join along `axis` | g split along `axis` |
//! | `stack(xs, axis)` | new axis of size `xs.len()` | g split along it |
//! | `slice(axis, start, end)` | `x[.., start..end, ..]` | g placed in a zero array |
//! | `select(axis, i)` | `x[.., i, ..]`, axis removed | g placed at `i` |
//! | `index_select(axis, idx)` | `x[.., idx[k], ..]` | g scatter-added to `idx[k]` |
//! | `gather(axis, idx)` | `y[.., k, ..] = x[.., idx[.., k, ..], ..]` | g scatter-added |
//! | `detach` | x | none (cuts the graph) |

use super::{check_axis, fmt_shape};
use crate::autodiff::{Element, Tensor, Var};
use crate::error::{Error, Result};
use ndarray::{ArrayD, Axis, Dimension, IxDyn, Slice};

impl<'t, T: Element> Var<'t, T> {
    /// The same elements in C order with a new shape.
    ///
    /// # Errors
    /// [`Error::Shape`] if the element counts differ.
    pub fn reshape(self, shape: &[usize]) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        let n: usize = shape.iter().product();
        if n != xv.len() {
            return Err(Error::shape(
                "reshape",
                format!(
                    "cannot reshape {} ({} elements) to {} ({n} elements)",
                    fmt_shape(xv.shape()),
                    xv.len(),
                    fmt_shape(shape)
                ),
            ));
        }
        let out = (*xv).clone().into_shape_with_order(IxDyn(shape)).expect("checked");
        let in_shape = xv.shape().to_vec();
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            vec![Some(g.clone().into_shape_with_order(IxDyn(&in_shape)).expect("same count"))]
        }))
    }

    /// Merges axes `start..` into one: `[n, c, h, w].flatten(1)` is `[n, c·h·w]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `start` is out of range.
    pub fn flatten(self, start: usize) -> Result<Var<'t, T>> {
        self.live("flatten")?;
        let s = self.shape();
        check_axis("flatten", &s, start)?;
        let mut shape = s[..start].to_vec();
        shape.push(s[start..].iter().product());
        self.reshape(&shape)
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `perm` is not a permutation of `0..ndim`.
    pub fn permute(self, perm: &[usize]) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        let mut seen = vec![false; xv.ndim()];
        let valid =
            perm.len() == xv.ndim() && perm.iter().all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(Error::shape(
                "permute",
                format!("{perm:?} is not a permutation of the axes of shape {}", fmt_shape(xv.shape())),
            ));
        }
        let out = xv.view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned();
        let mut inv = vec![0; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inv[p] = i;
        }
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            vec![Some(g.view().permuted_axes(IxDyn(&inv)).as_standard_layout().into_owned())]
        }))
    }

    /// Swaps axes `a` and `b`.
    ///
    /// # Errors
    /// [`Error::Shape`] if an axis is out of range.
    pub fn transpose(self, a: usize, b: usize) -> Result<Var<'t, T>> {
        self.live("transpose")?;
        let n = self.ndim();
        check_axis("transpose", &self.shape(), a.max(b))?;
        let mut perm: Vec<usize> = (0..n).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Elements `start..end` along `axis`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the axis is out of range or `start > end` or `end` exceeds its size.
    pub fn slice(self, axis: usize, start: usize, end: usize) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        check_axis("slice", xv.shape(), axis)?;
        if start > end || end > xv.shape()[axis] {
            return Err(Error::shape(
                "slice",
                format!("range {start}..{end} out of bounds for axis {axis} of shape {}", fmt_shape(xv.shape())),
            ));
        }
        let out = xv.slice_axis(Axis(axis), Slice::from(start..end)).as_standard_layout().into_owned();
        let in_shape = xv.shape().to_vec();
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            let mut dx = ArrayD::zeros(IxDyn(&in_shape));
            dx.slice_axis_mut(Axis(axis), Slice::from(start..end)).assign(g);
            vec![Some(dx)]
        }))
    }

    /// Element `index` along `axis`, removing the axis.
    ///
    /// # Errors
    /// [`Error::Shape`] if the axis or index is out of range.
    pub fn select(self, axis: usize, index: usize) -> Result<Var<'t, T>> {
        self.live("select")?;
        let s = self.shape();
        check_axis("select", &s, axis)?;
        if index >= s[axis] {
            return Err(Error::shape(
                "select",
                format!("index {index} out of range for axis {axis} of shape {}", fmt_shape(&s)),
            ));
        }
        let mut out_shape = s.clone();
        out_shape.remove(axis);
        self.slice(axis, index, index + 1)?.reshape(&out_shape)
    }

    /// Rows `indices[k]` along `axis` (repeats allowed): output has `indices.len()` there.
    ///
    /// # Errors
    /// [`Error::Shape`] if the axis or an index is out of range.
    pub fn index_select(self, axis: usize, indices: &[usize]) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        check_axis("index_select", xv.shape(), axis)?;
        if let Some(&bad) = indices.iter().find(|&&i| i >= xv.shape()[axis]) {
            return Err(Error::shape(
                "index_select",
                format!("index {bad} out of range for axis {axis} of shape {}", fmt_shape(xv.shape())),
            ));
        }
        let out = xv.select(Axis(axis), indices).as_standard_layout().into_owned();
        let in_shape = xv.shape().to_vec();
        let idx = indices.to_vec();
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            let mut dx: Tensor<T> = ArrayD::zeros(IxDyn(&in_shape));
            for (k, &i) in idx.iter().enumerate() {
                let mut dst = dx.index_axis_mut(Axis(axis), i);
                dst += &g.index_axis(Axis(axis), k);
            }
            vec![Some(dx)]
        }))
    }

    /// `y[p] = x[p with p[axis] replaced by index[p]]`; `index` has the output's shape, which
    /// equals `x`'s on every axis but `axis`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the ranks differ, another axis differs, or an index is out of range.
    pub fn gather(self, axis: usize, index: &ArrayD<usize>) -> Result<Var<'t, T>> {
        let xv = self.try_value()?;
        check_axis("gather", xv.shape(), axis)?;
        let ok = index.ndim() == xv.ndim() && (0..xv.ndim()).all(|a| a == axis || index.shape()[a] == xv.shape()[a]);
        if !ok {
            return Err(Error::shape(
                "gather",
                format!(
                    "index shape {} must match input shape {} on every axis but {axis}",
                    fmt_shape(index.shape()),
                    fmt_shape(xv.shape())
                ),
            ));
        }
        if let Some(&bad) = index.iter().find(|&&i| i >= xv.shape()[axis]) {
            return Err(Error::shape(
                "gather",
                format!("index {bad} out of range for axis {axis} of shape {}", fmt_shape(xv.shape())),
            ));
        }
        let out = ArrayD::from_shape_fn(index.raw_dim(), |p| {
            let mut q = p.slice().to_vec();
            q[axis] = index[&p];
            xv[IxDyn(&q)]
        });
        let in_shape = xv.shape().to_vec();
        let index = index.clone();
        Ok(self.tape.push_op(out, &[self], move |g, _| {
            let mut dx: Tensor<T> = ArrayD::zeros(IxDyn(&in_shape));
            for (p, &i) in index.indexed_iter() {
                let mut q = p.slice().to_vec();
                q[axis] = i;
                dx[IxDyn(&q)] += g[&p];
            }
            vec![Some(dx)]
        }))
    }

    /// The same value with no gradient flowing back (`torch.Tensor.detach`).
    /// A stale `self` is returned as it is (see [`Var::try_value`]).
    pub fn detach(self) -> Var<'t, T> {
        if !self.is_live() {
            return self;
        }
        self.tape.constant((*self.value()).clone())
    }
}

/// Joins `xs` along an existing `axis`.
///
/// # Errors
/// [`Error::Shape`] if `xs` is empty, or the shapes differ on another axis, or ranks differ.
pub fn concat<'t, T: Element>(xs: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
    let first = xs.first().ok_or_else(|| Error::shape("concat", "no inputs"))?;
    let vals = xs.iter().map(|x| x.try_value()).collect::<Result<Vec<_>>>()?;
    let s0 = vals[0].shape().to_vec();
    check_axis("concat", &s0, axis)?;
    for v in &vals[1..] {
        let s = v.shape();
        if s.len() != s0.len() || (0..s0.len()).any(|a| a != axis && s[a] != s0[a]) {
            return Err(Error::shape(
                "concat",
                format!("shapes {} and {} differ outside axis {axis}", fmt_shape(&s0), fmt_shape(s)),
            ));
        }
    }
    let views: Vec<_> = vals.iter().map(|v| v.view()).collect();
    let out = ndarray::concatenate(Axis(axis), &views).expect("checked").as_standard_layout().into_owned();
    let sizes: Vec<usize> = vals.iter().map(|v| v.shape()[axis]).collect();
    Ok(first.tape.push_op(out, xs, move |g, needs| {
        let mut start = 0;
        sizes
            .iter()
            .zip(needs)
            .map(|(&len, &need)| {
                let part = need.then(|| g.slice_axis(Axis(axis), Slice::from(start..start + len)).to_owned());
                start += len;
                part
            })
            .collect()
    }))
}

/// Stacks equal-shaped `xs` along a new `axis` (`0..=ndim`).
///
/// # Errors
/// [`Error::Shape`] if `xs` is empty, shapes differ, or `axis > ndim`.
pub fn stack<'t, T: Element>(xs: &[Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
    let first = xs.first().ok_or_else(|| Error::shape("stack", "no inputs"))?;
    for x in xs {
        x.live("stack")?;
    }
    let s0 = first.shape();
    if axis > s0.len() {
        return Err(Error::shape("stack", format!("axis {axis} out of range for stacking shape {}", fmt_shape(&s0))));
    }
    let mut expanded = Vec::with_capacity(xs.len());
    for x in xs {
        let s = x.shape();
        if s != s0 {
            return Err(Error::shape("stack", format!("shapes {} and {} differ", fmt_shape(&s0), fmt_shape(&s))));
        }
        let mut e = s.clone();
        e.insert(axis, 1);
        expanded.push(x.reshape(&e)?);
    }
    concat(&expanded, axis)
}
