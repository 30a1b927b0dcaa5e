//! The fused Adam / AdamW update, one pass over parameter, gradient and both moments.
//!
//! For step `t ≥ 1` (PyTorch `torch.optim.Adam` / `AdamW`, `amsgrad=False`, `maximize=False`,
//! single-tensor path), with `bc1 = 1 − β1^t`, `bc2 = 1 − β2^t`:
//!
//! ```text
//! Adam  (L2):        g ← g + wd·p
//! AdamW (decoupled): p ← p·(1 − lr·wd)
//! m ← β1·m + (1 − β1)·g
//! v ← β2·v + (1 − β2)·g²
//! p ← p − (lr / bc1) · m / (√v / √bc2 + ε)
//! ```
//!
//! The scalar coefficients are computed once in `f64` and rounded to `T`.
//!
//! ## Flush to zero
//! The update flushes subnormal numbers (magnitude below `T::MIN_POSITIVE`, the smallest
//! normal number: 1.2e-38 in `f32`) to zero: every product whose magnitude would be subnormal
//! is zero, and a subnormal result (`p`, `m`, `v`) is stored as zero. This is the hardware's
//! flush-to-zero mode, written out: x86 takes a microcode assist, tens of times slower than the
//! operation itself, on every multiply with a subnormal operand or result. Training reaches
//! that range: a ReLU unit that no longer fires gets no gradient but the L2 term `wd·p`, its
//! weights decay towards zero and its moments follow. Late in the `shapes3d` preset's stage 1,
//! more than half of the weights of the two 1 024-wide linear layers sat there, and without the
//! flush one update of the model took tens of times longer than with it (`cargo bench --bench
//! kernels -- adam`, figures in `benches/README.md`).
//!
//! The kernel implements it with thresholds on the inputs of each product (a compare and a
//! select per product; the thresholds are computed once per call from the `f64` coefficients,
//! e.g. `wd·p` is zero when `|p| < MIN_POSITIVE / wd`), so that in the steady state of a
//! decaying unit no multiply sees or makes a subnormal; a few transient ones remain (a
//! subnormal gradient from the caller, the final division when `√v/√bc2 + ε > 1`,
//! `p·(1 − lr·wd)` just above `MIN_POSITIVE`, values within an ulp of a threshold).
//! [`adam_update_reference`] states the rule as "flush every product and every result" in
//! `f64`; both agree up to the rounding of a value at a threshold. On values far from the
//! subnormal range the kernel does the same operations in the same order as the unflushed
//! update, so it gives the same bits (`tests`, below).
//!
//! What the flush changes is tiny: a step is dropped only when `(lr/bc1)·|m| < MIN_POSITIVE`,
//! where PyTorch would move the parameter by less than `MIN_POSITIVE/ε` (1.2e-30 for
//! `ε = 1e-8`). Under L2 decay without a gradient, a weight stops at about
//! `MIN_POSITIVE·bc1/(lr·wd)` (2e-29 with stage 1's `lr = 5e-4`, `wd = 1e-6`) instead of
//! decaying further. Results differ only where an intermediate comes within a factor of about
//! 2^24 of `MIN_POSITIVE`. PyTorch does not flush.
//!
//! The flush is off (the plain update) when `ε` is so small that a flushed `v` could change the
//! step: when `ε·√bc2 < 2·√(MIN_POSITIVE/(1 − β2)) / T::EPSILON` (for `f32` and β2 = 0.999, ε below
//! about 6e-11 / √bc2; the default ε = 1e-8 flushes from the first step).
//!
//! ## Determinism
//! Purely element-wise: each element's update reads only that element, so any split is exact.

use crate::{Float, Par};
use rayon::prelude::*;

/// Elements per parallel chunk.
pub const CHUNK: usize = 1 << 15;

/// How weight decay enters the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightDecayMode {
    /// Added to the gradient (`torch.optim.Adam`'s `weight_decay`).
    L2,
    /// Applied to the parameter before the step (`torch.optim.AdamW`).
    Decoupled,
}

/// The hyperparameters of one Adam/AdamW step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay β1.
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// Denominator term ε.
    pub eps: f64,
    /// Weight decay coefficient.
    pub weight_decay: f64,
    /// How weight decay is applied.
    pub mode: WeightDecayMode,
    /// 1-based step count `t` (after incrementing for this step).
    pub step: u64,
}

/// Applies one Adam/AdamW step in place. All four slices have the same length.
///
/// # Panics
/// If the lengths differ or `step == 0`.
pub fn adam_update<T: Float>(param: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], s: &AdamStep, par: Par) {
    let n = param.len();
    assert!(grad.len() == n && m.len() == n && v.len() == n, "adam_update: slice lengths differ");
    assert!(s.step >= 1, "adam_update: step counts from 1");
    let c = Coeffs::new(s);
    if par.for_work(n, 4 * CHUNK) == Par::Seq {
        update_chunk_dispatch(param, grad, m, v, &c);
    } else {
        param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| update_chunk_dispatch(p, g, m, v, &c));
    }
}

/// [`update_chunk`] compiled for the widest vectors the CPU has. The update is element-wise and
/// Rust never contracts `a·b + c` into a fused multiply-add, so every width does the same IEEE
/// operations on each element and gives the same bits (the tests compare against the oracle on
/// whatever CPU runs them; the `portable` kernel set needs no separate path).
fn update_chunk_dispatch<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: &Coeffs<T>) {
    #[cfg(target_arch = "x86_64")]
    {
        if wide::avx512() {
            // SAFETY: the CPU has AVX-512F (checked at run time).
            return unsafe { wide::update_chunk_avx512(p, g, m, v, c) };
        }
        if wide::avx2() {
            // SAFETY: the CPU has AVX2 (checked at run time).
            return unsafe { wide::update_chunk_avx2(p, g, m, v, c) };
        }
    }
    update_chunk(p, g, m, v, c)
}

#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{update_chunk, Coeffs};
    use crate::Float;
    use std::sync::OnceLock;

    pub(super) fn avx2() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2"))
    }

    pub(super) fn avx512() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx512f"))
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn update_chunk_avx2<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: &Coeffs<T>) {
        update_chunk(p, g, m, v, c)
    }

    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn update_chunk_avx512<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: &Coeffs<T>) {
        update_chunk(p, g, m, v, c)
    }
}

struct Coeffs<T> {
    b1: T,
    one_m_b1: T,
    b2: T,
    one_m_b2: T,
    step_size: T,
    sqrt_bc2: T,
    eps: T,
    l2: T,
    decay: T,
    floors: Floors<T>,
}

impl<T: Float> Coeffs<T> {
    /// The coefficients of step `s`, rounded to `T` from `f64`.
    fn new(s: &AdamStep) -> Self {
        let bc1 = 1.0 - s.beta1.powi(s.step.min(i32::MAX as u64) as i32);
        let bc2 = 1.0 - s.beta2.powi(s.step.min(i32::MAX as u64) as i32);
        Coeffs {
            b1: T::from_f64(s.beta1),
            one_m_b1: T::from_f64(1.0 - s.beta1),
            b2: T::from_f64(s.beta2),
            one_m_b2: T::from_f64(1.0 - s.beta2),
            step_size: T::from_f64(s.lr / bc1),
            sqrt_bc2: T::from_f64(bc2.sqrt()),
            eps: T::from_f64(s.eps),
            l2: if s.mode == WeightDecayMode::L2 { T::from_f64(s.weight_decay) } else { T::ZERO },
            decay: if s.mode == WeightDecayMode::Decoupled { T::from_f64(1.0 - s.lr * s.weight_decay) } else { T::ONE },
            floors: Floors::new(s, bc1, bc2),
        }
    }
}

/// Input magnitudes below which a product would be subnormal (see the module docs).
struct Floors<T> {
    /// `T::MIN_POSITIVE`: inputs and results below it are subnormal.
    tiny: T,
    /// `|p|` below which `l2·p` is subnormal (0 when `l2 = 0`: the product is then 0 anyway).
    l2_p: T,
    /// `|m|` below which `β1·m` is subnormal.
    b1_m: T,
    /// `|g|` below which `(1 − β1)·g` is subnormal.
    g_m: T,
    /// `|v|` below which `β2·v` is subnormal.
    b2_v: T,
    /// `|g|` below which `(1 − β2)·g·g` is subnormal.
    g_v: T,
    /// `|m|` below which `(lr / bc1)·m` is subnormal.
    step_m: T,
}

impl<T: Float> Floors<T> {
    fn new(s: &AdamStep, bc1: f64, bc2: f64) -> Self {
        let tiny = T::MIN_POSITIVE.to_f64();
        // With a tiny ε the denominator √v/√bc2 + ε is √v's alone: no flush at all.
        if s.eps * bc2.sqrt() < 2.0 * (tiny / (1.0 - s.beta2)).sqrt() / T::EPSILON.to_f64() {
            return Floors {
                tiny: T::ZERO,
                l2_p: T::ZERO,
                b1_m: T::ZERO,
                g_m: T::ZERO,
                b2_v: T::ZERO,
                g_v: T::ZERO,
                step_m: T::ZERO,
            };
        }
        let over = |x: f64| if x > 0.0 { T::from_f64(tiny / x) } else { T::ZERO };
        let l2 = if s.mode == WeightDecayMode::L2 { s.weight_decay } else { 0.0 };
        Floors {
            tiny: T::MIN_POSITIVE,
            l2_p: over(l2),
            b1_m: over(s.beta1),
            g_m: over(1.0 - s.beta1),
            b2_v: over(s.beta2),
            g_v: T::from_f64((tiny / (1.0 - s.beta2)).sqrt()),
            step_m: over(s.lr / bc1),
        }
    }
}

#[inline]
fn update_chunk<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: &Coeffs<T>) {
    let f = &c.floors;
    // One length for all four slices: no bounds checks in the loop, so it vectorises.
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        // p, m and v are stored flushed, so only their products need floors; a subnormal
        // gradient is zeroed by the floors of the products it enters.
        let mut pi = p[i];
        let gi = g[i] + c.l2 * zero_below(pi, f.l2_p);
        pi = zero_below(pi * c.decay, f.tiny);
        let mi = zero_below(c.b1 * zero_below(m[i], f.b1_m) + c.one_m_b1 * zero_below(gi, f.g_m), f.tiny);
        let gv = zero_below(gi, f.g_v);
        let vi = zero_below(c.b2 * zero_below(v[i], f.b2_v) + c.one_m_b2 * gv * gv, f.tiny);
        m[i] = mi;
        v[i] = vi;
        p[i] = zero_below(pi - c.step_size * zero_below(mi, f.step_m) / (vi.sqrt() / c.sqrt_bc2 + c.eps), f.tiny);
    }
}

/// `x`, or zero when `|x| < floor`: a compare and a select, which vectorise with the rest of
/// the update and never take an assist.
#[inline(always)]
fn zero_below<T: Float>(x: T, floor: T) -> T {
    if x.abs() < floor {
        T::ZERO
    } else {
        x
    }
}

/// The oracle: the same update written element by element in `f64`, with the module's
/// flush-to-zero rule applied to every product and every result: a value whose magnitude in `T`
/// would be subnormal is zero (unless `ε` turns the flush off, see the module docs).
pub fn adam_update_reference<T: Float>(param: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], s: &AdamStep) {
    let bc1 = 1.0 - s.beta1.powi(s.step as i32);
    let bc2 = 1.0 - s.beta2.powi(s.step as i32);
    let tiny = T::MIN_POSITIVE.to_f64();
    let flush = s.eps * bc2.sqrt() >= 2.0 * (tiny / (1.0 - s.beta2)).sqrt() / T::EPSILON.to_f64();
    let ftz = |x: f64| if flush && T::from_f64(x).abs() < T::MIN_POSITIVE { 0.0 } else { x };
    for i in 0..param.len() {
        let mut p = ftz(param[i].to_f64());
        let mut g = ftz(grad[i].to_f64());
        match s.mode {
            WeightDecayMode::L2 => g += ftz(s.weight_decay * p),
            WeightDecayMode::Decoupled => p = ftz(p * (1.0 - s.lr * s.weight_decay)),
        }
        let mi = ftz(ftz(s.beta1 * ftz(m[i].to_f64())) + ftz((1.0 - s.beta1) * g));
        let vi = ftz(ftz(s.beta2 * ftz(v[i].to_f64())) + ftz((1.0 - s.beta2) * g * g));
        m[i] = T::from_f64(mi);
        v[i] = T::from_f64(vi);
        param[i] = T::from_f64(ftz(p - ftz((s.lr / bc1) * mi) / (vi.sqrt() / bc2.sqrt() + s.eps)));
    }
}

/// The plain Adam update of `f32` values, one thread, with no flush to zero: the formula
/// [`adam_update`] computes, before the flush. It exists as the baseline of the `adam` bench
/// group (what subnormal numbers cost) and as the bitwise reference of the unit tests on values
/// away from the subnormal range. Not part of the supported API.
#[doc(hidden)]
pub fn adam_update_unflushed(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) {
    let bc1 = 1.0 - s.beta1.powi(s.step as i32);
    let bc2 = 1.0 - s.beta2.powi(s.step as i32);
    let l2 = if s.mode == WeightDecayMode::L2 { s.weight_decay as f32 } else { 0.0 };
    let decay = if s.mode == WeightDecayMode::Decoupled { (1.0 - s.lr * s.weight_decay) as f32 } else { 1.0 };
    let (b1, b2) = (s.beta1 as f32, s.beta2 as f32);
    let (omb1, omb2) = ((1.0 - s.beta1) as f32, (1.0 - s.beta2) as f32);
    let (step_size, sqrt_bc2, eps) = ((s.lr / bc1) as f32, bc2.sqrt() as f32, s.eps as f32);
    for i in 0..p.len() {
        let mut pi = p[i];
        let gi = g[i] + l2 * pi;
        pi *= decay;
        let mi = b1 * m[i] + omb1 * gi;
        let vi = b2 * v[i] + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * mi / (vi.sqrt() / sqrt_bc2 + eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-uniform magnitudes in `[10^lo, 1]` with random signs (a fixed xorshift stream).
    fn log_uniform(n: usize, lo: f64, seed: u64, signed: bool) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f64 / (1u64 << 53) as f64;
                let x = 10f64.powf(lo * u) as f32;
                if signed && s & 1 == 1 {
                    -x
                } else {
                    x
                }
            })
            .collect()
    }

    fn both(s: &AdamStep, lo: f64) -> ([Vec<f32>; 3], [Vec<f32>; 3]) {
        let n = 5000;
        let (p0, g, m0, v0) = (
            log_uniform(n, lo, 1, true),
            log_uniform(n, lo, 2, true),
            log_uniform(n, lo, 3, true),
            log_uniform(n, lo, 4, false),
        );
        let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
        adam_update(&mut p, &g, &mut m, &mut v, s, Par::Seq);
        let (mut pu, mut mu, mut vu) = (p0, m0, v0);
        adam_update_unflushed(&mut pu, &g, &mut mu, &mut vu, s);
        ([p, m, v], [pu, mu, vu])
    }

    fn bits(x: &[Vec<f32>; 3]) -> Vec<Vec<u32>> {
        x.iter().map(|a| a.iter().map(|v| v.to_bits()).collect()).collect()
    }

    #[test]
    fn far_from_the_subnormal_range_the_update_is_the_unflushed_one_bit_for_bit() {
        for mode in [WeightDecayMode::L2, WeightDecayMode::Decoupled] {
            for (wd, step) in [(0.0, 1), (1e-6, 7), (1e-2, 20_000)] {
                let s = AdamStep { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: wd, mode, step };
                // Magnitudes in [1e-12, 1]: no product comes near 1.2e-38.
                let (got, want) = both(&s, -12.0);
                assert_eq!(bits(&got), bits(&want), "{mode:?} wd {wd} step {step}");
            }
        }
    }

    /// Stage 1's Adam settings (lr 5e-4, wd 1e-6 as L2, default β and ε) at step `step`.
    fn stage1_step(step: u64) -> AdamStep {
        AdamStep { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-6, mode: WeightDecayMode::L2, step }
    }

    /// One chunk update: `(p, g, m, v)`.
    type Update<'a, T> = dyn Fn(&mut [T], &[T], &mut [T], &mut [T]) + 'a;

    /// Every vector width this CPU has gives the portable loop's bits, on values that cross
    /// the flush thresholds (magnitudes down to 1e-40) and on ordinary ones, in f32 and f64.
    #[test]
    fn every_vector_width_gives_the_same_bits() {
        fn check<T: Float>(conv: impl Fn(f32) -> T, to_bits: impl Fn(T) -> u64) {
            let c = Coeffs::<T>::new(&stage1_step(9));
            for lo in [-40.0, -6.0] {
                // 1 003 elements: every width's remainder loop runs too.
                let data: Vec<Vec<T>> =
                    (1..5).map(|k| log_uniform(1003, lo, k, k != 4).into_iter().map(&conv).collect()).collect();
                let run = |f: &Update<'_, T>| {
                    let (mut p, mut m, mut v) = (data[0].clone(), data[2].clone(), data[3].clone());
                    f(&mut p, &data[1], &mut m, &mut v);
                    [p, m, v].iter().flatten().map(|&x| to_bits(x)).collect::<Vec<u64>>()
                };
                let want = run(&|p, g, m, v| update_chunk(p, g, m, v, &c));
                #[cfg(target_arch = "x86_64")]
                {
                    if wide::avx2() {
                        // SAFETY: AVX2 is present.
                        let got = run(&|p, g, m, v| unsafe { wide::update_chunk_avx2(p, g, m, v, &c) });
                        assert_eq!(got, want, "avx2, magnitudes from 1e{lo}");
                    }
                    if wide::avx512() {
                        // SAFETY: AVX-512F is present.
                        let got = run(&|p, g, m, v| unsafe { wide::update_chunk_avx512(p, g, m, v, &c) });
                        assert_eq!(got, want, "avx512, magnitudes from 1e{lo}");
                    }
                }
                assert_eq!(run(&|p, g, m, v| update_chunk_dispatch(p, g, m, v, &c)), want);
            }
        }
        check::<f32>(|x| x, |x| x.to_bits() as u64);
        check::<f64>(|x| x as f64 * 1e-270, f64::to_bits);
    }

    #[test]
    fn a_tiny_epsilon_turns_the_flush_off() {
        // ε = 1e-30: a flushed v would make the step m/ε; the plain update runs instead, even on
        // values that reach the subnormal range.
        let s = AdamStep { eps: 1e-30, ..stage1_step(1) };
        let (got, want) = both(&s, -40.0);
        assert_eq!(bits(&got), bits(&want));
        // The default ε flushes: the same data then differs somewhere.
        let (got, want) = both(&AdamStep { eps: 1e-8, ..s }, -40.0);
        assert_ne!(bits(&got), bits(&want));
    }

    #[test]
    fn each_floor_is_the_threshold_of_its_product_within_rounding() {
        let s = stage1_step(3);
        let bc1 = 1.0 - s.beta1.powi(3);
        let bc2 = 1.0 - s.beta2.powi(3);
        let f = Floors::<f32>::new(&s, bc1, bc2);
        let tiny = f32::MIN_POSITIVE as f64;
        let products = [
            ("l2·p", s.weight_decay * f.l2_p as f64),
            ("β1·m", s.beta1 * f.b1_m as f64),
            ("(1−β1)·g", (1.0 - s.beta1) * f.g_m as f64),
            ("β2·v", s.beta2 * f.b2_v as f64),
            ("(1−β2)·g²", (1.0 - s.beta2) * (f.g_v as f64).powi(2)),
            ("(lr/bc1)·m", s.lr / bc1 * f.step_m as f64),
        ];
        for (name, at_floor) in products {
            let rel = (at_floor - tiny).abs() / tiny;
            assert!(
                rel <= 4.0 * f32::EPSILON as f64,
                "{name}: the product at its floor is {at_floor:e}, not MIN_POSITIVE"
            );
        }
        assert_eq!(f.tiny, f32::MIN_POSITIVE);
    }
}
