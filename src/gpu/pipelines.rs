//! The compute kernels as objects: one module compiled for a plan's constants, and one type per
//! entry point (initial states, the fused steps, the reduction of the saves) that owns its
//! pipeline and knows how it is dispatched. Every dispatch binds its own slot of parameters.

use anyhow::{Result, bail};

use super::context::GpuContext;
use super::kernels::{self, KernelConsts, Layout, WG_THREAD, XiFormat};
use super::layout::Params;
use super::schedule::StepDispatch;
use crate::backend::KernelBuild;

/// Pipelines one build creates (initial states, steps, reduction).
pub const PIPELINES_PER_BUILD: u32 = 3;

/// Uniform-buffer slots, i.e. dispatches per submit (init + steps + reduce).
pub const PARAM_SLOTS: u64 = 66;

/// Largest workgroup count per dispatch dimension of `ctx`'s device (65 535 on most).
pub fn max_groups(ctx: &GpuContext) -> u64 {
    ctx.limits.max_compute_workgroups_per_dimension.max(1) as u64
}

/// The parameters of one submit's dispatches, one aligned slot each.
pub struct ParamSlots {
    stride: u64,
    params: Vec<Params>,
}

impl ParamSlots {
    pub fn new(stride: u64) -> Self {
        ParamSlots { stride, params: Vec::with_capacity(PARAM_SLOTS as usize) }
    }

    /// Binds the next slot, holding `prm`, for the following dispatch.
    fn bind(&mut self, pass: &mut wgpu::ComputePass, bind_group: &wgpu::BindGroup, prm: Params) {
        let off = (self.params.len() as u64 * self.stride) as u32;
        self.params.push(prm);
        pass.set_bind_group(0, bind_group, &[off]);
    }

    /// The bytes to upload before the submit.
    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.params.len() * self.stride as usize);
        for prm in &self.params {
            bytes.extend_from_slice(bytemuck::bytes_of(prm));
            bytes.resize(bytes.len().next_multiple_of(self.stride as usize), 0);
        }
        bytes
    }
}

/// `init_state`: x(0) of every trajectory of the chunk, one invocation each.
pub struct InitKernel(wgpu::ComputePipeline);

impl InitKernel {
    pub fn encode(&self, pass: &mut wgpu::ComputePass, slots: &mut ParamSlots, bg: &wgpu::BindGroup, base: Params) {
        pass.set_pipeline(&self.0);
        slots.bind(pass, bg, Params { slot_base: 0, ..base });
        pass.dispatch_workgroups(base.traj_count.div_ceil(WG_THREAD), 1, 1);
    }
}

/// `step_thread`, `step_group` or `step_tile`: many fused Euler–Maruyama steps per dispatch.
pub struct StepKernel {
    pipeline: wgpu::ComputePipeline,
    /// Trajectories per workgroup (`kernels::trajectories_per_group`).
    per_group: u32,
}

impl StepKernel {
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        slots: &mut ParamSlots,
        bg: &wgpu::BindGroup,
        base: Params,
        dispatches: &[StepDispatch],
        slot_base: u32,
    ) {
        pass.set_pipeline(&self.pipeline);
        let groups = base.traj_count.div_ceil(self.per_group);
        for d in dispatches {
            let prm = Params { step_begin: d.begin, step_count: d.count, segment: d.segment, slot_base, ..base };
            slots.bind(pass, bg, prm);
            pass.dispatch_workgroups(groups, 1, 1);
        }
    }
}

/// `reduce_saves`: block partial sums of `slots` saves, one invocation per (slot, block,
/// quantity).
pub struct ReduceKernel {
    pipeline: wgpu::ComputePipeline,
    /// The device's workgroups per dimension: larger reductions spread over y as well
    /// (`shaders/reduce.wgsl` reads the x count back).
    max_groups: u64,
}

impl ReduceKernel {
    pub fn encode(
        &self,
        pass: &mut wgpu::ComputePass,
        slots: &mut ParamSlots,
        bg: &wgpu::BindGroup,
        base: Params,
        (slot_base, count, q): (u32, u32, u32),
    ) {
        pass.set_pipeline(&self.pipeline);
        slots.bind(pass, bg, Params { slot_base, slot_count: count, ..base });
        let groups = (count as u64 * base.block_count as u64 * q as u64).div_ceil(WG_THREAD as u64);
        let x = groups.min(self.max_groups);
        pass.dispatch_workgroups(x as u32, groups.div_ceil(x.max(1)) as u32, 1);
    }
}

/// The three kernels of one model family, and their bind group layout.
pub struct Kernels {
    /// The family ([`KernelConsts::family`]) they were built for.
    pub consts: KernelConsts,
    pub bgl: wgpu::BindGroupLayout,
    pub init: InitKernel,
    pub step: StepKernel,
    pub reduce: ReduceKernel,
    /// The driver's pipeline cache these were created with, and its key in the cache directory
    /// (see [`super::built::load_pipelines`]), where the adapter has one.
    cache: Option<(wgpu::PipelineCache, String)>,
}

/// Bindings: 0 the parameters (dynamic offset), 1 the memories (uniform or storage), 2–5 the
/// read-only tables, 6–11 the working buffers, 12 the plan's values (see `shaders/params.wgsl`).
fn layout_entries(xi: XiFormat) -> Vec<wgpu::BindGroupLayoutEntry> {
    let buffer = |ty, has_dynamic_offset, min_binding_size| wgpu::BindingType::Buffer {
        ty,
        has_dynamic_offset,
        min_binding_size,
    };
    (0..13u32)
        .map(|binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: match binding {
                0 => buffer(
                    wgpu::BufferBindingType::Uniform,
                    true,
                    wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                ),
                1 if xi != XiFormat::BitsStorage => buffer(wgpu::BufferBindingType::Uniform, false, None),
                12 => buffer(
                    wgpu::BufferBindingType::Uniform,
                    false,
                    wgpu::BufferSize::new(std::mem::size_of::<super::layout::Values>() as u64),
                ),
                1..=5 => buffer(wgpu::BufferBindingType::Storage { read_only: true }, false, None),
                _ => buffer(wgpu::BufferBindingType::Storage { read_only: false }, false, None),
            },
            count: None,
        })
        .collect()
}

/// The key of `consts`' family's kernels on `ctx`'s adapter and driver (see [`super::built`]):
/// plans of one family share it.
pub fn build_key(info: &wgpu::AdapterInfo, consts: &KernelConsts) -> String {
    let constants = format!("{:?}", kernels::overrides(consts));
    super::built::key(&kernels::assemble(consts), &constants, info)
}

/// "the classic model's kernels (N ≤ 1024, P ≤ 256, thread layout)" (`consts` a family: P is
/// its capacity, N its size class).
pub fn describe(consts: &KernelConsts) -> String {
    let model = if consts.modern.is_some() {
        "modern"
    } else if consts.idp {
        "IDP"
    } else {
        "classic"
    };
    let layout = consts.layout.name();
    let p = if consts.p <= kernels::EXACT_P_MAX { format!("P = {}", consts.p) } else { format!("P ≤ {}", consts.p) };
    let n = if consts.n.div_ceil(4) <= kernels::UNROLL_BLOCKS {
        format!("N = {}", consts.n)
    } else {
        format!("N ≤ {}", consts.n.div_ceil(4) * 4)
    };
    format!("the {model} model's kernels ({n}, {p}, {layout} layout)")
}

/// A kernel build under way: announced, timed until its first dispatch has run.
pub struct PendingBuild {
    key: String,
    what: String,
    adapter: String,
    before: Option<f64>,
    started: std::time::Instant,
}

impl PendingBuild {
    /// The build is done (its kernels have run once): says so, records it (see
    /// [`super::built`]) and returns what run.json records of it.
    pub fn finish(self) -> KernelBuild {
        let seconds = self.started.elapsed().as_secs_f64();
        crate::notice::emit(&format!("built {} in {seconds:.1} s", self.what));
        super::built::record(&self.key, seconds);
        KernelBuild {
            kernels: self.what,
            adapter: self.adapter,
            pipelines: PIPELINES_PER_BUILD,
            seconds,
            built_before_s: self.before,
        }
    }
}

impl Kernels {
    /// Builds the kernels for `consts`' family, telling the person waiting (a first build can take
    /// minutes on a CPU device such as lavapipe). The build is timed until
    /// [`PendingBuild::finish`], after [`Kernels::warm`]: drivers such as lavapipe compile a
    /// pipeline at its first dispatch, not when it is created.
    pub fn build(ctx: &GpuContext, consts: KernelConsts) -> Result<(Kernels, PendingBuild)> {
        let consts = consts.family();
        let key = build_key(&ctx.adapter_info, &consts);
        let before = super::built::seen(&key);
        let what = describe(&consts);
        let adapter = ctx.adapter_info.name.clone();
        crate::notice::emit(&match before {
            Some(s) => format!(
                "building {what} on {adapter} (built here before in {s:.1} s; the driver's cache should serve them)"
            ),
            None => format!(
                "building {what} on {adapter} (not built here before{})",
                if ctx.adapter_info.device_type == wgpu::DeviceType::Cpu {
                    "; on a CPU device this can take minutes"
                } else {
                    ""
                }
            ),
        });
        let started = std::time::Instant::now();
        let k = Kernels::new(ctx, consts)?;
        Ok((k, PendingBuild { key, what, adapter, before, started }))
    }

    /// Runs each kernel once with nothing to do (no trajectories, no steps, no saves), so that
    /// drivers that compile at the first dispatch do it now, and waits for it.
    pub fn warm(
        &self,
        ctx: &GpuContext,
        bind_group: &wgpu::BindGroup,
        params: &wgpu::Buffer,
        stride: u64,
    ) -> Result<()> {
        let mut slots = ParamSlots::new(stride);
        let mut enc = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.warm") });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("idpsim.warm"),
                timestamp_writes: None,
            });
            for pipeline in [&self.init.0, &self.step.pipeline, &self.reduce.pipeline] {
                pass.set_pipeline(pipeline);
                slots.bind(&mut pass, bind_group, Params::default());
                pass.dispatch_workgroups(1, 1, 1);
            }
        }
        ctx.queue.write_buffer(params, 0, &slots.bytes());
        ctx.queue.submit([enc.finish()]);
        ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| anyhow::anyhow!("GPU poll failed: {e}"))?;
        ctx.check_errors()?;
        // Now that every pipeline has been compiled, the driver's cache holds them.
        if let Some((cache, key)) = &self.cache
            && let Some(data) = cache.get_data()
        {
            super::built::store_pipelines(key, &data);
        }
        Ok(())
    }

    pub fn new(ctx: &GpuContext, consts: KernelConsts) -> Result<Kernels> {
        let consts = consts.family();
        let dev = &ctx.device;
        let source = kernels::assemble(&consts);
        let scope = dev.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("idpsim.kernels"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let bgl = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("idpsim.bindings"),
            entries: &layout_entries(consts.xi_format),
        });
        let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("idpsim.layout"),
            bind_group_layouts: &[Some(&bgl)],
            immediate_size: 0,
        });
        let constants = kernels::overrides(&consts);
        // The adapter's pipeline cache (Vulkan), started from what an earlier process stored
        // for this family, adapter and driver (`fallback`: data the driver refuses starts an
        // empty cache). IDPSIM_PIPELINE_CACHE=off leaves it out (to measure what it saves).
        let use_cache = dev.features().contains(wgpu::Features::PIPELINE_CACHE)
            && !std::env::var("IDPSIM_PIPELINE_CACHE").is_ok_and(|v| v.eq_ignore_ascii_case("off") || v == "0")
            && super::built::dir().is_some();
        let cache = use_cache.then(|| {
            let key = build_key(&ctx.adapter_info, &consts);
            let data = super::built::load_pipelines(&key);
            // SAFETY: the data is what `PipelineCache::get_data` returned for this key (adapter
            // and driver included), checked whole against its stored length and SHA-256.
            let cache = unsafe {
                dev.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                    label: Some("idpsim.pipeline_cache"),
                    data: data.as_deref(),
                    fallback: true,
                })
            };
            (cache, key)
        });
        let pipeline = |entry: &str| {
            dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: cache.as_ref().map(|c| &c.0),
            })
        };
        let init = InitKernel(pipeline(kernels::ENTRY_INIT));
        let step = StepKernel {
            pipeline: pipeline(match consts.layout {
                Layout::Thread => kernels::ENTRY_STEP_THREAD,
                Layout::Group => kernels::ENTRY_STEP_GROUP,
                Layout::Tile => kernels::ENTRY_STEP_TILE,
            }),
            per_group: kernels::trajectories_per_group(consts.layout, consts.p, consts.cpu_device),
        };
        let reduce = ReduceKernel { pipeline: pipeline(kernels::ENTRY_REDUCE), max_groups: max_groups(ctx) };
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("GPU kernels failed to build: {e}");
        }
        ctx.check_errors()?;
        Ok(Kernels { consts, bgl, init, step, reduce, cache })
    }
}
