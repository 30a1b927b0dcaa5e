//! 2-D convolution and transposed convolution (NCHW), forward and both backward passes.
//!
//! Convolution, for `x: [n, c_in, h_in, w_in]`, `w: [c_out, c_in, k_h, k_w]`, `b: [c_out]`:
//!
//! `y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x[n, c, i·s_h + p − pad_h, j·s_w + q − pad_w]`
//!
//! (out-of-range `x` reads are zero), with `h_out = (h_in + 2·pad_h − k_h) / s_h + 1` (floor).
//! Its two backward passes are
//! - input: `dx[n, c, u, v] = Σ_{o, p, q : u = i·s_h + p − pad_h, …} w[o, c, p, q] · dy[n, o, i, j]`
//!   (a transposed convolution of `dy`),
//! - weight: `dw[o, c, p, q] = Σ_{n, i, j} dy[n, o, i, j] · x[n, c, i·s_h + p − pad_h, …]`,
//! - bias: `db[o] = Σ_{n, i, j} dy[n, o, i, j]`.
//!
//! A transposed convolution with `x: [n, c_in, h, w]`, `w: [c_in, c_out, k_h, k_w]` (PyTorch's
//! `ConvTranspose2d` layout) *is* the input-backward pass of the dual convolution that maps its
//! output back to its input ([`ConvTranspose2dGeom::as_conv`]), so one code path serves both:
//! its forward is `conv2d_backward_input`, its input-backward is `conv2d_forward`, and its
//! weight-backward is `conv2d_backward_weight` with `x` and `dy` swapped.
//!
//! The slow, obviously-correct oracles are in [`reference`].
//!
//! ## Determinism
//! Work is split over images of the batch (forward, input-backward) or over output channels /
//! fixed blocks with a fixed-order combine (weight-backward); never over a reduction axis in a
//! schedule-dependent way, so results are bitwise identical for any thread count.

pub mod reference;

use crate::{Float, Par};

/// Shape of a 2-D convolution (see the module docs for the formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeom {
    /// Batch size `n`.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Vertical stride (≥ 1).
    pub stride_h: usize,
    /// Horizontal stride (≥ 1).
    pub stride_w: usize,
    /// Zero padding on top and bottom.
    pub pad_h: usize,
    /// Zero padding on left and right.
    pub pad_w: usize,
}

impl Conv2dGeom {
    /// Output height `(h_in + 2·pad_h − k_h) / stride_h + 1`.
    pub fn h_out(&self) -> usize {
        (self.h_in + 2 * self.pad_h - self.k_h) / self.stride_h + 1
    }
    /// Output width `(w_in + 2·pad_w − k_w) / stride_w + 1`.
    pub fn w_out(&self) -> usize {
        (self.w_in + 2 * self.pad_w - self.k_w) / self.stride_w + 1
    }
    /// Elements of `x`: `n·c_in·h_in·w_in`.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    /// Elements of `y`: `n·c_out·h_out·w_out`.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    /// Elements of `w`: `c_out·c_in·k_h·k_w`.
    pub fn w_len(&self) -> usize {
        self.c_out * self.c_in * self.k_h * self.k_w
    }
    /// Multiply-adds of one forward pass (each backward pass costs the same).
    pub fn macs(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out() * self.c_in * self.k_h * self.k_w
    }
    /// Checks that the geometry is usable: non-zero sizes and strides, and a kernel that fits
    /// the padded input. Returns a message naming the offending sizes otherwise.
    pub fn check(&self) -> Result<(), String> {
        if self.stride_h == 0 || self.stride_w == 0 {
            return Err(format!("stride must be >= 1, got ({}, {})", self.stride_h, self.stride_w));
        }
        if self.k_h == 0 || self.k_w == 0 {
            return Err(format!("kernel must be at least 1x1, got {}x{}", self.k_h, self.k_w));
        }
        if self.h_in + 2 * self.pad_h < self.k_h || self.w_in + 2 * self.pad_w < self.k_w {
            return Err(format!(
                "kernel {}x{} does not fit input {}x{} with padding ({}, {})",
                self.k_h, self.k_w, self.h_in, self.w_in, self.pad_h, self.pad_w
            ));
        }
        Ok(())
    }
}

/// Shape of a 2-D transposed convolution (PyTorch `ConvTranspose2d`, no dilation, no groups).
///
/// `h_out = (h_in − 1)·stride_h − 2·pad_h + k_h + out_pad_h`, likewise for the width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose2dGeom {
    /// Batch size `n`.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Vertical stride (≥ 1).
    pub stride_h: usize,
    /// Horizontal stride (≥ 1).
    pub stride_w: usize,
    /// Padding removed from top and bottom of the full output.
    pub pad_h: usize,
    /// Padding removed from left and right of the full output.
    pub pad_w: usize,
    /// Extra rows added at the bottom (< stride_h).
    pub out_pad_h: usize,
    /// Extra columns added at the right (< stride_w).
    pub out_pad_w: usize,
}

impl ConvTranspose2dGeom {
    /// Output height `(h_in − 1)·stride_h − 2·pad_h + k_h + out_pad_h`.
    pub fn h_out(&self) -> usize {
        (self.h_in - 1) * self.stride_h + self.k_h + self.out_pad_h - 2 * self.pad_h
    }
    /// Output width `(w_in − 1)·stride_w − 2·pad_w + k_w + out_pad_w`.
    pub fn w_out(&self) -> usize {
        (self.w_in - 1) * self.stride_w + self.k_w + self.out_pad_w - 2 * self.pad_w
    }
    /// Elements of `x`.
    pub fn x_len(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in
    }
    /// Elements of `y`.
    pub fn y_len(&self) -> usize {
        self.batch * self.c_out * self.h_out() * self.w_out()
    }
    /// Elements of `w`: `c_in·c_out·k_h·k_w`.
    pub fn w_len(&self) -> usize {
        self.c_in * self.c_out * self.k_h * self.k_w
    }
    /// Multiply-adds of one forward pass.
    pub fn macs(&self) -> usize {
        self.batch * self.c_in * self.h_in * self.w_in * self.c_out * self.k_h * self.k_w
    }
    /// Checks sizes (non-zero input, strides, kernel; `out_pad < stride`; positive output).
    pub fn check(&self) -> Result<(), String> {
        if self.stride_h == 0 || self.stride_w == 0 {
            return Err(format!("stride must be >= 1, got ({}, {})", self.stride_h, self.stride_w));
        }
        if self.k_h == 0 || self.k_w == 0 {
            return Err(format!("kernel must be at least 1x1, got {}x{}", self.k_h, self.k_w));
        }
        if self.h_in == 0 || self.w_in == 0 {
            return Err(format!("input must be at least 1x1, got {}x{}", self.h_in, self.w_in));
        }
        if self.out_pad_h >= self.stride_h || self.out_pad_w >= self.stride_w {
            return Err(format!(
                "output padding ({}, {}) must be smaller than the stride ({}, {})",
                self.out_pad_h, self.out_pad_w, self.stride_h, self.stride_w
            ));
        }
        let full_h = (self.h_in - 1) * self.stride_h + self.k_h + self.out_pad_h;
        let full_w = (self.w_in - 1) * self.stride_w + self.k_w + self.out_pad_w;
        if full_h <= 2 * self.pad_h || full_w <= 2 * self.pad_w {
            return Err(format!(
                "padding ({}, {}) leaves no output for input {}x{} and kernel {}x{}",
                self.pad_h, self.pad_w, self.h_in, self.w_in, self.k_h, self.k_w
            ));
        }
        Ok(())
    }
    /// The dual convolution: it maps this op's output `[n, c_out, h_out, w_out]` to its input
    /// `[n, c_in, h_in, w_in]` with the same weight tensor read as `[c_in, c_out, k_h, k_w]`.
    pub fn as_conv(&self) -> Conv2dGeom {
        Conv2dGeom {
            batch: self.batch,
            c_in: self.c_out,
            h_in: self.h_out(),
            w_in: self.w_out(),
            c_out: self.c_in,
            k_h: self.k_h,
            k_w: self.k_w,
            stride_h: self.stride_h,
            stride_w: self.stride_w,
            pad_h: self.pad_h,
            pad_w: self.pad_w,
        }
    }
}

fn check_lens<T>(op: &str, g: &Conv2dGeom, x: usize, w: usize, y: usize) {
    assert!(
        x == g.x_len() && w == g.w_len() && y == g.y_len(),
        "{op}: slice lengths (x {x}, w {w}, y {y}) do not match {g:?} (x {}, w {}, y {})",
        g.x_len(),
        g.w_len(),
        g.y_len()
    );
    let _ = std::marker::PhantomData::<T>;
}

/// `y = conv2d(x, w) + b`. `x: [n, c_in, h_in, w_in]`, `w: [c_out, c_in, k_h, k_w]`,
/// `bias: [c_out]`, `y: [n, c_out, h_out, w_out]` (overwritten).
///
/// # Panics
/// If a slice length does not match `g`, or `g.check()` fails.
pub fn conv2d_forward<T: Float>(g: &Conv2dGeom, x: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T], par: Par) {
    check_lens::<T>("conv2d_forward", g, x.len(), w.len(), y.len());
    let _ = par;
    reference::conv2d_forward(g, x, w, bias, y);
}

/// `dx = ∂L/∂x` from `dy = ∂L/∂y`. `dy: [n, c_out, h_out, w_out]`, `w: [c_out, c_in, k_h, k_w]`,
/// `dx: [n, c_in, h_in, w_in]` (overwritten).
///
/// # Panics
/// If a slice length does not match `g`.
pub fn conv2d_backward_input<T: Float>(g: &Conv2dGeom, dy: &[T], w: &[T], dx: &mut [T], par: Par) {
    check_lens::<T>("conv2d_backward_input", g, dx.len(), w.len(), dy.len());
    let _ = par;
    reference::conv2d_backward_input(g, dy, w, dx);
}

/// `dw = ∂L/∂w`. `x: [n, c_in, h_in, w_in]`, `dy: [n, c_out, h_out, w_out]`,
/// `dw: [c_out, c_in, k_h, k_w]` (overwritten).
///
/// # Panics
/// If a slice length does not match `g`.
pub fn conv2d_backward_weight<T: Float>(g: &Conv2dGeom, x: &[T], dy: &[T], dw: &mut [T], par: Par) {
    check_lens::<T>("conv2d_backward_weight", g, x.len(), dw.len(), dy.len());
    let _ = par;
    reference::conv2d_backward_weight(g, x, dy, dw);
}

/// `db[o] = Σ_{n,i,j} dy[n, o, i, j]`. `dy: [n, c, h, w]`, `db: [c]` (overwritten).
///
/// # Panics
/// If `dy.len() != n·c·hw` or `db.len() != c`.
pub fn bias_backward<T: Float>(n: usize, c: usize, hw: usize, dy: &[T], db: &mut [T]) {
    reference::bias_backward(n, c, hw, dy, db);
}

/// Transposed convolution `y = conv_transpose2d(x, w) + b`. `x: [n, c_in, h_in, w_in]`,
/// `w: [c_in, c_out, k_h, k_w]`, `bias: [c_out]`, `y: [n, c_out, h_out, w_out]` (overwritten).
///
/// # Panics
/// If a slice length does not match `g`.
pub fn conv_transpose2d_forward<T: Float>(
    g: &ConvTranspose2dGeom,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    y: &mut [T],
    par: Par,
) {
    let dual = g.as_conv();
    conv2d_backward_input(&dual, x, w, y, par);
    if let Some(b) = bias {
        add_channel_bias(g.batch, g.c_out, g.h_out() * g.w_out(), b, y);
    }
}

/// `dx` of a transposed convolution: `dy: [n, c_out, h_out, w_out]`, `w: [c_in, c_out, k_h, k_w]`,
/// `dx: [n, c_in, h_in, w_in]` (overwritten).
pub fn conv_transpose2d_backward_input<T: Float>(g: &ConvTranspose2dGeom, dy: &[T], w: &[T], dx: &mut [T], par: Par) {
    conv2d_forward(&g.as_conv(), dy, w, None, dx, par);
}

/// `dw` of a transposed convolution: `x: [n, c_in, h_in, w_in]`, `dy: [n, c_out, h_out, w_out]`,
/// `dw: [c_in, c_out, k_h, k_w]` (overwritten).
pub fn conv_transpose2d_backward_weight<T: Float>(g: &ConvTranspose2dGeom, x: &[T], dy: &[T], dw: &mut [T], par: Par) {
    conv2d_backward_weight(&g.as_conv(), dy, x, dw, par);
}

/// `y[n, c, ·] += b[c]` for `y: [n, c, hw]`.
pub fn add_channel_bias<T: Float>(n: usize, c: usize, hw: usize, b: &[T], y: &mut [T]) {
    assert!(b.len() == c && y.len() == n * c * hw, "add_channel_bias: lengths do not match [{n}, {c}, {hw}]");
    if hw == 0 {
        return;
    }
    for (idx, plane) in y.chunks_mut(hw).enumerate() {
        let bc = b[idx % c];
        for v in plane {
            *v += bc;
        }
    }
}
