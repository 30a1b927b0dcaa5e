//! Data: every source a user of the method needs (no download at run time), and the samplers
//! that feed stage 1 (pairs) and stage 3 (splits).
//!
//! # Interface for the training stages
//! * [`Dataset`] holds u8 images `[n, h, w, c]` and a factor matrix `[n, n_factors]` with a
//!   [`FactorSpec`] (name, cardinality) per column; class labels are the factor `"label"`. The
//!   principal factor is chosen by name or index ([`Dataset::set_principal`]; an unknown name
//!   is an error listing the valid names).
//! * [`Dataset::to_model_input`]`(64, channels)` resizes (area averaging to shrink, bilinear to enlarge) and converts channels once at
//!   load time, into the u8 store (8×8 digits become 64×64).
//! * [`Dataset::batch_nchw`]`(&indices)` → `Array4<f32>` `[b, c, h, w]` in `[0, 1]`, per batch;
//!   [`Dataset::factor_batch`] → `Array2<i64>` `[b, n_factors]`.
//! * [`pairs::PairSampler`] (stage 1): `epoch_pairs(e)` / `epoch_batches(e)` are deterministic
//!   in (seed, e), so a run resumes mid-epoch by skipping batches; `PairIndices::load` gives
//!   `(x1, x2, f1, f2)`.
//! * [`split`]: stratified seeded train/test split, `train_fraction`, the 3DShapes split.
//! * [`noise::SaltPepper`]: seeded salt-and-pepper on f32 batches.
//! * [`spec::DatasetSpec`]: the `--dataset` SPEC strings (`digits`, `shapes3d-synth[:N]`,
//!   `dsprites-synth[:N]`, `mnist:DIR`, `cifar10:DIR`, `npy:DIR`).
//!
//! ```
//! use detaux::data::{spec::DatasetSpec, Dataset};
//! use detaux::rng::SeedTree;
//! let spec: DatasetSpec = "shapes3d-synth:100".parse().unwrap();
//! let data: Dataset = spec.load(&SeedTree::new(1)).unwrap().to_model_input(64, 3).unwrap();
//! assert_eq!(data.len(), 100);
//! let x = data.batch_nchw(&[0, 5, 9]);
//! assert_eq!(x.shape(), &[3, 3, 64, 64]);
//! assert!(data.factor_index("no_such_factor").is_err());
//! ```

pub mod cifar;
pub mod contact;
pub mod dataset;
pub mod digits;
pub mod dsprites;
pub mod grid;
pub mod gz;
pub mod idx;
pub mod noise;
pub mod npy_pair;
pub mod pairs;
pub mod resize;
pub mod shapes3d;
pub mod spec;
pub mod split;

pub use dataset::{Dataset, FactorSpec, LabelKind, Split};
