//! The `detaux` command-line tool.
//!
//! Each subcommand lives in its own module with an `Args` struct (clap derive) and a
//! `run(&Args) -> Result<()>`. Errors are printed by [`main`] as one line
//! (`error: <what is wrong>`) with exit code 2; progress goes to stderr, results to files.

pub mod cluster;
pub mod demo;
pub mod disentangle;
pub mod generate;
pub mod info;
pub mod inspect;
pub mod progress;
pub mod run;
pub mod train;

use crate::error::{Error, Result};
use crate::par::{KernelSet, ThreadPool};
use clap::{Parser, Subcommand};

/// The thread-pool flags of every subcommand.
#[derive(clap::Args, Debug)]
pub struct PoolArgs {
    /// Worker threads (results are identical for any value; default: all available).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Kernels: native (this CPU's fastest) or portable (the same bits on any CPU).
    #[arg(long, default_value = "native")]
    pub kernels: KernelSet,
}

impl PoolArgs {
    /// The pool and its thread count.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] named `--threads` (by the pool) for 0 or too many threads.
    pub fn build(&self) -> Result<(ThreadPool, usize)> {
        let threads = self.threads.unwrap_or_else(crate::par::default_threads);
        Ok((ThreadPool::with_kernels(threads, self.kernels)?, threads))
    }
}

/// `*slot = value` when the flag was given.
pub fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        *slot = v.clone();
    }
}

/// A library [`Error::InvalidParam`] renamed to the flag that sets the value: the name's entry
/// in `renames`, else (with `dashes`) `--name-with-dashes` unless it already is a flag.
pub fn flag_error(e: Error, renames: &[(&str, &str)], dashes: bool) -> Error {
    match e {
        Error::InvalidParam { name, reason } => match renames.iter().find(|(from, _)| *from == name) {
            Some((_, flag)) => Error::param(*flag, reason),
            None if dashes && !name.starts_with("--") && !name.contains(' ') => {
                Error::param(format!("--{}", name.replace('_', "-")), reason)
            }
            None => Error::InvalidParam { name, reason },
        },
        other => other,
    }
}

/// Detaux: discover an auxiliary task from disentangled latents and learn it beside the
/// principal task (deterministic, CPU).
#[derive(Parser, Debug)]
#[command(name = "detaux", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Stage 2: choose a latent subspace and cluster it into auxiliary labels (k-means or HDBSCAN).
    Cluster(cluster::ClusterArgs),
    /// Train a small conv autoencoder on procedural images and print its loss falling.
    Demo(demo::DemoArgs),
    /// Print version, features, threads and the determinism contract.
    Info(info::InfoArgs),
    /// Write a procedural dataset (shapes3d, dsprites) as NPY files plus a PNG contact sheet.
    Generate(generate::GenerateArgs),
    /// Stage 1: train the disentanglement model; write checkpoints, pictures, latents and a probe.
    Disentangle(disentangle::DisentangleArgs),
    /// Load a dataset SPEC and print its size, shape, value range, factors and split sizes.
    Inspect(inspect::InspectArgs),
    /// Stage 3: train the shared trunk on the principal task plus auxiliary labels (or alone).
    Train(train::TrainArgs),
    /// The whole pipeline over seeds: stage 1 (+ probe and verdict) -> stage 2 -> stage 3 vs STL and control arms; writes report.json/md.
    Run(run::RunArgs),
}

/// Parses the command line, runs the subcommand, prints a one-line error on failure.
/// Returns the process exit code.
pub fn main() -> i32 {
    // Negative numbers are values: `--epochs -1` is refused by the flag's parser, naming it.
    let command = <Cli as clap::CommandFactory>::command().mut_subcommands(|s| s.allow_negative_numbers(true));
    let cli = match command.try_get_matches().and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // One line, like every other error: clap's first line names the flag or value.
            let text = e.render().to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("error: invalid arguments");
            eprintln!("{first} (see --help)");
            return 2;
        }
        Err(e) => {
            // --help and --version are not failures.
            let _ = e.print();
            return 0;
        }
    };
    let result = match &cli.command {
        Command::Cluster(a) => cluster::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Info(a) => info::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Disentangle(a) => disentangle::run(a),
        Command::Train(a) => train::run(a),
        Command::Run(a) => run::run(a),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
