//! Element-wise ops.
//!
//! Binary ops broadcast NumPy-style: shapes are right-aligned and a dimension of 1 stretches;
//! the gradient of a broadcast operand is the output gradient summed over the stretched axes.
//!
//! | op | forward | gradient |
//! |---|---|---|
//! | `add(a, b)` | a + b | ∂a = g, ∂b = g |
//! | `sub(a, b)` | a − b | ∂a = g, ∂b = −g |
//! | `mul(a, b)` | a · b | ∂a = g·b, ∂b = g·a |
//! | `div(a, b)` | a / b | ∂a = g/b, ∂b = −g·a/b² |
//! | `neg` | −x | −g |
//! | `add_scalar(c)` / `mul_scalar(c)` | x + c / c·x | g / c·g |
//! | `powf(p)` | x^p | g·p·x^(p−1) |
//! | `exp` / `log` | eˣ / ln x | g·eˣ / g/x |
//! | `sqrt` | √x | g/(2√x) |
//! | `abs` | \|x\| | g·sign(x) (0 at 0) |
//! | `relu` | max(0, x) | g·\[x > 0\] |
//! | `clamp_min(c)` | max(c, x) | g·\[x > c\] (the hinge `max(0, x)` is `clamp_min(0)`) |
//! | `sigmoid` | σ(x) = 1/(1+e^−x) | g·σ(1−σ) |
//! | `tanh` | tanh x | g·(1 − tanh² x) |
//! | `square` | x² | 2x·g |

use super::{broadcast_shape, fmt_shape, map, sum_to_shape, zip3_map, zip_map};
use crate::autodiff::{Element, Tensor, Var};
use crate::error::{Error, Result};
use ndarray::{IxDyn, Zip};
use std::rc::Rc;

#[derive(Clone, Copy)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
        }
    }
    #[inline(always)]
    fn apply<T: Element>(self, x: T, y: T) -> T {
        match self {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
        }
    }
}

fn binary<'t, T: Element>(op: BinOp, a: Var<'t, T>, b: Var<'t, T>) -> Result<Var<'t, T>> {
    let tape = a.tape;
    let (av, bv) = (a.try_value()?, b.try_value()?);
    let out_shape = broadcast_shape(av.shape(), bv.shape()).ok_or_else(|| {
        Error::shape(
            op.name(),
            format!("shapes {} and {} cannot be broadcast together", fmt_shape(av.shape()), fmt_shape(bv.shape())),
        )
    })?;
    let par = tape.par();
    let out = if av.shape() == bv.shape() {
        zip_map(par, &av, &bv, move |x, y| op.apply(x, y))
    } else {
        let sh = IxDyn(&out_shape);
        let (ab, bb) = (av.broadcast(sh.clone()).expect("checked"), bv.broadcast(sh).expect("checked"));
        Zip::from(&ab).and(&bb).map_collect(|&x, &y| op.apply(x, y))
    };
    let (a_shape, b_shape) = (av.shape().to_vec(), bv.shape().to_vec());
    Ok(tape.push_op(out, &[a, b], move |g, needs| {
        let expand = |t: &Tensor<T>| -> Tensor<T> {
            if t.shape() == g.shape() {
                t.clone()
            } else {
                t.broadcast(g.raw_dim()).expect("checked").to_owned()
            }
        };
        let (ga, gb) = match op {
            BinOp::Add => (needs[0].then(|| g.clone()), needs[1].then(|| g.clone())),
            BinOp::Sub => (needs[0].then(|| g.clone()), needs[1].then(|| map(par, g, |x| -x))),
            BinOp::Mul => (
                needs[0].then(|| zip_map(par, g, &expand(&bv), |g, y| g * y)),
                needs[1].then(|| zip_map(par, g, &expand(&av), |g, x| g * x)),
            ),
            BinOp::Div => {
                let be = expand(&bv);
                (
                    needs[0].then(|| zip_map(par, g, &be, |g, y| g / y)),
                    needs[1].then(|| zip3_map(par, g, &expand(&av), &be, |g, x, y| -g * x / (y * y))),
                )
            }
        };
        vec![ga.map(|t| sum_to_shape(&t, &a_shape)), gb.map(|t| sum_to_shape(&t, &b_shape))]
    }))
}

/// What the derivative of a unary op reads: the backward pass keeps only that (and reads one
/// array less than `df(x, y)` would).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DerivOf {
    /// `df` depends on the input `x` only (e.g. `ln`, `pow`).
    Input,
    /// `df` depends on the output `y` only (e.g. `exp`, `sigmoid`, `relu`: `y > 0 ⇔ x > 0`).
    Output,
    /// `df` is a constant (e.g. `neg`, scalar ops).
    Neither,
}

/// A unary op `y = f(x)` whose derivative is `df(x, y)`; `of` says which argument `df`
/// actually reads (the other is passed as zero).
fn unary<'t, T: Element>(
    x: Var<'t, T>,
    f: impl Fn(T) -> T + Sync + Send,
    of: DerivOf,
    df: impl Fn(T, T) -> T + Sync + Send + 'static,
) -> Var<'t, T> {
    if !x.is_live() {
        // A stale operand passes through unchanged: the next fallible op, `backward` or
        // `try_value` reports it as `Error::StaleVar`.
        return x;
    }
    let tape = x.tape;
    let par = tape.par();
    let xv = x.value();
    let y = Rc::new(map(par, &xv, f));
    let kept = match of {
        DerivOf::Input => Some(xv),
        DerivOf::Output => Some(Rc::clone(&y)),
        DerivOf::Neither => None,
    };
    tape.push_op_rc(y, &[x], move |g, _| {
        let z = T::ZERO;
        let grad = match (of, kept) {
            (DerivOf::Input, Some(xv)) => zip_map(par, g, &xv, |g, x| g * df(x, z)),
            (DerivOf::Output, Some(yv)) => zip_map(par, g, &yv, |g, y| g * df(z, y)),
            _ => map(par, g, |g| g * df(z, z)),
        };
        vec![Some(grad)]
    })
}

// `add`/`sub`/`mul`/`div`/`neg` return `Result` (shape errors), so they are methods, not
// `std::ops` impls.
#[allow(clippy::should_implement_trait)]
impl<'t, T: Element> Var<'t, T> {
    /// `self + other` (broadcasting).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes cannot be broadcast.
    pub fn add(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(BinOp::Add, self, other)
    }
    /// `self − other` (broadcasting).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes cannot be broadcast.
    pub fn sub(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(BinOp::Sub, self, other)
    }
    /// `self · other` element-wise (broadcasting).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes cannot be broadcast.
    pub fn mul(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(BinOp::Mul, self, other)
    }
    /// `self / other` element-wise (broadcasting).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes cannot be broadcast.
    pub fn div(self, other: Var<'t, T>) -> Result<Var<'t, T>> {
        binary(BinOp::Div, self, other)
    }
    /// `−self`.
    pub fn neg(self) -> Var<'t, T> {
        unary(self, |x| -x, DerivOf::Neither, |_, _| -T::ONE)
    }
    /// `self + c`.
    pub fn add_scalar(self, c: T) -> Var<'t, T> {
        unary(self, move |x| x + c, DerivOf::Neither, |_, _| T::ONE)
    }
    /// `c · self`.
    pub fn mul_scalar(self, c: T) -> Var<'t, T> {
        unary(self, move |x| x * c, DerivOf::Neither, move |_, _| c)
    }
    /// `self^p` element-wise (real exponent; `x` must be positive unless `p` is an integer).
    pub fn powf(self, p: T) -> Var<'t, T> {
        unary(self, move |x| x.powf(p), DerivOf::Input, move |x, _| p * x.powf(p - T::ONE))
    }
    /// `self²` element-wise.
    pub fn square(self) -> Var<'t, T> {
        unary(self, |x| x * x, DerivOf::Input, |x, _| x + x)
    }
    /// `eˣ`.
    pub fn exp(self) -> Var<'t, T> {
        unary(self, |x| x.exp(), DerivOf::Output, |_, y| y)
    }
    /// `ln x`.
    pub fn log(self) -> Var<'t, T> {
        unary(self, |x| x.ln(), DerivOf::Input, |x, _| T::ONE / x)
    }
    /// `√x`.
    pub fn sqrt(self) -> Var<'t, T> {
        unary(self, |x| x.sqrt(), DerivOf::Output, |_, y| T::ONE / (y + y))
    }
    /// `|x|` (gradient `sign(x)`, 0 at 0).
    pub fn abs(self) -> Var<'t, T> {
        unary(
            self,
            |x| x.abs(),
            DerivOf::Input,
            |x, _| {
                if x > T::ZERO {
                    T::ONE
                } else if x < T::ZERO {
                    -T::ONE
                } else {
                    T::ZERO
                }
            },
        )
    }
    /// `max(0, x)` (gradient 1 where `x > 0`).
    pub fn relu(self) -> Var<'t, T> {
        self.clamp_min(T::ZERO)
    }
    /// `max(c, x)` (gradient 1 where `x > c`, else 0). `clamp_min(0)` is the hinge `max(0, x)`.
    pub fn clamp_min(self, c: T) -> Var<'t, T> {
        // `y > c` exactly when `x > c` (NaN: neither), so the backward pass reads `y` only.
        unary(
            self,
            move |x| if x > c { x } else { c },
            DerivOf::Output,
            move |_, y| if y > c { T::ONE } else { T::ZERO },
        )
    }
    /// Logistic sigmoid `1 / (1 + e^−x)` (computed without overflow for large `|x|`).
    pub fn sigmoid(self) -> Var<'t, T> {
        unary(
            self,
            |x| {
                if x >= T::ZERO {
                    T::ONE / (T::ONE + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (T::ONE + e)
                }
            },
            DerivOf::Output,
            |_, y| y * (T::ONE - y),
        )
    }
    /// `tanh x`.
    pub fn tanh(self) -> Var<'t, T> {
        unary(self, |x| x.tanh(), DerivOf::Output, |_, y| T::ONE - y * y)
    }
}
