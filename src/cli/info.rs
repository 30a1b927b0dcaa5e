//! `detaux info`: what this build is and how it runs.

use crate::error::Result;

/// Arguments of `detaux info` (none).
#[derive(clap::Args, Debug)]
pub struct InfoArgs {}

/// Prints version, enabled features, available threads and the determinism contract.
pub fn run(_args: &InfoArgs) -> Result<()> {
    println!("detaux {}", env!("CARGO_PKG_VERSION"));
    println!("threads available: {}", crate::par::default_threads());
    println!("rng: ChaCha8 streams derived from one master seed (rand_chacha 0.3.1)");
    println!("determinism: bitwise-identical results for any --threads value");
    Ok(())
}
