//! `--backend auto`: the device expected to answer first, by a cost model of measured rates.
//!
//! For a plan of W = trajectories × N × steps neuron-steps with P memories, each candidate's
//! time is its kernel build (GPU only: nothing when this process already holds the plan's
//! family's kernels, a few seconds at most when this machine built them before, see
//! [`crate::gpu::built`]; kernels are built per model family and capacity of P, not per plan,
//! see [`crate::gpu::kernels::p_capacity`]) plus W times its cost per neuron-step:
//!
//! | device | ns per neuron-step (per thread or core) | build |
//! |---|---|---|
//! | CPU fast path | 9 + 0.035 P + 70 / N, + 7 with noise | none |
//! | CPU device (lavapipe), thread layout | 5 + 0.13 P (P ≤ 16), 5 + 0.03 P² up to 128, 5 + 0.4 P beyond (memory-major) | 1 s + the larger of 4e-4 s · PC² (PC: the capacity of P) and 5.5e-4 s · B² (B: the neuron blocks of a state held in a private array), or as recorded here |
//! | CPU device, group layout (large N · P) | 23 + 8 P | the same |
//! | a GPU (whole device) | 0.02 + 0.002 P | 2 s, or as recorded here |
//!
//! The rates were measured on the 2-core development machine (docs/PERFORMANCE.md: `idpsim
//! bench` cases a–g, 2026-12-06): the fast path 16–18 ns per thread and neuron-step at P = 10
//! and 250 alike, 79 at N = 2 (its per-trajectory work; 50 since the noise of a tile is drawn in
//! vectors and narrow rows update as one array, 2026-12-07); lavapipe runs one trajectory per SIMD
//! lane with the P overlaps in private arrays, 7–9 ns per core and neuron-step at P = 10 but
//! about 3 µs at P = 250 (N = 1000) with block-major memory loops, 80–140 ns since its step there
//! is memory-major (`gpu::kernels::memory_major`; case (d), 256 trajectories: 1.45–2.5e7
//! neuron-steps/s on 2 cores). llvmpipe runs a workgroup (16 trajectories, `gpu::kernels::WG_STEP_CPU`) on one
//! core, so the estimate divides by the cores that a plan's workgroups can fill. Building the
//! block-major kernels at P = 250 once took 403 s from an empty Mesa
//! cache (with other work on the machine) against 1.2 s at P = 4, and 36.9 s for case (a)'s
//! family (N = 1024 in a private array of 256 blocks) against 1.1 s with the state in memory.
//! They are deliberately
//! round: the model only has to rank devices whose times differ by large factors. The CPU reference (`cpu`) is never chosen: the fast path
//! does the same arithmetic faster. run.json records the choice, the estimates and why.

use anyhow::Result;

use crate::backend::Backend;
use crate::cpu::CpuBackend;
use crate::error::UsageError;
use crate::gpu::GpuBackend;
use crate::gpu::device::DeviceFacts;
use crate::gpu::kernels::Layout;
use crate::plan::{BackendChoice, Plan};

/// A build recorded here before that took less than this was a driver-cache hit.
const CACHE_HIT_S: f64 = 3.0;

/// What one candidate would take.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Estimate {
    pub backend: String,
    pub device: String,
    pub build_s: f64,
    pub integrate_s: f64,
    pub seconds: f64,
}

/// Where `auto` runs a plan, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Choice {
    pub backend: &'static str,
    pub reason: String,
    pub estimates: Vec<Estimate>,
}

/// Neuron-steps of the plan.
fn work(plan: &Plan) -> f64 {
    plan.ensemble.trajectories as f64 * plan.n() as f64 * plan.time.total_steps as f64
}

fn noisy(plan: &Plan) -> bool {
    plan.noise.sigma > 0.0
}

/// The CPU fast path on `threads` threads.
pub fn cpu_fast_estimate(plan: &Plan, threads: usize) -> Estimate {
    let ns = 9.0 + 0.035 * plan.p() as f64 + 70.0 / plan.n() as f64 + if noisy(plan) { 7.0 } else { 0.0 };
    let integrate_s = work(plan) * ns * 1e-9 / threads.max(1) as f64;
    Estimate {
        backend: "cpu_fast".into(),
        device: format!("{threads} CPU threads"),
        build_s: 0.0,
        integrate_s,
        seconds: integrate_s,
    }
}

/// A GPU adapter (`facts`), `threads` CPU threads where it is a CPU device.
pub fn gpu_estimate(plan: &Plan, facts: &DeviceFacts, threads: usize) -> Estimate {
    gpu_estimate_held(plan, facts, threads, false)
}

/// Seconds to build the plan's family's kernels with no cache: on a CPU device 1 s plus the
/// larger of 4e-4 s · PC² (PC: the capacity of P; the build's cost grows with the capacity, not
/// with P) and 5.5e-4 s · B² for a state kept in a private array of B neuron blocks (B: N's size
/// class; only while the memory loops are unrolled, `gpu::kernels::state_in_regs`); on a GPU
/// 2 s. Measured on lavapipe from empty caches (docs/PERFORMANCE.md): case (a)'s family
/// (B = 256, P = 10) 36.9 s, and 1.1 s with the state in memory; the classic family of capacity
/// 256 at N = 9 with a cue, energy and retrieval 20–22 s; case (d)'s (PC = 256, N = 1000) 14 s
/// with the state in memory, 38–45 s when it was kept in the array as well (the two costs did
/// not add up).
pub fn uncached_build_s(plan: &Plan, facts: &DeviceFacts) -> f64 {
    if !facts.cpu_device() {
        return 2.0;
    }
    let pc = crate::gpu::kernels::p_capacity(plan.p() as u32) as f64;
    let k = facts.kernel_consts(plan);
    let regs = if crate::gpu::kernels::x_in_regs(&k) { k.family().n.div_ceil(4) as f64 } else { 0.0 };
    1.0 + (4e-4 * pc * pc).max(5.5e-4 * regs * regs)
}

/// The tile layout's nanoseconds per neuron-step and core on a CPU device, a + b·P: on llvmpipe
/// (2 cores, `bench --layout tile --scale-down 8`, 2026-12-07) case (a) (P = 10) ran 1.45e7
/// neuron-steps/s, (c) (N = 64) 9.9e6, (d) and (e) (P = 250) 1.40e6 and 1.42e6: about 140 ns at
/// P = 10 and 1420 at P = 250 per core. A workgroup barrier per phase and per-lane gathers of
/// what every invocation reads cost a CPU device more than the products save; the layout is
/// meant for real GPUs.
const TILE_NS_CPU_DEVICE: (f64, f64) = (85.0, 5.4);

/// [`gpu_estimate`], where `held` says that this process holds the plan's family's kernels
/// already (a sweep's earlier point built them): then no build at all.
pub fn gpu_estimate_held(plan: &Plan, facts: &DeviceFacts, threads: usize, held: bool) -> Estimate {
    let p = plan.p() as f64;
    let recorded = if held { Some(0.0) } else { crate::gpu::built::seen(&facts.build_key(plan)) };
    let uncached = uncached_build_s(plan, facts);
    let (ns, build_s) = if facts.cpu_device() {
        let layout = facts.layout(plan);
        let pc = crate::gpu::kernels::p_capacity(plan.p() as u32);
        let ns = match layout {
            Layout::Group => 23.0 + 8.0 * p,
            Layout::Tile => TILE_NS_CPU_DEVICE.0 + TILE_NS_CPU_DEVICE.1 * p,
            Layout::Thread if p <= 16.0 => 5.0 + 0.13 * p,
            Layout::Thread if crate::gpu::kernels::memory_major(layout, pc, true) => 5.0 + 0.4 * p,
            Layout::Thread => 5.0 + 0.03 * p * p,
        };
        // llvmpipe runs each workgroup on one thread: a small ensemble keeps some cores idle.
        let per_group = crate::gpu::kernels::trajectories_per_group(layout, pc, true) as u64;
        let cores = (threads.max(1) as u64).min(plan.ensemble.trajectories.div_ceil(per_group).max(1));
        (ns / cores as f64, recorded.map_or(uncached, |s| s.min(CACHE_HIT_S)))
    } else {
        (0.02 + 0.002 * p, recorded.map_or(uncached, |s| s.min(CACHE_HIT_S)))
    };
    let integrate_s = work(plan) * ns * 1e-9;
    Estimate {
        backend: "gpu".into(),
        device: facts.info.name.clone(),
        build_s,
        integrate_s,
        seconds: build_s + integrate_s,
    }
}

/// The choice between the CPU fast path and a GPU (None: no adapter opened, `why` says why).
pub fn decide(plan: &Plan, gpu: Option<&DeviceFacts>, why_no_gpu: Option<&str>, threads: usize) -> Choice {
    decide_held(plan, gpu, why_no_gpu, threads, false)
}

/// [`decide`], where `held` says that this process holds the plan's family's kernels on the GPU.
pub fn decide_held(
    plan: &Plan,
    gpu: Option<&DeviceFacts>,
    why_no_gpu: Option<&str>,
    threads: usize,
    held: bool,
) -> Choice {
    let cpu = cpu_fast_estimate(plan, threads);
    let Some(facts) = gpu else {
        return Choice {
            backend: "cpu_fast",
            reason: format!("no usable GPU ({})", why_no_gpu.unwrap_or("none found")),
            estimates: vec![cpu],
        };
    };
    let g = gpu_estimate_held(plan, facts, threads, held);
    let (backend, reason) = if g.seconds < cpu.seconds {
        (
            "gpu",
            format!(
                "{} is expected to answer first: {:.1} s against {:.1} s on the CPU fast path",
                g.device, g.seconds, cpu.seconds
            ),
        )
    } else {
        (
            "cpu_fast",
            format!(
                "the CPU fast path is expected to answer first: {:.1} s against {:.1} s on {} ({:.1} s of it building kernels)",
                cpu.seconds, g.seconds, g.device, g.build_s
            ),
        )
    };
    Choice { backend, reason, estimates: vec![g, cpu] }
}

/// Opens the backend a plan asks for. `auto` asks the cost model ([`decide`]) and says what
/// it chose (a notice, and run.json through [`Backend::choice`]).
pub fn open(plan: &Plan) -> Result<Box<dyn Backend + Send>> {
    Chooser::default().open(plan)
}

/// Makes the choices of one process: the GPU adapter is opened at most once, and a backend
/// already opened is handed out again (a sweep's points share their devices and kernels).
#[derive(Default)]
pub struct Chooser {
    /// The GPU opened to look at (and run on when chosen), or why none opened.
    probe: Option<std::result::Result<GpuBackend, String>>,
    facts: Option<DeviceFacts>,
    /// The last choice's backend, so that a sweep says only when it changes.
    last: Option<&'static str>,
    /// Build keys of the families whose plans were given the GPU: its backend builds and keeps
    /// their kernels (a [`Pool`] hands it out again), so later plans of a family build nothing.
    gpu_families: Vec<String>,
}

impl Chooser {
    /// Where `plan` should run under `auto`: its choice, and the GPU if that is it (taken out
    /// of the chooser; later choices still know the device's facts).
    pub fn choose(&mut self, plan: &Plan) -> Result<(Choice, Option<GpuBackend>)> {
        if self.probe.is_none() && self.facts.is_none() {
            self.probe = Some(match GpuBackend::new(plan.run.adapter.as_deref()) {
                Ok(g) => {
                    self.facts = Some(g.facts());
                    Ok(g)
                }
                // Asking for an adapter that does not exist is a mistake, not a reason to fall
                // back.
                Err(e) if e.downcast_ref::<UsageError>().is_some() => return Err(e),
                Err(e) => {
                    crate::notice::warn(&format!("no usable GPU ({e:#}); running on the CPU fast path"));
                    Err(format!("{e:#}"))
                }
            });
        }
        let why = match &self.probe {
            Some(Err(e)) => Some(e.as_str()),
            _ => None,
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let key = self.facts.as_ref().map(|f| f.build_key(plan));
        let held = key.as_ref().is_some_and(|k| self.gpu_families.contains(k));
        let choice = decide_held(plan, self.facts.as_ref(), why, threads, held);
        if choice.backend == "gpu"
            && let Some(k) = key
            && !held
        {
            self.gpu_families.push(k);
        }
        let gpu = if choice.backend == "gpu" {
            match self.probe.take() {
                Some(Ok(g)) => Some(g),
                other => {
                    self.probe = other;
                    None
                }
            }
        } else {
            None
        };
        if self.last != Some(choice.backend) {
            crate::notice::emit(&format!("backend auto: {} ({})", choice.backend, choice.reason));
            self.last = Some(choice.backend);
        }
        Ok((choice, gpu))
    }

    /// The backend for `plan`: its own choice unless `auto`, else [`Chooser::choose`]'s.
    pub fn open(&mut self, plan: &Plan) -> Result<Box<dyn Backend + Send>> {
        match plan.run.backend {
            BackendChoice::Cpu => Ok(Box::new(CpuBackend::new())),
            BackendChoice::CpuFast => Ok(Box::new(CpuBackend::fast())),
            BackendChoice::Gpu => Ok(Box::new(GpuBackend::new(plan.run.adapter.as_deref())?)),
            BackendChoice::Auto => {
                let (choice, gpu) = self.choose(plan)?;
                let inner: Box<dyn Backend + Send> = match gpu {
                    Some(g) => Box::new(g),
                    None if choice.backend == "gpu" => Box::new(GpuBackend::new(plan.run.adapter.as_deref())?),
                    None => Box::new(CpuBackend::fast()),
                };
                Ok(Box::new(Chosen::new(inner, &choice)))
            }
        }
    }
}

/// The backends of a sequence of plans (a sweep's points): one per device, opened when first
/// needed and handed out again; under `auto` each plan is chosen for on its own (the best
/// device depends on its size) and the backend given carries that plan's choice.
#[derive(Default)]
pub struct Pool {
    chooser: Chooser,
    backends: Vec<(String, Box<dyn Backend + Send>)>,
}

impl Pool {
    /// The backend for `plan`.
    pub fn backend(&mut self, plan: &Plan) -> Result<&mut (dyn Backend + Send)> {
        let (key, choice) = match plan.run.backend {
            BackendChoice::Auto => {
                let (choice, gpu) = self.chooser.choose(plan)?;
                let key = format!("auto {} {:?}", choice.backend, plan.run.adapter);
                if let Some(g) = gpu {
                    self.backends.push((key.clone(), Box::new(Chosen::new(Box::new(g), &choice))));
                }
                (key, Some(choice))
            }
            other => (format!("{other:?} {:?}", plan.run.adapter), None),
        };
        let k = match self.backends.iter().position(|(k, _)| *k == key) {
            Some(k) => k,
            None => {
                let b: Box<dyn Backend + Send> = match &choice {
                    Some(c) if c.backend == "gpu" => {
                        Box::new(Chosen::new(Box::new(GpuBackend::new(plan.run.adapter.as_deref())?), c))
                    }
                    Some(c) => Box::new(Chosen::new(Box::new(CpuBackend::fast()), c)),
                    None => open(plan)?,
                };
                self.backends.push((key, b));
                self.backends.len() - 1
            }
        };
        let b = self.backends[k].1.as_mut();
        if let Some(c) = choice.and_then(|c| serde_json::to_value(c).ok()) {
            b.set_choice(c);
        }
        Ok(b)
    }
}

/// A backend that `auto` chose, carrying the choice (as run.json records it) into run.json.
pub struct Chosen {
    pub inner: Box<dyn Backend + Send>,
    pub choice: serde_json::Value,
}

impl Chosen {
    pub fn new(inner: Box<dyn Backend + Send>, choice: &Choice) -> Self {
        Chosen { inner, choice: serde_json::to_value(choice).unwrap_or_default() }
    }
}

impl Backend for Chosen {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn adapter(&self) -> String {
        self.inner.adapter()
    }
    fn max_chunk(&self, plan: &Plan) -> u64 {
        self.inner.max_chunk(plan)
    }
    fn check(&self, plan: &Plan) -> Result<()> {
        self.inner.check(plan)
    }
    fn prepare(&mut self, plan: &Plan) -> Result<()> {
        self.inner.prepare(plan)
    }
    fn run_chunk(
        &mut self,
        plan: &Plan,
        chunk: crate::backend::Chunk,
        start: Option<&crate::backend::ChunkState>,
        stop: u32,
        results: &mut crate::backend::ChunkResults,
        progress: &mut dyn crate::backend::Progress,
    ) -> Result<u32> {
        self.inner.run_chunk(plan, chunk, start, stop, results, progress)
    }
    fn suspend(&mut self, plan: &Plan, chunk: crate::backend::Chunk) -> Result<crate::backend::ChunkState> {
        self.inner.suspend(plan, chunk)
    }
    fn states_of(&self, plan: &Plan, state: &crate::backend::ChunkState, count: u64) -> Vec<f32> {
        self.inner.states_of(plan, state, count)
    }
    fn time_kernels(&mut self) {
        self.inner.time_kernels()
    }
    fn kernel_seconds(&mut self) -> Option<f64> {
        self.inner.kernel_seconds()
    }
    fn kernel_builds(&self) -> Vec<crate::backend::KernelBuild> {
        self.inner.kernel_builds()
    }
    fn choice(&self) -> Option<serde_json::Value> {
        Some(self.choice.clone())
    }
    fn set_choice(&mut self, choice: serde_json::Value) {
        self.choice = choice;
    }
}
