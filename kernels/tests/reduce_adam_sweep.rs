//! Reductions (`sum`, `dot`, `sum_par`, `dot_par`) and the fused Adam/AdamW update against
//! their oracles, over lengths 0, 1, odd, around the 8-lane and block boundaries, f32 and f64.

use detaux_kernels::adam::{adam_update, adam_update_reference, AdamStep, WeightDecayMode};
use detaux_kernels::reduce::{dot, dot_par, sum, sum_par, sum_reference, BLOCK};
use detaux_kernels::{Float, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_vec<T: Float>(rng: &mut ChaCha8Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.gen_range(-1.0..1.0))).collect()
}

const LENS: [usize; 12] = [0, 1, 7, 8, 9, 15, 17, 1000, BLOCK - 1, BLOCK + 1, 4 * BLOCK + 3, 9 * BLOCK + 5];

fn reductions<T: Float>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let eps = if T::NAME == "f32" { 1e-6 } else { 1e-15 };
    for n in LENS {
        let a: Vec<T> = rand_vec(&mut rng, n);
        let b: Vec<T> = rand_vec(&mut rng, n);
        let abs_sum: f64 = a.iter().map(|v| v.to_f64().abs()).sum::<f64>() + 1.0;
        let exact = sum_reference(&a);
        let exact_dot: f64 = a.iter().zip(&b).map(|(x, y)| x.to_f64() * y.to_f64()).sum();
        // Error bound of a blocked sum: ~ eps · (depth) · Σ|x|; depth ≤ n/8 + log terms.
        let bound = eps * (n as f64 / 8.0 + 16.0 + (n / BLOCK) as f64) * abs_sum;
        for (what, got, want) in [
            ("sum", sum(&a).to_f64(), exact),
            ("dot", dot(&a, &b).to_f64(), exact_dot),
            ("sum_par seq", sum_par(&a, Par::Seq).to_f64(), exact),
            ("sum_par rayon", sum_par(&a, Par::Rayon).to_f64(), exact),
            ("dot_par seq", dot_par(&a, &b, Par::Seq).to_f64(), exact_dot),
            ("dot_par rayon", dot_par(&a, &b, Par::Rayon).to_f64(), exact_dot),
        ] {
            assert!((got - want).abs() <= bound, "{what} {} n={n}: {got} vs {want} (bound {bound})", T::NAME);
        }
        // Seq and Rayon give the same bits; `sum_par` equals `sum` up to one block.
        assert_eq!(sum_par(&a, Par::Seq), sum_par(&a, Par::Rayon));
        assert_eq!(dot_par(&a, &b, Par::Seq), dot_par(&a, &b, Par::Rayon));
        if n <= BLOCK {
            assert_eq!(sum_par(&a, Par::Rayon), sum(&a));
        }
    }
    // Exactly representable: integers sum exactly in any order.
    let ints: Vec<T> = (0..10_001).map(|i| T::from_usize(i % 97)).collect();
    let want: usize = (0..10_001).map(|i| i % 97).sum();
    assert_eq!(sum(&ints).to_f64(), want as f64);
    assert_eq!(sum_par(&ints, Par::Rayon).to_f64(), want as f64);
}

#[test]
fn reductions_f32() {
    reductions::<f32>(21);
}

#[test]
fn reductions_f64() {
    reductions::<f64>(22);
}

fn adam<T: Float>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tol = if T::NAME == "f32" { 1e-5 } else { 1e-13 };
    for n in [0usize, 1, 7, 33, 1000, 4 * detaux_kernels::adam::CHUNK + 9] {
        for mode in [WeightDecayMode::L2, WeightDecayMode::Decoupled] {
            for (wd, step) in [(0.0, 1u64), (0.01, 2), (0.1, 37)] {
                let s = AdamStep { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: wd, mode, step };
                let p0: Vec<T> = rand_vec(&mut rng, n);
                let g: Vec<T> = rand_vec(&mut rng, n);
                let m0: Vec<T> = rand_vec::<T>(&mut rng, n).into_iter().map(|v| v * T::from_f64(0.1)).collect();
                let v0: Vec<T> = rand_vec::<T>(&mut rng, n).into_iter().map(|v| v * v * T::from_f64(0.01)).collect();
                let (mut pr, mut mr, mut vr) = (p0.clone(), m0.clone(), v0.clone());
                adam_update_reference(&mut pr, &g, &mut mr, &mut vr, &s);
                for par in [Par::Seq, Par::Rayon] {
                    let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
                    adam_update(&mut p, &g, &mut m, &mut v, &s, par);
                    for i in 0..n {
                        for (what, got, want) in [("param", p[i], pr[i]), ("m", m[i], mr[i]), ("v", v[i], vr[i])] {
                            let (x, y) = (got.to_f64(), want.to_f64());
                            assert!(
                                (x - y).abs() <= tol * (1.0 + y.abs()),
                                "adam {} {mode:?} wd {wd} step {step} {par:?} n {n}: {what}[{i}] {x} vs {y}",
                                T::NAME
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn adam_f32() {
    adam::<f32>(31);
}

#[test]
fn adam_f64() {
    adam::<f64>(32);
}

/// Flush to zero (`kernels/src/adam.rs`): a moment that decays below the smallest normal number
/// is stored as zero, and a dead unit's weight whose L2 term `wd·p` is subnormal leaves `m` at
/// zero and the weight where it is, by the kernel at any split and by the oracle alike; normal
/// values decay as the plain formula says. (Whether the kernel gets there by its input
/// thresholds or by flushing results is a matter of speed: `cargo bench --bench kernels -- adam`.)
fn adam_flushes_to_zero<T: Float>() {
    let n = 4 * detaux_kernels::adam::CHUNK + 3;
    let tiny = T::MIN_POSITIVE;
    let f = T::from_f64;
    // (weight decay, p0, m0, v0) of the even and the odd elements; the gradient is zero.
    let cases = [
        // β1·m and β2·v fall just below the smallest normal number; the odd ones stay far above.
        (0.0, [f(0.25), f(0.25)], [tiny, f(1e-30)], [tiny, f(1e-20)]),
        // A dead unit's weight: wd·p is subnormal (even) or normal (odd, a live weight).
        (1e-6, [tiny / f(1e-6) / f(2.0), f(0.25)], [T::ZERO, T::ZERO], [f(1e-20), f(1e-20)]),
    ];
    for (case, (wd, p0, m0, v0)) in cases.into_iter().enumerate() {
        let s = AdamStep {
            lr: 5e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: wd,
            mode: WeightDecayMode::L2,
            step: 100,
        };
        let init = |pair: [T; 2]| -> Vec<T> { (0..n).map(|i| pair[i % 2]).collect() };
        let (p0, m0, v0, g) = (init(p0), init(m0), init(v0), vec![T::ZERO; n]);
        let (mut pr, mut mr, mut vr) = (p0.clone(), m0.clone(), v0.clone());
        adam_update_reference(&mut pr, &g, &mut mr, &mut vr, &s);
        for par in [Par::Seq, Par::Rayon] {
            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            adam_update(&mut p, &g, &mut m, &mut v, &s, par);
            let close = |a: T, b: T| (a.to_f64() - b.to_f64()).abs() <= 1e-6 * b.to_f64().abs();
            for i in 0..n {
                let what = format!("{} case {case} {par:?} [{i}]: p {} m {} v {}", T::NAME, p[i], m[i], v[i]);
                assert!(close(pr[i], p[i]) && close(mr[i], m[i]) && close(vr[i], v[i]), "oracle disagrees: {what}");
                match (case, i % 2) {
                    (0, 0) => assert!(m[i] == T::ZERO && v[i] == T::ZERO && p[i] == p0[i], "{what}"),
                    (0, _) => assert!(m[i] == f(0.9) * m0[i] && v[i] > tiny && p[i] == p0[i], "{what}"),
                    (_, 0) => assert!(m[i] == T::ZERO && v[i] == f(0.999) * v0[i] && p[i] == p0[i], "{what}"),
                    (_, _) => assert!(m[i] > T::ZERO && p[i] < p0[i], "{what}"),
                }
            }
        }
    }
}

#[test]
fn adam_flushes_to_zero_f32() {
    adam_flushes_to_zero::<f32>();
}

#[test]
fn adam_flushes_to_zero_f64() {
    adam_flushes_to_zero::<f64>();
}
