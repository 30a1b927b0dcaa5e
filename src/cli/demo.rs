//! `detaux demo`: train the small conv autoencoder of [`crate::demo`] on procedural images and
//! print its loss falling.

use crate::demo::{train, DemoConfig};
use crate::error::{Error, Result};
use crate::par::ThreadPool;

/// Arguments of `detaux demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Training steps.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Master seed.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Worker threads (results are identical for any value).
    #[arg(long, default_value_t = crate::par::default_threads())]
    pub threads: usize,
    /// Kernels: native (this CPU's fastest) or portable (the same bits on any CPU).
    #[arg(long, default_value = "native")]
    pub kernels: crate::par::KernelSet,
    /// Print the loss every this many steps.
    #[arg(long, default_value_t = 25)]
    pub every: usize,
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    if args.every == 0 {
        return Err(Error::param("--every", "must be >= 1, got 0"));
    }
    let cfg = DemoConfig { steps: args.steps, seed: args.seed, ..DemoConfig::default() };
    cfg.validate()?;
    let pool = ThreadPool::with_kernels(args.threads, args.kernels)?;
    println!(
        "training a conv autoencoder ({}x{} images, batch {}, Adam lr {}) for {} steps on {} thread(s)",
        cfg.size, cfg.size, cfg.batch, cfg.lr, cfg.steps, args.threads
    );
    let start = std::time::Instant::now();
    let every = args.every;
    let last = cfg.steps.saturating_sub(1);
    let run = pool.install(|| {
        train(&cfg, |step, loss| {
            if step % every == 0 || step == last {
                println!("step {step:>5}  mse {loss:.6}");
            }
        })
    })?;
    if let (Some(first), Some(end)) = (run.losses.first(), run.losses.last()) {
        println!(
            "loss {first:.6} -> {end:.6} ({:.1}x lower) in {:.2}s",
            first / end.max(f32::MIN_POSITIVE),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
