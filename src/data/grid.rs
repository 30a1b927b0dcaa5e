//! Full factor grids: mixed-radix flat indices and seeded subsets.
//!
//! A procedural set with factor cardinalities `[n_0, …, n_{K−1}]` holds every combination once,
//! in the order of the real files: the **last factor varies fastest**, so
//! `index = ((f_0·n_1 + f_1)·n_2 + f_2)·… + f_{K−1}` (3DShapes: orientation fastest; dSprites:
//! posY fastest). Factor values of any index are computed, never stored, so subsets and splits
//! of the 480 000-image grid need no rendering.
//!
//! Subsets: [`FactorGrid::random_subset`] (seeded, uniform, covering every value of every
//! factor when `n >= max cardinality`), [`FactorGrid::range_subset`] (a sub-grid given by one
//! value range per factor), [`FactorGrid::first_n`].

use crate::error::{Error, Result};
use crate::rng::Rng;
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::Rng as _;
use std::ops::Range;

/// A full factor grid (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactorGrid {
    cards: Vec<usize>,
}

impl FactorGrid {
    /// A grid with these cardinalities (all >= 1).
    ///
    /// # Panics
    /// If `cards` is empty or holds a zero (grids are built from constants).
    pub fn new(cards: &[usize]) -> Self {
        assert!(!cards.is_empty() && cards.iter().all(|&c| c >= 1), "FactorGrid: bad cardinalities {cards:?}");
        FactorGrid { cards: cards.to_vec() }
    }
    /// Cardinalities, slowest factor first.
    pub fn cardinalities(&self) -> &[usize] {
        &self.cards
    }
    /// Number of combinations (the product of cardinalities).
    pub fn len(&self) -> usize {
        self.cards.iter().product()
    }
    /// Always `false` (every cardinality is >= 1).
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Flat index of a factor tuple (last factor fastest).
    ///
    /// # Panics
    /// If the tuple has the wrong length or a value outside its cardinality.
    pub fn index_of(&self, factors: &[u32]) -> usize {
        assert_eq!(factors.len(), self.cards.len(), "index_of: tuple length");
        factors.iter().zip(&self.cards).fold(0usize, |acc, (&f, &c)| {
            assert!((f as usize) < c, "index_of: value {f} outside 0..{c}");
            acc * c + f as usize
        })
    }
    /// Factor tuple of a flat index, written into `out` (length = number of factors).
    ///
    /// # Panics
    /// If `index >= len()` or `out` has the wrong length.
    pub fn factors_into(&self, index: usize, out: &mut [u32]) {
        assert!(index < self.len(), "factors_of: index {index} >= {}", self.len());
        assert_eq!(out.len(), self.cards.len(), "factors_of: output length");
        let mut rest = index;
        for (o, &c) in out.iter_mut().zip(&self.cards).rev() {
            *o = (rest % c) as u32;
            rest /= c;
        }
    }
    /// Factor tuple of a flat index.
    ///
    /// # Panics
    /// If `index >= len()`.
    pub fn factors_of(&self, index: usize) -> Vec<u32> {
        let mut out = vec![0; self.cards.len()];
        self.factors_into(index, &mut out);
        out
    }
    /// Factor matrix `[indices.len(), n_factors]` of flat indices (no rendering).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] if an index is outside the grid.
    pub fn factor_matrix(&self, indices: &[usize]) -> Result<Array2<u32>> {
        self.check_indices(indices)?;
        let k = self.cards.len();
        let mut m = Array2::<u32>::zeros((indices.len(), k));
        for (row, &i) in m.as_slice_mut().expect("fresh array is contiguous").chunks_mut(k).zip(indices) {
            self.factors_into(i, row);
        }
        Ok(m)
    }
    /// Checks that every index lies in the grid.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first bad index.
    pub fn check_indices(&self, indices: &[usize]) -> Result<()> {
        match indices.iter().find(|&&i| i >= self.len()) {
            Some(&bad) => Err(Error::param("indices", format!("index {bad} is outside the grid of {}", self.len()))),
            None => Ok(()),
        }
    }
    /// The first `n` indices `0..n` (all factors but the slow ones sweep their full range).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `n` if `n == 0` or `n > len()`.
    pub fn first_n(&self, n: usize) -> Result<Vec<usize>> {
        self.check_n(n)?;
        Ok((0..n).collect())
    }
    fn check_n(&self, n: usize) -> Result<()> {
        if n == 0 || n > self.len() {
            return Err(Error::param("n", format!("must be in 1..={}, got {n}", self.len())));
        }
        Ok(())
    }

    /// A seeded uniform subset of `n` distinct indices, sorted ascending (file order).
    ///
    /// So that a small subset still shows every value of every factor, the first
    /// `min(n, max cardinality)` members form a random *covering diagonal*: with an independent
    /// random permutation `π_k` of each factor's values, member `j` has factor `k` equal to
    /// `π_k[j mod n_k]` (these tuples are distinct because the largest factor takes a new value
    /// each time). The remaining `n − m` members are drawn uniformly without replacement from
    /// the rest of the grid (partial Fisher–Yates). For `n >= max cardinality` every value of
    /// every factor is present.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `n` if `n == 0` or `n > len()`.
    pub fn random_subset(&self, n: usize, rng: &mut Rng) -> Result<Vec<usize>> {
        self.check_n(n)?;
        let total = self.len();
        if n == total {
            return Ok((0..total).collect());
        }
        let max_card = *self.cards.iter().max().expect("non-empty");
        let m = n.min(max_card);
        let perms: Vec<Vec<u32>> = self
            .cards
            .iter()
            .map(|&c| {
                let mut p: Vec<u32> = (0..c as u32).collect();
                p.shuffle(rng);
                p
            })
            .collect();
        let mut chosen: Vec<usize> = (0..m)
            .map(|j| {
                let tuple: Vec<u32> = perms.iter().map(|p| p[j % p.len()]).collect();
                self.index_of(&tuple)
            })
            .collect();
        let mut taken = vec![false; total];
        for &i in &chosen {
            taken[i] = true;
        }
        let mut rest: Vec<u32> = (0..total as u32).filter(|&i| !taken[i as usize]).collect();
        let need = n - m;
        for j in 0..need {
            let pick = rng.gen_range(j..rest.len());
            rest.swap(j, pick);
        }
        chosen.extend(rest[..need].iter().map(|&i| i as usize));
        chosen.sort_unstable();
        Ok(chosen)
    }

    /// Every index whose factor `k` lies in `ranges[k]`, ascending (a sub-grid).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `ranges` for the wrong number of ranges, an empty range or
    /// one reaching past a factor's cardinality.
    pub fn range_subset(&self, ranges: &[Range<u32>]) -> Result<Vec<usize>> {
        if ranges.len() != self.cards.len() {
            return Err(Error::param("ranges", format!("need {} ranges, got {}", self.cards.len(), ranges.len())));
        }
        for (k, (r, &c)) in ranges.iter().zip(&self.cards).enumerate() {
            if r.start >= r.end || r.end as usize > c {
                return Err(Error::param("ranges", format!("factor {k}: range {r:?} is empty or exceeds 0..{c}")));
            }
        }
        let mut out = Vec::new();
        let mut tuple: Vec<u32> = ranges.iter().map(|r| r.start).collect();
        loop {
            out.push(self.index_of(&tuple));
            // Odometer increment, last factor fastest.
            let mut k = tuple.len();
            loop {
                if k == 0 {
                    return Ok(out);
                }
                k -= 1;
                tuple[k] += 1;
                if tuple[k] < ranges[k].end {
                    break;
                }
                tuple[k] = ranges[k].start;
            }
        }
    }
}
