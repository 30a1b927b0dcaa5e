//! Stage-1 checkpoints: a safetensors-compatible file, written by hand, written atomically.
//!
//! # Format (`detaux-stage1-checkpoint`, version 2)
//! ```text
//! [0, 8)        N: u64 little-endian, the header length in bytes
//! [8, 8 + N)    header: UTF-8 JSON object, padded with spaces to a multiple of 8
//! [8 + N, end)  data: the tensors' raw f32 little-endian values, back to back
//! ```
//! The header maps each tensor name to `{"dtype": "F32", "shape": [...], "data_offsets":
//! [start, end]}` (byte offsets into the data section; the tensors tile it with no gap or
//! overlap), as safetensors does, so `safetensors.safe_open` reads the file. Tensors:
//! `param/<name>` for every model parameter (in model order = data order), then
//! `adam_m/<name>` and `adam_v/<name>` for every parameter with Adam state.
//! `__metadata__` (string → string, as safetensors requires) holds:
//!
//! | key | value |
//! |---|---|
//! | `format`, `version` | `detaux-stage1-checkpoint`, `2` |
//! | `epoch`, `batch`, `global_step` | the position: next epoch, next batch, steps done |
//! | `adam_steps` | JSON object `{name: step count}` |
//! | `epoch_steps`, `epoch_sum` | steps and per-term loss sums of the current epoch so far (floats as strings) |
//! | `config` | the [`Stage1Config`] as JSON ([`config_to_json`]; floats as strings for exact round trips) |
//! | `dataset` | the dataset SPEC the run trained on (directories absolute) |
//! | `data_fingerprint` | [`crate::data::Dataset::fingerprint`] of the training data (images and labels) |
//! | `checksum` | FNV-1a 64, 16 hex digits, of the whole file with these 16 digits written as `0`s: header (config, position, Adam steps, every tensor entry) and data alike |
//!
//! The RNG state is the position (see [`super::train`]): every stream is addressed by
//! `(seed, epoch, batch)`, so no generator state needs saving.
//!
//! Loading checks the length fields, the checksum, the header, every tensor's
//! dtype/shape/offsets (sizes in checked arithmetic), and the tiling, and reports a truncated,
//! edited or corrupted file as [`Error::Format`] naming the file. A resumed run also compares
//! the stored SPEC and data fingerprint with the data it loads.

use super::step::LossTerms;
use super::train::{OracleMode, Stage1Config, TrainState};
use crate::data::noise::SaltPepper;
use crate::data::pairs::PairMode;
use crate::error::{Error, Result};
use crate::losses::{DistributionMode, ReconstructionLoss};
use crate::optim::{AdamState, WeightDecay};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` metadata value.
pub const FORMAT: &str = "detaux-stage1-checkpoint";
/// The `version` metadata value.
pub const VERSION: &str = "2";

/// A loaded checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Weights, Adam state, position.
    pub state: TrainState,
    /// The run's config.
    pub config: Stage1Config,
    /// The dataset SPEC.
    pub dataset: String,
    /// Fingerprint of the training data ([`crate::data::Dataset::fingerprint`]).
    pub data_fingerprint: String,
}

/// The 16 hex digits that stand for the checksum while it is computed.
const CHECKSUM_PLACEHOLDER: &str = "0000000000000000";

/// FNV-1a 64 of `head` followed by `data`.
fn checksum(head: &[u8], data: &[u8]) -> String {
    let h = crate::rng::fnv1a64_continue(crate::rng::fnv1a64_bytes(head), data);
    format!("{h:016x}")
}

/// Where the checksum's digits sit in the header: the one occurrence of `"checksum":"<sum>"`.
fn checksum_span(head: &[u8], sum: &str) -> Option<std::ops::Range<usize>> {
    let pat = format!("\"checksum\":\"{sum}\"");
    let pat = pat.as_bytes();
    let mut hits = head.windows(pat.len()).enumerate().filter(|(_, w)| *w == pat).map(|(i, _)| i);
    let first = hits.next()?;
    if hits.next().is_some() {
        return None;
    }
    let start = first + pat.len() - 1 - sum.len();
    Some(start..start + sum.len())
}

/// Serialises a checkpoint to bytes (see the module docs); `data_fingerprint` is the
/// training data's [`crate::data::Dataset::fingerprint`].
///
/// # Errors
/// [`Error::InvalidData`] if a tensor is not contiguous (never for trainer states).
pub fn checkpoint_bytes(
    state: &TrainState,
    config: &Stage1Config,
    dataset: &str,
    data_fingerprint: &str,
) -> Result<Vec<u8>> {
    let mut tensors: Vec<(String, &crate::autodiff::Tensor<f32>)> = Vec::new();
    for (name, v) in &state.params {
        tensors.push((format!("param/{name}"), v));
    }
    for (name, st) in &state.adam {
        tensors.push((format!("adam_m/{name}"), &st.m));
        tensors.push((format!("adam_v/{name}"), &st.v));
    }
    let mut data = Vec::new();
    let mut header = Map::new();
    for (name, t) in &tensors {
        let start = data.len();
        let owned;
        let slice = match t.as_slice() {
            Some(s) => s,
            None => {
                owned = t.as_standard_layout().into_owned();
                owned.as_slice().expect("standard layout")
            }
        };
        for v in slice {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(name.clone(), json!({"dtype": "F32", "shape": t.shape(), "data_offsets": [start, data.len()]}));
    }
    let steps: Map<String, Value> = state.adam.iter().map(|(n, s)| (n.clone(), json!(s.step))).collect();
    let meta = json!({
        "format": FORMAT,
        "version": VERSION,
        "epoch": state.epoch.to_string(),
        "batch": state.batch.to_string(),
        "global_step": state.global_step.to_string(),
        "adam_steps": Value::Object(steps).to_string(),
        "epoch_steps": state.epoch_steps.to_string(),
        "epoch_sum": terms_to_json(&state.epoch_sum).to_string(),
        "config": config_to_json(config).to_string(),
        "dataset": dataset,
        "data_fingerprint": data_fingerprint,
        "checksum": CHECKSUM_PLACEHOLDER,
    });
    header.insert("__metadata__".into(), meta);
    let mut head = Value::Object(header).to_string().into_bytes();
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let span = checksum_span(&head, CHECKSUM_PLACEHOLDER).expect("one checksum field");
    let sum = checksum(&head, &data);
    head[span].copy_from_slice(sum.as_bytes());
    let mut out = Vec::with_capacity(8 + head.len() + data.len());
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&data);
    Ok(out)
}

/// Writes a checkpoint atomically to `path`.
///
/// # Errors
/// [`Error::Io`] if the file cannot be written.
pub fn save_checkpoint(
    path: &Path,
    state: &TrainState,
    config: &Stage1Config,
    dataset: &str,
    data_fingerprint: &str,
) -> Result<()> {
    crate::io::write_atomic(path, &checkpoint_bytes(state, config, dataset, data_fingerprint)?)
}

/// Reads and checks a checkpoint.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Format`] (naming the file and what is
/// wrong) if it is truncated, corrupted or not a stage-1 checkpoint.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_checkpoint(&bytes).map_err(|why| Error::format(path, format!("not a valid stage-1 checkpoint: {why}")))
}

fn meta_str<'a>(meta: &'a Map<String, Value>, key: &str) -> std::result::Result<&'a str, String> {
    meta.get(key).and_then(Value::as_str).ok_or_else(|| format!("metadata '{key}' is missing"))
}

fn meta_num<T: std::str::FromStr>(meta: &Map<String, Value>, key: &str) -> std::result::Result<T, String> {
    meta_str(meta, key)?.parse().map_err(|_| format!("metadata '{key}' is not a number"))
}

/// Parses checkpoint bytes (see [`load_checkpoint`]); the error is a reason without the path.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_checkpoint(bytes: &[u8]) -> std::result::Result<Checkpoint, String> {
    if bytes.len() < 8 {
        return Err(format!("truncated: {} bytes, the header length alone needs 8", bytes.len()));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    if n > bytes.len() - 8 {
        return Err(format!("truncated: header of {n} bytes but only {} follow", bytes.len() - 8));
    }
    let head = &bytes[8..8 + n];
    let header: Value = serde_json::from_slice(head).map_err(|e| format!("header is not JSON: {e}"))?;
    let header = header.as_object().ok_or("header is not a JSON object")?;
    let meta = header.get("__metadata__").and_then(Value::as_object).ok_or("no __metadata__")?;
    if meta_str(meta, "format")? != FORMAT {
        return Err(format!("format is '{}', expected '{FORMAT}'", meta_str(meta, "format")?));
    }
    if meta_str(meta, "version")? != VERSION {
        return Err(format!("version {} is not supported (expected {VERSION})", meta_str(meta, "version")?));
    }
    let data = &bytes[8 + n..];
    let mut entries: Vec<(usize, usize, &str, Vec<usize>)> = Vec::new();
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = v.get("dtype").and_then(Value::as_str).ok_or_else(|| format!("tensor {name}: no dtype"))?;
        if dtype != "F32" {
            return Err(format!("tensor {name}: dtype {dtype}, expected F32"));
        }
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("tensor {name}: no shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("tensor {name}: bad shape"))?;
        let off = v
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .and_then(|a| Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)))
            .ok_or_else(|| format!("tensor {name}: bad data_offsets"))?;
        let bytes_needed = shape.iter().try_fold(4usize, |a, &d| a.checked_mul(d));
        if off.1 < off.0 || Some(off.1 - off.0) != bytes_needed {
            return Err(format!("tensor {name}: offsets {off:?} do not hold shape {shape:?}"));
        }
        entries.push((off.0, off.1, name, shape));
    }
    entries.sort();
    let mut pos = 0;
    for (s, e, name, _) in &entries {
        if *s != pos {
            return Err(format!("tensor {name}: data starts at {s}, expected {pos} (gap or overlap)"));
        }
        pos = *e;
    }
    if pos != data.len() {
        return Err(format!("truncated or padded: tensors need {pos} data bytes, the file has {}", data.len()));
    }
    let want_sum = meta_str(meta, "checksum")?;
    let span = checksum_span(head, want_sum).ok_or("the checksum field is malformed")?;
    let mut zeroed = head.to_vec();
    zeroed[span].copy_from_slice(CHECKSUM_PLACEHOLDER.as_bytes());
    let got_sum = checksum(&zeroed, &bytes[8 + n..]);
    if want_sum != got_sum {
        return Err(format!("corrupted or edited: checksum {got_sum} differs from the stored {want_sum}"));
    }
    let steps: Value = serde_json::from_str(meta_str(meta, "adam_steps")?).map_err(|e| format!("adam_steps: {e}"))?;
    let config: Value = serde_json::from_str(meta_str(meta, "config")?).map_err(|e| format!("config: {e}"))?;
    let config = config_from_json(&config).map_err(|e| format!("config: {e}"))?;
    let mut params = Vec::new();
    let mut m = BTreeMap::new();
    let mut v = BTreeMap::new();
    for (s, e, name, shape) in entries {
        let values: Vec<f32> =
            data[s..e].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let t = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), values).expect("length checked");
        if let Some(p) = name.strip_prefix("param/") {
            params.push((p.to_string(), t));
        } else if let Some(p) = name.strip_prefix("adam_m/") {
            m.insert(p.to_string(), t);
        } else if let Some(p) = name.strip_prefix("adam_v/") {
            v.insert(p.to_string(), t);
        } else {
            return Err(format!("unexpected tensor {name}"));
        }
    }
    let mut adam = BTreeMap::new();
    for (name, mt) in m {
        let vt = v.remove(&name).ok_or_else(|| format!("adam_v/{name} is missing"))?;
        let step = steps.get(&name).and_then(Value::as_u64).ok_or_else(|| format!("no Adam step count for {name}"))?;
        adam.insert(name, AdamState { step, m: mt, v: vt });
    }
    if let Some(name) = v.keys().next() {
        return Err(format!("adam_m/{name} is missing"));
    }
    let state = TrainState {
        epoch: meta_num(meta, "epoch")?,
        batch: meta_num(meta, "batch")?,
        global_step: meta_num(meta, "global_step")?,
        params,
        adam,
        epoch_sum: terms_from_json(meta_str(meta, "epoch_sum")?)?,
        epoch_steps: meta_num(meta, "epoch_steps")?,
    };
    Ok(Checkpoint {
        state,
        config,
        dataset: meta_str(meta, "dataset")?.to_string(),
        data_fingerprint: meta_str(meta, "data_fingerprint")?.to_string(),
    })
}

fn terms_to_json(t: &LossTerms) -> Value {
    json!({
        "reconstruction": f(t.reconstruction),
        "sparsity": f(t.sparsity),
        "consistency": f(t.consistency),
        "distance": f(t.distance),
        "distribution": f(t.distribution),
        "total": f(t.total),
    })
}

fn terms_from_json(text: &str) -> std::result::Result<LossTerms, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("epoch_sum: {e}"))?;
    let g = |k: &str| -> std::result::Result<f64, String> {
        v.get(k).and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or_else(|| format!("epoch_sum: bad '{k}'"))
    };
    Ok(LossTerms {
        reconstruction: g("reconstruction")?,
        sparsity: g("sparsity")?,
        consistency: g("consistency")?,
        distance: g("distance")?,
        distribution: g("distribution")?,
        total: g("total")?,
    })
}

fn f(v: f64) -> Value {
    Value::String(format!("{v:?}"))
}

/// The config as JSON (floats as strings, so parsing gives the same bits back).
pub fn config_to_json(c: &Stage1Config) -> Value {
    let (pairs, p) = match c.pair_mode {
        PairMode::Intended { p } => ("intended", f(p)),
        PairMode::Uniform => ("uniform", Value::Null),
        PairMode::Minimal { p } => ("minimal", f(p)),
    };
    json!({
        "epochs": c.epochs,
        "pairs_per_epoch": c.pairs_per_epoch,
        "batch_size": c.batch_size,
        "lr": f(c.adam.lr),
        "adam_beta1": f(c.adam.betas.0),
        "adam_beta2": f(c.adam.betas.1),
        "adam_eps": f(c.adam.eps),
        "weight_decay": f(c.adam.weight_decay),
        "weight_decay_mode": match c.adam.decay { WeightDecay::L2 => "l2", WeightDecay::Decoupled => "decoupled" },
        "lambda_distance": f(c.losses.lambda_distance),
        "lambda_sparsity": f(c.losses.lambda_sparsity),
        "lambda_consistency": f(c.losses.lambda_consistency),
        "lambda_distribution": f(c.losses.lambda_distribution),
        "reconstruction": match c.losses.reconstruction { ReconstructionLoss::Mse => "mse", ReconstructionLoss::Bce => "bce" },
        "distribution": match c.losses.distribution { DistributionMode::Reference => "reference", DistributionMode::Trainable => "trainable" },
        "n_subspaces": c.n_subspaces,
        "latent_dim": c.latent_dim,
        "principal": c.principal,
        "pairs": pairs,
        "p": p,
        "oracle": match c.oracle { OracleMode::Forced => "forced", OracleMode::Unforced => "unforced" },
        "noise": c.noise.map(|n| json!({"threshold": f(n.threshold as f64), "dark": f(n.dark as f64), "bright": f(n.bright as f64)})),
        "seed": c.seed,
        "val_fraction": f(c.val_fraction),
        "val_images": c.val_images,
        "image_size": c.image_size,
    })
}

/// Parses [`config_to_json`]'s output and validates it.
///
/// # Errors
/// [`Error::InvalidData`] naming a missing or malformed field; validation errors.
pub fn config_from_json(v: &Value) -> Result<Stage1Config> {
    let bad = |k: &str| Error::InvalidData(format!("stage-1 config: field '{k}' is missing or malformed"));
    let uint = |k: &str| v.get(k).and_then(Value::as_u64).ok_or_else(|| bad(k));
    let float = |k: &str| -> Result<f64> {
        v.get(k).and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok()).ok_or_else(|| bad(k))
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).ok_or_else(|| bad(k));
    let sub_float = |o: &Value, k: &str| -> Result<f32> {
        o.get(k).and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok()).map(|x| x as f32).ok_or_else(|| bad(k))
    };
    let c = Stage1Config {
        epochs: uint("epochs")? as usize,
        pairs_per_epoch: match v.get("pairs_per_epoch") {
            Some(Value::Null) => None,
            Some(x) => Some(x.as_u64().ok_or_else(|| bad("pairs_per_epoch"))? as usize),
            None => return Err(bad("pairs_per_epoch")),
        },
        batch_size: uint("batch_size")? as usize,
        adam: crate::optim::AdamConfig {
            lr: float("lr")?,
            betas: (float("adam_beta1")?, float("adam_beta2")?),
            eps: float("adam_eps")?,
            weight_decay: float("weight_decay")?,
            decay: match text("weight_decay_mode")? {
                "l2" => WeightDecay::L2,
                "decoupled" => WeightDecay::Decoupled,
                _ => return Err(bad("weight_decay_mode")),
            },
        },
        losses: super::step::LossConfig {
            lambda_distance: float("lambda_distance")?,
            lambda_sparsity: float("lambda_sparsity")?,
            lambda_consistency: float("lambda_consistency")?,
            lambda_distribution: float("lambda_distribution")?,
            reconstruction: match text("reconstruction")? {
                "mse" => ReconstructionLoss::Mse,
                "bce" => ReconstructionLoss::Bce,
                _ => return Err(bad("reconstruction")),
            },
            distribution: match text("distribution")? {
                "reference" => DistributionMode::Reference,
                "trainable" => DistributionMode::Trainable,
                _ => return Err(bad("distribution")),
            },
        },
        n_subspaces: uint("n_subspaces")? as usize,
        latent_dim: uint("latent_dim")? as usize,
        principal: match v.get("principal") {
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            _ => return Err(bad("principal")),
        },
        pair_mode: match text("pairs")? {
            "intended" => PairMode::Intended { p: float("p")? },
            "uniform" => PairMode::Uniform,
            "minimal" => PairMode::Minimal { p: float("p")? },
            _ => return Err(bad("pairs")),
        },
        oracle: match text("oracle")? {
            "forced" => OracleMode::Forced,
            "unforced" => OracleMode::Unforced,
            _ => return Err(bad("oracle")),
        },
        noise: match v.get("noise") {
            Some(Value::Null) => None,
            Some(o @ Value::Object(_)) => Some(SaltPepper {
                threshold: sub_float(o, "threshold")?,
                dark: sub_float(o, "dark")?,
                bright: sub_float(o, "bright")?,
            }),
            _ => return Err(bad("noise")),
        },
        seed: uint("seed")?,
        val_fraction: float("val_fraction")?,
        val_images: uint("val_images")? as usize,
        // Absent in checkpoints written before smaller model inputs existed: those are 64.
        image_size: match v.get("image_size") {
            None => 64,
            Some(x) => x.as_u64().ok_or_else(|| bad("image_size"))? as usize,
        },
    };
    c.validate()?;
    Ok(c)
}
