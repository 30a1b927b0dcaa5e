//! Pictures of a stage-1 model a person can look at.
//!
//! * [`reconstruction_sheet`]: row 1 the inputs `x`, row 2 the reconstructions `x̂ = g(Σ_k s_k)`
//!   (clamped to `[0, 1]`), one column per image.
//! * [`traversal_grid`]: the reference's latent traversal. For two images `a`, `b` with codes
//!   `s(a), s(b): [K, d]`, row `k` shows, for `t = 0, 1/(T−1), …, 1`, the decoding of `s(a)`
//!   with subspace `k` replaced by `(1 − t)·s_k(a) + t·s_k(b)`; the first column of every row is
//!   `a`'s reconstruction. A subspace that carries one factor changes only that factor along its
//!   row (subspace 0: the principal factor). Columns left of the grid show `a` and `b`.
//!
//! Images are drawn at `scale` pixels per pixel; labels use the built-in font.

use super::train::{decode_subspaces, encode_subspaces};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::losses::ReconstructionLoss;
use crate::models::DisentangleModel;
use crate::viz::Canvas;
use ndarray::{Array3, ArrayView3};

const BACKGROUND: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [20, 20, 20];
const GAP: usize = 2;

/// `[c, h, w]` f32 (clamped to `[0, 1]`) → u8 `[h, w, c]`.
fn to_u8_hwc(img: ArrayView3<'_, f32>) -> Vec<u8> {
    let (c, h, w) = img.dim();
    let mut out = vec![0u8; c * h * w];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                out[(y * w + x) * c + ch] = (img[[ch, y, x]].clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    out
}

/// Draws `img` `[c, h, w]` at `(x, y)`; an image smaller than the 64-pixel cell is enlarged by
/// the whole factor that fills it (nearest neighbour), so a 16 × 16 model's pictures are as
/// readable as a 64 × 64 one's.
fn draw(canvas: &mut Canvas, x: usize, y: usize, img: ArrayView3<'_, f32>, scale: usize) {
    let (c, h, w) = img.dim();
    let fill = (64 / h.max(w).max(1)).max(1);
    canvas.blit(x as isize, y as isize, &to_u8_hwc(img), h, w, c, scale * fill);
}

/// Inputs (top row) vs reconstructions (bottom row) of images `indices`.
///
/// # Errors
/// [`Error::InvalidParam`] if `indices` is empty or `scale == 0`; shape errors if the dataset
/// does not fit the model.
pub fn reconstruction_sheet(
    model: &DisentangleModel<f32>,
    loss: ReconstructionLoss,
    dataset: &Dataset,
    indices: &[usize],
    scale: usize,
) -> Result<Canvas> {
    if indices.is_empty() || scale == 0 {
        return Err(Error::param("indices", "need at least one image and scale >= 1"));
    }
    let codes = encode_subspaces(model, dataset, indices)?;
    let recon = decode_subspaces(model, loss, &codes)?;
    let inputs = dataset.batch_nchw(indices);
    let cell = 64 * scale + GAP;
    let label = 40;
    let mut canvas = Canvas::new(label + indices.len() * cell + GAP, 2 * cell + GAP, BACKGROUND);
    canvas.text(2, (GAP + 28 * scale) as isize, "IN", 2, INK);
    canvas.text(2, (cell + GAP + 28 * scale) as isize, "OUT", 2, INK);
    for i in 0..indices.len() {
        let x = label + GAP + i * cell;
        draw(&mut canvas, x, GAP, inputs.index_axis(ndarray::Axis(0), i), scale);
        draw(&mut canvas, x, cell + GAP, recon.index_axis(ndarray::Axis(0), i), scale);
    }
    Ok(canvas)
}

/// The latent traversal grid between images `a` and `b` with `steps` columns (see the module
/// docs).
///
/// # Errors
/// [`Error::InvalidParam`] if `steps < 2` or `scale == 0`; shape errors if the dataset does not
/// fit the model.
pub fn traversal_grid(
    model: &DisentangleModel<f32>,
    loss: ReconstructionLoss,
    dataset: &Dataset,
    a: usize,
    b: usize,
    steps: usize,
    scale: usize,
) -> Result<Canvas> {
    if steps < 2 || scale == 0 {
        return Err(Error::param("steps", format!("need steps >= 2 and scale >= 1, got {steps} and {scale}")));
    }
    let codes = encode_subspaces(model, dataset, &[a, b])?;
    let (k, d) = (codes.shape()[1], codes.shape()[2]);
    let mut grid = Array3::<f32>::zeros((k * steps, k, d));
    for kk in 0..k {
        for t in 0..steps {
            let w = t as f32 / (steps - 1) as f32;
            let row = kk * steps + t;
            grid.index_axis_mut(ndarray::Axis(0), row).assign(&codes.index_axis(ndarray::Axis(0), 0));
            for j in 0..d {
                grid[[row, kk, j]] = (1.0 - w) * codes[[0, kk, j]] + w * codes[[1, kk, j]];
            }
        }
    }
    let mut decoded = Vec::new();
    for chunk in grid.axis_chunks_iter(ndarray::Axis(0), super::train::EVAL_BATCH) {
        decoded.push(decode_subspaces(model, loss, &chunk.to_owned())?);
    }
    let decoded = ndarray::concatenate(ndarray::Axis(0), &decoded.iter().map(|x| x.view()).collect::<Vec<_>>())
        .map_err(|e| Error::shape("traversal_grid", e.to_string()))?;
    let inputs = dataset.batch_nchw(&[a, b]);
    let cell = 64 * scale + GAP;
    let label = 40;
    let left = label + 2 * cell + 3 * GAP;
    let top = 14;
    let mut canvas = Canvas::new(left + steps * cell + GAP, top + k * cell + GAP, BACKGROUND);
    canvas.text((label + GAP) as isize, 2, "A", 1, INK);
    canvas.text((label + GAP + cell) as isize, 2, "B", 1, INK);
    canvas.text(left as isize, 2, "A -> B along one subspace per row", 1, INK);
    for kk in 0..k {
        let y = top + kk * cell;
        canvas.text(2, (y + 28 * scale) as isize, &format!("S{kk}"), 2, INK);
        if kk == 0 {
            draw(&mut canvas, label + GAP, y, inputs.index_axis(ndarray::Axis(0), 0), scale);
            draw(&mut canvas, label + GAP + cell, y, inputs.index_axis(ndarray::Axis(0), 1), scale);
        }
        for t in 0..steps {
            draw(&mut canvas, left + t * cell, y, decoded.index_axis(ndarray::Axis(0), kk * steps + t), scale);
        }
    }
    Ok(canvas)
}

/// The two pictures of a trained model on images it did not train on, `held` (dataset indices,
/// at least one): a [`reconstruction_sheet`] of ten images spread over `held`, and a
/// [`traversal_grid`] (8 steps) from `held[0]` to the first image of `held` that differs from
/// it in every factor (else the last of the first two images).
///
/// # Errors
/// [`Error::InvalidParam`] if `held` is empty; as the two pictures.
pub fn held_out_pictures(
    model: &DisentangleModel<f32>,
    loss: ReconstructionLoss,
    data: &Dataset,
    held: &[usize],
) -> Result<(Canvas, Canvas)> {
    if held.is_empty() {
        return Err(Error::param("held", "no held-out images to draw"));
    }
    let n = held.len().min(10);
    let shown: Vec<usize> = (0..n).map(|i| held[i * held.len() / n]).collect();
    let sheet = reconstruction_sheet(model, loss, data, &shown, 1)?;
    let a = held[0];
    let b = held
        .iter()
        .copied()
        .find(|&j| (0..data.n_factors()).all(|f| data.factor(j, f) != data.factor(a, f)))
        .unwrap_or(held[held.len().min(2) - 1]);
    Ok((sheet, traversal_grid(model, loss, data, a, b, 8, 1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A black 16 × 16 image fills its 64-pixel cell (and nothing beyond it); a 64 × 64 one is
    /// drawn at its own size.
    #[test]
    fn small_images_fill_the_cell() {
        for side in [16usize, 64] {
            let mut canvas = Canvas::new(70, 70, BACKGROUND);
            draw(&mut canvas, 0, 0, Array3::<f32>::zeros((3, side, side)).view(), 1);
            assert_eq!(canvas.get(63, 63), Some([0, 0, 0]), "side {side}");
            assert_eq!(canvas.get(64, 64), Some(BACKGROUND), "side {side}");
        }
    }
}
