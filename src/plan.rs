//! The validated plan: checked values and derived sizes. The engines only ever see a `Plan`.

use crate::model::input::SegmentPlan;
use crate::model::memories::Memories;
use crate::spec::Spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// dx = (−x + W(u) Ψ(x)) dt + σ dB.
    Idp,
    /// dx = (−x + W Ψ(x) + u) dt + σ dB.
    Classic,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Idp => "idp",
            ModelKind::Classic => "classic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    Auto,
    Gpu,
    Cpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutChoice {
    Auto,
    Thread,
    Group,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InitialPlan {
    /// x(0) ~ N(0, std² I) from stream INITIAL.
    Normal { std: f32 },
    /// Every trajectory starts at x (zero included).
    Point { x: Vec<f32> },
    /// amplitude ξ^index + jitter · N(0, I) from stream INITIAL.
    Memory { index: usize, amplitude: f32, jitter: f32 },
}

/// An on-device histogram (one definition for both backends: see [`HistogramPlan::bin`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPlan {
    /// Neuron coordinates (true) or signed overlaps (false).
    pub of_state: bool,
    pub dims: usize,
    pub axes: [u32; 2],
    pub bins: [u32; 2],
    /// Lower edges and bins per unit length, as the kernels use them.
    pub lo: [f32; 2],
    pub scale: [f32; 2],
    pub range: [[f64; 2]; 2],
    /// Samples are taken after `done` steps when done ≥ from_steps, done ≥ 1 and done is a
    /// multiple of every_steps.
    pub from_steps: u32,
    pub every_steps: u32,
}

impl HistogramPlan {
    /// Cells in range; the count of out-of-range samples is kept after them.
    pub fn cells(&self) -> usize {
        (self.bins[0] as usize) * if self.dims == 2 { self.bins[1] as usize } else { 1 }
    }

    /// Whether a sample is taken after `done` steps.
    pub fn samples_at(&self, done: u32) -> bool {
        done >= 1 && done >= self.from_steps && done % self.every_steps == 0
    }

    /// Samples per trajectory over a run of `total` steps.
    pub fn samples_per_trajectory(&self, total: u32) -> u64 {
        let first = self.from_steps.max(1).div_ceil(self.every_steps);
        let last = total / self.every_steps;
        (last + 1).saturating_sub(first) as u64
    }

    /// Bin of one coordinate: floor((v − lo)·scale) if in [0, bins), else None (NaN included).
    /// Same f32 arithmetic as `hist_bin` in `shaders/params.wgsl`.
    pub fn axis_bin(&self, k: usize, v: f32) -> Option<u32> {
        let y = (v - self.lo[k]) * self.scale[k];
        if y >= 0.0 && y < self.bins[k] as f32 { Some((y as u32).min(self.bins[k] - 1)) } else { None }
    }

    /// Cell of a sample (values along the axes), or `cells()` (the out-of-range slot).
    pub fn bin(&self, v: [f32; 2]) -> usize {
        let b0 = self.axis_bin(0, v[0]);
        if self.dims == 1 {
            return b0.map_or(self.cells(), |b| b as usize);
        }
        match (b0, self.axis_bin(1, v[1])) {
            (Some(a), Some(b)) => a as usize * self.bins[1] as usize + b as usize,
            _ => self.cells(),
        }
    }
}

/// Ψ_y of the modern model's memory layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PsiY {
    Identity,
    Tanh,
    /// s = softmax(β Ψ_α(α) ⊙ y): the saliency weights the keys inside the softmax too.
    Softmax {
        beta: f32,
    },
}

/// The modern three-layer model (THEORY.md §5): saliency α, memory layer y, feature layer x.
/// A time constant of 0 makes a layer instantaneous (α = Ξᵀu/N, y = m(x)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModernPlan {
    pub tau_alpha: f64,
    pub tau_y: f64,
    pub tau_x: f64,
    pub psi_alpha_tanh: bool,
    pub psi_y: PsiY,
    pub sigma_alpha: f32,
    pub sigma_y: f32,
    /// dt/τ of the saliency and memory layers (0 when instantaneous), as the kernels use them.
    pub rate_alpha: f32,
    pub rate_y: f32,
    /// σ √dt of the saliency and memory layers.
    pub noise_alpha: f32,
    pub noise_y: f32,
}

/// The retrieval observer: per trajectory and segment, the overlaps averaged over the
/// segment's last `window_steps` steps (the values after each of those steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalPlan {
    pub threshold: f32,
    pub window_steps: u32,
}

/// First passage: the first step count after which abs(m_memory) ≥ threshold (t = 0 included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstPassagePlan {
    /// None: the target (dominant memory) of the segment in effect.
    pub memory: Option<u32>,
    pub threshold: f32,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The resolved spec (defaults filled in), written to run.json.
    pub spec: Spec,
    pub model: ModelKind,
    /// δ in Ψ(z) = tanh(δ z).
    pub slope: f32,
    pub zero_diagonal: bool,
    pub n: usize,
    pub p: usize,
    pub memories: Memories,
    pub segments: Vec<SegmentPlan>,
    pub sigma: f32,
    pub dt: f32,
    pub dt_f64: f64,
    pub total_steps: u32,
    /// Trajectories this run integrates (a shard's share when sharded).
    pub trajectories: u64,
    /// Global index of the first trajectory (0 unless sharded).
    pub first_trajectory: u64,
    /// The whole ensemble's size (`ensemble.trajectories`), sharded or not.
    pub total_trajectories: u64,
    /// (index, count) when this run is one shard of a larger one.
    pub shard: Option<(u64, u64)>,
    pub seed: u64,
    pub initial: InitialPlan,
    /// Steps between overlap saves; save k is at step k·save_every (k = 0 is the initial state).
    pub save_every: u32,
    pub per_trajectory: bool,
    pub final_state: bool,
    pub histogram: Option<HistogramPlan>,
    /// Save the energy with the overlaps (as quantity P of each save).
    pub energy: bool,
    pub energy_per_trajectory: bool,
    pub retrieval: Option<RetrievalPlan>,
    pub first_passage: Option<FirstPassagePlan>,
    /// The memories' Gram matrix G = ΞᵀΞ/N in f32, row-major [P][P] (IDP random weights: α = G w).
    pub gram: Vec<f32>,
    /// The modern model's layers (then `model` is Idp: its input enters through α like IDP's).
    pub modern: Option<ModernPlan>,
    /// The feature layer's dt/τ_x (dt for the other models).
    pub dt_x: f32,
    /// Ψ_x is the identity (modern model only).
    pub identity_activation: bool,
    pub backend: BackendChoice,
    pub adapter: Option<String>,
    pub layout: LayoutChoice,
    pub steps_per_dispatch: Option<u32>,
    pub chunk_trajectories: Option<u64>,
}

/// Trajectories per reduction block: ensemble sums are formed per block of this many
/// consecutive global trajectory indices, in a fixed order, on both backends.
pub const BLOCK: u64 = 64;

impl Plan {
    /// Restricts the plan to shard `index` of `count`: whole blocks of [`BLOCK`] trajectories,
    /// split as evenly as possible, so the shards are exactly the pieces of the whole run.
    pub fn apply_shard(&mut self, index: u64, count: u64) -> Result<(), String> {
        let blocks = self.total_trajectories.div_ceil(BLOCK);
        if count == 0 || index >= count {
            return Err(format!("--shard: {index}/{count} is not a shard; use I/N with 0 ≤ I < N"));
        }
        if count > blocks {
            return Err(format!(
                "--shard: {count} shards of {} trajectories would leave some empty; use at most {blocks} (one per {BLOCK} trajectories)",
                self.total_trajectories
            ));
        }
        let lo = index * blocks / count * BLOCK;
        let hi = ((index + 1) * blocks / count * BLOCK).min(self.total_trajectories);
        self.first_trajectory = lo;
        self.trajectories = hi - lo;
        self.shard = Some((index, count));
        Ok(())
    }

    /// Quantities per save and trajectory: the P overlaps, then the energy if observed, then
    /// (modern model) the memory layer y and the saliencies α, P each.
    pub fn q(&self) -> usize {
        self.p + self.energy as usize + if self.modern.is_some() { 2 * self.p } else { 0 }
    }

    /// Index of y_0 within a save (modern model).
    pub fn q_y(&self) -> usize {
        self.p + self.energy as usize
    }

    /// "idp", "classic" or "modern".
    pub fn model_name(&self) -> &'static str {
        if self.modern.is_some() { "modern" } else { self.model.name() }
    }

    /// Ψ_x(x): tanh(clamp(δx)) or the identity.
    #[inline(always)]
    pub fn psi(&self, x: f32) -> f32 {
        if self.identity_activation { x } else { crate::model::drift::activation(x, self.slope) }
    }

    /// Whether backends must deliver per-trajectory saves (overlaps or energies).
    pub fn per_trajectory_saves(&self) -> bool {
        self.per_trajectory || self.energy_per_trajectory
    }

    /// Number of overlap saves, t = 0 included.
    pub fn n_saves(&self) -> usize {
        (self.total_steps / self.save_every) as usize + 1
    }

    /// Save times (time units).
    pub fn save_times(&self) -> Vec<f64> {
        (0..self.n_saves()).map(|k| (k as u64 * self.save_every as u64) as f64 * self.dt_f64).collect()
    }

    /// Total simulated time.
    pub fn duration(&self) -> f64 {
        self.total_steps as f64 * self.dt_f64
    }

    /// Noise amplitude per step, σ √dt, as the kernels use it.
    pub fn noise_scale(&self) -> f32 {
        (self.sigma as f64 * self.dt_f64.sqrt()) as f32
    }

    /// vec4 blocks of device state per trajectory: the neuron blocks, then (modern model) α and
    /// y in blocks of four memories.
    pub fn state_blocks(&self) -> usize {
        self.neuron_blocks() + if self.modern.is_some() { 2 * self.p.div_ceil(4) } else { 0 }
    }

    /// Number of 4-neuron blocks (neuron i is lane i % 4 of block i / 4).
    pub fn neuron_blocks(&self) -> usize {
        self.n.div_ceil(4)
    }

    /// True when some segment draws per-trajectory random weights.
    pub fn has_random_weights(&self) -> bool {
        self.segments.iter().any(|s| s.random.is_some())
    }

    /// Whether the backends must record per-trajectory observations at segment ends or first
    /// passages.
    pub fn observes_trajectories(&self) -> bool {
        self.retrieval.is_some() || self.first_passage.is_some()
    }

    /// Values the retrieval / first-passage observer keeps per trajectory: S·P window sums
    /// (with retrieval), then one first-passage step count.
    pub fn obs_per_trajectory(&self) -> usize {
        if !self.observes_trajectories() {
            return 0;
        }
        self.segments.len() * self.p + 1
    }

    /// True when some segment needs a per-neuron input term (classic model with a `vector`
    /// input or input noise).
    pub fn has_vector_input(&self) -> bool {
        self.model == ModelKind::Classic && self.segments.iter().any(|s| s.vector.is_some() || s.noise > 0.0)
    }
}
