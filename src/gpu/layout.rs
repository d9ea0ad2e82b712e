//! Host mirrors of the WGSL structs in `shaders/params.wgsl` (scalars only; a test checks the
//! member offsets against naga's layout).

use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable, PartialEq)]
pub struct Params {
    pub key_lo: u32,
    pub key_hi: u32,
    pub traj_first: u32,
    pub traj_count: u32,
    pub step_begin: u32,
    pub step_count: u32,
    pub segment: u32,
    pub slot_base: u32,
    pub slot_count: u32,
    pub block_count: u32,
    /// Neuron blocks (NB), passed at run time so large-N loops are not unrolled.
    pub neuron_blocks: u32,
    /// σ √dt, a run-time value so that runs differing only in σ share their kernels.
    pub noise_scale: f32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable, PartialEq)]
pub struct Segment {
    pub start: u32,
    pub steps: u32,
    pub ramp: u32,
    pub pulse: u32,
    pub noise: f32,
    /// 1 when the segment draws per-trajectory random weights.
    pub random: u32,
    /// The fixed target memory, [`NO_TARGET`] or [`RANDOM_TARGET`].
    pub dominant: u32,
    /// 1 when the previous segment's dominant memory gets the `previous` weight bounds.
    pub prev_on: u32,
    /// Cue input: gain × amplitude (0 = no cue), flip fraction, counter word 1 of its signs.
    pub cue_amp: f32,
    pub cue_flip: f32,
    pub cue_draw: u32,
    pub pad: u32,
}

/// The plan's sizes and parameter values, read by the kernels at run time (binding 12): what
/// `gpu::kernels::KernelConsts::family` leaves out of the compiled module. Filled by
/// `gpu::kernels::values`; the fields are described in `shaders/params.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable, PartialEq)]
pub struct Values {
    pub p: u32,
    pub q: u32,
    pub q_y: u32,
    pub pb: u32,
    pub nbs: u32,
    pub p_tiles: u32,
    pub save_every: u32,
    pub segments: u32,
    pub gram_base: u32,
    pub rw_base: u32,
    pub init_index: u32,
    pub init_std: f32,
    pub init_amplitude: f32,
    pub init_jitter: f32,
    pub init_flip: f32,
    pub slope: f32,
    pub dt_x: f32,
    pub retr_window: u32,
    pub fp_memory: u32,
    pub fp_threshold: f32,
    pub hist_b0: u32,
    pub hist_b1: u32,
    pub hist_lo0: f32,
    pub hist_lo1: f32,
    pub hist_sc0: f32,
    pub hist_sc1: f32,
    pub hist_from: u32,
    pub hist_every: u32,
    pub hist_cells: u32,
    pub hist_replicas: u32,
    pub rate_a: f32,
    pub rate_y: f32,
    pub noise_a: f32,
    pub noise_y: f32,
    pub beta: f32,
    pub occ_every: u32,
    pub occ_rows: u32,
    pub occ_e: u32,
    pub occ_threshold: f32,
    pub occ_table: u32,
    pub occ_hist_base: u32,
    /// N and 1/N (as f32), read by families of a size class (`kernels::n_class`).
    pub n: u32,
    pub inv_n: f32,
    pub pad2: u32,
}

const _: () = assert!(std::mem::size_of::<Params>() == 48);
const _: () = assert!(std::mem::size_of::<Values>() == 176);
const _: () = assert!(std::mem::size_of::<Segment>() == 48);

/// `Segment::target` of a segment without a target.
pub const NO_TARGET: u32 = u32::MAX;
/// `Segment::target` of a segment whose target is drawn per trajectory.
pub const RANDOM_TARGET: u32 = u32::MAX - 1;

/// `Segment::pulse` when the input stays on for the whole segment.
pub const NO_PULSE: u32 = u32::MAX;
