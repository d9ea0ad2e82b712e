//! What the user can type: the commands and their flags, and where a spec comes from.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bench;
use crate::error::{SpecError, UsageError};

#[derive(Parser, Debug)]
#[command(
    name = "idpsim",
    version = concat!(env!("CARGO_PKG_VERSION"), " (sources ", env!("IDPSIM_SOURCES_ID"), ")"),
    about = "Huge ensembles of noisy classic and input-driven-plasticity Hopfield networks on any GPU"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a spec (or a built-in preset) and write its outputs into --out.
    Run(RunArgs),
    /// List the built-in specs.
    Presets,
    /// Print a built-in spec as JSON (a starting point to edit).
    Preset { name: String },
    /// List GPU adapters, their backends and limits.
    Devices,
    /// Throughput of the standard cases, in neuron-steps per second.
    Bench(bench::BenchArgs),
    /// Equilibria, stability, energies and critical saliencies for the spec's input(s).
    Theory(TheoryArgs),
    /// N = 2 energy landscape pictures with equilibria and sample trajectories.
    Landscape(LandscapeArgs),
    /// Stationary Fokker–Planck density for N = 1 or 2 on a grid (optionally compared with a
    /// run's histogram).
    Fpe(FpeArgs),
    /// Integrate single trajectories of a finished run again and save their state and overlaps
    /// every Δt (the same bytes as the run on its device).
    Replay(ReplayArgs),
    /// Merge the output directories of `run --shard I/N` into one (identical to a whole run).
    Merge {
        /// Shard output directories, in any order.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output directory (created if missing; must be empty unless --force).
        #[arg(long, required_unless_present = "check")]
        out: Option<PathBuf>,
        /// Write into a non-empty --out.
        #[arg(long)]
        force: bool,
        /// Only check the shards: which are complete and intact, which trajectory ranges are
        /// missing, and the commands that rerun exactly those shards (exit 1 if any).
        #[arg(long, conflicts_with_all = ["out", "force"])]
        check: bool,
        /// Merge shards integrated on different backends or devices too (refused without it:
        /// their per-trajectory values are not the bytes of one device); run.json then says
        /// "backend": "mixed" and names every device.
        #[arg(long)]
        mixed_backends: bool,
    },
}

/// Where a spec comes from: a file or a built-in preset.
#[derive(Args, Debug)]
pub struct SpecSource {
    /// The spec file (JSON).
    pub spec: Option<PathBuf>,
    /// Use a built-in spec instead of a file (see `idpsim presets`).
    #[arg(long, conflicts_with = "spec")]
    pub preset: Option<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Output directory (created if missing; must be empty unless --force).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Keep a checkpoint in OUT/.checkpoint every T time units of the model, at the end of
    /// each chunk, and when SIGINT or SIGTERM arrives (then the run stops); `--resume OUT`
    /// finishes the run with the same bytes.
    #[arg(long, value_name = "T")]
    pub checkpoint_every: Option<f64>,
    /// Continue the checkpointed run in DIR where its checkpoint left it, on the same
    /// backend and device (the spec and flags are those the run started with).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["spec", "preset", "out", "backend", "adapter", "trajectories", "seed", "shard", "force", "checkpoint_every"]
    )]
    pub resume: Option<PathBuf>,
    /// auto (the device expected to answer first: a GPU or the CPU fast path), gpu, cpu (the
    /// reference) or cpu_fast.
    #[arg(long)]
    pub backend: Option<String>,
    /// The GPU: an index from `idpsim devices`, or part of an adapter's name; or several at
    /// once: `all`, or a comma-separated list (the ensemble is shared among them, same bytes).
    #[arg(long, value_name = "NAME|INDEX|all|LIST")]
    pub adapter: Option<String>,
    /// Override ensemble.trajectories.
    #[arg(long, value_parser = whole_number)]
    pub trajectories: Option<u64>,
    /// Override ensemble.seed.
    #[arg(long, value_parser = whole_number)]
    pub seed: Option<u64>,
    /// Run only shard I of N (0 ≤ I < N) of the ensemble, or `slurm`: this task of a Slurm
    /// array of tasks 0..N−1. `idpsim merge` puts shards back together. Without it the whole
    /// ensemble runs, whatever the environment.
    #[arg(long, value_name = "I/N|slurm")]
    pub shard: Option<String>,
    /// Write into a non-empty --out that holds an earlier run or sweep, removing its files first.
    #[arg(long)]
    pub force: bool,
    /// No progress bar and no summary line.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A finished run's directory (a shard's, or one point's of a sweep).
    pub dir: PathBuf,
    /// Global indices of the trajectories to replay, comma-separated (e.g. 17,4242).
    #[arg(long, value_delimiter = ',', required = true, value_name = "I,J,...")]
    pub trajectory: Vec<u64>,
    /// Output directory (created; must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Save the state every Δt time units (a multiple of the run's dt; default: the run's
    /// overlaps interval); the run's last step is always saved.
    #[arg(long, value_name = "DT")]
    pub every: Option<f64>,
    /// Replay on this backend instead of the run's device (gpu, cpu, cpu_fast); its bytes then
    /// differ from the run's.
    #[arg(long)]
    pub backend: Option<String>,
}

#[derive(Args, Debug)]
pub struct TheoryArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Quick form: IDP with Hadamard memories (columns 0..P−1) and these saliencies.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["spec", "preset"])]
    pub saliency: Vec<f64>,
    /// Quick form: slope δ of tanh.
    #[arg(long, default_value_t = 1.0, conflicts_with_all = ["spec", "preset"])]
    pub slope: f64,
    /// Quick form: neurons (a power of two ≥ P).
    #[arg(long, default_value_t = 2, conflicts_with_all = ["spec", "preset"])]
    pub n: usize,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON document to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LandscapeArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Quick form: IDP with Hadamard memories and these two saliencies.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["spec", "preset"])]
    pub saliency: Vec<f64>,
    /// Quick form: slope δ of tanh.
    #[arg(long, default_value_t = 1.0, conflicts_with_all = ["spec", "preset"])]
    pub slope: f64,
    /// Quick form: noise σ of the sample trajectories.
    #[arg(long, default_value_t = 0.3, conflicts_with_all = ["spec", "preset"])]
    pub sigma: f64,
    /// Sample trajectories to overlay (integrated by the CPU reference engine).
    #[arg(long, default_value_t = 12)]
    pub trajectories: usize,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty --out.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct FpeArgs {
    #[command(flatten)]
    pub source: SpecSource,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Cells per axis (default 200; with --compare the run's histogram cells are used instead).
    #[arg(long)]
    pub grid: Option<usize>,
    /// A run directory whose 1-D or 2-D state histogram to compare with (total variation).
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Write into a non-empty --out.
    #[arg(long)]
    pub force: bool,
}

pub use crate::job::load_spec;

pub(super) fn spec_usage(e: SpecError) -> anyhow::Error {
    UsageError::from(e).into()
}

/// A whole number as the spec takes it: `1000`, or written as a float, `1e3` or `1000.0`
/// (below 2⁵³, where every whole number is a float exactly).
fn whole_number(text: &str) -> Result<u64, String> {
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    match text.parse::<f64>() {
        Ok(x) => crate::spec::whole::of_value(&serde_json::json!(x))
            .ok_or_else(|| format!("{text} is not a whole number from 0 to 2^64 − 1 (as a float: below 2^53)")),
        Err(_) => Err(format!("{text} is not a whole number")),
    }
}
