//! Shared helpers of the integration tests.
#![allow(dead_code)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod stage1_parity;

/// An NPY v1 file with the header dict `dict` taken verbatim (padded to 64 bytes as NumPy
/// does) and `data` after it: lets a test write malformed headers on purpose.
pub fn npy_raw(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut h = dict.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    v.extend_from_slice(h.as_bytes());
    v.extend_from_slice(data);
    v
}

/// The digits preset cut to a token budget (one seed, 2 stage-1 epochs of 96 pairs, 2 stage-3
/// epochs, k-means k = 3, 20 % of the training split), for pipeline tests.
pub fn tiny_pipeline_config() -> detaux::pipeline::ExperimentConfig {
    let mut c = detaux::pipeline::ExperimentConfig::from_preset(&detaux::pipeline::Preset::digits());
    c.seeds = 1;
    c.pipeline.stage1.epochs = 2;
    c.pipeline.stage1.pairs_per_epoch = Some(96);
    c.pipeline.stage3.epochs = 2;
    c.pipeline.clustering.method = "kmeans:3".parse().unwrap();
    c.pipeline.split.train_fraction = Some(0.2);
    c
}
