//! Blocked, deterministic reductions.
//!
//! `sum(x)` folds `x` with 8 independent accumulators (lane `i mod 8`), combined pairwise in a
//! fixed order at the end; this vectorises and is exactly reproducible for a given length.
//! [`sum_par`] cuts `x` into fixed blocks of [`BLOCK`] elements, reduces each block with
//! [`sum`], and adds the block partials sequentially in index order, so its result depends only
//! on the input, never on the number of threads. (It differs in the last bits from [`sum`] for
//! inputs longer than one block; it never differs between runs or thread counts.)

use crate::{Float, Par};
use rayon::prelude::*;

/// Elements per block of the parallel reductions. Fixed: part of the result's definition.
pub const BLOCK: usize = 1 << 14;

/// Sum with 8 interleaved accumulators, combined as `((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7))`.
pub fn sum<T: Float>(x: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    for (l, v) in chunks.remainder().iter().enumerate() {
        acc[l] += *v;
    }
    combine8(acc)
}

/// Dot product with 8 interleaved accumulators (same combine order as [`sum`]).
///
/// # Panics
/// If the lengths differ.
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    assert_eq!(a.len(), b.len(), "dot: lengths differ");
    let mut acc = [T::ZERO; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += *x * *y;
    }
    combine8(acc)
}

#[inline]
fn combine8<T: Float>(a: [T; 8]) -> T {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// Blocked sum: [`sum`] per block of [`BLOCK`] elements, partials added in block order.
/// Bitwise independent of `par` and of the rayon pool size.
pub fn sum_par<T: Float>(x: &[T], par: Par) -> T {
    if x.len() <= BLOCK {
        return sum(x);
    }
    let partials: Vec<T> = if par.for_work(x.len(), 4 * BLOCK) == Par::Seq {
        x.chunks(BLOCK).map(sum).collect()
    } else {
        x.par_chunks(BLOCK).map(sum).collect()
    };
    partials.into_iter().fold(T::ZERO, |acc, p| acc + p)
}

/// Blocked dot product, same scheme as [`sum_par`].
///
/// # Panics
/// If the lengths differ.
pub fn dot_par<T: Float>(a: &[T], b: &[T], par: Par) -> T {
    assert_eq!(a.len(), b.len(), "dot_par: lengths differ");
    if a.len() <= BLOCK {
        return dot(a, b);
    }
    let partials: Vec<T> = if par.for_work(a.len(), 4 * BLOCK) == Par::Seq {
        a.chunks(BLOCK).zip(b.chunks(BLOCK)).map(|(x, y)| dot(x, y)).collect()
    } else {
        a.par_chunks(BLOCK).zip(b.par_chunks(BLOCK)).map(|(x, y)| dot(x, y)).collect()
    };
    partials.into_iter().fold(T::ZERO, |acc, p| acc + p)
}

/// The oracle: left-to-right sum in `f64`.
pub fn sum_reference<T: Float>(x: &[T]) -> f64 {
    x.iter().map(|v| v.to_f64()).sum()
}
