//! An 8-bit RGB raster with the few drawing primitives the reports need.
//!
//! Coordinates are `(x, y)` in pixels, origin top-left; drawing outside the canvas is clipped.

/// An RGB colour.
pub type Rgb = [u8; 3];

/// A `width × height` RGB image, row-major, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        let mut pixels = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            pixels.extend_from_slice(&background);
        }
        Canvas { width, height, pixels }
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Raw RGB bytes, row-major (`[height, width, 3]`).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
    /// The colour at `(x, y)`, or `None` outside.
    pub fn get(&self, x: usize, y: usize) -> Option<Rgb> {
        (x < self.width && y < self.height).then(|| {
            let i = (y * self.width + x) * 3;
            [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
        })
    }
    /// Sets `(x, y)` (signed, clipped).
    pub fn set(&mut self, x: isize, y: isize, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.pixels[i..i + 3].copy_from_slice(&c);
        }
    }
    /// Fills the rectangle `[x, x+w) × [y, y+h)` (clipped).
    pub fn fill_rect(&mut self, x: isize, y: isize, w: usize, h: usize, c: Rgb) {
        for yy in y..y + h as isize {
            for xx in x..x + w as isize {
                self.set(xx, yy, c);
            }
        }
    }
    /// A 1-pixel line from `(x0, y0)` to `(x1, y1)` (Bresenham, clipped).
    pub fn line(&mut self, x0: isize, y0: isize, x1: isize, y1: isize, c: Rgb) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
    /// A filled disc of radius `r` centred at `(cx, cy)`.
    pub fn disc(&mut self, cx: isize, cy: isize, r: isize, c: Rgb) {
        for y in -r..=r {
            for x in -r..=r {
                if x * x + y * y <= r * r {
                    self.set(cx + x, cy + y, c);
                }
            }
        }
    }
    /// Copies an image `[h, w, channels]` (u8, `channels` 1 or 3) with its top-left corner at
    /// `(x, y)`, each source pixel drawn as a `scale × scale` block.
    ///
    /// # Panics
    /// If `src.len() != h·w·channels` or `channels` is not 1 or 3.
    #[allow(clippy::too_many_arguments)]
    pub fn blit(&mut self, x: isize, y: isize, src: &[u8], h: usize, w: usize, channels: usize, scale: usize) {
        assert!(channels == 1 || channels == 3, "blit: channels must be 1 or 3, got {channels}");
        assert_eq!(src.len(), h * w * channels, "blit: source is not [{h}, {w}, {channels}]");
        for i in 0..h {
            for j in 0..w {
                let p = (i * w + j) * channels;
                let c = if channels == 1 { [src[p]; 3] } else { [src[p], src[p + 1], src[p + 2]] };
                self.fill_rect(x + (j * scale) as isize, y + (i * scale) as isize, scale, scale, c);
            }
        }
    }
    /// Draws `text` with the built-in 5×7 font, top-left at `(x, y)`, `scale` pixels per dot.
    /// Characters the font lacks are drawn as a hollow box.
    pub fn text(&mut self, x: isize, y: isize, text: &str, scale: usize, c: Rgb) {
        let mut cx = x;
        for ch in text.chars() {
            let glyph = super::font::glyph(ch);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.fill_rect(cx + (col * scale) as isize, y + (row * scale) as isize, scale, scale, c);
                    }
                }
            }
            cx += (6 * scale) as isize;
        }
    }
    /// Width in pixels of `text` drawn at `scale`.
    pub fn text_width(text: &str, scale: usize) -> usize {
        text.chars().count() * 6 * scale
    }

    /// Encodes the canvas as PNG and writes it atomically to `path`.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if the file cannot be written.
    #[cfg(feature = "io")]
    pub fn save_png(&self, path: &std::path::Path) -> crate::Result<()> {
        crate::io::write_atomic_with(path, |w| {
            let mut enc = png::Encoder::new(w, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(std::io::Error::other)?;
            writer.write_image_data(&self.pixels).map_err(std::io::Error::other)?;
            writer.finish().map_err(std::io::Error::other)
        })
    }
}

/// A qualitative palette (10 well-separated colours, Tableau-10), cycled for more classes.
pub fn palette(i: usize) -> Rgb {
    const P: [Rgb; 10] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ];
    P[i % P.len()]
}
