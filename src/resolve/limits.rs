//! The largest sizes a plan may have, and why (an observer's own limits sit with its rules, in
//! `spec::observe`).

/// Largest number of neurons (the state of one trajectory must fit a storage binding).
pub const MAX_N: usize = 1 << 20;

/// Largest number of memories (the kernels keep P overlaps per invocation in private memory;
/// memory loops beyond 128 are tiled, see `gpu::kernels::unroll_fixed_loops`).
pub const MAX_P: usize = 512;

/// Longest spec name (it titles every picture and report).
pub const MAX_NAME_CHARS: usize = 200;
