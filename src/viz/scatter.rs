//! The 2-D PCA scatter of cluster codes: `x: [n, d]` → its first two principal axes → one
//! coloured disc per row.
//!
//! **PCA.** The f64 covariance `C = Σ_i (x_i − μ)(x_i − μ)ᵀ` (unnormalised; only the axes
//! matter) is deflated twice by power iteration (200 iterations from a fixed start vector):
//! `v ← Cv/‖Cv‖`, `λ = vᵀCv`, `C ← C − λvvᵀ`. No randomness, so the axes are deterministic.
//!
//! **Sampling.** [`sample_rows`] draws `m` of `n` rows without replacement (a partial
//! Fisher–Yates shuffle on stream `name` of the given seed node), returned in ascending order.

use super::canvas::palette;
use super::Canvas;
use crate::rng::SeedTree;
use ndarray::ArrayView2;
use rand::Rng as _;

/// `m` of the `n` row indices, drawn without replacement with stream `name` of `seeds`, in
/// ascending order (all rows if `m ≥ n`).
pub fn sample_rows(n: usize, m: usize, seeds: &SeedTree, name: &str) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if m >= n {
        return idx;
    }
    let mut rng = seeds.rng(name);
    for i in 0..m {
        let j = rng.gen_range(i..n);
        idx.swap(i, j);
    }
    idx.truncate(m);
    idx.sort_unstable();
    idx
}

/// Returns the mean and the first two principal axes of `x` (`[n, d]`), by power iteration on the f64 covariance
/// (deterministic start vector, 200 iterations, deflation).
pub fn pca2(x: ArrayView2<f32>) -> (Vec<f64>, [Vec<f64>; 2]) {
    let (n, d) = x.dim();
    let mean: Vec<f64> = (0..d).map(|j| x.column(j).iter().map(|&v| v as f64).sum::<f64>() / n as f64).collect();
    let mut cov = vec![0f64; d * d];
    for row in x.rows() {
        for a in 0..d {
            let va = row[a] as f64 - mean[a];
            for b in 0..d {
                cov[a * d + b] += va * (row[b] as f64 - mean[b]);
            }
        }
    }
    let mut axes: [Vec<f64>; 2] = [vec![0.0; d], vec![0.0; d]];
    for (t, axis) in axes.iter_mut().enumerate() {
        let mut v: Vec<f64> = (0..d).map(|j| 1.0 + 0.1 * (j + t) as f64).collect();
        for _ in 0..200 {
            let mut w: Vec<f64> = (0..d).map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum()).collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            v = w;
        }
        let lambda: f64 = (0..d).map(|a| v[a] * (0..d).map(|b| cov[a * d + b] * v[b]).sum::<f64>()).sum();
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] -= lambda * v[a] * v[b];
            }
        }
        *axis = v;
    }
    (mean, axes)
}

/// A 2-D PCA scatter of `x` `[n, d]` (up to 5 000 rows drawn with `seeds`, stream
/// `plot-sample`) coloured by `labels` (`noise_label` in grey), 640 × 640 pixels.
pub fn scatter_canvas(
    x: ArrayView2<f32>,
    labels: &[i64],
    noise_label: Option<i64>,
    title: &str,
    seeds: &SeedTree,
) -> Canvas {
    let rows = sample_rows(x.nrows(), 5000, seeds, "plot-sample");
    let (mean, axes) = pca2(x);
    let d = x.ncols();
    let pts: Vec<(f64, f64, i64)> = rows
        .iter()
        .map(|&i| {
            let r = x.row(i);
            let p = |ax: &[f64]| (0..d).map(|j| (r[j] as f64 - mean[j]) * ax[j]).sum::<f64>();
            (p(&axes[0]), p(&axes[1]), labels[i])
        })
        .collect();
    let (w, h, margin) = (640usize, 640usize, 40f64);
    let mut canvas = Canvas::new(w, h, [255, 255, 255]);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(a, b, _) in &pts {
        x0 = x0.min(a);
        x1 = x1.max(a);
        y0 = y0.min(b);
        y1 = y1.max(b);
    }
    let sx = (w as f64 - 2.0 * margin) / (x1 - x0).max(1e-12);
    let sy = (h as f64 - 2.0 * margin) / (y1 - y0).max(1e-12);
    for &(a, b, l) in &pts {
        let colour = if Some(l) == noise_label { [170, 170, 170] } else { palette(l.max(0) as usize) };
        let px = (margin + (a - x0) * sx) as isize;
        let py = (h as f64 - margin - (b - y0) * sy) as isize;
        canvas.disc(px, py, 2, colour);
    }
    canvas.text(8, 8, title, 2, [0, 0, 0]);
    canvas
}
