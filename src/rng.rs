//! RNG discipline: one master seed, named streams derived from it.
//!
//! Every random draw in detaux comes from a [`SeedTree`] built from the user's `--seed`.
//! A stream is addressed by a path of names (and optional indices), e.g.
//! `SeedTree::new(1234).child("stage1").rng("init")`; the same path always gives the same
//! stream, different paths give independent streams, and adding a new stream never changes an
//! existing one.
//!
//! Derivation: each path component is hashed with 64-bit FNV-1a and mixed into the parent's
//! 64-bit key with SplitMix64 (`key' = splitmix64(key ^ splitmix64(hash ^ index·φ))`, φ the
//! golden-ratio constant). A stream's generator is [`ChaCha8Rng`], seeded with four SplitMix64
//! outputs of the final key (32 bytes, little-endian). ChaCha8 is portable and its output is
//! specified, unlike `StdRng`; `rand`, `rand_chacha` and `rand_distr` are pinned exactly in
//! `Cargo.toml`, and `tests/rng_golden.rs` pins the first samples of every named stream.
//!
//! No OS entropy is ever used. Never derive a stream from a thread id or a counter shared
//! between threads: derive one per work item from its index instead
//! ([`SeedTree::child_indexed`]).
//!
//! ```
//! use detaux::rng::SeedTree;
//! use rand::Rng;
//! let seeds = SeedTree::new(1234);
//! let a: u64 = seeds.rng("shuffle").gen();
//! let b: u64 = SeedTree::new(1234).rng("shuffle").gen();
//! assert_eq!(a, b);
//! assert_ne!(a, seeds.rng("init").gen::<u64>());
//! ```

use rand::SeedableRng;
pub use rand_chacha::ChaCha8Rng;

/// The generator type of every stream.
pub type Rng = ChaCha8Rng;

/// Names of the streams the library uses (the golden test pins the first samples of each).
pub mod streams {
    /// Parameter initialisation.
    pub const INIT: &str = "init";
    /// Epoch shuffles of a sampler.
    pub const SHUFFLE: &str = "shuffle";
    /// Pair sampling (stage 1).
    pub const PAIRS: &str = "pairs";
    /// Data noise (salt and pepper).
    pub const NOISE: &str = "noise";
    /// Dropout masks.
    pub const DROPOUT: &str = "dropout";
    /// Consistency-loss subset selection.
    pub const CONSISTENCY: &str = "consistency";
    /// Train/test splits and subsampling.
    pub const SPLIT: &str = "split";
    /// Clustering (k-means init, fit samples).
    pub const CLUSTER: &str = "cluster";
    /// Procedural data generation.
    pub const GENERATE: &str = "generate";
    /// Every name above, in a fixed order.
    pub const ALL: [&str; 9] = [INIT, SHUFFLE, PAIRS, NOISE, DROPOUT, CONSISTENCY, SPLIT, CLUSTER, GENERATE];
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a of a string.
#[inline]
pub fn fnv1a64(s: &str) -> u64 {
    fnv1a64_bytes(s.as_bytes())
}

/// 64-bit FNV-1a of bytes (checksums and data fingerprints; not a cryptographic hash).
#[inline]
pub fn fnv1a64_bytes(bytes: &[u8]) -> u64 {
    fnv1a64_continue(FNV1A64_OFFSET, bytes)
}

/// The FNV-1a 64 offset basis: the hash of no bytes.
pub const FNV1A64_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;

/// FNV-1a 64 state `h` after also reading `bytes`, so that
/// `fnv1a64_continue(fnv1a64_bytes(a), b)` is the hash of `a` followed by `b`.
#[inline]
pub fn fnv1a64_continue(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// A node of the seed hierarchy: a 64-bit key from which named children and streams derive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeedTree {
    key: u64,
}

impl SeedTree {
    /// The root of the hierarchy for a master seed.
    pub fn new(seed: u64) -> Self {
        SeedTree { key: splitmix64(seed) }
    }

    /// The child named `name`.
    pub fn child(&self, name: &str) -> SeedTree {
        self.child_indexed(name, 0)
    }

    /// The `index`-th child named `name` (per-run, per-epoch or per-item streams).
    pub fn child_indexed(&self, name: &str, index: u64) -> SeedTree {
        let h = splitmix64(fnv1a64(name) ^ index.wrapping_mul(GOLDEN));
        SeedTree { key: splitmix64(self.key ^ h) }
    }

    /// The generator of stream `name` under this node.
    pub fn rng(&self, name: &str) -> Rng {
        self.child(name).to_rng()
    }

    /// The generator of the `index`-th stream `name` under this node.
    pub fn rng_indexed(&self, name: &str, index: u64) -> Rng {
        self.child_indexed(name, index).to_rng()
    }

    /// A 64-bit seed for code that takes one (derived, so it is as independent as a stream).
    pub fn seed_u64(&self) -> u64 {
        splitmix64(self.key ^ 0xD1B5_4A32_D192_ED03)
    }

    /// This node's own generator.
    pub fn to_rng(&self) -> Rng {
        let mut bytes = [0u8; 32];
        let mut z = self.key;
        for chunk in bytes.chunks_exact_mut(8) {
            z = splitmix64(z);
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        ChaCha8Rng::from_seed(bytes)
    }
}
