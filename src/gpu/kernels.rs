//! The WGSL sources, the constants header that specialises them to a plan, and the pipelines.
//!
//! Every kernel is compiled for one plan: N, P, the model and the integrator constants are
//! written into a header as WGSL `const`s, so loops have fixed trip counts and the driver can
//! unroll and vectorise them.

use crate::plan::model::ACT_CLAMP;
use crate::plan::{Coupling, InitialPlan, Plan};

/// Every file in `shaders/`, in the order they are concatenated after the header. Each is named
/// like its CPU twin: `input` ↔ `model::input`, `drift` ↔ `model::drift`, `modern` ↔
/// `model::modern`, `observe` and `step` ↔ `cpu::Trajectory`, `init` ↔ `cpu::initial_state`,
/// `reduce` ↔ `observe::block_partials`, `rng` ↔ `rng`.
pub const SHADERS: &[(&str, &str)] = &[
    ("params.wgsl", include_str!("../../shaders/params.wgsl")),
    ("rng.wgsl", include_str!("../../shaders/rng.wgsl")),
    ("input.wgsl", include_str!("../../shaders/input.wgsl")),
    ("drift.wgsl", include_str!("../../shaders/drift.wgsl")),
    ("modern.wgsl", include_str!("../../shaders/modern.wgsl")),
    ("observe.wgsl", include_str!("../../shaders/observe.wgsl")),
    ("step.wgsl", include_str!("../../shaders/step.wgsl")),
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
pub const ENTRY_REDUCE: &str = "reduce_saves";

/// Largest number of neuron blocks the thread layout keeps in a private array for a whole
/// dispatch (beyond it the state is read from and written to memory every step).
pub const REG_BLOCKS: u32 = 64;

/// Loops over at most this many neuron blocks have a constant trip count (the driver may
/// unroll them); longer ones read it at run time, which keeps kernel builds fast for large N.
pub const UNROLL_BLOCKS: u32 = 16;

/// Invocations per workgroup in the thread layout (and the init and reduce kernels).
pub const WG_THREAD: u32 = 64;

/// Workgroup size of the group layout: 64, or fewer so that WG·P floats of partial sums fit the
/// 16 KiB of workgroup memory every device has.
pub fn wg_group(p: usize) -> u32 {
    let mut wg = 64u32;
    while wg > 1 && (wg as usize * p + p) * 4 > 16384 - 256 {
        wg /= 2;
    }
    wg
}

/// The values a kernel is specialised to.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelConsts {
    pub n: u32,
    pub p: u32,
    pub idp: bool,
    pub zero_diag: bool,
    pub has_vector: bool,
    pub layout_group: bool,
    pub slope: f32,
    pub save_every: u32,
    pub init_kind: u32,
    pub init_std: f32,
    pub init_amplitude: f32,
    pub init_jitter: f32,
    pub init_index: u32,
    /// How the memories are stored on the device.
    pub xi_format: XiFormat,
    /// The device has 64-bit integers (Philox's 32×32→64 products use them).
    pub int64: bool,
    /// The histogram, if any.
    pub hist: Option<crate::plan::HistogramPlan>,
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
}

impl KernelConsts {
    pub fn from_plan(plan: &Plan, layout_group: bool) -> Self {
        let (init_kind, init_std, init_amplitude, init_jitter, init_index) = match &plan.ensemble.initial {
            InitialPlan::Normal { std } => (0, *std, 0.0, 0.0, 0),
            InitialPlan::Point { .. } => (1, 0.0, 0.0, 0.0, 0),
            InitialPlan::Memory { index, amplitude, jitter } => (2, 0.0, *amplitude, *jitter, *index as u32),
        };
        KernelConsts {
            n: plan.n() as u32,
            p: plan.p() as u32,
            idp: plan.model.coupling() == Coupling::Saliency,
            zero_diag: plan.model.zero_diagonal(),
            has_vector: plan.has_vector_input(),
            layout_group,
            slope: plan.model.slope,
            save_every: plan.observe.save_every,
            init_kind,
            init_std,
            init_amplitude,
            init_jitter,
            init_index,
            xi_format: XiFormat::BitsStorage,
            int64: false,
            hist: plan.observe.histogram.clone(),
            energy: plan.observe.energy,
            segments: plan.input.segments.len() as u32,
            random_weights: plan.has_random_weights(),
            retr_window: plan.observe.retrieval.map(|r| r.window_steps),
            first_passage: plan.observe.first_passage.map(|f| (f.memory.unwrap_or(u32::MAX), f.threshold)),
            modern: plan.model.modern().copied(),
            dt_x: plan.dt_x(),
            act_identity: plan.model.identity_activation(),
        }
    }
}

/// An f32 as a WGSL literal that parses back to exactly the same value.
fn lit(v: f32) -> String {
    // Every f32 is exactly an f64; printing that f64 round-trips it exactly.
    let s = format!("{:e}", v as f64);
    format!("f32({s})")
}

/// Whether the thread layout keeps the state in a private array.
pub fn x_in_regs(k: &KernelConsts) -> bool {
    !k.layout_group && k.n.div_ceil(4) <= REG_BLOCKS
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
    let w = xi_bits[b * VB + mu / 32u][(mu % 32u) / 8u];
    let nib = (w >> ((mu % 8u) * 4u)) & 0xfu;
    let sign = ((vec4<u32>(nib) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(31u);
    return bitcast<vec4<f32>>(vec4<u32>(0x3f800000u) ^ sign);
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
pub fn pack_memories(mem: &crate::plan::Memories) -> Vec<u32> {
    let (n, p) = (mem.n, mem.p);
    let vb = xi_vec4_per_block(p);
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

/// The constants header.
pub fn header(k: &KernelConsts) -> String {
    format!(
        "// Generated by idpsim for one plan.\n\
         const N: u32 = {n}u;\nconst NB: u32 = {nb}u;\nconst P: u32 = {p}u;\n\
         const INV_N: f32 = {inv_n};\n\
         const IDP: bool = {idp};\nconst ZERO_DIAG: bool = {zd};\nconst HAS_VECTOR: bool = {hv};\n\
         const LAYOUT_GROUP: bool = {lg};\nconst X_IN_REGS: bool = {xr};\nconst NB_UNROLL: bool = {unroll};\nconst NBR: u32 = {nbr}u;\n\
         const SLOPE: f32 = {slope};\nconst ACT_CLAMP: f32 = {clamp};\n\
         const SAVE_EVERY: u32 = {se}u;\n\
         const WG: u32 = {wg}u;\nconst WG_GROUP: u32 = {wgg}u;\n\
         const INIT_KIND: u32 = {ik}u;\nconst INIT_STD: f32 = {istd};\nconst INIT_AMPLITUDE: f32 = {iamp};\n\
         const INIT_JITTER: f32 = {ijit};\nconst INIT_INDEX: u32 = {iidx}u;\nconst VB: u32 = {vb}u;\n\
         {xi_decl}\n{mulhi}\n{hist}\
         const ENERGY: bool = {energy};\nconst Q: u32 = {q}u;\nconst LN_2: f32 = {ln2};\n\
         const SEGMENTS: u32 = {segs}u;\nconst RANDOM_WEIGHTS: bool = {rw};\nconst GRAM_BASE: u32 = {gram}u;\n\
         const RW_BASE: u32 = {rwb}u;\nconst RETR: bool = {retr};\nconst RETR_WINDOW: u32 = {rwin}u;\n\
         const FP: bool = {fp};\nconst FP_MEMORY: u32 = {fpm}u;\nconst FP_THRESHOLD: f32 = {fpt};\n{modern}",
        modern = modern_header(k),
        segs = k.segments,
        rw = k.random_weights,
        gram = k.segments * k.p,
        rwb = k.segments * k.p + k.p * k.p,
        retr = k.retr_window.is_some(),
        rwin = k.retr_window.unwrap_or(1),
        fp = k.first_passage.is_some(),
        fpm = k.first_passage.map_or(u32::MAX, |f| f.0),
        fpt = lit(k.first_passage.map_or(1.0, |f| f.1)),
        n = k.n,
        nb = k.n.div_ceil(4),
        p = k.p,
        inv_n = lit(1.0 / k.n as f32),
        idp = k.idp,
        zd = k.zero_diag,
        hv = k.has_vector,
        lg = k.layout_group,
        xr = x_in_regs(k),
        unroll = k.n.div_ceil(4) <= UNROLL_BLOCKS,
        nbr = if x_in_regs(k) { k.n.div_ceil(4) } else { 1 },
        slope = lit(k.slope),
        clamp = lit(ACT_CLAMP),
        se = k.save_every.max(1),
        wg = WG_THREAD,
        wgg = wg_group(k.p as usize),
        ik = k.init_kind,
        istd = lit(k.init_std),
        iamp = lit(k.init_amplitude),
        ijit = lit(k.init_jitter),
        iidx = k.init_index,
        vb = xi_vec4_per_block(k.p as usize),
        mulhi = mulhi_source(k.int64),
        hist = hist_header(k.hist.as_ref()),
        energy = k.energy,
        q = q_of(k),
        ln2 = lit(std::f32::consts::LN_2),
        xi_decl = match k.xi_format {
            XiFormat::BitsUniform => format!(
                "@group(0) @binding(1) var<uniform> xi_bits: array<vec4<u32>, {}>;{XI_BITS_ACCESSOR}",
                xi_bytes(k.n as usize, k.p as usize) / 16
            ),
            XiFormat::BitsStorage => {
                format!("@group(0) @binding(1) var<storage, read> xi_bits: array<vec4<u32>>;{XI_BITS_ACCESSOR}")
            }
        },
    )
}

/// Quantities per save: P overlaps, the energy, and (modern) y and α.
pub fn q_of(k: &KernelConsts) -> u32 {
    k.p + k.energy as u32 + if k.modern.is_some() { 2 * k.p } else { 0 }
}

/// The modern model's constants (MODERN = false and placeholders for the other models).
fn modern_header(k: &KernelConsts) -> String {
    use crate::plan::PsiY;
    let pb = k.p.div_ceil(4);
    let nb = k.n.div_ceil(4);
    let d = crate::plan::ModernPlan {
        tau_alpha: 0.0,
        tau_y: 0.0,
        tau_x: 1.0,
        psi_alpha_tanh: false,
        psi_y: PsiY::Identity,
        identity_x: false,
        sigma_alpha: 0.0,
        sigma_y: 0.0,
        rate_alpha: 0.0,
        rate_y: 0.0,
        rate_x: 0.0,
        noise_alpha: 0.0,
        noise_y: 0.0,
    };
    let (on, m) = match &k.modern {
        Some(m) => (true, m),
        None => (false, &d),
    };
    let (psi_y, beta) = match m.psi_y {
        PsiY::Identity => (0, 1.0),
        PsiY::Tanh => (1, 1.0),
        PsiY::Softmax { beta } => (2, beta),
    };
    format!(
        "const MODERN: bool = {on};\nconst TAU_A_DYN: bool = {}; const TAU_Y_DYN: bool = {};\n\
         const RATE_A: f32 = {}; const RATE_Y: f32 = {}; const NOISE_A: f32 = {}; const NOISE_Y: f32 = {};\n\
         const PSI_A_TANH: bool = {}; const PSI_Y: u32 = {psi_y}u; const BETA: f32 = {};\n\
         const DT_X: f32 = {}; const ACT_IDENTITY: bool = {};\n\
         const PB: u32 = {pb}u; const NBS: u32 = {}u; const Q_Y: u32 = {}u;\n",
        m.rate_alpha > 0.0,
        m.rate_y > 0.0,
        lit(m.rate_alpha),
        lit(m.rate_y),
        lit(m.noise_alpha),
        lit(m.noise_y),
        m.psi_alpha_tanh,
        lit(beta),
        lit(k.dt_x),
        k.act_identity,
        nb + if on { 2 * pb } else { 0 },
        k.p + k.energy as u32,
    )
}

/// Unrolls every loop of the form `for (var i = 0u; i < BOUND; i++) { … }` whose BOUND is a
/// literal or one of `bounds`, into `{ let i = 0u; … } { let i = 1u; … } …` (nested loops
/// too). Some drivers cap the total number of loop iterations an invocation may execute
/// (llvmpipe stops every loop after 65 535 back-edges in all), so fixed-count loops must not
/// count against it; they are also faster unrolled.
pub fn unroll_fixed_loops(src: &str, bounds: &[(&str, u32)]) -> String {
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
            Some((var, count)) => {
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
                let body = unroll_fixed_loops(&tail[head_end + 1..close], bounds);
                for k in 0..count {
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

/// `for (var i = 0u; i < BOUND; i++) ` → (i, BOUND) when BOUND is a literal or known constant.
fn parse_fixed_loop(head: &str, bounds: &[(&str, u32)]) -> Option<(String, u32)> {
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
    Some((var.to_string(), count))
}

/// The histogram's constants (HIST = false and placeholders without one).
fn hist_header(h: Option<&crate::plan::HistogramPlan>) -> String {
    let d = crate::plan::HistogramPlan {
        of_state: false,
        dims: 1,
        axes: [0; 2],
        bins: [1; 2],
        lo: [0.0; 2],
        scale: [1.0; 2],
        range: [[0.0, 1.0]; 2],
        from_steps: 0,
        every_steps: 1,
    };
    let (on, h) = match h {
        Some(h) => (true, h),
        None => (false, &d),
    };
    let a1 = if h.dims == 2 { h.axes[1] } else { h.axes[0] };
    format!(
        "const HIST: bool = {on};\nconst HIST_STATE: bool = {};\nconst HIST_DIMS: u32 = {}u;\n\
         const HIST_A0: u32 = {}u;\nconst HIST_A1: u32 = {a1}u;\nconst HIST_B0: u32 = {}u;\nconst HIST_B1: u32 = {}u;\n\
         const HIST_LO0: f32 = {};\nconst HIST_LO1: f32 = {};\nconst HIST_SC0: f32 = {};\nconst HIST_SC1: f32 = {};\n\
         const HIST_FROM: u32 = {}u;\nconst HIST_EVERY: u32 = {}u;\nconst HIST_CELLS: u32 = {}u;\n\
         const HIST_REPLICAS: u32 = {}u;\n",
        h.of_state,
        h.dims,
        h.axes[0],
        h.bins[0],
        h.bins[1],
        lit(h.lo[0]),
        lit(h.lo[1]),
        lit(h.scale[0]),
        lit(h.scale[1]),
        h.from_steps,
        h.every_steps.max(1),
        h.cells(),
        hist_replicas(h),
    )
}

/// Copies of the histogram counters on the device: up to 16, within 16 MiB.
pub fn hist_replicas(h: &crate::plan::HistogramPlan) -> u32 {
    let bytes = (h.cells() as u64 + 1) * 4;
    ((16u64 << 20) / bytes).clamp(1, 16) as u32
}

/// The whole module for a plan: header + every shader file.
pub fn assemble(k: &KernelConsts) -> String {
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
    unroll_fixed_loops(
        &src,
        &[("P", k.p), ("Q", q_of(k)), ("WG_GROUP", wg_group(k.p as usize)), ("PB", k.p.div_ceil(4))],
    )
}

/// Parses and validates WGSL with naga (no GPU needed); the error names what failed.
pub fn validate(source: &str) -> Result<wgpu::naga::Module, String> {
    use wgpu::naga;
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| e.emit_to_string(source))?;
    Ok(module)
}
