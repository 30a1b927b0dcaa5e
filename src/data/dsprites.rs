//! A procedural dSprites-like generator (Higgins et al. 2017's five latent factors), 64×64×1 binary.
//!
//! Factors in the real file's order (posY varies fastest; the constant `color` factor of the
//! real file is omitted, as disentanglement_lib does):
//!
//! | k | name          | values | meaning here                                          |
//! |---|---------------|--------|-------------------------------------------------------|
//! | 0 | `shape`       | 3      | square, ellipse, heart                                |
//! | 1 | `scale`       | 6      | size factor `0.5 + 0.5·k/5`                            |
//! | 2 | `orientation` | 40     | rotation `2π·k/40`                                     |
//! | 3 | `pos_x`       | 32     | centre `x = 14 + 36·k/31` pixels                       |
//! | 4 | `pos_y`       | 32     | centre `y = 14 + 36·k/31` pixels                       |
//!
//! so the full grid has 737 280 images. The real file's orientations are
//! `linspace(0, 2π, 40)` (first and last equal); here the endpoint is excluded so the 40 values
//! are distinct rotations. As in the real set, rotating a square by 90° or an ellipse by 180°
//! gives the same picture, so orientation is only identifiable modulo the shape's symmetry.
//!
//! **Rendering.** A pixel is on (255) iff its centre, translated to the sprite centre, rotated by
//! `−angle` and divided by `10·scale`, falls inside the unit shape: square `|u|,|v| <= 0.85`,
//! ellipse `u² + (v/0.5)² <= 1`, heart `(x² + y² − 1)³ − x²·y³ <= 0` with `x = 1.3u`,
//! `y = 0.12 − 1.3v` (point down). Values are stored as 0/255, so batches are exactly {0, 1}.
//! No noise; parallel over images, so the bytes do not depend on the thread count.

use super::dataset::{Dataset, FactorSpec, LabelKind};
use super::grid::FactorGrid;
use crate::error::Result;
use rayon::prelude::*;

/// Factor names, slowest first.
pub const FACTOR_NAMES: [&str; 5] = ["shape", "scale", "orientation", "pos_x", "pos_y"];
/// Factor cardinalities, slowest first (product 737 280).
pub const CARDINALITIES: [usize; 5] = [3, 6, 40, 32, 32];
/// Image side in pixels.
pub const IMAGE_SIZE: usize = 64;
/// Names of the three shapes.
pub const SHAPE_NAMES: [&str; 3] = ["square", "ellipse", "heart"];
/// The default principal factor.
pub const DEFAULT_PRINCIPAL: &str = "shape";

/// The full 737 280-image grid.
pub fn grid() -> FactorGrid {
    FactorGrid::new(&CARDINALITIES)
}

/// Factor specs in order.
pub fn factor_specs() -> Vec<FactorSpec> {
    FACTOR_NAMES.iter().zip(CARDINALITIES).map(|(n, c)| FactorSpec::new(*n, c)).collect()
}

/// Size factor of scale value `k`.
pub fn scale_value(k: u32) -> f32 {
    0.5 + 0.5 * k as f32 / 5.0
}
/// Rotation in radians of orientation value `k`.
pub fn orientation_radians(k: u32) -> f32 {
    std::f32::consts::TAU * k as f32 / 40.0
}
/// Centre coordinate in pixels of position value `k`.
pub fn position_pixels(k: u32) -> f32 {
    14.0 + 36.0 * k as f32 / 31.0
}

fn inside(shape: u32, u: f32, v: f32) -> bool {
    match shape {
        0 => u.abs() <= 0.85 && v.abs() <= 0.85,
        1 => u * u + (v / 0.5) * (v / 0.5) <= 1.0,
        _ => {
            let (x, y) = (1.3 * u, 0.12 - 1.3 * v);
            let a = x * x + y * y - 1.0;
            a * a * a - x * x * y * y * y <= 0.0
        }
    }
}

/// Renders the sprite with `factors` (`[5]`) into `out` (u8 `[64, 64]`, 0 or 255).
///
/// # Panics
/// If a factor is out of range or `out.len() != 64·64`.
pub fn render(factors: &[u32], out: &mut [u8]) {
    assert_eq!(out.len(), IMAGE_SIZE * IMAGE_SIZE, "render: output is not [64, 64]");
    for (k, (&f, &c)) in factors.iter().zip(&CARDINALITIES).enumerate() {
        assert!((f as usize) < c, "render: factor {k} = {f} outside 0..{c}");
    }
    out.fill(0);
    let size = 10.0 * scale_value(factors[1]);
    let (s, c) = orientation_radians(factors[2]).sin_cos();
    let (cx, cy) = (position_pixels(factors[3]), position_pixels(factors[4]));
    // Every unit shape lies within radius 1.25, so the sprite lies within 1.25·size of the centre.
    let reach = 1.25 * size;
    let lo = |c: f32| ((c - reach).floor().max(0.0)) as usize;
    let hi = |c: f32| ((c + reach).ceil() as usize).min(IMAGE_SIZE);
    for y in lo(cy)..hi(cy) {
        for x in lo(cx)..hi(cx) {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            // Rotate by −angle into the sprite's frame.
            let (u, v) = ((dx * c + dy * s) / size, (-dx * s + dy * c) / size);
            if inside(factors[0], u, v) {
                out[y * IMAGE_SIZE + x] = 255;
            }
        }
    }
}

/// Renders the grid images `indices` (in that order) into a [`Dataset`] named `name`, u8
/// `[n, 64, 64, 1]` with the five factors; principal factor [`DEFAULT_PRINCIPAL`].
///
/// # Errors
/// [`crate::Error::InvalidParam`] if `indices` is empty or holds an index `>= 737 280`.
pub fn generate(name: &str, indices: &[usize]) -> Result<Dataset> {
    if indices.is_empty() {
        return Err(crate::Error::param("n", "a dsprites set needs at least one image, got 0"));
    }
    let factors = grid().factor_matrix(indices)?;
    let per = IMAGE_SIZE * IMAGE_SIZE;
    let mut images = vec![0u8; indices.len() * per];
    let flat = factors.as_slice().expect("factor_matrix is standard layout");
    images.par_chunks_mut(per).zip(flat.par_chunks(CARDINALITIES.len())).for_each(|(dst, f)| render(f, dst));
    let mut d = Dataset::new(name, images, IMAGE_SIZE, IMAGE_SIZE, 1, factors, factor_specs(), LabelKind::Factors)?;
    d.set_principal(DEFAULT_PRINCIPAL)?;
    Ok(d)
}
