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
