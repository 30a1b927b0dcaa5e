//! The indirect-row kernels of `detaux_kernels::conv::indirect` against their portable twins
//! (bitwise: the same FMA chains) and against an `f64` direct sum, on odd sizes: rows that
//! leave a partial register tile, reductions over several blocks of `KB` steps, columns that
//! leave a masked tile or tail, overlapping row offsets, and both `Par` values.

use detaux_kernels::conv::indirect::{self, PackedA, Simd};
use detaux_kernels::Par;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// Row offsets into a buffer of `len` elements for runs of `n`: random, some repeated or
/// overlapping (as the shifts of one phase row are).
fn offsets(rng: &mut ChaCha8Rng, count: usize, len: usize, n: usize) -> Vec<usize> {
    let mut offs: Vec<usize> = (0..count).map(|_| rng.gen_range(0..=len - n)).collect();
    if count > 2 {
        offs[1] = (offs[0] + 1).min(len - n);
        offs[count - 1] = offs[0];
    }
    offs
}

/// Every kernel this machine runs (the default one too), with both `Par` values.
fn kernels() -> Vec<(Simd, Par)> {
    let all = Simd::supported();
    assert!(all.contains(&Simd::best()));
    all.into_iter().flat_map(|s| [(s, Par::Seq), (s, Par::Rayon)]).collect()
}

#[test]
fn the_default_kernel_is_the_fastest_this_machine_runs() {
    let all = Simd::supported();
    assert_eq!(all.first(), Some(&Simd::Portable));
    assert_eq!(Simd::best(), *all.last().unwrap());
    assert_eq!(indirect::available(), Simd::best() != Simd::Portable);
}

#[test]
fn indirect_gemm_matches_portable_bitwise_and_f64_sum() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for &m in &[1usize, 5, 6, 7, 13, 32] {
        for &kk in &[1usize, 3, 17, 48, 300] {
            for &n in &[1usize, 7, 8, 15, 16, 17, 40, 64, 65, 301] {
                let len = n + 57;
                let b = rand_vec(&mut rng, len);
                let offs = offsets(&mut rng, kk, len, n);
                let a_dense = rand_vec(&mut rng, m * kk);
                let a = PackedA::new(m, kk, |i, p| a_dense[i * kk + p]);
                let ldc = n + 3;
                let mut want = vec![7.0f32; (m - 1) * ldc + n + 2];
                indirect::indirect_gemm_portable(&a, &b, &offs, n, &mut want, ldc);
                for i in 0..m {
                    for j in 0..n {
                        let exact: f64 = (0..kk).map(|p| a_dense[i * kk + p] as f64 * b[offs[p] + j] as f64).sum();
                        let got = want[i * ldc + j] as f64;
                        assert!(
                            (got - exact).abs() <= 1e-5 * (1.0 + exact.abs()),
                            "m {m} kk {kk} n {n}: {got} vs {exact}"
                        );
                    }
                    if i + 1 < m {
                        assert!(want[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == 7.0), "wrote between rows");
                    }
                }
                for (simd, par) in kernels() {
                    let mut got = vec![7.0f32; want.len()];
                    indirect::indirect_gemm_with(simd, &a, &b, &offs, n, &mut got, ldc, par);
                    assert!(
                        got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "indirect_gemm differs from its portable twin: m {m} kk {kk} n {n} {simd:?} {par:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn indirect_dot_matches_portable_bitwise_and_f64_sum() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for &m in &[1usize, 3, 4, 5, 8, 9, 15, 32] {
        for &q in &[1usize, 2, 3, 4, 7, 48] {
            for &n in &[1usize, 7, 8, 9, 16, 23, 578] {
                let lda = n + 5;
                let a = rand_vec(&mut rng, (m - 1) * lda + n);
                let len = n + 41;
                let b = rand_vec(&mut rng, len);
                let offs = offsets(&mut rng, q, len, n);
                let mut want = vec![7.0f32; m * q];
                indirect::indirect_dot_portable(&a, m, lda, &b, &offs, n, &mut want);
                for i in 0..m {
                    for (k, &off) in offs.iter().enumerate() {
                        let exact: f64 = (0..n).map(|j| a[i * lda + j] as f64 * b[off + j] as f64).sum();
                        let got = want[i * q + k] as f64;
                        assert!(
                            (got - exact).abs() <= 1e-5 * (1.0 + exact.abs()),
                            "m {m} q {q} n {n}: {got} vs {exact}"
                        );
                    }
                }
                for (simd, par) in kernels() {
                    let mut got = vec![7.0f32; m * q];
                    indirect::indirect_dot_with(simd, &a, m, lda, &b, &offs, n, &mut got, par);
                    assert!(
                        got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "indirect_dot differs from its portable twin: m {m} q {q} n {n} {simd:?} {par:?}"
                    );
                }
            }
        }
    }
}
