//! Sweep of the fast convolution kernels against the direct-loop oracles of
//! `detaux_kernels::conv::reference`: kernel sizes 1–5 (incl. 4), strides 1–3, padding 0–2,
//! odd and unit spatial sizes, batch 1 and > 1 (incl. batches that leave a ragged last chunk),
//! f32 and f64, for im2col, col2im, conv2d forward / input-backward / weight-backward, bias
//! backward, and the three transposed-convolution passes.

use detaux_kernels::conv::{self, reference, Conv2dGeom, ConvTranspose2dGeom};
use detaux_kernels::{Float, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_vec<T: Float>(rng: &mut ChaCha8Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.gen_range(-1.0..1.0))).collect()
}

/// Max |a − b| relative to `1 + max |b|`, computed in f64.
fn assert_close<T: Float>(what: &str, a: &[T], b: &[T], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let scale = 1.0 + b.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = (x.to_f64() - y.to_f64()).abs();
        assert!(d <= tol * scale, "{what}: element {i}: fast {x} vs oracle {y} (scale {scale})");
    }
}

fn tol<T: Float>() -> f64 {
    if T::NAME == "f32" {
        1e-5
    } else {
        1e-12
    }
}

fn check_conv<T: Float>(g: &Conv2dGeom, rng: &mut ChaCha8Rng) {
    let t = tol::<T>();
    let x: Vec<T> = rand_vec(rng, g.x_len());
    let w: Vec<T> = rand_vec(rng, g.w_len());
    let b: Vec<T> = rand_vec(rng, g.c_out);
    let dy: Vec<T> = rand_vec(rng, g.y_len());
    let name = format!("{g:?} {}", T::NAME);

    // im2col / col2im on image 0 with a padded leading dimension.
    let (kk, hw) = (g.c_in * g.k_h * g.k_w, g.h_out() * g.w_out());
    let ld = hw + 3;
    let xs = g.c_in * g.h_in * g.w_in;
    let mut col_ref = vec![T::from_f64(7.0); kk * ld];
    reference::im2col(g, &x[..xs], &mut col_ref, ld);
    let colv: Vec<T> = rand_vec(rng, kk * ld);
    let mut img_ref = vec![T::ZERO; xs];
    reference::col2im(g, &colv, ld, &mut img_ref);
    let mut col2im_bits = Vec::new();
    let strategies = [conv::Strategy::Rows, conv::Strategy::Table, conv::Strategy::Phases];
    let mut scratch = Vec::new();
    for plan in strategies.iter().map(|&s| conv::Im2colPlan::with_strategy(g, s)).chain([conv::Im2colPlan::new(g)]) {
        let mut col_fast = vec![T::from_f64(7.0); kk * ld];
        conv::im2col_with(&plan, g, &x[..xs], &mut col_fast, ld, &mut scratch);
        assert_eq!(col_fast, col_ref, "im2col {plan:?} {name}");
        let mut img_fast = vec![T::from_f64(5.0); xs];
        scratch.iter_mut().for_each(|v| *v = T::from_f64(9.0));
        conv::col2im_with(&plan, g, &colv, ld, &mut img_fast, &mut scratch);
        assert_close(&format!("col2im {name}"), &img_fast, &img_ref, t);
        col2im_bits.push(img_fast);
    }
    assert!(col2im_bits.windows(2).all(|w| w[0] == w[1]), "col2im strategies differ in bits: {name}");
    // The pixel-major lowering is the transpose of the column matrix (scratch reused twice).
    // Dense rows and rows with 5 spare columns (never written).
    for ld_t in [kk, kk + 5] {
        let mut col_t = vec![T::from_f64(7.0); hw * ld_t];
        let mut x_pad = Vec::new();
        for _ in 0..2 {
            conv::im2col_pixel_major(g, &x[..xs], &mut col_t, ld_t, &mut x_pad);
            for n in 0..hw {
                for r in 0..kk {
                    assert_eq!(col_t[n * ld_t + r], col_ref[r * ld + n], "im2col_pixel_major row {r} pixel {n} {name}");
                }
                for r in kk..ld_t {
                    assert_eq!(col_t[n * ld_t + r], T::from_f64(7.0), "im2col_pixel_major wrote spare column {r}");
                }
            }
        }
    }
    let mut col_pub = vec![T::from_f64(7.0); kk * ld];
    conv::im2col(g, &x[..xs], &mut col_pub, ld);
    assert_eq!(col_pub, col_ref, "im2col {name}");

    for par in [Par::Seq, Par::Rayon] {
        let mut y = vec![T::from_f64(3.0); g.y_len()];
        let mut y_ref = vec![T::ZERO; g.y_len()];
        conv::conv2d_forward(g, &x, &w, Some(&b), &mut y, par);
        reference::conv2d_forward(g, &x, &w, Some(&b), &mut y_ref);
        assert_close(&format!("conv2d_forward {name}"), &y, &y_ref, t);
        conv::conv2d_forward(g, &x, &w, None, &mut y, par);
        reference::conv2d_forward(g, &x, &w, None, &mut y_ref);
        assert_close(&format!("conv2d_forward (no bias) {name}"), &y, &y_ref, t);

        let mut dx = vec![T::from_f64(3.0); g.x_len()];
        let mut dx_ref = vec![T::ZERO; g.x_len()];
        conv::conv2d_backward_input(g, &dy, &w, &mut dx, par);
        reference::conv2d_backward_input(g, &dy, &w, &mut dx_ref);
        assert_close(&format!("conv2d_backward_input {name}"), &dx, &dx_ref, t);

        let mut dw = vec![T::from_f64(3.0); g.w_len()];
        let mut dw_ref = vec![T::ZERO; g.w_len()];
        conv::conv2d_backward_weight(g, &x, &dy, &mut dw, par);
        reference::conv2d_backward_weight(g, &x, &dy, &mut dw_ref);
        assert_close(&format!("conv2d_backward_weight {name}"), &dw, &dw_ref, t);

        // The shifted-phase lowering on every geometry it supports, whether or not the
        // dispatch above picked it (it needs c_in >= 8 there).
        if conv::shifted::supports(g) {
            let mut y = vec![T::from_f64(3.0); g.y_len()];
            conv::shifted::forward(g, &x, &w, Some(&b), &mut y, par);
            reference::conv2d_forward(g, &x, &w, Some(&b), &mut y_ref);
            assert_close(&format!("shifted::forward {name}"), &y, &y_ref, t);
            conv::shifted::forward(g, &x, &w, None, &mut y, par);
            reference::conv2d_forward(g, &x, &w, None, &mut y_ref);
            assert_close(&format!("shifted::forward (no bias) {name}"), &y, &y_ref, t);
            dx.fill(T::from_f64(3.0));
            conv::shifted::backward_input(g, &dy, &w, &mut dx, par);
            assert_close(&format!("shifted::backward_input {name}"), &dx, &dx_ref, t);
            dw.fill(T::from_f64(3.0));
            conv::shifted::backward_weight(g, &x, &dy, &mut dw, par);
            assert_close(&format!("shifted::backward_weight {name}"), &dw, &dw_ref, t);
        }
    }

    let mut db = vec![T::from_f64(3.0); g.c_out];
    let mut db_ref = vec![T::ZERO; g.c_out];
    conv::bias_backward(g.batch, g.c_out, hw, &dy, &mut db, Par::Seq);
    reference::bias_backward(g.batch, g.c_out, hw, &dy, &mut db_ref);
    assert_close(&format!("bias_backward {name}"), &db, &db_ref, t);
    let mut db_par = vec![T::ZERO; g.c_out];
    conv::bias_backward(g.batch, g.c_out, hw, &dy, &mut db_par, Par::Rayon);
    assert_eq!(db, db_par, "bias_backward Seq vs Rayon bits {name}");
}

fn check_conv_transpose<T: Float>(g: &ConvTranspose2dGeom, rng: &mut ChaCha8Rng) {
    let t = tol::<T>();
    let x: Vec<T> = rand_vec(rng, g.x_len());
    let w: Vec<T> = rand_vec(rng, g.w_len());
    let b: Vec<T> = rand_vec(rng, g.c_out);
    let dy: Vec<T> = rand_vec(rng, g.y_len());
    let name = format!("{g:?} {}", T::NAME);
    let dual = g.as_conv();
    for par in [Par::Seq, Par::Rayon] {
        let mut y = vec![T::from_f64(3.0); g.y_len()];
        let mut y_ref = vec![T::ZERO; g.y_len()];
        conv::conv_transpose2d_forward(g, &x, &w, Some(&b), &mut y, par);
        reference::conv_transpose2d_forward(g, &x, &w, Some(&b), &mut y_ref);
        assert_close(&format!("conv_transpose2d_forward {name}"), &y, &y_ref, t);

        // Input-backward: the adjoint of the forward, i.e. the dual convolution of dy.
        let mut dx = vec![T::from_f64(3.0); g.x_len()];
        let mut dx_ref = vec![T::ZERO; g.x_len()];
        conv::conv_transpose2d_backward_input(g, &dy, &w, &mut dx, par);
        reference::conv2d_forward(&dual, &dy, &w, None, &mut dx_ref);
        assert_close(&format!("conv_transpose2d_backward_input {name}"), &dx, &dx_ref, t);

        let mut dw = vec![T::from_f64(3.0); g.w_len()];
        let mut dw_ref = vec![T::ZERO; g.w_len()];
        conv::conv_transpose2d_backward_weight(g, &x, &dy, &mut dw, par);
        reference::conv2d_backward_weight(&dual, &dy, &x, &mut dw_ref);
        assert_close(&format!("conv_transpose2d_backward_weight {name}"), &dw, &dw_ref, t);
    }
    // Adjointness of the oracles themselves: <conv_t(x), dy> = <x, conv(dy)> (bias off).
    let mut y_ref = vec![T::ZERO; g.y_len()];
    reference::conv_transpose2d_forward(g, &x, &w, None, &mut y_ref);
    let mut dx_ref = vec![T::ZERO; g.x_len()];
    reference::conv2d_forward(&dual, &dy, &w, None, &mut dx_ref);
    let lhs: f64 = y_ref.iter().zip(&dy).map(|(a, b)| a.to_f64() * b.to_f64()).sum();
    let rhs: f64 = x.iter().zip(&dx_ref).map(|(a, b)| a.to_f64() * b.to_f64()).sum();
    assert!((lhs - rhs).abs() <= 1e3 * t * (1.0 + lhs.abs()), "adjoint {name}: {lhs} vs {rhs}");
}

#[allow(clippy::too_many_arguments)]
fn geom(
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
) -> Conv2dGeom {
    Conv2dGeom {
        batch,
        c_in,
        h_in: h,
        w_in: w,
        c_out,
        k_h: k[0],
        k_w: k[1],
        stride_h: s[0],
        stride_w: s[1],
        pad_h: p[0],
        pad_w: p[1],
    }
}

fn sweep<T: Float>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut n = 0;
    for k in 1..=5 {
        for s in 1..=3 {
            for p in 0..=2 {
                for &(h, w) in &[(1, 1), (5, 3), (7, 8)] {
                    for &(c_in, c_out) in &[(1, 1), (3, 5)] {
                        for batch in [1, 3] {
                            // Asymmetric variants: kernel/stride/padding differ per axis.
                            let g = geom(batch, c_in, h, w, c_out, [k, k.max(2) - 1], [s, 4 - s], [p, 2 - p]);
                            for g in [geom(batch, c_in, h, w, c_out, [k; 2], [s; 2], [p; 2]), g] {
                                if g.check().is_ok() {
                                    check_conv::<T>(&g, &mut rng);
                                    n += 1;
                                }
                                let t = ConvTranspose2dGeom {
                                    batch: g.batch,
                                    c_in: g.c_in,
                                    h_in: g.h_in,
                                    w_in: g.w_in,
                                    c_out: g.c_out,
                                    k_h: g.k_h,
                                    k_w: g.k_w,
                                    stride_h: g.stride_h,
                                    stride_w: g.stride_w,
                                    pad_h: g.pad_h,
                                    pad_w: g.pad_w,
                                    out_pad_h: (h + k) % g.stride_h,
                                    out_pad_w: 0,
                                };
                                if t.check().is_ok() {
                                    check_conv_transpose::<T>(&t, &mut rng);
                                    n += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(n > 700, "only {n} geometries were valid");
}

#[test]
fn conv_sweep_f32() {
    sweep::<f32>(1);
}

#[test]
fn conv_sweep_f64() {
    sweep::<f64>(2);
}

/// Batches large enough that the images are split into several chunks, the last one ragged
/// (small maps are batched `TARGET_COLS / hw` images per forward gemm, `TARGET_COLS_INPUT / hw`
/// per input-backward gemm, the weight pass
/// `weight_chunk_cols(K) / hw`; the shifted lowering `TARGET_COLS_SHIFTED / (hp·wp)`), at the
/// model's kernel 4 / stride 2 / padding 1.
#[test]
fn conv_multi_chunk_batches() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for &(batch, c_in, h, c_out) in &[
        (37, 3, 16, 4),
        (21, 2, 8, 3),
        (11, 2, 32, 3),
        (5, 1, 64, 2),
        (3, 2, 33, 2),
        (30, 9, 16, 5),
        (45, 8, 8, 3),
        (43, 16, 16, 4),
        (5, 32, 32, 4),
    ] {
        let g = geom(batch, c_in, h, h, c_out, [4, 4], [2, 2], [1, 1]);
        check_conv::<f32>(&g, &mut rng);
        check_conv::<f64>(&g, &mut rng);
        let t = ConvTranspose2dGeom {
            batch,
            c_in: c_out,
            h_in: h / 2,
            w_in: h / 2,
            c_out: c_in,
            k_h: 4,
            k_w: 4,
            stride_h: 2,
            stride_w: 2,
            pad_h: 1,
            pad_w: 1,
            out_pad_h: 0,
            out_pad_w: 0,
        };
        check_conv_transpose::<f32>(&t, &mut rng);
        check_conv_transpose::<f64>(&t, &mut rng);
    }
    // Stride 1, 3x3, a map of 31x29 pixels (hw > TARGET_COLS: one image per gemm).
    let g = geom(4, 3, 31, 29, 5, [3, 3], [1, 1], [1, 1]);
    check_conv::<f32>(&g, &mut rng);
}

/// Fills the calling thread's scratch pool ([`detaux_kernels::scratch`]) with NaN buffers
/// longer than any request below, so that a kernel reading scratch it did not write in the
/// same chunk produces NaN and fails the oracle comparison.
fn poison_scratch_pool<T: Float>() {
    use detaux_kernels::scratch::{Scratch, POOL_LEN};
    let mut s = Scratch::<T, POOL_LEN>::take([1 << 20; POOL_LEN]);
    for part in s.parts() {
        part.fill(T::from_f64(f64::NAN));
    }
}

/// The pooled scratch is handed out dirty: every lowering (im2col, shifted, pixel-major
/// weight pass, with one and several images per chunk) must overwrite what it reads. Runs
/// `Par::Seq` paths too (`check_conv` tries both), on the poisoned calling thread.
#[test]
fn conv_kernels_never_read_stale_scratch() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for &(batch, c_in, h, c_out, k, s, p) in &[
        (5, 3, 16, 4, 4, 2, 1),
        (3, 8, 16, 4, 4, 2, 1),
        (2, 8, 33, 3, 4, 2, 1),
        (4, 3, 9, 5, 3, 1, 1),
        (3, 2, 11, 3, 5, 3, 2),
    ] {
        let g = geom(batch, c_in, h, h, c_out, [k, k], [s, s], [p, p]);
        poison_scratch_pool::<f32>();
        check_conv::<f32>(&g, &mut rng);
        poison_scratch_pool::<f64>();
        check_conv::<f64>(&g, &mut rng);
    }
}
