//! What the GPU engine builds once and reuses besides the kernels: the plan's read-only tables
//! ([`Tables`]) and the working buffers sized for the largest chunk ([`Resources`]). Nothing
//! here is created per step or per dispatch.

use anyhow::Result;
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels::{self, XiFormat};
use super::layout::{NO_PULSE, NO_TARGET, Params, RANDOM_TARGET, Segment, Values};
use super::pipelines::{Kernels, PARAM_SLOTS};
use super::readback::ReadbackLayout;
use crate::plan::{BLOCK, InitialPlan, Plan};
use crate::stats::MOMENTS;

/// Device bytes allowed for the per-submit buffer of saved overlaps.
pub const SAVES_BUDGET: u64 = 64 << 20;

/// The plan's read-only tables, as uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    /// The bit-packed memories.
    pub xi: Vec<u32>,
    pub segs: Vec<Segment>,
    pub seg_coef: Vec<f32>,
    pub seg_vec: Vec<f32>,
    pub init_point: Vec<f32>,
    /// The plan's sizes and parameter values (binding 12).
    pub values: Values,
}

impl Tables {
    /// The tables of `plan` for kernels of `consts` (the plan's constants on the device).
    pub fn from_plan(plan: &Plan, consts: &kernels::KernelConsts) -> Tables {
        // Read-only tables.
        let nb = plan.neuron_blocks();
        let cap = kernels::p_capacity(plan.p() as u32) as usize;
        let mut xi = kernels::pack_memories(&plan.memories, cap);
        if consts.xi_format == kernels::XiFormat::BitsUniform {
            // A uniform array has the family's size: neuron blocks up to N's size class
            // (`kernels::n_class`), padded with +1 signs that only padding neurons (x = 0) meet.
            xi.resize(kernels::xi_bytes(kernels::n_class(plan.n() as u32) as usize, cap) as usize / 4, 0);
        }
        let segs: Vec<Segment> = plan
            .input
            .segments
            .iter()
            .map(|s| Segment {
                start: s.start_step,
                steps: s.steps,
                ramp: s.ramp_steps,
                pulse: s.pulse_steps.unwrap_or(NO_PULSE),
                noise: s.noise,
                random: s.random.is_some() as u32,
                dominant: if s.draws_target() { RANDOM_TARGET } else { s.target.unwrap_or(NO_TARGET) },
                prev_on: s.random.as_ref().is_some_and(|rw| rw.previous.is_some()) as u32,
                cue_amp: s.cue.map_or(0.0, |c| c.amplitude),
                cue_flip: s.cue.map_or(0.0, |c| c.flip),
                cue_draw: s.cue.map_or(0, |c| c.draw),
                pad: 0,
            })
            .collect();
        let mut seg_coef: Vec<f32> = plan.input.segments.iter().flat_map(|s| s.coef.iter().copied()).collect();
        if plan.has_random_weights() {
            // The Gram matrix at GRAM_BASE, then 8 values per segment at RW_BASE.
            seg_coef.extend_from_slice(&plan.input.gram);
            for s in &plan.input.segments {
                let mut row = [0f32; 8];
                if let Some(rw) = &s.random {
                    let pv = rw.previous.unwrap_or([0.0; 2]);
                    row = [
                        rw.background[0],
                        rw.background[1],
                        rw.dominant[0],
                        rw.dominant[1],
                        pv[0],
                        pv[1],
                        rw.normalize.unwrap_or(0.0),
                        rw.gain,
                    ];
                }
                seg_coef.extend_from_slice(&row);
            }
        }
        debug_assert_eq!(seg_coef.len(), super::kernels::observer_tables_base(plan));
        seg_coef.extend(super::kernels::observer_tables(plan));
        let mut seg_vec = vec![0f32; 4];
        if plan.has_vector_input() {
            seg_vec = vec![0f32; plan.input.segments.len() * nb * 4];
            for (k, s) in plan.input.segments.iter().enumerate() {
                if let Some(v) = &s.vector {
                    seg_vec[k * nb * 4..k * nb * 4 + plan.n()].copy_from_slice(v);
                }
            }
        }
        let mut init_point = vec![0f32; nb * 4];
        if let InitialPlan::Point { x } = &plan.ensemble.initial {
            init_point[..plan.n()].copy_from_slice(x);
        }
        Tables { xi, segs, seg_coef, seg_vec, init_point, values: kernels::values(consts) }
    }
}

pub struct Resources {
    pub tables: Tables,
    /// (max chunk, per_trajectory, final_state, saves) the buffers were sized for.
    pub key: (u64, bool, bool, usize, usize),
    pub max_count: u64,
    pub slot_capacity: u64,
    pub param_stride: u64,
    pub bind_group: wgpu::BindGroup,
    pub params: wgpu::Buffer,
    pub state: wgpu::Buffer,
    pub saves: wgpu::Buffer,
    pub partials: wgpu::Buffer,
    pub status: wgpu::Buffer,
    pub hist: wgpu::Buffer,
    pub readback: wgpu::Buffer,
    pub state_readback: Option<wgpu::Buffer>,
    /// Retrieval sums and first passages ([`Plan::obs_per_trajectory`] values per trajectory).
    pub obs: wgpu::Buffer,
    pub obs_readback: Option<wgpu::Buffer>,
}

impl Resources {
    pub fn new(ctx: &GpuContext, pipes: &Kernels, tables: Tables, plan: &Plan, max_count: u64) -> Result<Resources> {
        let dev = &ctx.device;
        let table_buffers = tables.upload(dev, pipes.consts.xi_format);
        // Per-chunk working buffers, sized for the largest chunk.
        let align = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let param_stride = (std::mem::size_of::<Params>() as u64).next_multiple_of(align);
        let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage,
                mapped_at_creation: false,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let params = buffer(
            "idpsim.params",
            param_stride * PARAM_SLOTS,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let state_bytes =
            max_count * kernels::device_state_blocks(plan, pipes.consts.layout, pipes.consts.cpu_device) as u64 * 16;
        let state = buffer("idpsim.state", state_bytes, storage);
        let q = plan.saves().q();
        let row = max_count * q as u64 * 4;
        let slot_capacity = (ctx.max_binding().min(SAVES_BUDGET) / row).clamp(2, plan.n_saves() as u64 + 1);
        let saves = buffer("idpsim.saves", slot_capacity * row, storage);
        let partial_bytes = slot_capacity * max_count.div_ceil(BLOCK) * q as u64 * MOMENTS as u64 * 4;
        let partials = buffer("idpsim.partials", partial_bytes, storage);
        let status = buffer("idpsim.status", 16, storage);
        let hist = buffer("idpsim.histogram", kernels::hist_bytes(plan), storage);
        let readback = buffer("idpsim.readback", ReadbackLayout::new(plan, slot_capacity, max_count).total(), read);
        let obs_bytes = max_count * plan.obs_per_trajectory() as u64 * 4;
        let obs = buffer("idpsim.observations", obs_bytes, storage);
        let obs_readback = plan.observe.observes_trajectories().then(|| buffer("idpsim.obs_readback", obs_bytes, read));
        let state_readback = plan.observe.final_state.then(|| buffer("idpsim.state_readback", state_bytes, read));
        let working = [&state, &saves, &partials, &status, &hist, &obs];
        let bind_group = bind(dev, &pipes.bgl, &params, &table_buffers, working);
        ctx.check_errors()?;
        log::debug!("GPU buffers: chunk ≤ {max_count}, {slot_capacity} save slots");
        let o = &plan.observe;
        let key = (max_count, o.per_trajectory_saves(), o.final_state, plan.n_saves(), plan.obs_per_trajectory());
        Ok(Resources {
            tables,
            key,
            max_count,
            slot_capacity,
            param_stride,
            bind_group,
            params,
            state,
            saves,
            partials,
            status,
            hist,
            readback,
            state_readback,
            obs,
            obs_readback,
        })
    }
}

/// The read-only tables on the device: bindings 1 to 5, and the values (binding 12).
struct TableBuffers([wgpu::Buffer; 5], wgpu::Buffer);

impl Tables {
    fn upload(&self, dev: &wgpu::Device, xi: XiFormat) -> TableBuffers {
        let init = |label: &str, data: &[u8], usage| {
            dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents: data, usage })
        };
        let ro = wgpu::BufferUsages::STORAGE;
        let xi_usage = if xi != XiFormat::BitsStorage { wgpu::BufferUsages::UNIFORM } else { ro };
        TableBuffers(
            [
                init("idpsim.memories", bytemuck::cast_slice(&self.xi), xi_usage),
                init("idpsim.segments", bytemuck::cast_slice(&self.segs), ro),
                init("idpsim.segment_coef", bytemuck::cast_slice(&self.seg_coef), ro),
                init("idpsim.segment_vec", bytemuck::cast_slice(&self.seg_vec), ro),
                init("idpsim.init_point", bytemuck::cast_slice(&self.init_point), ro),
            ],
            init("idpsim.values", bytemuck::bytes_of(&self.values), wgpu::BufferUsages::UNIFORM),
        )
    }
}

/// The bind group of `shaders/params.wgsl`: 0 the parameters (one slot, dynamic offset), 1–5
/// the tables, 6–11 the working buffers (state, saves, partials, status, histogram,
/// observations), 12 the plan's values.
fn bind(
    dev: &wgpu::Device,
    bgl: &wgpu::BindGroupLayout,
    params: &wgpu::Buffer,
    tables: &TableBuffers,
    working: [&wgpu::Buffer; 6],
) -> wgpu::BindGroup {
    let slot = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer: params,
        offset: 0,
        size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
    });
    let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: slot }];
    for (k, b) in tables.0.iter().chain(working).enumerate() {
        entries.push(wgpu::BindGroupEntry { binding: k as u32 + 1, resource: b.as_entire_binding() });
    }
    entries.push(wgpu::BindGroupEntry { binding: 12, resource: tables.1.as_entire_binding() });
    dev.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("idpsim.bind_group"),
        layout: bgl,
        entries: &entries,
    })
}
