//! The largest sizes a plan may have, and why.

/// Largest number of neurons (the state of one trajectory must fit a storage binding).
pub const MAX_N: usize = 1 << 20;

/// Largest number of memories (the kernels keep P overlaps per invocation in private memory;
/// memory loops beyond 128 are tiled, see `gpu::kernels::unroll_fixed_loops`).
pub const MAX_P: usize = 512;

/// Largest number of saved values (saves × quantities per save) per trajectory. A chunk keeps at
/// least 64 trajectories' saves in host memory (twice on the CPU reference), so this bounds
/// that memory by 512 MiB however long the run.
pub const MAX_SAVED_VALUES: u64 = 1_000_000;

/// Largest number of histogram cells.
pub const MAX_HIST_CELLS: u64 = 1 << 24;

/// Largest number of occupancy counts per run (rows × (equilibria + 1)); the GPU keeps them
/// all in one buffer.
pub const MAX_OCCUPANCY_COUNTS: u64 = 1 << 22;

/// Largest number of equilibrium coordinates the occupancy observer keeps (2P × N).
pub const MAX_OCCUPANCY_VALUES: u64 = 1 << 24;

/// Largest |edge| of a histogram range (the kernels bin in f32; the pictures need finite axes).
pub const MAX_HIST_EDGE: f64 = 1e15;

/// Longest spec name (it titles every picture and report).
pub const MAX_NAME_CHARS: usize = 200;
