//! The GPU engine loop for one chunk: initial states, then submits of many fused multi-step
//! dispatches followed by the on-device reduction of the saved overlaps; only the small block
//! partial sums (and, when asked, per-trajectory overlaps and final states) are read back.

use anyhow::{Result, bail};

use super::context::GpuContext;
use super::kernels::{self, KernelConsts, WG_THREAD, XiFormat};
use super::layout::Params;
use super::resources::{Pipelines, Resources, SAVES_BUDGET, Tables};
use crate::backend::{Backend, Chunk, RunError, Sink};
use crate::observe::MOMENTS;
use crate::plan::{BLOCK, LayoutChoice, Plan};

use super::resources::PARAM_SLOTS;
/// Work per dispatch aimed at by the automatic steps-per-dispatch (neuron-steps × (P + 12)).
const DISPATCH_WORK: f64 = 3.0e8;
/// Kernel sets kept by a backend.
const PIPELINE_CACHE: usize = 4;
/// Largest workgroup count per dispatch dimension every device supports.
const MAX_GROUPS: u64 = 65535;

pub struct GpuBackend {
    pub ctx: GpuContext,
    /// Kernels built so far, the most recently used last (a few are kept, so the points of a
    /// sweep that alternate between models do not rebuild them).
    pipelines: Vec<Pipelines>,
    resources: Option<Resources>,
}

impl GpuBackend {
    pub fn new(adapter: Option<&str>) -> Result<Self> {
        Ok(Self::from_context(GpuContext::new(adapter)?))
    }

    pub fn from_context(ctx: GpuContext) -> Self {
        GpuBackend { ctx, pipelines: Vec::new(), resources: None }
    }

    /// The layout the plan runs with on this device: group (a workgroup per trajectory) for
    /// large N on real GPUs; one invocation per trajectory otherwise (and always on CPU
    /// devices such as lavapipe, where workgroup barriers are expensive).
    pub fn layout_group(&self, plan: &Plan) -> bool {
        match plan.run.layout {
            LayoutChoice::Thread => false,
            LayoutChoice::Group => true,
            LayoutChoice::Auto => self.ctx.adapter_info.device_type != wgpu::DeviceType::Cpu && plan.n() >= 256,
        }
    }

    fn chunk_limit(&self, plan: &Plan, group: bool) -> u64 {
        let binding = self.ctx.max_binding();
        let by_state = binding / (plan.state_blocks() as u64 * 16);
        let by_saves = binding.min(SAVES_BUDGET) / (2 * plan.saves().q() as u64 * 4);
        let by_dispatch = if group { MAX_GROUPS } else { MAX_GROUPS * WG_THREAD as u64 };
        let by_obs = binding / (plan.obs_per_trajectory() as u64 * 4).max(1);
        let lim = by_state.min(by_saves).min(by_dispatch).min(by_obs);
        (lim / BLOCK) * BLOCK
    }

    /// Builds (or reuses) the kernels for the plan's constants and the buffers for its tables
    /// and chunk size.
    fn prepare(&mut self, plan: &Plan) -> Result<()> {
        let group = self.layout_group(plan);
        let mut consts = KernelConsts::from_plan(plan, group);
        let ubo_limit = self.ctx.limits.max_uniform_buffer_binding_size.min(65536);
        consts.xi_format = if group {
            XiFormat::BitsStorage
        } else if kernels::xi_bytes(plan.n(), plan.p()) <= ubo_limit {
            XiFormat::BitsUniform
        } else {
            XiFormat::BitsStorage
        };
        consts.int64 = self.ctx.device.features().contains(wgpu::Features::SHADER_INT64);
        let max_count = self
            .chunk_limit(plan, group)
            .min(plan.ensemble.trajectories.next_multiple_of(BLOCK))
            .min(plan.run.chunk_trajectories.map_or(u64::MAX, |c| (c / BLOCK).max(1) * BLOCK));
        if max_steps_per_dispatch(plan, group) == 0 {
            bail!(
                "N = {} is too large for the {} layout on '{}' (a dispatch would exceed the driver's loop budget); {}",
                plan.n(),
                if group { "group" } else { "thread" },
                self.ctx.adapter_info.name,
                if group { "reduce N" } else { "set run.layout to \"group\"" }
            );
        }
        if max_count == 0 {
            bail!(
                "one trajectory of N = {} does not fit a storage binding of {} bytes on '{}'",
                plan.n(),
                self.ctx.max_binding(),
                self.ctx.adapter_info.name
            );
        }
        if self.pipelines.last().is_none_or(|p| p.consts != consts) {
            // The bind group belongs to the pipelines' layout: switching kernels rebuilds it.
            self.resources = None;
            let pipes = match self.pipelines.iter().position(|p| p.consts == consts) {
                Some(k) => self.pipelines.remove(k),
                None => Pipelines::new(&self.ctx, consts)?,
            };
            if self.pipelines.len() >= PIPELINE_CACHE {
                self.pipelines.remove(0);
            }
            self.pipelines.push(pipes);
        }
        let tables = Tables::from_plan(plan);
        let want = (
            max_count,
            plan.observe.per_trajectory_saves(),
            plan.observe.final_state,
            plan.n_saves(),
            plan.obs_per_trajectory(),
        );
        if self.resources.as_ref().is_none_or(|r| r.tables != tables || r.key != want) {
            let pipes = self.pipelines.last().expect("built above");
            self.resources = Some(Resources::new(&self.ctx, pipes, tables, plan, max_count)?);
        }
        Ok(())
    }
}

/// Loop back-edges one invocation may take per dispatch. llvmpipe ends every loop of an
/// invocation once 65 535 back-edges have been taken in total (a guard against endless loops),
/// so the neuron-block and step loops of one dispatch must stay below that on every device.
pub const LOOP_BUDGET: u64 = 60_000;

/// Back-edges of one invocation: (at dispatch start, per step).
fn loop_cost(plan: &Plan, group: bool) -> (u64, u64) {
    let lanes = if group { kernels::wg_group(plan.p()) as u64 } else { 1 };
    let blocks = (plan.neuron_blocks() as u64).div_ceil(lanes);
    // The group layout's reductions loop over P / WG_GROUP memories per invocation.
    let reduce = if group { (plan.p() as u64).div_ceil(lanes) } else { 0 };
    // Saving the energy adds a pass over the blocks at each save (at most every step).
    let energy = if plan.observe.energy { blocks + 1 } else { 0 };
    // Random weights: for the current and previous segments, P / 4 + 1 Philox blocks and the
    // P rows of α = G w.
    let random = if plan.has_random_weights() { 2 * (plan.p() as u64 + plan.p() as u64 / 4 + 2) } else { 0 };
    (3 * blocks + 4 + 3 * reduce + random, blocks + 2 + 2 * reduce + energy)
}

/// The most steps a dispatch may take under [`LOOP_BUDGET`] (0 if not even one fits).
pub fn max_steps_per_dispatch(plan: &Plan, group: bool) -> u64 {
    let (start, per_step) = loop_cost(plan, group);
    LOOP_BUDGET.saturating_sub(start) / per_step
}

/// Fewest steps a dispatch takes when the loop budget allows: a dispatch starts with a pass
/// over the state (the overlaps) and the input coefficients, which costs about one step, so
/// large ensembles must not fall to one step per dispatch.
const MIN_STEPS_PER_DISPATCH: f64 = 16.0;

/// Steps per dispatch: the plan's override, or enough work to keep one dispatch busy for a
/// few tens of milliseconds on a CPU device (far less on a GPU) but at least
/// [`MIN_STEPS_PER_DISPATCH`]; never above the loop budget.
pub fn steps_per_dispatch(plan: &Plan, count: u64, group: bool) -> u32 {
    let budget = max_steps_per_dispatch(plan, group).max(1) as u32;
    if let Some(k) = plan.run.steps_per_dispatch {
        return k.min(budget);
    }
    let per_step = count as f64 * (plan.neuron_blocks() * 4) as f64 * (plan.p() + 12) as f64;
    ((DISPATCH_WORK / per_step).clamp(MIN_STEPS_PER_DISPATCH, 4096.0) as u32).min(budget)
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
    max_samples: u64,
) -> Vec<StepDispatch> {
    let mut limit = ((max_save + 1) * plan.observe.save_every as u64 - 1).min(plan.time.total_steps as u64) as u32;
    if let Some(h) = &plan.observe.histogram {
        // At most `max_samples` histogram samples per trajectory in one submit, so no u32 cell
        // can overflow before the host adds it to its u64 counts.
        let first = from.saturating_add(1).max(h.from_steps).max(1).div_ceil(h.every_steps) as u64;
        let last_allowed = (first + max_samples - 1) * h.every_steps as u64;
        limit = limit.min(last_allowed.min(u32::MAX as u64) as u32).max(from + 1);
    }
    let mut out = Vec::new();
    let mut step = from;
    while step < limit && out.len() < max_dispatches {
        let seg = plan.input.segments.iter().rposition(|s| s.start_step <= step).expect("step inside the schedule");
        let seg_end = plan.input.segments[seg].start_step + plan.input.segments[seg].steps;
        let count = k.min(seg_end - step).min(limit - step);
        out.push(StepDispatch { begin: step, count, segment: seg as u32 });
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
        let pr = self.resources.as_ref().expect("prepared");
        let pipes = self.pipelines.last().expect("prepared");
        let count = chunk.count;
        anyhow::ensure!(
            count <= pr.max_count,
            "internal error: chunk of {count} exceeds the prepared {}",
            pr.max_count
        );
        let (p, nb) = (plan.saves().q() as u64, plan.neuron_blocks() as u64);
        let blocks = count.div_ceil(BLOCK);
        let key = crate::rng::key_from_seed(plan.ensemble.seed);
        let base = Params {
            key_lo: key[0],
            key_hi: key[1],
            traj_first: chunk.first as u32,
            traj_count: count as u32,
            block_count: blocks as u32,
            neuron_blocks: nb as u32,
            noise_scale: plan.noise_scale(),
            ..Default::default()
        };
        let se = plan.observe.save_every as u64;
        let k = steps_per_dispatch(plan, count, pipes.consts.layout_group);
        ctx.queue.write_buffer(&pr.status, 0, bytemuck::cast_slice(&[u32::MAX, u32::MAX, 0, 0]));

        let mut step: u32 = 0;
        let mut first = true;
        while first || step < plan.time.total_steps {
            let slot_base = if first { 0 } else { step as u64 / se + 1 };
            let max_save = slot_base + pr.slot_capacity - 1;
            let max_samples = (u32::MAX as u64 / count).max(1);
            let dispatches = plan_dispatches(plan, step, k, max_save, (PARAM_SLOTS - 2) as usize, max_samples);
            let end = dispatches.last().map_or(step, |d| d.begin + d.count);
            let last_save = end as u64 / se;
            let slots = if first { last_save + 1 } else { last_save - (step as u64 / se) };

            let mut params: Vec<Params> = Vec::with_capacity(dispatches.len() + 2);
            let mut enc =
                ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.submit") });
            let hist_bytes = super::resources::hist_bytes(plan);
            if hist_bytes > 0 {
                enc.clear_buffer(&pr.hist, 0, None);
            }
            if first && plan.observe.observes_trajectories() {
                enc.clear_buffer(&pr.obs, 0, None);
            }
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
                    pass.set_pipeline(&pipes.init);
                    slot(&mut pass, Params { slot_base: 0, ..base }, &mut params);
                    pass.dispatch_workgroups(count.div_ceil(WG_THREAD as u64) as u32, 1, 1);
                }
                pass.set_pipeline(&pipes.step);
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
                    if pipes.consts.layout_group {
                        pass.dispatch_workgroups(count as u32, 1, 1);
                    } else {
                        pass.dispatch_workgroups(count.div_ceil(WG_THREAD as u64) as u32, 1, 1);
                    }
                }
                if slots > 0 {
                    pass.set_pipeline(&pipes.reduce);
                    slot(
                        &mut pass,
                        Params { slot_base: slot_base as u32, slot_count: slots as u32, ..base },
                        &mut params,
                    );
                    let groups = (slots * blocks * p).div_ceil(WG_THREAD as u64);
                    pass.dispatch_workgroups(groups.min(MAX_GROUPS) as u32, groups.div_ceil(MAX_GROUPS) as u32, 1);
                }
            }
            let partial_bytes = slots * blocks * p * MOMENTS as u64 * 4;
            let saves_bytes = if plan.observe.per_trajectory_saves() { slots * count * p * 4 } else { 0 };
            enc.copy_buffer_to_buffer(&pr.partials, 0, &pr.readback, 0, partial_bytes.max(4));
            if saves_bytes > 0 {
                enc.copy_buffer_to_buffer(&pr.saves, 0, &pr.readback, partial_bytes, saves_bytes);
            }
            enc.copy_buffer_to_buffer(&pr.status, 0, &pr.readback, partial_bytes + saves_bytes, 8);
            if hist_bytes > 0 {
                enc.copy_buffer_to_buffer(&pr.hist, 0, &pr.readback, partial_bytes + saves_bytes + 8, hist_bytes);
            }
            let mut bytes = Vec::with_capacity(params.len() * pr.param_stride as usize);
            for prm in &params {
                bytes.extend_from_slice(bytemuck::bytes_of(prm));
                bytes.resize(bytes.len().next_multiple_of(pr.param_stride as usize), 0);
            }
            ctx.queue.write_buffer(&pr.params, 0, &bytes);
            ctx.queue.submit([enc.finish()]);
            let data = ctx.read_buffer(&pr.readback, partial_bytes + saves_bytes + 8 + hist_bytes)?;
            let floats: &[f32] = bytemuck::cast_slice(&data);
            let status: &[u32] = bytemuck::cast_slice(&data[(partial_bytes + saves_bytes) as usize..][..8]);
            if hist_bytes > 0 {
                let counts: &[u32] = bytemuck::cast_slice(&data[(partial_bytes + saves_bytes + 8) as usize..]);
                let len = plan.observe.histogram.as_ref().map_or(0, |h| h.cells() + 1);
                let mut total = vec![0u64; len];
                for replica in counts.chunks(len) {
                    for (t, &c) in total.iter_mut().zip(replica) {
                        *t += c as u64;
                    }
                }
                sink.histogram(&total)?;
            }
            if status[0] != u32::MAX {
                return Err(RunError::Diverged {
                    trajectory: status[1] as u64,
                    step: status[0],
                    time: status[0] as f64 * plan.time.dt_f64,
                }
                .into());
            }
            let save_first = if first { 0 } else { slot_base as usize };
            if slots > 0 {
                sink.partials(save_first, slots as usize, &floats[..(partial_bytes / 4) as usize])?;
                if saves_bytes > 0 {
                    // Device layout [slot][P][trajectory] → the sink's [slot][trajectory][P].
                    let dev = &floats[(partial_bytes / 4) as usize..((partial_bytes + saves_bytes) / 4) as usize];
                    let (c, pu) = (count as usize, p as usize);
                    let mut host = vec![0f32; dev.len()];
                    for slot in 0..slots as usize {
                        for mu in 0..pu {
                            for t in 0..c {
                                host[(slot * c + t) * pu + mu] = dev[(slot * pu + mu) * c + t];
                            }
                        }
                    }
                    sink.overlaps(save_first, slots as usize, &host)?;
                }
            }
            sink.progress(count * (end - step) as u64);
            step = end;
            first = false;
        }

        if plan.observe.observes_trajectories() {
            let rb = pr.obs_readback.as_ref().expect("allocated with the observers");
            let ob = plan.obs_per_trajectory();
            let bytes = count * ob as u64 * 4;
            let mut enc =
                ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.obs") });
            enc.copy_buffer_to_buffer(&pr.obs, 0, rb, 0, bytes);
            ctx.queue.submit([enc.finish()]);
            let data = ctx.read_buffer(rb, bytes)?;
            let dev: &[f32] = bytemuck::cast_slice(&data);
            // Device layout [value][trajectory] → the sink's [trajectory][value].
            let c = count as usize;
            let mut host = vec![0f32; dev.len()];
            for k in 0..ob {
                for t in 0..c {
                    host[t * ob + k] = dev[k * c + t];
                }
            }
            sink.trajectory_observations(&host)?;
        }
        if plan.observe.final_state {
            let rb = pr.state_readback.as_ref().expect("allocated with final_state");
            let nbs = plan.state_blocks() as u64;
            let bytes = count * nbs * 16;
            let mut enc = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.final_state") });
            enc.copy_buffer_to_buffer(&pr.state, 0, rb, 0, bytes);
            ctx.queue.submit([enc.finish()]);
            let data = ctx.read_buffer(rb, bytes)?;
            let x: &[f32] = bytemuck::cast_slice(&data);
            let n = plan.n();
            let mut out = vec![0f32; count as usize * n];
            for t in 0..count as usize {
                for i in 0..n {
                    let (b, l) = (i / 4, i % 4);
                    let idx = if pipes.consts.layout_group { t * nbs as usize + b } else { b * count as usize + t };
                    out[t * n + i] = x[idx * 4 + l];
                }
            }
            sink.final_state(&out)?;
        }
        Ok(())
    }
}
