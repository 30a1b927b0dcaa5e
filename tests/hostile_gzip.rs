//! Hostile gzip: multi-member files are read whole, bytes after the gzip data are an error,
//! and a decompression bomb is inflated only up to the size its IDX header promises.
#![cfg(feature = "io")]

use detaux::data::gz::{gunzip_promised, maybe_gunzip};
use detaux::data::idx::read_idx;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn labels_idx(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detaux-hostile-gz-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn a_multi_member_file_is_read_whole() {
    let whole = labels_idx(&[1, 2, 3, 4, 5, 6]);
    let mut two = gz(&whole[..7]);
    two.extend(gz(&whole[7..]));
    let p = file("multi.gz", &two);
    assert_eq!(read_idx(&p, 1).unwrap().data, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(maybe_gunzip(two, &p).unwrap(), whole);
}

#[test]
fn bytes_after_the_gzip_data_are_an_error() {
    let mut bytes = gz(&labels_idx(&[1, 2, 3]));
    bytes.extend_from_slice(b"garbage");
    let p = file("trailing.gz", &bytes);
    let err = read_idx(&p, 1).unwrap_err().to_string();
    assert!(err.contains("trailing.gz") && err.contains("7 bytes after the end of the gzip data"), "{err}");
    assert!(maybe_gunzip(bytes, Path::new("x")).is_err());
}

#[test]
fn a_bomb_is_inflated_only_to_the_promised_size() {
    // A label file promising 10 labels, followed by 64 MB of zeros.
    let mut big = labels_idx(&[0; 10]);
    big.resize(64 << 20, 0);
    let bomb = gz(&big);
    assert!(bomb.len() < 200_000);
    let out = gunzip_promised(bomb.clone(), Path::new("bomb.gz"), 8, |_| Ok(18)).unwrap();
    assert_eq!(out.len(), 19, "one byte past the promise, not the whole stream");
    let p = file("bomb.gz", &bomb);
    let err = read_idx(&p, 1).unwrap_err().to_string();
    assert!(err.contains("bomb.gz") && err.contains("unexpected bytes"), "{err}");
}

#[test]
fn a_truncated_member_is_an_error() {
    let bytes = gz(&labels_idx(&[1; 100]));
    let p = file("cut.gz", &bytes[..bytes.len() - 5]);
    let err = read_idx(&p, 1).unwrap_err().to_string();
    assert!(err.contains("cut.gz") && err.contains("gzip"), "{err}");
}
