//! The WGSL sources and the header that specialises them to a model family.
//!
//! A kernel module is compiled once per *family* ([`KernelConsts::family`]): the model
//! (classic, IDP, modern and its layer switches), which observers exist, the noise (none,
//! Gaussian, two-point), the work layout, N's *size class* ([`n_class`]) and the *capacity* of
//! the memory arrays ([`p_capacity`]). What WGSL needs at compile time (N up to 64, array
//! capacities, the trip counts of unrolled loops, the layout) is written into the header as
//! `const`s; the family's structural switches are pipeline-overridable constants (`override`).
//! Everything else — N beyond 64, P itself and every parameter value (slope, dt, initial state,
//! windows, thresholds, histogram ranges, the modern layers' rates, …) — is a run-time value in
//! the `Values` uniform ([`super::layout::Values`], filled by [`values`]), so the points of a
//! sweep over N, P or a parameter share their module and pipelines.

use crate::plan::{Coupling, HistogramPlan, InitialPlan, Plan, PsiY, SaveLayout};
use crate::spec::model::ACT_CLAMP;

/// Every file in `shaders/`, in the order they are concatenated after the header. Each is named
/// like its CPU twin: `input` ↔ `model::input`, `drift` ↔ `model::drift`, `modern` ↔
/// `model::modern`, `observe` and `step` ↔ `cpu::Trajectory` (and `stats`), `init` ↔ `cpu::initial_state`,
/// `reduce` ↔ `stats::block_partials`, `rng` ↔ `rng`.
pub const SHADERS: &[(&str, &str)] = &[
    ("params.wgsl", include_str!("../../shaders/params.wgsl")),
    ("rng.wgsl", include_str!("../../shaders/rng.wgsl")),
    ("input.wgsl", include_str!("../../shaders/input.wgsl")),
    ("drift.wgsl", include_str!("../../shaders/drift.wgsl")),
    ("modern.wgsl", include_str!("../../shaders/modern.wgsl")),
    ("observe.wgsl", include_str!("../../shaders/observe.wgsl")),
    ("step.wgsl", include_str!("../../shaders/step.wgsl")),
    ("tile.wgsl", include_str!("../../shaders/tile.wgsl")),
    ("init.wgsl", include_str!("../../shaders/init.wgsl")),
    ("reduce.wgsl", include_str!("../../shaders/reduce.wgsl")),
];

/// Kernels outside the run module (checks used by tests).
pub const CHECK_SHADERS: &[(&str, &str)] = &[("rng_check.wgsl", include_str!("../../shaders/rng_check.wgsl"))];

/// The `mulhi` the header defines: a native 64-bit product, or the 16-bit split.
pub fn mulhi_source(int64: bool) -> &'static str {
    if int64 {
        "fn mulhi(a: u32, b: u32) -> u32 {\n    return u32((u64(a) * u64(b)) >> 32u);\n}\n"
    } else {
        "fn mulhi(a: u32, b: u32) -> u32 {\n    return mulhi_split(a, b);\n}\n"
    }
}

/// Entry points of the assembled module.
pub const ENTRY_INIT: &str = "init_state";
pub const ENTRY_STEP_THREAD: &str = "step_thread";
pub const ENTRY_STEP_GROUP: &str = "step_group";
pub const ENTRY_STEP_TILE: &str = "step_tile";
pub const ENTRY_REDUCE: &str = "reduce_saves";

/// Largest number of neuron blocks the thread layout keeps in a private array for a whole
/// dispatch (beyond it the state is read from and written to memory every step): 64 on GPUs
/// (private memory is registers there), 256 on CPU devices such as lavapipe (private arrays
/// live on the stack, and the state's round trip through the storage buffer is a per-lane
/// gather and scatter; N = 1024 runs 17 % faster from the array).
pub const REG_BLOCKS: u32 = 64;
pub const REG_BLOCKS_CPU: u32 = 256;

fn reg_blocks(cpu_device: bool) -> u32 {
    if cpu_device { REG_BLOCKS_CPU } else { REG_BLOCKS }
}

/// Loops over at most this many neuron blocks have a constant trip count (the driver may
/// unroll them); longer ones read it at run time, which keeps kernel builds fast for large N.
pub const UNROLL_BLOCKS: u32 = 16;

/// Invocations per workgroup in the thread layout (and the init and reduce kernels).
pub const WG_THREAD: u32 = 64;

/// Invocations per workgroup of the thread layout's step kernel on a CPU device (lavapipe).
/// llvmpipe runs each workgroup on one of its threads, one SIMD group of 8 lanes after
/// another, so workgroups of 64 left a core idle for ensembles up to 64 trajectories: case
/// (d) at 64 trajectories (`bench --scale-down 8`) ran 2.03e7 neuron-steps/s with 16 against
/// 1.25e7 with 64 (7.6 s against 12.1 s of wall time); cases a–e at full size were the same
/// within this machine's noise (2-core development machine, 2026-12-06).
pub const WG_STEP_CPU: u32 = 16;

/// Invocations per workgroup of the thread layout's step kernel on `cpu_device` or not.
pub fn wg_step(cpu_device: bool) -> u32 {
    if cpu_device { WG_STEP_CPU } else { WG_THREAD }
}

/// How the step kernel spreads a chunk's trajectories over invocations (`run.layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One invocation per trajectory (`step_thread`): what CPU devices run, and GPUs for small N.
    Thread,
    /// One workgroup per trajectory (`step_group`), its invocations sharing the neuron blocks:
    /// what GPUs run for N ≥ 256.
    Group,
    /// One workgroup per tile of [`tile_trajectories`] trajectories (`step_tile` in
    /// `shaders/tile.wgsl`): each step's fields and overlaps are two matrix products over the
    /// tile, (c ∘ …)·Ξᵀ and Ψ·Ξ/N, with the tile's coefficients and overlaps in workgroup memory
    /// and each memory's signs decoded once for the whole tile. Only when `run.layout` asks for
    /// it (see `DeviceFacts::layout`).
    Tile,
}

impl Layout {
    /// Its name in `run.layout`, messages and run.json.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Thread => "thread",
            Layout::Group => "group",
            Layout::Tile => "tile",
        }
    }

    /// One workgroup per trajectory, the state stored trajectory by trajectory
    /// (`state[t * NBS + b]`); the thread and tile layouts store it block by block
    /// (`state[b * traj_count + t]`).
    pub fn group(self) -> bool {
        self == Layout::Group
    }
}

/// Invocations per workgroup of the tile layout.
pub const WG_TILE: u32 = 64;

/// Workgroup memory the tile layout's arrays may take: the 16 KiB every device has.
const TILE_SHARED_BYTES: u32 = 16384 - 256;

/// Trajectories per workgroup of the tile layout for a capacity of `pc` memories: at most 8,
/// and as many as the tile's coefficients and overlaps (2 · tile · PC floats) fit in
/// [`TILE_SHARED_BYTES`] (7 for P ≤ 256, 3 for P ≤ 512).
pub fn tile_trajectories(pc: u32) -> u32 {
    (TILE_SHARED_BYTES / (8 * pc.max(1) + 4)).clamp(1, 8)
}

/// Trajectories each workgroup of the step kernel advances in `layout`.
pub fn trajectories_per_group(layout: Layout, pc: u32, cpu_device: bool) -> u32 {
    match layout {
        Layout::Thread => wg_step(cpu_device),
        Layout::Group => 1,
        Layout::Tile => tile_trajectories(pc),
    }
}

/// Workgroup size of the group layout for P memories (of capacity [`p_capacity`]): 64, or fewer
/// so that WG·PC floats of partial sums fit the 16 KiB of workgroup memory every device has.
pub fn wg_group(p: usize) -> u32 {
    let pc = p_capacity(p as u32) as usize;
    let mut wg = 64u32;
    while wg > 1 && (wg as usize * pc + pc) * 4 > 16384 - 256 {
        wg /= 2;
    }
    wg
}

/// The N a family is compiled for: N itself when its neuron blocks fit [`UNROLL_BLOCKS`] (loops
/// over them unrolled, N and 1/N constants); beyond, a size class: the neuron blocks rounded up
/// to a power of two (N up to 128, 256, 512, 1024, …), less one neuron when N is not a multiple
/// of 4 (whether the last block has padding lanes is structural). In a size class N, 1/N and the
/// neuron blocks are run-time values (`Values::n`, `Values::inv_n`, `Params::neuron_blocks`) and
/// the class only sizes the private state arrays and the memories' uniform table; every choice
/// that depends on N (state in registers, the Ψ cache, the two-point noise layout) depends on
/// the blocks' next power of two alone, so a size class makes the same choices as each of its
/// N. A sweep over N = 100 … 1000 builds 4 families per model instead of 10.
pub fn n_class(n: u32) -> u32 {
    let nb = n.div_ceil(4).max(1);
    if nb <= UNROLL_BLOCKS { n } else { 4 * nb.next_power_of_two() - u32::from(!n.is_multiple_of(4)) }
}

/// Up to this P the kernels are compiled for the plan's exact P: the builds take seconds, and
/// padding would cost a large share of a small P's work (cases a and c, P = 10).
pub const EXACT_P_MAX: u32 = 16;
/// Capacities up to [`UNROLL_MAX`] are multiples of this (memory loops unrolled completely).
pub const P_STEP_UNROLLED: u32 = 32;
/// Capacities beyond [`UNROLL_MAX`] are multiples of this: memory loops there run over tiles
/// of [`LOOP_TILE`] with a run-time tile count, so padding costs at most one tile's work.
pub const P_STEP_TILED: u32 = 128;

/// The compile-time capacity of the memory arrays for P memories: P itself up to
/// [`EXACT_P_MAX`], then the next multiple of 32 up to 128 (loops unrolled to the capacity: the
/// padded memories' work is done and discarded), then the next multiple of 128 (tiled loops
/// stop at P rounded up to 16). Every P from 17 to 512 falls in one of 7 capacities; the
/// `capacity` preset's 12 loads (P = 20 … 250) in 5: 32, 64, 96, 128, 256.
pub fn p_capacity(p: u32) -> u32 {
    let p = p.max(1);
    if p <= EXACT_P_MAX {
        p
    } else if p <= UNROLL_MAX {
        p.next_multiple_of(P_STEP_UNROLLED)
    } else {
        p.next_multiple_of(P_STEP_TILED)
    }
}

/// What a plan's kernels are built for and run with: the family's structure, and the plan's
/// sizes and values (see [`KernelConsts::family`] for which is which).
#[derive(Debug, Clone, PartialEq)]
pub struct KernelConsts {
    pub n: u32,
    pub p: u32,
    pub idp: bool,
    pub zero_diag: bool,
    pub has_vector: bool,
    pub layout: Layout,
    pub slope: f32,
    pub save_every: u32,
    pub init_kind: u32,
    pub init_std: f32,
    pub init_amplitude: f32,
    pub init_jitter: f32,
    /// The cued memory, or u32::MAX for the trajectory's target.
    pub init_index: u32,
    /// The fraction of the cue's signs flipped.
    pub init_flip: f32,
    /// How the memories are stored on the device.
    pub xi_format: XiFormat,
    /// The device has 64-bit integers (Philox's 32×32→64 products use them).
    pub int64: bool,
    /// The device is a CPU (lavapipe): larger private arrays (see [`REG_BLOCKS_CPU`]).
    pub cpu_device: bool,
    /// The histogram, if any.
    pub hist: Option<HistogramPlan>,
    /// Save the energy as quantity P of each save.
    pub energy: bool,
    /// Segments in the schedule.
    pub segments: u32,
    /// Some segment draws per-trajectory random weights.
    pub random_weights: bool,
    /// The retrieval observer's window (steps), if any.
    pub retr_window: Option<u32>,
    /// First passage: (memory or NO_TARGET for the target, threshold).
    pub first_passage: Option<(u32, f32)>,
    /// The modern model's layers.
    pub modern: Option<crate::plan::ModernPlan>,
    /// dt/τ_x (dt for the other models).
    pub dt_x: f32,
    /// Ψ_x is the identity.
    pub act_identity: bool,
    /// Two-point increments of the state's noise.
    pub two_point: bool,
    /// The state has noise (σ > 0).
    pub noise: bool,
    /// The occupancy observer, if any.
    pub occupancy: Option<OccConsts>,
}

/// What the occupancy observer's kernel code needs (`occ_record` in `shaders/observe.wgsl`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OccConsts {
    pub every: u32,
    pub rows: u32,
    /// Equilibria (the outside slot follows them).
    pub equilibria: u32,
    /// The max norm (else a sum of squares).
    pub max: bool,
    pub threshold: f32,
    /// Where the equilibria's table starts in the segment coefficients ([`observer_tables`]).
    pub table: u32,
    /// Where the counts start in the histogram buffer (u32 words).
    pub hist_base: u32,
}

impl KernelConsts {
    /// The model family these constants belong to: the same constants with N replaced by its
    /// size class ([`n_class`]), P by its capacity and every run-time value (see [`values`]) set
    /// to a fixed placeholder, keeping only what changes the kernels' structure (which model,
    /// observers and noise exist, the layout, the memories' storage). Two plans whose families
    /// are equal share one module and its pipelines; [`assemble`] and [`overrides`] read the
    /// family alone.
    pub fn family(&self) -> KernelConsts {
        let hist = self.hist.as_ref().map(|h| HistogramPlan {
            of_state: h.of_state,
            dims: h.dims,
            axes: h.axes,
            bins: [1; 2],
            lo: [0.0; 2],
            scale: [1.0; 2],
            range: [[0.0, 1.0]; 2],
            from_steps: 0,
            every_steps: if h.every_steps <= 1 { 1 } else { 2 },
        });
        let modern = self.modern.map(|m| crate::plan::ModernPlan {
            tau_alpha: 0.0,
            tau_y: 0.0,
            tau_x: 0.0,
            psi_alpha_tanh: m.psi_alpha_tanh,
            psi_y: match m.psi_y {
                PsiY::Softmax { .. } => PsiY::Softmax { beta: 1.0 },
                other => other,
            },
            identity_x: m.identity_x,
            sigma_alpha: 0.0,
            sigma_y: 0.0,
            rate_alpha: if m.rate_alpha > 0.0 { 1.0 } else { 0.0 },
            rate_y: if m.rate_y > 0.0 { 1.0 } else { 0.0 },
            rate_x: 0.0,
            noise_alpha: 0.0,
            noise_y: 0.0,
        });
        KernelConsts {
            n: n_class(self.n),
            p: p_capacity(self.p),
            slope: 0.0,
            save_every: 1,
            init_std: 0.0,
            init_amplitude: 0.0,
            init_jitter: 0.0,
            init_index: 0,
            init_flip: 0.0,
            hist,
            segments: 0,
            retr_window: self.retr_window.map(|_| 0),
            first_passage: self.first_passage.map(|_| (0, 0.0)),
            modern,
            dt_x: 0.0,
            occupancy: self.occupancy.map(|o| OccConsts {
                every: 1,
                rows: 0,
                equilibria: 0,
                max: o.max,
                threshold: 0.0,
                table: 0,
                hist_base: 0,
            }),
            ..self.clone()
        }
    }

    pub fn from_plan(plan: &Plan, layout: Layout) -> Self {
        let (init_kind, init_std, init_amplitude, init_jitter, init_index, init_flip) = match &plan.ensemble.initial {
            InitialPlan::Normal { std } => (0, *std, 0.0, 0.0, 0, 0.0),
            InitialPlan::Point { .. } => (1, 0.0, 0.0, 0.0, 0, 0.0),
            InitialPlan::Memory { index, amplitude, jitter, flip } => {
                (2, 0.0, *amplitude, *jitter, index.map_or(u32::MAX, |i| i as u32), *flip)
            }
        };
        KernelConsts {
            n: plan.n() as u32,
            p: plan.p() as u32,
            idp: plan.model.coupling() == Coupling::Saliency,
            zero_diag: plan.model.zero_diagonal(),
            has_vector: plan.has_vector_input(),
            layout,
            slope: plan.model.slope,
            save_every: plan.observe.save_every,
            init_kind,
            init_std,
            init_amplitude,
            init_jitter,
            init_index,
            init_flip,
            xi_format: XiFormat::BitsStorage,
            int64: false,
            cpu_device: false,
            hist: plan.observe.histogram.clone(),
            energy: plan.observe.energy,
            segments: plan.input.segments.len() as u32,
            random_weights: plan.has_random_weights(),
            retr_window: plan.observe.retrieval.map(|r| r.window_steps),
            first_passage: plan.observe.first_passage.map(|f| (f.memory.unwrap_or(u32::MAX), f.threshold)),
            modern: plan.model.modern().copied(),
            dt_x: plan.dt_x(),
            act_identity: plan.model.identity_activation(),
            two_point: plan.noise.two_point,
            noise: plan.noise.sigma > 0.0,
            occupancy: plan.observe.occupancy.as_ref().map(|o| OccConsts {
                every: o.every_steps,
                rows: o.rows,
                equilibria: o.equilibria.len() as u32,
                max: o.norm == crate::plan::OccupancyNorm::Max,
                threshold: o.threshold,
                table: observer_tables_base(plan) as u32,
                hist_base: (hist_words(plan)) as u32,
            }),
        }
    }
}

/// An f32 as a WGSL literal that parses back to exactly the same value.
fn lit(v: f32) -> String {
    // Every f32 is exactly an f64; printing that f64 round-trips it exactly.
    let s = format!("{:e}", v as f64);
    format!("f32({s})")
}

/// Whether the thread layout keeps the state of N neurons in a private array, with memory
/// loops of capacity `pc`: up to [`reg_blocks`] neuron blocks, and only while those loops are
/// unrolled (`pc` ≤ [`UNROLL_MAX`]). Beyond, where the memory loops index at run time, the
/// array made builds long and nothing faster: on lavapipe case (d)'s family (N ≤ 1024,
/// capacity 256) built in 44 s with it and 13 s without, and ran 3.50e6 against 3.54e6
/// neuron-steps/s (one run each, 2026-12-06).
pub fn state_in_regs(layout: Layout, n: u32, pc: u32, cpu_device: bool) -> bool {
    layout == Layout::Thread && n.div_ceil(4) <= reg_blocks(cpu_device) && pc <= UNROLL_MAX
}

/// [`state_in_regs`] for a family.
pub fn x_in_regs(k: &KernelConsts) -> bool {
    state_in_regs(k.layout, k.n, p_capacity(k.p), k.cpu_device)
}

/// Whether the thread layout keeps Ψ(x) of the state in the state buffer between steps (the
/// zeroed diagonal's term needs Ψ of the state before the step, which the previous step
/// computed for the overlaps; on CPU devices a tanh costs more than the load and store), and
/// always for the memory-major step ([`memory_major`]), whose overlaps' passes read it. Only
/// when the state is not in registers (where Ψ stays in registers too).
pub fn psi_cache(layout: Layout, n: u32, pc: u32, zero_diag: bool, cpu_device: bool) -> bool {
    match layout {
        Layout::Thread => {
            !state_in_regs(layout, n, pc, cpu_device) && (zero_diag || memory_major(layout, pc, cpu_device))
        }
        Layout::Group => false,
        Layout::Tile => true,
    }
}

/// Memories per tile of the memory-major step ([`memory_major`]). Case (d) on lavapipe
/// (`--scale-down 8`, 2026-12-06, 2 runs each in turn): tiles of 32 ran 1.07–1.08e7
/// neuron-steps/s and built in 14–17 s; of 64 1.23–1.26e7, 18 s; of 128 1.42e7, 27 s (and a
/// plan with P just above a multiple of the tile computes up to a tile of padded memories).
pub const MEM_TILE: u32 = 64;
// A tile is whole vec4s of the memories' bits, and the tiled capacities hold whole tiles.
const _: () = assert!(MEM_TILE.is_multiple_of(32) && P_STEP_TILED.is_multiple_of(MEM_TILE));

/// Whether the thread layout's step takes the memories tile by tile (`field_tiles` and
/// `overlap_tiles` in `shaders/step.wgsl`): on CPU devices, where the memory loops index at run
/// time (capacity above [`UNROLL_MAX`]). Each tile of [`MEM_TILE`] memories keeps its
/// coefficients or its sums in registers over a pass through the neuron blocks, and the field
/// of every block waits in the state buffer (block NBS + NB + b) between the passes. Case (d)
/// on lavapipe ran 1.03–1.08e7 neuron-steps/s with tiles of 32 against 3.32–3.39e6 with the
/// block-major loops (`--scale-down 8`, 2 runs each in turn, 2026-12-06), and case (e) (IDP),
/// whose dispatches now fit the thread layout's loop budget, 8.2–9.0e6 against 1.9–2.0e6 in
/// the group layout.
pub fn memory_major(layout: Layout, pc: u32, cpu_device: bool) -> bool {
    // Beyond UNROLL_MAX the state is never in registers (`state_in_regs`).
    layout == Layout::Thread && cpu_device && pc > UNROLL_MAX
}

/// Whether one Philox block of the dynamics' noise serves whole steps (`step_noise` in
/// `shaders/drift.wgsl`): Gaussian noise with N ≤ 2, two-point increments with at most 32
/// neuron blocks (`rng::gauss_steps`, `rng::two_point_layout`).
pub fn step_noise(k: &KernelConsts) -> bool {
    let nb = k.n.div_ceil(4) as usize;
    if k.two_point { crate::rng::two_point_layout(nb).1 <= 32 } else { crate::rng::gauss_steps(k.n as usize) > 1 }
}

/// Neuron blocks per group of the thread layout's block loop: 32 (one Philox block of
/// two-point bits each) with two-point increments beyond 32 neuron blocks, else all of them.
pub fn noise_blocks(k: &KernelConsts) -> u32 {
    if k.two_point && !step_noise(k) { 32 } else { k.n.div_ceil(4).max(1) }
}

/// 16-byte blocks per trajectory of the device state buffer: the plan's state, and the Ψ cache
/// (see [`psi_cache`]) after it.
pub fn device_state_blocks(plan: &crate::plan::Plan, layout: Layout, cpu_device: bool) -> usize {
    let pc = p_capacity(plan.p() as u32);
    let cache = psi_cache(layout, plan.n() as u32, pc, plan.model.zero_diagonal(), cpu_device);
    let field = memory_major(layout, pc, cpu_device);
    plan.state_blocks() + [cache, field].iter().filter(|&&on| on).count() * plan.neuron_blocks()
}

/// Device storage of the memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XiFormat {
    /// Bit-packed in a uniform buffer.
    BitsUniform,
    /// Bit-packed in a storage buffer (any size).
    BitsStorage,
}

const XI_BITS_ACCESSOR: &str = "
// Bit-packed: block b owns VB vec4<u32>; memory mu's four signs are the nibble at bit
// (mu % 8) * 4 of word (mu % 32) / 8 of vec4 b * VB + mu / 32; a set bit means ξ = −1.
fn xi_block(b: u32, mu: u32) -> vec4<f32> {
    return xi_nibble(xi_bits[b * VB + mu / 32u], mu % 32u);
}

// Memory k of a vec4 of 32 memories' signs (`xi_bits[b * VB + tile]`) on its neuron block.
fn xi_nibble(ws: vec4<u32>, k: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(0x3f800000u) ^ xi_sign(ws, k));
}

// The same signs as sign bits (bit 31 set where ξ = −1): one shift and one mask per neuron.
fn xi_sign(ws: vec4<u32>, k: u32) -> vec4<u32> {
    let s = 31u - (k % 8u) * 4u;
    return (vec4<u32>(ws[k / 8u]) << (vec4<u32>(s) - vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(0x80000000u);
}

// v ∘ ξ for ξ as sign bits: exactly the product by ±1, as an XOR of the sign bits.
fn flip4(v: vec4<f32>, sign: vec4<u32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) ^ sign);
}
";

/// vec4<u32> per neuron block in the bit-packed memories (4 bits per memory).
pub fn xi_vec4_per_block(p: usize) -> usize {
    p.div_ceil(32)
}

/// Bytes of the bit-packed memories.
pub fn xi_bytes(n: usize, p: usize) -> u64 {
    (n.div_ceil(4) * xi_vec4_per_block(p) * 16) as u64
}

/// Bit-packs memories for the kernels (see `shaders/params.wgsl`): a set bit means ξ = −1.
/// `capacity` is the family's ([`p_capacity`]): memories beyond P are all +1 (no bit set).
pub fn pack_memories(mem: &crate::plan::Memories, capacity: usize) -> Vec<u32> {
    let (n, p) = (mem.n, mem.p);
    let vb = xi_vec4_per_block(capacity.max(p));
    let mut words = vec![0u32; n.div_ceil(4) * vb * 4];
    for i in 0..n {
        let (b, l) = (i / 4, i % 4);
        for mu in 0..p {
            if mem.get(i, mu) < 0.0 {
                let word = (b * vb + mu / 32) * 4 + (mu % 32) / 8;
                words[word] |= 1 << ((mu % 8) * 4 + l);
            }
        }
    }
    words
}

/// A scalar of the header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    U32(u32),
    F32(f32),
    Bool(bool),
}

impl Scalar {
    fn wgsl_type(self) -> &'static str {
        match self {
            Scalar::U32(_) => "u32",
            Scalar::F32(_) => "f32",
            Scalar::Bool(_) => "bool",
        }
    }

    fn literal(self) -> String {
        match self {
            Scalar::U32(v) => format!("{v}u"),
            Scalar::F32(v) => lit(v),
            Scalar::Bool(v) => v.to_string(),
        }
    }

    /// The value as a pipeline-overridable constant takes it (exact for every u32 and f32).
    fn as_f64(self) -> f64 {
        match self {
            Scalar::U32(v) => v as f64,
            Scalar::F32(v) => v as f64,
            Scalar::Bool(v) => v as u32 as f64,
        }
    }
}

/// The layout of one save as the kernels index it (the same type the host uses).
pub fn save_layout(k: &KernelConsts) -> SaveLayout {
    SaveLayout { p: k.p as usize, energy: k.energy, layers: k.modern.is_some() }
}

/// What WGSL must know when it compiles a module: N, the capacity of the memory arrays, trip
/// counts of unrolled loops, the work layout and its derived switches, and mathematical
/// constants. These are `const` declarations; `k` is a family ([`KernelConsts::family`]).
fn sizes(k: &KernelConsts) -> Vec<(&'static str, Scalar)> {
    use Scalar::*;
    let nb = k.n.div_ceil(4);
    let exact = nb <= UNROLL_BLOCKS;
    let (tp_steps, tp_nbp) = crate::rng::two_point_layout(nb as usize);
    vec![
        // In a size class ([`n_class`]) N and 1/N are run-time values (`n_neurons`, `inv_n`),
        // and these constants are 0; NB is the class's capacity of neuron blocks.
        ("N", U32(if exact { k.n } else { 0 })),
        ("NB", U32(nb)),
        ("N_ALIGNED", Bool(k.n.is_multiple_of(4))),
        ("PC", U32(k.p)),
        ("PBC", U32(k.p.div_ceil(4))),
        ("INV_N", F32(if exact { 1.0 / k.n as f32 } else { 0.0 })),
        ("LAYOUT_GROUP", Bool(k.layout.group())),
        ("TILED", Bool(k.layout == Layout::Tile)),
        ("TT", U32(tile_trajectories(k.p))),
        ("MPI", U32(k.p.div_ceil(WG_TILE))),
        ("WG_TILE", U32(WG_TILE)),
        ("X_IN_REGS", Bool(x_in_regs(k))),
        ("PSI_CACHE", Bool(psi_cache(k.layout, k.n, p_capacity(k.p), k.zero_diag, k.cpu_device))),
        ("NB_UNROLL", Bool(exact)),
        ("MEM_MAJOR", Bool(memory_major(k.layout, p_capacity(k.p), k.cpu_device))),
        ("MEM_TILE", U32(MEM_TILE)),
        // A block's memories decoded once into an array while the memory loops are unrolled.
        ("XS_ARRAY", Bool(k.p <= UNROLL_MAX)),
        ("NBR", U32(if x_in_regs(k) { nb } else { 1 })),
        ("WG", U32(wg_step(k.cpu_device))),
        ("WG_GROUP", U32(wg_group(k.p as usize))),
        ("VB", U32(xi_vec4_per_block(k.p as usize) as u32)),
        ("TP_STEPS", U32(tp_steps)),
        ("TP_NBP", U32(tp_nbp)),
        ("STEP_NOISE", Bool(step_noise(k))),
        ("NOISE_BLOCKS", U32(noise_blocks(k))),
        ("NOISE_STEPS", U32(if k.two_point { tp_steps } else { crate::rng::gauss_steps(k.n as usize) })),
        ("ACT_CLAMP", F32(ACT_CLAMP)),
        ("LN_2", F32(std::f32::consts::LN_2)),
    ]
}

/// The family's structural switches: pipeline-overridable constants (WGSL `override`), given
/// their values when the pipelines are created. The driver specialises the module to them just
/// as it would to `const`s (wgpu substitutes them before the backend compiler sees the
/// module), so branches on them cost nothing at run time. `k` is a family.
fn switches(k: &KernelConsts) -> Vec<(&'static str, Scalar)> {
    use Scalar::*;
    let mut v = vec![
        ("IDP", Bool(k.idp)),
        ("ZERO_DIAG", Bool(k.zero_diag)),
        ("HAS_VECTOR", Bool(k.has_vector)),
        ("INIT_KIND", U32(k.init_kind)),
        ("ENERGY", Bool(k.energy)),
        ("RANDOM_WEIGHTS", Bool(k.random_weights)),
        ("RETR", Bool(k.retr_window.is_some())),
        ("FP", Bool(k.first_passage.is_some())),
        ("ACT_IDENTITY", Bool(k.act_identity)),
        ("TWO_POINT", Bool(k.two_point)),
        ("NOISE", Bool(k.noise)),
    ];
    v.extend(hist_switches(k.hist.as_ref()));
    v.extend(occ_switches(k.occupancy));
    v.extend(modern_switches(k));
    v
}

/// The pipeline-overridable constants of a plan's module (its family's), as wgpu takes them.
pub fn overrides(k: &KernelConsts) -> Vec<(&'static str, f64)> {
    switches(&k.family()).into_iter().map(|(name, v)| (name, v.as_f64())).collect()
}

/// The plan's sizes and parameter values as the kernels read them at run time (the `Values`
/// uniform): everything [`KernelConsts::family`] leaves out.
pub fn values(k: &KernelConsts) -> super::layout::Values {
    let saves = save_layout(k);
    let (nb, pb) = (k.n.div_ceil(4), k.p.div_ceil(4));
    super::layout::Values {
        p: k.p,
        q: saves.q() as u32,
        q_y: saves.y_first() as u32,
        pb,
        nbs: nb + if k.modern.is_some() { 2 * pb } else { 0 },
        p_tiles: k.p.next_multiple_of(LOOP_TILE),
        save_every: k.save_every.max(1),
        segments: k.segments,
        gram_base: k.segments * k.p,
        rw_base: k.segments * k.p + k.p * k.p,
        init_index: k.init_index,
        init_std: k.init_std,
        init_amplitude: k.init_amplitude,
        init_jitter: k.init_jitter,
        init_flip: k.init_flip,
        slope: k.slope,
        dt_x: k.dt_x,
        n: k.n,
        inv_n: 1.0 / k.n as f32,
        pad: 0,
        model: slots(&model_values(k)),
        observers: slots(&observer_values(k)),
    }
}

/// The model's own run-time values (`Values::model`), by name: for the modern model
/// (`modern.wgsl`) the layers' rates dt/τ_α, dt/τ_y, their noises σ√dt and the softmax's β (1
/// for the other models, whose kernels never read these). The same names in the same order for
/// every plan: the order gives each its slot, and the header declares `val_NAME()` for each.
pub fn model_values(k: &KernelConsts) -> Vec<(&'static str, Scalar)> {
    use Scalar::F32;
    let (rates, beta) = match &k.modern {
        Some(m) => {
            let beta = if let PsiY::Softmax { beta } = m.psi_y { beta } else { 1.0 };
            ([m.rate_alpha, m.rate_y, m.noise_alpha, m.noise_y], beta)
        }
        None => ([0.0; 4], 1.0),
    };
    vec![
        ("modern_rate_a", F32(rates[0])),
        ("modern_rate_y", F32(rates[1])),
        ("modern_noise_a", F32(rates[2])),
        ("modern_noise_y", F32(rates[3])),
        ("modern_beta", F32(beta)),
    ]
}

/// The observers' run-time values (`Values::observers`), by name, like [`model_values`]: the
/// retrieval window (steps); first passage's memory (or NO_TARGET for the target) and
/// threshold; the histogram's bins, ranges (lo, bins per unit), sampling and counter copies;
/// occupancy's interval, rows of counts over its equilibria and the outside slot, the score
/// within which a state counts, where the equilibria's table starts in seg_coef and where the
/// counts start in the histogram buffer ([`OccConsts`]).
pub fn observer_values(k: &KernelConsts) -> Vec<(&'static str, Scalar)> {
    use Scalar::{F32, U32};
    let d = default_hist();
    let h = k.hist.as_ref().unwrap_or(&d);
    let fp = k.first_passage;
    let occ = k.occupancy.unwrap_or(OccConsts {
        every: 1,
        rows: 0,
        equilibria: 0,
        max: false,
        threshold: 0.0,
        table: 0,
        hist_base: 0,
    });
    vec![
        ("retr_window", U32(k.retr_window.unwrap_or(1))),
        ("fp_memory", U32(fp.map_or(u32::MAX, |f| f.0))),
        ("fp_threshold", F32(fp.map_or(1.0, |f| f.1))),
        ("hist_b0", U32(h.bins[0])),
        ("hist_b1", U32(h.bins[1])),
        ("hist_lo0", F32(h.lo[0])),
        ("hist_lo1", F32(h.lo[1])),
        ("hist_sc0", F32(h.scale[0])),
        ("hist_sc1", F32(h.scale[1])),
        ("hist_from", U32(h.from_steps)),
        ("hist_every", U32(h.every_steps.max(1))),
        ("hist_cells", U32(h.cells() as u32)),
        ("hist_replicas", U32(hist_replicas(h))),
        ("occ_every", U32(occ.every.max(1))),
        ("occ_rows", U32(occ.rows)),
        ("occ_e", U32(occ.equilibria)),
        ("occ_threshold", F32(occ.threshold)),
        ("occ_table", U32(occ.table)),
        ("occ_hist_base", U32(occ.hist_base)),
    ]
}

/// Named values in slots of four u32 words (an f32 as its bits, a bool as 0 or 1), in order.
fn slots<const V: usize>(values: &[(&str, Scalar)]) -> [[u32; 4]; V] {
    assert!(values.len() <= 4 * V, "{} values for {} slots", values.len(), 4 * V);
    let mut out = [[0u32; 4]; V];
    for (i, (_, v)) in values.iter().enumerate() {
        out[i / 4][i % 4] = match *v {
            Scalar::U32(u) => u,
            Scalar::F32(f) => f.to_bits(),
            Scalar::Bool(b) => b as u32,
        };
    }
    out
}

/// The accessors of values kept in slots: `fn val_NAME() -> T` reading member `member` of
/// `vals` at the slot [`slots`] gives it.
fn slot_accessors(member: &str, values: &[(&str, Scalar)]) -> String {
    let mut out = String::new();
    for (i, (name, v)) in values.iter().enumerate() {
        let word = format!("vals.{member}[{}u].{}", i / 4, ["x", "y", "z", "w"][i % 4]);
        let value = match v {
            Scalar::U32(_) => word,
            Scalar::F32(_) => format!("bitcast<f32>({word})"),
            Scalar::Bool(_) => format!("{word} != 0u"),
        };
        out.push_str(&format!("fn val_{name}() -> {} {{\n    return {value};\n}}\n", v.wgsl_type()));
    }
    out
}

/// The constants header of a plan's family.
pub fn header(k: &KernelConsts) -> String {
    let k = &k.family();
    let mut out = String::from("// Generated by idpsim for one model family.\n");
    out.push_str(&super::layout::wgsl());
    out.push_str(&slot_accessors("model", &model_values(k)));
    out.push_str(&slot_accessors("observers", &observer_values(k)));
    for (name, v) in sizes(k) {
        out.push_str(&format!("const {name}: {} = {};\n", v.wgsl_type(), v.literal()));
    }
    for (name, v) in switches(k) {
        out.push_str(&format!("override {name}: {};\n", v.wgsl_type()));
    }
    out.push_str(&match k.xi_format {
        XiFormat::BitsUniform => format!(
            "@group(0) @binding(1) var<uniform> xi_bits: array<vec4<u32>, {}>;{XI_BITS_ACCESSOR}",
            xi_bytes(k.n as usize, k.p as usize) / 16
        ),
        XiFormat::BitsStorage => {
            format!("@group(0) @binding(1) var<storage, read> xi_bits: array<vec4<u32>>;{XI_BITS_ACCESSOR}")
        }
    });
    out.push('\n');
    out.push_str(mulhi_source(k.int64));
    out
}

/// The modern model's switches (MODERN = false and placeholders for the other models).
fn modern_switches(k: &KernelConsts) -> Vec<(&'static str, Scalar)> {
    use Scalar::*;
    let Some(m) = &k.modern else {
        return [("MODERN", Bool(false)), ("TAU_A_DYN", Bool(false)), ("TAU_Y_DYN", Bool(false))]
            .into_iter()
            .chain([("PSI_A_TANH", Bool(false)), ("PSI_Y", U32(0))])
            .collect();
    };
    let psi_y = match m.psi_y {
        PsiY::Identity => 0,
        PsiY::Tanh => 1,
        PsiY::Softmax { .. } => 2,
    };
    vec![
        ("MODERN", Bool(true)),
        ("TAU_A_DYN", Bool(m.rate_alpha > 0.0)),
        ("TAU_Y_DYN", Bool(m.rate_y > 0.0)),
        ("PSI_A_TANH", Bool(m.psi_alpha_tanh)),
        ("PSI_Y", U32(psi_y)),
    ]
}

/// Fixed-count loops up to this count are unrolled completely; longer ones (memory loops of
/// large P) in tiles of [`LOOP_TILE`] iterations.
pub const UNROLL_MAX: u32 = 128;
/// Iterations per pass of a tiled loop.
pub const LOOP_TILE: u32 = 16;

/// Back-edges one memory loop of a plan with `p` memories takes (0 when unrolled completely,
/// else one per tile: P rounded up to [`LOOP_TILE`], the run-time bound of tiled loops).
pub fn fixed_loop_back_edges(p: u32) -> u64 {
    if p_capacity(p) > UNROLL_MAX { p.div_ceil(LOOP_TILE) as u64 } else { 0 }
}

/// Unrolls every loop of the form `for (var i = 0u; i < BOUND; i++) { … }` whose BOUND is a
/// literal or one of `bounds`, into `{ let i = 0u; … } { let i = 1u; … } …` (nested loops
/// too). Some drivers cap the total number of loop iterations an invocation may execute
/// (llvmpipe stops every loop after 65 535 back-edges in all), so fixed-count loops must not
/// count against it; they are also faster unrolled. A loop of more than [`UNROLL_MAX`]
/// iterations keeps a loop over tiles of [`LOOP_TILE`] unrolled iterations, then the remainder
/// unrolled ([`fixed_loop_back_edges`] back-edges).
pub fn unroll_fixed_loops(src: &str, bounds: &[(&str, u32)]) -> String {
    unroll_loops(src, bounds, &[])
}

/// [`unroll_fixed_loops`], where a tiled loop whose bound is named in `runtime` runs over tiles
/// up to that run-time expression (a multiple of [`LOOP_TILE`] no larger than the bound, which
/// must itself be a multiple of [`LOOP_TILE`]) instead of the bound: the memory loops of a
/// family of large capacity stop after the plan's own P, rounded up to a tile.
pub fn unroll_loops(src: &str, bounds: &[(&str, u32)], runtime: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(pos) = rest.find("for (var ") {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let Some(head_end) = tail.find('{') else {
            out.push_str(tail);
            return out;
        };
        let head = &tail[..head_end];
        match parse_fixed_loop(head, bounds) {
            Some((var, name, count)) => {
                // Find the loop body's closing brace.
                let bytes = tail.as_bytes();
                let mut depth = 0usize;
                let mut close = head_end;
                for (i, &c) in bytes.iter().enumerate().skip(head_end) {
                    if c == b'{' {
                        depth += 1;
                    } else if c == b'}' {
                        depth -= 1;
                        if depth == 0 {
                            close = i;
                            break;
                        }
                    }
                }
                let body = unroll_loops(&tail[head_end + 1..close], bounds, runtime);
                let tiled = if count > UNROLL_MAX { count / LOOP_TILE * LOOP_TILE } else { 0 };
                if tiled > 0 {
                    let bound = match runtime.iter().find(|r| r.0 == name) {
                        Some(r) if tiled == count => r.1.to_string(),
                        _ => format!("{tiled}u"),
                    };
                    out.push_str(&format!(
                        "for (var {var}_tile = 0u; {var}_tile < {bound}; {var}_tile += {LOOP_TILE}u) {{"
                    ));
                    for k in 0..LOOP_TILE {
                        out.push_str(&format!("{{ let {var} = {var}_tile + {k}u;{body}}}"));
                    }
                    out.push('}');
                }
                for k in tiled..count {
                    out.push_str(&format!("{{ let {var} = {k}u;{body}}}"));
                }
                rest = &tail[close + 1..];
            }
            None => {
                out.push_str(head);
                rest = &tail[head_end..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `for (var i = 0u; i < BOUND; i++) ` → (i, BOUND's text, its value) when BOUND is a literal or
/// known constant.
fn parse_fixed_loop<'a>(head: &'a str, bounds: &[(&str, u32)]) -> Option<(String, &'a str, u32)> {
    let inner = head.trim().strip_prefix("for (var ")?.trim_end().strip_suffix(')')?;
    let parts: Vec<&str> = inner.split(';').map(str::trim).collect();
    if parts.len() != 3 {
        return None;
    }
    let (var, init) = parts[0].split_once('=')?;
    let var = var.trim();
    if init.trim() != "0u" || parts[2] != format!("{var}++") {
        return None;
    }
    let bound = parts[1].strip_prefix(var)?.trim().strip_prefix('<')?.trim();
    let count = match bound.strip_suffix('u').and_then(|n| n.parse::<u32>().ok()) {
        Some(n) => n,
        None => bounds.iter().find(|b| b.0 == bound)?.1,
    };
    Some((var.to_string(), bound, count))
}

fn default_hist() -> HistogramPlan {
    HistogramPlan {
        of_state: false,
        dims: 1,
        axes: [0; 2],
        bins: [1; 2],
        lo: [0.0; 2],
        scale: [1.0; 2],
        range: [[0.0, 1.0]; 2],
        from_steps: 0,
        every_steps: 1,
    }
}

/// The histogram's switches (HIST = false and placeholders without one). The axes stay
/// compile-time: the thread layout reads the state's coordinates from its private array, and a
/// run-time index would move that array out of registers for every step.
fn hist_switches(h: Option<&HistogramPlan>) -> Vec<(&'static str, Scalar)> {
    use Scalar::*;
    let d = default_hist();
    let (on, h) = match h {
        Some(h) => (true, h),
        None => (false, &d),
    };
    vec![
        ("HIST", Bool(on)),
        ("HIST_STATE", Bool(h.of_state)),
        ("HIST_DIMS", U32(h.dims as u32)),
        ("HIST_A0", U32(h.axes[0])),
        ("HIST_A1", U32(if h.dims == 2 { h.axes[1] } else { h.axes[0] })),
        // Sampling every step is sampled inside the step loop, sparser sampling at its stops.
        ("HIST_EACH_STEP", Bool(h.every_steps <= 1)),
    ]
}

/// The occupancy observer's switches: whether it exists and its norm (its sizes, radius and
/// offsets are run-time values, [`values`]).
fn occ_switches(o: Option<OccConsts>) -> Vec<(&'static str, Scalar)> {
    use Scalar::*;
    vec![("OCC", Bool(o.is_some())), ("OCC_MAX", Bool(o.is_some_and(|o| o.max)))]
}

/// u32 words of the histogram's part of the histogram buffer: replicas × (cells plus the
/// out-of-range count).
pub fn hist_words(plan: &Plan) -> u64 {
    plan.observe.histogram.as_ref().map_or(0, |h| (h.cells() as u64 + 1) * hist_replicas(h) as u64)
}

/// Bytes of the counters' buffer: the histogram's counters (in replicas), then the other
/// counted observers' counts, one copy (occupancy: rows × (equilibria + 1)).
pub fn hist_bytes(plan: &Plan) -> u64 {
    let others = plan.observe.counters() - plan.observe.histogram_counters();
    (hist_words(plan) + others as u64) * 4
}

/// Where the occupancy equilibria's table starts in the segment coefficients (after the
/// segments' coefficients, and the Gram matrix and random-weight rows when there are random
/// weights).
pub fn observer_tables_base(plan: &Plan) -> usize {
    let (s, p) = (plan.input.segments.len(), plan.p());
    s * p + if plan.has_random_weights() { p * p + 8 * s } else { 0 }
}

/// The observers' tables, which follow the segment coefficients in `seg_coef` (from
/// [`observer_tables_base`]); an observer with a table appends it here and gives its offset
/// among its run-time values ([`observer_values`]). The occupancy table: per equilibrium 8
/// values, its memory (as f32), its amplitude along that memory, and its coordinates when
/// N ≤ 4 (the kernels' `occ_centre`).
pub fn observer_tables(plan: &Plan) -> Vec<f32> {
    let Some(o) = &plan.observe.occupancy else { return Vec::new() };
    let mut out = Vec::with_capacity(8 * o.equilibria.len());
    for e in &o.equilibria {
        let (mu, a) = match e.memory {
            // x = a ξ^μ exactly: every entry is ± a.
            Some((mu, _)) if !o.theory => (mu as f32, e.x[0] * plan.memories.get(0, mu as usize)),
            _ => (-1.0, 0.0),
        };
        let mut row = [mu, a, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        for (i, &x) in e.x.iter().take(4).enumerate() {
            row[2 + i] = x;
        }
        out.extend_from_slice(&row);
    }
    out
}

/// Loop back-edges the observers add to a dispatch, for llvmpipe's budget (`schedule`): at its
/// start, and per step. An occupancy count passes over every neuron block once per equilibrium
/// (one invocation does it in the group layout): at most once every `every_steps` steps, so
/// once per step's share plus once more in a dispatch.
pub fn observer_loops(plan: &Plan) -> (u64, u64) {
    let Some(o) = &plan.observe.occupancy else { return (0, 0) };
    let count = (o.equilibria.len() as u64 + 1) * (plan.neuron_blocks() as u64 + 1) + 2;
    (count, count.div_ceil(o.every_steps as u64))
}

/// Copies of the histogram counters on the device: up to 16, within 16 MiB.
pub fn hist_replicas(h: &HistogramPlan) -> u32 {
    let bytes = (h.cells() as u64 + 1) * 4;
    ((16u64 << 20) / bytes).clamp(1, 16) as u32
}

/// The whole module for a plan's family: header + every shader file.
pub fn assemble(k: &KernelConsts) -> String {
    let k = &k.family();
    // IDPSIM_SHADER_DIR: read the WGSL files from a folder at run time (kernel development).
    let dir = std::env::var_os("IDPSIM_SHADER_DIR");
    let mut src = header(k);
    for (name, text) in SHADERS {
        src.push_str(&format!("\n// ---- {name} ----\n"));
        match &dir {
            Some(d) => src.push_str(
                &std::fs::read_to_string(std::path::Path::new(d).join(name)).unwrap_or_else(|_| text.to_string()),
            ),
            None => src.push_str(text),
        }
    }
    let bounds = [
        ("PC", k.p),
        ("WG_GROUP", wg_group(k.p as usize)),
        ("PBC", k.p.div_ceil(4)),
        ("MEM_TILE", MEM_TILE),
        ("TT", tile_trajectories(k.p)),
        ("MPI", k.p.div_ceil(WG_TILE)),
    ];
    unroll_loops(&src, &bounds, &[("PC", "vals.p_tiles")])
}

/// Parses and validates WGSL with naga (no GPU needed); the error names what failed.
pub fn validate(source: &str) -> Result<wgpu::naga::Module, String> {
    validate_with(source, &[])
}

/// [`validate`], then gives the module's overrides their values and validates the result as a
/// pipeline would see it.
pub fn validate_with(source: &str, overrides: &[(&str, f64)]) -> Result<wgpu::naga::Module, String> {
    validate_with_info(source, overrides).map(|(m, _)| m)
}

/// [`validate_with`], and the validator's analysis of the specialised module (what the back ends
/// translate from).
pub fn validate_with_info(
    source: &str,
    overrides: &[(&str, f64)],
) -> Result<(wgpu::naga::Module, wgpu::naga::valid::ModuleInfo), String> {
    let (module, info) = parse_and_validate(source)?;
    if overrides.is_empty() {
        return Ok((module, info));
    }
    specialise(source, &module, &info, overrides)
}

/// Parses and validates WGSL (no overrides given yet): the module that [`specialise`] gives its
/// overrides, once per source however many specialisations it has.
pub fn parse_and_validate(source: &str) -> Result<(wgpu::naga::Module, wgpu::naga::valid::ModuleInfo), String> {
    use wgpu::naga;
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let info = validator().validate(&module).map_err(|e| e.emit_to_string(source))?;
    Ok((module, info))
}

/// A module from [`parse_and_validate`] (of `source`) with its overrides given their values,
/// validated as a pipeline would see it.
pub fn specialise(
    source: &str,
    module: &wgpu::naga::Module,
    info: &wgpu::naga::valid::ModuleInfo,
    overrides: &[(&str, f64)],
) -> Result<(wgpu::naga::Module, wgpu::naga::valid::ModuleInfo), String> {
    use wgpu::naga;
    let constants: naga::back::PipelineConstants = overrides.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let (specialised, _) = naga::back::pipeline_constants::process_overrides(module, info, None, &constants)
        .map_err(|e| format!("overrides: {e:?}"))?;
    let info = validator().validate(&specialised).map_err(|e| e.emit_to_string(source))?;
    Ok((specialised.into_owned(), info))
}

fn validator() -> wgpu::naga::valid::Validator {
    use wgpu::naga::valid;
    valid::Validator::new(valid::ValidationFlags::all(), valid::Capabilities::all())
}
