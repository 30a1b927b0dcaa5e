//! `detaux demo`: train the small conv autoencoder of [`crate::demo`] on procedural images and
//! print its loss falling.

use crate::cli::PoolArgs;
use crate::demo::{train, DemoConfig};
use crate::error::Result;

/// Arguments of `detaux demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Training steps.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// Master seed.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Thread pool.
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Print the loss every this many steps.
    #[arg(long, default_value_t = 25, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub every: usize,
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    let cfg = DemoConfig { steps: args.steps, seed: args.seed, ..DemoConfig::default() };
    cfg.validate()?;
    let (pool, threads) = args.pool.build()?;
    println!(
        "training a conv autoencoder ({}x{} images, batch {}, Adam lr {}) for {} steps on {} thread(s)",
        cfg.size, cfg.size, cfg.batch, cfg.lr, cfg.steps, threads
    );
    let (start, last) = (std::time::Instant::now(), cfg.steps.saturating_sub(1));
    let run = pool.install(|| {
        train(&cfg, |step, loss| {
            if step % args.every == 0 || step == last {
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
