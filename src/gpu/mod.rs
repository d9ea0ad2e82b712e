//! The GPU backend: wgpu compute kernels on any Vulkan, Metal or DX12 adapter.
//!
//! `kernels` assembles the WGSL module for a plan's constants; `pipelines` holds one object per
//! kernel; `resources` the tables and working buffers; `schedule` cuts a chunk into submits and
//! dispatches; `readback` says where each result sits in what is read back; `device` is the
//! backend on one device (what its kernels depend on, and a chunk run as plan → encode → read
//! back → results); `built` records which kernels the drivers here have built (what
//! `--backend auto` knows about build costs).

pub mod built;
pub mod context;
pub mod device;
pub mod kernels;
pub mod layout;
pub mod pipelines;
pub mod readback;
pub mod resources;
pub mod rng_check;
pub mod schedule;

pub use context::GpuContext;
pub use device::GpuBackend;
