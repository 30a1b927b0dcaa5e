//! Per-seed stage-1 state in a run directory: an interrupted experiment resumed with
//! `Stage1Source::Resume`, and one that reuses another run's stage 1, give the same report as an
//! uninterrupted run; a state made with other settings is refused with the flag's name.
#![cfg(feature = "io")]

use detaux::pipeline::{Experiment, ExperimentConfig, PipelineObserver, Quiet, Stage1Source};
use detaux::stage1::{Control, Observer, Stage1Epoch, Stage1Trainer};
use detaux::Error;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("detaux-test-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

mod common;

fn tiny_config() -> ExperimentConfig {
    common::tiny_pipeline_config()
}

/// `report.json` without the wall times.
fn metrics(exp: &Experiment, data: &detaux::data::Dataset, dir: &Path, source: &Stage1Source) -> serde_json::Value {
    let report = exp.run_to_dir(data, dir, source, &mut Quiet).unwrap();
    let mut json = report.to_json().unwrap();
    json.as_object_mut().unwrap().remove("timing");
    json
}

/// Stops stage 1 at its first epoch end, as a killed run would after that epoch's save.
struct StopAfterFirstEpoch;
impl Observer<Stage1Trainer> for StopAfterFirstEpoch {
    fn on_epoch(&mut self, _: &Stage1Trainer, _: &Stage1Epoch) -> detaux::Result<Control> {
        Ok(Control::Stop)
    }
}
struct Interrupting;
impl PipelineObserver for Interrupting {
    fn stage1(&mut self, _: u64) -> Box<dyn Observer<Stage1Trainer>> {
        Box::new(StopAfterFirstEpoch)
    }
}

#[test]
fn resumed_and_reused_stage1_give_the_uninterrupted_report() {
    let config = tiny_config();
    let data = config.load_data().unwrap();
    let exp = Experiment::new(config.clone()).unwrap();
    let (a, b, c) = (scratch("a"), scratch("b"), scratch("c"));

    let straight = metrics(&exp, &data, &a, &Stage1Source::Train);
    assert!(a.join("seed-1234/stage1.safetensors").exists());

    // Interrupted after stage 1's first epoch: an error, and the epoch-1 state on disk.
    let Err(err) = exp.run_to_dir(&data, &b, &Stage1Source::Train, &mut Interrupting) else {
        panic!("an interrupted stage 1 must not give a report")
    };
    assert!(err.to_string().contains("stopped"), "{err}");
    let partial = detaux::stage1::checkpoint::load_checkpoint(&b.join("seed-1234/stage1.safetensors")).unwrap();
    assert_eq!((partial.state.epoch, partial.state.batch), (1, 0));
    assert!(!b.join("report.json").exists());

    let resumed = metrics(&exp, &data, &b, &Stage1Source::Resume);
    assert_eq!(straight, resumed, "a resumed stage 1 changed the report");

    let reused = metrics(&exp, &data, &c, &Stage1Source::Reuse(a.clone()));
    assert_eq!(straight, reused, "a reused stage 1 changed the report");
    assert_eq!(
        std::fs::read(a.join("seed-1234/stage1.safetensors")).unwrap(),
        std::fs::read(c.join("seed-1234/stage1.safetensors")).unwrap()
    );

    // Other stage-1 settings: refused, naming the flag and the setting that differs.
    let mut other = config.clone();
    other.pipeline.stage1.losses.lambda_distance = 10.0;
    let err =
        Experiment::new(other).unwrap().run_to_dir(&data, &scratch("d"), &Stage1Source::Reuse(a.clone()), &mut Quiet);
    match err {
        Err(Error::InvalidParam { name, reason }) => {
            assert_eq!(name, "--stage1-from");
            assert!(reason.contains("lambda_distance"), "{reason}");
        }
        other => panic!("expected --stage1-from error, got {:?}", other.map(|_| ())),
    }
    // Other training images (another train fraction): refused.
    let mut fewer = config.clone();
    fewer.pipeline.split.train_fraction = Some(0.3);
    let err = Experiment::new(fewer).unwrap().run_to_dir(&data, &scratch("e"), &Stage1Source::Resume, &mut Quiet);
    assert!(err.is_ok(), "a fresh directory has nothing to resume: trains from scratch");
    let mut fewer = config.clone();
    fewer.pipeline.split.train_fraction = Some(0.3);
    let err =
        Experiment::new(fewer).unwrap().run_to_dir(&data, &scratch("f"), &Stage1Source::Reuse(a.clone()), &mut Quiet);
    assert!(
        matches!(&err, Err(Error::InvalidParam { reason, .. }) if reason.contains("other data")),
        "{:?}",
        err.map(|_| ())
    );
    // Reuse needs a state per seed.
    let empty = scratch("g");
    std::fs::create_dir_all(&empty).unwrap();
    let err = exp.run_to_dir(&data, &scratch("h"), &Stage1Source::Reuse(empty.clone()), &mut Quiet);
    assert!(matches!(&err, Err(Error::InvalidParam { name, .. }) if name == "--stage1-from"));
    for d in [a, b, c, empty, scratch("d"), scratch("e"), scratch("f"), scratch("h")] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Fails stage 1 of seed `bad` at its first step; records the seeds whose stage 1 finished.
struct FailingSeed {
    bad: u64,
    finished: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
}
struct FailAt {
    fail: bool,
    seed: u64,
    finished: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
}
impl Observer<Stage1Trainer> for FailAt {
    fn on_step(&mut self, _: &Stage1Trainer, _: &detaux::stage1::Stage1Step) -> detaux::Result<Control> {
        if self.fail {
            return Err(Error::InvalidData(format!("seed {} fails on purpose", self.seed)));
        }
        Ok(Control::Continue)
    }
    fn on_epoch(&mut self, t: &Stage1Trainer, r: &Stage1Epoch) -> detaux::Result<Control> {
        if r.epoch + 1 == t.config().epochs {
            self.finished.lock().unwrap().push(self.seed);
        }
        Ok(Control::Continue)
    }
}
impl PipelineObserver for FailingSeed {
    fn stage1(&mut self, seed: u64) -> Box<dyn Observer<Stage1Trainer>> {
        Box::new(FailAt { fail: seed == self.bad, seed, finished: self.finished.clone() })
    }
}

/// Seeds run side by side in a 2-thread pool: a failing seed's own error is returned (not the
/// cancellation of the seed beside it), and the other seed stops instead of finishing.
#[test]
fn a_failing_seed_stops_the_seeds_beside_it_and_its_error_is_returned() {
    let mut config = tiny_config();
    config.seeds = 2;
    config.pipeline.stage1.pairs_per_epoch = Some(3200);
    let data = config.load_data().unwrap();
    let exp = Experiment::new(config).unwrap();
    let pool = detaux::par::ThreadPool::new(2).unwrap();
    let finished = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut obs = FailingSeed { bad: 1235, finished: finished.clone() };
    let Err(err) = pool.install(|| exp.run(&data, &mut obs)) else { panic!("a failing seed fails the experiment") };
    assert!(err.to_string().contains("seed 1235 fails on purpose"), "{err}");
    assert!(finished.lock().unwrap().is_empty(), "seed 1234 trained on after seed 1235 failed");
}

/// Records the per-epoch verdicts a run reports.
#[derive(Default)]
struct EpochVerdicts(Vec<(u64, usize, detaux::pipeline::verdict::Verdict)>);
impl PipelineObserver for EpochVerdicts {
    fn on_epoch_verdict(&mut self, seed: u64, epoch: usize, v: &detaux::pipeline::verdict::Verdict) {
        self.0.push((seed, epoch, v.clone()));
    }
}

/// `probe_every_epoch` reports one verdict per stage-1 epoch, the last one equal to the run's
/// verdict (the same model, the same probed images), and changes nothing else in the report;
/// a resumed run reports only the epochs it trained.
#[test]
fn probe_every_epoch_reports_each_epochs_verdict_and_changes_nothing_else() {
    let mut config = tiny_config();
    config.pipeline.stage1.epochs = 3;
    let data = config.load_data().unwrap();
    let (a, b, c) = (scratch("probe-off"), scratch("probe-on"), scratch("probe-resumed"));
    let plain = metrics(&Experiment::new(config.clone()).unwrap(), &data, &a, &Stage1Source::Train);
    assert_eq!(plain["details"]["seeds"][0]["stage1_epoch_verdicts"], serde_json::json!([]));

    config.pipeline.probe_every_epoch = true;
    let exp = Experiment::new(config.clone()).unwrap();
    let mut seen = EpochVerdicts::default();
    let report = exp.run_to_dir(&data, &b, &Stage1Source::Train, &mut seen).unwrap();
    let epochs: Vec<(u64, usize)> = seen.0.iter().map(|(s, e, _)| (*s, *e)).collect();
    assert_eq!(epochs, [(1234, 1), (1234, 2), (1234, 3)]);
    assert_eq!(seen.0[2].2, report.seeds[0].verdict, "the last epoch's verdict is the run's");
    let mut probed = report.to_json().unwrap();
    probed.as_object_mut().unwrap().remove("timing");
    let listed = probed["details"]["seeds"][0]["stage1_epoch_verdicts"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[1]["epoch"], 2);
    // Everything but the new list and the setting itself is the plain run's.
    probed["details"]["seeds"][0]["stage1_epoch_verdicts"] = serde_json::json!([]);
    assert_eq!(probed["arms"], plain["arms"]);
    assert_eq!(probed["details"], plain["details"]);

    // Interrupted after epoch 1, then resumed: the resumed run probes epochs 2 and 3 only.
    assert!(exp.run_to_dir(&data, &c, &Stage1Source::Train, &mut Interrupting).is_err());
    let mut resumed = EpochVerdicts::default();
    exp.run_to_dir(&data, &c, &Stage1Source::Resume, &mut resumed).unwrap();
    let epochs: Vec<usize> = resumed.0.iter().map(|(_, e, _)| *e).collect();
    assert_eq!(epochs, [2, 3]);
    assert_eq!(resumed.0[1].2, seen.0[2].2);
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Fails the training of one stage-3 arm of one seed at its first step.
struct FailingArm {
    seed: u64,
    arm: &'static str,
}
struct FailStep(String);
impl Observer<detaux::mtl::MtlTrainer> for FailStep {
    fn on_step(&mut self, _: &detaux::mtl::MtlTrainer, _: &detaux::mtl::MtlStep) -> detaux::Result<Control> {
        Err(Error::InvalidData(self.0.clone()))
    }
}
impl PipelineObserver for FailingArm {
    fn arm(&mut self, arm: &str, seed: u64) -> Box<dyn Observer<detaux::mtl::MtlTrainer>> {
        if seed == self.seed && arm == self.arm {
            Box::new(FailStep(format!("seed {seed} {arm} fails on purpose")))
        } else {
            Box::new(detaux::observe::NoObserver)
        }
    }
}

/// Stage-3 arms are jobs of their own (beside other seeds' stage 1): an arm's failure is the
/// experiment's error, at 1 and 2 threads, not a cancellation or a missing result.
#[test]
fn a_failing_arm_is_the_experiments_error() {
    let mut config = tiny_config();
    config.seeds = 3;
    let data = config.load_data().unwrap();
    let exp = Experiment::new(config).unwrap();
    for threads in [1, 2] {
        let pool = detaux::par::ThreadPool::new(threads).unwrap();
        let mut obs = FailingArm { seed: 1235, arm: "random-aux" };
        let Err(err) = pool.install(|| exp.run(&data, &mut obs)) else { panic!("a failing arm fails the experiment") };
        assert!(err.to_string().contains("seed 1235 random-aux fails on purpose"), "{threads} threads: {err}");
    }
}
