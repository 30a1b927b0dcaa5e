//! Progress on stderr: one indicatif bar per training run, fed by the trainers' observers, and
//! one line per epoch above it (plain lines when stderr is not a terminal). The bars of seeds
//! that `detaux run` trains at the same time are drawn together.

use crate::error::Result;
use crate::mtl::{MtlEpoch, MtlStep, MtlTrainer};
use crate::observe::{Control, Observer};
use crate::pipeline::verdict::Verdict;
use crate::pipeline::PipelineObserver;
use crate::stage1::{Stage1Epoch, Stage1Step, Stage1Trainer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Instant;

/// A bar labelled with a prefix; observes a stage-1 or a stage-3 run.
pub struct Bar {
    bar: ProgressBar,
    prefix: String,
    start: Instant,
    pairs: usize,
    /// When the current epoch started (the previous epoch's end), its pairs (stage 1) or
    /// images (stage 3) so far, and when its last step ended (stage 3).
    epoch_start: Instant,
    epoch_items: usize,
    last_step: Instant,
}

impl Bar {
    /// A bar labelled `prefix`, alone on stderr or in `group`.
    pub fn new(prefix: &str, group: Option<&MultiProgress>) -> Self {
        let bar = match group {
            Some(g) => g.add(ProgressBar::new(0)),
            None => ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()),
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:25} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(prefix.to_string());
        let now = Instant::now();
        Bar { bar, prefix: prefix.to_string(), start: now, pairs: 0, epoch_start: now, epoch_items: 0, last_step: now }
    }

    /// Seconds since the bar was made.
    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn line(&self, text: impl std::fmt::Display) {
        let line = format!("{} {text}", self.prefix);
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Observer<Stage1Trainer> for Bar {
    fn on_step(&mut self, t: &Stage1Trainer, r: &Stage1Step) -> Result<Control> {
        self.pairs += r.pairs;
        self.epoch_items += r.pairs;
        let rate = self.pairs as f64 / self.seconds().max(1e-9);
        self.bar.set_length((t.config().epochs * r.batches_per_epoch) as u64);
        self.bar.set_position(r.global_step);
        let b = &r.betas;
        self.bar.set_message(format!("{} | b1 {:.3} b2 {:.3} | {rate:.0} pairs/s", r.terms, b.beta1, b.beta2));
        Ok(Control::Continue)
    }
    fn on_epoch(&mut self, _: &Stage1Trainer, r: &Stage1Epoch) -> Result<Control> {
        // The epoch's throughput end to end: pair sampling, loading, noise, steps, logging,
        // checkpoints and the validation pass (compare with `benches/train_step.rs`).
        let rate = self.epoch_items as f64 / self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        self.line(format!("{r} | {rate:.1} pairs/s"));
        (self.epoch_start, self.epoch_items) = (Instant::now(), 0);
        Ok(Control::Continue)
    }
}

impl Observer<MtlTrainer> for Bar {
    fn on_step(&mut self, _: &MtlTrainer, r: &MtlStep) -> Result<Control> {
        self.epoch_items += r.images;
        self.last_step = Instant::now();
        self.bar.set_length(r.total_steps as u64);
        self.bar.set_position(r.global_step as u64);
        self.bar.set_message(format!("epoch {} loss {:.4}", r.epoch + 1, r.loss));
        Ok(Control::Continue)
    }
    fn on_epoch(&mut self, _: &MtlTrainer, r: &MtlEpoch) -> Result<Control> {
        // The training part of the epoch end to end: shuffling, batching, u8 -> f32, the steps
        // and the observer (not the evaluation after the last step); compare with
        // `benches/mtl_step.rs`.
        let seconds = self.last_step.duration_since(self.epoch_start).as_secs_f64().max(1e-9);
        self.line(format!("{r} | {:.1} training images/s", self.epoch_items as f64 / seconds));
        (self.epoch_start, self.epoch_items) = (Instant::now(), 0);
        Ok(Control::Continue)
    }
}

/// The progress of `detaux run`: a bar per stage-1 run and per arm, a line per stage.
pub struct RunProgress {
    bars: MultiProgress,
}

impl Default for RunProgress {
    fn default() -> Self {
        RunProgress { bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()) }
    }
}

impl RunProgress {
    fn line(&self, line: String) {
        // Plain stderr when the bars are hidden or the terminal write fails.
        if self.bars.is_hidden() || self.bars.println(&line).is_err() {
            eprintln!("{line}");
        }
    }
}

impl PipelineObserver for RunProgress {
    fn on_stage(&mut self, seed: u64, stage: &str) {
        self.line(format!("seed {seed}: {stage}"));
    }
    fn on_verdict(&mut self, seed: u64, v: &Verdict) {
        self.line(format!("seed {seed}: {}", v.isolation_line()));
        self.line(format!("seed {seed}: {}", v.carried_line()));
    }
    fn on_epoch_verdict(&mut self, seed: u64, epoch: usize, v: &Verdict) {
        self.line(format!("seed {seed} disentangle epoch {epoch:>3}: {}", v.isolation_line()));
    }
    fn stage1(&mut self, seed: u64) -> Box<dyn Observer<Stage1Trainer>> {
        Box::new(Bar::new(&format!("seed {seed} disentangle"), Some(&self.bars)))
    }
    fn arm(&mut self, arm: &str, seed: u64) -> Box<dyn Observer<MtlTrainer>> {
        Box::new(Bar::new(&format!("seed {seed} {arm}"), Some(&self.bars)))
    }
}
