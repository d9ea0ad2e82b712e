//! Using idpsim as a library: build a plan from a preset, shrink it, run it on the GPU if there
//! is one (else the CPU reference) and print the final mean |m_μ|.
//!
//!     cargo run --release --example quickstart

use std::path::Path;

use idpsim::cpu::CpuBackend;
use idpsim::engine::{self, Backend};
use idpsim::gpu::GpuBackend;
use idpsim::spec::Spec;
use idpsim::{presets, resolve};

fn main() -> anyhow::Result<()> {
    let spec = Spec::from_json(presets::get("quickstart").expect("built-in"))?;
    let mut plan = resolve::plan(&spec, Path::new("."))?;
    plan.ensemble.trajectories = 2048;
    let mut backend: Box<dyn Backend> = match GpuBackend::new(None) {
        Ok(g) => Box::new(g),
        Err(e) => {
            eprintln!("no GPU ({e:#}); using the CPU reference");
            Box::new(CpuBackend::new())
        }
    };
    // Every output stays in memory, named like its file (overlaps_abs_mean.npy → [T, P]).
    let out = engine::run_in_memory(&plan, backend.as_mut())?;
    let abs_mean = out.f32("overlaps_abs_mean").expect("always written");
    let last = &abs_mean[(plan.n_saves() - 1) * plan.p()..];
    println!("{} on {}: final mean |m_μ| = {last:?}", plan.spec.name, backend.adapter());
    Ok(())
}
