//! The in-memory [`Dataset`]: compact u8 images plus a factor matrix.
//!
//! Images are stored once, as u8 `[n, h, w, c]` (C order, channels last), so the 480 000-image
//! 3DShapes-like set costs its raw 5.9 GB plus the factor matrix (`[n, n_factors]` u32, 11.5 MB)
//! and nothing else. Training code never sees the whole set as f32: it asks for a batch with
//! [`Dataset::batch_nchw`], which converts only the requested images to f32 in `[0, 1]`
//! (`v / 255`) in the model's layout `[b, c, h, w]`.
//!
//! Every image has one value per factor (`factors[i, k]` in `0..cardinality_k`). Class labels are
//! one factor named `"label"`. One factor is the *principal* factor (the principal task, the
//! oracle's observation factor); it is chosen by name or index with [`Dataset::set_principal`].
//!
//! **Determinism**: batch conversion is parallel over images (each output image is written by
//! one task, no reductions), so results do not depend on the thread count.

use crate::data::resize;
use crate::error::{Error, Result};
use crate::rng::fnv1a64_bytes;
use ndarray::{Array2, Array4, ArrayView2};
use rayon::prelude::*;

/// Name and number of values of one factor of variation (or of the class label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactorSpec {
    /// Factor name, e.g. `"object_hue"` or `"label"`.
    pub name: String,
    /// Number of values; every entry of the factor column is in `0..cardinality`.
    pub cardinality: usize,
}

impl FactorSpec {
    /// A spec from a name and a cardinality.
    pub fn new(name: impl Into<String>, cardinality: usize) -> Self {
        FactorSpec { name: name.into(), cardinality }
    }
}

/// What the factor matrix means; decides nothing in the samplers (they treat both alike) but
/// tells a reader (and `detaux inspect`) whether to print class counts or factor values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    /// Real labelled data: one factor `"label"` (or user-provided label columns).
    Classes,
    /// Generative factors of a procedural or factor-annotated set.
    Factors,
}

/// A train/test partition given with the data itself (MNIST `train`/`t10k`, CIFAR-10
/// `data_batch_*`/`test_batch`): index lists into the dataset, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Training indices, ascending.
    pub train: Vec<usize>,
    /// Test indices, ascending.
    pub test: Vec<usize>,
}

/// Images `[n, h, w, c]` as u8 plus factors `[n, n_factors]`; see the module docs.
#[derive(Clone, Debug)]
pub struct Dataset {
    name: String,
    images: Vec<u8>,
    n: usize,
    height: usize,
    width: usize,
    channels: usize,
    factors: Array2<u32>,
    specs: Vec<FactorSpec>,
    principal: usize,
    kind: LabelKind,
    predefined_split: Option<Split>,
}

impl Dataset {
    /// Builds a dataset, checking every invariant.
    ///
    /// * `images`: u8 `[n, height, width, channels]`, C order; `channels` is 1 or 3.
    /// * `factors`: `[n, specs.len()]`, every value below its spec's cardinality.
    ///
    /// The principal factor starts as factor 0.
    ///
    /// # Errors
    /// [`Error::InvalidData`] (naming the dataset) for zero images, zero factors, a buffer whose
    /// length is not `n·h·w·c`, a factor matrix of the wrong shape, a zero cardinality, a value
    /// outside its cardinality, or duplicate factor names; [`Error::InvalidParam`] for
    /// `channels` not 1 or 3 or a zero height/width.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: impl Into<String>,
        images: Vec<u8>,
        height: usize,
        width: usize,
        channels: usize,
        factors: Array2<u32>,
        specs: Vec<FactorSpec>,
        kind: LabelKind,
    ) -> Result<Self> {
        let name = name.into();
        if channels != 1 && channels != 3 {
            return Err(Error::param("channels", format!("{name}: must be 1 or 3, got {channels}")));
        }
        if height == 0 || width == 0 {
            return Err(Error::param("image size", format!("{name}: {height}x{width} has no pixels")));
        }
        let per = height * width * channels;
        let n = factors.nrows();
        if n == 0 {
            return Err(Error::InvalidData(format!("{name}: the dataset has zero images")));
        }
        if images.len() != n * per {
            return Err(Error::InvalidData(format!(
                "{name}: {} image bytes do not hold {n} images of {height}x{width}x{channels}",
                images.len()
            )));
        }
        if specs.is_empty() {
            return Err(Error::InvalidData(format!("{name}: no factors or labels")));
        }
        if factors.ncols() != specs.len() {
            return Err(Error::InvalidData(format!(
                "{name}: factor matrix has {} columns but {} factors are named",
                factors.ncols(),
                specs.len()
            )));
        }
        for (k, s) in specs.iter().enumerate() {
            if s.cardinality == 0 {
                return Err(Error::InvalidData(format!("{name}: factor '{}' has cardinality 0", s.name)));
            }
            crate::limits::check_classes(&format!("{name}: factor '{}'", s.name), s.cardinality as u64)?;
            if specs[..k].iter().any(|o| o.name == s.name) {
                return Err(Error::InvalidData(format!("{name}: factor name '{}' appears twice", s.name)));
            }
            if let Some((i, &v)) = factors.column(k).iter().enumerate().find(|(_, &v)| v as usize >= s.cardinality) {
                return Err(Error::InvalidData(format!(
                    "{name}: image {i} has {} = {v}, outside 0..{}",
                    s.name, s.cardinality
                )));
            }
        }
        let factors = factors.as_standard_layout().into_owned();
        Ok(Dataset {
            name,
            images,
            n,
            height,
            width,
            channels,
            factors,
            specs,
            principal: 0,
            kind,
            predefined_split: None,
        })
    }

    /// Attaches the split that came with the files (checked: disjoint, in range).
    ///
    /// # Errors
    /// [`Error::InvalidData`] if an index is out of range or appears twice.
    pub fn with_predefined_split(mut self, split: Split) -> Result<Self> {
        let mut seen = vec![false; self.n];
        for &i in split.train.iter().chain(&split.test) {
            if i >= self.n || std::mem::replace(&mut seen[i], true) {
                return Err(Error::InvalidData(format!("{}: predefined split index {i} is invalid", self.name)));
            }
        }
        self.predefined_split = Some(split);
        Ok(self)
    }

    /// Dataset name (for messages and reports), e.g. `"digits"`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.n
    }
    /// Always `false`: a dataset has at least one image.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Channels per pixel (1 or 3).
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// `h·w·c`, the bytes of one image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }
    /// All images, u8 `[n, h, w, c]` C order.
    pub fn images(&self) -> &[u8] {
        &self.images
    }
    /// Image `i` as u8 `[h, w, c]`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let per = self.image_len();
        &self.images[i * per..(i + 1) * per]
    }
    /// The factor matrix `[n, n_factors]`.
    pub fn factors(&self) -> ArrayView2<'_, u32> {
        self.factors.view()
    }
    /// Value of factor `k` for image `i`.
    ///
    /// # Panics
    /// If `i` or `k` is out of range.
    pub fn factor(&self, i: usize, k: usize) -> u32 {
        self.factors[[i, k]]
    }
    /// Column `k` of the factor matrix as `usize` labels (e.g. class labels for a loss).
    ///
    /// # Panics
    /// If `k >= n_factors()`.
    pub fn labels(&self, k: usize) -> Vec<usize> {
        self.factors.column(k).iter().map(|&v| v as usize).collect()
    }
    /// Factor specs, one per column.
    pub fn factor_specs(&self) -> &[FactorSpec] {
        &self.specs
    }
    /// One line: `N images HxWxC, factors NAME CARDINALITY, …`.
    pub fn summary(&self) -> String {
        let factors: Vec<String> = self.specs.iter().map(|s| format!("{} {}", s.name, s.cardinality)).collect();
        format!("{} images {}x{}x{}, factors {}", self.n, self.height, self.width, self.channels, factors.join(", "))
    }
    /// Number of factors.
    pub fn n_factors(&self) -> usize {
        self.specs.len()
    }
    /// Classes or generative factors.
    pub fn kind(&self) -> LabelKind {
        self.kind
    }
    /// The split shipped with the files, if any.
    pub fn predefined_split(&self) -> Option<&Split> {
        self.predefined_split.as_ref()
    }
    /// Index of the principal factor.
    pub fn principal(&self) -> usize {
        self.principal
    }
    /// Spec of the principal factor.
    pub fn principal_spec(&self) -> &FactorSpec {
        &self.specs[self.principal]
    }

    /// Resolves a factor given by name (`"object_hue"`) or by decimal index (`"2"`).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `factor` listing the valid names and the index range.
    pub fn factor_index(&self, key: &str) -> Result<usize> {
        if let Some(k) = self.specs.iter().position(|s| s.name == key) {
            return Ok(k);
        }
        if let Ok(k) = key.trim().parse::<usize>() {
            if k < self.specs.len() {
                return Ok(k);
            }
        }
        let names: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        Err(Error::param(
            "factor",
            format!(
                "'{key}' is not a factor of {}; valid names: {} (or an index 0..{})",
                self.name,
                names.join(", "),
                self.specs.len()
            ),
        ))
    }

    /// Chooses the principal factor by name or index (see [`Dataset::factor_index`]).
    ///
    /// # Errors
    /// As [`Dataset::factor_index`].
    pub fn set_principal(&mut self, key: &str) -> Result<()> {
        self.principal = self.factor_index(key)?;
        Ok(())
    }

    /// Chooses the principal factor by index.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `k >= n_factors()`.
    pub fn set_principal_index(&mut self, k: usize) -> Result<()> {
        self.factor_index(&k.to_string())?;
        self.principal = k;
        Ok(())
    }

    /// Number of images holding each value of factor `k` (`[cardinality_k]`).
    ///
    /// # Panics
    /// If `k >= n_factors()`.
    pub fn value_counts(&self, k: usize) -> Vec<usize> {
        let mut counts = vec![0usize; self.specs[k].cardinality];
        for &v in self.factors.column(k) {
            counts[v as usize] += 1;
        }
        counts
    }

    /// Smallest and largest byte over all images (exact; parallel min/max is order-free).
    pub fn value_range(&self) -> (u8, u8) {
        self.images
            .par_chunks(1 << 20)
            .map(|c| c.iter().fold((u8::MAX, u8::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v))))
            .reduce(|| (u8::MAX, u8::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// A fingerprint of the data: FNV-1a 64 over the image size, every image byte, every
    /// factor value and every factor's name and cardinality, as 16 hex digits. Two datasets
    /// with the same fingerprint hold (with overwhelming probability) the same images and
    /// labels in the same order; a resumed run checks it against its checkpoint.
    ///
    /// **Determinism**: the images are hashed in fixed 1 MiB blocks (in parallel), and the
    /// block hashes are combined in block order, so the value does not depend on the threads.
    pub fn fingerprint(&self) -> String {
        const BLOCK: usize = 1 << 20;
        let blocks: Vec<u64> = self.images.par_chunks(BLOCK).map(fnv1a64_bytes).collect();
        let mut head = Vec::new();
        for v in [self.n, self.height, self.width, self.channels, self.specs.len()] {
            head.extend_from_slice(&(v as u64).to_le_bytes());
        }
        for s in &self.specs {
            head.extend_from_slice(s.name.as_bytes());
            head.push(0);
            head.extend_from_slice(&(s.cardinality as u64).to_le_bytes());
        }
        for b in &blocks {
            head.extend_from_slice(&b.to_le_bytes());
        }
        for v in self.factors.iter() {
            head.extend_from_slice(&v.to_le_bytes());
        }
        format!("{:016x}", fnv1a64_bytes(&head))
    }

    /// Heap bytes held: images plus factor matrix (what the memory budget counts).
    pub fn heap_bytes(&self) -> usize {
        self.images.capacity() + self.factors.len() * std::mem::size_of::<u32>()
    }

    /// Images `indices` as f32 in `[0, 1]` (`v / 255`), layout `[b, c, h, w]` (NCHW, the model's).
    ///
    /// # Panics
    /// If an index is `>= len()` (indices come from samplers and splits built on this dataset).
    pub fn batch_nchw(&self, indices: &[usize]) -> Array4<f32> {
        let (h, w, c) = (self.height, self.width, self.channels);
        let per = h * w * c;
        let mut out = Array4::<f32>::zeros((indices.len(), c, h, w));
        if per == 0 || indices.is_empty() {
            return out;
        }
        let slice = out.as_slice_mut().expect("fresh array is contiguous");
        let par = crate::par::Par::Rayon.for_work(indices.len() * per, 1 << 15);
        let fill = |(dst, &i): (&mut [f32], &usize)| {
            let src = self.image(i);
            for ch in 0..c {
                let plane = &mut dst[ch * h * w..(ch + 1) * h * w];
                for (p, v) in plane.iter_mut().enumerate() {
                    *v = src[p * c + ch] as f32 * (1.0 / 255.0);
                }
            }
        };
        match par {
            crate::par::Par::Seq => slice.chunks_mut(per).zip(indices).for_each(fill),
            crate::par::Par::Rayon => slice.par_chunks_mut(per).zip(indices.par_iter()).for_each(fill),
        }
        out
    }

    /// Factor rows of `indices` as `[b, n_factors]` i64.
    ///
    /// # Panics
    /// If an index is `>= len()`.
    pub fn factor_batch(&self, indices: &[usize]) -> Array2<i64> {
        let k = self.specs.len();
        Array2::from_shape_fn((indices.len(), k), |(b, j)| self.factors[[indices[b], j]] as i64)
    }

    /// A new dataset holding images `indices` (in that order) and their factors; the principal
    /// factor is kept, the predefined split is dropped.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if `indices` is empty or holds an index `>= len()`.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        if indices.is_empty() {
            return Err(Error::param("indices", format!("{}: selecting zero images", self.name)));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.n) {
            return Err(Error::param("indices", format!("{}: index {bad} >= {} images", self.name, self.n)));
        }
        let per = self.image_len();
        let mut images = vec![0u8; indices.len() * per];
        images.par_chunks_mut(per).zip(indices.par_iter()).for_each(|(d, &i)| d.copy_from_slice(self.image(i)));
        let factors = self.factors.select(ndarray::Axis(0), indices);
        let mut d = Dataset::new(
            self.name.clone(),
            images,
            self.height,
            self.width,
            self.channels,
            factors,
            self.specs.clone(),
            self.kind,
        )?;
        d.principal = self.principal;
        Ok(d)
    }

    /// Converts the images once, at load time, to what the stage-1 model takes: `size × size`
    /// pixels with `channels` (1 or 3) channels, still u8. [`resize::resize`]: area averaging
    /// to shrink (PyTorch `interpolate(mode="area")`), bilinear to enlarge (`mode="bilinear"`,
    /// `align_corners=False`); grayscale → RGB replicates the channel, RGB → grayscale uses ITU-R 601 luma
    /// ([`resize::rgb_to_gray`]). Channel reduction happens before resizing, replication after.
    /// A dataset that already fits is returned unchanged (no copy).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] (named `image_size`) for `size` outside
    /// `1..=`[`crate::limits::MAX_IMAGE_SIDE`], `channels` not 1 or 3.
    pub fn to_model_input(self, size: usize, channels: usize) -> Result<Dataset> {
        crate::limits::check_image_side("image_size", size)?;
        if channels != 1 && channels != 3 {
            return Err(Error::param("channels", format!("must be 1 or 3, got {channels}")));
        }
        if self.height == size && self.width == size && self.channels == channels {
            return Ok(self);
        }
        let Dataset { name, images, n, height, width, channels: c0, factors, specs, principal, kind, predefined_split } =
            self;
        let (src, c_mid) = if c0 == 3 && channels == 1 { (resize::rgb_to_gray(&images), 1) } else { (images, c0) };
        let resized = if height == size && width == size {
            src
        } else {
            resize::resize(&src, n, height, width, c_mid, size, size)
        };
        let out = if c_mid == 1 && channels == 3 { resize::gray_to_rgb(&resized) } else { resized };
        let mut d = Dataset::new(name, out, size, size, channels, factors, specs, kind)?;
        d.principal = principal;
        d.predefined_split = predefined_split;
        Ok(d)
    }
}
