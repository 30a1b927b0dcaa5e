//! Bitwise thread-count invariance of every parallel kernel: the result of `Par::Rayon` inside
//! rayon pools of 1, 2 and 4 threads equals the `Par::Seq` result bit for bit (gemm with α ≠ 1,
//! β ≠ 0 and k > kc; every conv / transposed-conv pass on shapes that split into several
//! chunks, including ragged last chunks; blocked sums and dots; Adam/AdamW).

use detaux_kernels::adam::{adam_update, AdamStep, WeightDecayMode};
use detaux_kernels::conv::{self, Conv2dGeom, ConvTranspose2dGeom};
use detaux_kernels::gemm::{gemm, MatMut, MatRef};
use detaux_kernels::reduce::{dot_par, sum_par};
use detaux_kernels::{Float, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_vec<T: Float>(rng: &mut ChaCha8Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.gen_range(-1.0..1.0))).collect()
}

/// Runs `f(par)` with `Par::Seq` on the test thread, then with `Par::Rayon` in pools of 1, 2
/// and 4 threads, and asserts every output is bitwise equal to the sequential one.
fn assert_invariant<R: PartialEq + std::fmt::Debug + Send>(what: &str, f: impl Fn(Par) -> R + Sync) {
    let seq = f(Par::Seq);
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let got = pool.install(|| f(Par::Rayon));
        assert!(got == seq, "{what}: Par::Rayon with {threads} threads differs from Par::Seq");
    }
}

fn bits<T: Float>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

fn gemm_case<T: Float>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for &(m, k, n) in &[(1024, 300, 70), (257, 513, 33), (200, 17, 129), (48, 300, 1000), (9, 70, 2100), (1, 3, 200000)]
    {
        let a: Vec<T> = rand_vec(&mut rng, m * k);
        let b: Vec<T> = rand_vec(&mut rng, k * n);
        let c0: Vec<T> = rand_vec(&mut rng, m * n);
        for (alpha, beta) in [(1.0, 0.0), (0.7, 0.3), (-1.3, 1.0)] {
            assert_invariant(&format!("gemm {} {m}x{k}x{n} α={alpha} β={beta}", T::NAME), |par| {
                let mut c = c0.clone();
                // B read transposed, to exercise a strided operand too.
                gemm(
                    T::from_f64(alpha),
                    MatRef::row_major(&a, m, k),
                    MatRef::strided(&b, k, n, 1, k),
                    T::from_f64(beta),
                    MatMut::row_major(&mut c, m, n),
                    par,
                );
                bits(&c)
            });
        }
    }
}

#[test]
fn gemm_is_thread_invariant() {
    gemm_case::<f32>(41);
    gemm_case::<f64>(42);
}

fn conv_geoms() -> Vec<Conv2dGeom> {
    // (batch, c_in, h, c_out): 8x8 maps (forward chunks of 16 images, ragged), 32x32 maps
    // (weight chunks of 2 images, ragged), the first SimpleConv64 layer at batch 3, and a
    // single image (one chunk: the gemms themselves split over rows or columns), and 16x16
    // maps with 8 channels (shifted lowering: 4 forward chunks, 2 weight chunks, both ragged).
    [(20, 8, 8, 8), (19, 3, 32, 4), (3, 3, 64, 32), (1, 16, 32, 64), (45, 8, 16, 16)]
        .iter()
        .map(|&(batch, c_in, h, c_out)| Conv2dGeom {
            batch,
            c_in,
            h_in: h,
            w_in: h,
            c_out,
            k_h: 4,
            k_w: 4,
            stride_h: 2,
            stride_w: 2,
            pad_h: 1,
            pad_w: 1,
        })
        .collect()
}

fn conv_case<T: Float>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for g in conv_geoms() {
        assert!(g.macs() >= conv::MIN_PAR_MACS, "{g:?} is too small to run in parallel");
        let x: Vec<T> = rand_vec(&mut rng, g.x_len());
        let w: Vec<T> = rand_vec(&mut rng, g.w_len());
        let b: Vec<T> = rand_vec(&mut rng, g.c_out);
        let dy: Vec<T> = rand_vec(&mut rng, g.y_len());
        let name = format!("{g:?} {}", T::NAME);
        assert_invariant(&format!("conv2d_forward {name}"), |par| {
            let mut y = vec![T::ZERO; g.y_len()];
            conv::conv2d_forward(&g, &x, &w, Some(&b), &mut y, par);
            bits(&y)
        });
        assert_invariant(&format!("conv2d_backward_input {name}"), |par| {
            let mut dx = vec![T::ZERO; g.x_len()];
            conv::conv2d_backward_input(&g, &dy, &w, &mut dx, par);
            bits(&dx)
        });
        assert_invariant(&format!("conv2d_backward_weight {name}"), |par| {
            let mut dw = vec![T::ZERO; g.w_len()];
            conv::conv2d_backward_weight(&g, &x, &dy, &mut dw, par);
            bits(&dw)
        });
        // The shifted-phase lowering also where the dispatch does not pick it (c_in < 8).
        assert!(conv::shifted::supports(&g));
        assert_invariant(&format!("shifted::forward {name}"), |par| {
            let mut y = vec![T::ZERO; g.y_len()];
            conv::shifted::forward(&g, &x, &w, Some(&b), &mut y, par);
            bits(&y)
        });
        assert_invariant(&format!("shifted::backward_input {name}"), |par| {
            let mut dx = vec![T::ZERO; g.x_len()];
            conv::shifted::backward_input(&g, &dy, &w, &mut dx, par);
            bits(&dx)
        });
        assert_invariant(&format!("shifted::backward_weight {name}"), |par| {
            let mut dw = vec![T::ZERO; g.w_len()];
            conv::shifted::backward_weight(&g, &x, &dy, &mut dw, par);
            bits(&dw)
        });
        // The transposed convolution whose dual is `g`.
        let t = ConvTranspose2dGeom {
            batch: g.batch,
            c_in: g.c_out,
            h_in: g.h_out(),
            w_in: g.w_out(),
            c_out: g.c_in,
            k_h: g.k_h,
            k_w: g.k_w,
            stride_h: g.stride_h,
            stride_w: g.stride_w,
            pad_h: g.pad_h,
            pad_w: g.pad_w,
            out_pad_h: 0,
            out_pad_w: 0,
        };
        let bt: Vec<T> = rand_vec(&mut rng, t.c_out);
        assert_invariant(&format!("conv_transpose2d_forward {name}"), |par| {
            let mut y = vec![T::ZERO; t.y_len()];
            conv::conv_transpose2d_forward(&t, &dy, &w, Some(&bt), &mut y, par);
            bits(&y)
        });
        assert_invariant(&format!("conv_transpose2d_backward_input {name}"), |par| {
            let mut dx = vec![T::ZERO; t.x_len()];
            conv::conv_transpose2d_backward_input(&t, &x, &w, &mut dx, par);
            bits(&dx)
        });
        assert_invariant(&format!("conv_transpose2d_backward_weight {name}"), |par| {
            let mut dw = vec![T::ZERO; t.w_len()];
            conv::conv_transpose2d_backward_weight(&t, &dy, &x, &mut dw, par);
            bits(&dw)
        });
    }
}

#[test]
fn conv_kernels_are_thread_invariant() {
    conv_case::<f32>(51);
    conv_case::<f64>(52);
}

#[test]
fn reductions_and_adam_are_thread_invariant() {
    let mut rng = ChaCha8Rng::seed_from_u64(61);
    let n = 300_001;
    let a: Vec<f32> = rand_vec(&mut rng, n);
    let b: Vec<f32> = rand_vec(&mut rng, n);
    assert_invariant("sum_par f32", |par| sum_par(&a, par).to_bits());
    assert_invariant("dot_par f32", |par| dot_par(&a, &b, par).to_bits());
    let a64: Vec<f64> = rand_vec(&mut rng, n);
    assert_invariant("sum_par f64", |par| sum_par(&a64, par).to_bits());
    // Bias gradient of a [5, 24, 40, 40] dy (192 000 elements: above the parallel threshold).
    let dy: Vec<f32> = rand_vec(&mut rng, 5 * 24 * 1600);
    assert_invariant("conv::bias_backward f32", |par| {
        let mut db = vec![0.0f32; 24];
        detaux_kernels::conv::bias_backward(5, 24, 1600, &dy, &mut db, par);
        bits(&db)
    });
    for mode in [WeightDecayMode::L2, WeightDecayMode::Decoupled] {
        let s = AdamStep { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, mode, step: 3 };
        let m0: Vec<f32> = rand_vec(&mut rng, n);
        let v0: Vec<f32> = rand_vec::<f32>(&mut rng, n).into_iter().map(|v| v * v).collect();
        assert_invariant(&format!("adam {mode:?}"), |par| {
            let (mut p, mut m, mut v) = (a.clone(), m0.clone(), v0.clone());
            adam_update(&mut p, &b, &mut m, &mut v, &s, par);
            (bits(&p), bits(&m), bits(&v))
        });
    }
}
