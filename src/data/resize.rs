//! Image resampling and channel conversion on u8 image stacks `[n, h, w, c]`.
//!
//! **Bilinear** ([`resize_bilinear`]) follows PyTorch's
//! `F.interpolate(mode="bilinear", align_corners=False, antialias=False)`: output pixel `(i, j)`
//! samples the source at `sy = (i + 0.5)·(h_in/h_out) − 0.5`, `sx = (j + 0.5)·(w_in/w_out) − 0.5`,
//! both clamped below at 0; with `y0 = ⌊sy⌋`, `y1 = min(y0 + 1, h_in − 1)`, `ly = sy − y0` (and
//! likewise for x)
//!
//! `v = (1 − ly)·((1 − lx)·s[y0,x0] + lx·s[y0,x1]) + ly·((1 − lx)·s[y1,x0] + lx·s[y1,x1])`,
//!
//! computed in f32 and stored as `round(v)` (half away from zero, clamped to 0..=255). It has no
//! antialiasing filter, so it is used only to enlarge (8 → 16, 28 → 32, …).
//!
//! **Area** ([`resize_area`]) follows PyTorch's `F.interpolate(mode="area")`
//! (`adaptive_avg_pool2d`): output pixel `(i, j)` is the mean of the source window rows
//! `⌊i·h_in/h_out⌋ .. ⌈(i+1)·h_in/h_out⌉` × columns `⌊j·w_in/w_out⌋ .. ⌈(j+1)·w_in/w_out⌉`
//! (an exact integer sum over the window, divided in f64, stored as `round(mean)`). For an
//! integer factor (64 → 16) it is the mean of each 4 × 4 block. Shrinking uses it because
//! point sampling aliases: bilinear 64 → 16 reads 2 of every 4 source rows and columns, so a
//! small object's apparent size jumps by a pixel with its position, and partial coverage of
//! an edge pixel (what carries a small object's size at 16 × 16) is lost.
//!
//! [`resize`] picks area when neither side grows, bilinear otherwise.
//!
//! **Channels**: [`gray_to_rgb`] replicates the channel; [`rgb_to_gray`] is ITU-R 601 luma with
//! PIL's integer rounding, `L = (19595·R + 38470·G + 7471·B + 2^15) >> 16`.
//!
//! **Determinism**: parallel over output images only; each image is computed by one task with
//! a fixed operation order, so results do not depend on the thread count.

use rayon::prelude::*;

/// Per-axis source taps: `(i0, i1, weight of i1)` for each output coordinate.
fn taps(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = n_in as f32 / n_out as f32;
    (0..n_out)
        .map(|o| {
            let s = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

#[inline]
fn to_u8(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Resizes `n` images `[h, w, c]` (u8, C order) to `[out_h, out_w, c]`: [`resize_area`] when
/// neither side grows, [`resize_bilinear`] otherwise; the images themselves when the size is
/// unchanged.
///
/// # Panics
/// As [`resize_bilinear`].
pub fn resize(src: &[u8], n: usize, h: usize, w: usize, c: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    if out_h == h && out_w == w {
        assert_eq!(src.len(), n * h * w * c, "resize: buffer is not [{n}, {h}, {w}, {c}]");
        src.to_vec()
    } else if out_h <= h && out_w <= w {
        resize_area(src, n, h, w, c, out_h, out_w)
    } else {
        resize_bilinear(src, n, h, w, c, out_h, out_w)
    }
}

/// Per-axis source windows of area resampling: `[start, end)` for each output coordinate.
fn windows(n_in: usize, n_out: usize) -> Vec<(usize, usize)> {
    (0..n_out).map(|o| (o * n_in / n_out, ((o + 1) * n_in).div_ceil(n_out))).collect()
}

/// Resizes `n` images `[h, w, c]` (u8, C order) to `[out_h, out_w, c]` by area averaging (see
/// the module docs for the windows). Meant for shrinking; enlarging with it repeats pixels.
///
/// # Panics
/// If `src.len() != n·h·w·c` or any size is zero (callers validate user data first).
pub fn resize_area(src: &[u8], n: usize, h: usize, w: usize, c: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    assert_eq!(src.len(), n * h * w * c, "resize_area: buffer is not [{n}, {h}, {w}, {c}]");
    assert!(h > 0 && w > 0 && c > 0 && out_h > 0 && out_w > 0, "resize_area: zero size");
    let wy = windows(h, out_h);
    let wx = windows(w, out_w);
    let (per_in, per_out) = (h * w * c, out_h * out_w * c);
    let mut out = vec![0u8; n * per_out];
    out.par_chunks_mut(per_out).zip(src.par_chunks(per_in)).for_each(|(dst, img)| {
        // Column sums of the current window rows, one per (source column, channel): exact u32.
        let mut col = vec![0u32; w * c];
        for (i, &(y0, y1)) in wy.iter().enumerate() {
            col.fill(0);
            for row in img[y0 * w * c..y1 * w * c].chunks_exact(w * c) {
                for (s, &v) in col.iter_mut().zip(row) {
                    *s += v as u32;
                }
            }
            for (j, &(x0, x1)) in wx.iter().enumerate() {
                let count = ((y1 - y0) * (x1 - x0)) as f64;
                for ch in 0..c {
                    let sum: u32 = (x0..x1).map(|x| col[x * c + ch]).sum();
                    dst[(i * out_w + j) * c + ch] = to_u8_f64(sum as f64 / count);
                }
            }
        }
    });
    out
}

/// The slow, obviously-correct area oracle: each output pixel sums its window directly.
pub fn resize_area_oracle(src: &[u8], n: usize, h: usize, w: usize, c: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * out_h * out_w * c);
    for img in 0..n {
        for i in 0..out_h {
            let (y0, y1) = (i * h / out_h, ((i + 1) * h).div_ceil(out_h));
            for j in 0..out_w {
                let (x0, x1) = (j * w / out_w, ((j + 1) * w).div_ceil(out_w));
                for ch in 0..c {
                    let mut sum = 0u64;
                    for y in y0..y1 {
                        for x in x0..x1 {
                            sum += src[((img * h + y) * w + x) * c + ch] as u64;
                        }
                    }
                    out.push(to_u8_f64(sum as f64 / ((y1 - y0) * (x1 - x0)) as f64));
                }
            }
        }
    }
    out
}

#[inline]
fn to_u8_f64(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// Resizes `n` images `[h, w, c]` (u8, C order) to `[out_h, out_w, c]` bilinearly (see the
/// module docs for the exact formula).
///
/// # Panics
/// If `src.len() != n·h·w·c` or any size is zero (callers validate user data first).
pub fn resize_bilinear(src: &[u8], n: usize, h: usize, w: usize, c: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    assert_eq!(src.len(), n * h * w * c, "resize_bilinear: buffer is not [{n}, {h}, {w}, {c}]");
    assert!(h > 0 && w > 0 && c > 0 && out_h > 0 && out_w > 0, "resize_bilinear: zero size");
    let ty = taps(h, out_h);
    let tx = taps(w, out_w);
    let (per_in, per_out) = (h * w * c, out_h * out_w * c);
    let mut out = vec![0u8; n * per_out];
    out.par_chunks_mut(per_out).zip(src.par_chunks(per_in)).for_each(|(dst, img)| {
        // Row buffers of horizontally interpolated values for the two source rows.
        let mut top = vec![0f32; out_w * c];
        let mut bot = vec![0f32; out_w * c];
        let hline = |row: usize, buf: &mut [f32]| {
            let r = &img[row * w * c..(row + 1) * w * c];
            for (j, &(x0, x1, lx)) in tx.iter().enumerate() {
                for ch in 0..c {
                    let a = r[x0 * c + ch] as f32;
                    let b = r[x1 * c + ch] as f32;
                    buf[j * c + ch] = (1.0 - lx) * a + lx * b;
                }
            }
        };
        for (i, &(y0, y1, ly)) in ty.iter().enumerate() {
            hline(y0, &mut top);
            hline(y1, &mut bot);
            let d = &mut dst[i * out_w * c..(i + 1) * out_w * c];
            for ((o, &t), &b) in d.iter_mut().zip(&top).zip(&bot) {
                *o = to_u8((1.0 - ly) * t + ly * b);
            }
        }
    });
    out
}

/// The slow, obviously-correct bilinear oracle: one output pixel at a time, straight from the
/// formula in the module docs (same f32 operation order as [`resize_bilinear`], so the two
/// agree bit for bit). Used by tests.
pub fn resize_bilinear_oracle(
    src: &[u8],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * out_h * out_w * c);
    let at = |img: usize, y: usize, x: usize, ch: usize| src[((img * h + y) * w + x) * c + ch] as f32;
    for img in 0..n {
        for i in 0..out_h {
            let sy = ((i as f32 + 0.5) * (h as f32 / out_h as f32) - 0.5).max(0.0);
            let y0 = (sy.floor() as usize).min(h - 1);
            let y1 = (y0 + 1).min(h - 1);
            let ly = sy - y0 as f32;
            for j in 0..out_w {
                let sx = ((j as f32 + 0.5) * (w as f32 / out_w as f32) - 0.5).max(0.0);
                let x0 = (sx.floor() as usize).min(w - 1);
                let x1 = (x0 + 1).min(w - 1);
                let lx = sx - x0 as f32;
                for ch in 0..c {
                    let t = (1.0 - lx) * at(img, y0, x0, ch) + lx * at(img, y0, x1, ch);
                    let b = (1.0 - lx) * at(img, y1, x0, ch) + lx * at(img, y1, x1, ch);
                    out.push(to_u8((1.0 - ly) * t + ly * b));
                }
            }
        }
    }
    out
}

/// Grayscale `[.., 1]` → RGB `[.., 3]` by replicating each value.
pub fn gray_to_rgb(src: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; src.len() * 3];
    out.par_chunks_mut(3 << 12).zip(src.par_chunks(1 << 12)).for_each(|(d, s)| {
        for (px, &v) in d.chunks_exact_mut(3).zip(s) {
            px.fill(v);
        }
    });
    out
}

/// RGB `[.., 3]` → grayscale `[.., 1]`, ITU-R 601 luma with PIL's integer rounding.
///
/// # Panics
/// If `src.len()` is not a multiple of 3.
pub fn rgb_to_gray(src: &[u8]) -> Vec<u8> {
    assert_eq!(src.len() % 3, 0, "rgb_to_gray: buffer length {} is not a multiple of 3", src.len());
    let mut out = vec![0u8; src.len() / 3];
    out.par_chunks_mut(1 << 12).zip(src.par_chunks(3 << 12)).for_each(|(d, s)| {
        for (o, px) in d.iter_mut().zip(s.chunks_exact(3)) {
            let l = 19595 * px[0] as u32 + 38470 * px[1] as u32 + 7471 * px[2] as u32 + (1 << 15);
            *o = (l >> 16) as u8;
        }
    });
    out
}
