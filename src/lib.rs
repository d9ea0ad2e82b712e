//! idpsim: huge ensembles of noisy classic and input-driven-plasticity (IDP) Hopfield networks
//! on any Vulkan, Metal or DX12 GPU, with a plain CPU reference.
//!
//! ```no_run
//! use idpsim::{presets, resolve, spec::Spec, engine, cpu::CpuBackend};
//! let spec = Spec::from_json(presets::get("quickstart").unwrap()).unwrap();
//! let mut plan = resolve::plan(&spec, std::path::Path::new(".")).unwrap();
//! plan.ensemble.trajectories = 256;
//! let out = engine::run_in_memory(&plan, &mut CpuBackend::new()).unwrap();
//! let abs_mean = out.f32("overlaps_abs_mean").unwrap();
//! println!("final mean |m|: {:?}", &abs_mean[abs_mean.len() - plan.p()..]);
//! ```
//!
//! The layers, each importing only from those after it (docs/ARCHITECTURE.md draws them, and
//! `tests/layers.rs` checks the drawing against the imports): `cli`; `job`, `bench`, `merge`,
//! `replay`, `analysis`; `sweep`; `engine`, `choose`; `checkpoint`, `landscape`, `fpe`;
//! `outputs`; `cpu`, `gpu`, `resolve`; `io`; `backend`, `stats`, `model`, `theory`; `plan`;
//! `spec`, `presets`; `error`, `notice`, `rng`, `interrupt`.

/// This build's identity: the SHA-256 of the sources it was compiled from (src/ and shaders/,
/// by build.rs). run.json and checkpoints record it; `--resume` and `merge` refuse a checkpoint
/// or shards of another build, whose kernels or arithmetic may give other bytes.
pub const SOURCES_SHA256: &str = env!("IDPSIM_SOURCES_SHA256");

/// The first 12 hex digits of [`SOURCES_SHA256`], as messages and `--version` show them.
pub const BUILD_ID: &str = env!("IDPSIM_SOURCES_ID");

pub mod analysis;
pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod choose;
pub mod cli;
pub mod cpu;
pub mod engine;
pub mod error;
pub mod fpe;
pub mod gpu;
pub mod interrupt;
pub mod io;
pub mod job;
pub mod landscape;
pub mod merge;
pub mod model;
pub mod notice;
pub mod outputs;
pub mod plan;
pub mod presets;
pub mod replay;
pub mod resolve;
pub mod rng;
pub mod spec;
pub mod stats;
pub mod sweep;
pub mod theory;
