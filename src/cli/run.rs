//! `detaux run`: the whole pipeline (stage 1 → stage 2 → stage 3 + STL and two controls) over
//! several seeds, and the report a person reads.
//!
//! Per seed, [`crate::pipeline::run_seed`] does the work; this module picks the preset, shows
//! progress, and writes into `--out DIR` (default `runs/<preset>`):
//!
//! | file | content |
//! |---|---|
//! | `report.json` | config, versions, seeds, per seed the chosen subspace and cluster statistics, and per arm the principal-task test accuracy and macro-F1 (mean ± std over seeds); wall times under `"timing"` only |
//! | `report.md` | the same as tables, with the pictures below linked |
//! | `curves.png` | principal-task training loss and test accuracy per epoch of each arm |
//! | `traversal.png`, `reconstructions.png` | stage 1 of the first seed |
//! | `clusters.png` | the chosen subspace of the first seed (2-D PCA) coloured by aux label |
//! | `seed-S/aux_labels.npy` | the discovered labels of seed `S` (int64, dataset order) |
//!
//! ## Presets
//! `digits` (default for `--dataset digits`) finishes in a few minutes at 2 threads: scarce
//! data (20% of the training split), stage 1 for 10 epochs × 2048 pairs, k-means with `k`
//! chosen by silhouette in 2..=8, stage 3 for 30 epochs. `shapes3d` (default for
//! `shapes3d-synth` SPECs) runs on `shapes3d-synth:24000` with the 3DShapes split, principal
//! factor object hue, 5% of the training split. Every preset value can be overridden by a flag.

use crate::cli::disentangle::write_pictures;
use crate::cli::train::BarObserver;
use crate::data::spec::{DatasetSpec, SPEC_HELP};
use crate::error::{Error, Result};
use crate::io::write_npy;
use crate::mtl::data::SplitConfig;
use crate::mtl::report::Report;
use crate::mtl::weighting::WeightingSpec;
use crate::mtl::TrainConfig;
use crate::par::ThreadPool;
use crate::pipeline::{run_seed, AuxClustering, Clustering, Hooks, PipelineConfig, SeedOutcome};
use crate::rng::SeedTree;
use crate::stage1::{Control, EpochRecord, Observer, Stage1Config, StepRecord, Trainer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `detaux run`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!(
    "Presets: digits (default for --dataset digits), shapes3d (default for shapes3d-synth SPECs); \
     other SPECs start from the digits preset. Clustering: kmeans:K, kmeans:auto, kmeans:auto:MIN-MAX, \
     hdbscan:MIN_CLUSTER_SIZE.\n\n{SPEC_HELP}"
))]
pub struct RunArgs {
    /// The dataset SPEC (default: the preset's).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Output directory (created if missing; default `runs/<preset>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Preset: digits or shapes3d (default: from the dataset).
    #[arg(long)]
    pub preset: Option<String>,
    /// Number of seeds (seed, seed+1, …).
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// First master seed.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Worker threads (results are identical for any value; default: all available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Principal factor by name or index (default: the preset's, else the dataset's own).
    #[arg(long)]
    pub principal: Option<String>,
    /// Stage-1 epochs.
    #[arg(long)]
    pub dis_epochs: Option<usize>,
    /// Stage-1 pairs per epoch.
    #[arg(long)]
    pub pairs_per_epoch: Option<usize>,
    /// Stage-2 clustering: kmeans:K, kmeans:auto[:MIN-MAX], hdbscan:M.
    #[arg(long)]
    pub clustering: Option<String>,
    /// Cluster this subspace instead of the selection rule's.
    #[arg(long)]
    pub subspace: Option<usize>,
    /// Stage-3 epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Keep this fraction of every class of the training split (scarce data).
    #[arg(long)]
    pub train_fraction: Option<f64>,
    /// Stage-3 loss weighting of the MTL arms: equal, fixed:W1,W2, uw, dwa, gradnorm, pcgrad.
    #[arg(long, default_value = "equal")]
    pub weighting: String,
}

/// A preset: dataset, principal factor and every stage's budget.
struct Preset {
    name: &'static str,
    dataset: &'static str,
    principal: Option<&'static str>,
    dis_epochs: usize,
    pairs_per_epoch: usize,
    clustering: &'static str,
    epochs: usize,
    train_fraction: f64,
}

const PRESETS: [Preset; 2] = [
    Preset {
        name: "digits",
        dataset: "digits",
        principal: None,
        dis_epochs: 10,
        pairs_per_epoch: 2048,
        clustering: "kmeans:auto:2-8",
        epochs: 30,
        train_fraction: 0.2,
    },
    Preset {
        name: "shapes3d",
        dataset: "shapes3d-synth:24000",
        principal: Some("object_hue"),
        dis_epochs: 10,
        pairs_per_epoch: 4096,
        clustering: "kmeans:auto:2-8",
        epochs: 10,
        train_fraction: 0.05,
    },
];

/// Parses `--clustering`.
///
/// # Errors
/// [`Error::InvalidParam`] named `--clustering`.
pub fn parse_clustering(s: &str) -> Result<Clustering> {
    let bad = |why: &str| {
        Error::param("--clustering", format!("{why}; expected kmeans:K, kmeans:auto[:MIN-MAX] or hdbscan:M, got '{s}'"))
    };
    let num = |t: &str| t.parse::<usize>().map_err(|_| bad(&format!("'{t}' is not a number")));
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["kmeans", "auto"] => Ok(Clustering::KMeansAuto { k_min: 2, k_max: 8 }),
        ["kmeans", "auto", range] => {
            let (a, b) = range.split_once('-').ok_or_else(|| bad("the range must be MIN-MAX"))?;
            let (k_min, k_max) = (num(a)?, num(b)?);
            if k_min < 2 || k_min > k_max {
                return Err(bad("need 2 <= MIN <= MAX"));
            }
            Ok(Clustering::KMeansAuto { k_min, k_max })
        }
        ["kmeans", k] => match num(k)? {
            k if k >= 2 => Ok(Clustering::KMeans { k }),
            _ => Err(bad("k must be >= 2")),
        },
        ["hdbscan", m] => match num(m)? {
            m if m >= 2 => Ok(Clustering::Hdbscan { min_cluster_size: m, min_samples: None }),
            _ => Err(bad("the minimum cluster size must be >= 2")),
        },
        _ => Err(bad("unknown form")),
    }
}

/// Stage-1 progress on an indicatif bar.
struct Stage1Bar {
    bar: ProgressBar,
    seed: u64,
}

impl Observer for Stage1Bar {
    fn on_step(&mut self, t: &Trainer, r: &StepRecord) -> Result<Control> {
        if self.bar.length() == Some(0) {
            self.bar.set_length((r.batches_per_epoch * t.config().epochs) as u64);
        }
        self.bar.set_position(r.global_step);
        self.bar.set_message(format!(
            "ep {}/{} rec {:.5} dist {:.4} cons {:.5}",
            r.epoch + 1,
            t.config().epochs,
            r.terms.reconstruction,
            r.terms.distance,
            r.terms.consistency
        ));
        Ok(Control::Continue)
    }
    fn on_epoch(&mut self, t: &Trainer, r: &EpochRecord) -> Result<Control> {
        let line = format!(
            "seed {} disentangle epoch {:>3}/{}: validation reconstruction {:.5}",
            self.seed,
            r.epoch + 1,
            t.config().epochs,
            r.val_reconstruction
        );
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
        Ok(Control::Continue)
    }
}

fn seed_details(o: &SeedOutcome) -> Value {
    json!({
        "seed": o.seed,
        "split": {"train": o.split_sizes.0, "val": o.split_sizes.1, "test": o.split_sizes.2},
        "stage1_val_reconstruction": o.stage1_val_loss,
        "chosen_subspace": o.chosen_subspace,
        "subspace_scores": o.subspace_scores,
        "aux_classes": o.aux_classes,
        "aux_sizes": o.aux_sizes,
        "aux_nmi_with_factors": o.aux_nmi.iter().map(|(n, v)| json!({"factor": n, "nmi": v})).collect::<Vec<_>>(),
    })
}

/// The per-seed stage-1/2 table of `report.md`.
fn seeds_markdown(outcomes: &[Value]) -> String {
    let mut s = String::from(
        "| seed | train / test images | stage-1 val. reconstruction | chosen subspace | aux labels | label sizes | NMI(aux, factor) |\n|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let nmi: Vec<String> = o["aux_nmi_with_factors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!("{} {:.3}", x["factor"].as_str().unwrap_or("?"), x["nmi"].as_f64().unwrap_or(f64::NAN))
                    })
                    .collect()
            })
            .unwrap_or_default();
        s.push_str(&format!(
            "| {} | {} / {} | {:.5} | {} | {} | {} | {} |\n",
            o["seed"],
            o["split"]["train"],
            o["split"]["test"],
            o["stage1_val_reconstruction"].as_f64().unwrap_or(f64::NAN),
            o["chosen_subspace"],
            o["aux_classes"],
            o["aux_sizes"],
            nmi.join(", ")
        ));
    }
    s.push_str("\nThe chosen subspace is argmin over k >= 1 of |mean <s_k, s_0>| on the training images; NMI is computed on all images.\n");
    s
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Runs `detaux run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let t_start = Instant::now();
    let preset_name = match (&args.preset, &args.dataset) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) if d.starts_with("shapes3d") => "shapes3d".to_string(),
        _ => "digits".to_string(),
    };
    let preset = PRESETS
        .iter()
        .find(|p| p.name == preset_name)
        .ok_or_else(|| Error::param("--preset", format!("unknown preset '{preset_name}' (digits, shapes3d)")))?;
    if args.seeds == 0 {
        return Err(Error::param("--seeds", "must be >= 1"));
    }
    let spec: DatasetSpec = args.dataset.as_deref().unwrap_or(preset.dataset).parse()?;
    let weighting: WeightingSpec = args.weighting.parse()?;
    let clustering = parse_clustering(args.clustering.as_deref().unwrap_or(preset.clustering))?;
    let stage1 = Stage1Config {
        epochs: args.dis_epochs.unwrap_or(preset.dis_epochs),
        pairs_per_epoch: Some(args.pairs_per_epoch.unwrap_or(preset.pairs_per_epoch)),
        ..Stage1Config::default()
    };
    stage1.validate().map_err(|e| match e {
        Error::InvalidParam { name, reason } if name == "epochs" => Error::param("--dis-epochs", reason),
        Error::InvalidParam { name, reason } if name == "pairs_per_epoch" => Error::param("--pairs-per-epoch", reason),
        other => other,
    })?;
    let stage3 = TrainConfig { epochs: args.epochs.unwrap_or(preset.epochs), ..TrainConfig::default() };
    stage3.validate()?;
    let split = SplitConfig {
        train_fraction: Some(args.train_fraction.unwrap_or(preset.train_fraction)),
        ..SplitConfig::default()
    };
    let cfg = PipelineConfig {
        stage1,
        clustering: AuxClustering::new(clustering.clone()),
        subspace: args.subspace,
        split,
        stage3,
        weighting: weighting.clone(),
        pixel_kmeans_max_fit: 2000,
    };
    let threads = args.threads.unwrap_or_else(crate::par::default_threads);
    let pool = ThreadPool::new(threads)?;
    let out_dir = args.out.clone().unwrap_or_else(|| Path::new("runs").join(preset.name));

    let mut data = pool.install(|| spec.load(&SeedTree::new(args.seed)))?;
    if let Some(p) = args.principal.as_deref().or(preset.principal) {
        data.set_principal(p)?;
    }
    let channels = data.channels();
    let data = pool.install(|| data.to_model_input(64, channels))?;
    create_dir(&out_dir)?;
    eprintln!(
        "detaux run: {spec} ({} images, principal '{}'), preset {}, {} seed(s), {threads} thread(s)",
        data.len(),
        data.principal_spec().name,
        preset.name,
        args.seeds
    );

    let mut report = Report::default();
    let mut details = Vec::new();
    let mut totals: Vec<(String, f64)> = Vec::new();
    for i in 0..args.seeds {
        let seed = args.seed + i as u64;
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("seed {prefix} disentangle [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(seed.to_string());
        let mut s1 = Stage1Bar { bar, seed };
        let mut on_stage = |seed: u64, stage: &str| eprintln!("seed {seed}: {stage}");
        let epochs = cfg.stage3.epochs;
        let mut on_arm = |arm: &str, seed: u64| -> Box<dyn crate::mtl::Observer> {
            Box::new(BarObserver::new(&format!("seed {seed} {arm}"), epochs, None))
        };
        let outcome = pool.install(|| {
            run_seed(&data, &cfg, seed, &mut Hooks { stage: &mut on_stage, stage1: &mut s1, arm: &mut on_arm })
        });
        s1.bar.finish_and_clear();
        let outcome = outcome?;
        let seed_dir = out_dir.join(format!("seed-{seed}"));
        create_dir(&seed_dir)?;
        write_npy(&seed_dir.join("aux_labels.npy"), &[outcome.aux_labels.len()], &outcome.aux_labels)?;
        if i == 0 {
            write_pictures(&outcome.stage1, &data.select(&outcome.train_indices)?, &out_dir, "")?;
            crate::cli::cluster::scatter_png(
                outcome.codes.view(),
                &outcome.aux_labels,
                None,
                &format!("subspace {} ({} aux labels), seed {seed}", outcome.chosen_subspace, outcome.aux_classes),
                &SeedTree::new(seed),
                &out_dir.join("clusters.png"),
            )?;
        }
        for (name, s) in &outcome.stage_seconds {
            match totals.iter_mut().find(|(n, _)| n == name) {
                Some(t) => t.1 += s,
                None => totals.push((name.clone(), *s)),
            }
        }
        details.push(seed_details(&outcome));
        report.runs.extend(outcome.runs);
    }
    report.stage_seconds = totals;
    report.config = json!({
        "command": "run",
        "preset": preset.name,
        "dataset": spec.to_string(),
        "principal": data.principal_spec().name,
        "first_seed": args.seed,
        "seeds": args.seeds,
        "stage1": {"epochs": cfg.stage1.epochs, "pairs_per_epoch": cfg.stage1.pairs_per_epoch,
                   "batch_size": cfg.stage1.batch_size, "subspaces": cfg.stage1.n_subspaces,
                   "latent_dim": cfg.stage1.latent_dim, "trained_on": "training split"},
        "stage2": {"clustering": args.clustering.as_deref().unwrap_or(preset.clustering),
                   "subspace_override": args.subspace, "n_init": cfg.clustering.n_init},
        "stage3": {"epochs": cfg.stage3.epochs, "batch_size": cfg.stage3.batch_size, "lr": cfg.stage3.lr,
                   "weight_decay": cfg.stage3.weight_decay, "optimizer": "AdamW", "weighting": weighting.to_string(),
                   "train_fraction": cfg.split.train_fraction, "test_fraction": cfg.split.test_fraction},
    });
    report.sections = vec![("Discovered auxiliary task per seed".into(), seeds_markdown(&details))];
    report.details = json!({ "seeds": details });
    report.figures = vec![
        ("Stage-1 latent traversal (first seed)".into(), "traversal.png".into()),
        ("Stage-1 reconstructions (first seed)".into(), "reconstructions.png".into()),
        ("Chosen subspace, coloured by aux label (first seed)".into(), "clusters.png".into()),
    ];
    report.write(&out_dir)?;
    println!("{}", report.summary_text());
    println!("wrote {} in {:.1}s", out_dir.join("report.md").display(), t_start.elapsed().as_secs_f64());
    Ok(())
}
