//! Dataset SPEC strings (`--dataset`): which data to load, with no download.
//!
//! | SPEC                  | data                                                                |
//! |-----------------------|---------------------------------------------------------------------|
//! | `digits`              | built-in: 1797 real 8×8 handwritten digits, 10 classes              |
//! | `shapes3d-synth[:N]`  | procedural 3DShapes-like, 64×64×3, six factors; N of the 480 000    |
//! | `dsprites-synth[:N]`  | procedural dSprites-like, 64×64×1, five factors; N of the 737 280   |
//! | `mnist:DIR`           | MNIST / Fashion-MNIST IDX files in DIR (gzipped or not)              |
//! | `cifar10:DIR`         | CIFAR-10 binary batches in DIR                                       |
//! | `npy:DIR`             | DIR/images.npy (u8) + DIR/labels.npy (int) [+ DIR/factors.txt]       |
//!
//! Without `:N` a synthetic set is the full grid. With `:N` it is a seeded uniform subset
//! ([`super::grid::FactorGrid::random_subset`]: every value of every factor present once N
//! reaches the largest cardinality, 15 for shapes3d and 40 for dsprites), in file order; the subset is drawn from stream `GENERATE` of
//! `seeds.child(<kind>)`, so the same `--seed` gives the same images.

use super::dataset::Dataset;
use super::{cifar, digits, dsprites, idx, npy_pair, shapes3d};
use crate::error::{Error, Result};
use crate::rng::{streams, SeedTree};
use std::fmt;
use std::path::PathBuf;

/// Help text listing the SPEC forms (used by `--help` of the CLI).
pub const SPEC_HELP: &str = "SPEC forms:
  digits               built-in: 1797 real 8x8 handwritten digits, 10 classes (no download)
  shapes3d-synth[:N]   procedural 3DShapes-like, 64x64x3, factors floor_hue 10, wall_hue 10,
                       object_hue 10, scale 8, shape 4, orientation 15; N images (seeded uniform
                       subset keeping every factor value), default all 480000
  dsprites-synth[:N]   procedural dSprites-like, 64x64x1 binary, factors shape 3, scale 6,
                       orientation 40, pos_x 32, pos_y 32; default all 737280
  mnist:DIR            MNIST/Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], ...)
  cifar10:DIR          CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin)
  npy:DIR              DIR/images.npy (uint8 [n,h,w] or [n,h,w,c]) + DIR/labels.npy (int [n] or
                       [n,k]) + optional DIR/factors.txt ('name cardinality' per line)";

/// The SPEC forms on one line (for error messages).
pub const SPEC_FORMS: &str = "digits, shapes3d-synth[:N], dsprites-synth[:N], mnist:DIR, cifar10:DIR, npy:DIR";

/// A parsed SPEC (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSpec {
    /// The built-in digits.
    Digits,
    /// Procedural 3DShapes-like; `None` = full grid.
    Shapes3dSynth {
        /// Number of images.
        n: Option<usize>,
    },
    /// Procedural dSprites-like; `None` = full grid.
    DspritesSynth {
        /// Number of images.
        n: Option<usize>,
    },
    /// MNIST-format IDX directory.
    Mnist(PathBuf),
    /// CIFAR-10 binary directory.
    Cifar10(PathBuf),
    /// NPY pair directory.
    Npy(PathBuf),
}

impl std::str::FromStr for DatasetSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| Error::param("--dataset", format!("{why}; valid forms: {SPEC_FORMS} (see --help)"));
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (s, None),
        };
        let count = |a: Option<&str>| -> Result<Option<usize>> {
            match a {
                None => Ok(None),
                Some(t) => match t.trim().parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(Some(n)),
                    _ => Err(bad(format!("'{s}': N must be an integer >= 1, got '{t}'"))),
                },
            }
        };
        let dir = |a: Option<&str>| -> Result<PathBuf> {
            match a {
                Some(d) if !d.is_empty() => Ok(PathBuf::from(d)),
                _ => Err(bad(format!("'{s}' needs a directory, e.g. {head}:path/to/dir"))),
            }
        };
        match head {
            "digits" if arg.is_none() => Ok(DatasetSpec::Digits),
            "shapes3d-synth" => Ok(DatasetSpec::Shapes3dSynth { n: count(arg)? }),
            "dsprites-synth" => Ok(DatasetSpec::DspritesSynth { n: count(arg)? }),
            "mnist" => Ok(DatasetSpec::Mnist(dir(arg)?)),
            "cifar10" => Ok(DatasetSpec::Cifar10(dir(arg)?)),
            "npy" => Ok(DatasetSpec::Npy(dir(arg)?)),
            _ => Err(bad(format!("unknown dataset '{s}'"))),
        }
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetSpec::Digits => write!(f, "digits"),
            DatasetSpec::Shapes3dSynth { n: None } => write!(f, "shapes3d-synth"),
            DatasetSpec::Shapes3dSynth { n: Some(n) } => write!(f, "shapes3d-synth:{n}"),
            DatasetSpec::DspritesSynth { n: None } => write!(f, "dsprites-synth"),
            DatasetSpec::DspritesSynth { n: Some(n) } => write!(f, "dsprites-synth:{n}"),
            DatasetSpec::Mnist(d) => write!(f, "mnist:{}", d.display()),
            DatasetSpec::Cifar10(d) => write!(f, "cifar10:{}", d.display()),
            DatasetSpec::Npy(d) => write!(f, "npy:{}", d.display()),
        }
    }
}

/// The grid indices a synthetic SPEC selects: all, or a seeded covering subset of `n`.
///
/// # Errors
/// [`Error::InvalidParam`] named `n` if `n` exceeds the grid.
pub fn synth_indices(
    grid: &super::grid::FactorGrid,
    n: Option<usize>,
    kind: &str,
    seeds: &SeedTree,
) -> Result<Vec<usize>> {
    match n {
        None => Ok((0..grid.len()).collect()),
        Some(n) => grid.random_subset(n, &mut seeds.child(kind).rng(streams::GENERATE)),
    }
}

impl DatasetSpec {
    /// The same SPEC with its directory made absolute (the current directory joined and `..`
    /// resolved), so a run stored with it loads from any working directory. Built-in and
    /// synthetic SPECs are returned unchanged.
    ///
    /// # Errors
    /// [`Error::Io`] naming the directory if it does not exist.
    pub fn absolute(&self) -> Result<DatasetSpec> {
        let abs = |d: &PathBuf| std::fs::canonicalize(d).map_err(|e| Error::io(d, e));
        Ok(match self {
            DatasetSpec::Mnist(d) => DatasetSpec::Mnist(abs(d)?),
            DatasetSpec::Cifar10(d) => DatasetSpec::Cifar10(abs(d)?),
            DatasetSpec::Npy(d) => DatasetSpec::Npy(abs(d)?),
            other => other.clone(),
        })
    }

    /// Loads (or generates) the dataset, raw (not yet resized for the model).
    ///
    /// # Errors
    /// Whatever the loader reports, naming the file or parameter.
    pub fn load(&self, seeds: &SeedTree) -> Result<Dataset> {
        let name = self.to_string();
        match self {
            DatasetSpec::Digits => digits::load(),
            DatasetSpec::Shapes3dSynth { n } => {
                shapes3d::generate(&name, &synth_indices(&shapes3d::grid(), *n, "shapes3d-synth", seeds)?)
            }
            DatasetSpec::DspritesSynth { n } => {
                dsprites::generate(&name, &synth_indices(&dsprites::grid(), *n, "dsprites-synth", seeds)?)
            }
            DatasetSpec::Mnist(d) => idx::load_mnist_dir(d),
            DatasetSpec::Cifar10(d) => cifar::load_cifar10_dir(d),
            DatasetSpec::Npy(d) => npy_pair::load_npy_dir(d),
        }
    }
}
