//! Runs the Philox check kernel (`shaders/rng_check.wgsl`) so tests can compare the GPU's
//! random numbers with `crate::rng`, bit for bit.

use anyhow::{Result, bail};
use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, Pod, Zeroable)]
pub struct CheckParams {
    pub key_lo: u32,
    pub key_hi: u32,
    pub word1: u32,
    pub word2: u32,
    pub stream: u32,
    pub count: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// The check module's source, with the native or the split `mulhi`.
pub fn source(int64: bool) -> String {
    let mut src = kernels::mulhi_source(int64).to_string();
    for (name, text) in kernels::SHADERS.iter().chain(kernels::CHECK_SHADERS) {
        if *name == "rng.wgsl" || *name == "rng_check.wgsl" {
            src.push_str(text);
        }
    }
    kernels::unroll_fixed_loops(&src, &[])
}

/// Philox blocks and the normals made from them.
pub type PhiloxBlocks = (Vec<[u32; 4]>, Vec<[f32; 4]>);

/// Philox blocks and normals for counters [i, word1, word2, stream], i < count.
pub fn philox_on_gpu(
    ctx: &GpuContext,
    key: [u32; 2],
    word1: u32,
    word2: u32,
    stream: u32,
    count: u32,
    int64: bool,
) -> Result<PhiloxBlocks> {
    if int64 && !ctx.device.features().contains(wgpu::Features::SHADER_INT64) {
        bail!("the device has no shader int64");
    }
    let dev = &ctx.device;
    let scope = dev.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("idpsim.rng_check"),
        source: wgpu::ShaderSource::Wgsl(source(int64).into()),
    });
    let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("idpsim.rng_check"),
        layout: None,
        module: &module,
        entry_point: Some("philox_check"),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(e) = pollster::block_on(scope.pop()) {
        bail!("rng check kernel failed to build: {e}");
    }
    let params = CheckParams { key_lo: key[0], key_hi: key[1], word1, word2, stream, count, ..Default::default() };
    let ubo = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("idpsim.rng_check.params"),
        contents: bytemuck::bytes_of(&params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let bytes = count as u64 * 16;
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let mk = |label: &str, usage| {
        dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16),
            usage,
            mapped_at_creation: false,
        })
    };
    let bits = mk("idpsim.rng_check.bits", usage);
    let normals = mk("idpsim.rng_check.normals", usage);
    let rb = mk("idpsim.rng_check.readback", wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
    let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("idpsim.rng_check"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: ubo.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: bits.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 2, resource: normals.as_entire_binding() },
        ],
    });
    let groups = (count as u64).div_ceil(64);
    let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.rng_check") });
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(groups.min(65535) as u32, groups.div_ceil(65535) as u32, 1);
    }
    enc.copy_buffer_to_buffer(&bits, 0, &rb, 0, bytes);
    ctx.queue.submit([enc.finish()]);
    let b = ctx.read_buffer(&rb, bytes)?;
    let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("idpsim.rng_check") });
    enc.copy_buffer_to_buffer(&normals, 0, &rb, 0, bytes);
    ctx.queue.submit([enc.finish()]);
    let z = ctx.read_buffer(&rb, bytes)?;
    Ok((bytemuck::cast_slice(&b).to_vec(), bytemuck::cast_slice(&z).to_vec()))
}
