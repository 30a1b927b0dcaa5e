//! The hostile-input corpus: files this test writes itself (truncations, lying headers, bad
//! dtypes, huge and sparse labels, corrupt gzip members, crafted checkpoints and run
//! directories) and bad flags, given to every subcommand of the built binary.
//!
//! Every call runs under an address-space limit of 1 GiB (`ulimit -v`) and must end with exit
//! code 2 and exactly one stderr line `error: ...` naming the file or flag, with no panic, no
//! abort, and no file created, changed or removed anywhere in the corpus directory.
#![cfg(all(feature = "cli", target_os = "linux"))]

use detaux::io::write_npy;
use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// An NPY pair directory: 20 images 8×8, `labels` as int64.
fn npy_dir(root: &Path, name: &str, labels: &[i64], factors: Option<&str>) -> String {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    write_npy(&d.join("images.npy"), &[labels.len(), 8, 8], &vec![100u8; labels.len() * 64]).unwrap();
    write_npy(&d.join("labels.npy"), &[labels.len()], labels).unwrap();
    if let Some(f) = factors {
        write(&d.join("factors.txt"), f.as_bytes());
    }
    format!("npy:{}", d.display())
}

fn good_labels() -> Vec<i64> {
    (0..20).map(|i| i % 2).collect()
}

/// Every file of `root` with a hash of its content (directories as `None`).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<u64>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.insert(p.clone(), None);
                stack.push(p);
            } else {
                out.insert(p.clone(), Some(detaux::rng::fnv1a64_bytes(&std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

struct Case {
    args: Vec<String>,
    needle: String,
}

fn case(args: &[&str], needle: &str) -> Case {
    Case { args: args.iter().map(|s| s.to_string()).collect(), needle: needle.to_string() }
}

/// Runs one case under the address-space limit; returns a description of what went wrong.
fn check(root: &Path, c: &Case) -> Option<String> {
    let before = snapshot(root);
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_detaux"))
        .args(&c.args)
        .current_dir(root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit {:?}", out.status));
    }
    if lines.len() != 1 || !lines[0].starts_with("error: ") {
        problems.push(format!("stderr is not one error line: {stderr:?}"));
    }
    if !stderr.contains(&c.needle) {
        problems.push(format!("message does not name '{}'", c.needle));
    }
    if stderr.contains("panicked") || stderr.contains("memory allocation") {
        problems.push("panic or abort".into());
    }
    let after = snapshot(root);
    if after != before {
        let changed: Vec<_> = after.keys().chain(before.keys()).filter(|k| after.get(*k) != before.get(*k)).collect();
        problems.push(format!("files changed: {changed:?}"));
    }
    (!problems.is_empty()).then(|| format!("{:?}: {}\n    stderr: {}", c.args, problems.join("; "), stderr.trim()))
}

#[test]
fn every_subcommand_refuses_every_hostile_input_cleanly() {
    let root = common::cli::scratch_dir("hostile", "corpus");
    let r = |p: &str| root.join(p).display().to_string();
    let mut specs: Vec<(String, String)> = Vec::new(); // (SPEC, what the message names)

    // NPY pair directories.
    let d = root.join("npy-trunc");
    npy_dir(&root, "npy-trunc", &good_labels(), None);
    let bytes = std::fs::read(d.join("images.npy")).unwrap();
    write(&d.join("images.npy"), &bytes[..bytes.len() - 10]);
    specs.push((format!("npy:{}", d.display()), "images.npy".into()));
    let d = root.join("npy-lying");
    npy_dir(&root, "npy-lying", &good_labels(), None);
    write(
        &d.join("images.npy"),
        &common::npy_raw("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000, 64, 64), }", &[1; 1280]),
    );
    specs.push((format!("npy:{}", d.display()), "images.npy".into()));
    let d = root.join("npy-huge-shape");
    npy_dir(&root, "npy-huge-shape", &good_labels(), None);
    write(
        &d.join("images.npy"),
        &common::npy_raw(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }",
            &[1; 64],
        ),
    );
    specs.push((format!("npy:{}", d.display()), "images.npy".into()));
    let d = root.join("npy-f32");
    npy_dir(&root, "npy-f32", &good_labels(), None);
    write_npy(&d.join("images.npy"), &[20, 8, 8], &vec![0.5f32; 20 * 64]).unwrap();
    specs.push((format!("npy:{}", d.display()), "images.npy".into()));
    let d = root.join("npy-nodict");
    npy_dir(&root, "npy-nodict", &good_labels(), None);
    write(
        &d.join("images.npy"),
        &common::npy_raw("'descr': '|u1', 'fortran_order': False, 'shape': (20, 8, 8)", &[1; 1280]),
    );
    specs.push((format!("npy:{}", d.display()), "images.npy".into()));
    let mut huge = good_labels();
    huge[0] = 1 << 40;
    specs.push((npy_dir(&root, "npy-huge-label", &huge, None), "labels.npy".into()));
    huge[0] = 5_000_000;
    specs.push((npy_dir(&root, "npy-5e6-label", &huge, None), "labels.npy".into()));
    huge[0] = -1;
    specs.push((npy_dir(&root, "npy-negative", &huge, None), "labels.npy".into()));
    let sparse: Vec<i64> = (0..20).map(|i| if i % 2 == 0 { 3 } else { 900 }).collect();
    specs.push((npy_dir(&root, "npy-sparse", &sparse, None), "labels.npy".into()));
    specs.push((npy_dir(&root, "npy-card", &good_labels(), Some("label 4000000000\n")), "factors.txt".into()));
    specs.push((format!("npy:{}", r("missing-dir")), "missing-dir".into()));

    // MNIST IDX directories (plain and gzip).
    let labels: Vec<u8> = (0..20).map(|i| (i % 10) as u8).collect();
    let mnist = |name: &str, images: Vec<u8>, labs: Vec<u8>, gzipped: bool| -> String {
        let d = root.join(name);
        let suffix = if gzipped { ".gz" } else { "" };
        write(&d.join(format!("train-images-idx3-ubyte{suffix}")), &images);
        write(&d.join(format!("train-labels-idx1-ubyte{suffix}")), &labs);
        format!("mnist:{}", d.display())
    };
    let good_images = idx(&[20, 28, 28], &[7; 20 * 784]);
    let good_labs = idx(&[20], &labels);
    specs.push((mnist("mnist-trunc", good_images[..5000].to_vec(), good_labs.clone(), false), "train-images".into()));
    specs.push((mnist("mnist-magic", idx(&[20, 28], &[7; 560]), good_labs.clone(), false), "train-images".into()));
    specs.push((
        mnist("mnist-huge-dims", idx(&[u32::MAX, u32::MAX, u32::MAX], &[7; 100]), good_labs.clone(), false),
        "train-images".into(),
    ));
    specs.push((mnist("mnist-label-10", good_images.clone(), idx(&[20], &[10; 20]), false), "train-labels".into()));
    let mut corrupt = gz(&good_images);
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    specs.push((mnist("mnist-gz-corrupt", corrupt, gz(&good_labs), true), "train-images".into()));
    let mut trailing = gz(&good_images);
    trailing.extend_from_slice(b"trailing garbage");
    specs.push((mnist("mnist-gz-trailing", trailing, gz(&good_labs), true), "train-images".into()));
    let mut bomb = idx(&[20, 28, 28], &[7; 20 * 784]);
    bomb.resize(300 << 20, 0);
    specs.push((mnist("mnist-gz-bomb", gz(&bomb), gz(&good_labs), true), "train-images".into()));

    // CIFAR-10 directories.
    let cifar = |name: &str, bytes: Vec<u8>| -> String {
        write(&root.join(name).join("data_batch_1.bin"), &bytes);
        format!("cifar10:{}", root.join(name).display())
    };
    specs.push((cifar("cifar-trunc", vec![1; 3000]), "data_batch_1.bin".into()));
    let mut rec = vec![200u8];
    rec.extend_from_slice(&[1; 3072]);
    specs.push((cifar("cifar-label", rec), "data_batch_1.bin".into()));
    let mut one_class = Vec::new();
    for _ in 0..20 {
        one_class.push(4u8);
        one_class.extend_from_slice(&[9; 3072]);
    }
    let one_class_spec = cifar("cifar-one-class", one_class);

    let mut cases = Vec::new();
    for (spec, needle) in &specs {
        cases.push(case(&["inspect", "--dataset", spec], needle));
        cases
            .push(case(&["train", "--dataset", spec, "--aux-labels", "none", "--out", "out", "--epochs", "1"], needle));
        cases.push(case(&["disentangle", "--dataset", spec, "--out", "out", "--epochs", "1"], needle));
        cases.push(case(&["run", "--dataset", spec, "--out", "out"], needle));
    }
    cases.push(case(&["train", "--dataset", &one_class_spec, "--aux-labels", "none", "--out", "out"], "cifar10"));
    let one_class_npy = npy_dir(&root, "npy-one-class", &[0; 20], Some("label 2\n"));
    cases.push(case(&["train", "--dataset", &one_class_npy, "--aux-labels", "none", "--out", "out"], "npy-one-class"));

    // Auxiliary label files for `train --dataset digits`.
    let aux = |name: &str, values: &[i64]| -> String {
        let p = root.join("aux").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_npy(&p, &[values.len()], values).unwrap();
        p.display().to_string()
    };
    let mut a: Vec<i64> = (0..1797).map(|i| i % 3).collect();
    let mut aux_files = Vec::new();
    a[0] = 10_000_000;
    aux_files.push(aux("huge.npy", &a));
    a[0] = i64::MAX;
    aux_files.push(aux("max.npy", &a));
    a[0] = -1;
    aux_files.push(aux("negative.npy", &a));
    aux_files.push(aux("sparse.npy", &(0..1797).map(|i| if i % 2 == 0 { 3 } else { 900 }).collect::<Vec<_>>()));
    aux_files.push(aux("ones.npy", &[1; 1797]));
    aux_files.push(aux("short.npy", &[0, 1, 0]));
    let p = root.join("aux").join("float.npy");
    write_npy(&p, &[1797], &vec![0.5f32; 1797]).unwrap();
    aux_files.push(p.display().to_string());
    let p = root.join("aux").join("truncated.npy");
    write(&p, &common::npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (1797,), }", &[0; 100]));
    aux_files.push(p.display().to_string());
    for f in &aux_files {
        let name = Path::new(f).file_name().unwrap().to_str().unwrap().to_string();
        cases.push(case(&["train", "--dataset", "digits", "--aux-labels", f, "--out", "out", "--epochs", "1"], &name));
    }

    // Crafted run directories: checkpoints for `disentangle --resume`, latents for `cluster`.
    let crafted: Vec<(&str, Vec<u8>)> = vec![
        ("ckpt-empty", vec![]),
        ("ckpt-huge-length", u64::MAX.to_le_bytes().to_vec()),
        ("ckpt-not-json", [16u64.to_le_bytes().to_vec(), b"[not json here!]".to_vec()].concat()),
        ("ckpt-shape", {
            let head = br#"{"__metadata__":{"format":"detaux-stage1-checkpoint","version":"2","checksum":"0000000000000000"},"param/x":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,0]}}"#;
            let mut v = (head.len() as u64).to_le_bytes().to_vec();
            v.extend_from_slice(head);
            v
        }),
    ];
    for (name, bytes) in &crafted {
        write(&root.join(name).join("checkpoint.safetensors"), bytes);
        cases.push(case(&["disentangle", "--out", &r(name), "--resume"], "checkpoint.safetensors"));
    }
    write(&root.join("run-bad").join("latents.npy"), b"\x93NUMPY garbage");
    cases.push(case(&["cluster", "--run", &r("run-bad")], "latents.npy"));
    let p = root.join("same.npy");
    write_npy(&p, &[50, 4], &[0.25f32; 200]).unwrap();
    cases.push(case(&["cluster", "--latents", &r("same.npy"), "--clustering", "kmeans:3"], "same.npy"));
    cases.push(case(&["cluster", "--latents", &r("same.npy"), "--silhouette-sample", "0"], "--silhouette-sample"));
    cases.push(case(&["cluster", "--latents", &r("same.npy")], "same.npy"));
    let p = root.join("huge.npy");
    write_npy(&p, &[50, 4], &(0..200).map(|i| if i == 7 { 1e300 } else { f64::from(i) }).collect::<Vec<_>>()).unwrap();
    cases.push(case(&["cluster", "--latents", &r("huge.npy"), "--clustering", "kmeans:3"], "huge.npy"));
    cases.push(case(&["cluster", "--latents", &r("same.npy"), "--clustering", "kmeans:-1"], "--clustering"));
    cases.push(case(&["cluster", "--latents", &r("same.npy"), "--clustering", "hdbscan:40:0"], "--clustering"));

    // Flags out of range (checked before any data is loaded).
    let dis = |extra: &[&str], needle: &str| {
        let mut a = vec!["disentangle", "--dataset", "digits", "--out", "out"];
        a.extend_from_slice(extra);
        case(&a, needle)
    };
    cases.push(dis(&["--pairs-per-epoch", "1000000000"], "--pairs-per-epoch"));
    cases.push(dis(&["--pairs-per-epoch", "18446744073709551615"], "--pairs-per-epoch"));
    cases.push(dis(&["--latent-dim", "100000000"], "--latent-dim"));
    cases.push(dis(&["--subspaces", "100000"], "--subspaces"));
    cases.push(dis(&["--threads", "1000"], "--threads"));
    cases.push(dis(&["--epochs", "0"], "--epochs"));
    cases.push(dis(&["--epochs", "-1"], "--epochs"));
    cases.push(case(&["cluster", "--latents", &r("same.npy"), "--n-init", "-3"], "--n-init"));
    cases.push(case(&["cluster", "--run", &r("run-bad"), "--factors", &r("same.npy")], "--factors"));
    let tr = |extra: &[&str], needle: &str| {
        let mut a = vec!["train", "--dataset", "digits", "--aux-labels", "none", "--out", "out"];
        a.extend_from_slice(extra);
        case(&a, needle)
    };
    cases.push(tr(&["--trunk-widths", "100000"], "--trunk-widths"));
    cases.push(tr(&["--threads", "1000"], "--threads"));
    cases.push(tr(&["--lr", "NaN"], "--lr"));
    cases.push(tr(&["--head-hidden", "0"], "--head-hidden"));
    cases.push(case(&["inspect", "--dataset", "digits", "--threads", "0"], "--threads"));
    cases.push(case(&["inspect", "--dataset", "nonsense"], "--dataset"));
    cases.push(case(&["inspect", "--dataset", "digits", "--model-size", "0"], "--model-size"));
    cases.push(dis(&["--probe-neighbours", "5000"], "--probe-neighbours"));
    cases.push(case(&["generate", "shapes3d", "--n", "0", "--out", "out"], "n"));
    cases.push(case(&["generate", "shapes3d", "--n", "10", "--out", &r("aux")], "--out"));
    cases.push(case(&["demo", "--threads", "1000"], "--threads"));
    cases.push(case(&["info", "--bogus"], "--bogus"));
    cases.push(case(&["run", "--dataset", "digits", "--out", "out", "--threads", "1000"], "--threads"));

    let failures: Vec<String> = cases.iter().filter_map(|c| check(&root, c)).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn train_fails_when_its_epoch_log_cannot_be_written() {
    let out = common::cli::scratch_dir("hostile", "epochs-log");
    std::fs::create_dir_all(out.join("epochs.jsonl")).unwrap();
    let (code, _, err) = common::cli::detaux(&[
        "train",
        "--dataset",
        "digits",
        "--aux-labels",
        "none",
        "--out",
        out.to_str().unwrap(),
        "--epochs",
        "1",
        "--trunk-widths",
        "4,4",
        "--head-hidden",
        "8",
        "--threads",
        "1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.lines().last().unwrap().starts_with("error: ") && err.contains("epochs.jsonl"), "{err}");
    assert!(!out.join("metrics.json").exists());
}

/// The issue's stage-3 one-liner: `--lr 1` on 5 % of the digits drives the loss to about 1e10
/// (finite, so not caught by a NaN check); training stops with "training diverged".
#[test]
fn train_stops_when_stage3_diverges() {
    let out = common::cli::scratch("hostile", "diverge");
    let d = out.to_str().unwrap();
    let args = ["train", "--dataset", "digits", "--aux-labels", "none", "--out", d, "--epochs", "2", "--lr", "1"];
    let (code, _, err) = common::cli::detaux(&[&args[..], &["--train-fraction", "0.05", "--threads", "1"]].concat());
    assert_eq!(code, 2, "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("error: ") && last.contains("training diverged") && last.contains("--lr"), "{err}");
    assert!(!out.exists(), "a run that failed in its first epoch leaves no --out behind");
}
