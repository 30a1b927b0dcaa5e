//! Kernel benchmarks (criterion): sgemm 1024³, the im2col gemm shapes of the SimpleConv64
//! encoder/decoder at batch 64, and each of its conv / transposed-conv layers forward and
//! backward (input + weight + bias) at batch 64, and the fused Adam update of the side-16
//! stage-1 model (group `adam`), in rayon pools of 1 and 2 threads (the crate's
//! [`detaux::par::ThreadPool`]). Throughput is in floating-point operations (2 per
//! multiply-add), so criterion's "elem/s" reads as FLOP/s.
//!
//! After the criterion groups, `cargo bench --bench kernels` prints a GFLOP/s summary table
//! measured with a short fixed-time loop per workload (wall time per pool size, plus the
//! 1-thread rate per second of on-CPU time, which is less disturbed by a busy machine) (`DETAUX_BENCH_SUMMARY=0` skips it, any
//! other value keeps only the workloads whose name contains it).
//! Targets (2 threads): sgemm 1024³ ≥ 150 GFLOP/s; each conv layer forward+backward
//! ≥ 40 % of that.
//!
//! ```text
//! cargo bench --bench kernels -- --quick          # short check
//! cargo bench --bench kernels -- conv_layer       # one group
//! DETAUX_BENCH_THREADS=1 cargo bench --bench kernels -- 1t   # 1-thread pool only
//! ```

use criterion::{BenchmarkId, Criterion, Throughput};
use detaux::kernels::conv::{self, Conv2dGeom, ConvTranspose2dGeom};
use detaux::kernels::gemm::{gemm, MatMut, MatRef};
use detaux::kernels::Par;
use detaux::par::ThreadPool;
use std::time::{Duration, Instant};

/// Pool sizes measured; `DETAUX_BENCH_THREADS=1` (a comma list) overrides them.
const THREADS: [usize; 2] = [1, 2];
const BATCH: usize = 64;

fn filled(n: usize, seed: u32) -> Vec<f32> {
    // A cheap deterministic fill in [-1, 1): speed does not depend on the values.
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// One benchmark workload: a name, its FLOPs, and a closure running it once.
struct Work {
    group: &'static str,
    name: String,
    flops: u64,
    run: Box<dyn FnMut() + Send>,
}

fn sgemm_work(group: &'static str, name: String, m: usize, k: usize, n: usize) -> Work {
    let a = filled(m * k, 1);
    let b = filled(k * n, 2);
    let mut c = vec![0.0f32; m * n];
    Work {
        group,
        name,
        flops: 2 * (m * k * n) as u64,
        run: Box::new(move || {
            gemm(
                1.0,
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
                0.0,
                MatMut::row_major(&mut c, m, n),
                Par::Rayon,
            )
        }),
    }
}

fn encoder_layers() -> Vec<Conv2dGeom> {
    [(3, 32, 64), (32, 32, 32), (32, 64, 16), (64, 64, 8)]
        .iter()
        .map(|&(c_in, c_out, h)| Conv2dGeom {
            batch: BATCH,
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

fn decoder_layers() -> Vec<ConvTranspose2dGeom> {
    [(64, 64, 4), (64, 32, 8), (32, 32, 16), (32, 3, 32)]
        .iter()
        .map(|&(c_in, c_out, h)| ConvTranspose2dGeom {
            batch: BATCH,
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
            out_pad_h: 0,
            out_pad_w: 0,
        })
        .collect()
}

/// `pass`: "fwd", "bwd" (input + weight + bias) or "fwd+bwd".
fn conv_work(g: Conv2dGeom, pass: &'static str) -> Work {
    let x = filled(g.x_len(), 3);
    let w = filled(g.w_len(), 4);
    let b = filled(g.c_out, 5);
    let dy = filled(g.y_len(), 6);
    let (mut y, mut dx, mut dw, mut db) =
        (vec![0.0; g.y_len()], vec![0.0; g.x_len()], vec![0.0; g.w_len()], vec![0.0; g.c_out]);
    let hw = g.h_out() * g.w_out();
    let passes = match pass {
        "fwd" => 1,
        "bwd" => 2,
        _ => 3,
    };
    Work {
        group: "conv_layer",
        name: format!("conv {}->{} {}x{} {pass}", g.c_in, g.c_out, g.h_in, g.w_in),
        flops: 2 * passes * g.macs() as u64,
        run: Box::new(move || {
            if pass != "bwd" {
                conv::conv2d_forward(&g, &x, &w, Some(&b), &mut y, Par::Rayon);
            }
            if pass != "fwd" {
                conv::conv2d_backward_input(&g, &dy, &w, &mut dx, Par::Rayon);
                conv::conv2d_backward_weight(&g, &x, &dy, &mut dw, Par::Rayon);
                conv::bias_backward(g.batch, g.c_out, hw, &dy, &mut db, Par::Rayon);
            }
        }),
    }
}

fn conv_t_work(g: ConvTranspose2dGeom, pass: &'static str) -> Work {
    let x = filled(g.x_len(), 3);
    let w = filled(g.w_len(), 4);
    let b = filled(g.c_out, 5);
    let dy = filled(g.y_len(), 6);
    let (mut y, mut dx, mut dw, mut db) =
        (vec![0.0; g.y_len()], vec![0.0; g.x_len()], vec![0.0; g.w_len()], vec![0.0; g.c_out]);
    let hw = g.h_out() * g.w_out();
    let passes = match pass {
        "fwd" => 1,
        "bwd" => 2,
        _ => 3,
    };
    Work {
        group: "conv_layer",
        name: format!("convT {}->{} {}x{} {pass}", g.c_in, g.c_out, g.h_in, g.w_in),
        flops: 2 * passes * g.macs() as u64,
        run: Box::new(move || {
            if pass != "bwd" {
                conv::conv_transpose2d_forward(&g, &x, &w, Some(&b), &mut y, Par::Rayon);
            }
            if pass != "fwd" {
                conv::conv_transpose2d_backward_input(&g, &dy, &w, &mut dx, Par::Rayon);
                conv::conv_transpose2d_backward_weight(&g, &x, &dy, &mut dw, Par::Rayon);
                conv::bias_backward(g.batch, g.c_out, hw, &dy, &mut db, Par::Rayon);
            }
        }),
    }
}

fn workloads() -> Vec<Work> {
    let mut v = vec![sgemm_work("sgemm", "sgemm 1024x1024x1024".into(), 1024, 1024, 1024)];
    // The im2col gemm of each layer over the whole batch, in row form
    // [batch·h_out·w_out, c_in·k·k] · [c_in·k·k, c_out] (rows split over threads).
    for g in encoder_layers() {
        let (rows, kk) = (g.batch * g.h_out() * g.w_out(), g.c_in * g.k_h * g.k_w);
        v.push(sgemm_work(
            "im2col_gemm",
            format!("enc {}->{} [{rows}x{kk}]x[{kk}x{}]", g.c_in, g.c_out, g.c_out),
            rows,
            kk,
            g.c_out,
        ));
    }
    for g in decoder_layers() {
        // Forward of a transposed conv: col [c_out·k·k, hw_in] = Wᵀ · x per image; row form
        // [batch·h_in·w_in, c_in] · [c_in, c_out·k·k].
        let (rows, kk) = (g.batch * g.h_in * g.w_in, g.c_out * g.k_h * g.k_w);
        v.push(sgemm_work(
            "im2col_gemm",
            format!("dec {}->{} [{rows}x{}]x[{}x{kk}]", g.c_in, g.c_out, g.c_in, g.c_in),
            rows,
            g.c_in,
            kk,
        ));
    }
    // im2col of one batch, each strategy (throughput: column elements written, not FLOPs).
    let mut lowered: Vec<Conv2dGeom> = Vec::new();
    for g in encoder_layers().into_iter().chain(decoder_layers().iter().map(|t| t.as_conv())) {
        if !lowered.iter().any(|h| (h.c_in, h.h_in, h.w_in) == (g.c_in, g.h_in, g.w_in)) {
            lowered.push(g);
        }
    }
    for g in lowered {
        for strategy in [conv::Strategy::Rows, conv::Strategy::Table, conv::Strategy::Phases] {
            let plan = conv::Im2colPlan::with_strategy(&g, strategy);
            let mut scratch = Vec::new();
            let x = filled(g.x_len(), 7);
            let (kk, hw, xs) = (g.c_in * g.k_h * g.k_w, g.h_out() * g.w_out(), g.c_in * g.h_in * g.w_in);
            let mut col = vec![0.0f32; kk * hw];
            v.push(Work {
                group: "im2col",
                name: format!("im2col {}x{}x{} -> [{kk}x{hw}] {strategy:?}", g.c_in, g.h_in, g.w_in),
                flops: (g.batch * kk * hw) as u64,
                run: Box::new(move || {
                    for b in 0..g.batch {
                        conv::im2col_with(&plan, &g, &x[b * xs..(b + 1) * xs], &mut col, hw, &mut scratch);
                    }
                }),
            });
        }
    }
    for pass in ["fwd", "bwd", "fwd+bwd"] {
        for g in encoder_layers() {
            v.push(conv_work(g, pass));
        }
        for g in decoder_layers() {
            v.push(conv_t_work(g, pass));
        }
    }
    v
}

fn criterion_benches(c: &mut Criterion, pools: &[(usize, ThreadPool)]) {
    let mut works = workloads();
    for group in ["sgemm", "im2col_gemm", "im2col", "conv_layer"] {
        let mut grp = c.benchmark_group(group);
        grp.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        for wk in works.iter_mut().filter(|w| w.group == group) {
            grp.throughput(Throughput::Elements(wk.flops));
            for (t, pool) in pools {
                let run = &mut wk.run;
                grp.bench_function(BenchmarkId::new(wk.name.clone(), format!("{t}t")), |b| {
                    pool.install(|| b.iter(&mut *run))
                });
            }
        }
        grp.finish();
    }
    adam_benches(c, pools);
}

/// The fused Adam update over the stage-1 model's 734 157 parameters (side 16) with stage 1's
/// settings (lr 5e-4, L2 weight decay 1e-6, step 20 000): `trained` has moments and gradients of
/// training's magnitude; `dead-units` has two thirds of the elements in the state of a ReLU unit
/// that stopped firing (zero gradient, weight decayed to 1e-32, first moment 1e-40), as more than
/// half of the two 1 024-wide linear layers were late in the `shapes3d` preset's stage 1.
/// `dead-units-unflushed` runs the plain update (no flush to zero, one thread) on that state: the
/// cost of the subnormal numbers themselves. Each iteration starts from the same state.
fn adam_benches(c: &mut Criterion, pools: &[(usize, ThreadPool)]) {
    use detaux::kernels::adam::{adam_update, adam_update_unflushed, AdamStep, WeightDecayMode};
    let n = 734_157;
    let s = AdamStep {
        lr: 5e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-6,
        mode: WeightDecayMode::L2,
        step: 20_000,
    };
    let noise = filled(n, 11);
    let mut grp = c.benchmark_group("adam");
    grp.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    grp.throughput(Throughput::Elements(n as u64));
    for case in ["trained", "dead-units", "dead-units-unflushed"] {
        let dead = |i: usize| case != "trained" && !i.is_multiple_of(3);
        let g: Vec<f32> = (0..n).map(|i| if dead(i) { 0.0 } else { noise[i] * 1e-4 }).collect();
        let m0: Vec<f32> = (0..n).map(|i| if dead(i) { 1e-40 } else { noise[i] * 1e-5 }).collect();
        let p0: Vec<f32> = (0..n).map(|i| if dead(i) { 1e-32 } else { 0.01 + noise[i] * 1e-3 }).collect();
        let v0 = vec![1e-10f32; n];
        let state = || (p0.clone(), m0.clone(), v0.clone());
        let pools = if case == "dead-units-unflushed" { &pools[..1] } else { pools };
        for (t, pool) in pools {
            grp.bench_function(BenchmarkId::new(case, format!("{t}t")), |b| {
                pool.install(|| {
                    b.iter_batched_ref(
                        state,
                        |(p, m, v)| {
                            if case == "dead-units-unflushed" {
                                adam_update_unflushed(p, &g, m, v, &s);
                            } else {
                                adam_update(p, &g, m, v, &s, Par::Rayon);
                            }
                        },
                        criterion::BatchSize::LargeInput,
                    )
                })
            });
        }
    }
    grp.finish();
}

/// On-CPU time of the calling thread in ns (Linux `/proc/thread-self/schedstat`), if known.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// Best-of-3 GFLOP/s of each workload at each pool size, ~0.15 s per measurement.
fn summary(pools: &[(usize, ThreadPool)], filter: &str) {
    let mut works: Vec<Work> = workloads().into_iter().filter(|w| w.name.contains(filter)).collect();
    println!(
        "\n== detaux kernels: GFLOP/s (best of 3 timed bursts; 1 FLOP = half a multiply-add; f32 gemm backend: {}) ==",
        detaux::kernels::sgemm::backend()
    );
    print!("{:<52}", "workload");
    for (t, _) in pools {
        print!(" {:>9}", format!("{t} thr"));
    }
    println!(" {:>9}", "1 thr CPU");
    let mut sgemm_rate = vec![0.0; pools.len()];
    let mut worst_layer = vec![f64::INFINITY; pools.len()];
    for wk in &mut works {
        print!("{:<52}", wk.name);
        let mut cpu_gf = None;
        for (pi, (t, pool)) in pools.iter().enumerate() {
            let run = &mut wk.run;
            let (best, best_cpu) = pool.install(|| {
                run();
                let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
                for _ in 0..3 {
                    let start = Instant::now();
                    let cpu0 = thread_cpu_ns();
                    let mut reps = 0u32;
                    while start.elapsed() < Duration::from_millis(150) || reps == 0 {
                        run();
                        reps += 1;
                    }
                    best = best.min(start.elapsed().as_secs_f64() / reps as f64);
                    if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
                        best_cpu = best_cpu.min((b - a) as f64 * 1e-9 / reps as f64);
                    }
                }
                (best, best_cpu)
            });
            if *t == 1 && best_cpu.is_finite() {
                cpu_gf = Some(wk.flops as f64 / best_cpu / 1e9);
            }
            let gf = wk.flops as f64 / best / 1e9;
            if wk.group == "sgemm" {
                sgemm_rate[pi] = gf;
            }
            if wk.name.ends_with("fwd+bwd") {
                worst_layer[pi] = worst_layer[pi].min(gf);
            }
            print!(" {gf:>9.1}");
        }
        match cpu_gf {
            Some(g) => println!(" {g:>9.1}"),
            None => println!(" {:>9}", "-"),
        }
    }
    for (pi, (t, _)) in pools.iter().enumerate() {
        let (sg, worst) = (sgemm_rate[pi], worst_layer[pi]);
        if sg > 0.0 && worst.is_finite() {
            println!(
                "{t} threads: sgemm {sg:.1} GFLOP/s (target at 2 threads >= 150); slowest conv layer fwd+bwd {worst:.1} GFLOP/s = {:.0}% of sgemm (target >= 40%)",
                100.0 * worst / sg
            );
        }
    }
}

fn main() {
    let threads: Vec<usize> = match std::env::var("DETAUX_BENCH_THREADS") {
        Ok(v) => v
            .split(',')
            .map(|t| t.trim().parse().expect("DETAUX_BENCH_THREADS: a comma list of thread counts"))
            .collect(),
        Err(_) => THREADS.to_vec(),
    };
    let pools: Vec<(usize, ThreadPool)> =
        threads.iter().map(|&t| (t, ThreadPool::new(t).expect("thread pool"))).collect();
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &pools);
    c.final_summary();
    let summary_filter = std::env::var("DETAUX_BENCH_SUMMARY").unwrap_or_default();
    if bench_mode && summary_filter != "0" {
        summary(&pools, &summary_filter);
    }
}
