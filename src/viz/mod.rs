//! Pictures a person can look at: an RGB [`Canvas`] with simple raster drawing, saved as PNG.
//!
//! Used for contact sheets of datasets, reconstructions and traversal grids, cluster scatters
//! and training curves. PNG encoding needs the `png` crate, so saving is behind the `io`
//! feature; drawing is always available.

pub mod canvas;
pub mod font;
pub mod scatter;

pub use canvas::{Canvas, Rgb};
pub use scatter::scatter_canvas;
