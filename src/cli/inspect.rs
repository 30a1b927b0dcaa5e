//! `detaux inspect`: load a dataset and print what a user needs to trust it.

use crate::data::spec::{DatasetSpec, SPEC_HELP};
use crate::data::split::{check_test_fraction, check_train_fraction, shapes3d_split, stratified_split, train_fraction};
use crate::data::{Dataset, LabelKind};
use crate::error::Result;
use crate::par::ThreadPool;
use crate::rng::SeedTree;
use std::time::Instant;

/// Arguments of `detaux inspect`.
#[derive(clap::Args, Debug)]
#[command(after_help = SPEC_HELP)]
pub struct InspectArgs {
    /// The dataset SPEC (see below).
    #[arg(long)]
    pub dataset: String,
    /// Principal factor, by name or index (default: the dataset's own, e.g. label, object_hue).
    #[arg(long)]
    pub principal: Option<String>,
    /// Test fraction of the stratified split (datasets without the 3DShapes hue factors).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Keep this fraction of every class of the training split (scarce-data runs).
    #[arg(long)]
    pub train_fraction: Option<f64>,
    /// Side of the stage-1 model input (images are resized to it at load time).
    #[arg(long, default_value_t = 64)]
    pub model_size: usize,
    /// Master seed (synthetic subsets, splits).
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Worker threads (default: all available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Kernels: native (this CPU's fastest) or portable (the same bits on any CPU).
    #[arg(long, default_value = "native")]
    pub kernels: crate::par::KernelSet,
}

fn human_bytes(b: usize) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

/// Loads the dataset and prints count, shape, value range, factors, and split sizes.
pub fn run(args: &InspectArgs) -> Result<()> {
    let spec: DatasetSpec = args.dataset.parse()?;
    if args.model_size == 0 {
        return Err(crate::error::Error::param("--model-size", "must be >= 1, got 0"));
    }
    check_test_fraction(args.test_fraction)?;
    if let Some(f) = args.train_fraction {
        check_train_fraction(f)?;
    }
    let threads = args.threads.unwrap_or_else(crate::par::default_threads);
    let pool = ThreadPool::with_kernels(threads, args.kernels)?;
    let seeds = SeedTree::new(args.seed);
    let t0 = Instant::now();
    let mut data = pool.install(|| spec.load(&seeds))?;
    if let Some(p) = &args.principal {
        data.set_principal(p)?;
    }
    eprintln!("loaded in {:.2}s", t0.elapsed().as_secs_f64());
    pool.install(|| report(&spec, &data, args, &seeds))
}

fn report(spec: &DatasetSpec, data: &Dataset, args: &InspectArgs, seeds: &SeedTree) -> Result<()> {
    let raw = data.len() * data.image_len();
    println!("dataset:      {spec}");
    println!("images:       {}", data.len());
    println!("image shape:  {}x{}x{} (h x w x c, uint8)", data.height(), data.width(), data.channels());
    println!("memory:       {} ({} raw images + factors)", human_bytes(data.heap_bytes()), human_bytes(raw));
    let (lo, hi) = data.value_range();
    println!("value range:  {lo}..{hi} (as model input: {:.4}..{:.4})", lo as f32 / 255.0, hi as f32 / 255.0);
    println!(
        "model input:  {s}x{s}x{c} (bilinear resize at load time{})",
        if data.height() == args.model_size && data.width() == args.model_size { ", none needed" } else { "" },
        s = args.model_size,
        c = data.channels()
    );
    let kind = match data.kind() {
        LabelKind::Classes => "class labels",
        LabelKind::Factors => "factors of variation",
    };
    println!("labels:       {} column(s) of {kind}", data.n_factors());
    for (k, s) in data.factor_specs().iter().enumerate() {
        let counts = data.value_counts(k);
        let present = counts.iter().filter(|&&c| c > 0).count();
        let mark = if k == data.principal() { "  <- principal" } else { "" };
        println!("  [{k}] {:<12} cardinality {:>3}, {present} values present{mark}", s.name, s.cardinality);
        if data.kind() == LabelKind::Classes || s.cardinality <= 10 {
            let list: Vec<String> = counts.iter().enumerate().map(|(v, c)| format!("{v}:{c}")).collect();
            println!("      counts  {}", list.join(" "));
        } else {
            let (mn, mx) = (counts.iter().min().unwrap_or(&0), counts.iter().max().unwrap_or(&0));
            println!("      images per value: {mn}..{mx}");
        }
    }
    if let Some(s) = data.predefined_split() {
        println!("file split:   train {} / test {}", s.train.len(), s.test.len());
    }
    let all: Vec<usize> = (0..data.len()).collect();
    let split = if data.factor_index("floor_hue").is_ok() && data.factor_index("wall_hue").is_ok() {
        let s = shapes3d_split(data)?;
        println!(
            "split:        3DShapes (train: floor_hue<5 or wall_hue<5; test: both >=5): train {} / test {}",
            s.train.len(),
            s.test.len()
        );
        s
    } else {
        let labels = data.labels(data.principal());
        let s = stratified_split(&all, &labels, args.test_fraction, seeds)?;
        println!(
            "split:        stratified by {}, test_fraction {} (seed {}): train {} / test {}",
            data.principal_spec().name,
            args.test_fraction,
            args.seed,
            s.train.len(),
            s.test.len()
        );
        s
    };
    if let Some(f) = args.train_fraction {
        let labels = data.labels(data.principal());
        let kept = train_fraction(&split.train, &labels, f, seeds)?;
        println!("train_fraction {f}: {} of {} training images kept (stratified)", kept.len(), split.train.len());
    }
    Ok(())
}
