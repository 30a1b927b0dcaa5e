//! The element trait of every kernel: `f32` (training) and `f64` (gradient checks).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A real floating-point element type: implemented for `f32` and `f64` only.
///
/// The math methods mirror the inherent `f32`/`f64` methods; [`Float::gemm_raw`] dispatches to the
/// matching routine ([`crate::sgemm::sgemm`] or `matrixmultiply::dgemm`).
pub trait Float:
    Copy
    + Send
    + Sync
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Sum
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// The smallest positive *normal* number (below it, values are subnormal).
    const MIN_POSITIVE: Self;
    /// Short name of the type (`"f32"` / `"f64"`), for error messages and file headers.
    const NAME: &'static str;

    /// Converts from `f64` (rounding to nearest for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts from `usize` (exact up to 2^24 for `f32`).
    fn from_usize(x: usize) -> Self;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// `self^p` for a real exponent.
    fn powf(self, p: Self) -> Self;
    /// IEEE maximum (a NaN operand loses).
    fn max(self, other: Self) -> Self;
    /// IEEE minimum (a NaN operand loses).
    fn min(self, other: Self) -> Self;
    /// `true` unless NaN or infinite.
    fn is_finite(self) -> bool;
    /// The slice itself when `Self` is `f32`, else `None`: lets a generic kernel take an
    /// `f32`-only SIMD path ([`crate::conv::indirect`]) without `unsafe` casts.
    fn as_f32(s: &[Self]) -> Option<&[f32]>;
    /// Mutable counterpart of [`Float::as_f32`].
    fn as_f32_mut(s: &mut [Self]) -> Option<&mut [f32]>;
    /// Runs `f` on this thread's pool of scratch buffers of this type ([`crate::scratch`]).
    fn with_scratch_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R;
    /// Runs `f` on this thread's pool of recycled output buffers of this type
    /// ([`crate::alloc::output_buffer`]).
    fn with_output_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R;
    /// `self * a + b` (not fused: kernels must give the same bits as the plain expression).
    #[inline(always)]
    fn mul_add_plain(self, a: Self, b: Self) -> Self {
        self * a + b
    }

    /// Raw general matrix multiply `C ← α·A·B + β·C`, with `A: [m, k]`, `B: [k, n]`, `C: [m, n]`
    /// given as pointers plus row/column strides (in elements). Callers go through
    /// [`crate::gemm::gemm`], which checks the slices first.
    ///
    /// # Safety
    /// Every element addressed by the shapes and strides must lie inside the allocation of its
    /// pointer, and `c` must not alias `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_float {
    ($t:ty, $name:literal, $gemm:path, |$s:ident| $view:expr) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = <$t>::EPSILON;
            const INFINITY: Self = <$t>::INFINITY;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn as_f32($s: &[Self]) -> Option<&[f32]> {
                $view
            }
            #[inline(always)]
            fn as_f32_mut($s: &mut [Self]) -> Option<&mut [f32]> {
                $view
            }
            fn with_scratch_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R {
                thread_local! {
                    static POOL: std::cell::RefCell<Vec<Vec<$t>>> = const { std::cell::RefCell::new(Vec::new()) };
                }
                POOL.with(|p| f(&mut p.borrow_mut()))
            }
            fn with_output_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R {
                thread_local! {
                    static POOL: std::cell::RefCell<Vec<Vec<$t>>> = const { std::cell::RefCell::new(Vec::new()) };
                }
                POOL.with(|p| f(&mut p.borrow_mut()))
            }
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn from_usize(x: usize) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn powf(self, p: Self) -> Self {
                <$t>::powf(self, p)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded from the caller's contract (see the trait method docs).
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_float!(f32, "f32", crate::sgemm::sgemm, |s| Some(s));
impl_float!(f64, "f64", matrixmultiply::dgemm, |s| {
    let _ = s;
    None
});
