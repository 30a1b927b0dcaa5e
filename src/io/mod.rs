//! File I/O shared by every stage: NPY arrays and atomic writes.

pub mod atomic;
pub mod npy;

pub use atomic::{write_atomic, write_atomic_with};
pub use npy::{read_npy, write_npy, NpyArray, NpyData, NpyElement};
