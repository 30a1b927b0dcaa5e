//! `detaux generate` and `detaux inspect` end to end (the binary needs the `cli` feature).
#![cfg(feature = "cli")]

use detaux::data::npy_pair::load_npy_dir;
use detaux::data::spec::DatasetSpec;
use detaux::rng::SeedTree;

mod common;
use common::cli::detaux;

fn scratch(name: &str) -> std::path::PathBuf {
    common::cli::scratch("cli", name)
}

#[test]
fn generate_writes_npy_and_a_contact_sheet_that_load_back() {
    let dir = scratch("gen3d");
    let d = dir.to_str().unwrap();
    let (code, _, err) = detaux(&["generate", "shapes3d", "--n", "100", "--out", d, "--seed", "5", "--threads", "2"]);
    assert_eq!(code, 0, "{err}");
    let back = load_npy_dir(&dir).unwrap();
    let direct = "shapes3d-synth:100".parse::<DatasetSpec>().unwrap().load(&SeedTree::new(5)).unwrap();
    assert_eq!(back.images(), direct.images());
    assert_eq!(back.factors(), direct.factors());
    assert_eq!(back.factor_specs(), direct.factor_specs());
    let png = std::fs::read(dir.join("contact_sheet.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR width/height: 8 columns x (128 + 2) + 2 = 1042.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1042);
    // inspect reads the written set and reports the 3DShapes split.
    let (code, out, err) = detaux(&["inspect", "--dataset", &format!("npy:{d}")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("images:       100") && out.contains("64x64x3"), "{out}");
    assert!(out.contains("3DShapes") && out.contains("object_hue"), "{out}");

    let dir = scratch("gends");
    let (code, _, err) = detaux(&["generate", "dsprites", "--n", "50", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let back = load_npy_dir(&dir).unwrap();
    assert_eq!((back.len(), back.channels(), back.n_factors()), (50, 1, 5));
    assert!(dir.join("contact_sheet.png").is_file());
    let _ = std::fs::remove_dir_all(scratch("gen3d"));
    let _ = std::fs::remove_dir_all(scratch("gends"));
}

#[test]
fn inspect_reports_and_fails_cleanly() {
    let (code, out, err) = detaux(&["inspect", "--dataset", "digits", "--train-fraction", "0.5"]);
    assert_eq!(code, 0, "{err}");
    for want in ["images:       1797", "8x8x1", "0..255", "label", "0:178", "train 1438 / test 359", "721 of 1438"] {
        assert!(out.contains(want), "missing '{want}' in:\n{out}");
    }
    // The split shown is the one `detaux train` uses (its seed stream and, for MNIST/CIFAR, the
    // shipped files): the same sizes as train's metrics.json for the same flags.
    let dir = scratch("inspect-vs-train");
    let (code, _, err) = detaux(&[
        "train",
        "--dataset",
        "digits",
        "--aux-labels",
        "none",
        "--epochs",
        "1",
        "--train-fraction",
        "0.5",
        "--val-fraction",
        "0.2",
        "--trunk-widths",
        "4,4,8,8",
        "--head-hidden",
        "8",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    let (_, out, _) = detaux(&["inspect", "--dataset", "digits", "--train-fraction", "0.5", "--val-fraction", "0.2"]);
    let want = format!("kept:         train {}", m["split"]["train"]);
    assert!(out.contains(&want) && out.contains(&format!("/ val {}", m["split"]["val"])), "{want}\n{out}");
    let _ = std::fs::remove_dir_all(&dir);
    for (args, want) in [
        (vec!["inspect", "--dataset", "imagenet"], "valid forms"),
        (vec!["inspect", "--dataset", "digits", "--principal", "colour"], "valid names: label"),
        (vec!["inspect", "--dataset", "mnist:/definitely/not/here"], "not found"),
        (vec!["inspect", "--dataset", "digits", "--test-fraction", "1.5"], "--test-fraction"),
        (vec!["generate", "shapes3d", "--n", "0", "--out", "/tmp/x"], "for '--n <N>'"),
    ] {
        let (code, out, err) = detaux(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(err.starts_with("error: ") && err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    let (_, help, _) = detaux(&["inspect", "--help"]);
    assert!(help.contains("SPEC forms") && help.contains("cifar10:DIR"), "{help}");
    let (_, help, _) = detaux(&["generate", "--help"]);
    assert!(help.contains("SPEC forms") && help.contains("contact_sheet.png"), "{help}");
}
