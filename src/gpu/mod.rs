//! The GPU backend: wgpu compute kernels on any Vulkan, Metal or DX12 adapter.

pub mod context;
pub mod engine;
pub mod kernels;
pub mod layout;
pub mod resources;
pub mod rng_check;

pub use context::GpuContext;
pub use engine::GpuBackend;
