//! A plain-text description of a dataset as the experiments see it (what `detaux inspect`
//! prints): count, image shape, memory, value range, model input, every factor's values and
//! counts, and the split the stage-3 runs use ([`experiment_splits`], the same call and seed
//! as `detaux train` and `detaux run`).

use crate::data::spec::DatasetSpec;
use crate::data::{Dataset, LabelKind};
use crate::error::Result;
use crate::mtl::data::{experiment_splits, split_rule, SplitConfig};
use crate::rng::SeedTree;
use std::cmp::Ordering::{Equal, Less};
use std::fmt::Write as _;

fn human_bytes(b: usize) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

/// `detaux inspect`: checks the settings, loads the dataset SPEC `spec` with master seed
/// `seed`, sets the principal factor (by name or index; `None` = the dataset's own) and
/// describes the result ([`describe`]).
///
/// # Errors
/// [`crate::Error::InvalidParam`] (`model_size`, the split's fractions) before any loading;
/// whatever the loader reports; an unknown principal factor; as [`describe`].
pub fn inspect(
    spec: &str,
    principal: Option<&str>,
    model_size: usize,
    split: &SplitConfig,
    seed: u64,
) -> Result<String> {
    let spec: DatasetSpec = spec.parse()?;
    crate::limits::check_image_side("model_size", model_size)?;
    split.validate()?;
    let mut data = spec.load(&SeedTree::new(seed))?;
    if let Some(p) = principal {
        data.set_principal(p)?;
    }
    describe(&spec, &data, model_size, split, seed)
}

/// The description of `data` (loaded from `spec` with master seed `seed`) for a model input of
/// side `model_size` and the splits of `split`, one fact per line.
///
/// # Errors
/// As [`experiment_splits`] (fractions out of range, an empty split).
pub fn describe(
    spec: &DatasetSpec,
    data: &Dataset,
    model_size: usize,
    split: &SplitConfig,
    seed: u64,
) -> Result<String> {
    let mut s = String::new();
    let raw = data.len() * data.image_len();
    let _ = writeln!(s, "dataset:      {spec}");
    let _ = writeln!(s, "images:       {}", data.len());
    let _ = writeln!(s, "image shape:  {}x{}x{} (h x w x c, uint8)", data.height(), data.width(), data.channels());
    let _ = writeln!(s, "memory:       {} ({} raw images + factors)", human_bytes(data.heap_bytes()), human_bytes(raw));
    let (lo, hi) = data.value_range();
    let _ =
        writeln!(s, "value range:  {lo}..{hi} (as model input: {:.4}..{:.4})", lo as f32 / 255.0, hi as f32 / 255.0);
    let _ = writeln!(
        s,
        "model input:  {m}x{m}x{c} ({})",
        match (data.height().cmp(&model_size), data.width().cmp(&model_size)) {
            (Equal, Equal) => "no resize needed",
            (Less, _) | (_, Less) => "bilinear resize at load time",
            _ => "area-averaging resize at load time",
        },
        m = model_size,
        c = data.channels()
    );
    let kind = match data.kind() {
        LabelKind::Classes => "class labels",
        LabelKind::Factors => "factors of variation",
    };
    let _ = writeln!(s, "labels:       {} column(s) of {kind}", data.n_factors());
    for (k, f) in data.factor_specs().iter().enumerate() {
        let counts = data.value_counts(k);
        let present = counts.iter().filter(|&&c| c > 0).count();
        let mark = if k == data.principal() { "  <- principal" } else { "" };
        let _ = writeln!(s, "  [{k}] {:<12} cardinality {:>3}, {present} values present{mark}", f.name, f.cardinality);
        if data.kind() == LabelKind::Classes || f.cardinality <= 10 {
            let list: Vec<String> = counts.iter().enumerate().map(|(v, c)| format!("{v}:{c}")).collect();
            let _ = writeln!(s, "      counts  {}", list.join(" "));
        } else {
            let (mn, mx) = (counts.iter().min().unwrap_or(&0), counts.iter().max().unwrap_or(&0));
            let _ = writeln!(s, "      images per value: {mn}..{mx}");
        }
    }
    let seeds = SeedTree::new(seed);
    let full = experiment_splits(data, &SplitConfig { train_fraction: None, val_fraction: None, ..*split }, &seeds)?;
    let rule = match split_rule(data) {
        "3dshapes" => "3DShapes (train: floor_hue<5 or wall_hue<5; test: both >=5)".to_string(),
        "shipped" => "the dataset's own train/test files".to_string(),
        _ => {
            format!("stratified by {}, test_fraction {} (seed {seed})", data.principal_spec().name, split.test_fraction)
        }
    };
    let _ = writeln!(s, "split:        {rule}: train {} / test {}", full.train.len(), full.test.len());
    if split.train_fraction.is_some() || split.val_fraction.is_some() {
        let kept = experiment_splits(data, split, &seeds)?;
        let _ = write!(s, "kept:         train {}", kept.train.len());
        if let Some(f) = split.train_fraction {
            let _ = write!(
                s,
                " (train_fraction {f}: {} of {} training images, stratified)",
                kept.train.len(),
                full.train.len()
            );
        }
        if let Some(v) = &kept.val {
            let _ = write!(s, " / val {}", v.len());
        }
        let _ = writeln!(s);
    }
    Ok(s)
}
