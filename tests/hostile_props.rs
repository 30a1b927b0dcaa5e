//! Property: every parser of user files returns `Ok` or a typed error on any mutation of a
//! valid file (bytes overwritten, bytes inserted, the file cut short), never a panic.
//! 10 000 seeded cases per format: NPY, IDX, CIFAR-10, gzip (IDX inside), stage-1 checkpoint.
#![cfg(feature = "io")]

use detaux::data::cifar::parse_batch;
use detaux::data::gz::{gunzip_promised, maybe_gunzip};
use detaux::data::idx::parse_idx;
use detaux::io::npy::parse_npy;
use detaux::stage1::checkpoint::{checkpoint_bytes, parse_checkpoint};
use detaux::stage1::{Stage1Config, TrainState};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::io::Write;
use std::path::Path;

/// One edit of a file: overwrite, insert or cut at a position taken modulo the length.
#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Cut(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        8 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        1 => any::<usize>().prop_map(Edit::Cut),
    ];
    proptest::collection::vec(edit, 1..6)
}

/// Edits aimed at the first `head` bytes three times out of four (headers are where parsers
/// branch), anywhere otherwise.
fn apply(valid: &[u8], head: usize, edits: &[Edit]) -> Vec<u8> {
    let mut v = valid.to_vec();
    for (i, e) in edits.iter().enumerate() {
        let span = |p: usize, len: usize| {
            let len = len.max(1);
            if i % 4 != 3 {
                p % head.min(len)
            } else {
                p % len
            }
        };
        match *e {
            Edit::Set(p, b) if !v.is_empty() => {
                let at = span(p, v.len());
                v[at] = b;
            }
            Edit::Insert(p, b) => {
                let at = span(p, v.len() + 1);
                v.insert(at.min(v.len()), b);
            }
            Edit::Cut(p) => {
                let at = span(p, v.len() + 1);
                v.truncate(at);
            }
            _ => {}
        }
    }
    v
}

/// Runs `check` on 10 000 mutations of `valid` with a fixed seed.
fn fuzz(name: &str, valid: Vec<u8>, head: usize, check: impl Fn(Vec<u8>)) {
    let config = Config { cases: 10_000, failure_persistence: None, ..Config::default() };
    let seed: [u8; 32] = *b"detaux hostile input property 01";
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let result = runner.run(&edits(), |e| {
        check(apply(&valid, head, &e));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

fn npy_bytes() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("detaux-props-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("a.npy");
    detaux::io::write_npy(&p, &[3, 4], &(0..12).map(|i| i as i64 - 3).collect::<Vec<_>>()).unwrap();
    std::fs::read(p).unwrap()
}

fn idx_bytes() -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4];
    v.extend((0..24).map(|i| i as u8));
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn npy_mutations_never_panic() {
    fuzz("npy", npy_bytes(), 128, |b| {
        let _ = parse_npy(&b);
    });
}

#[test]
fn idx_mutations_never_panic() {
    let path = Path::new("x-idx3-ubyte");
    fuzz("idx", idx_bytes(), 16, |b| {
        let _ = parse_idx(b.clone(), 3, path);
        let _ = parse_idx(b, 1, path);
    });
}

#[test]
fn cifar_mutations_never_panic() {
    let mut valid = Vec::new();
    for r in 0..2u8 {
        valid.push(r);
        valid.extend((0..3072).map(|i| (i % 251) as u8));
    }
    let path = Path::new("data_batch_1.bin");
    fuzz("cifar", valid, 3073 * 2, |b| {
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        let _ = parse_batch(&b, path, &mut images, &mut labels);
    });
}

#[test]
fn gzip_mutations_never_panic() {
    let path = Path::new("x.gz");
    let mut valid = gz(&idx_bytes()[..20]);
    valid.extend(gz(&idx_bytes()[20..]));
    fuzz("gzip", valid, 64, |b| {
        let _ = maybe_gunzip(b.clone(), path);
        if let Ok(out) = gunzip_promised(b, path, 16, |h| {
            let dims: Option<usize> = (0..3)
                .map(|d| u32::from_be_bytes(h[4 + 4 * d..8 + 4 * d].try_into().unwrap()) as usize)
                .try_fold(16usize, |a, d| a.checked_mul(d.max(1)));
            Ok(dims.unwrap_or(16))
        }) {
            let _ = parse_idx(out, 3, path);
        }
    });
}

#[test]
fn checkpoint_mutations_never_panic() {
    let t = |shape: &[usize], v: f32| ndarray::ArrayD::from_elem(ndarray::IxDyn(shape), v);
    let mut adam = std::collections::BTreeMap::new();
    adam.insert("w".to_string(), detaux::optim::AdamState { step: 3, m: t(&[2, 3], 0.5), v: t(&[2, 3], 0.25) });
    let state = TrainState {
        epoch: 1,
        batch: 2,
        global_step: 7,
        params: vec![("w".into(), t(&[2, 3], 1.5)), ("b".into(), t(&[3], -1.0))],
        adam,
        epoch_sum: Default::default(),
        epoch_steps: 2,
    };
    let config = Stage1Config { pairs_per_epoch: Some(64), ..Stage1Config::default() };
    let valid = checkpoint_bytes(&state, &config, "digits", "0123456789abcdef").unwrap();
    let back = parse_checkpoint(&valid).unwrap();
    assert_eq!(back.state, state);
    let head = valid.len() - 4 * (6 * 3 + 3);
    fuzz("checkpoint", valid, head, |b| {
        let _ = parse_checkpoint(&b);
    });
}
