//! `detaux disentangle`: stage-1 training with checkpoints, resume, pictures, latents and probe.
//!
//! The run directory (`--out RUN_DIR`) and its resume rules are the library's
//! [`crate::stage1::run_dir`]; this file maps flags to a [`Stage1Config`] and a
//! [`RunDirOptions`] and shows progress.

use crate::cli::PoolArgs;
use crate::data::noise::SaltPepper;
use crate::data::pairs::PairRule;
use crate::data::spec::SPEC_HELP;
use crate::error::{Error, Result};
use crate::losses::{DistributionMode, ReconstructionLoss};
use crate::stage1::run_dir::{RunDirOptions, Stage1Run};
use crate::stage1::{Control, EpochRecord, Observer, OracleMode, RunEnd, Stage1Config, StepRecord, Trainer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `detaux disentangle`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!(
    "Writes RUN_DIR/run.json, checkpoint.safetensors, log.jsonl, reconstructions.png, traversal.png, \
     latents.npy [n,K,d], factors.npy [n,F] and probe.json. Images are resized to --image-size (64 by default) \
     (bilinear). The CPU budget is --epochs x --pairs-per-epoch (the reference: 40 x every image).\n\n{SPEC_HELP}"
))]
pub struct DisentangleArgs {
    /// The dataset SPEC (see below); optional with --resume (taken from the checkpoint).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Run directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs [default: 10]; the beta schedules depend only on this.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Pairs per epoch [default: 20000]; 0 = one pair per training image.
    #[arg(long)]
    pub pairs_per_epoch: Option<usize>,
    /// Principal factor by name or index [default: the dataset's, e.g. object_hue, label].
    #[arg(long)]
    pub principal: Option<String>,
    /// Master seed (data subset, split, init, pairs, noise) [default: 1234].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Partner rule [default: intended].
    #[arg(long, value_enum)]
    pub pairs: Option<PairRule>,
    /// Probability that a pair differs in the principal factor (intended, minimal pairs) [default: 0.5].
    #[arg(long)]
    pub p: Option<f64>,
    /// Oracle [default: forced].
    #[arg(long, value_enum)]
    pub oracle: Option<OracleMode>,
    /// Distribution regulariser [default: reference].
    #[arg(long, value_enum)]
    pub distribution: Option<DistributionMode>,
    /// Reconstruction loss [default: mse].
    #[arg(long, value_enum)]
    pub loss: Option<ReconstructionLoss>,
    /// Salt-and-pepper noise on training pairs (reference 'SnP').
    #[arg(long)]
    pub noise: bool,
    /// Number of subspaces K [default: 10].
    #[arg(long)]
    pub subspaces: Option<usize>,
    /// Subspace width d [default: 10].
    #[arg(long)]
    pub latent_dim: Option<usize>,
    /// Adam learning rate [default: 5e-4].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Pairs per batch [default: 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Side of the model's square input: 8, 16, 32 or 64 (images are resized once) [default: 64].
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Weight of the distance loss λ_dist [default: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_distance: Option<f64>,
    /// Weight of the sparsity/orthogonality loss λ_sp [default: 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_sparsity: Option<f64>,
    /// Weight of the consistency loss λ_cons [default: 100]; 0 switches the term off.
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_consistency: Option<f64>,
    /// Weight of the distribution regulariser λ_distr [default: 1e-4].
    #[arg(long, allow_negative_numbers = true)]
    pub lambda_distribution: Option<f64>,
    /// Held-out fraction (validation, pictures, probe) [default: 0.1].
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Write a checkpoint every this many steps (and at every epoch end).
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: u64,
    /// Also write the pictures at the end of every epoch (reconstructions_eNN.png, traversal_eNN.png).
    #[arg(long)]
    pub pictures_every_epoch: bool,
    /// Neighbours of the k-NN probe.
    #[arg(long, default_value_t = 10)]
    pub probe_neighbours: usize,
    /// Stop (with a checkpoint) once this many steps are done; continue with --resume.
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<u64>,
}

fn build_config(args: &DisentangleArgs, base: Stage1Config) -> Result<Stage1Config> {
    let mut c = base;
    if let Some(e) = args.epochs {
        c.epochs = e;
    }
    if let Some(p) = args.pairs_per_epoch {
        c.pairs_per_epoch = if p == 0 { None } else { Some(p) };
    }
    if let Some(p) = &args.principal {
        c.principal = Some(p.clone());
    }
    if let Some(s) = args.seed {
        c.seed = s;
    }
    c.pair_mode = c.pair_mode.with(args.pairs, args.p)?;
    if let Some(o) = args.oracle {
        c.oracle = o;
    }
    if let Some(d) = args.distribution {
        c.losses.distribution = d;
    }
    if let Some(l) = args.loss {
        c.losses.reconstruction = l;
    }
    if args.noise {
        c.noise = Some(SaltPepper::default());
    }
    if let Some(k) = args.subspaces {
        c.n_subspaces = k;
    }
    if let Some(d) = args.latent_dim {
        c.latent_dim = d;
    }
    if let Some(lr) = args.lr {
        c.adam.lr = lr;
    }
    if let Some(b) = args.batch_size {
        c.batch_size = b;
    }
    if let Some(s) = args.image_size {
        c.image_size = s;
    }
    if let Some(v) = args.val_fraction {
        c.val_fraction = v;
    }
    for (value, slot) in [
        (args.lambda_distance, &mut c.losses.lambda_distance),
        (args.lambda_sparsity, &mut c.losses.lambda_sparsity),
        (args.lambda_consistency, &mut c.losses.lambda_consistency),
        (args.lambda_distribution, &mut c.losses.lambda_distribution),
    ] {
        if let Some(v) = value {
            *slot = v;
        }
    }
    c.validate().map_err(|e| match e {
        Error::InvalidParam { name, reason } => {
            let flag = match name.as_str() {
                "n_subspaces" => "--subspaces".to_string(),
                n if n.starts_with("--") || n.contains(' ') => n.to_string(),
                n => format!("--{}", n.replace('_', "-")),
            };
            Error::param(flag, reason)
        }
        other => other,
    })?;
    Ok(c)
}

/// Stage-1 progress on an indicatif bar (stderr), one line per epoch.
pub struct Stage1Bar {
    bar: ProgressBar,
    prefix: String,
    session_start: Instant,
    session_pairs: usize,
}

impl Stage1Bar {
    /// A bar labelled `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self::with_bar(prefix, ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()))
    }

    /// A bar labelled `prefix`, drawn in `group` beside the bars of other seeds.
    pub fn in_group(prefix: &str, group: &MultiProgress) -> Self {
        Self::with_bar(prefix, group.add(ProgressBar::new(0)))
    }

    fn with_bar(prefix: &str, bar: ProgressBar) -> Self {
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:25} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(prefix.to_string());
        Stage1Bar { bar, prefix: prefix.to_string(), session_start: Instant::now(), session_pairs: 0 }
    }
}

impl Drop for Stage1Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Stage1Bar {
    fn on_step(&mut self, t: &Trainer, r: &StepRecord) -> Result<Control> {
        self.session_pairs += r.pairs;
        let rate = self.session_pairs as f64 / self.session_start.elapsed().as_secs_f64().max(1e-9);
        let tm = &r.terms;
        self.bar.set_length((t.config().epochs * r.batches_per_epoch) as u64);
        self.bar.set_position(r.global_step);
        self.bar.set_message(format!(
            "ep {}/{} | rec {:.5} sp {:.4} cons {:.5} dist {:.4} distr {:.4} | b1 {:.3} b2 {:.3} | {rate:.0} pairs/s",
            r.epoch + 1,
            t.config().epochs,
            tm.reconstruction,
            tm.sparsity,
            tm.consistency,
            tm.distance,
            tm.distribution,
            r.betas.beta1,
            r.betas.beta2,
        ));
        Ok(Control::Continue)
    }

    fn on_epoch(&mut self, t: &Trainer, r: &EpochRecord) -> Result<Control> {
        let line = format!(
            "{} epoch {:>3}/{}: validation reconstruction {:.6}, train total {:.5} (rec {:.5})",
            self.prefix,
            r.epoch + 1,
            t.config().epochs,
            r.val_reconstruction,
            r.mean_terms.total,
            r.mean_terms.reconstruction
        );
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
        Ok(Control::Continue)
    }
}

/// Runs `detaux disentangle`.
pub fn run(args: &DisentangleArgs) -> Result<()> {
    let options = RunDirOptions {
        checkpoint_every: args.checkpoint_every,
        stop_after_steps: args.stop_after_steps,
        pictures_every_epoch: args.pictures_every_epoch,
        probe_neighbours: args.probe_neighbours,
    };
    options.validate()?;
    let (pool, threads) = args.pool.build()?;
    let dir = args.out.as_path();
    pool.install(|| -> Result<()> {
        let t0 = Instant::now();
        let mut run = if args.resume {
            Stage1Run::resume(dir, args.dataset.as_deref(), |stored| build_config(args, stored), options)?
        } else {
            let spec =
                args.dataset.as_deref().ok_or_else(|| Error::param("--dataset", "is required (unless --resume)"))?;
            let cli_defaults = Stage1Config { epochs: 10, pairs_per_epoch: Some(20_000), ..Stage1Config::default() };
            Stage1Run::fresh(dir, spec, build_config(args, cli_defaults)?, options)?
        };
        let (t, data, config) = (run.trainer(), run.data(), run.trainer().config());
        eprintln!(
            "{}: {} images {}x{}x{} loaded in {:.1}s; principal factor {}; {} train / {} held out; \
             {} epochs x {} batches of {} pairs on {threads} thread(s){}",
            run.spec(),
            data.len(),
            data.height(),
            data.width(),
            data.channels(),
            t0.elapsed().as_secs_f64(),
            run.principal_name(),
            t.split().train.len(),
            t.split().test.len(),
            config.epochs,
            t.batches_per_epoch(),
            config.batch_size,
            run.resumed_at().map(|s| format!(", resuming at step {s}")).unwrap_or_default()
        );
        let mut obs = Stage1Bar::new("disentangle");
        let end = run.train(&mut obs)?;
        let seconds = obs.session_start.elapsed().as_secs_f64();
        drop(obs);
        if end == RunEnd::Stopped {
            eprintln!("stopped after step {}; continue with --resume", run.trainer().global_step());
            return Ok(());
        }
        eprintln!("trained {} steps in {:.1}s; writing outputs", run.trainer().global_step(), seconds);
        let table = run.finish()?;
        println!("probe accuracy (held-out images, k-NN k={}; rows = subspaces):", table.config.neighbours);
        print!("{}", table.to_text());
        println!("wrote {}", dir.display());
        Ok(())
    })
}
