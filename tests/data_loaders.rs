//! Loaders round-trip files written here (IDX plain and gzipped, CIFAR-10 binary, NPY pairs),
//! and every bad input is an error naming the file and what is wrong.

use detaux::data::spec::DatasetSpec;
use detaux::data::{cifar, idx, npy_pair, shapes3d, LabelKind};
use detaux::io::npy::write_npy;
use detaux::rng::SeedTree;
use std::path::{Path, PathBuf};

/// A fresh scratch directory per test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detaux-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn pseudo_bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn err_of(spec: &str) -> String {
    spec.parse::<DatasetSpec>().unwrap().load(&SeedTree::new(1)).unwrap_err().to_string()
}

#[test]
fn mnist_idx_round_trip_plain() {
    let dir = scratch("mnist");
    let (tr, te) = (pseudo_bytes(5 * 28 * 28, 1), pseudo_bytes(3 * 28 * 28, 2));
    write(&dir.join("train-images-idx3-ubyte"), &idx_bytes(&[5, 28, 28], &tr));
    write(&dir.join("train-labels-idx1-ubyte"), &idx_bytes(&[5], &[3, 1, 4, 1, 5]));
    write(&dir.join("t10k-images-idx3-ubyte"), &idx_bytes(&[3, 28, 28], &te));
    write(&dir.join("t10k-labels-idx1-ubyte"), &idx_bytes(&[3], &[9, 2, 6]));
    let d = idx::load_mnist_dir(&dir).unwrap();
    assert_eq!((d.len(), d.height(), d.width(), d.channels()), (8, 28, 28, 1));
    assert_eq!(&d.images()[..tr.len()], &tr[..]);
    assert_eq!(&d.images()[tr.len()..], &te[..]);
    assert_eq!(d.labels(0), vec![3, 1, 4, 1, 5, 9, 2, 6]);
    assert_eq!(d.kind(), LabelKind::Classes);
    assert_eq!(d.factor_specs()[0].name, "label");
    let split = d.predefined_split().unwrap();
    assert_eq!((split.train.len(), split.test.len()), (5, 3));
    // Same through the SPEC, and only one of the two pairs is fine too.
    std::fs::remove_file(dir.join("train-images-idx3-ubyte")).unwrap();
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte")).unwrap();
    let d = format!("mnist:{}", dir.display()).parse::<DatasetSpec>().unwrap().load(&SeedTree::new(1)).unwrap();
    assert_eq!(d.len(), 3);
    assert!(d.predefined_split().is_none());
}

#[cfg(feature = "cli")]
#[test]
fn mnist_idx_round_trip_gzipped() {
    use std::io::Write;
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let dir = scratch("mnistgz");
    let img = pseudo_bytes(4 * 10 * 12, 3);
    write(&dir.join("train-images-idx3-ubyte.gz"), &gz(&idx_bytes(&[4, 10, 12], &img)));
    write(&dir.join("train-labels-idx1-ubyte.gz"), &gz(&idx_bytes(&[4], &[0, 9, 8, 7])));
    let d = idx::load_mnist_dir(&dir).unwrap();
    assert_eq!((d.len(), d.height(), d.width()), (4, 10, 12));
    assert_eq!(d.images(), &img[..]);
    assert_eq!(d.labels(0), vec![0, 9, 8, 7]);
    // A corrupt gzip stream names the file.
    let mut bad = gz(&idx_bytes(&[4], &[0, 9, 8, 7]));
    bad.truncate(bad.len() / 2);
    write(&dir.join("train-labels-idx1-ubyte.gz"), &bad);
    let e = idx::load_mnist_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("train-labels-idx1-ubyte.gz") && e.contains("gzip"), "{e}");
}

#[test]
fn mnist_bad_inputs() {
    let dir = scratch("mnistbad");
    let img = |n: u32| idx_bytes(&[n, 4, 4], &pseudo_bytes(n as usize * 16, 0));
    let set = |images: &[u8], labels: &[u8]| {
        write(&dir.join("train-images-idx3-ubyte"), images);
        write(&dir.join("train-labels-idx1-ubyte"), labels);
        idx::load_mnist_dir(&dir).unwrap_err().to_string()
    };
    // Missing directory / missing files / one file of a pair missing.
    let e = idx::load_mnist_dir(&dir.join("nope")).unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("not found"), "{e}");
    let e = idx::load_mnist_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("no MNIST files") && e.contains("train-images-idx3-ubyte"), "{e}");
    write(&dir.join("train-images-idx3-ubyte"), &img(2));
    let e = idx::load_mnist_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("train-labels-idx1-ubyte") && e.contains("missing"), "{e}");
    // Truncated data: 3 images promised, 2.5 present.
    let mut t = img(3);
    t.truncate(t.len() - 8);
    let e = set(&t, &idx_bytes(&[3], &[1, 2, 3]));
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("truncated"), "{e}");
    // Truncated header.
    let e = set(&img(3)[..9], &idx_bytes(&[3], &[1, 2, 3]));
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("truncated header"), "{e}");
    // Header promising far more than the file holds.
    let mut big = img(2);
    big[4..8].copy_from_slice(&60_000u32.to_be_bytes());
    let e = set(&big, &idx_bytes(&[2], &[1, 2]));
    assert!(e.contains("promises") && e.contains("960000"), "{e}");
    // Wrong magic numbers (a label file where images belong, a non-u8 type, garbage).
    let e = set(&idx_bytes(&[2], &[1, 2]), &idx_bytes(&[2], &[1, 2]));
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("magic") && e.contains("0x00000801"), "{e}");
    let mut f = img(2);
    f[2] = 0x0D;
    let e = set(&f, &idx_bytes(&[2], &[1, 2]));
    assert!(e.contains("magic") && e.contains("0x00000d03"), "{e}");
    let e = set(b"PK\x03\x04 not idx", &idx_bytes(&[2], &[1, 2]));
    assert!(e.contains("magic"), "{e}");
    // Trailing bytes.
    let mut tr = img(2);
    tr.extend_from_slice(&[0, 0]);
    assert!(set(&tr, &idx_bytes(&[2], &[1, 2])).contains("unexpected bytes"));
    // Labels and images of different lengths.
    let e = set(&img(3), &idx_bytes(&[2], &[1, 2]));
    assert!(e.contains("3 images") && e.contains("2 labels") && e.contains("train-labels-idx1-ubyte"), "{e}");
    // Zero images.
    let e = set(&img(0), &idx_bytes(&[0], &[]));
    assert!(e.contains("zero images"), "{e}");
    // Label out of range.
    let e = set(&img(2), &idx_bytes(&[2], &[1, 12]));
    assert!(e.contains("label 12"), "{e}");
}

fn cifar_record(label: u8, seed: u32) -> Vec<u8> {
    let mut r = vec![label];
    r.extend(pseudo_bytes(3072, seed));
    r
}

#[test]
fn cifar10_round_trip_and_bad_inputs() {
    let root = scratch("cifar");
    let dir = root.join("cifar-10-batches-bin"); // the archive's folder is found from its parent
    std::fs::create_dir_all(&dir).unwrap();
    let recs: Vec<Vec<u8>> = (0..6).map(|i| cifar_record(i as u8 + 2, i)).collect();
    write(&dir.join("data_batch_1.bin"), &recs[..4].concat());
    write(&dir.join("test_batch.bin"), &recs[4..].concat());
    let d = cifar::load_cifar10_dir(&root).unwrap();
    assert_eq!((d.len(), d.height(), d.width(), d.channels()), (6, 32, 32, 3));
    assert_eq!(d.labels(0), vec![2, 3, 4, 5, 6, 7]);
    let split = d.predefined_split().unwrap();
    assert_eq!((split.train.len(), split.test.len()), (4, 2));
    // Planes R, G, B (row-major) become channels-last pixels.
    for (i, rec) in recs.iter().enumerate() {
        for &(y, x) in &[(0usize, 0usize), (5, 17), (31, 31)] {
            let p = y * 32 + x;
            let px = &d.image(i)[p * 3..p * 3 + 3];
            assert_eq!(px, &[rec[1 + p], rec[1 + 1024 + p], rec[1 + 2048 + p]]);
        }
    }
    // Truncated file.
    let mut t = recs[..2].concat();
    t.truncate(2 * cifar::RECORD - 100);
    write(&dir.join("data_batch_1.bin"), &t);
    let e = cifar::load_cifar10_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("data_batch_1.bin") && e.contains("truncated") && e.contains("3073"), "{e}");
    // Empty file: zero images.
    write(&dir.join("data_batch_1.bin"), &[]);
    let e = cifar::load_cifar10_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("data_batch_1.bin") && e.contains("zero images"), "{e}");
    // Label byte out of range (a wrong file).
    write(&dir.join("data_batch_1.bin"), &cifar_record(200, 0));
    let e = cifar::load_cifar10_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("label 200"), "{e}");
    // No batch files / no directory.
    let empty = scratch("cifar-empty");
    assert!(err_of(&format!("cifar10:{}", empty.display())).contains("no CIFAR-10 batch files"));
    let e = err_of(&format!("cifar10:{}", empty.join("missing").display()));
    assert!(e.contains("missing") && e.contains("not found"), "{e}");
}

#[test]
fn npy_pair_round_trips() {
    // Grayscale [n, h, w] with int32 labels [n].
    let dir = scratch("npy-gray");
    let img = pseudo_bytes(4 * 6 * 5, 7);
    write_npy(&dir.join("images.npy"), &[4, 6, 5], &img).unwrap();
    write_npy(&dir.join("labels.npy"), &[4], &[0i32, 3, 1, 2]).unwrap();
    let d = npy_pair::load_npy_dir(&dir).unwrap();
    assert_eq!((d.len(), d.height(), d.width(), d.channels()), (4, 6, 5, 1));
    assert_eq!(d.images(), &img[..]);
    assert_eq!(d.labels(0), vec![0, 3, 1, 2]);
    assert_eq!(d.factor_specs()[0].name, "label");
    assert_eq!(d.factor_specs()[0].cardinality, 4);
    assert_eq!(d.kind(), LabelKind::Classes);
    // RGB [n, h, w, 3] with a factor matrix [n, 2] (no names: factor0, factor1).
    let dir = scratch("npy-rgb");
    let img = pseudo_bytes(3 * 4 * 4 * 3, 8);
    write_npy(&dir.join("images.npy"), &[3, 4, 4, 3], &img).unwrap();
    write_npy(&dir.join("labels.npy"), &[3, 2], &[0i64, 2, 1, 1, 2, 0]).unwrap();
    let d = npy_pair::load_npy_dir(&dir).unwrap();
    assert_eq!((d.channels(), d.n_factors()), (3, 2));
    assert_eq!(d.factor_specs()[1].name, "factor1");
    assert_eq!(d.factor_specs()[1].cardinality, 3);
    assert_eq!(d.kind(), LabelKind::Factors);
    // A generated set written by write_npy_dir loads back identically, names included.
    let dir = scratch("npy-gen");
    let g =
        shapes3d::generate("t", &shapes3d::grid().random_subset(20, &mut SeedTree::new(1).rng("t")).unwrap()).unwrap();
    npy_pair::write_npy_dir(&g, &dir).unwrap();
    let back = format!("npy:{}", dir.display()).parse::<DatasetSpec>().unwrap().load(&SeedTree::new(1)).unwrap();
    assert_eq!(back.images(), g.images());
    assert_eq!(back.factors(), g.factors());
    assert_eq!(back.factor_specs(), g.factor_specs());
    assert_eq!(back.kind(), LabelKind::Factors);
}

#[test]
fn npy_pair_bad_inputs() {
    let dir = scratch("npy-bad");
    let ok_img = pseudo_bytes(3 * 4 * 4, 1);
    let put = |img_shape: &[usize], labels: &[i64], lab_shape: &[usize]| {
        write_npy(&dir.join("images.npy"), img_shape, &ok_img[..img_shape.iter().product::<usize>()]).unwrap();
        write_npy(&dir.join("labels.npy"), lab_shape, labels).unwrap();
    };
    let load = || npy_pair::load_npy_dir(&dir).unwrap_err().to_string();
    // Missing labels file.
    write_npy(&dir.join("images.npy"), &[3, 4, 4], &ok_img).unwrap();
    let e = load();
    assert!(e.contains("labels.npy"), "{e}");
    // Different lengths.
    put(&[3, 4, 4], &[0, 1], &[2]);
    let e = load();
    assert!(e.contains("3 images") && e.contains("2 label rows") && e.contains("labels.npy"), "{e}");
    // Zero images.
    put(&[0, 4, 4], &[], &[0]);
    assert!(load().contains("zero images"));
    // Unsupported dtypes: float images, float labels.
    write_npy(&dir.join("images.npy"), &[3, 4, 4], &[0.5f32; 48]).unwrap();
    let e = load();
    assert!(e.contains("images.npy") && e.contains("unsupported dtype") && e.contains("float32"), "{e}");
    write_npy(&dir.join("images.npy"), &[3, 4, 4], &ok_img).unwrap();
    write_npy(&dir.join("labels.npy"), &[3], &[0.0f64, 1.0, 2.0]).unwrap();
    let e = load();
    assert!(e.contains("labels.npy") && e.contains("unsupported dtype") && e.contains("float64"), "{e}");
    // A dtype the NPY reader itself rejects (complex64).
    let mut c8 = b"\x93NUMPY\x01\x00".to_vec();
    let hdr = "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }          \n";
    c8.extend_from_slice(&(hdr.len() as u16).to_le_bytes());
    c8.extend_from_slice(hdr.as_bytes());
    c8.extend_from_slice(&[0u8; 24]);
    write(&dir.join("labels.npy"), &c8);
    let e = load();
    assert!(e.contains("labels.npy") && e.contains("unsupported NPY dtype"), "{e}");
    // Truncated file / header promising more data than present.
    put(&[3, 4, 4], &[0, 1, 2], &[3]);
    let mut bytes = std::fs::read(dir.join("images.npy")).unwrap();
    bytes.truncate(bytes.len() - 5);
    write(&dir.join("images.npy"), &bytes);
    let e = load();
    assert!(e.contains("images.npy") && e.contains("truncated") && e.contains("promises"), "{e}");
    // Wrong magic.
    write(&dir.join("images.npy"), b"NOTNUMPY and some more bytes");
    let e = load();
    assert!(e.contains("images.npy") && e.contains("magic"), "{e}");
    // Bad rank, bad channel count, negative labels.
    put(&[48], &[0, 1, 2], &[3]);
    assert!(load().contains("[n, h, w]"));
    put(&[3, 4, 2, 2], &[0, 1, 2], &[3]);
    assert!(load().contains("2 channels"));
    put(&[3, 4, 4], &[0, -1, 2], &[3]);
    let e = load();
    assert!(e.contains("labels.npy") && e.contains("-1"), "{e}");
    // factors.txt that disagrees with the labels.
    put(&[3, 4, 4], &[0, 1, 2], &[3]);
    write(&dir.join("factors.txt"), b"label 2\n");
    let e = load();
    assert!(e.contains("label = 2") && e.contains("factors.txt"), "{e}");
    write(&dir.join("factors.txt"), b"a 3\nb 3\n");
    assert!(load().contains("names 2 factors"));
    write(&dir.join("factors.txt"), b"a three\n");
    assert!(load().contains("cardinality"));
    // Missing directory.
    let e = err_of(&format!("npy:{}", dir.join("gone").display()));
    assert!(e.contains("gone") && e.contains("not found"), "{e}");
}

#[test]
fn spec_strings_parse_and_reject() {
    assert_eq!("digits".parse::<DatasetSpec>().unwrap(), DatasetSpec::Digits);
    assert_eq!("shapes3d-synth".parse::<DatasetSpec>().unwrap(), DatasetSpec::Shapes3dSynth { n: None });
    assert_eq!("dsprites-synth:77".parse::<DatasetSpec>().unwrap(), DatasetSpec::DspritesSynth { n: Some(77) });
    assert_eq!("mnist:/a/b".parse::<DatasetSpec>().unwrap(), DatasetSpec::Mnist("/a/b".into()));
    assert_eq!("npy:x".parse::<DatasetSpec>().unwrap().to_string(), "npy:x");
    for bad in ["imagenet", "mnist", "mnist:", "shapes3d-synth:abc", "shapes3d-synth:-3", "digits:5"] {
        let e = bad.parse::<DatasetSpec>().unwrap_err().to_string();
        assert!(e.contains("--dataset") && e.contains("valid forms") && !e.contains('\n'), "{bad}: {e}");
    }
}
