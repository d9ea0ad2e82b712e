//! The GPU context: instance, adapter, device and queue, made once and borrowed by everything
//! else, plus the one read-back helper.

use crate::error::{Input, UsageError};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};

/// Adapter, device and queue. Device errors that escape error scopes are recorded here and
/// turned into `Err` by [`GpuContext::check_errors`] instead of panicking.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter_info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    errors: Arc<Mutex<Vec<String>>>,
}

/// An adapter as `idpsim devices` lists it.
pub struct AdapterSummary {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// The adapter keeps compiled pipelines in a cache idpsim can store (wgpu's
    /// `PipelineCache`, Vulkan only).
    pub pipeline_cache: bool,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Every adapter wgpu can use (Vulkan, Metal, DX12), numbered as `--adapter` takes indices.
pub fn list_adapters() -> Vec<AdapterSummary> {
    usable_adapters()
        .unwrap_or_default()
        .into_iter()
        .map(|a| AdapterSummary {
            info: a.get_info(),
            limits: a.limits(),
            pipeline_cache: a.features().contains(wgpu::Features::PIPELINE_CACHE),
        })
        .collect()
}

/// Whether `--adapter` names several adapters ("all", or a comma-separated list).
pub fn is_many(filter: &str) -> bool {
    filter.trim() == "all" || filter.contains(',')
}

/// The Vulkan, Metal and DX12 adapters, in the order `idpsim devices` numbers them.
fn usable_adapters() -> Result<Vec<wgpu::Adapter>> {
    let inst = instance();
    let mut adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
    adapters.retain(|a| a.get_info().backend != wgpu::Backend::Gl);
    if adapters.is_empty() {
        bail!(
            "no GPU adapter found (Vulkan, Metal or DX12); on Linux without a GPU install Mesa's lavapipe (Debian: mesa-vulkan-drivers)"
        );
    }
    Ok(adapters)
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

impl GpuContext {
    /// Opens the best adapter, or the first whose name contains `filter` (case-insensitive).
    pub fn new(filter: Option<&str>) -> Result<GpuContext> {
        Self::with_limits(filter, |_| {})
    }

    /// [`GpuContext::new`] with a device that asks for the adapter's limits as `lower` leaves
    /// them (lowered, to check that runs beyond a device's limits are cut to fit).
    pub fn with_limits(filter: Option<&str>, lower: impl FnOnce(&mut wgpu::Limits)) -> Result<GpuContext> {
        let mut adapters = usable_adapters()?;
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        if let Some(f) = filter {
            if is_many(f) {
                return Err(UsageError::new(
                    Input::Adapter,
                    format!("'{f}' names several adapters; this command uses one (give one name or index)"),
                )
                .into());
            }
            let f = f.to_lowercase();
            match f.trim().parse::<usize>() {
                // An index, as `idpsim devices` numbers the adapters.
                Ok(i) if i < adapters.len() => adapters = vec![adapters.swap_remove(i)],
                Ok(_) => adapters.clear(),
                Err(_) => adapters.retain(|a| a.get_info().name.to_lowercase().contains(&f)),
            }
            if adapters.is_empty() {
                return Err(UsageError::new(
                    Input::Adapter,
                    format!(
                        "no adapter is '{f}' (an index) or has it in its name; available: {}",
                        names.iter().enumerate().map(|(i, n)| format!("{i}: {n}")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .into());
            }
        }
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        Self::open(adapters.into_iter().next().expect("non-empty"), lower)
    }

    /// The devices `list` names: "all" (every Vulkan, Metal or DX12 adapter), or adapter
    /// indices (as `idpsim devices` numbers them) and parts of names, separated by commas; an
    /// adapter named twice gets two devices.
    pub fn many(list: &str) -> Result<Vec<GpuContext>> {
        let adapters = usable_adapters()?;
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        let picks: Vec<usize> = if list.trim() == "all" {
            (0..adapters.len()).collect()
        } else {
            list.split(',')
                .map(|item| {
                    let item = item.trim();
                    let found = match item.parse::<usize>() {
                        Ok(i) => (i < adapters.len()).then_some(i),
                        Err(_) => names.iter().position(|n| n.to_lowercase().contains(&item.to_lowercase())),
                    };
                    found.ok_or_else(|| {
                        UsageError::new(
                            Input::Adapter,
                            format!(
                                "'{item}' is neither an adapter index nor part of a name; available: {}",
                                names
                                    .iter()
                                    .enumerate()
                                    .map(|(i, n)| format!("{i}: {n}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        };
        picks.into_iter().map(|i| Self::open(adapters[i].clone(), |_| {})).collect()
    }

    /// Opens a device on `adapter`.
    fn open(adapter: wgpu::Adapter, lower: impl FnOnce(&mut wgpu::Limits)) -> Result<GpuContext> {
        let adapter_info = adapter.get_info();
        let mut limits = adapter.limits();
        lower(&mut limits);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("idpsim.device"),
            required_features: adapter.features()
                & (wgpu::Features::SHADER_INT64 | wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::PIPELINE_CACHE),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .with_context(|| format!("cannot open a device on adapter '{}'", adapter_info.name))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().expect("error list").push(e.to_string());
        }));
        log::info!("GPU adapter: {} ({:?}, {:?})", adapter_info.name, adapter_info.device_type, adapter_info.backend);
        Ok(GpuContext { device, queue, adapter_info, limits, errors })
    }

    /// "name (backend, type)".
    pub fn describe(&self) -> String {
        format!("{} ({:?}, {:?})", self.adapter_info.name, self.adapter_info.backend, self.adapter_info.device_type)
    }

    /// Fails with the first device error recorded since the last call.
    pub fn check_errors(&self) -> Result<()> {
        let mut errs = self.errors.lock().expect("error list");
        if let Some(e) = errs.first().cloned() {
            errs.clear();
            bail!("GPU error: {e}");
        }
        Ok(())
    }

    /// Largest size of one storage binding (and of one buffer).
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Copies `size` bytes of a MAP_READ buffer to the host.
    ///
    /// Mapping rules: the buffer must have been created with MAP_READ, must not be in use by
    /// queued work we have not waited for (we wait with a blocking poll first), and is unmapped
    /// before returning so the next copy into it is valid.
    pub fn read_buffer(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let slice = buffer.slice(..size);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| anyhow!("GPU poll failed: {e}"))?;
        rx.recv()
            .map_err(|_| anyhow!("GPU read-back was cancelled"))?
            .map_err(|e| anyhow!("GPU read-back failed: {e}"))?;
        let bytes = {
            let view = slice.get_mapped_range().map_err(|e| anyhow!("GPU read-back: {e}"))?;
            view.to_vec()
        };
        buffer.unmap();
        self.check_errors()?;
        Ok(bytes)
    }
}
