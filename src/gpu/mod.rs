//! The GPU backend: wgpu compute kernels on any Vulkan, Metal or DX12 adapter.
//!
//! `kernels` assembles the WGSL module for a plan's constants; `pipelines` holds one object per
//! kernel; `resources` the tables and working buffers; `schedule` cuts a chunk into submits and
//! dispatches; `readback` says where each result sits in what is read back; `engine` runs a
//! chunk as plan → encode → read back → deliver; `built` records which kernels the drivers here
//! have built (what `--backend auto` knows about build costs).

pub mod built;
pub mod context;
pub mod engine;
pub mod kernels;
pub mod layout;
pub mod pipelines;
pub mod readback;
pub mod resources;
pub mod rng_check;
pub mod schedule;

pub use context::GpuContext;
pub use engine::GpuBackend;
