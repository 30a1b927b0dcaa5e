//! Hostile small files: NPY headers that are not dicts or have a bad `fortran_order`,
//! temporary files left by killed writers, and write errors named by the target file.

use detaux::io::npy::parse_npy;
use detaux::io::write_atomic;

mod common;

fn npy_with_header(dict: &str) -> Vec<u8> {
    common::npy_raw(dict, &[1, 2])
}

#[test]
fn npy_headers_must_be_dicts_with_a_boolean_fortran_order() {
    assert!(parse_npy(&npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }")).is_ok());
    let open = parse_npy(&npy_with_header("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), ")).unwrap_err();
    assert!(open.contains("dict"), "{open}");
    let lower = parse_npy(&npy_with_header("{'descr': '|u1', 'fortran_order': false, 'shape': (2,), }")).unwrap_err();
    assert!(lower.contains("'fortran_order' is 'false'"), "{lower}");
    let fortran = parse_npy(&npy_with_header("{'descr': '|u1', 'fortran_order': True, 'shape': (2,), }")).unwrap_err();
    assert!(fortran.contains("Fortran-order"), "{fortran}");
}

#[test]
fn leftover_temporary_files_of_dead_writers_are_removed() {
    let dir = std::env::temp_dir().join(format!("detaux-hostile-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // PID 4194304 is above Linux's largest PID: never a running process.
    let dead = dir.join(".a.bin.tmp-4194304");
    // PID 1 always runs.
    let live = dir.join(".a.bin.tmp-1");
    let other = dir.join(".b.bin.tmp-4194304");
    for p in [&dead, &live, &other] {
        std::fs::write(p, b"partial").unwrap();
    }
    write_atomic(&dir.join("a.bin"), b"done").unwrap();
    assert_eq!(std::fs::read(dir.join("a.bin")).unwrap(), b"done");
    if std::path::Path::new("/proc/self").exists() {
        assert!(!dead.exists(), "a dead writer's temporary file is removed");
    }
    assert!(live.exists() && other.exists(), "other files are left alone");
}

#[test]
fn write_errors_name_the_target_file() {
    let dir = std::env::temp_dir().join(format!("detaux-hostile-tmpname-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let err = write_atomic(&dir.join("missing").join("target.json"), b"x").unwrap_err().to_string();
    assert!(err.contains("target.json") && !err.contains(".tmp-"), "{err}");
}

/// `clusters.json` is the manifest of `aux_labels.npy`: labels it does not describe (what a
/// kill between the two writes of `detaux cluster` used to leave) are refused, naming the file.
#[cfg(feature = "io")]
#[test]
fn aux_labels_that_their_clusters_json_does_not_describe_are_refused() {
    use detaux::cluster::job::labels_fingerprint;
    use detaux::mtl::data::load_aux_labels;
    let dir = std::env::temp_dir().join(format!("detaux-hostile-manifest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let old: Vec<i64> = (0..30).map(|i| i % 3).collect();
    let new: Vec<i64> = (0..30).map(|i| i % 5).collect();
    let report =
        |labels: &[i64]| format!("{{\"n_labels\": 3, \"aux_labels_fingerprint\": \"{}\"}}", labels_fingerprint(labels));
    std::fs::write(dir.join("clusters.json"), report(&old)).unwrap();
    let labels = dir.join("aux_labels.npy");
    detaux::io::write_npy(&labels, &[30], &new).unwrap();
    let err = load_aux_labels(&labels, 30).unwrap_err().to_string();
    assert!(err.contains("aux_labels.npy") && err.contains("describes other labels"), "{err}");
    // A report of these labels, no report, or another file name: accepted.
    std::fs::write(dir.join("clusters.json"), report(&new)).unwrap();
    assert_eq!(load_aux_labels(&labels, 30).unwrap().classes, 5);
    std::fs::write(dir.join("clusters.json"), report(&old)).unwrap();
    let mine = dir.join("my_labels.npy");
    detaux::io::write_npy(&mine, &[30], &new).unwrap();
    assert_eq!(load_aux_labels(&mine, 30).unwrap().classes, 5);
    std::fs::remove_file(dir.join("clusters.json")).unwrap();
    assert_eq!(load_aux_labels(&labels, 30).unwrap().classes, 5);
}

/// Finite f64 latents beyond the f32 range are named as such, not as "non-finite".
#[cfg(feature = "io")]
#[test]
fn f64_latents_beyond_the_f32_range_are_named_as_such() {
    use detaux::stage1::run_dir::read_latents;
    let dir = std::env::temp_dir().join(format!("detaux-hostile-latents-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("big.npy");
    detaux::io::write_npy(&p, &[2, 2], &[0.5f64, 1e300, -2.0, 3.0]).unwrap();
    let err = read_latents(&p).unwrap_err().to_string();
    assert!(err.contains("big.npy") && err.contains("1e300") && err.contains("f32 range"), "{err}");
    detaux::io::write_npy(&p, &[2, 2], &[0.5f64, 1e30, -2.0, 3.0]).unwrap();
    assert!(read_latents(&p).is_ok());
}

/// `inspect` shows the split `train` uses: for CIFAR-10 (and MNIST) the shipped train/test
/// files, not a stratified split of their union.
#[cfg(feature = "cli")]
#[test]
fn inspect_shows_the_shipped_split_of_cifar() {
    let dir = common::cli::scratch_dir("hostile", "cifar-split");
    let records = |labels: &[u8]| -> Vec<u8> {
        labels.iter().flat_map(|&l| std::iter::once(l).chain((0..3072).map(move |i| (i % 7) as u8 + l))).collect()
    };
    std::fs::write(dir.join("data_batch_1.bin"), records(&[0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])).unwrap();
    std::fs::write(dir.join("test_batch.bin"), records(&[2, 1, 0, 2, 1])).unwrap();
    let spec = format!("cifar10:{}", dir.display());
    let (code, out, err) = common::cli::detaux(&["inspect", "--dataset", &spec]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the dataset's own train/test files: train 12 / test 5"), "{out}");
}

/// `generate`'s files are written as a unit: into a hidden temporary directory renamed into
/// place (a dead writer's leftover is removed), and an existing set is never overwritten, so
/// new images never sit beside old labels.
#[cfg(feature = "io")]
#[test]
fn a_generated_directory_is_written_as_a_unit_and_never_overwritten() {
    use detaux::data::npy_pair::{load_npy_dir, write_npy_dir_new};
    let root = std::env::temp_dir().join(format!("detaux-hostile-gen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let leftover = root.join(".set.tmp-4194304");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("images.npy"), b"partial").unwrap();
    let load = |seed| {
        let spec: detaux::data::spec::DatasetSpec = "shapes3d-synth:20".parse().unwrap();
        spec.load(&detaux::rng::SeedTree::new(seed)).unwrap()
    };
    let out = root.join("set");
    write_npy_dir_new(&load(1), &out).unwrap();
    assert!(!leftover.exists(), "a dead writer's temporary directory is removed");
    let names: Vec<String> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["set".to_string()], "only the finished directory");
    let before = std::fs::read(out.join("images.npy")).unwrap();
    let err = write_npy_dir_new(&load(2), &out).unwrap_err().to_string();
    assert!(err.contains("--out") && err.contains("not empty"), "{err}");
    assert_eq!(std::fs::read(out.join("images.npy")).unwrap(), before);
    assert_eq!(load_npy_dir(&out).unwrap().len(), 20);
}
