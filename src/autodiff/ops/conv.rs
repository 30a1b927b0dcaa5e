//! 2-D convolution and transposed convolution (NCHW), through `detaux_kernels::conv`.
//!
//! `conv2d`: `x: [n, c_in, h, w]`, `w: [c_out, c_in, k_h, k_w]`, `bias: [c_out]` →
//! `[n, c_out, (h + 2p_h − k_h)/s_h + 1, (w + 2p_w − k_w)/s_w + 1]`, with
//! `y[n,o,i,j] = bias[o] + Σ_{c,p,q} w[o,c,p,q]·x[n, c, i·s_h + p − p_h, j·s_w + q − p_w]`.
//! Gradients: `∂x` = transposed convolution of `g` with `w`; `∂w[o,c,p,q] = Σ_{n,i,j} g·x`;
//! `∂bias[o] = Σ_{n,i,j} g[n,o,i,j]`.
//!
//! `conv_transpose2d`: `x: [n, c_in, h, w]`, `w: [c_in, c_out, k_h, k_w]` (PyTorch
//! `ConvTranspose2d` layout), `bias: [c_out]` →
//! `[n, c_out, (h−1)·s_h − 2p_h + k_h + op_h, (w−1)·s_w − 2p_w + k_w + op_w]`; it is the
//! input-gradient of the dual convolution, so `∂x` is a convolution of `g` with `w`.

use super::{fmt_shape, slice_of};
use crate::autodiff::{Element, Var};
use crate::error::{Error, Result};
use crate::par::Par;
use detaux_kernels::conv::{self as kc, Conv2dGeom, ConvTranspose2dGeom};
use ndarray::{ArrayD, IxDyn};

fn bias_of<T: Element>(
    op: &'static str,
    bias: Option<Var<'_, T>>,
    c: usize,
) -> Result<Option<std::rc::Rc<crate::autodiff::Tensor<T>>>> {
    match bias {
        None => Ok(None),
        Some(b) => {
            let bv = b.try_value()?;
            if bv.shape() != [c] {
                return Err(Error::shape(op, format!("bias shape {} must be [{c}]", fmt_shape(bv.shape()))));
            }
            Ok(Some(bv))
        }
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// 2-D convolution (see the module docs). `stride` and `padding` are `[vertical, horizontal]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not 4-D, `w` is not `[c_out, c_in, k_h, k_w]` with `x`'s
    /// channel count, `bias` is not `[c_out]`, a stride is 0, or the kernel does not fit the
    /// padded input.
    pub fn conv2d(
        self,
        w: Var<'t, T>,
        bias: Option<Var<'t, T>>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Var<'t, T>> {
        let (xv, wv) = (self.try_value()?, w.try_value()?);
        let (sx, sw) = (xv.shape().to_vec(), wv.shape().to_vec());
        if sx.len() != 4 || sw.len() != 4 || sx[1] != sw[1] {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "input {} and weight {} do not agree (expected [n, c_in, h, w] and [c_out, c_in, kh, kw])",
                    fmt_shape(&sx),
                    fmt_shape(&sw)
                ),
            ));
        }
        let g = Conv2dGeom {
            batch: sx[0],
            c_in: sx[1],
            h_in: sx[2],
            w_in: sx[3],
            c_out: sw[0],
            k_h: sw[2],
            k_w: sw[3],
            stride_h: stride[0],
            stride_w: stride[1],
            pad_h: padding[0],
            pad_w: padding[1],
        };
        g.check()
            .map_err(|e| Error::shape("conv2d", format!("input {} weight {}: {e}", fmt_shape(&sx), fmt_shape(&sw))))?;
        let bv = bias_of("conv2d", bias, g.c_out)?;
        let par = self.tape.par();
        let mut y = detaux_kernels::alloc::output_buffer(g.y_len(), par);
        kc::conv2d_forward(&g, slice_of(&xv), slice_of(&wv), bv.as_deref().map(slice_of), &mut y, par);
        let out = ArrayD::from_shape_vec(IxDyn(&[g.batch, g.c_out, g.h_out(), g.w_out()]), y).expect("sized");
        let mut parents = vec![self, w];
        parents.extend(bias);
        Ok(self.tape.push_op(out, &parents, move |gy, needs| {
            let (gs, xs, ws) = (slice_of(gy), slice_of(&xv), slice_of(&wv));
            let (dx, dw) = input_and_weight_grads(
                par,
                [needs[0], needs[1]],
                [&sx, &sw],
                |dx| kc::conv2d_backward_input(&g, gs, ws, dx, par),
                |dw| kc::conv2d_backward_weight(&g, xs, gs, dw, par),
            );
            let mut grads = vec![dx, dw];
            if needs.len() == 3 {
                grads.push(needs[2].then(|| {
                    let mut db = vec![T::ZERO; g.c_out];
                    kc::bias_backward(g.batch, g.c_out, g.h_out() * g.w_out(), gs, &mut db, par);
                    ArrayD::from_shape_vec(IxDyn(&[g.c_out]), db).expect("sized")
                }));
            }
            grads
        }))
    }

    /// 2-D transposed convolution (see the module docs). `stride`, `padding` and
    /// `output_padding` are `[vertical, horizontal]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` is not 4-D, `w` is not `[c_in, c_out, k_h, k_w]` with `x`'s
    /// channel count, `bias` is not `[c_out]`, a stride is 0, `output_padding >= stride`, or the
    /// padding leaves no output.
    pub fn conv_transpose2d(
        self,
        w: Var<'t, T>,
        bias: Option<Var<'t, T>>,
        stride: [usize; 2],
        padding: [usize; 2],
        output_padding: [usize; 2],
    ) -> Result<Var<'t, T>> {
        let (xv, wv) = (self.try_value()?, w.try_value()?);
        let (sx, sw) = (xv.shape().to_vec(), wv.shape().to_vec());
        if sx.len() != 4 || sw.len() != 4 || sx[1] != sw[0] {
            return Err(Error::shape(
                "conv_transpose2d",
                format!(
                    "input {} and weight {} do not agree (expected [n, c_in, h, w] and [c_in, c_out, kh, kw])",
                    fmt_shape(&sx),
                    fmt_shape(&sw)
                ),
            ));
        }
        let g = ConvTranspose2dGeom {
            batch: sx[0],
            c_in: sx[1],
            h_in: sx[2],
            w_in: sx[3],
            c_out: sw[1],
            k_h: sw[2],
            k_w: sw[3],
            stride_h: stride[0],
            stride_w: stride[1],
            pad_h: padding[0],
            pad_w: padding[1],
            out_pad_h: output_padding[0],
            out_pad_w: output_padding[1],
        };
        g.check().map_err(|e| {
            Error::shape("conv_transpose2d", format!("input {} weight {}: {e}", fmt_shape(&sx), fmt_shape(&sw)))
        })?;
        let bv = bias_of("conv_transpose2d", bias, g.c_out)?;
        let par = self.tape.par();
        let mut y = detaux_kernels::alloc::output_buffer(g.y_len(), par);
        kc::conv_transpose2d_forward(&g, slice_of(&xv), slice_of(&wv), bv.as_deref().map(slice_of), &mut y, par);
        let out = ArrayD::from_shape_vec(IxDyn(&[g.batch, g.c_out, g.h_out(), g.w_out()]), y).expect("sized");
        let mut parents = vec![self, w];
        parents.extend(bias);
        Ok(self.tape.push_op(out, &parents, move |gy, needs| {
            let (gs, xs, ws) = (slice_of(gy), slice_of(&xv), slice_of(&wv));
            let (dx, dw) = input_and_weight_grads(
                par,
                [needs[0], needs[1]],
                [&sx, &sw],
                |dx| kc::conv_transpose2d_backward_input(&g, gs, ws, dx, par),
                |dw| kc::conv_transpose2d_backward_weight(&g, xs, gs, dw, par),
            );
            let mut grads = vec![dx, dw];
            if needs.len() == 3 {
                grads.push(needs[2].then(|| {
                    let mut db = vec![T::ZERO; g.c_out];
                    kc::bias_backward(g.batch, g.c_out, g.h_out() * g.w_out(), gs, &mut db, par);
                    ArrayD::from_shape_vec(IxDyn(&[g.c_out]), db).expect("sized")
                }));
            }
            grads
        }))
    }
}

/// The input and weight gradients of a convolution: each one (if `needs` it) is a buffer of
/// its `shape` ([`detaux_kernels::alloc::output_buffer`]: the kernels overwrite it) filled by
/// its kernel call, run concurrently on the current
/// rayon pool when `par` is `Rayon` (they are independent, so the pool's threads fill each
/// other's idle tails), one after the other otherwise. Either way each gradient is computed by
/// the same code, so the bits do not depend on the choice.
fn input_and_weight_grads<T: Element>(
    par: Par,
    needs: [bool; 2],
    shapes: [&[usize]; 2],
    fill_dx: impl FnOnce(&mut [T]) + Send,
    fill_dw: impl FnOnce(&mut [T]) + Send,
) -> (Option<ArrayD<T>>, Option<ArrayD<T>>) {
    if par == Par::Rayon && rayon::current_num_threads() > 1 {
        rayon::join(|| filled(par, needs[0], shapes[0], fill_dx), || filled(par, needs[1], shapes[1], fill_dw))
    } else {
        (filled(par, needs[0], shapes[0], fill_dx), filled(par, needs[1], shapes[1], fill_dw))
    }
}

/// A tensor of `shape` filled by `fill` (which overwrites every element), if `need`.
fn filled<T: Element>(par: Par, need: bool, shape: &[usize], fill: impl FnOnce(&mut [T])) -> Option<ArrayD<T>> {
    need.then(|| {
        let mut buf = detaux_kernels::alloc::output_buffer(shape.iter().product(), par);
        fill(&mut buf);
        ArrayD::from_shape_vec(IxDyn(shape), buf).expect("sized")
    })
}
