//! The portable kernel set (`--kernels portable`, `ThreadPool::with_kernels(_, Portable)`):
//! a short stage-1 run (trained state and latents), k-means on those latents, and a few stage-3
//! steps give the same bits at 1 and 2 threads, and those bits are pinned to hashes committed
//! here. The portable kernels have one summation order and no fused multiply-add, so the
//! hashes hold on any CPU (x86-64 with or without AVX2 / AVX-512, aarch64) whose math library
//! gives the same `exp` / `ln` / `tanh` / `powf` (see `detaux::kernels::kernel_set`).
//!
//! The golden values were produced by this very path (`Portable`); a change of any kernel's
//! portable order, of the model, of the schedule or of an RNG stream changes them, and the
//! failure message prints the new values.
#![cfg(feature = "io")]

use detaux::cluster::KMeans;
use detaux::data::noise::SaltPepper;
use detaux::data::spec::DatasetSpec;
use detaux::data::Dataset;
use detaux::mtl::train::{MtlTrainer, TrainConfig};
use detaux::mtl::weighting::WeightingSpec;
use detaux::nn::Module;
use detaux::par::{KernelSet, ThreadPool};
use detaux::rng::SeedTree;
use detaux::stage1::{export_latents, NoObserver, RunEnd, Stage1Config, Stage1Trainer};
use ndarray::Axis;
use rand::Rng;

/// FNV-1a, 64 bits.
fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn fnv_f32(v: impl IntoIterator<Item = f32>) -> u64 {
    fnv(v.into_iter().flat_map(|x| x.to_le_bytes()))
}

/// Hashes of one stage-1 run: trained state (weights and Adam moments), latents, k-means labels on subspace 1.
#[derive(Debug, PartialEq, Eq)]
struct Stage1Hashes {
    state: u64,
    latents: u64,
    kmeans_labels: u64,
}

fn stage1(threads: usize, kernels: KernelSet) -> Stage1Hashes {
    let data: Dataset = "shapes3d-synth:120".parse::<DatasetSpec>().unwrap().load(&SeedTree::new(3)).unwrap();
    let config = Stage1Config {
        epochs: 4,
        pairs_per_epoch: Some(8),
        batch_size: 4,
        principal: Some("object_hue".into()),
        noise: Some(SaltPepper::default()),
        val_fraction: 0.2,
        val_images: 8,
        seed: 11,
        ..Stage1Config::default()
    };
    ThreadPool::with_kernels(threads, kernels).unwrap().install(|| {
        let mut t = Stage1Trainer::new(config, &data).unwrap();
        assert_eq!(t.run(&data, &mut NoObserver).unwrap(), RunEnd::Finished);
        // The trained state (weights and Adam moments in model order), independent of the
        // checkpoint file format.
        let state = t.state();
        let mut values: Vec<f32> =
            state.params.iter().flat_map(|(_, v)| v.iter().copied().collect::<Vec<_>>()).collect();
        for a in state.adam.values() {
            values.extend(a.m.iter().chain(a.v.iter()).copied());
        }
        let latents = export_latents(t.model(), &data).unwrap();
        let sub1 = latents.index_axis(Axis(1), 1).to_owned();
        let km = KMeans::new(4).n_init(2).max_iter(50).seed(5).fit(sub1.view()).unwrap();
        Stage1Hashes {
            state: fnv_f32(values),
            latents: fnv_f32(latents.iter().copied()),
            kmeans_labels: fnv(km.labels.iter().flat_map(|l| l.to_le_bytes())),
        }
    })
}

/// Hash of three stage-3 steps (losses and parameters) of the default trunk with GradNorm.
fn stage3(threads: usize, kernels: KernelSet) -> u64 {
    let mut rng = SeedTree::new(5).rng("data");
    let x = ndarray::Array4::from_shape_fn((8, 3, 64, 64), |_| rng.gen::<f32>());
    let y: Vec<Vec<usize>> = vec![(0..8).map(|i| i % 4).collect(), (0..8).map(|i| i % 6).collect()];
    let spec: WeightingSpec = "gradnorm".parse().unwrap();
    ThreadPool::with_kernels(threads, kernels).unwrap().install(|| {
        let mut t = MtlTrainer::new(&TrainConfig::default(), 3, 64, vec![4, 6], &spec, &SeedTree::new(2)).unwrap();
        let mut losses = Vec::new();
        for _ in 0..2 {
            losses.push(t.step(&x, &y).unwrap().total);
        }
        t.end_epoch(&[1.5, 1.8]);
        losses.push(t.step(&x, &y).unwrap().total);
        let mut params = Vec::new();
        t.model.visit_params(&mut |p| params.extend(p.value.iter().copied()));
        fnv(losses.iter().flat_map(|l| l.to_le_bytes()).chain(params.iter().flat_map(|p| p.to_le_bytes())))
    })
}

const STAGE1_GOLDEN: Stage1Hashes =
    Stage1Hashes { state: 0xfd650f261aee1b3d, latents: 0xd243cb50438aa16c, kmeans_labels: 0xb0bb07583bbf0107 };
const STAGE3_GOLDEN: u64 = 0x6a20e4e8c827a6a0;

#[test]
fn portable_stage1_is_the_same_at_1_and_2_threads_and_matches_the_golden_hashes() {
    let one = stage1(1, KernelSet::Portable);
    let two = stage1(2, KernelSet::Portable);
    assert_eq!(one, two, "portable stage 1 at 1 and 2 threads");
    assert_eq!(one, STAGE1_GOLDEN, "portable stage-1 hashes (new values on the left, in decimal)");
}

#[test]
fn portable_stage3_is_the_same_at_1_and_2_threads_and_matches_the_golden_hash() {
    let one = stage3(1, KernelSet::Portable);
    assert_eq!(one, stage3(2, KernelSet::Portable), "portable stage 3 at 1 and 2 threads");
    assert_eq!(one, STAGE3_GOLDEN, "portable stage-3 hash: {one:#018x}");
}

#[test]
fn the_pool_carries_its_kernel_set() {
    for set in [KernelSet::Native, KernelSet::Portable] {
        let pool = ThreadPool::with_kernels(2, set).unwrap();
        assert_eq!(pool.kernels(), set);
        assert_eq!(pool.install(KernelSet::current), set);
        assert_eq!(pool.install(|| rayon::join(KernelSet::current, KernelSet::current)), (set, set));
    }
    assert_eq!("portable".parse::<KernelSet>().unwrap(), KernelSet::Portable);
    assert!("fast".parse::<KernelSet>().unwrap_err().contains("native or portable"));
}

#[cfg(feature = "cli")]
mod common;

/// `--kernels portable` reaches the pool: the demo's losses are the same at 1 and 2 threads,
/// and a bad value names the flag.
#[cfg(feature = "cli")]
#[test]
fn the_kernels_flag() {
    let losses = |threads: &str| {
        let (code, out, err) = common::cli::detaux(&[
            "demo",
            "--steps",
            "3",
            "--every",
            "1",
            "--threads",
            threads,
            "--kernels",
            "portable",
        ]);
        assert_eq!(code, 0, "{err}");
        out.lines().filter(|l| l.starts_with("step")).map(String::from).collect::<Vec<_>>()
    };
    let one = losses("1");
    assert_eq!(one.len(), 3);
    assert_eq!(one, losses("2"));
    let (code, _, err) = common::cli::detaux(&["demo", "--kernels", "fast"]);
    assert_ne!(code, 0);
    assert!(err.contains("--kernels") && err.contains("native or portable"), "{err}");
}
