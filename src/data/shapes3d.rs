//! A procedural 3DShapes-like generator (Kim & Mnih 2018's six factors, 64×64×3).
//!
//! Factors, in the real file's order (orientation varies fastest; see [`super::grid`]):
//!
//! | k | name          | values | meaning here                                   |
//! |---|---------------|--------|------------------------------------------------|
//! | 0 | `floor_hue`   | 10     | hue `k/10` of the floor                        |
//! | 1 | `wall_hue`    | 10     | hue `k/10` of the back walls                   |
//! | 2 | `object_hue`  | 10     | hue `k/10` of the object                       |
//! | 3 | `scale`       | 8      | object size factor `0.75 + 0.5·k/7`            |
//! | 4 | `shape`       | 4      | cube, cylinder, sphere, capsule (lying pill)   |
//! | 5 | `orientation` | 15     | azimuth `θ = −30° + 60°·k/14`                  |
//!
//! so the full grid has 480 000 images and `index = ((((fh·10+wh)·10+oh)·8+sc)·4+sh)·15+ori`.
//!
//! **Scene.** A room corner seen from slightly above: two back walls meet at a vertical corner
//! whose screen position is `x_c = 32 + 48·sin θ`, and the floor/wall boundary is
//! `y = 24 + 0.32·|x − x_c|`, so the orientation visibly moves the corner. The left wall is lit
//! at value 0.72, the right at 0.92; the floor darkens with depth (value `0.55 + 0.4·t`). The
//! object stands centred on the floor (base line `y = 50`, half-size `a = 9·scale` pixels) and
//! turns with the azimuth: a cube (visible faces projected with depth foreshortening 0.3, so
//! a side face appears as θ leaves 0), a cylinder (elliptic top), a sphere, or a capsule lying
//! along the rotated axis; it casts a hard-edged elliptic shadow on the floor. Object surfaces use
//! Lambert shading `v = 0.35 + 0.65·max(0, n·ℓ)` with a fixed light `ℓ ∝ (−0.4, 0.5, 0.75)`.
//! Colours are `HSV(hue, 1, v)`. There is no noise: an image is a pure function of its factors.
//!
//! **Speed.** The geometry of an image depends only on (scale, shape, orientation): the 480
//! layouts (a region id and a shade per pixel) are computed once; rendering an image is then one
//! table look-up per pixel. Generation is parallel over images (each image written by one task),
//! so the bytes do not depend on the thread count.
//!
//! **Subsets.** [`generate`] renders any list of flat indices; `shapes3d-synth:N` uses
//! [`FactorGrid::random_subset`] (seeded, uniform, every factor value present for N >= 15).

use super::dataset::{Dataset, FactorSpec, LabelKind};
use super::grid::FactorGrid;
use crate::error::Result;
use rayon::prelude::*;
use std::sync::OnceLock;

/// Factor names, slowest first.
pub const FACTOR_NAMES: [&str; 6] = ["floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"];
/// Factor cardinalities, slowest first (product 480 000).
pub const CARDINALITIES: [usize; 6] = [10, 10, 10, 8, 4, 15];
/// Image side in pixels.
pub const IMAGE_SIZE: usize = 64;
/// Names of the four shapes (values of factor `shape`).
pub const SHAPE_NAMES: [&str; 4] = ["cube", "cylinder", "sphere", "capsule"];
/// The default principal factor (docs/method.md §10: object hue).
pub const DEFAULT_PRINCIPAL: &str = "object_hue";

const N_PIX: usize = IMAGE_SIZE * IMAGE_SIZE;
const FLOOR: u8 = 0;
const WALL: u8 = 1;
const OBJECT: u8 = 2;
/// Outlines: drawn in grey (the same value for every hue).
const EDGE: u8 = 3;
/// Grey value of outlines.
const EDGE_SHADE: f32 = 0.1;

/// The full 480 000-image grid.
pub fn grid() -> FactorGrid {
    FactorGrid::new(&CARDINALITIES)
}

/// Factor specs in order.
pub fn factor_specs() -> Vec<FactorSpec> {
    FACTOR_NAMES.iter().zip(CARDINALITIES).map(|(n, c)| FactorSpec::new(*n, c)).collect()
}

/// Hue in `[0, 1)` of hue factor value `k` (`k/10`).
pub fn hue(k: u32) -> f32 {
    k as f32 / 10.0
}
/// Object size factor of scale value `k` (`0.75 + 0.5·k/7`).
pub fn scale_value(k: u32) -> f32 {
    0.75 + 0.5 * k as f32 / 7.0
}
/// Azimuth in degrees of orientation value `k` (`−30 + 60·k/14`).
pub fn orientation_degrees(k: u32) -> f32 {
    -30.0 + 60.0 * k as f32 / 14.0
}

/// `HSV(h, 1, v)` as RGB in `[0, 1]`.
fn hsv(h: f32, v: f32) -> [f32; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let i = h6.floor() as u32 % 6;
    let f = h6 - h6.floor();
    let (q, t) = (v * (1.0 - f), v * f);
    match i {
        0 => [v, t, 0.0],
        1 => [q, v, 0.0],
        2 => [0.0, v, t],
        3 => [0.0, q, v],
        4 => [t, 0.0, v],
        _ => [v, 0.0, q],
    }
}

fn quantize(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Per-pixel region and shade of one (scale, shape, orientation) combination.
struct Layout {
    region: Vec<u8>,
    shade: Vec<u8>,
}

/// Lambert shading of a unit normal `(x right, y up, z toward the camera)`.
fn lambert(n: [f32; 3]) -> f32 {
    const L: [f32; 3] = [-0.4, 0.5, 0.75];
    let norm = (L[0] * L[0] + L[1] * L[1] + L[2] * L[2]).sqrt();
    let d = (n[0] * L[0] + n[1] * L[1] + n[2] * L[2]) / norm;
    0.35 + 0.65 * d.max(0.0)
}

const FORESHORTEN: f32 = 0.3;
const BASE_Y: f32 = 50.0;
const CX: f32 = 32.0;

/// The object's shade at pixel centre `(px, py)`, or `None` if the pixel misses it.
fn object_shade(shape: u32, a: f32, phi: f32, px: f32, py: f32) -> Option<f32> {
    let (s, c) = phi.sin_cos();
    let dx = px - CX;
    match shape {
        // Cube of half-size a, rotated by phi about the vertical axis.
        0 => {
            let top_y = BASE_Y - 2.0 * a;
            // Top face: invert the projection X = x·c + z·s, Z = −x·s + z·c, py = top_y + k·Z.
            let z_scr = (py - top_y) / FORESHORTEN;
            let (xl, zl) = (dx * c - z_scr * s, dx * s + z_scr * c);
            if xl.abs() <= a && zl.abs() <= a {
                return Some(lambert([0.0, 1.0, 0.0]));
            }
            // Vertical faces with outward normals facing the camera (n_Z > 0).
            let corners = [(-a, -a), (a, -a), (a, a), (-a, a)];
            let rot = |(x, z): (f32, f32)| (x * c + z * s, -x * s + z * c);
            for f in 0..4 {
                let (p1, p2) = (rot(corners[f]), rot(corners[(f + 1) % 4]));
                let n = rot(match f {
                    0 => (0.0, -1.0),
                    1 => (1.0, 0.0),
                    2 => (0.0, 1.0),
                    _ => (-1.0, 0.0),
                });
                if n.1 <= 1e-6 || (p2.0 - p1.0).abs() < 1e-6 {
                    continue;
                }
                let t = (dx - p1.0) / (p2.0 - p1.0);
                if !(0.0..=1.0).contains(&t) {
                    continue;
                }
                let z = p1.1 + t * (p2.1 - p1.1);
                let bottom = BASE_Y + FORESHORTEN * z;
                if py <= bottom && py >= bottom - 2.0 * a {
                    return Some(lambert([n.0, 0.0, n.1]));
                }
            }
            None
        }
        // Upright cylinder of radius a and height 2a (rotation-invariant).
        1 => {
            let top_y = BASE_Y - 2.0 * a;
            let u = dx / a;
            if u.abs() > 1.0 {
                return None;
            }
            let ev = (py - top_y) / (FORESHORTEN * a);
            if u * u + ev * ev <= 1.0 {
                return Some(lambert([0.0, 1.0, 0.0]));
            }
            let w = (1.0 - u * u).sqrt();
            if py >= top_y && py <= BASE_Y + FORESHORTEN * a * w {
                return Some(lambert([u, 0.0, w]));
            }
            None
        }
        // Sphere of radius a resting on the floor.
        2 => {
            let (u, v) = (dx / a, (py - (BASE_Y - a)) / a);
            let r2 = u * u + v * v;
            (r2 <= 1.0).then(|| lambert([u, -v, (1.0 - r2).sqrt()]))
        }
        // Capsule (radius r = 0.6a, half-length 1.1a) lying along the rotated axis.
        _ => {
            let (r, l) = (0.6 * a, 1.1 * a);
            let centre = (CX, BASE_Y - r);
            let axis = (l * c, -FORESHORTEN * l * s);
            let (qx, qy) = (px - centre.0, py - centre.1);
            let len2 = axis.0 * axis.0 + axis.1 * axis.1;
            let t = ((qx * axis.0 + qy * axis.1) / len2).clamp(-1.0, 1.0);
            let (ox, oy) = (qx - t * axis.0, qy - t * axis.1);
            let d2 = (ox * ox + oy * oy) / (r * r);
            (d2 <= 1.0).then(|| lambert([ox / r, -oy / r, (1.0 - d2).sqrt()]))
        }
    }
}

fn build_layout(scale: u32, shape: u32, ori: u32) -> Layout {
    let theta = orientation_degrees(ori).to_radians();
    let a = 9.0 * scale_value(scale);
    let xc = CX + 48.0 * theta.sin();
    let mut region = vec![0u8; N_PIX];
    let mut shade = vec![0u8; N_PIX];
    for y in 0..IMAGE_SIZE {
        for x in 0..IMAGE_SIZE {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let p = y * IMAGE_SIZE + x;
            let boundary = 24.0 + 0.32 * (px - xc).abs();
            let (mut r, mut v) = if py < boundary {
                (WALL, if px < xc { 0.72 } else { 0.92 })
            } else {
                (FLOOR, 0.55 + 0.4 * ((py - 24.0) / 40.0).min(1.0))
            };
            // Shadow: an ellipse on the floor, offset away from the light.
            let (sx, sy) = ((px - (CX + 0.35 * a)) / (1.3 * a), (py - (BASE_Y + 0.5)) / (0.4 * a));
            if r == FLOOR && sx * sx + sy * sy <= 1.0 {
                v *= 0.6;
            }
            // Outlines of the room: the vertical wall corner and the floor/wall boundary.
            if (py < boundary && (px - xc).abs() < 0.5) || (py - boundary).abs() < 0.6 {
                (r, v) = (EDGE, EDGE_SHADE);
            }
            if let Some(s) = object_shade(shape, a, theta, px, py) {
                r = OBJECT;
                v = s;
            }
            region[p] = r;
            shade[p] = quantize(v);
        }
    }
    // Object outline: object pixels with a 4-neighbour outside the object.
    let is_obj = region.iter().map(|&r| r == OBJECT).collect::<Vec<_>>();
    for y in 0..IMAGE_SIZE {
        for x in 0..IMAGE_SIZE {
            let p = y * IMAGE_SIZE + x;
            let outside = |yy: usize, xx: usize| !is_obj[yy * IMAGE_SIZE + xx];
            let border = is_obj[p]
                && (x == 0
                    || y == 0
                    || x + 1 == IMAGE_SIZE
                    || y + 1 == IMAGE_SIZE
                    || outside(y, x - 1)
                    || outside(y, x + 1)
                    || outside(y - 1, x)
                    || outside(y + 1, x));
            if border {
                region[p] = EDGE;
                shade[p] = quantize(EDGE_SHADE);
            }
        }
    }
    Layout { region, shade }
}

/// The precomputed renderer: 480 layouts and a colour table `[10 hues][256 shades] → RGB`.
pub struct Renderer {
    layouts: Vec<Layout>,
    lut: Vec<[u8; 3]>,
}

impl Renderer {
    fn new() -> Self {
        let layouts =
            (0..(8 * 4 * 15) as u32).into_par_iter().map(|i| build_layout(i / 60, (i / 15) % 4, i % 15)).collect();
        // Rows 0..10: HSV(hue k/10, 1, s/255); row 10: grey s (outlines).
        let mut lut = Vec::with_capacity(11 * 256);
        for h in 0..10 {
            for s in 0..256u32 {
                let rgb = hsv(hue(h), s as f32 / 255.0);
                lut.push([quantize(rgb[0]), quantize(rgb[1]), quantize(rgb[2])]);
            }
        }
        for s in 0..=255u8 {
            lut.push([s; 3]);
        }
        Renderer { layouts, lut }
    }

    /// The shared renderer (built once per process, in parallel, about 2 M pixel evaluations).
    pub fn get() -> &'static Renderer {
        static R: OnceLock<Renderer> = OnceLock::new();
        R.get_or_init(Renderer::new)
    }

    /// Renders the image with `factors` (`[6]`, each within its cardinality) into `out`
    /// (u8 `[64, 64, 3]`).
    ///
    /// # Panics
    /// If a factor is out of range or `out.len() != 64·64·3`.
    pub fn render(&self, factors: &[u32], out: &mut [u8]) {
        assert_eq!(out.len(), N_PIX * 3, "render: output is not [64, 64, 3]");
        for (k, (&f, &c)) in factors.iter().zip(&CARDINALITIES).enumerate() {
            assert!((f as usize) < c, "render: factor {k} = {f} outside 0..{c}");
        }
        let layout = &self.layouts[((factors[3] * 4 + factors[4]) * 15 + factors[5]) as usize];
        let hues = [factors[0] as usize * 256, factors[1] as usize * 256, factors[2] as usize * 256, 10 * 256];
        for ((px, &r), &s) in out.chunks_exact_mut(3).zip(&layout.region).zip(&layout.shade) {
            px.copy_from_slice(&self.lut[hues[r as usize] + s as usize]);
        }
    }
}

/// Renders the grid images `indices` (in that order) into a [`Dataset`] named `name`, u8
/// `[n, 64, 64, 3]` with the six factors; principal factor [`DEFAULT_PRINCIPAL`].
///
/// # Errors
/// [`crate::Error::InvalidParam`] if `indices` is empty or holds an index `>= 480 000`.
pub fn generate(name: &str, indices: &[usize]) -> Result<Dataset> {
    let g = grid();
    if indices.is_empty() {
        return Err(crate::Error::param("n", "a shapes3d set needs at least one image, got 0"));
    }
    let factors = g.factor_matrix(indices)?;
    let renderer = Renderer::get();
    let per = N_PIX * 3;
    let mut images = vec![0u8; indices.len() * per];
    let flat = factors.as_slice().expect("factor_matrix is standard layout");
    images.par_chunks_mut(per).zip(flat.par_chunks(CARDINALITIES.len())).for_each(|(dst, f)| {
        renderer.render(f, dst);
    });
    let mut d = Dataset::new(name, images, IMAGE_SIZE, IMAGE_SIZE, 3, factors, factor_specs(), LabelKind::Factors)?;
    d.set_principal(DEFAULT_PRINCIPAL)?;
    Ok(d)
}
