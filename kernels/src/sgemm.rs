//! Single-precision gemm `C ← α·A·B + β·C` on raw strided pointers: an AVX-512 kernel of our
//! own where the CPU has it, `matrixmultiply::sgemm` everywhere else.
//!
//! Shapes: `A: [m, k]`, `B: [k, n]`, `C: [m, n]`, element `(i, j)` of `X` at
//! `x + i·rs_x + j·cs_x`. [`crate::gemm::gemm`] is the safe, checked entry point.
//!
//! ## The AVX-512 kernel (BLIS loop order)
//! ```text
//! for jc in 0..n step NC            B block [KC, NC]: read in place, or packed into
//!   for pc in 0..k step KC            NR-column panels (first block: merge with β·C;
//!     pack B[pc.., jc..] if needed    later blocks: add)
//!     for ic in 0..m step MC          A block [MC, KC], read in place (L2)
//!       for each NR panel jr, each MR panel ir:
//!         micro-kernel: acc[MR, NR] = Σ_{p < kc} a[ir, p] · b[p, jr]   (8 × 32 in 16 zmm)
//!         merge into C
//! ```
//! The gemms of the convolution lowerings have few rows (`c_out` = 32 or 64) and a large `B`
//! (the column matrix), which each element of `B` meets only `m` times: packing it would cost
//! about as much as the products. So `A` is never packed (each of the tile's `MR` rows is
//! broadcast from its own strided pointer; rows past `m` re-read the last valid row) and `B`
//! is read in place whenever its column stride is 1 and its row stride spreads a micro-panel
//! over the L1 sets ([`avx512`]'s `b_in_place`); otherwise it is packed, zero-padded at the
//! edge. Columns past `n` are masked off on load and store, so the micro-kernel always
//! computes a full `MR × NR` tile and only valid elements are merged.
//!
//! ## Determinism
//! Every element of `C` gets the same arithmetic wherever it lies in a tile and whatever
//! sub-matrix the call covers: for each `KC` block of the reduction (the blocks depend on `k`
//! only) one FMA chain `acc ← fma(a_p, b_p, acc)` in increasing `p` from `acc = 0`, then the
//! merge: first block `c ← α·acc` (`β = 0`) or `c ← fma(α, acc, β·c)`, later blocks
//! `c ← fma(α, acc, c)`. Full and edge tiles, unit and strided `C`, share these formulas (the
//! strided path uses `f32::mul_add`, the same fused, correctly rounded operation). So splitting
//! `C` into row or column blocks (as [`crate::gemm::gemm`] does over threads) never changes a
//! bit. This is also exactly the arithmetic of `matrixmultiply` 0.3.11's own AVX-512 kernel
//! (its `kc` is 256 too), so on an AVX-512 machine the two give the same bits
//! (`kernels/tests/gemm_sweep.rs` checks it); other SIMD paths (no AVX-512) may differ in the
//! last bits. Results can depend on the machine, never on the thread count.

/// `C ← α·A·B + β·C` (`β = 0` overwrites `C`; NaNs in it are not propagated), on the
/// AVX-512 kernel when the CPU supports AVX-512F, else `matrixmultiply::sgemm`.
///
/// # Safety
/// Every element addressed through the shapes and strides must lie inside the allocation of its
/// pointer, and `c` must not alias `a` or `b`; distinct `(i, j)` must address distinct elements
/// of `C`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU supports AVX-512F (checked); the memory contract is the caller's.
        unsafe { avx512::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) };
        return;
    }
    // SAFETY: forwarded from the caller's contract.
    unsafe { portable(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
}

/// The portable path of [`sgemm`] (`matrixmultiply::sgemm`, same signature and contract),
/// callable on any machine so that tests can check it where the AVX-512 kernel would be chosen.
pub use matrixmultiply::sgemm as portable;

/// Which single-precision kernel [`sgemm`] uses on this machine: `"avx512"` or
/// `"matrixmultiply"`.
pub fn backend() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return "avx512";
    }
    "matrixmultiply"
}

/// The AVX-512 kernel (x86-64 only).
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use std::arch::x86_64::*;
    use std::cell::RefCell;
    use std::sync::OnceLock;

    /// Rows of the register tile (one broadcast `A` value per row).
    pub const MR: usize = 8;
    /// Columns of the register tile (`NV` 16-lane vectors).
    pub const NR: usize = 16 * NV;
    /// 16-lane vectors per tile row.
    const NV: usize = 2;
    /// Reduction block: an `A` micro-panel (`MR·KC` = 8 KiB) and a `B` micro-panel
    /// (`KC·NR` = 32 KiB) stay in L1 together. Part of the result's definition (the
    /// per-block merge), so changing it changes bits.
    pub const KC: usize = 256;
    /// Rows of `A` per block (`MC·KC` floats = 128 KiB, kept in L2 across the `B` panels).
    /// A multiple of `MR`.
    pub const MC: usize = 128;
    /// Columns of `B` packed at a time (`KC·NC` floats = 1 MiB). A multiple of `NR`.
    pub const NC: usize = NR * (1024 / NR);
    const ALIGN: usize = 16; // floats: 64 bytes
    /// Rows of the `B` panel prefetched ahead of the one being multiplied.
    const PREFETCH: isize = 16;

    /// `true` if the CPU supports AVX-512F (detected once).
    pub fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx512f"))
    }

    thread_local! {
        /// Per-thread buffer for packed `B` blocks, grown on demand and reused.
        static PACK_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }

    /// A 64-byte aligned window of `len` floats inside `buf` (grown if needed).
    fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
        if buf.len() < len + ALIGN {
            buf.resize(len + ALIGN, 0.0);
        }
        let off = buf.as_ptr().align_offset(ALIGN * 4).min(ALIGN);
        &mut buf[off..off + len]
    }

    /// Whether `B` is read in place instead of packed: unit column stride, and a row stride
    /// that spreads the rows of a micro-panel over the L1 sets. A stride of `s` whole cache
    /// lines puts every row in one of `64 / gcd(s, 64)` set groups (64 sets of 64 bytes), so
    /// strides with a large power-of-two factor (e.g. 512 or 1024 floats) would thrash L1.
    fn b_in_place(rsb: isize, csb: isize) -> bool {
        if csb != 1 {
            return false;
        }
        let bytes = rsb.unsigned_abs() * 4;
        if !bytes.is_multiple_of(64) {
            return true;
        }
        let (mut x, mut y) = (bytes / 64, 64usize);
        while y != 0 {
            (x, y) = (y, x % y);
        }
        x <= 4
    }

    /// `C ← α·A·B + β·C` on the AVX-512 kernel (see the module docs).
    ///
    /// # Safety
    /// As [`super::sgemm`], and the CPU must support AVX-512F ([`available`]).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn sgemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            for i in 0..m as isize {
                for j in 0..n as isize {
                    // SAFETY: (i, j) is inside C by the caller's contract.
                    unsafe {
                        let e = c.offset(i * rsc + j * csc);
                        *e = if beta == 0.0 { 0.0 } else { beta * *e };
                    }
                }
            }
            return;
        }
        let in_place = b_in_place(rsb, csb);
        PACK_B.with(|cell| {
            let mut buf = cell.borrow_mut();
            let bpack =
                if in_place { &mut [][..] } else { aligned(&mut buf, NC.min(n.next_multiple_of(NR)) * KC.min(k)) };
            for jc in (0..n).step_by(NC) {
                let nc = NC.min(n - jc);
                for pc in (0..k).step_by(KC) {
                    let kc = KC.min(k - pc);
                    let first = pc == 0;
                    // SAFETY: rows pc..pc+kc and columns jc..jc+nc of B are inside it.
                    let b_blk = unsafe { b.offset(pc as isize * rsb + jc as isize * csb) };
                    if !in_place {
                        // SAFETY: as above.
                        unsafe { pack_b(kc, nc, b_blk, rsb, csb, bpack) };
                    }
                    for ic in (0..m).step_by(MC) {
                        let mc = MC.min(m - ic);
                        for jr in 0..nc.div_ceil(NR) {
                            let nr = NR.min(nc - jr * NR);
                            let (bp, bs) = if in_place {
                                // SAFETY: column jr·NR < nc of the block is inside B.
                                (unsafe { b_blk.add(jr * NR) }, rsb)
                            } else {
                                (bpack[jr * NR * kc..].as_ptr(), NR as isize)
                            };
                            for ir in 0..mc.div_ceil(MR) {
                                let mr = MR.min(mc - ir * MR);
                                let i0 = (ic + ir * MR) as isize;
                                let j0 = (jc + jr * NR) as isize;
                                // SAFETY: AVX-512F is available (caller); rows i0..i0+mr and
                                // columns pc..pc+kc of A, the kc rows of the B panel (nr
                                // valid columns) and the mr × nr tile of C are inside their
                                // matrices.
                                unsafe {
                                    micro_kernel(
                                        kc,
                                        Panel { ptr: a.offset(i0 * rsa + pc as isize * csa), rs: rsa, cs: csa },
                                        mr,
                                        Panel { ptr: bp, rs: bs, cs: 1 },
                                        nr,
                                        Tile { ptr: c.offset(i0 * rsc + j0 * csc), rs: rsc, cs: csc },
                                        alpha,
                                        beta,
                                        first,
                                    )
                                };
                            }
                        }
                    }
                }
            }
        });
    }

    /// A strided read-only view: element `(i, j)` at `ptr + i·rs + j·cs`.
    #[derive(Clone, Copy)]
    struct Panel {
        ptr: *const f32,
        rs: isize,
        cs: isize,
    }

    /// A strided tile of `C`.
    #[derive(Clone, Copy)]
    struct Tile {
        ptr: *mut f32,
        rs: isize,
        cs: isize,
    }

    /// Packs `B[0..kc, 0..nc]` into `ceil(nc/NR)` panels `[kc][NR]` (columns past `nc` zero).
    ///
    /// # Safety
    /// Every `b + p·rsb + j·csb` for `p < kc`, `j < nc` must be readable.
    unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: isize, csb: isize, dst: &mut [f32]) {
        for jp in 0..nc.div_ceil(NR) {
            let panel = &mut dst[jp * NR * kc..(jp + 1) * NR * kc];
            let cols = NR.min(nc - jp * NR);
            let base = (jp * NR) as isize * csb;
            if csb == 1 {
                for (p, dst_p) in panel.chunks_exact_mut(NR).enumerate() {
                    // SAFETY: columns jp·NR .. jp·NR + cols of row p are inside B.
                    let src = unsafe { std::slice::from_raw_parts(b.offset(base + p as isize * rsb), cols) };
                    if cols == NR {
                        let src: &[f32; NR] = src.try_into().expect("NR floats");
                        let dst_p: &mut [f32; NR] = dst_p.try_into().expect("NR floats");
                        *dst_p = *src;
                    } else {
                        dst_p[..cols].copy_from_slice(src);
                        dst_p[cols..].fill(0.0);
                    }
                }
            } else {
                for j in 0..NR {
                    if j < cols {
                        let col = base + j as isize * csb;
                        for p in 0..kc {
                            // SAFETY: column jp·NR + j < nc, row p < kc.
                            panel[p * NR + j] = unsafe { *b.offset(col + p as isize * rsb) };
                        }
                    } else {
                        for p in 0..kc {
                            panel[p * NR + j] = 0.0;
                        }
                    }
                }
            }
        }
    }

    /// The load/store masks of a row of `V` vectors of 16 lanes of which the first `cols`
    /// are valid: vector `v` selects lanes `j < cols − 16·v` (all 16, some, or none).
    pub(crate) fn column_masks<const V: usize>(cols: usize) -> [__mmask16; V] {
        let mut masks = [0 as __mmask16; V];
        for (v, mk) in masks.iter_mut().enumerate() {
            let lanes = cols.saturating_sub(16 * v).min(16);
            *mk = if lanes == 16 { 0xffff } else { ((1u32 << lanes) - 1) as u16 };
        }
        masks
    }

    /// One `MR × NR` tile: `acc = A[0..MR, 0..kc] · B[0..kc, 0..NR]`, then the merge of the
    /// module docs into the valid `mr × nr` corner of `C`. `A` rows past `mr` re-read row
    /// `mr − 1` and `B` columns past `nr` read as zero (masked loads); their results are
    /// dropped, and no valid element's arithmetic depends on them.
    ///
    /// # Safety
    /// AVX-512F must be available; rows `0..mr` × columns `0..kc` of `a`, rows `0..kc` ×
    /// columns `0..nr` of `b` (unit column stride) and the `mr × nr` corner of `c` must be valid.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn micro_kernel(
        kc: usize,
        a: Panel,
        mr: usize,
        b: Panel,
        nr: usize,
        c: Tile,
        alpha: f32,
        beta: f32,
        first: bool,
    ) {
        debug_assert!(b.cs == 1 && (1..=MR).contains(&mr) && (1..=NR).contains(&nr));
        let masks = column_masks::<NV>(nr);
        let mut rows = [a.ptr; MR];
        for (r, row) in rows.iter_mut().enumerate() {
            // SAFETY: row min(r, mr − 1) < mr is a valid row of A.
            *row = unsafe { a.ptr.offset(r.min(mr - 1) as isize * a.rs) };
        }
        let mut acc = [_mm512_setzero_ps(); NV * MR];
        for p in 0..kc as isize {
            // SAFETY: p < kc; masked-off lanes are not read; rows are valid rows of A.
            unsafe {
                // Rows PREFETCH ahead of the B panel (read in place: the first row panel of
                // A meets it in memory); prefetching past the panel's end is harmless.
                let ahead = b.ptr.wrapping_offset((p + PREFETCH) * b.rs) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(ahead);
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
                let mut bv = [_mm512_setzero_ps(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = _mm512_maskz_loadu_ps(masks[v], b.ptr.offset(p * b.rs + 16 * v as isize));
                }
                for r in 0..MR {
                    let av = _mm512_set1_ps(*rows[r].offset(p * a.cs));
                    for v in 0..NV {
                        acc[NV * r + v] = _mm512_fmadd_ps(av, bv[v], acc[NV * r + v]);
                    }
                }
            }
        }
        let (c, rsc, csc) = (c.ptr, c.rs, c.cs);
        if csc == 1 {
            let va = _mm512_set1_ps(alpha);
            let vb = _mm512_set1_ps(beta);
            for (r, pair) in acc.chunks_exact(NV).enumerate().take(mr) {
                for (h, &v) in pair.iter().enumerate() {
                    let lo = h * 16;
                    if lo >= nr {
                        break;
                    }
                    let mask = masks[h];
                    // SAFETY: columns lo..lo+cols of row r are valid elements of C (masked).
                    unsafe {
                        let ptr = c.offset(r as isize * rsc + lo as isize);
                        let out = if first && beta == 0.0 {
                            _mm512_mul_ps(va, v)
                        } else {
                            let old = _mm512_maskz_loadu_ps(mask, ptr);
                            let base = if first { _mm512_mul_ps(vb, old) } else { old };
                            _mm512_fmadd_ps(va, v, base)
                        };
                        _mm512_mask_storeu_ps(ptr, mask, out);
                    }
                }
            }
        } else {
            let mut tile = [0.0f32; MR * NR];
            for (i, v) in acc.iter().enumerate() {
                // SAFETY: 16 floats at offset 16·i lie inside `tile` (2·MR vectors of 16).
                unsafe { _mm512_storeu_ps(tile.as_mut_ptr().add(16 * i), *v) };
            }
            for r in 0..mr {
                for j in 0..nr {
                    let t = tile[r * NR + j];
                    // SAFETY: (r, j) is a valid element of C.
                    unsafe {
                        let e = c.offset(r as isize * rsc + j as isize * csc);
                        *e = if first && beta == 0.0 {
                            alpha * t
                        } else {
                            let base = if first { beta * *e } else { *e };
                            alpha.mul_add(t, base)
                        };
                    }
                }
            }
        }
    }
}
