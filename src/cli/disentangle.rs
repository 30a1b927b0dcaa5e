//! `detaux disentangle`: stage-1 training with checkpoints, resume, pictures, latents and probe.
//!
//! Run directory (`--out RUN_DIR`):
//!
//! | file | content |
//! |---|---|
//! | `run.json` | dataset SPEC, data seed, principal factor, the full config, sizes, split sizes |
//! | `checkpoint.safetensors` | latest checkpoint ([`crate::stage1::checkpoint`] format) |
//! | `log.jsonl` | one line per step (`"event":"step"`: every loss term, betas) and per epoch (`"event":"epoch"`: validation loss, mean terms) |
//! | `reconstructions.png` | held-out inputs (top) vs reconstructions (bottom) |
//! | `traversal.png` | latent traversal, one row per subspace |
//! | `latents.npy` | `[n, K, d]` f32, the K codes of every image, dataset order |
//! | `factors.npy` | `[n, F]` i64, the factor values of every image, dataset order |
//! | `probe.json` | k-NN probe accuracy per (subspace, factor) on held-out images |
//!
//! Stage 2 reloads the dataset from `run.json` (`dataset` + `data_seed`) or uses
//! `factors.npy`; the held-out split is [`crate::stage1::held_out_split`] of the stored config.
//!
//! `--resume` continues from `checkpoint.safetensors` with the stored config (flags that would
//! change it are refused, naming them) on the same data (the SPEC is stored with an absolute
//! directory, and the data's fingerprint must match the checkpoint's); the log is cut back to the checkpoint's step, so a resumed run writes
//! the same files, bit for bit, as an uninterrupted one.

use crate::data::noise::SaltPepper;
use crate::data::pairs::PairMode;
use crate::data::spec::{DatasetSpec, SPEC_HELP};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::{write_atomic, write_npy};
use crate::losses::{DistributionMode, ReconstructionLoss};
use crate::par::ThreadPool;
use crate::rng::SeedTree;
use crate::stage1::checkpoint::{config_to_json, load_checkpoint, save_checkpoint};
use crate::stage1::pictures::held_out_pictures;
use crate::stage1::{
    encode_subspaces, export_latents, probe, Control, EpochRecord, Observer, OracleMode, ProbeConfig, ProbeTable,
    RunEnd, Stage1Config, StepRecord, Trainer,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Partner rule on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairsArg {
    /// Principal factor differs with probability p (docs/method.md §5).
    Intended,
    /// Partner uniform over the training images (reference as-run behaviour).
    Uniform,
    /// Principal factor changes with probability p, else one other factor; the rest kept
    /// where the data allows (PMP's one-factor pairs).
    Minimal,
}

/// Oracle on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OracleArg {
    /// Detaux: subspace 0 carries the principal factor.
    Forced,
    /// PMP: argmax of the normalised distance.
    Unforced,
}

/// Distribution regulariser on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributionArg {
    /// Detached, as the reference code (a logged constant).
    Reference,
    /// PMP's trainable form.
    Trainable,
}

/// Reconstruction loss on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossArg {
    /// Mean squared error, no output activation.
    Mse,
    /// Binary cross-entropy on a sigmoid output.
    Bce,
}

/// Arguments of `detaux disentangle`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!(
    "Writes RUN_DIR/run.json, checkpoint.safetensors, log.jsonl, reconstructions.png, traversal.png, \
     latents.npy [n,K,d], factors.npy [n,F] and probe.json. Images of other sizes are resized to 64x64 \
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
    /// Worker threads (results are identical for any value) [default: all available].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Kernels: native (this CPU's fastest) or portable (the same bits on any CPU).
    #[arg(long, default_value = "native")]
    pub kernels: crate::par::KernelSet,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Partner rule [default: intended].
    #[arg(long, value_enum)]
    pub pairs: Option<PairsArg>,
    /// Probability that a pair differs in the principal factor (intended, minimal pairs) [default: 0.5].
    #[arg(long)]
    pub p: Option<f64>,
    /// Oracle [default: forced].
    #[arg(long, value_enum)]
    pub oracle: Option<OracleArg>,
    /// Distribution regulariser [default: reference].
    #[arg(long, value_enum)]
    pub distribution: Option<DistributionArg>,
    /// Reconstruction loss [default: mse].
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
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

const CHECKPOINT: &str = "checkpoint.safetensors";
const LOG: &str = "log.jsonl";

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
    match (args.pairs, args.p) {
        (Some(PairsArg::Uniform), Some(_)) => {
            return Err(Error::param("--p", "only applies to --pairs intended"));
        }
        (Some(PairsArg::Uniform), None) => c.pair_mode = PairMode::Uniform,
        (Some(PairsArg::Minimal), p) => {
            let keep = match c.pair_mode {
                PairMode::Intended { p } | PairMode::Minimal { p } => p,
                PairMode::Uniform => 0.5,
            };
            c.pair_mode = PairMode::Minimal { p: p.unwrap_or(keep) };
        }
        (Some(PairsArg::Intended), p) => {
            let keep = match c.pair_mode {
                PairMode::Intended { p } | PairMode::Minimal { p } => p,
                PairMode::Uniform => 0.5,
            };
            c.pair_mode = PairMode::Intended { p: p.unwrap_or(keep) };
        }
        (None, Some(p)) => {
            c.pair_mode = match c.pair_mode {
                PairMode::Minimal { .. } => PairMode::Minimal { p },
                _ => PairMode::Intended { p },
            }
        }
        (None, None) => {}
    }
    if let Some(o) = args.oracle {
        c.oracle = match o {
            OracleArg::Forced => OracleMode::Forced,
            OracleArg::Unforced => OracleMode::Unforced,
        };
    }
    if let Some(d) = args.distribution {
        c.losses.distribution = match d {
            DistributionArg::Reference => DistributionMode::Reference,
            DistributionArg::Trainable => DistributionMode::Trainable,
        };
    }
    if let Some(l) = args.loss {
        c.losses.reconstruction = match l {
            LossArg::Mse => ReconstructionLoss::Mse,
            LossArg::Bce => ReconstructionLoss::Bce,
        };
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

/// The config fields (by their flag names) on which `a` and `b` differ, e.g. `--lr`.
fn changed_fields(a: &Stage1Config, b: &Stage1Config) -> String {
    let (ja, jb) = (config_to_json(a), config_to_json(b));
    let (Some(oa), Some(ob)) = (ja.as_object(), jb.as_object()) else { return "the config".into() };
    let names: Vec<String> = oa
        .iter()
        .filter(|(k, v)| ob.get(k.as_str()) != Some(*v))
        .map(|(k, _)| match k.as_str() {
            "n_subspaces" => "--subspaces".to_string(),
            "pairs" => "--pairs".to_string(),
            "reconstruction" => "--loss".to_string(),
            "seed" => "--seed".to_string(),
            k => format!("--{}", k.replace('_', "-")),
        })
        .collect();
    if names.is_empty() {
        "the config".into()
    } else {
        names.join(", ")
    }
}

/// The dataset of a run: `spec` loaded with the data seed, resized to 64×64.
///
/// # Errors
/// Whatever loading reports.
pub fn load_run_dataset(spec: &str, seed: u64) -> Result<Dataset> {
    let spec: DatasetSpec = spec.parse()?;
    let raw = spec.load(&SeedTree::new(seed))?;
    let channels = raw.channels();
    raw.to_model_input(64, channels)
}

struct Cli<'a> {
    dir: &'a Path,
    log: std::io::BufWriter<std::fs::File>,
    bar: ProgressBar,
    dataset_spec: String,
    data_fingerprint: String,
    checkpoint_every: u64,
    stop_after: Option<u64>,
    pictures_every_epoch: bool,
    session_start: Instant,
    session_pairs: usize,
    data: &'a Dataset,
}

fn terms_json(t: &crate::stage1::LossTerms) -> serde_json::Value {
    json!({
        "reconstruction": t.reconstruction,
        "sparsity": t.sparsity,
        "consistency": t.consistency,
        "distance": t.distance,
        "distribution": t.distribution,
        "total": t.total,
    })
}

impl Cli<'_> {
    fn line(&mut self, v: serde_json::Value) -> Result<()> {
        let path = self.dir.join(LOG);
        writeln!(self.log, "{v}").and_then(|_| self.log.flush()).map_err(|e| Error::io(path, e))
    }
    fn checkpoint(&self, t: &Trainer) -> Result<()> {
        save_checkpoint(&self.dir.join(CHECKPOINT), &t.state(), t.config(), &self.dataset_spec, &self.data_fingerprint)
    }
}

impl Observer for Cli<'_> {
    fn on_step(&mut self, t: &Trainer, r: &StepRecord) -> Result<Control> {
        let mut v = json!({
            "event": "step",
            "global_step": r.global_step,
            "epoch": r.epoch,
            "batch": r.batch,
            "beta1": r.betas.beta1,
            "beta2": r.betas.beta2,
            "beta3": r.betas.beta3,
            "warm": r.betas.warm,
            "consistency_active": r.consistency_active,
        });
        v.as_object_mut().expect("object").extend(terms_json(&r.terms).as_object().expect("object").clone());
        self.line(v)?;
        self.session_pairs += r.pairs;
        let rate = self.session_pairs as f64 / self.session_start.elapsed().as_secs_f64().max(1e-9);
        let tm = &r.terms;
        self.bar.set_position(r.global_step);
        self.bar.set_message(format!(
            "ep {}/{} b {}/{} | rec {:.5} sp {:.4} cons {:.5} dist {:.4} distr {:.4} | b1 {:.3} b2 {:.3} | {rate:.0} pairs/s",
            r.epoch + 1,
            t.config().epochs,
            r.batch + 1,
            r.batches_per_epoch,
            tm.reconstruction,
            tm.sparsity,
            tm.consistency,
            tm.distance,
            tm.distribution,
            r.betas.beta1,
            r.betas.beta2,
        ));
        let stop = self.stop_after.is_some_and(|n| r.global_step >= n);
        let epoch_end = r.batch + 1 == r.batches_per_epoch;
        // Epoch ends are checkpointed after validation (in on_epoch).
        if !epoch_end && (stop || r.global_step.is_multiple_of(self.checkpoint_every)) {
            self.checkpoint(t)?;
        }
        Ok(if stop { Control::Stop } else { Control::Continue })
    }

    fn on_epoch(&mut self, t: &Trainer, r: &EpochRecord) -> Result<Control> {
        self.line(json!({
            "event": "epoch",
            "global_step": t.global_step(),
            "epoch": r.epoch,
            "val_reconstruction": r.val_reconstruction,
            "steps": r.steps,
            "mean": terms_json(&r.mean_terms),
        }))?;
        self.bar.println(format!(
            "epoch {}/{}: val reconstruction {:.6}, train total {:.5} (rec {:.5})",
            r.epoch + 1,
            t.config().epochs,
            r.val_reconstruction,
            r.mean_terms.total,
            r.mean_terms.reconstruction
        ));
        self.checkpoint(t)?;
        if self.pictures_every_epoch {
            write_pictures(t, self.data, self.dir, &format!("_e{:02}", r.epoch + 1))?;
        }
        Ok(Control::Continue)
    }
}

/// Writes `reconstructions{suffix}.png` and `traversal{suffix}.png` from held-out images.
///
/// # Errors
/// I/O errors writing the PNGs.
pub fn write_pictures(t: &Trainer, data: &Dataset, dir: &Path, suffix: &str) -> Result<()> {
    let (sheet, traversal) = held_out_pictures(t.model(), t.config().losses.reconstruction, data, &t.split().test)?;
    sheet.save_png(&dir.join(format!("reconstructions{suffix}.png")))?;
    traversal.save_png(&dir.join(format!("traversal{suffix}.png")))
}

/// The probe on the held-out images of a trained run.
///
/// # Errors
/// As [`probe()`].
pub fn run_probe(t: &Trainer, data: &Dataset, neighbours: usize) -> Result<ProbeTable> {
    let held = &t.split().test;
    let codes = encode_subspaces(t.model(), data, held)?;
    let factors = data.factors().select(ndarray::Axis(0), held);
    let names: Vec<String> = data.factor_specs().iter().map(|s| s.name.clone()).collect();
    let cfg = ProbeConfig { neighbours, ..ProbeConfig::default() };
    probe(codes.view(), factors.view(), &names, cfg, &t.config().seeds().child("probe"))
}

fn probe_json(table: &ProbeTable, principal: &str) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = table
        .accuracy
        .outer_iter()
        .enumerate()
        .map(|(k, row)| {
            let m: serde_json::Map<String, serde_json::Value> =
                table.factors.iter().zip(row.iter()).map(|(f, &a)| (f.clone(), json!(a))).collect();
            json!({"subspace": k, "accuracy": m})
        })
        .collect();
    let chance: serde_json::Map<String, serde_json::Value> =
        table.factors.iter().zip(&table.chance).map(|(f, &a)| (f.clone(), json!(a))).collect();
    json!({
        "probe": format!("k-NN (k = {}) on each subspace's codes, Euclidean; held-out images split {:.0}/{:.0} (seeded)",
            table.config.neighbours, table.config.train_fraction * 100.0, (1.0 - table.config.train_fraction) * 100.0),
        "principal": principal,
        "n_train": table.n_train,
        "n_test": table.n_test,
        "factors": table.factors,
        "subspaces": rows,
        "chance": chance,
    })
}

fn prepare_log(dir: &Path, resume_step: Option<u64>) -> Result<std::io::BufWriter<std::fs::File>> {
    let path = dir.join(LOG);
    let kept = match resume_step {
        None => String::new(),
        Some(step) => {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(Error::io(&path, e)),
            };
            let mut kept = String::new();
            let mut malformed = 0usize;
            for line in text.lines() {
                // A line cut by a kill (or edited by hand) is dropped alone; the others stay.
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    malformed += 1;
                    continue;
                };
                if v.get("global_step").and_then(|s| s.as_u64()).is_some_and(|s| s <= step) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            if malformed > 0 {
                eprintln!("warning: {}: dropped {malformed} malformed line(s)", path.display());
            }
            kept
        }
    };
    write_atomic(&path, kept.as_bytes())?;
    let file = std::fs::OpenOptions::new().append(true).open(&path).map_err(|e| Error::io(&path, e))?;
    Ok(std::io::BufWriter::new(file))
}

/// Runs `detaux disentangle`.
pub fn run(args: &DisentangleArgs) -> Result<()> {
    if args.checkpoint_every == 0 {
        return Err(Error::param("--checkpoint-every", "must be >= 1, got 0"));
    }
    if args.probe_neighbours == 0 {
        return Err(Error::param("--probe-neighbours", "must be >= 1, got 0"));
    }
    let threads = args.threads.unwrap_or_else(crate::par::default_threads);
    let pool = ThreadPool::with_kernels(threads, args.kernels).map_err(|e| match e {
        Error::InvalidParam { reason, .. } => Error::param("--threads", reason),
        other => other,
    })?;
    let dir = args.out.as_path();
    let ckpt_path = dir.join(CHECKPOINT);
    let cli_defaults = Stage1Config { epochs: 10, pairs_per_epoch: Some(20_000), ..Stage1Config::default() };
    let (config, spec, resume_state) = if args.resume {
        let ck = load_checkpoint(&ckpt_path)?;
        if let Some(d) = &args.dataset {
            let given = d.parse::<DatasetSpec>()?.absolute()?.to_string();
            if given != ck.dataset {
                return Err(Error::param(
                    "--dataset",
                    format!("'{d}' differs from the checkpoint's '{}' (--resume continues the same run)", ck.dataset),
                ));
            }
        }
        let config = build_config(args, ck.config.clone())?;
        if config != ck.config {
            return Err(Error::param(
                "--resume",
                format!(
                    "the flags change {} of the run stored in {}; drop them or use a new --out",
                    changed_fields(&config, &ck.config),
                    ckpt_path.display()
                ),
            ));
        }
        (config, ck.dataset, Some((ck.state, ck.data_fingerprint)))
    } else {
        let spec = args.dataset.clone().ok_or_else(|| Error::param("--dataset", "is required (unless --resume)"))?;
        // Stored absolute, so --resume and stage 2 find the data from any working directory.
        let spec = spec.parse::<DatasetSpec>()?.absolute()?.to_string();
        let config = build_config(args, cli_defaults)?;
        if ckpt_path.exists() {
            return Err(Error::param(
                "--out",
                format!("{} already holds a run; continue it with --resume or choose another directory", dir.display()),
            ));
        }
        (config, spec, None)
    };

    pool.install(|| -> Result<()> {
        let t0 = Instant::now();
        let data = load_run_dataset(&spec, config.seed)?;
        let data_fingerprint = data.fingerprint();
        let resumed = resume_state.is_some();
        let resume_step = resume_state.as_ref().map(|s| s.0.global_step);
        let mut trainer = match resume_state {
            Some((state, stored)) => {
                if stored != data_fingerprint {
                    return Err(Error::param(
                        "--resume",
                        format!(
                            "the data of {spec} changed since {} was written (fingerprint {data_fingerprint}, \
                             checkpoint {stored}); restore the data or start a new --out",
                            ckpt_path.display()
                        ),
                    ));
                }
                Trainer::restore(config.clone(), &data, state)?
            }
            None => Trainer::new(config.clone(), &data)?,
        };
        // The probe fits on part of the held-out images: refuse too many neighbours now, not
        // after training.
        let probe_fit = (trainer.split().test.len() as f64 * ProbeConfig::default().train_fraction).floor() as usize;
        if args.probe_neighbours > probe_fit {
            return Err(Error::param(
                "--probe-neighbours",
                format!("{} neighbours, but the probe fits on only {probe_fit} held-out images", args.probe_neighbours),
            ));
        }
        // Created only once data and model are good: a refused run leaves no empty --out.
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let principal = data.factor_specs()[trainer.principal()].name.clone();
        eprintln!(
            "{spec}: {} images {}x{}x{} loaded in {:.1}s; principal factor {principal}; {} train / {} held out; \
             {} epochs x {} batches of {} pairs on {threads} thread(s){}",
            data.len(),
            data.height(),
            data.width(),
            data.channels(),
            t0.elapsed().as_secs_f64(),
            trainer.split().train.len(),
            trainer.split().test.len(),
            config.epochs,
            trainer.batches_per_epoch(),
            config.batch_size,
            if resumed { format!(", resuming at step {}", trainer.global_step()) } else { String::new() }
        );
        let run_json = json!({
            "format": "detaux-stage1-run",
            "version": 1,
            "dataset": spec,
            "data_seed": config.seed,
            "principal": {"index": trainer.principal(), "name": principal},
            "config": config_to_json(&config),
            "n_images": data.len(),
            "image": [data.height(), data.width(), data.channels()],
            "factors": data.factor_specs().iter().map(|s| json!({"name": s.name, "cardinality": s.cardinality})).collect::<Vec<_>>(),
            "split": {"train": trainer.split().train.len(), "held_out": trainer.split().test.len(),
                      "rule": "stratified on the principal factor, seeded (detaux::stage1::held_out_split)"},
            "latents": {"file": "latents.npy", "shape": [data.len(), config.n_subspaces, config.latent_dim], "order": "dataset"},
        });
        write_atomic(&dir.join("run.json"), format!("{:#}\n", run_json).as_bytes())?;
        let log = prepare_log(dir, resume_step)?;
        let total = (config.epochs * trainer.batches_per_epoch()) as u64;
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:25}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_position(trainer.global_step());
        let mut obs = Cli {
            dir,
            log,
            bar: bar.clone(),
            dataset_spec: spec.clone(),
            data_fingerprint,
            checkpoint_every: args.checkpoint_every,
            stop_after: args.stop_after_steps,
            pictures_every_epoch: args.pictures_every_epoch,
            session_start: Instant::now(),
            session_pairs: 0,
            data: &data,
        };
        let end = if trainer.finished() { RunEnd::Finished } else { trainer.run(&data, &mut obs)? };
        bar.finish_and_clear();
        if end == RunEnd::Stopped {
            eprintln!("stopped after step {}; continue with --resume", trainer.global_step());
            return Ok(());
        }
        eprintln!("trained {} steps in {:.1}s; writing outputs", trainer.global_step(), obs.session_start.elapsed().as_secs_f64());
        write_pictures(&trainer, &data, dir, "")?;
        let latents = export_latents(trainer.model(), &data)?;
        write_npy(&dir.join("latents.npy"), latents.shape(), latents.as_slice().expect("standard layout"))?;
        let factors: Vec<i64> = data.factors().iter().map(|&v| v as i64).collect();
        write_npy(&dir.join("factors.npy"), &[data.len(), data.n_factors()], &factors)?;
        let table = run_probe(&trainer, &data, args.probe_neighbours)?;
        write_atomic(&dir.join("probe.json"), format!("{:#}\n", probe_json(&table, &principal)).as_bytes())?;
        println!("probe accuracy (held-out images, k-NN k={}; rows = subspaces):", table.config.neighbours);
        print!("{}", table.to_text());
        println!("wrote {}", dir.display());
        Ok(())
    })
}
