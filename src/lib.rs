//! idpsim: huge ensembles of noisy classic and input-driven-plasticity (IDP) Hopfield networks
//! on any Vulkan, Metal or DX12 GPU, with a plain CPU reference.
//!
//! ```no_run
//! use idpsim::{presets, spec::Spec, engine, cpu::CpuBackend};
//! let spec = Spec::from_json(presets::get("quickstart").unwrap()).unwrap();
//! let mut plan = spec.plan(std::path::Path::new(".")).unwrap();
//! plan.trajectories = 256;
//! let out = engine::simulate(&plan, &mut CpuBackend::new(), None, true).unwrap();
//! let (_mean, _std, abs_mean) = out.sums.finish();
//! println!("final mean |m|: {:?}", &abs_mean[abs_mean.len() - plan.p..]);
//! ```

pub mod bench;
pub mod cli;
pub mod cpu;
pub mod engine;
pub mod fpe;
pub mod gpu;
pub mod io;
pub mod landscape;
pub mod merge;
pub mod model;
pub mod observe;
pub mod plan;
pub mod presets;
pub mod rng;
pub mod spec;
pub mod sweep;
pub mod theory;
