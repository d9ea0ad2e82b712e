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
//! The layers, each importing only from those before it (docs/ARCHITECTURE.md): `error`, `notice`, `rng`,
//! `spec`, `plan`, `resolve`, `model`, `observe`, `backend`, `cpu` and `gpu`, `choose`, `io`, `outputs`,
//! `checkpoint`, `engine`, `merge`, `sweep`, `replay`, `cli` and `bench`.

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
pub mod observe;
pub mod outputs;
pub mod plan;
pub mod presets;
pub mod replay;
pub mod resolve;
pub mod rng;
pub mod spec;
pub mod sweep;
pub mod theory;
