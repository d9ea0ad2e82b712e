//! The GPU engine loop for one chunk: initial states, then submits of many fused multi-step
//! dispatches followed by the on-device reduction of the saved overlaps; only the small block
//! partial sums (and, when asked, per-trajectory overlaps and final states) are read back.

use anyhow::{Result, bail};
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels::{self, KernelConsts, WG_THREAD};
use super::layout::{NO_PULSE, Params, Segment};
use crate::engine::{Backend, Chunk, RunError, Sink};
use crate::observe::MOMENTS;
use crate::plan::{BLOCK, InitialPlan, LayoutChoice, Plan};

/// Device bytes allowed for the per-submit buffer of saved overlaps.
const SAVES_BUDGET: u64 = 64 << 20;
/// Uniform-buffer slots, i.e. dispatches per submit (init + steps + reduce).
const PARAM_SLOTS: u64 = 66;
/// Work per dispatch aimed at by the automatic steps-per-dispatch (neuron-steps × (P + 12)).
const DISPATCH_WORK: f64 = 3.0e8;
/// Largest workgroup count per dispatch dimension every device supports.
const MAX_GROUPS: u64 = 65535;

pub struct GpuBackend {
    pub ctx: GpuContext,
    prepared: Option<Prepared>,
}

struct Prepared {
    consts: KernelConsts,
    max_count: u64,
    slot_capacity: u64,
    param_stride: u64,
    init: wgpu::ComputePipeline,
    step: wgpu::ComputePipeline,
    reduce: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    state: wgpu::Buffer,
    saves: wgpu::Buffer,
    partials: wgpu::Buffer,
    status: wgpu::Buffer,
    readback: wgpu::Buffer,
    state_readback: Option<wgpu::Buffer>,
}

impl GpuBackend {
    pub fn new(adapter: Option<&str>) -> Result<Self> {
        Ok(GpuBackend {
            ctx: GpuContext::new(adapter)?,
            prepared: None,
        })
    }

    pub fn from_context(ctx: GpuContext) -> Self {
        GpuBackend {
            ctx,
            prepared: None,
        }
    }

    /// The layout the plan runs with on this device: group (a workgroup per trajectory) for
    /// large N on real GPUs; one invocation per trajectory otherwise (and always on CPU
    /// devices such as lavapipe, where workgroup barriers are expensive).
    pub fn layout_group(&self, plan: &Plan) -> bool {
        match plan.layout {
            LayoutChoice::Thread => false,
            LayoutChoice::Group => true,
            LayoutChoice::Auto => {
                self.ctx.adapter_info.device_type != wgpu::DeviceType::Cpu && plan.n >= 256
            }
        }
    }

    fn chunk_limit(&self, plan: &Plan, group: bool) -> u64 {
        let binding = self.ctx.max_binding();
        let nb = plan.neuron_blocks() as u64;
        let by_state = binding / (nb * 16);
        let by_saves = binding.min(SAVES_BUDGET) / (2 * plan.p as u64 * 4);
        let by_dispatch = if group {
            MAX_GROUPS
        } else {
            MAX_GROUPS * WG_THREAD as u64
        };
        let lim = by_state.min(by_saves).min(by_dispatch);
        (lim / BLOCK) * BLOCK
    }

    fn prepare(&mut self, plan: &Plan) -> Result<()> {
        let group = self.layout_group(plan);
        let consts = KernelConsts::from_plan(plan, group);
        let max_count = self
            .chunk_limit(plan, group)
            .min(plan.trajectories.next_multiple_of(BLOCK))
            .min(
                plan.chunk_trajectories
                    .map_or(u64::MAX, |c| (c / BLOCK).max(1) * BLOCK),
            );
        if let Some(p) = &self.prepared
            && p.consts == consts
            && p.max_count >= max_count
        {
            return Ok(());
        }
        if max_count == 0 {
            bail!(
                "one trajectory of N = {} does not fit a storage binding of {} bytes on '{}'",
                plan.n,
                self.ctx.max_binding(),
                self.ctx.adapter_info.name
            );
        }
        let dev = &self.ctx.device;
        let source = kernels::assemble(&consts);
        let scope = dev.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("idpsim.kernels"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = (0..10u32)
            .map(|binding| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match binding {
                    0 => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<Params>() as u64
                        ),
                    },
                    1..=5 => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    _ => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let bgl = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("idpsim.bindings"),
            entries: &entries,
        });
        let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("idpsim.layout"),
            bind_group_layouts: &[Some(&bgl)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &[],
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            })
        };
        let init = pipeline(kernels::ENTRY_INIT);
        let step = pipeline(if group {
            kernels::ENTRY_STEP_GROUP
        } else {
            kernels::ENTRY_STEP_THREAD
        });
        let reduce = pipeline(kernels::ENTRY_REDUCE);
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("GPU kernels failed to build: {e}");
        }

        // Read-only tables.
        let (nb, p) = (plan.neuron_blocks(), plan.p);
        let mut xi4 = vec![0f32; nb * p * 4];
        for b in 0..nb {
            for mu in 0..p {
                for l in 0..4 {
                    let i = 4 * b + l;
                    if i < plan.n {
                        xi4[(b * p + mu) * 4 + l] = plan.memories.get(i, mu);
                    }
                }
            }
        }
        let segs: Vec<Segment> = plan
            .segments
            .iter()
            .map(|s| Segment {
                start: s.start_step,
                steps: s.steps,
                ramp: s.ramp_steps,
                pulse: s.pulse_steps.unwrap_or(NO_PULSE),
                noise: s.noise,
                ..Default::default()
            })
            .collect();
        let seg_coef: Vec<f32> = plan
            .segments
            .iter()
            .flat_map(|s| s.coef.iter().copied())
            .collect();
        let mut seg_vec = vec![0f32; 4];
        if consts.has_vector {
            seg_vec = vec![0f32; plan.segments.len() * nb * 4];
            for (k, s) in plan.segments.iter().enumerate() {
                if let Some(v) = &s.vector {
                    seg_vec[k * nb * 4..k * nb * 4 + plan.n].copy_from_slice(v);
                }
            }
        }
        let mut init_point = vec![0f32; nb * 4];
        if let InitialPlan::Point { x } = &plan.initial {
            init_point[..plan.n].copy_from_slice(x);
        }
        let ro = |label: &str, data: &[u8]| {
            dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let xi_buf = ro("idpsim.memories", bytemuck::cast_slice(&xi4));
        let seg_buf = ro("idpsim.segments", bytemuck::cast_slice(&segs));
        let coef_buf = ro("idpsim.segment_coef", bytemuck::cast_slice(&seg_coef));
        let vec_buf = ro("idpsim.segment_vec", bytemuck::cast_slice(&seg_vec));
        let point_buf = ro("idpsim.init_point", bytemuck::cast_slice(&init_point));

        // Per-chunk working buffers, sized for the largest chunk.
        let align = self.ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let param_stride = (std::mem::size_of::<Params>() as u64).next_multiple_of(align);
        let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage,
                mapped_at_creation: false,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let params = buffer(
            "idpsim.params",
            param_stride * PARAM_SLOTS,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let state_bytes = max_count * nb as u64 * 16;
        let state = buffer("idpsim.state", state_bytes, storage);
        let row = max_count * p as u64 * 4;
        let slot_capacity =
            (self.ctx.max_binding().min(SAVES_BUDGET) / row).clamp(2, plan.n_saves() as u64 + 1);
        let saves = buffer("idpsim.saves", slot_capacity * row, storage);
        let blocks = max_count.div_ceil(BLOCK);
        let partial_bytes = slot_capacity * blocks * p as u64 * MOMENTS as u64 * 4;
        let partials = buffer("idpsim.partials", partial_bytes, storage);
        let status = buffer("idpsim.status", 16, storage);
        let readback_bytes = partial_bytes
            + if plan.per_trajectory {
                slot_capacity * row
            } else {
                0
            }
            + 16;
        let readback = buffer(
            "idpsim.readback",
            readback_bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let state_readback = plan.final_state.then(|| {
            buffer(
                "idpsim.state_readback",
                state_bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )
        });
        fn whole(b: &wgpu::Buffer) -> wgpu::BindingResource<'_> {
            b.as_entire_binding()
        }
        let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("idpsim.bind_group"),
            layout: &bgl,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &params,
                        offset: 0,
                        size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                    }),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: whole(&xi_buf),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: whole(&seg_buf),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: whole(&coef_buf),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: whole(&vec_buf),
                },
                wgpu::BindGroupEntry {
                    binding: 5,
                    resource: whole(&point_buf),
                },
                wgpu::BindGroupEntry {
                    binding: 6,
                    resource: whole(&state),
                },
                wgpu::BindGroupEntry {
                    binding: 7,
                    resource: whole(&saves),
                },
                wgpu::BindGroupEntry {
                    binding: 8,
                    resource: whole(&partials),
                },
                wgpu::BindGroupEntry {
                    binding: 9,
                    resource: whole(&status),
                },
            ],
        });
        self.ctx.check_errors()?;
        log::debug!(
            "GPU prepared: layout {}, chunk ≤ {max_count}, {slot_capacity} save slots",
            if group { "group" } else { "thread" }
        );
        self.prepared = Some(Prepared {
            consts,
            max_count,
            slot_capacity,
            param_stride,
            init,
            step,
            reduce,
            bind_group,
            params,
            state,
            saves,
            partials,
            status,
            readback,
            state_readback,
        });
        Ok(())
    }
}

/// Steps per dispatch: the plan's override, or enough work to keep one dispatch busy for a
/// few tens of milliseconds on a CPU device (far less on a GPU).
fn steps_per_dispatch(plan: &Plan, count: u64) -> u32 {
    if let Some(k) = plan.steps_per_dispatch {
        return k;
    }
    let per_step = count as f64 * (plan.neuron_blocks() * 4) as f64 * (plan.p + 12) as f64;
    (DISPATCH_WORK / per_step).clamp(1.0, 4096.0) as u32
}

/// One dispatch of the step kernel.
struct StepDispatch {
    begin: u32,
    count: u32,
    segment: u32,
}

/// Cuts steps [from, …) into dispatches that stay inside one segment, stop before save index
/// `max_save + 1` would be written, and number at most `max_dispatches`.
fn plan_dispatches(
    plan: &Plan,
    from: u32,
    k: u32,
    max_save: u64,
    max_dispatches: usize,
) -> Vec<StepDispatch> {
    let limit = ((max_save + 1) * plan.save_every as u64 - 1).min(plan.total_steps as u64) as u32;
    let mut out = Vec::new();
    let mut step = from;
    while step < limit && out.len() < max_dispatches {
        let seg = plan
            .segments
            .iter()
            .rposition(|s| s.start_step <= step)
            .expect("step inside the schedule");
        let seg_end = plan.segments[seg].start_step + plan.segments[seg].steps;
        let count = k.min(seg_end - step).min(limit - step);
        out.push(StepDispatch {
            begin: step,
            count,
            segment: seg as u32,
        });
        step += count;
    }
    out
}

impl Backend for GpuBackend {
    fn kind(&self) -> &'static str {
        "gpu"
    }

    fn adapter(&self) -> String {
        self.ctx.describe()
    }

    fn max_chunk(&self, plan: &Plan) -> u64 {
        self.chunk_limit(plan, self.layout_group(plan))
    }

    fn run_chunk(&mut self, plan: &Plan, chunk: Chunk, sink: &mut dyn Sink) -> Result<()> {
        self.prepare(plan)?;
        let ctx = &self.ctx;
        let pr = self.prepared.as_ref().expect("prepared");
        let count = chunk.count;
        anyhow::ensure!(
            count <= pr.max_count,
            "internal error: chunk of {count} exceeds the prepared {}",
            pr.max_count
        );
        let (p, nb) = (plan.p as u64, plan.neuron_blocks() as u64);
        let blocks = count.div_ceil(BLOCK);
        let key = crate::rng::key_from_seed(plan.seed);
        let base = Params {
            key_lo: key[0],
            key_hi: key[1],
            traj_first: chunk.first as u32,
            traj_count: count as u32,
            block_count: blocks as u32,
            ..Default::default()
        };
        let se = plan.save_every as u64;
        let k = steps_per_dispatch(plan, count);
        ctx.queue.write_buffer(
            &pr.status,
            0,
            bytemuck::cast_slice(&[u32::MAX, u32::MAX, 0, 0]),
        );

        let mut step: u32 = 0;
        let mut first = true;
        while first || step < plan.total_steps {
            let slot_base = if first { 0 } else { step as u64 / se + 1 };
            let max_save = slot_base + pr.slot_capacity - 1;
            let dispatches = plan_dispatches(plan, step, k, max_save, (PARAM_SLOTS - 2) as usize);
            let end = dispatches.last().map_or(step, |d| d.begin + d.count);
            let last_save = end as u64 / se;
            let slots = if first {
                last_save + 1
            } else {
                last_save - (step as u64 / se)
            };

            let mut params: Vec<Params> = Vec::with_capacity(dispatches.len() + 2);
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("idpsim.submit"),
                });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("idpsim.pass"),
                    timestamp_writes: None,
                });
                let slot = |pass: &mut wgpu::ComputePass, prm: Params, params: &mut Vec<Params>| {
                    let off = (params.len() as u64 * pr.param_stride) as u32;
                    params.push(prm);
                    pass.set_bind_group(0, &pr.bind_group, &[off]);
                };
                if first {
                    pass.set_pipeline(&pr.init);
                    slot(
                        &mut pass,
                        Params {
                            slot_base: 0,
                            ..base
                        },
                        &mut params,
                    );
                    pass.dispatch_workgroups(count.div_ceil(WG_THREAD as u64) as u32, 1, 1);
                }
                pass.set_pipeline(&pr.step);
                for d in &dispatches {
                    slot(
                        &mut pass,
                        Params {
                            step_begin: d.begin,
                            step_count: d.count,
                            segment: d.segment,
                            slot_base: slot_base as u32,
                            ..base
                        },
                        &mut params,
                    );
                    if pr.consts.layout_group {
                        pass.dispatch_workgroups(count as u32, 1, 1);
                    } else {
                        pass.dispatch_workgroups(count.div_ceil(WG_THREAD as u64) as u32, 1, 1);
                    }
                }
                if slots > 0 {
                    pass.set_pipeline(&pr.reduce);
                    slot(
                        &mut pass,
                        Params {
                            slot_base: slot_base as u32,
                            slot_count: slots as u32,
                            ..base
                        },
                        &mut params,
                    );
                    let groups = (slots * blocks * p).div_ceil(WG_THREAD as u64);
                    pass.dispatch_workgroups(
                        groups.min(MAX_GROUPS) as u32,
                        groups.div_ceil(MAX_GROUPS) as u32,
                        1,
                    );
                }
            }
            let partial_bytes = slots * blocks * p * MOMENTS as u64 * 4;
            let saves_bytes = if plan.per_trajectory {
                slots * count * p * 4
            } else {
                0
            };
            enc.copy_buffer_to_buffer(&pr.partials, 0, &pr.readback, 0, partial_bytes.max(4));
            if saves_bytes > 0 {
                enc.copy_buffer_to_buffer(&pr.saves, 0, &pr.readback, partial_bytes, saves_bytes);
            }
            enc.copy_buffer_to_buffer(&pr.status, 0, &pr.readback, partial_bytes + saves_bytes, 8);
            let mut bytes = Vec::with_capacity(params.len() * pr.param_stride as usize);
            for prm in &params {
                bytes.extend_from_slice(bytemuck::bytes_of(prm));
                bytes.resize(bytes.len().next_multiple_of(pr.param_stride as usize), 0);
            }
            ctx.queue.write_buffer(&pr.params, 0, &bytes);
            ctx.queue.submit([enc.finish()]);
            let data = ctx.read_buffer(&pr.readback, partial_bytes + saves_bytes + 8)?;
            let floats: &[f32] = bytemuck::cast_slice(&data);
            let status: &[u32] =
                bytemuck::cast_slice(&data[(partial_bytes + saves_bytes) as usize..]);
            if status[0] != u32::MAX {
                return Err(RunError::Diverged {
                    trajectory: status[1] as u64,
                    step: status[0],
                    time: status[0] as f64 * plan.dt_f64,
                }
                .into());
            }
            let save_first = if first { 0 } else { slot_base as usize };
            if slots > 0 {
                sink.partials(
                    save_first,
                    slots as usize,
                    &floats[..(partial_bytes / 4) as usize],
                )?;
                if saves_bytes > 0 {
                    sink.overlaps(
                        save_first,
                        slots as usize,
                        &floats[(partial_bytes / 4) as usize
                            ..((partial_bytes + saves_bytes) / 4) as usize],
                    )?;
                }
            }
            sink.progress(count * (end - step) as u64);
            step = end;
            first = false;
        }

        if plan.final_state {
            let rb = pr
                .state_readback
                .as_ref()
                .expect("allocated with final_state");
            let bytes = count * nb * 16;
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("idpsim.final_state"),
                });
            enc.copy_buffer_to_buffer(&pr.state, 0, rb, 0, bytes);
            ctx.queue.submit([enc.finish()]);
            let data = ctx.read_buffer(rb, bytes)?;
            let x: &[f32] = bytemuck::cast_slice(&data);
            let n = plan.n;
            let mut out = vec![0f32; count as usize * n];
            for t in 0..count as usize {
                for i in 0..n {
                    let (b, l) = (i / 4, i % 4);
                    let idx = if pr.consts.layout_group {
                        t * nb as usize + b
                    } else {
                        b * count as usize + t
                    };
                    out[t * n + i] = x[idx * 4 + l];
                }
            }
            sink.final_state(&out)?;
        }
        Ok(())
    }
}
