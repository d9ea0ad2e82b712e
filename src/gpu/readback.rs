//! What one submit reads back, and where it sits in the readback buffer: the block partial
//! sums, then (with per-trajectory saves) the saves, then the status words, then the
//! histogram counters. One definition sizes the buffer and decodes what was read.

use super::kernels::hist_bytes;
use crate::plan::{BLOCK, Plan};
use crate::stats::MOMENTS;

/// Bytes of the status words: the earliest non-finite step and its trajectory.
const STATUS_BYTES: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadbackLayout {
    partials: u64,
    saves: u64,
    hist: u64,
}

/// The buffers a submit's results are copied from, and the buffer they are copied to.
pub struct Sources<'a> {
    pub partials: &'a wgpu::Buffer,
    pub saves: &'a wgpu::Buffer,
    pub status: &'a wgpu::Buffer,
    pub hist: &'a wgpu::Buffer,
    pub readback: &'a wgpu::Buffer,
}

/// One submit's results, decoded.
pub struct Readback<'a> {
    /// [slot][block][Q][MOMENTS].
    pub partials: &'a [f32],
    /// Device layout [slot][Q][trajectory] (empty without per-trajectory saves).
    pub saves: &'a [f32],
    /// Earliest step with a non-finite state (u32::MAX: none) and the lowest trajectory (within
    /// the chunk) that had one.
    pub status: [u32; 2],
    /// HIST_REPLICAS copies of (cells, then out-of-range) counters.
    pub hist: &'a [u32],
}

impl ReadbackLayout {
    /// The layout for `slots` saves of `count` trajectories.
    pub fn new(plan: &Plan, slots: u64, count: u64) -> Self {
        let q = plan.saves().q() as u64;
        ReadbackLayout {
            partials: slots * count.div_ceil(BLOCK) * q * MOMENTS as u64 * 4,
            saves: if plan.observe.per_trajectory_saves() { slots * count * q * 4 } else { 0 },
            hist: hist_bytes(plan),
        }
    }

    fn status_at(&self) -> u64 {
        self.partials + self.saves
    }

    fn hist_at(&self) -> u64 {
        self.status_at() + STATUS_BYTES
    }

    /// Bytes read back.
    pub fn total(&self) -> u64 {
        self.hist_at() + self.hist
    }

    /// Copies the results into the readback buffer.
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder, r: Sources) {
        if self.partials > 0 {
            enc.copy_buffer_to_buffer(r.partials, 0, r.readback, 0, self.partials);
        }
        if self.saves > 0 {
            enc.copy_buffer_to_buffer(r.saves, 0, r.readback, self.partials, self.saves);
        }
        enc.copy_buffer_to_buffer(r.status, 0, r.readback, self.status_at(), STATUS_BYTES);
        if self.hist > 0 {
            enc.copy_buffer_to_buffer(r.hist, 0, r.readback, self.hist_at(), self.hist);
        }
    }

    /// Decodes the bytes read back.
    pub fn decode<'a>(&self, data: &'a [u8]) -> Readback<'a> {
        let part = |at: u64, len: u64| &data[at as usize..(at + len) as usize];
        let status: &[u32] = bytemuck::cast_slice(part(self.status_at(), STATUS_BYTES));
        Readback {
            partials: bytemuck::cast_slice(part(0, self.partials)),
            saves: bytemuck::cast_slice(part(self.partials, self.saves)),
            status: [status[0], status[1]],
            hist: bytemuck::cast_slice(part(self.hist_at(), self.hist)),
        }
    }
}
