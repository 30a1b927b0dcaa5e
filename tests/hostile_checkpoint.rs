//! Hostile checkpoints and resumes: an edited header, a crafted tensor shape, new data under the
//! same SPEC, and a relative SPEC resumed from another directory.
#![cfg(feature = "cli")]

use detaux::stage1::checkpoint::{checkpoint_bytes, parse_checkpoint};
use detaux::stage1::{Control, Observer, Stage1Config, Stage1Step, Stage1Trainer};
use std::path::{Path, PathBuf};

mod common;
use common::cli::detaux;

struct Stop(u64);
impl Observer<Stage1Trainer> for Stop {
    fn on_step(&mut self, _: &Stage1Trainer, r: &Stage1Step) -> detaux::Result<Control> {
        Ok(if r.global_step >= self.0 { Control::Stop } else { Control::Continue })
    }
}

fn checkpoint() -> Vec<u8> {
    let spec: detaux::data::spec::DatasetSpec = "shapes3d-synth:60".parse().unwrap();
    let data = spec.load(&detaux::rng::SeedTree::new(3)).unwrap();
    let cfg = Stage1Config {
        epochs: 2,
        pairs_per_epoch: Some(8),
        batch_size: 4,
        val_fraction: 0.2,
        val_images: 4,
        adam: detaux::optim::AdamConfig { lr: 0.0005, ..Stage1Config::default().adam },
        ..Stage1Config::default()
    };
    let mut t = Stage1Trainer::new(cfg, &data).unwrap();
    t.run(&data, &mut Stop(2)).unwrap();
    checkpoint_bytes(&t.state(), t.config(), "shapes3d-synth:60", &data.fingerprint()).unwrap()
}

fn replace_once(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let pos = bytes.windows(from.len()).position(|w| w == from.as_bytes()).unwrap_or_else(|| panic!("{from}"));
    let mut out = bytes[..pos].to_vec();
    out.extend_from_slice(to.as_bytes());
    out.extend_from_slice(&bytes[pos + from.len()..]);
    out
}

#[test]
fn an_edited_header_is_refused() {
    let bytes = checkpoint();
    assert!(parse_checkpoint(&bytes).is_ok());
    for (from, to) in [
        ("\\\"lr\\\":\\\"0.0005\\\"", "\\\"lr\\\":\\\"0.0009\\\""),
        ("\"global_step\":\"2\"", "\"global_step\":\"3\""),
        ("\"batch\":\"0\"", "\"batch\":\"1\""),
        ("shapes3d-synth:60", "shapes3d-synth:61"),
    ] {
        let edited = replace_once(&bytes, from, to);
        let err = parse_checkpoint(&edited).unwrap_err();
        assert!(err.contains("corrupted or edited"), "{from}: {err}");
    }
}

#[test]
fn a_crafted_tensor_shape_is_an_error_not_a_panic() {
    let bytes = checkpoint();
    let edited = replace_once(&bytes, "\"shape\":[32,3,4,4]", "\"shape\":[4294967296,4294967296,4,1]");
    // The header length changed: rebuild the length prefix.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize + edited.len() - bytes.len();
    let mut crafted = edited;
    crafted[..8].copy_from_slice(&(n as u64).to_le_bytes());
    let err = parse_checkpoint(&crafted).unwrap_err();
    assert!(err.contains("do not hold shape"), "{err}");
}

fn write_npy_set(dir: &Path, seed: u64) {
    let out =
        detaux(&["generate", "shapes3d", "--n", "60", "--seed", &seed.to_string(), "--out", dir.to_str().unwrap()]);
    assert_eq!(out.0, 0, "{}", out.2);
}

fn disentangle(cwd: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["disentangle", "--epochs", "2", "--pairs-per-epoch", "8", "--batch-size", "4"];
    args.extend_from_slice(&["--val-fraction", "0.2", "--probe-neighbours", "3"]);
    args.extend_from_slice(extra);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_detaux")).args(&args).current_dir(cwd).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn scratch(name: &str) -> PathBuf {
    common::cli::scratch_dir("hostile-ckpt", name)
}

#[test]
fn resume_refuses_changed_data_and_works_from_another_directory() {
    let root = scratch("resume");
    let data = root.join("data");
    write_npy_set(&data, 1);
    let run = root.join("run");
    // A relative SPEC, from `root`.
    let (code, _, err) = disentangle(&root, &["--dataset", "npy:data", "--out", "run", "--stop-after-steps", "1"]);
    assert_eq!(code, 0, "{err}");
    // Resumed from another working directory: the stored SPEC is absolute.
    let elsewhere = scratch("elsewhere");
    let (code, _, err) =
        disentangle(&elsewhere, &["--out", run.to_str().unwrap(), "--resume", "--stop-after-steps", "2"]);
    assert_eq!(code, 0, "{err}");
    // One malformed line in the log (a line cut by a kill) and a dead writer's temporary
    // checkpoint: the resume drops that line alone, keeps steps 1 and 2, and removes the file.
    let log = run.join("log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let first_line = text.find('\n').unwrap() + 1;
    std::fs::write(&log, format!("{}{{\"event\":\"st\n{}", &text[..first_line], &text[first_line..])).unwrap();
    // PID 4194304 is above Linux's largest PID: never a running process.
    let leftover = run.join(".checkpoint.safetensors.tmp-4194304");
    std::fs::write(&leftover, b"partial").unwrap();
    // The same relative SPEC given again from `root` is the same data.
    let (code, _, err) =
        disentangle(&root, &["--dataset", "npy:data", "--out", "run", "--resume", "--stop-after-steps", "3"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("dropped 1 malformed line"), "{err}");
    let steps: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "step")
        .map(|v| v["global_step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![1, 2, 3], "the log after a malformed line is kept");
    assert!(!leftover.exists(), "a dead writer's temporary checkpoint is removed");
    // A flag that changes the config is named.
    let (code, _, err) = disentangle(&root, &["--out", "run", "--resume", "--lr", "0.1"]);
    assert_ne!(code, 0);
    assert!(err.contains("--lr") && err.lines().count() == 1, "{err}");
    // New data under the same SPEC: refused, saying so.
    std::fs::remove_dir_all(&data).unwrap();
    write_npy_set(&data, 2);
    let before = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let (code, _, err) = disentangle(&root, &["--out", "run", "--resume"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--resume") && err.contains("changed"), "{err}");
    assert_eq!(std::fs::read(run.join("checkpoint.safetensors")).unwrap(), before);
}
