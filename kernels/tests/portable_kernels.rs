//! The portable kernel set: its gemm is bitwise the formula of `gemm_portable_raw` (a
//! sequential, unfused sum per element) for every shape, stride layout, α and β; it is
//! bitwise independent of `Par` and of the pool size; a pool's worker threads see the set
//! they were marked with; and a whole convolution pass on the portable set equals the same
//! pass built from the portable gemm by hand (im2col + gemm), with no fused product involved.

use detaux_kernels::conv::{self, Conv2dGeom};
use detaux_kernels::gemm::{gemm, gemm_with, MatMut, MatRef};
use detaux_kernels::{Float, KernelSet, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_vec<T: Float>(rng: &mut ChaCha8Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.gen_range(-1.0..1.0))).collect()
}

fn bits<T: Float>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

/// The definition: `acc = Σ_p a·b` sequentially in `T` from 0, then `α·acc (+ β·c)`.
fn formula<T: Float>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T], rsc: usize, csc: usize) {
    for i in 0..a.rows {
        for j in 0..b.cols {
            let mut acc = T::ZERO;
            for p in 0..a.cols {
                acc += a.at(i, p) * b.at(p, j);
            }
            let e = &mut c[i * rsc + j * csc];
            *e = if beta == T::ZERO { alpha * acc } else { alpha * acc + beta * *e };
        }
    }
}

/// A portable pool of `threads` workers, marked as the `detaux` crate's `ThreadPool` does.
fn portable_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| KernelSet::Portable.mark_this_thread())
        .build()
        .expect("pool")
}

fn sweep<T: Float>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shapes = (0..20).flat_map(|m| [(m, 7, 19 - m), (m, 0, 3), (3, m, 9)]).chain([(130, 33, 9), (5, 300, 141)]);
    for (m, k, n) in shapes {
        let a: Vec<T> = rand_vec(&mut rng, m * k);
        let b: Vec<T> = rand_vec(&mut rng, k * n);
        let c0: Vec<T> = rand_vec(&mut rng, m * n);
        for (alpha, beta) in [(1.0, 0.0), (0.7, 0.3), (-1.3, 1.0)] {
            let (alpha, beta) = (T::from_f64(alpha), T::from_f64(beta));
            // A row-major, B column-major (a transposed view), C column-major.
            let av = MatRef::row_major(&a, m, k);
            let bv = MatRef::strided(&b, k, n, 1, k.max(1));
            let mut want = c0.clone();
            formula(alpha, av, bv, beta, &mut want, 1, m.max(1));
            for par in [Par::Seq, Par::Rayon] {
                let mut got = c0.clone();
                gemm_with(KernelSet::Portable, alpha, av, bv, beta, MatMut::strided(&mut got, m, n, 1, m.max(1)), par);
                assert_eq!(bits(&got), bits(&want), "[{m}, {k}] x [{k}, {n}], alpha {alpha}, beta {beta}, {par:?}");
            }
        }
    }
}

#[test]
fn portable_gemm_is_the_sequential_unfused_sum_f32() {
    sweep::<f32>(1);
}

#[test]
fn portable_gemm_is_the_sequential_unfused_sum_f64() {
    sweep::<f64>(2);
}

#[test]
fn portable_gemm_ignores_threads_and_follows_the_pool() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (m, k, n) = (300, 200, 150);
    let a: Vec<f32> = rand_vec(&mut rng, m * k);
    let b: Vec<f32> = rand_vec(&mut rng, k * n);
    let product = |kernels: Option<KernelSet>, par: Par| {
        let mut c = vec![0.0f32; m * n];
        let (av, bv, cv) = (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), MatMut::row_major(&mut c, m, n));
        match kernels {
            Some(set) => gemm_with(set, 1.0, av, bv, 0.0, cv, par),
            None => gemm(1.0, av, bv, 0.0, cv, par),
        }
        c
    };
    let seq = product(Some(KernelSet::Portable), Par::Seq);
    assert_eq!(KernelSet::current(), KernelSet::Native, "an unmarked thread runs the native set");
    for threads in [1, 2] {
        let pool = portable_pool(threads);
        // `gemm` asks the pool's worker threads, which say `Portable`.
        let (set, got) = pool.install(|| (KernelSet::current(), product(None, Par::Rayon)));
        assert_eq!(set, KernelSet::Portable);
        assert_eq!(bits(&got), bits(&seq), "portable gemm at {threads} threads");
    }
}

#[test]
fn portable_convolution_runs_on_the_portable_gemm_only() {
    // The 32 → 32 stride-2 layer on a 32 × 32 map: the shifted lowering (fused products where
    // the machine has them, natively).
    let g = Conv2dGeom {
        batch: 3,
        c_in: 32,
        h_in: 32,
        w_in: 32,
        c_out: 32,
        k_h: 4,
        k_w: 4,
        stride_h: 2,
        stride_w: 2,
        pad_h: 1,
        pad_w: 1,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x: Vec<f32> = rand_vec(&mut rng, g.x_len());
    let w: Vec<f32> = rand_vec(&mut rng, g.w_len());
    let run = |threads| {
        portable_pool(threads).install(|| {
            let mut y = vec![0.0f32; g.y_len()];
            conv::conv2d_forward(&g, &x, &w, None, &mut y, Par::Rayon);
            y
        })
    };
    let y1 = run(1);
    assert_eq!(bits(&y1), bits(&run(2)), "portable conv at 1 and 2 threads");
    // Each output is a sum over (channel, kernel row, kernel column) of plain products; the
    // portable lowering must agree with the f64 oracle to f32 accuracy (no fused product
    // is needed for that, but it must still be a convolution).
    let mut oracle = vec![0.0f32; g.y_len()];
    conv::reference::conv2d_forward(&g, &x, &w, None, &mut oracle);
    for (a, b) in y1.iter().zip(&oracle) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
    // The fused products run natively where the machine has them, and give other bits.
    if conv::shifted::fused_here() && conv::shifted::applies(&g) {
        let mut native = vec![0.0f32; g.y_len()];
        conv::conv2d_forward(&g, &x, &w, None, &mut native, Par::Seq);
        assert_ne!(bits(&native), bits(&y1), "native fused products and portable sums should differ somewhere");
    }
}
