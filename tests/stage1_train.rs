//! Stage-1 training loop: determinism across thread counts, stop-and-resume equivalence,
//! checkpoint round trip and corruption errors, latent export, probe, config validation.
//!
//! Runs are tiny (120 images, 4 epochs × 2 batches of 4 pairs) but pass through every phase of
//! the schedule: epochs 0–1 reconstruction only, epoch 2 distance/sparsity, epoch 3 everything
//! including consistency (its mixes come from the per-step RNG streams).
#![cfg(feature = "cli")]

use detaux::data::noise::SaltPepper;
use detaux::data::spec::DatasetSpec;
use detaux::data::Dataset;
use detaux::par::ThreadPool;
use detaux::rng::SeedTree;
use detaux::stage1::checkpoint::{checkpoint_bytes, load_checkpoint, parse_checkpoint, save_checkpoint};
use detaux::stage1::{
    encode_subspaces, export_latents, probe, Control, NoObserver, Observer, ProbeConfig, RunEnd, Stage1Config,
    Stage1Step, Stage1Trainer,
};
use detaux::Error;
use ndarray::{Array2, Array3};

fn data() -> Dataset {
    "shapes3d-synth:120".parse::<DatasetSpec>().unwrap().load(&SeedTree::new(3)).unwrap()
}

fn config() -> Stage1Config {
    Stage1Config {
        epochs: 4,
        pairs_per_epoch: Some(8),
        batch_size: 4,
        principal: Some("object_hue".into()),
        noise: Some(SaltPepper::default()),
        val_fraction: 0.2,
        val_images: 8,
        seed: 11,
        ..Stage1Config::default()
    }
}

/// Stops after `n` steps; records whether consistency ran.
struct StopAfter {
    n: u64,
    consistency_seen: bool,
    steps: Vec<Stage1Step>,
}
impl Observer<Stage1Trainer> for StopAfter {
    fn on_step(&mut self, _: &Stage1Trainer, r: &Stage1Step) -> detaux::Result<Control> {
        self.consistency_seen |= r.consistency_active && r.terms.consistency > 0.0;
        self.steps.push(*r);
        Ok(if r.global_step >= self.n { Control::Stop } else { Control::Continue })
    }
}

fn full_run(threads: usize, data: &Dataset) -> (Vec<u8>, Vec<Stage1Step>) {
    ThreadPool::new(threads).unwrap().install(|| {
        let mut t = Stage1Trainer::new(config(), data).unwrap();
        let mut obs = StopAfter { n: u64::MAX, consistency_seen: false, steps: vec![] };
        assert_eq!(t.run(data, &mut obs).unwrap(), RunEnd::Finished);
        assert!(obs.consistency_seen, "the test run must reach the consistency term");
        assert_eq!(t.global_step(), 8);
        (checkpoint_bytes(&t.state(), t.config(), "shapes3d-synth:120", "fp").unwrap(), obs.steps)
    })
}

#[test]
fn same_run_at_1_and_2_threads_writes_identical_checkpoints() {
    let d = data();
    let (one, steps_one) = full_run(1, &d);
    let (two, steps_two) = full_run(2, &d);
    assert!(one == two, "checkpoints differ between 1 and 2 threads");
    assert_eq!(steps_one, steps_two);
    // Training did something: the loss moved and every term was active at the end.
    let last = steps_one.last().unwrap().terms;
    assert!(last.sparsity > 0.0 && last.distance > 0.0 && last.consistency > 0.0, "{last:?}");
    assert_ne!(steps_one[0].terms.reconstruction, last.reconstruction);
}

#[test]
fn stopped_mid_epoch_and_resumed_from_a_checkpoint_equals_an_uninterrupted_run() {
    let d = data();
    let (uninterrupted, steps_full) = full_run(2, &d);
    let pool = ThreadPool::new(2).unwrap();
    let resumed = pool.install(|| {
        let mut t = Stage1Trainer::new(config(), &d).unwrap();
        let mut obs = StopAfter { n: 5, consistency_seen: false, steps: vec![] };
        assert_eq!(t.run(&d, &mut obs).unwrap(), RunEnd::Stopped);
        assert_eq!((t.epoch(), t.batch(), t.global_step()), (2, 1, 5), "stopped mid-epoch");
        let bytes = checkpoint_bytes(&t.state(), t.config(), "shapes3d-synth:120", "fp").unwrap();
        drop(t);
        // A new process would start here: everything comes from the checkpoint.
        let ck = parse_checkpoint(&bytes).unwrap();
        let mut t = Stage1Trainer::restore(ck.config, &d, ck.state).unwrap();
        let mut rest = StopAfter { n: u64::MAX, consistency_seen: false, steps: vec![] };
        assert_eq!(t.run(&d, &mut rest).unwrap(), RunEnd::Finished);
        let mut all = obs.steps;
        all.extend(rest.steps);
        assert_eq!(all, steps_full, "per-step losses of the resumed run");
        checkpoint_bytes(&t.state(), t.config(), "shapes3d-synth:120", "fp").unwrap()
    });
    assert!(resumed == uninterrupted, "resumed run ends with different weights or optimizer state");
}

#[test]
fn checkpoint_round_trips_and_rejects_truncated_or_corrupted_files() {
    let d = data();
    let mut t = Stage1Trainer::new(config(), &d).unwrap();
    let mut obs = StopAfter { n: 3, consistency_seen: false, steps: vec![] };
    t.run(&d, &mut obs).unwrap();
    let state = t.state();
    let dir = std::env::temp_dir().join(format!("detaux-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.safetensors");
    save_checkpoint(&path, &state, t.config(), "shapes3d-synth:120", "fp").unwrap();
    let back = load_checkpoint(&path).unwrap();
    assert_eq!(back.state, state);
    assert_eq!(back.config, *t.config());
    assert_eq!(back.dataset, "shapes3d-synth:120", "fp");
    assert!(!back.state.adam.is_empty() && back.state.adam.values().all(|s| s.step == 3));

    let bytes = std::fs::read(&path).unwrap();
    // safetensors layout: u64 LE header length, JSON header, data to the end.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0);
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["__metadata__"]["format"], "detaux-stage1-checkpoint");
    assert_eq!(header["param/encoder.conv1.weight"]["shape"], serde_json::json!([32, 3, 4, 4]));

    for cut in [0, 5, 8, 100, 8 + n, bytes.len() - 1] {
        let err = parse_checkpoint(&bytes[..cut]).unwrap_err();
        assert!(err.contains("truncated") || err.contains("JSON"), "cut at {cut}: {err}");
    }
    let mut corrupt = bytes.clone();
    let last = corrupt.len() - 3;
    corrupt[last] ^= 0x40;
    assert!(parse_checkpoint(&corrupt).unwrap_err().contains("corrupted"));
    let mut bad_head = bytes.clone();
    bad_head[8] = b'[';
    assert!(parse_checkpoint(&bad_head).is_err());
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    match load_checkpoint(&path) {
        Err(Error::Format { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    assert!(matches!(load_checkpoint(&dir.join("missing")), Err(Error::Io { .. })));
    // A state that does not fit the model is refused by restore.
    let mut wrong = state.clone();
    wrong.params.pop();
    assert!(matches!(Stage1Trainer::restore(config(), &d, wrong), Err(Error::InvalidData(_))));
    let mut wrong = state;
    wrong.epoch = 99;
    assert!(matches!(Stage1Trainer::restore(config(), &d, wrong), Err(Error::InvalidData(_))));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn latent_export_is_n_by_k_by_d_in_dataset_order() {
    let d = data().to_model_input(64, 3).unwrap();
    let cfg = Stage1Config { n_subspaces: 3, latent_dim: 5, ..config() };
    let t = Stage1Trainer::new(cfg, &d).unwrap();
    let lat = export_latents(t.model(), &d).unwrap();
    assert_eq!(lat.shape(), &[120, 3, 5]);
    let some = encode_subspaces(t.model(), &d, &[7, 119]).unwrap();
    assert_eq!(some.index_axis(ndarray::Axis(0), 0), lat.index_axis(ndarray::Axis(0), 7));
    assert_eq!(some.index_axis(ndarray::Axis(0), 1), lat.index_axis(ndarray::Axis(0), 119));
    // The codes sum to the decoder input: distinct images have distinct codes.
    assert_ne!(lat.index_axis(ndarray::Axis(0), 0), lat.index_axis(ndarray::Axis(0), 1));
    let _ = NoObserver;
}

#[test]
fn probe_finds_the_factor_a_subspace_encodes() {
    // 400 images, factor a (4 values) and b (5 values), independent. Subspace 0 encodes a,
    // subspace 1 encodes b, subspace 2 is noise.
    let n = 400;
    let mut factors = Array2::<u32>::zeros((n, 2));
    let mut codes = Array3::<f32>::zeros((n, 3, 2));
    for i in 0..n {
        let (a, b) = ((i % 4) as u32, ((i / 4) % 5) as u32);
        factors[[i, 0]] = a;
        factors[[i, 1]] = b;
        let jitter = ((i * 7919) % 101) as f32 / 1000.0;
        codes[[i, 0, 0]] = a as f32 + jitter;
        codes[[i, 1, 1]] = b as f32 - jitter;
        codes[[i, 2, 0]] = ((i * 104729) % 997) as f32;
    }
    let names = vec!["a".to_string(), "b".to_string()];
    let seeds = SeedTree::new(5);
    let t = probe(codes.view(), factors.view(), &names, ProbeConfig::default(), &seeds).unwrap();
    assert_eq!((t.n_train, t.n_test), (200, 200));
    assert_eq!(t.accuracy[[0, 0]], 1.0);
    assert_eq!(t.accuracy[[1, 1]], 1.0);
    assert!(t.accuracy[[0, 1]] < 0.4 && t.accuracy[[1, 0]] < 0.45, "{}", t.to_text());
    assert!(t.accuracy[[2, 0]] < 0.45 && t.accuracy[[2, 1]] < 0.4, "{}", t.to_text());
    assert!(t.chance[0] < 0.35 && t.chance[1] < 0.3);
    assert_eq!(t, probe(codes.view(), factors.view(), &names, ProbeConfig::default(), &seeds).unwrap());
    assert!(probe(codes.view(), factors.view(), &names[..1], ProbeConfig::default(), &seeds).is_err());
    let bad = ProbeConfig { neighbours: 0, ..ProbeConfig::default() };
    assert!(probe(codes.view(), factors.view(), &names, bad, &seeds).is_err());
    let mut nan = codes.clone();
    nan[[3, 0, 0]] = f32::NAN;
    assert!(matches!(
        probe(nan.view(), factors.view(), &names, ProbeConfig::default(), &seeds),
        Err(Error::InvalidData(_))
    ));
}

#[test]
fn invalid_configs_and_inputs_are_named_errors() {
    let d = data();
    let cases: Vec<(Stage1Config, &str)> = vec![
        (Stage1Config { epochs: 0, ..config() }, "epochs"),
        (Stage1Config { batch_size: 0, ..config() }, "batch_size"),
        (Stage1Config { pairs_per_epoch: Some(2), ..config() }, "pairs_per_epoch"),
        (Stage1Config { n_subspaces: 1, ..config() }, "n_subspaces"),
        (Stage1Config { val_fraction: 1.0, ..config() }, "val_fraction"),
        (Stage1Config { pair_mode: detaux::data::pairs::PairMode::Intended { p: 1.5 }, ..config() }, "p"),
        (Stage1Config { principal: Some("colour".into()), ..config() }, "factor"),
    ];
    for (cfg, name) in cases {
        match Stage1Trainer::new(cfg, &d) {
            Err(Error::InvalidParam { name: got, reason }) => assert_eq!(got, name, "{reason}"),
            Err(e) => panic!("{name}: unexpected error {e}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
    // Images must be 64x64 (digits are 8x8 until resized).
    let digits = "digits".parse::<DatasetSpec>().unwrap().load(&SeedTree::new(0)).unwrap();
    let e = Stage1Trainer::new(config(), &digits).err().unwrap().to_string();
    assert!(e.contains("64x64"), "{e}");
    let resized = digits.to_model_input(64, 1).unwrap();
    let cfg = Stage1Config { principal: None, ..config() };
    assert!(Stage1Trainer::new(cfg, &resized).is_ok());
}

#[test]
fn smaller_model_input_trains_checkpoints_and_refuses_other_sides() {
    // Side 32: the SimpleConv stack without its second conv; same losses, same run contract.
    let data32 = data().to_model_input(32, 3).unwrap();
    let cfg = Stage1Config { image_size: 32, ..config() };
    let mut t = Stage1Trainer::new(cfg.clone(), &data32).unwrap();
    assert_eq!(t.run(&data32, &mut NoObserver).unwrap(), RunEnd::Finished);
    let latents = export_latents(t.model(), &data32).unwrap();
    assert_eq!(latents.shape(), &[120, cfg.n_subspaces, cfg.latent_dim]);
    assert!(latents.iter().all(|v| v.is_finite()));
    // The side is part of the stored config; a checkpoint round trip keeps it.
    let bytes = checkpoint_bytes(&t.state(), t.config(), "shapes3d-synth:120", "fp").unwrap();
    let back = parse_checkpoint(&bytes).unwrap();
    assert_eq!(back.config.image_size, 32);
    assert_eq!(back.config, cfg);
    // Images of another side than the config's are refused, naming the sizes.
    let err = Stage1Trainer::new(config(), &data32).err().expect("64 config, 32 images");
    assert!(err.to_string().contains("32x32") && err.to_string().contains("64x64"), "{err}");
    // Sides SimpleConv does not take are refused by the config.
    for bad in [0, 24, 128] {
        let err = Stage1Config { image_size: bad, ..config() }.validate().unwrap_err();
        assert!(err.to_string().contains("image_size"), "{bad}: {err}");
    }
}

#[test]
fn checkpoint_configs_without_an_image_size_are_side_64() {
    // Checkpoints written before the field existed hold 64 × 64 models.
    let mut v = detaux::stage1::checkpoint::config_to_json(&config());
    v.as_object_mut().unwrap().remove("image_size");
    assert_eq!(detaux::stage1::checkpoint::config_from_json(&v).unwrap().image_size, 64);
    v.as_object_mut().unwrap().insert("image_size".into(), serde_json::json!("32"));
    assert!(detaux::stage1::checkpoint::config_from_json(&v).is_err());
}

#[test]
fn run_directory_resume_writes_the_same_files_as_an_uninterrupted_run() {
    use detaux::stage1::run_dir::{RunDirOptions, Stage1Run, CHECKPOINT, LATENTS, LOG};
    let base = std::env::temp_dir().join(format!("detaux-rundir-{}", std::process::id()));
    let (a, b) = (base.join("a"), base.join("b"));
    let cfg = Stage1Config { noise: None, ..config() };
    let opts = RunDirOptions { checkpoint_every: 3, probe_neighbours: 2, ..RunDirOptions::default() };
    // Uninterrupted.
    let mut run = Stage1Run::fresh(&a, "shapes3d-synth:120", cfg.clone(), opts).unwrap();
    assert_eq!(run.train(&mut NoObserver).unwrap(), RunEnd::Finished);
    run.finish().unwrap();
    // Stopped after 5 steps, then resumed with the stored config.
    let stop = RunDirOptions { stop_after_steps: Some(5), ..opts };
    let mut first = Stage1Run::fresh(&b, "shapes3d-synth:120", cfg.clone(), stop).unwrap();
    assert_eq!(first.train(&mut NoObserver).unwrap(), RunEnd::Stopped);
    assert!(Stage1Run::fresh(&b, "shapes3d-synth:120", cfg.clone(), opts).is_err(), "a run is already there");
    // A changed setting is refused, naming it.
    let err = Stage1Run::resume(&b, None, |c| Ok(Stage1Config { epochs: 9, ..c }), opts).err().unwrap();
    assert!(err.to_string().contains("--epochs"), "{err}");
    let mut second = Stage1Run::resume(&b, None, Ok, opts).unwrap();
    assert_eq!(second.resumed_at(), Some(5));
    assert_eq!(second.train(&mut NoObserver).unwrap(), RunEnd::Finished);
    second.finish().unwrap();
    for f in [LOG, LATENTS, CHECKPOINT, "probe.json", "factors.npy"] {
        assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
    let _ = std::fs::remove_dir_all(&base);
}
