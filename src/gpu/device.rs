//! The GPU backend on one device: what its kernels depend on ([`DeviceFacts`]), and its loop
//! for one chunk: per submit, plan → encode → read back → the chunk's results.
//! A submit holds the initial states (first submit only), many fused multi-step dispatches and
//! the on-device reduction of the saves; only the small block partial sums (and, when asked,
//! per-trajectory saves) are read back. Observer values and final states are read once, at
//! the chunk's end.

use anyhow::{Result, bail};
use std::time::Instant;

use super::context::GpuContext;
use super::kernels::{self, KernelConsts, Layout, XiFormat};
use super::layout::Params;
use super::pipelines::{Kernels, PARAM_SLOTS, ParamSlots, max_groups};
use super::readback::{Readback, ReadbackLayout, Sources};
use super::resources::{Resources, SAVES_BUDGET, Tables};
use super::schedule::{Submit, Submits, first_submit_steps, init_fits, max_steps_per_dispatch, steps_per_dispatch};
use crate::backend::{Backend, Chunk, ChunkResults, ChunkState, KernelBuild, Pace, Progress, RunError};
use crate::plan::{BLOCK, LayoutChoice, Plan};

/// Kernel sets (model families) kept by a backend: a sweep's variants alternate between a few.
const PIPELINE_CACHE: usize = 8;

pub struct GpuBackend {
    pub ctx: GpuContext,
    /// Kernels built so far, the most recently used last (a few are kept, so the points of a
    /// sweep that alternate between models do not rebuild them).
    pipelines: Vec<Kernels>,
    resources: Option<Resources>,
    /// The chunk and step the device's state buffers hold after a run that stopped early.
    resident: Option<(Chunk, u32)>,
    /// Timestamps around each submit's compute pass, once asked for (`time_kernels`) and where
    /// the device has them.
    timer: Option<KernelTimer>,
    /// The kernel builds since the engine last prepared a run (none when its kernels were kept).
    builds: Vec<KernelBuild>,
}

/// GPU timestamps at the start and end of each submit's compute pass (every kernel of the
/// submit: initial states, the step dispatches, the saves' reduction), summed over submits.
struct KernelTimer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period: f64,
    total_ns: f64,
}

impl KernelTimer {
    fn new(ctx: &GpuContext) -> Option<Self> {
        if !ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("idpsim.timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let buffer = |label, usage| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 2 * wgpu::QUERY_SIZE as u64,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolve =
            buffer("idpsim.timestamps.resolve", wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        let readback =
            buffer("idpsim.timestamps.readback", wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        Some(KernelTimer { queries, resolve, readback, period: ctx.queue.get_timestamp_period() as f64, total_ns: 0.0 })
    }

    /// Adds the last submit's pass (its timestamps were copied to `readback`).
    fn add(&mut self, ctx: &GpuContext) -> Result<()> {
        let data = ctx.read_buffer(&self.readback, 2 * wgpu::QUERY_SIZE as u64)?;
        let t: &[u64] = bytemuck::cast_slice(&data);
        self.total_ns += t[1].saturating_sub(t[0]) as f64 * self.period;
        Ok(())
    }
}

/// An adapter's description, limits and features: what decides a plan's layout and kernel
/// constants on it (and so whether its kernels were built before, see [`super::built`]).
#[derive(Debug, Clone)]
pub struct DeviceFacts {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub int64: bool,
}

impl DeviceFacts {
    /// Whether the adapter is a CPU (lavapipe, SwiftShader, WARP).
    pub fn cpu_device(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Whether the plan's step in this layout takes the memories tile by tile
    /// ([`kernels::memory_major`]).
    fn memory_major(&self, plan: &Plan, layout: Layout) -> bool {
        kernels::memory_major(layout, kernels::p_capacity(plan.p() as u32), self.cpu_device())
    }

    /// The layout the plan runs with on this device: `run.layout` when it names one; else group
    /// (a workgroup per trajectory) for large N on real GPUs, and one invocation per trajectory
    /// otherwise (and always on CPU devices such as lavapipe, where workgroup barriers are
    /// expensive). `auto` never picks the tile layout: no real GPU has measured where it pays
    /// (`ci/gpu-check.sh` measures cases d–g in each layout).
    pub fn layout(&self, plan: &Plan) -> Layout {
        match plan.run.layout {
            LayoutChoice::Thread => Layout::Thread,
            LayoutChoice::Group => Layout::Group,
            LayoutChoice::Tile => Layout::Tile,
            // A CPU device runs one trajectory per invocation unless a dispatch of that layout
            // could take fewer than 4 steps under the loop budget (large N × P).
            LayoutChoice::Auto => {
                if (!self.cpu_device() && plan.n() >= 256)
                    || max_steps_per_dispatch(plan, Layout::Thread, self.memory_major(plan, Layout::Thread)) < 4
                {
                    Layout::Group
                } else {
                    Layout::Thread
                }
            }
        }
    }

    /// The kernel constants the plan runs with on this device.
    pub fn kernel_consts(&self, plan: &Plan) -> KernelConsts {
        let layout = self.layout(plan);
        let mut consts = KernelConsts::from_plan(plan, layout);
        consts.cpu_device = self.cpu_device();
        let ubo_limit = self.limits.max_uniform_buffer_binding_size.min(65536);
        consts.xi_format = if layout.group() {
            XiFormat::BitsStorage
        } else if kernels::xi_bytes(
            kernels::n_class(plan.n() as u32) as usize,
            kernels::p_capacity(plan.p() as u32) as usize,
        ) <= ubo_limit
        {
            XiFormat::BitsUniform
        } else {
            XiFormat::BitsStorage
        };
        consts.int64 = self.int64;
        consts
    }

    /// The key under which the plan's kernels on this device are recorded (see
    /// [`super::built`]).
    pub fn build_key(&self, plan: &Plan) -> String {
        super::pipelines::build_key(&self.info, &self.kernel_consts(plan))
    }
}

impl GpuBackend {
    pub fn new(adapter: Option<&str>) -> Result<Self> {
        Ok(Self::from_context(GpuContext::new(adapter)?))
    }

    pub fn from_context(ctx: GpuContext) -> Self {
        GpuBackend { ctx, pipelines: Vec::new(), resources: None, resident: None, timer: None, builds: Vec::new() }
    }

    /// The layout the plan runs with on this device (see [`DeviceFacts::layout`]).
    pub fn layout(&self, plan: &Plan) -> Layout {
        self.facts().layout(plan)
    }

    /// What the choice of kernels depends on, kept apart from the device itself.
    pub fn facts(&self) -> DeviceFacts {
        DeviceFacts {
            info: self.ctx.adapter_info.clone(),
            limits: self.ctx.limits.clone(),
            int64: self.ctx.device.features().contains(wgpu::Features::SHADER_INT64),
        }
    }

    fn cpu_device(&self) -> bool {
        self.ctx.adapter_info.device_type == wgpu::DeviceType::Cpu
    }

    fn chunk_limit(&self, plan: &Plan, layout: Layout) -> u64 {
        let binding = self.ctx.max_binding();
        let by_state = binding / (kernels::device_state_blocks(plan, layout, self.cpu_device()) as u64 * 16);
        let by_saves = binding.min(SAVES_BUDGET) / (2 * plan.saves().q() as u64 * 4);
        let per_group =
            kernels::trajectories_per_group(layout, kernels::p_capacity(plan.p() as u32), self.cpu_device());
        let by_dispatch = max_groups(&self.ctx) * per_group as u64;
        let by_obs = binding / (plan.obs_per_trajectory() as u64 * 4).max(1);
        let lim = by_state.min(by_saves).min(by_dispatch).min(by_obs);
        (lim / BLOCK) * BLOCK
    }

    /// Refuses, from the plan's sizes alone, a plan this device cannot run: kernels whose loops
    /// would pass the driver's loop budget, and buffers beyond its limits (the memories' table,
    /// one block of trajectories' state). Nothing is built or allocated, so a run too large is
    /// refused at once.
    fn check(&self, plan: &Plan) -> Result<()> {
        let layout = self.layout(plan);
        let name = &self.ctx.adapter_info.name;
        let major = kernels::memory_major(layout, kernels::p_capacity(plan.p() as u32), self.cpu_device());
        if max_steps_per_dispatch(plan, layout, major) == 0 {
            bail!(
                "N = {} is too large for the {} layout on '{name}' (a dispatch would exceed the driver's loop budget); {}",
                plan.n(),
                layout.name(),
                if layout.group() { "reduce N" } else { "set run.layout to \"group\"" }
            );
        }
        if !init_fits(plan) {
            bail!(
                "N = {} with P = {} is too large for the initial-state kernel on '{name}' (one invocation would exceed the driver's loop budget); reduce N or P, or use --backend cpu",
                plan.n(),
                plan.p()
            );
        }
        let xi = kernels::xi_bytes(plan.n(), kernels::p_capacity(plan.p() as u32) as usize);
        if xi > self.ctx.max_binding() {
            bail!(
                "the memories (N = {}, P = {}) take {xi} bytes on the device, more than a storage binding of {} bytes on '{name}'; reduce N or P, or use --backend cpu",
                plan.n(),
                plan.p(),
                self.ctx.max_binding()
            );
        }
        if self.chunk_limit(plan, layout) == 0 {
            bail!(
                "one block of {BLOCK} trajectories of N = {} does not fit a storage binding of {} bytes on '{name}'; reduce N, or use --backend cpu",
                plan.n(),
                self.ctx.max_binding()
            );
        }
        Ok(())
    }

    /// The kernel constants the plan runs with on this device.
    pub fn kernel_consts(&self, plan: &Plan) -> KernelConsts {
        self.facts().kernel_consts(plan)
    }

    /// Whether the plan's family's kernels are built in this backend already (then preparing
    /// it builds nothing: the plan's sizes and values are uploaded, see [`kernels::values`]).
    pub fn holds_kernels(&self, plan: &Plan) -> bool {
        let family = self.kernel_consts(plan).family();
        self.pipelines.iter().any(|p| p.consts == family)
    }

    /// Builds (or reuses) the kernels for the plan's constants and the buffers for its tables
    /// and chunk size.
    fn prepare(&mut self, plan: &Plan) -> Result<()> {
        self.check(plan)?;
        let layout = self.layout(plan);
        let consts = self.kernel_consts(plan);
        let family = consts.family();
        let max_count = self
            .chunk_limit(plan, layout)
            .min(plan.ensemble.trajectories.next_multiple_of(BLOCK))
            .min(plan.run.chunk_trajectories.map_or(u64::MAX, |c| (c / BLOCK).max(1) * BLOCK));
        let mut fresh = None;
        if self.pipelines.last().is_none_or(|p| p.consts != family) {
            // The bind group belongs to the pipelines' layout: switching kernels rebuilds it.
            self.resources = None;
            self.resident = None;
            let pipes = match self.pipelines.iter().position(|p| p.consts == family) {
                Some(k) => self.pipelines.remove(k),
                None => {
                    let (k, build) = Kernels::build(&self.ctx, consts.clone())?;
                    fresh = Some(build);
                    k
                }
            };
            if self.pipelines.len() >= PIPELINE_CACHE {
                self.pipelines.remove(0);
            }
            self.pipelines.push(pipes);
        }
        let tables = Tables::from_plan(plan, &consts);
        let want = (
            max_count,
            plan.observe.per_trajectory_saves(),
            plan.observe.final_state,
            plan.n_saves(),
            plan.obs_per_trajectory(),
        );
        if self.resources.as_ref().is_none_or(|r| r.tables != tables || r.key != want) {
            let pipes = self.pipelines.last().expect("built above");
            self.resident = None;
            self.resources = Some(Resources::new(&self.ctx, pipes, tables, plan, max_count)?);
        }
        if let Some(build) = fresh {
            let (r, k) = (self.resources.as_ref().expect("made above"), self.pipelines.last().expect("built above"));
            k.warm(&self.ctx, &r.bind_group, &r.params, r.param_stride)?;
            self.builds.push(build.finish());
        }
        Ok(())
    }
}

impl GpuBackend {
    /// Encodes one submit: cleared counters, the kernels' dispatches and the copies to read back.
    fn encode(&self, plan: &Plan, base: Params, s: &Submit, layout: &ReadbackLayout) -> (wgpu::CommandBuffer, Vec<u8>) {
        let (ctx, r, k) =
            (&self.ctx, self.resources.as_ref().expect("prepared"), self.pipelines.last().expect("prepared"));
        let mut slots = ParamSlots::new(r.param_stride);
        let mut enc =
            ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.submit") });
        if plan.observe.counters() > 0 {
            enc.clear_buffer(&r.hist, 0, None);
        }
        if s.init && plan.observe.observes_trajectories() {
            enc.clear_buffer(&r.obs, 0, None);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("idpsim.pass"),
                timestamp_writes: self.timer.as_ref().map(|t| wgpu::ComputePassTimestampWrites {
                    query_set: &t.queries,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            let bg = &r.bind_group;
            if s.init {
                k.init.encode(&mut pass, &mut slots, bg, base);
            }
            k.step.encode(&mut pass, &mut slots, bg, base, &s.dispatches, s.slot_base as u32);
            if s.slots > 0 {
                let q = plan.saves().q() as u32;
                k.reduce.encode(&mut pass, &mut slots, bg, base, (s.slot_base as u32, s.slots as u32, q));
            }
        }
        if let Some(t) = &self.timer {
            enc.resolve_query_set(&t.queries, 0..2, &t.resolve, 0);
            enc.copy_buffer_to_buffer(&t.resolve, 0, &t.readback, 0, 2 * wgpu::QUERY_SIZE as u64);
        }
        let sources =
            Sources { partials: &r.partials, saves: &r.saves, status: &r.status, hist: &r.hist, readback: &r.readback };
        layout.encode(&mut enc, sources);
        (enc.finish(), slots.bytes())
    }

    /// Adds one submit's results to the chunk's; fails on a non-finite state. Returns whether to
    /// go on (see [`Progress::advance`]).
    fn add_submit(
        plan: &Plan,
        s: &Submit,
        rb: &Readback,
        results: &mut ChunkResults,
        progress: &mut dyn Progress,
    ) -> Result<bool> {
        let chunk = results.chunk;
        if plan.observe.counters() > 0 {
            // The histogram's replicas added up, then the occupancy counts.
            let len = plan.observe.histogram_counters();
            let words = kernels::hist_words(plan) as usize;
            let mut total = vec![0u64; plan.observe.counters()];
            if len > 0 {
                for replica in rb.hist[..words].chunks(len) {
                    for (t, &c) in total.iter_mut().zip(replica) {
                        *t += c as u64;
                    }
                }
            }
            for (t, &c) in total[len..].iter_mut().zip(&rb.hist[words..]) {
                *t = c as u64;
            }
            results.add_counts(&total)?;
        }
        if rb.status[0] != u32::MAX {
            let step = rb.status[0];
            return Err(RunError::Diverged {
                trajectory: rb.status[1] as u64,
                step,
                time: step as f64 * plan.time.dt_f64,
            }
            .into());
        }
        if s.slots > 0 {
            results.add_partials(plan, s.slot_base as usize, s.slots as usize, rb.partials)?;
            if !rb.saves.is_empty() {
                // Device layout [slot][Q][trajectory] → [slot][trajectory][Q].
                let (c, q) = (chunk.count as usize, plan.saves().q());
                let mut host = vec![0f32; rb.saves.len()];
                for slot in 0..s.slots as usize {
                    for mu in 0..q {
                        for t in 0..c {
                            host[(slot * c + t) * q + mu] = rb.saves[(slot * q + mu) * c + t];
                        }
                    }
                }
                results.add_saves(plan, s.slot_base as usize, s.slots as usize, &host);
            }
        }
        progress.advance(chunk.count * (s.end - s.from) as u64)
    }

    /// Reads `bytes` of a working buffer through a readback buffer made for the purpose (at a
    /// checkpoint only).
    fn read_once(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let readback = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("idpsim.checkpoint_readback"),
            size: bytes.max(16),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.read_whole(src, &readback, bytes)
    }

    /// Bytes of the state and observer buffers a chunk of `count` trajectories uses.
    fn state_bytes(plan: &Plan, count: u64) -> (u64, u64) {
        (count * plan.state_blocks() as u64 * 16, count * plan.obs_per_trajectory() as u64 * 4)
    }

    /// Reads `bytes` of a working buffer back through its own readback buffer.
    fn read_whole(&self, src: &wgpu::Buffer, readback: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let mut enc =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.read") });
        enc.copy_buffer_to_buffer(src, 0, readback, 0, bytes);
        self.ctx.queue.submit([enc.finish()]);
        self.ctx.read_buffer(readback, bytes)
    }

    /// The retrieval / first-passage observer values of the chunk, [trajectory][value].
    fn read_observations(&self, plan: &Plan, count: u64) -> Result<Vec<f32>> {
        let r = self.resources.as_ref().expect("prepared");
        let ob = plan.obs_per_trajectory();
        let data = self.read_whole(
            &r.obs,
            r.obs_readback.as_ref().expect("allocated with the observers"),
            count * ob as u64 * 4,
        )?;
        let dev: &[f32] = bytemuck::cast_slice(&data);
        // Device layout [value][trajectory] → [trajectory][value].
        let c = count as usize;
        let mut host = vec![0f32; dev.len()];
        for k in 0..ob {
            for t in 0..c {
                host[t * ob + k] = dev[k * c + t];
            }
        }
        Ok(host)
    }

    /// The chunk's final states, [trajectory][N].
    fn read_final_state(&self, plan: &Plan, count: u64) -> Result<Vec<f32>> {
        let r = self.resources.as_ref().expect("prepared");
        let nbs = plan.state_blocks();
        let rb = r.state_readback.as_ref().expect("allocated with final_state");
        let data = self.read_whole(&r.state, rb, count * nbs as u64 * 16)?;
        Ok(self.states_in(plan, bytemuck::cast_slice(&data), count))
    }

    /// The states x [trajectory][N] in the device state buffer's values `x` of `count`
    /// trajectories (state[b · count + t] in the thread layout, state[t · NBS + b] in the group
    /// layout).
    fn states_in(&self, plan: &Plan, x: &[f32], count: u64) -> Vec<f32> {
        let nbs = plan.state_blocks();
        let (n, c) = (plan.n(), count as usize);
        let group = self.pipelines.last().expect("prepared").consts.layout.group();
        let mut out = vec![0f32; c * n];
        for t in 0..c {
            for i in 0..n {
                let (b, l) = (i / 4, i % 4);
                let idx = if group { t * nbs + b } else { b * c + t };
                out[t * n + i] = x[idx * 4 + l];
            }
        }
        out
    }
}

impl Backend for GpuBackend {
    fn kind(&self) -> &'static str {
        "gpu"
    }

    fn adapter(&self) -> String {
        self.ctx.describe()
    }

    fn max_chunk(&self, plan: &Plan) -> u64 {
        self.chunk_limit(plan, self.layout(plan))
    }

    fn check(&self, plan: &Plan) -> Result<()> {
        GpuBackend::check(self, plan)
    }

    /// The engine's call, once per run: the builds recorded from here on are this run's.
    fn prepare(&mut self, plan: &Plan) -> Result<()> {
        self.builds.clear();
        GpuBackend::prepare(self, plan)
    }

    fn run_chunk(
        &mut self,
        plan: &Plan,
        chunk: Chunk,
        start: Option<&ChunkState>,
        stop: u32,
        results: &mut ChunkResults,
        progress: &mut dyn Progress,
    ) -> Result<u32> {
        self.prepare(plan)?;
        let count = chunk.count;
        let (slot_capacity, max_count) = {
            let r = self.resources.as_ref().expect("prepared");
            (r.slot_capacity, r.max_count)
        };
        anyhow::ensure!(count <= max_count, "internal error: chunk of {count} exceeds the prepared {max_count}");
        let key = crate::rng::key_from_seed(plan.ensemble.seed);
        let base = Params {
            key_lo: key[0],
            key_hi: key[1],
            traj_first: chunk.first as u32,
            traj_count: count as u32,
            block_count: count.div_ceil(BLOCK) as u32,
            neuron_blocks: plan.neuron_blocks() as u32,
            noise_scale: plan.noise_scale(),
            ..Default::default()
        };
        let consts = &self.pipelines.last().expect("prepared").consts;
        let k = steps_per_dispatch(
            plan,
            count,
            consts.layout,
            kernels::memory_major(consts.layout, kernels::p_capacity(consts.p), consts.cpu_device),
        );
        let r = self.resources.as_ref().expect("prepared");
        self.ctx.queue.write_buffer(&r.status, 0, bytemuck::cast_slice(&[u32::MAX, u32::MAX, 0, 0]));
        let from = start.map_or(0, |st| st.step);
        if let Some(st) = start
            && self.resident != Some((chunk, st.step))
        {
            let (state_bytes, obs_bytes) = Self::state_bytes(plan, count);
            anyhow::ensure!(
                st.state.len() as u64 * 4 == state_bytes && st.obs.len() as u64 * 4 == obs_bytes,
                "internal error: a chunk state of {} + {} values, expected {} + {} bytes",
                st.state.len(),
                st.obs.len(),
                state_bytes,
                obs_bytes
            );
            self.ctx.queue.write_buffer(&r.state, 0, bytemuck::cast_slice(&st.state));
            if obs_bytes > 0 {
                self.ctx.queue.write_buffer(&r.obs, 0, bytemuck::cast_slice(&st.obs));
            }
        }
        self.resident = None;
        let mut submits = Submits::new(plan, count, k, slot_capacity, (PARAM_SLOTS - 2) as usize, (from, stop));
        let (mut pace, first) = (Pace::new(), first_submit_steps(plan, count));
        submits.limit_steps(pace.steps(first));
        while let Some(s) = submits.next() {
            let started = Instant::now();
            let layout = ReadbackLayout::new(plan, s.slots, count);
            let (commands, params) = self.encode(plan, base, &s, &layout);
            let r = self.resources.as_ref().expect("prepared");
            self.ctx.queue.write_buffer(&r.params, 0, &params);
            self.ctx.queue.submit([commands]);
            let data = self.ctx.read_buffer(&r.readback, layout.total())?;
            pace.record(s.end - s.from, started.elapsed());
            submits.limit_steps(pace.steps(first));
            if let Some(t) = &mut self.timer {
                t.add(&self.ctx)?;
            }
            let go_on = Self::add_submit(plan, &s, &layout.decode(&data), results, progress)?;
            if !go_on && s.end < stop {
                self.resident = Some((chunk, s.end));
                return Ok(s.end);
            }
        }
        if stop < plan.time.total_steps {
            self.resident = Some((chunk, stop));
            return Ok(stop);
        }
        if plan.observe.observes_trajectories() {
            results.observations = self.read_observations(plan, count)?;
        }
        if plan.observe.final_state {
            results.final_state = self.read_final_state(plan, count)?;
        }
        Ok(stop)
    }

    fn suspend(&mut self, plan: &Plan, chunk: Chunk) -> Result<ChunkState> {
        let Some((resident, step)) = self.resident else {
            anyhow::bail!("internal error: no chunk was stopped before its end")
        };
        anyhow::ensure!(resident == chunk, "internal error: the device holds another chunk");
        let r = self.resources.as_ref().expect("prepared");
        let (state_bytes, obs_bytes) = Self::state_bytes(plan, chunk.count);
        let state = bytemuck::cast_slice(&self.read_once(&r.state, state_bytes)?).to_vec();
        let obs =
            if obs_bytes > 0 { bytemuck::cast_slice(&self.read_once(&r.obs, obs_bytes)?).to_vec() } else { Vec::new() };
        Ok(ChunkState { step, state, obs })
    }

    fn states_of(&self, plan: &Plan, state: &ChunkState, count: u64) -> Vec<f32> {
        self.states_in(plan, &state.state, count)
    }

    fn time_kernels(&mut self) {
        if self.timer.is_none() {
            self.timer = KernelTimer::new(&self.ctx);
        }
    }

    fn kernel_builds(&self) -> Vec<KernelBuild> {
        self.builds.clone()
    }

    fn work_layout(&self, plan: &Plan) -> Option<&'static str> {
        Some(self.layout(plan).name())
    }

    fn kernel_seconds(&mut self) -> Option<f64> {
        let t = self.timer.as_mut()?;
        Some(std::mem::take(&mut t.total_ns) * 1e-9)
    }
}
