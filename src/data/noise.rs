//! Salt-and-pepper noise, the reference's `SaltAndPepperNoise('SnP')` (docs/method.md §6).
//!
//! For every channel value independently (so specks are coloured), draw `r ~ U(0, 1)`:
//! `r >= 1 − t` sets the value to `0.02`, `r <= t` sets it to `0.98`, otherwise it is kept;
//! `t = 0.08`. So about 8% of values become dark and 8% bright (the reference's "upper"/"lower"
//! names are swapped relative to the values; the values are what is reproduced). The aux-stage
//! `SnPn` variant (r ~ N(0,1), a reference bug) is not reproduced.
//!
//! **Determinism.** Image `b` of a batch draws its values in `[c, h, w]` order from stream
//! `NOISE` index `b` of the given seed node, so the noise depends only on (node, b) and the
//! work is parallel over images with no effect on the result. Callers derive a fresh node per
//! (epoch, batch), e.g. `seeds.child_indexed("epoch", e).child_indexed("batch", i)`; the
//! reference redraws noise on every access.

use crate::error::{Error, Result};
use crate::rng::{streams, SeedTree};
use ndarray::Array4;
use rand::Rng as _;
use rayon::prelude::*;

/// Salt-and-pepper settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SaltPepper {
    /// Probability `t` of each of the two overwrites (reference: 0.08).
    pub threshold: f32,
    /// Value written when `r >= 1 − t` (reference: 0.02).
    pub dark: f32,
    /// Value written when `r <= t` (reference: 0.98).
    pub bright: f32,
}

impl Default for SaltPepper {
    fn default() -> Self {
        SaltPepper { threshold: 0.08, dark: 0.02, bright: 0.98 }
    }
}

impl SaltPepper {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `noise_threshold` unless `0 <= t <= 0.5`.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=0.5).contains(&self.threshold) {
            return Err(Error::param("noise_threshold", format!("must be in [0, 0.5], got {}", self.threshold)));
        }
        Ok(())
    }

    /// Applies the noise in place to a batch `[b, c, h, w]` (see the module docs for streams).
    ///
    /// # Errors
    /// As [`SaltPepper::validate`].
    pub fn apply(&self, batch: &mut Array4<f32>, seeds: &SeedTree) -> Result<()> {
        self.validate()?;
        let per: usize = batch.shape()[1..].iter().product();
        if per == 0 || batch.is_empty() {
            return Ok(());
        }
        if !batch.is_standard_layout() {
            *batch = batch.as_standard_layout().into_owned();
        }
        let data = batch.as_slice_mut().expect("standard layout");
        let (t, hi) = (self.threshold, 1.0 - self.threshold);
        data.par_chunks_mut(per).enumerate().for_each(|(b, img)| {
            let mut rng = seeds.rng_indexed(streams::NOISE, b as u64);
            for v in img.iter_mut() {
                let r: f32 = rng.gen();
                if r >= hi {
                    *v = self.dark;
                } else if r <= t {
                    *v = self.bright;
                }
            }
        });
        Ok(())
    }
}
