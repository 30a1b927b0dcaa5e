//! Lesson 3: one convolution computed three ways.
//!
//! A 2-D convolution (NCHW, `x: [n, c_in, h, w]`, `W: [c_out, c_in, k, k]`) is
//!
//! `y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x[n, c, i·s + p − pad, j·s + q − pad]`.
//!
//! 1. **Direct loops**: the formula as six nested loops (`kernels::conv::reference`, the oracle
//!    every fast kernel is tested against).
//! 2. **im2col + GEMM**: copy, for each image, every input patch into one column of a matrix
//!    `col: [c_in·k·k, h_out·w_out]`; the convolution is then one matrix product
//!    `y_n = W · col_n` (written out below with `kernels::conv::im2col` and `kernels::gemm`).
//! 3. **The fast kernel** that the `conv2d` op calls (`kernels::conv::conv2d_forward`): the same
//!    lowering with batched images, reused scratch, a lowering chosen per geometry, and
//!    the work split over images in the rayon pool.
//!
//! The three agree up to the rounding of a different summation order; the timings show why the
//! lowering exists. The layer is SimpleConv64's second convolution (32 → 32 channels, kernel 4,
//! stride 2, padding 1, 32×32 → 16×16) on a batch of 32.
//!
//! ```sh
//! cargo run --release --example 03_conv_lowering
//! ```
//! Next: `04_losses`, the losses of stage 1 built from such ops.

use detaux::kernels::conv::{self, reference, Conv2dGeom};
use detaux::kernels::gemm::{gemm, MatMut, MatRef};
use detaux::kernels::Par;
use detaux::rng::SeedTree;
use rand::Rng;
use std::time::Instant;

/// Best wall time of `reps` runs of `f`, in milliseconds.
fn best_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

/// Largest `|a − b|` over two equal-length slices.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn main() {
    let g = Conv2dGeom {
        batch: 32,
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
    g.check().expect("a valid geometry");
    let mut rng = SeedTree::new(3).rng("conv");
    let mut random = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let (x, w, bias) = (random(g.x_len()), random(g.w_len()), random(g.c_out));
    println!(
        "conv {}→{} channels, kernel {}, stride {}, padding {}, {}×{} → {}×{}, batch {}: {:.1} M multiply-adds",
        g.c_in,
        g.c_out,
        g.k_h,
        g.stride_h,
        g.pad_h,
        g.h_in,
        g.w_in,
        g.h_out(),
        g.w_out(),
        g.batch,
        g.macs() as f64 / 1e6
    );

    // 1. Direct loops: the definition.
    let mut y_direct = vec![0.0f32; g.y_len()];
    let t_direct = best_ms(2, || reference::conv2d_forward(&g, &x, &w, Some(&bias), &mut y_direct));

    // 2. im2col + GEMM, one image at a time, single-threaded.
    let kk = g.c_in * g.k_h * g.k_w; // rows of the column matrix: one per (c, p, q)
    let hw = g.h_out() * g.w_out(); // columns: one per output pixel
    let image_len = g.c_in * g.h_in * g.w_in;
    let mut col = vec![0.0f32; kk * hw];
    let mut y_lowered = vec![0.0f32; g.y_len()];
    let t_lowered = best_ms(3, || {
        for n in 0..g.batch {
            conv::im2col(&g, &x[n * image_len..(n + 1) * image_len], &mut col, hw);
            let y_n = &mut y_lowered[n * g.c_out * hw..(n + 1) * g.c_out * hw];
            for (o, row) in y_n.chunks_mut(hw).enumerate() {
                row.fill(bias[o]); // start from the bias, then add W · col
            }
            gemm(
                1.0,
                MatRef::row_major(&w, g.c_out, kk), // W read as [c_out, c_in·k·k]
                MatRef::row_major(&col, kk, hw),
                1.0,
                MatMut::row_major(y_n, g.c_out, hw),
                Par::Seq,
            );
        }
    });

    // 3. The fast kernel, sequential and then on every thread of the rayon pool.
    let mut y_fast = vec![0.0f32; g.y_len()];
    let t_fast_seq = best_ms(5, || conv::conv2d_forward(&g, &x, &w, Some(&bias), &mut y_fast, Par::Seq));
    let mut y_fast_par = vec![0.0f32; g.y_len()];
    let t_fast_par = best_ms(5, || conv::conv2d_forward(&g, &x, &w, Some(&bias), &mut y_fast_par, Par::Rayon));

    let scale = y_direct.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let gflops = |ms: f64| 2.0 * g.macs() as f64 / (ms * 1e6);
    println!("\n| method | time (ms) | GFLOP/s | max |y − y_direct| |");
    println!("|---|---|---|---|");
    println!("| 1. direct loops | {t_direct:.1} | {:.2} | 0 |", gflops(t_direct));
    println!(
        "| 2. im2col + gemm | {t_lowered:.1} | {:.2} | {:.1e} |",
        gflops(t_lowered),
        max_diff(&y_lowered, &y_direct)
    );
    println!(
        "| 3. fast kernel, 1 thread | {t_fast_seq:.1} | {:.2} | {:.1e} |",
        gflops(t_fast_seq),
        max_diff(&y_fast, &y_direct)
    );
    println!(
        "| 3. fast kernel, {} threads | {t_fast_par:.1} | {:.2} | {:.1e} |",
        rayon::current_num_threads(),
        gflops(t_fast_par),
        max_diff(&y_fast_par, &y_direct)
    );
    println!("\noutputs are up to {scale:.1} in size; the differences are float rounding of another summation order.");
    // Splitting over images never changes a bit: the parallel result equals the sequential one.
    assert!(y_fast == y_fast_par, "the fast kernel must not depend on the thread count");
    println!("the fast kernel gives the same bits on 1 thread and on {}.", rayon::current_num_threads());
    for (name, y) in [("im2col + gemm", &y_lowered), ("fast kernel", &y_fast)] {
        assert!(max_diff(y, &y_direct) <= 1e-4 * scale, "{name} disagrees with the direct loops");
    }
}
