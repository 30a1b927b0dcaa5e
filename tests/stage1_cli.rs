//! `detaux disentangle` end to end: outputs, stop-and-`--resume` and kill-and-`--resume`
//! equivalence at the file level, and one-line errors for bad flags and inputs.
#![cfg(feature = "cli")]

use detaux::io::{read_npy, NpyData};
use std::path::{Path, PathBuf};

mod common;
use common::cli::detaux;

fn scratch(name: &str) -> PathBuf {
    common::cli::scratch("dis", name)
}

/// The data and batching of every run here: 120 images, 4 epochs of batches of 4 pairs.
const SMALL: &[&str] =
    &["--dataset", "shapes3d-synth:120", "--epochs", "4", "--batch-size", "4", "--val-fraction", "0.2"];

/// A tiny run reaching every loss term: 4 epochs x 2 batches of 4 pairs.
const TINY: &[&str] = &["--pairs-per-epoch", "8", "--principal", "object_hue", "--seed", "9", "--noise"];

/// `detaux disentangle --out DIR` with [`SMALL`], then `flags`, then `extra`.
fn disentangle_args<'a>(dir: &'a Path, flags: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["disentangle", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(flags);
    args.extend_from_slice(extra);
    args
}

fn run(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    detaux(&disentangle_args(dir, TINY, extra))
}

fn read(dir: &Path, f: &str) -> Vec<u8> {
    std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
}

#[test]
fn stopped_and_resumed_run_writes_the_same_files_as_an_uninterrupted_one() {
    let full = scratch("full");
    let (code, out, err) = run(&full, &["--threads", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("probe accuracy") && out.contains("object_hue"), "{out}");
    for f in ["run.json", "checkpoint.safetensors", "log.jsonl", "reconstructions.png", "traversal.png", "probe.json"] {
        assert!(full.join(f).is_file(), "missing {f}");
    }
    let lat = read_npy(&full.join("latents.npy")).unwrap();
    assert_eq!(lat.shape, vec![120, 10, 10]);
    assert!(matches!(lat.data, NpyData::F32(_)));
    let fac = read_npy(&full.join("factors.npy")).unwrap();
    assert_eq!(fac.shape, vec![120, 6]);
    let log = String::from_utf8(read(&full, "log.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().filter(|l| l["event"] == "step").count(), 8);
    assert_eq!(lines.iter().filter(|l| l["event"] == "epoch").count(), 4);
    let last_step = lines.iter().rev().find(|l| l["event"] == "step").unwrap();
    for k in
        ["reconstruction", "sparsity", "consistency", "distance", "distribution", "total", "beta1", "beta2", "beta3"]
    {
        assert!(last_step[k].is_number(), "log lacks {k}: {last_step}");
    }
    assert!(last_step["consistency"].as_f64().unwrap() > 0.0);
    let probe: serde_json::Value = serde_json::from_slice(&read(&full, "probe.json")).unwrap();
    assert_eq!(probe["subspaces"].as_array().unwrap().len(), 10);
    assert!(probe["subspaces"][0]["accuracy"]["object_hue"].is_number());
    let run_json: serde_json::Value = serde_json::from_slice(&read(&full, "run.json")).unwrap();
    assert_eq!(run_json["dataset"], "shapes3d-synth:120");
    assert_eq!(run_json["principal"]["name"], "object_hue");

    // Same command at 1 thread, stopped mid-epoch 2 (after step 5) and resumed.
    let cut = scratch("cut");
    let (code, _, err) = run(&cut, &["--threads", "1", "--stop-after-steps", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert!(!cut.join("latents.npy").exists());
    let d = cut.to_str().unwrap();
    let (code, _, err) = detaux(&["disentangle", "--out", d, "--resume", "--threads", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resuming at step 5"), "{err}");
    for f in
        ["checkpoint.safetensors", "log.jsonl", "latents.npy", "factors.npy", "probe.json", "run.json", "traversal.png"]
    {
        assert!(read(&full, f) == read(&cut, f), "{f} differs after stop + resume");
    }
    let _ = std::fs::remove_dir_all(&full);
    let _ = std::fs::remove_dir_all(&cut);
}

/// The run of [`killed_mid_epoch_and_resumed_run_ends_with_the_same_files`] (with [`SMALL`]):
/// 25 batches per epoch, a checkpoint every 7 steps (so a kill usually lands between two).
const LONGER: &[&str] = &["--pairs-per-epoch", "100", "--seed", "5", "--checkpoint-every", "7", "--threads", "1"];

/// Steps logged so far in `dir/log.jsonl` (complete lines only).
fn logged_steps(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .map(|t| t.lines().filter(|l| l.ends_with('}') && l.contains("\"event\":\"step\"")).count())
        .unwrap_or(0)
}

/// The process is SIGKILLed (no chance to flush or write anything) somewhere in epoch 2,
/// after at least one mid-epoch checkpoint; `--resume` then continues from the last checkpoint
/// on disk, drops the log lines written after it, and ends with the same weights, log,
/// latents and probe as a run that was never interrupted.
#[test]
fn killed_mid_epoch_and_resumed_run_ends_with_the_same_files() {
    let full = scratch("kill-full");
    let (code, _, err) = detaux(&disentangle_args(&full, LONGER, &[]));
    assert_eq!(code, 0, "{err}");

    let cut = scratch("kill-cut");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_detaux"))
        .args(disentangle_args(&cut, LONGER, &[]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start detaux");
    let start = std::time::Instant::now();
    while logged_steps(&cut) < 35 {
        assert!(child.try_wait().expect("poll detaux").is_none(), "the run ended before it could be killed");
        assert!(start.elapsed().as_secs() < 600, "no progress in the run to kill");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().expect("kill detaux");
    let status = child.wait().expect("reap detaux");
    assert!(status.code().is_none(), "detaux must end by the signal, not exit: {status}");
    assert!(!cut.join("latents.npy").exists(), "the killed run must not have finished");
    let killed_at = logged_steps(&cut);
    assert!(killed_at < 100, "killed after {killed_at} of 100 steps");

    let d = cut.to_str().unwrap();
    let (code, _, err) = detaux(&["disentangle", "--out", d, "--resume", "--threads", "1"]);
    assert_eq!(code, 0, "{err}");
    let resumed_at: usize = err
        .split("resuming at step ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no resume step in: {err}"));
    assert!(
        resumed_at >= 7 && resumed_at <= killed_at && killed_at > 25,
        "resumed at step {resumed_at} after a kill at {killed_at} logged steps"
    );
    for f in ["checkpoint.safetensors", "log.jsonl", "latents.npy", "factors.npy", "probe.json", "run.json"] {
        assert!(read(&full, f) == read(&cut, f), "{f} differs after kill (at >= {killed_at} logged steps) + resume");
    }
    let _ = std::fs::remove_dir_all(&full);
    let _ = std::fs::remove_dir_all(&cut);
}

#[test]
fn bad_flags_and_inputs_give_one_line_errors() {
    let dir = scratch("bad");
    let d = dir.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--dataset", "nosuch"], "unknown dataset"),
        (vec!["--dataset", "shapes3d-synth:100", "--epochs", "0"], "--epochs"),
        (vec!["--dataset", "shapes3d-synth:100", "--principal", "colour"], "valid names"),
        (vec!["--dataset", "shapes3d-synth:100", "--p", "2"], "--p"),
        (vec!["--dataset", "shapes3d-synth:100", "--pairs", "uniform", "--p", "0.5"], "--p"),
        (vec!["--dataset", "shapes3d-synth:100", "--threads", "0"], "--threads"),
        (vec!["--dataset", "shapes3d-synth:100", "--checkpoint-every", "0"], "--checkpoint-every"),
        (vec!["--dataset", "shapes3d-synth:100", "--subspaces", "1"], "--subspaces"),
        (vec!["--dataset", "shapes3d-synth:100", "--lambda-consistency", "-1"], "--lambda-consistency"),
        (vec!["--dataset", "shapes3d-synth:100", "--lambda-distance", "NaN"], "--lambda-distance"),
        (vec!["--dataset", "npy:/definitely/not/here"], "not/here"),
        (vec!["--resume"], "checkpoint.safetensors"),
        (vec![], "--dataset"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["disentangle", "--out", d];
        args.extend_from_slice(&extra);
        let (code, _, err) = detaux(&args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{extra:?}: not one line:\n{err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(want), "{extra:?}: {err}");
    }
    // A corrupted checkpoint is refused on --resume, naming the file.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("checkpoint.safetensors"), b"\x10\0\0\0\0\0\0\0{}").unwrap();
    let (code, _, err) = detaux(&["disentangle", "--out", d, "--resume"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: ") && err.contains("checkpoint.safetensors") && err.contains("truncated"), "{err}");
    // An existing run is not overwritten without --resume.
    let (code, _, err) = detaux(&["disentangle", "--out", d, "--dataset", "shapes3d-synth:100"]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds a run"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
