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
