//! Command-line surface (docs/ARCHITECTURE.md, "The command line"): what the user typed, turned into plans and runs. Errors
//! that are the user's (bad spec, flag or path) are [`UsageError`]s and exit with status 2.

pub mod analysis;
mod args;
pub mod run;

use crate::error::Input;
use anyhow::{Context, Result};

pub use crate::error::UsageError;
use crate::{bench, outln, presets};
pub use args::{Cli, Command, FpeArgs, LandscapeArgs, ReplayArgs, RunArgs, SpecSource, TheoryArgs, load_spec};
pub use run::open_backend;

fn cmd_devices() -> Result<()> {
    let list = crate::gpu::context::list_adapters();
    if list.is_empty() {
        outln!("no GPU adapters found (on Linux without a GPU, install Mesa's lavapipe: mesa-vulkan-drivers)");
    }
    for (i, a) in list.iter().enumerate() {
        let l = &a.limits;
        outln!(
            "{i}: {} | backend {:?} | type {:?} | driver {} {} | max storage binding {} MiB | max buffer {} MiB | max workgroups/dim {} | max invocations/workgroup {}",
            a.info.name,
            a.info.backend,
            a.info.device_type,
            a.info.driver,
            a.info.driver_info,
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_invocations_per_workgroup
        );
    }
    if !list.is_empty() {
        outln!(
            "runs use one device, the first discrete GPU (else integrated, else a CPU device), or --adapter NAME|INDEX; --adapter all uses all {} above at once, --adapter 0,1 those listed",
            list.len()
        );
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    outln!(
        "cpu: the reference (--backend cpu) and the fast path (--backend cpu_fast, {}) on {threads} threads; --backend auto chooses between the fast path and the GPU above by estimated time to answer",
        crate::cpu::tiled::kernel_family()
    );
    match crate::gpu::built::dir() {
        Some(d) => outln!(
            "kernel build record: {} (which kernels this machine's drivers built and how long it took; IDPSIM_CACHE=off ignores it)",
            d.join("built-kernels.txt").display()
        ),
        None => outln!("kernel build record: off (IDPSIM_CACHE=off, or no home directory)"),
    }
    let cached: Vec<String> =
        list.iter().enumerate().filter(|(_, a)| a.pipeline_cache).map(|(i, _)| i.to_string()).collect();
    match crate::gpu::built::dir() {
        Some(d) if !cached.is_empty() => outln!(
            "pipeline cache: on, {} (compiled pipelines of adapters {}, one file per kernel family and driver; IDPSIM_CACHE=off turns it off)",
            d.join(crate::gpu::built::PIPELINES_DIR).display(),
            cached.join(", ")
        ),
        Some(_) => {
            outln!("pipeline cache: off (no adapter above can keep one; the driver's own shader cache still serves)")
        }
        None => outln!("pipeline cache: off (IDPSIM_CACHE=off, or no home directory)"),
    }
    Ok(())
}

/// `idpsim replay DIR --trajectory I,J --out R`.
fn cmd_replay(a: &ReplayArgs) -> Result<()> {
    let (r, files) = crate::replay::run(&a.dir, &a.trajectory, a.every, a.backend.as_deref(), &a.out)?;
    eprintln!(
        "replayed {} {} × {} saves on {}; final states {}; wrote {} files to {}",
        r.trajectories.len(),
        if r.trajectories.len() == 1 { "trajectory" } else { "trajectories" },
        r.times.len(),
        r.adapter,
        r.final_state_check,
        files.len(),
        a.out.display()
    );
    Ok(())
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => {
            if !a.quiet {
                crate::notice::set_handler(Some(Box::new(|m| eprintln!("{m}"))));
            }
            run::cmd_run(&a)
        }
        Command::Presets => {
            for (name, desc, _) in presets::PRESETS {
                outln!("{name:<20} {desc}");
            }
            Ok(())
        }
        Command::Preset { name } => {
            let text = presets::get(&name).ok_or_else(|| {
                UsageError::new(Input::Preset, format!("unknown preset '{name}'; available: {}", presets::names()))
            })?;
            outln!("{text}");
            Ok(())
        }
        Command::Devices => cmd_devices(),
        Command::Bench(a) => {
            crate::notice::set_handler(Some(Box::new(|m| eprintln!("{m}"))));
            bench::run(&a).context("bench")
        }
        Command::Replay(a) => cmd_replay(&a),
        Command::Fpe(a) => analysis::cmd_fpe(&a),
        Command::Theory(a) => analysis::cmd_theory(&a),
        Command::Landscape(a) => analysis::cmd_landscape(&a),
        Command::Merge { dirs, check: true, mixed_backends, .. } => {
            let report = crate::merge::check_shards_with(&dirs, mixed_backends);
            outln!("{}", report.text.trim_end());
            if report.complete { Ok(()) } else { Err(anyhow::anyhow!("the shards do not make up a complete run")) }
        }
        Command::Merge { dirs, out, force, mixed_backends, .. } => {
            let out = out.expect("clap requires --out without --check");
            let merged = crate::merge::merge_with(&dirs, &out, force, mixed_backends)?;
            if merged.already {
                eprintln!(
                    "{} already holds this merge of {} shards, complete and intact (checked against its manifest); nothing to do",
                    out.display(),
                    dirs.len()
                );
            } else {
                eprintln!("merged {} shards; wrote {} files to {}", dirs.len(), merged.files.len(), out.display());
            }
            Ok(())
        }
    }
}
