//! Sweep of `gemm` against `gemm_reference` (triple loop, f64 accumulation): odd shapes and
//! sizes 0 and 1, `k` beyond `matrixmultiply`'s `kc` = 256, row-major / transposed /
//! padded-stride / wide-stride / column-major views of A, B and C, the block edges of the
//! AVX-512 `sgemm` (`MR`, `NR`, `KC`, `MC`, `NC`), α ∈ {1, 0.5, −2}, β ∈ {0, 1, 0.3}, f32 and
//! f64, sequential and row-split.

use detaux_kernels::gemm::{gemm, gemm_reference, rows_per_block, MatMut, MatRef, ROW_BLOCK};
use detaux_kernels::{Float, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Storage layouts of a `[rows, cols]` view.
#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    ColMajor,
    /// Row-major with 3 spare elements per row.
    Padded,
    /// Row-major with the row stride rounded up to a multiple of 1024 elements (the AVX-512
    /// `sgemm` packs such a `B` instead of reading it in place).
    Wide,
}

fn strides(l: Layout, rows: usize, cols: usize) -> (usize, usize, usize) {
    // (row_stride, col_stride, buffer length)
    match l {
        Layout::RowMajor => (cols, 1, rows * cols),
        Layout::ColMajor => (1, rows.max(1), rows.max(1) * cols),
        Layout::Padded => (cols + 3, 1, rows * (cols + 3)),
        Layout::Wide => {
            let rs = cols.max(1).next_multiple_of(1024);
            (rs, 1, rows * rs)
        }
    }
}

fn rand_vec<T: Float>(rng: &mut ChaCha8Rng, n: usize) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.gen_range(-1.0..1.0))).collect()
}

#[allow(clippy::too_many_arguments)]
fn check<T: Float>(
    rng: &mut ChaCha8Rng,
    m: usize,
    k: usize,
    n: usize,
    la: Layout,
    lb: Layout,
    lc: Layout,
    alpha: f64,
    beta: f64,
) {
    let (ars, acs, alen) = strides(la, m, k);
    let (brs, bcs, blen) = strides(lb, k, n);
    let (crs, ccs, clen) = strides(lc, m, n);
    let a: Vec<T> = rand_vec(rng, alen);
    let b: Vec<T> = rand_vec(rng, blen);
    let c0: Vec<T> = if beta == 0.0 { vec![T::from_f64(f64::NAN); clen] } else { rand_vec(rng, clen) };
    let (alpha, beta) = (T::from_f64(alpha), T::from_f64(beta));
    let am = MatRef::strided(&a, m, k, ars, acs);
    let bm = MatRef::strided(&b, k, n, brs, bcs);
    let mut c_ref = c0.clone();
    gemm_reference(alpha, am, bm, beta, MatMut::strided(&mut c_ref, m, n, crs, ccs));
    let tol = if T::NAME == "f32" { 2e-6 * (k as f64 + 4.0) } else { 1e-14 * (k as f64 + 4.0) };
    for par in [Par::Seq, Par::Rayon] {
        let mut c = c0.clone();
        gemm(alpha, am, bm, beta, MatMut::strided(&mut c, m, n, crs, ccs), par);
        for i in 0..m {
            for j in 0..n {
                let (x, y) = (c[i * crs + j * ccs].to_f64(), c_ref[i * crs + j * ccs].to_f64());
                assert!(
                    (x - y).abs() <= tol * (1.0 + y.abs()),
                    "gemm {} [{m}x{k}]·[{k}x{n}] {la:?}/{lb:?}/{lc:?} α={alpha} β={beta} {par:?}: ({i},{j}) {x} vs {y}",
                    T::NAME
                );
            }
        }
        // Padding elements of C are never written.
        if matches!(lc, Layout::Padded | Layout::Wide) {
            for i in 0..m {
                for j in n..n + (crs - n).min(3) {
                    let idx = i * crs + j;
                    assert!(c[idx].to_f64().is_nan() || c[idx] == c0[idx], "gemm wrote C padding at ({i},{j})");
                }
            }
        }
    }
}

fn sweep<T: Float>(seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layouts = [Layout::RowMajor, Layout::ColMajor, Layout::Padded, Layout::Wide];
    let scalars = [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.3)];
    for &(m, k, n) in &[
        (0, 3, 2),
        (2, 0, 3),
        (3, 2, 0),
        (1, 1, 1),
        (1, 7, 1),
        (5, 1, 9),
        (7, 9, 8),
        (17, 33, 15),
        (65, 3, 70),
        (130, 17, 9),
    ] {
        for la in layouts {
            for lb in layouts {
                for lc in layouts {
                    for &(alpha, beta) in &scalars {
                        check::<T>(&mut rng, m, k, n, la, lb, lc, alpha, beta);
                    }
                }
            }
        }
    }
    // k beyond kc (several k blocks, β' = 1 after the first), m over several row blocks.
    for &(m, k, n) in &[(200, 300, 33), (257, 513, 19)] {
        for &(alpha, beta) in &scalars {
            check::<T>(&mut rng, m, k, n, Layout::RowMajor, Layout::ColMajor, Layout::RowMajor, alpha, beta);
            check::<T>(&mut rng, m, k, n, Layout::ColMajor, Layout::RowMajor, Layout::Padded, alpha, beta);
        }
    }
    // The AVX-512 sgemm's blocks: n beyond NC = 1024 (B read in place and packed), m beyond
    // MC = 128 with a partial last MR = 8 row panel, k beyond KC = 256 with a partial block.
    for &(m, k, n) in &[(9, 300, 1100), (131, 257, 70), (3, 513, 1057)] {
        for &(alpha, beta) in &scalars {
            check::<T>(&mut rng, m, k, n, Layout::RowMajor, Layout::RowMajor, Layout::RowMajor, alpha, beta);
            check::<T>(&mut rng, m, k, n, Layout::Padded, Layout::Wide, Layout::ColMajor, alpha, beta);
            check::<T>(&mut rng, m, k, n, Layout::ColMajor, Layout::ColMajor, Layout::Wide, alpha, beta);
        }
    }
}

#[test]
fn gemm_sweep_f32() {
    sweep::<f32>(11);
}

#[test]
fn gemm_sweep_f64() {
    sweep::<f64>(12);
}

#[test]
fn row_blocks_are_multiples_of_64_and_cover_m() {
    for m in [1, 63, 64, 65, 200, 256, 257, 1000, 1024, 4097, 65536] {
        let b = rows_per_block(m);
        assert_eq!(b % ROW_BLOCK, 0, "m {m}");
        assert!(m.div_ceil(b) <= detaux_kernels::gemm::MAX_ROW_BLOCKS, "m {m}: {b}");
        assert!(b >= ROW_BLOCK);
    }
}

#[test]
fn gemm_reference_matches_hand_computed_product() {
    // [[1, 2, 3], [4, 5, 6]] · [[1, 0], [0, 1], [1, 1]] = [[4, 5], [10, 11]]; then 2·AB + 1·C.
    let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [1.0f64, 0.0, 0.0, 1.0, 1.0, 1.0];
    let mut c = [1.0f64, 1.0, 1.0, 1.0];
    gemm_reference(2.0, MatRef::row_major(&a, 2, 3), MatRef::row_major(&b, 3, 2), 1.0, MatMut::row_major(&mut c, 2, 2));
    assert_eq!(c, [9.0, 11.0, 21.0, 23.0]);
    let mut c2 = [1.0f64, 1.0, 1.0, 1.0];
    gemm(
        2.0,
        MatRef::row_major(&a, 2, 3),
        MatRef::row_major(&b, 3, 2),
        1.0,
        MatMut::row_major(&mut c2, 2, 2),
        Par::Seq,
    );
    assert_eq!(c2, c);
}

/// Every element of C gets the same bits whichever sub-matrix a call covers, as long as the
/// sub-matrix starts at a multiple of 64 rows and columns (what the row/column thread split of
/// `gemm` uses; `matrixmultiply`'s edge tiles round `α·AB` separately, so with `α ≠ 1` it
/// needs its tiles aligned). Our AVX-512 kernel is position-independent at any offset (edge
/// tiles, in-place or packed `B`), so there a ragged offset is checked too.
#[test]
fn sgemm_sub_blocks_give_identical_bits() {
    let mut offsets = vec![(64usize, 64usize)];
    if detaux_kernels::sgemm::backend() == "avx512" {
        offsets.push((5, 11));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (&(m, k, n, lb), &(r0, c0s)) in
        [(137, 300, 175, Layout::RowMajor), (85, 70, 1100, Layout::Wide), (129, 48, 96, Layout::ColMajor)]
            .iter()
            .flat_map(|s| offsets.iter().map(move |o| (s, o)))
    {
        let (brs, bcs, blen) = strides(lb, k, n);
        let a: Vec<f32> = rand_vec(&mut rng, m * k);
        let b: Vec<f32> = rand_vec(&mut rng, blen);
        let c0: Vec<f32> = rand_vec(&mut rng, m * n);
        let am = MatRef::row_major(&a, m, k);
        let bm = MatRef::strided(&b, k, n, brs, bcs);
        let mut full = c0.clone();
        gemm(0.7, am, bm, 0.3, MatMut::row_major(&mut full, m, n), Par::Seq);
        let mut part = c0.clone();
        let a_sub = MatRef::strided(&a[r0 * k..], m - r0, k, k, 1);
        let b_sub = MatRef::strided(&b[c0s * bcs..], k, n - c0s, brs, bcs);
        gemm(0.7, a_sub, b_sub, 0.3, MatMut::strided(&mut part[r0 * n + c0s..], m - r0, n - c0s, n, 1), Par::Seq);
        for i in r0..m {
            for j in c0s..n {
                assert_eq!(full[i * n + j].to_bits(), part[i * n + j].to_bits(), "[{m}x{k}x{n}] ({i},{j})");
            }
        }
    }
}

/// Both single-precision paths against the oracle, whichever one `gemm` dispatches to here:
/// the portable `matrixmultiply` path and (where the CPU has AVX-512F) our kernel, called
/// directly on raw row-major / transposed / strided operands.
#[test]
fn sgemm_portable_and_avx512_paths_match_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    type RawSgemm = unsafe fn(
        usize,
        usize,
        usize,
        f32,
        *const f32,
        isize,
        isize,
        *const f32,
        isize,
        isize,
        f32,
        *mut f32,
        isize,
        isize,
    );
    let mut paths: Vec<(&str, RawSgemm)> = vec![("portable", detaux_kernels::sgemm::portable)];
    #[cfg(target_arch = "x86_64")]
    if detaux_kernels::sgemm::avx512::available() {
        paths.push(("avx512", detaux_kernels::sgemm::avx512::sgemm));
    }
    for &(m, k, n) in &[(1, 1, 1), (7, 33, 70), (40, 300, 45), (130, 20, 1030)] {
        for (la, lb) in
            [(Layout::RowMajor, Layout::RowMajor), (Layout::ColMajor, Layout::Wide), (Layout::Padded, Layout::ColMajor)]
        {
            let (ars, acs, alen) = strides(la, m, k);
            let (brs, bcs, blen) = strides(lb, k, n);
            let a: Vec<f32> = rand_vec(&mut rng, alen);
            let b: Vec<f32> = rand_vec(&mut rng, blen);
            let c0: Vec<f32> = rand_vec(&mut rng, m * n);
            let mut c_ref = c0.clone();
            let (am, bm) = (MatRef::strided(&a, m, k, ars, acs), MatRef::strided(&b, k, n, brs, bcs));
            gemm_reference(0.5, am, bm, 0.25, MatMut::row_major(&mut c_ref, m, n));
            for (name, f) in &paths {
                let mut c = c0.clone();
                // SAFETY: the strides describe the three buffers exactly (as the MatRef/MatMut
                // constructors checked above), and `c` is a distinct allocation.
                unsafe {
                    f(
                        m,
                        k,
                        n,
                        0.5,
                        a.as_ptr(),
                        ars as isize,
                        acs as isize,
                        b.as_ptr(),
                        brs as isize,
                        bcs as isize,
                        0.25,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                };
                let tol = 2e-6 * (k as f64 + 4.0);
                for (i, (x, y)) in c.iter().zip(&c_ref).enumerate() {
                    assert!(
                        (x - y).abs() as f64 <= tol * (1.0 + y.abs() as f64),
                        "{name} [{m}x{k}x{n}] {la:?}/{lb:?} at {i}: {x} vs {y}"
                    );
                }
            }
        }
    }
}

/// On an AVX-512 machine our kernel performs exactly the arithmetic of `matrixmultiply`
/// 0.3.11's AVX-512 kernel (one FMA chain per 256-long reduction block, the same merge), so
/// the two agree bit for bit; this pins that (and would flag a change of either).
#[test]
fn sgemm_avx512_matches_matrixmultiply_bits() {
    #[cfg(target_arch = "x86_64")]
    if detaux_kernels::sgemm::avx512::available() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for &(m, k, n, alpha, beta) in
            &[(32, 48, 1024, 1.0f32, 0.0f32), (64, 1024, 256, 1.0, 0.0), (37, 300, 75, 0.5, 0.25)]
        {
            let a: Vec<f32> = rand_vec(&mut rng, m * k);
            let b: Vec<f32> = rand_vec(&mut rng, k * n);
            let c0: Vec<f32> = rand_vec(&mut rng, m * n);
            let (mut ours, mut theirs) = (c0.clone(), c0.clone());
            // SAFETY: dense row-major buffers of exactly [m, k], [k, n] and [m, n].
            unsafe {
                let (ap, bp) = (a.as_ptr(), b.as_ptr());
                let (ki, ni) = (k as isize, n as isize);
                detaux_kernels::sgemm::avx512::sgemm(
                    m,
                    k,
                    n,
                    alpha,
                    ap,
                    ki,
                    1,
                    bp,
                    ni,
                    1,
                    beta,
                    ours.as_mut_ptr(),
                    ni,
                    1,
                );
                detaux_kernels::sgemm::portable(m, k, n, alpha, ap, ki, 1, bp, ni, 1, beta, theirs.as_mut_ptr(), ni, 1);
            }
            assert!(ours.iter().zip(&theirs).all(|(x, y)| x.to_bits() == y.to_bits()), "[{m}x{k}x{n}] bits differ");
        }
    }
}
