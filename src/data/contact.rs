//! Contact sheets: the first images of a dataset tiled on a [`Canvas`] so a person can look
//! at them (`detaux generate` writes one next to the NPY files).

use super::dataset::Dataset;
use crate::viz::Canvas;

/// Tiles images `0..min(count, n)` in a grid of `columns` columns, each drawn at `scale`
/// pixels per source pixel with a 2-pixel grey gutter.
pub fn contact_sheet(dataset: &Dataset, count: usize, columns: usize, scale: usize) -> Canvas {
    let count = count.min(dataset.len()).max(1);
    let columns = columns.clamp(1, count);
    let rows = count.div_ceil(columns);
    let (h, w) = (dataset.height() * scale, dataset.width() * scale);
    let gap = 2;
    let mut canvas = Canvas::new(columns * (w + gap) + gap, rows * (h + gap) + gap, [96, 96, 96]);
    for i in 0..count {
        let (r, c) = (i / columns, i % columns);
        let x = (gap + c * (w + gap)) as isize;
        let y = (gap + r * (h + gap)) as isize;
        canvas.blit(x, y, dataset.image(i), dataset.height(), dataset.width(), dataset.channels(), scale);
    }
    canvas
}
