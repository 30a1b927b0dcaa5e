//! The stage-1 run directory: what a resumable stage-1 run writes, and what stage 2 reads back.
//!
//! | file | content |
//! |---|---|
//! | `run.json` | dataset SPEC, data seed, principal factor, the full config, sizes, split sizes |
//! | `checkpoint.safetensors` | latest checkpoint ([`super::checkpoint`] format) |
//! | `log.jsonl` | one line per step (`"event":"step"`: every loss term, betas) and per epoch (`"event":"epoch"`: validation loss, mean terms) |
//! | `reconstructions.png` | held-out inputs (top) vs reconstructions (bottom) |
//! | `traversal.png` | latent traversal, one row per subspace |
//! | `latents.npy` | `[n, K, d]` f32, the K codes of every image, dataset order |
//! | `factors.npy` | `[n, F]` i64, the factor values of every image, dataset order |
//! | `probe.json` | k-NN probe accuracy per (subspace, factor) on held-out images |
//!
//! [`Stage1Run::fresh`] starts a run in an empty directory; [`Stage1Run::resume`] continues
//! from `checkpoint.safetensors` with the stored config (settings that would change it are
//! refused, naming them) on the same data (the SPEC is stored with an absolute directory, and
//! the data's fingerprint must match the checkpoint's). [`Stage1Run::train`] wraps the
//! caller's [`Observer`] in one that appends to the log and checkpoints every
//! `checkpoint_every` steps and at every epoch end; on resume the log is first cut back to the
//! checkpoint's step (a malformed line, e.g. one cut by a kill, is dropped alone), so a resumed
//! run writes the same files, bit for bit, as an uninterrupted one. [`Stage1Run::finish`]
//! writes the pictures, latents, factors and probe.
//!
//! Stage 2 reads `latents.npy` ([`read_latents`]), `factors.npy` ([`read_factors`]) and the
//! factor names ([`factor_names`]: `factors.json`, else `run.json`'s `"factors"`).
//!
//! **Determinism.** Everything written is a function of the config and the data; wall times
//! appear only on the caller's observer.

use super::checkpoint::{config_to_json, load_checkpoint, save_checkpoint};
use super::pictures::held_out_pictures;
use super::{
    encode_subspaces, export_latents, probe, Control, Observer, ProbeConfig, ProbeTable, RunEnd, Stage1Config,
    Stage1Epoch, Stage1Step, Stage1Trainer, TrainState,
};
use crate::data::spec::DatasetSpec;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::npy::{read_npy, NpyData};
use crate::io::{write_atomic, write_npy};
use crate::rng::SeedTree;
use ndarray::{Array2, Array3};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `run.json`.
pub const RUN_JSON: &str = "run.json";
/// `checkpoint.safetensors`.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// `log.jsonl`.
pub const LOG: &str = "log.jsonl";
/// `latents.npy`.
pub const LATENTS: &str = "latents.npy";
/// `factors.npy`.
pub const FACTORS: &str = "factors.npy";
/// `probe.json`.
pub const PROBE: &str = "probe.json";

/// How a run directory is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunDirOptions {
    /// Write a checkpoint every this many steps (and at every epoch end). Default 200.
    pub checkpoint_every: u64,
    /// Stop (with a checkpoint) once this many steps are done. Default `None`.
    pub stop_after_steps: Option<u64>,
    /// Also write the pictures at every epoch end (`reconstructions_eNN.png`,
    /// `traversal_eNN.png`). Default off.
    pub pictures_every_epoch: bool,
    /// Neighbours of the k-NN probe. Default 10.
    pub probe_neighbours: usize,
}

impl Default for RunDirOptions {
    fn default() -> Self {
        RunDirOptions {
            checkpoint_every: 200,
            stop_after_steps: None,
            pictures_every_epoch: false,
            probe_neighbours: 10,
        }
    }
}

impl RunDirOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] (named by the CLI flag): `checkpoint_every` or
    /// `probe_neighbours` is 0.
    pub fn validate(&self) -> Result<()> {
        if self.checkpoint_every == 0 {
            return Err(Error::param("--checkpoint-every", "must be >= 1, got 0"));
        }
        if self.probe_neighbours == 0 {
            return Err(Error::param("--probe-neighbours", "must be >= 1, got 0"));
        }
        Ok(())
    }
}

/// A stage-1 run bound to its directory: data loaded, trainer built (fresh or resumed).
pub struct Stage1Run {
    dir: PathBuf,
    spec: String,
    data: Dataset,
    fingerprint: String,
    trainer: Stage1Trainer,
    resume_step: Option<u64>,
    options: RunDirOptions,
}

/// The dataset of a run: `spec` loaded with the data seed, resized to `side × side`.
///
/// # Errors
/// Whatever loading reports.
pub fn load_run_dataset(spec: &str, seed: u64, side: usize) -> Result<Dataset> {
    let spec: DatasetSpec = spec.parse()?;
    let raw = spec.load(&SeedTree::new(seed))?;
    let channels = raw.channels();
    raw.to_model_input(side, channels)
}

impl Stage1Run {
    /// A new run of `config` on the dataset `spec` (stored with an absolute directory, so a
    /// resume and stage 2 find the data from any working directory) in `dir`.
    ///
    /// # Errors
    /// Invalid options or config; `dir` already holds a checkpoint (named `--out`); whatever
    /// loading the data or building the trainer reports; too many probe neighbours.
    pub fn fresh(dir: &Path, spec: &str, config: Stage1Config, options: RunDirOptions) -> Result<Self> {
        options.validate()?;
        config.validate()?;
        let spec = spec.parse::<DatasetSpec>()?.absolute()?.to_string();
        if dir.join(CHECKPOINT).exists() {
            return Err(Error::param(
                "--out",
                format!("{} already holds a run; continue it with --resume or choose another directory", dir.display()),
            ));
        }
        Self::open(dir, spec, config, None, options)
    }

    /// Continues the run stored in `dir`. `dataset`, if given, must name the stored dataset;
    /// `configure` maps the stored config to the caller's (e.g. the flags applied to it) and
    /// must leave it unchanged.
    ///
    /// # Errors
    /// A missing or corrupt checkpoint; another dataset (named `--dataset`); a config that
    /// differs from the stored one (named `--resume`, listing the differing settings); data
    /// whose fingerprint differs from the checkpoint's; as [`Stage1Run::fresh`].
    pub fn resume(
        dir: &Path,
        dataset: Option<&str>,
        configure: impl FnOnce(Stage1Config) -> Result<Stage1Config>,
        options: RunDirOptions,
    ) -> Result<Self> {
        options.validate()?;
        let path = dir.join(CHECKPOINT);
        let ck = load_checkpoint(&path)?;
        if let Some(d) = dataset {
            let given = d.parse::<DatasetSpec>()?.absolute()?.to_string();
            if given != ck.dataset {
                return Err(Error::param(
                    "--dataset",
                    format!("'{d}' differs from the checkpoint's '{}' (--resume continues the same run)", ck.dataset),
                ));
            }
        }
        let config = configure(ck.config.clone())?;
        if config != ck.config {
            return Err(Error::param(
                "--resume",
                format!(
                    "the flags change {} of the run stored in {}; drop them or use a new --out",
                    changed_settings(&config, &ck.config),
                    path.display()
                ),
            ));
        }
        Self::open(dir, ck.dataset, config, Some((ck.state, ck.data_fingerprint)), options)
    }

    fn open(
        dir: &Path,
        spec: String,
        config: Stage1Config,
        resume: Option<(TrainState, String)>,
        options: RunDirOptions,
    ) -> Result<Self> {
        let data = load_run_dataset(&spec, config.seed, config.image_size)?;
        let fingerprint = data.fingerprint();
        let resume_step = resume.as_ref().map(|s| s.0.global_step);
        let trainer = match resume {
            Some((state, stored)) => {
                if stored != fingerprint {
                    return Err(Error::param(
                        "--resume",
                        format!(
                            "the data of {spec} changed since {} was written (fingerprint {fingerprint}, \
                             checkpoint {stored}); restore the data or start a new --out",
                            dir.join(CHECKPOINT).display()
                        ),
                    ));
                }
                Stage1Trainer::restore(config, &data, state)?
            }
            None => Stage1Trainer::new(config, &data)?,
        };
        // The probe fits on part of the held-out images: refuse too many neighbours now, not
        // after training.
        let probe_fit = (trainer.split().test.len() as f64 * ProbeConfig::default().train_fraction).floor() as usize;
        if options.probe_neighbours > probe_fit {
            return Err(Error::param(
                "--probe-neighbours",
                format!(
                    "{} neighbours, but the probe fits on only {probe_fit} held-out images",
                    options.probe_neighbours
                ),
            ));
        }
        Ok(Stage1Run { dir: dir.to_path_buf(), spec, data, fingerprint, trainer, resume_step, options })
    }

    /// The trainer.
    pub fn trainer(&self) -> &Stage1Trainer {
        &self.trainer
    }

    /// The data (resized to the model's input).
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The dataset SPEC (absolute).
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The step the run was resumed at, if it was.
    pub fn resumed_at(&self) -> Option<u64> {
        self.resume_step
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The principal factor's name.
    pub fn principal_name(&self) -> &str {
        &self.data.factor_specs()[self.trainer.principal()].name
    }

    /// One line: the data, the principal, the split and the budget (and where a resumed run
    /// goes on).
    pub fn summary(&self) -> String {
        let (t, d) = (&self.trainer, &self.data);
        let c = t.config();
        format!(
            "{}: {} images {}x{}x{}; principal factor {}; {} train / {} held out; {} epochs x {} batches of {} pairs{}",
            self.spec,
            d.len(),
            d.height(),
            d.width(),
            d.channels(),
            self.principal_name(),
            t.split().train.len(),
            t.split().test.len(),
            c.epochs,
            t.batches_per_epoch(),
            c.batch_size,
            self.resume_step.map(|s| format!(", resuming at step {s}")).unwrap_or_default()
        )
    }

    /// Creates the directory, writes `run.json`, prepares `log.jsonl` and trains to the end
    /// (or until `observer` or `stop_after_steps` stops it), logging and checkpointing.
    ///
    /// # Errors
    /// I/O errors; whatever training or `observer` reports.
    pub fn train(&mut self, observer: &mut dyn Observer<Stage1Trainer>) -> Result<RunEnd> {
        let dir = self.dir.clone();
        // Created only once data and model are good: a refused run leaves no empty directory.
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        write_atomic(&dir.join(RUN_JSON), format!("{:#}\n", self.run_json()).as_bytes())?;
        let log = prepare_log(&dir, self.resume_step)?;
        if self.trainer.finished() {
            return Ok(RunEnd::Finished);
        }
        let mut recorder = Recorder {
            dir: &dir,
            log,
            spec: &self.spec,
            fingerprint: &self.fingerprint,
            options: self.options,
            data: &self.data,
            inner: observer,
        };
        self.trainer.run(&self.data, &mut recorder)
    }

    fn run_json(&self) -> Value {
        let (t, data, config) = (&self.trainer, &self.data, self.trainer.config());
        json!({
            "format": "detaux-stage1-run",
            "version": 1,
            "dataset": self.spec,
            "data_seed": config.seed,
            "principal": {"index": t.principal(), "name": self.principal_name()},
            "config": config_to_json(config),
            "n_images": data.len(),
            "image": [data.height(), data.width(), data.channels()],
            "factors": data.factor_specs().iter().map(|s| json!({"name": s.name, "cardinality": s.cardinality})).collect::<Vec<_>>(),
            "split": {"train": t.split().train.len(), "held_out": t.split().test.len(),
                      "rule": "stratified on the principal factor, seeded (detaux::stage1::held_out_split)"},
            "latents": {"file": LATENTS, "shape": [data.len(), config.n_subspaces, config.latent_dim], "order": "dataset"},
        })
    }

    /// Writes the pictures, `latents.npy`, `factors.npy` and `probe.json`; returns the probe.
    ///
    /// # Errors
    /// I/O errors; probe errors.
    pub fn finish(&self) -> Result<ProbeTable> {
        let (t, data, dir) = (&self.trainer, &self.data, self.dir.as_path());
        write_pictures(t, data, dir, "")?;
        let latents = export_latents(t.model(), data)?;
        write_npy(&dir.join(LATENTS), latents.shape(), latents.as_slice().expect("standard layout"))?;
        let factors: Vec<i64> = data.factors().iter().map(|&v| v as i64).collect();
        write_npy(&dir.join(FACTORS), &[data.len(), data.n_factors()], &factors)?;
        let table = probe_held_out(t, data, self.options.probe_neighbours)?;
        write_atomic(&dir.join(PROBE), format!("{:#}\n", probe_json(&table, self.principal_name())).as_bytes())?;
        Ok(table)
    }
}

/// The config settings (by their CLI flag names, e.g. `--lr`) on which `a` and `b` differ.
fn changed_settings(a: &Stage1Config, b: &Stage1Config) -> String {
    let (ja, jb) = (config_to_json(a), config_to_json(b));
    let (Some(oa), Some(ob)) = (ja.as_object(), jb.as_object()) else { return "the config".into() };
    let names: Vec<String> = oa
        .iter()
        .filter(|(k, v)| ob.get(k.as_str()) != Some(*v))
        .map(|(k, _)| match k.as_str() {
            "n_subspaces" => "--subspaces".to_string(),
            "reconstruction" => "--loss".to_string(),
            k => format!("--{}", k.replace('_', "-")),
        })
        .collect();
    if names.is_empty() {
        "the config".into()
    } else {
        names.join(", ")
    }
}

/// The observer [`Stage1Run::train`] runs: log lines and checkpoints, then the caller's.
struct Recorder<'a> {
    dir: &'a Path,
    log: std::io::BufWriter<std::fs::File>,
    spec: &'a str,
    fingerprint: &'a str,
    options: RunDirOptions,
    data: &'a Dataset,
    inner: &'a mut dyn Observer<Stage1Trainer>,
}

fn terms_json(t: &super::LossTerms) -> Value {
    json!({
        "reconstruction": t.reconstruction,
        "sparsity": t.sparsity,
        "consistency": t.consistency,
        "distance": t.distance,
        "distribution": t.distribution,
        "total": t.total,
    })
}

impl Recorder<'_> {
    fn line(&mut self, v: Value) -> Result<()> {
        let path = self.dir.join(LOG);
        writeln!(self.log, "{v}").and_then(|_| self.log.flush()).map_err(|e| Error::io(path, e))
    }
    fn checkpoint(&self, t: &Stage1Trainer) -> Result<()> {
        save_checkpoint(&self.dir.join(CHECKPOINT), &t.state(), t.config(), self.spec, self.fingerprint)
    }
}

impl Observer<Stage1Trainer> for Recorder<'_> {
    fn on_step(&mut self, t: &Stage1Trainer, r: &Stage1Step) -> Result<Control> {
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
        let stop = self.inner.on_step(t, r)? == Control::Stop
            || self.options.stop_after_steps.is_some_and(|n| r.global_step >= n);
        // Epoch ends are checkpointed after validation (in on_epoch).
        let epoch_end = r.batch + 1 == r.batches_per_epoch;
        if !epoch_end && (stop || r.global_step.is_multiple_of(self.options.checkpoint_every)) {
            self.checkpoint(t)?;
        }
        Ok(if stop { Control::Stop } else { Control::Continue })
    }

    fn on_epoch(&mut self, t: &Stage1Trainer, r: &Stage1Epoch) -> Result<Control> {
        self.line(json!({
            "event": "epoch",
            "global_step": t.global_step(),
            "epoch": r.epoch,
            "val_reconstruction": r.val_reconstruction,
            "steps": r.steps,
            "mean": terms_json(&r.mean_terms),
        }))?;
        self.checkpoint(t)?;
        if self.options.pictures_every_epoch {
            write_pictures(t, self.data, self.dir, &format!("_e{:02}", r.epoch + 1))?;
        }
        self.inner.on_epoch(t, r)
    }
}

/// Writes `reconstructions{suffix}.png` and `traversal{suffix}.png` from held-out images.
///
/// # Errors
/// I/O errors writing the PNGs.
pub fn write_pictures(t: &Stage1Trainer, data: &Dataset, dir: &Path, suffix: &str) -> Result<()> {
    let (sheet, traversal) = held_out_pictures(t.model(), t.config().losses.reconstruction, data, &t.split().test)?;
    sheet.save_png(&dir.join(format!("reconstructions{suffix}.png")))?;
    traversal.save_png(&dir.join(format!("traversal{suffix}.png")))
}

/// The probe on the held-out images of a trained run (its own seeded fit/score split of them).
///
/// # Errors
/// As [`probe()`].
pub fn probe_held_out(t: &Stage1Trainer, data: &Dataset, neighbours: usize) -> Result<ProbeTable> {
    let held = &t.split().test;
    let codes = encode_subspaces(t.model(), data, held)?;
    let factors = data.factors().select(ndarray::Axis(0), held);
    let names: Vec<String> = data.factor_specs().iter().map(|s| s.name.clone()).collect();
    let cfg = ProbeConfig { neighbours, ..ProbeConfig::default() };
    probe(codes.view(), factors.view(), &names, cfg, &t.config().seeds().child("probe"))
}

fn probe_json(table: &ProbeTable, principal: &str) -> Value {
    let rows: Vec<Value> = table
        .accuracy
        .outer_iter()
        .enumerate()
        .map(|(k, row)| {
            let m: serde_json::Map<String, Value> =
                table.factors.iter().zip(row.iter()).map(|(f, &a)| (f.clone(), json!(a))).collect();
            json!({"subspace": k, "accuracy": m})
        })
        .collect();
    let chance: serde_json::Map<String, Value> =
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

/// Opens `log.jsonl` for appending: empty for a fresh run; on resume, only the lines up to the
/// checkpoint's step are kept (malformed lines are dropped alone, with a warning on stderr).
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
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    malformed += 1;
                    continue;
                };
                if v.get("global_step").and_then(Value::as_u64).is_some_and(|s| s <= step) {
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

/// Latents read back: `[n, d]` codes, or `[n, K, d]` subspace codes.
#[derive(Clone, Debug, PartialEq)]
pub enum Latents {
    /// `[n, d]`, clustered as is.
    Flat(Array2<f32>),
    /// `[n, K, d]`.
    Split(Array3<f32>),
}

/// Reads a latents file: `[n, d]` or `[n, K, d]`, f32 or f64 (converted to f32).
///
/// # Errors
/// Read/format errors naming `path`; another dtype or rank; an f64 value beyond the f32 range.
pub fn read_latents(path: &Path) -> Result<Latents> {
    let a = read_npy(path)?;
    let data: Vec<f32> = match a.data {
        NpyData::F32(v) => v,
        NpyData::F64(v) => {
            // A finite f64 beyond f32's range would become infinite: say so, not "non-finite".
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| x.is_finite() && x.abs() > f64::from(f32::MAX)) {
                return Err(Error::format(
                    path,
                    format!(
                        "latent value {x:e} at flat index {i} is outside the f32 range (|x| <= 3.4e38) clustering uses"
                    ),
                ));
            }
            v.into_iter().map(|x| x as f32).collect()
        }
        other => return Err(Error::format(path, format!("latents must be f32 or f64, got {}", other.descr()))),
    };
    match a.shape.as_slice() {
        [n, d] => Ok(Latents::Flat(Array2::from_shape_vec((*n, *d), data).expect("npy shape"))),
        [n, k, d] => Ok(Latents::Split(Array3::from_shape_vec((*n, *k, *d), data).expect("npy shape"))),
        s => Err(Error::format(path, format!("latents must be [n, d] or [n, K, d], got shape {s:?}"))),
    }
}

/// Reads a factors file, `[n]` or `[n, F]` of int64 or uint8, with `n` rows.
///
/// # Errors
/// Read/format errors naming `path`; another dtype, rank or row count.
pub fn read_factors(path: &Path, n: usize) -> Result<Array2<i64>> {
    let a = read_npy(path)?;
    let v = match a.data {
        NpyData::I64(v) => v,
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        other => return Err(Error::format(path, format!("factors must be integers, got {}", other.descr()))),
    };
    let (rows, cols) = match a.shape.as_slice() {
        [r] => (*r, 1),
        [r, c] => (*r, *c),
        s => return Err(Error::format(path, format!("factors must be [n] or [n, n_factors], got {s:?}"))),
    };
    if rows != n {
        return Err(Error::format(path, format!("factors have {rows} rows, latents {n}")));
    }
    Ok(Array2::from_shape_vec((rows, cols), v).expect("npy shape"))
}

/// `count` factor names from a JSON file: a list of strings, or an object with a `"names"` or
/// `"factors"` list (of strings, or of objects with a `"name"`, as `run.json`). A missing or
/// unreadable file, or a missing entry, gives `factor0`, `factor1`, ….
pub fn factor_names(path: &Path, count: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..count).map(|i| format!("factor{i}")).collect();
    let Ok(text) = std::fs::read_to_string(path) else { return names };
    let Ok(v) = serde_json::from_str::<Value>(&text) else { return names };
    let list = match &v {
        Value::Array(a) => Some(a.clone()),
        Value::Object(o) => o.get("names").or_else(|| o.get("factors")).and_then(|x| x.as_array().cloned()),
        _ => None,
    };
    for (i, item) in list.unwrap_or_default().iter().enumerate().take(count) {
        let name =
            item.as_str().map(str::to_string).or_else(|| item.get("name").and_then(|x| x.as_str()).map(str::to_string));
        if let Some(s) = name {
            names[i] = s;
        }
    }
    names
}

/// The factor-names file of a run directory: `factors.json` if present, else `run.json`.
pub fn factor_names_file(dir: &Path) -> PathBuf {
    let f = dir.join("factors.json");
    if f.exists() {
        f
    } else {
        dir.join(RUN_JSON)
    }
}
