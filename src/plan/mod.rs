//! The validated plan: checked values and derived sizes, in sections. The backends, observers
//! and outputs only ever see a `Plan`; `crate::resolve` is the one way to build one from a spec.

pub mod input;
pub mod memories;

/// The model section (its JSON, rules and plan live together in `spec::model`).
pub use crate::spec::model::{ClosedForm, Coupling, Model, ModelPlan, ModernPlan, PsiY, activation};
/// The observe section (each observer's JSON, rules and plan live together in `spec::observe`).
pub use crate::spec::observe::{
    Equilibrium, FirstPassagePlan, HistogramPlan, NO_STEP, ObservePlan, OccupancyNorm, OccupancyPlan, RetrievalPlan,
    SaveLayout,
};
pub use input::{CuePlan, InputPlan, RandomWeightsPlan, SegmentPlan};
pub use memories::Memories;

use crate::spec::Spec;
pub use crate::spec::{BackendChoice, LayoutChoice};

#[derive(Debug, Clone, PartialEq)]
pub enum InitialPlan {
    /// x(0) ~ N(0, std² I) from stream INITIAL.
    Normal { std: f32 },
    /// Every trajectory starts at x (zero included).
    Point { x: Vec<f32> },
    /// amplitude · ξ^index (each sign flipped with probability `flip`, stream CUE) + jitter ·
    /// N(0, I) (stream INITIAL); index None: the trajectory's target in segment 0.
    Memory { index: Option<usize>, amplitude: f32, jitter: f32, flip: f32 },
}

/// The time grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimePlan {
    pub dt: f32,
    pub dt_f64: f64,
    pub total_steps: u32,
}

/// Additive noise on the feature layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisePlan {
    pub sigma: f32,
    /// Two-point increments ±√dt instead of Gaussian ones (the state's noise only).
    pub two_point: bool,
}

/// Which trajectories this run integrates, and how each starts.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsemblePlan {
    /// Trajectories this run integrates (a shard's share when sharded).
    pub trajectories: u64,
    /// Global index of the first trajectory (0 unless sharded).
    pub first: u64,
    /// The whole ensemble's size (`ensemble.trajectories`), sharded or not.
    pub total: u64,
    /// (index, count) when this run is one shard of a larger one.
    pub shard: Option<(u64, u64)>,
    pub seed: u64,
    pub initial: InitialPlan,
}

/// How to run: never changes results.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub backend: BackendChoice,
    pub adapter: Option<String>,
    pub layout: LayoutChoice,
    pub steps_per_dispatch: Option<u32>,
    pub chunk_trajectories: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The resolved spec (defaults filled in), recorded in run.json.
    pub spec: Spec,
    pub model: ModelPlan,
    pub memories: Memories,
    pub input: InputPlan,
    pub noise: NoisePlan,
    pub time: TimePlan,
    pub ensemble: EnsemblePlan,
    pub observe: ObservePlan,
    pub run: RunPlan,
}

/// Trajectories per reduction block: ensemble sums are formed per block of this many
/// consecutive global trajectory indices, in a fixed order, on both backends.
pub const BLOCK: u64 = 64;

/// Trajectories lo..hi of shard `index` of `count` of an ensemble of `total`: whole blocks of
/// [`BLOCK`] trajectories, split as evenly as possible.
pub fn shard_range(total: u64, index: u64, count: u64) -> (u64, u64) {
    let blocks = total.div_ceil(BLOCK);
    (index * blocks / count * BLOCK, ((index + 1) * blocks / count * BLOCK).min(total))
}

impl Plan {
    /// Neurons.
    #[inline(always)]
    pub fn n(&self) -> usize {
        self.memories.n
    }

    /// Memories.
    #[inline(always)]
    pub fn p(&self) -> usize {
        self.memories.p
    }

    /// Restricts the plan to shard `index` of `count`: whole blocks of [`BLOCK`] trajectories,
    /// split as evenly as possible, so the shards are exactly the pieces of the whole run. The
    /// error says what is accepted; the caller names the flag.
    /// The plan of trajectories first..first+count of this one (a chunk kept as a shard).
    pub fn chunk_plan(&self, first: u64, count: u64) -> Plan {
        let mut p = self.clone();
        p.ensemble.first = first;
        p.ensemble.trajectories = count;
        p
    }

    pub fn apply_shard(&mut self, index: u64, count: u64) -> Result<(), String> {
        let e = &mut self.ensemble;
        let blocks = e.total.div_ceil(BLOCK);
        if count == 0 || index >= count {
            return Err(format!("{index}/{count} is not a shard; use I/N with 0 ≤ I < N"));
        }
        if count > blocks {
            return Err(format!(
                "{count} shards of {} trajectories would leave some empty; use at most {blocks} (one per {BLOCK} trajectories)",
                e.total
            ));
        }
        let (lo, hi) = shard_range(e.total, index, count);
        e.first = lo;
        e.trajectories = hi - lo;
        e.shard = Some((index, count));
        Ok(())
    }

    /// The layout of one save.
    pub fn saves(&self) -> SaveLayout {
        SaveLayout { p: self.p(), energy: self.observe.energy, layers: self.model.modern().is_some() }
    }

    /// Ψ_x(x): tanh(clamp(δx)) or the identity.
    #[inline(always)]
    pub fn psi(&self, x: f32) -> f32 {
        self.model.psi(x)
    }

    /// The feature layer's dt/τ_x (dt for the classic and IDP models).
    pub fn dt_x(&self) -> f32 {
        self.model.modern().map_or(self.time.dt, |md| md.rate_x)
    }

    /// Number of saves, t = 0 included.
    pub fn n_saves(&self) -> usize {
        (self.time.total_steps / self.observe.save_every) as usize + 1
    }

    /// Save times (time units).
    pub fn save_times(&self) -> Vec<f64> {
        (0..self.n_saves()).map(|k| (k as u64 * self.observe.save_every as u64) as f64 * self.time.dt_f64).collect()
    }

    /// Total simulated time.
    pub fn duration(&self) -> f64 {
        self.time.total_steps as f64 * self.time.dt_f64
    }

    /// Noise amplitude per step, σ √dt, as the kernels use it.
    pub fn noise_scale(&self) -> f32 {
        (self.noise.sigma as f64 * self.time.dt_f64.sqrt()) as f32
    }

    /// vec4 blocks of device state per trajectory: the neuron blocks, then (modern model) α and
    /// y in blocks of four memories.
    pub fn state_blocks(&self) -> usize {
        self.neuron_blocks() + if self.model.modern().is_some() { 2 * self.p().div_ceil(4) } else { 0 }
    }

    /// Number of 4-neuron blocks (neuron i is lane i % 4 of block i / 4).
    pub fn neuron_blocks(&self) -> usize {
        self.n().div_ceil(4)
    }

    /// True when some segment draws per-trajectory random weights.
    pub fn has_random_weights(&self) -> bool {
        self.input.segments.iter().any(|s| s.random.is_some())
    }

    /// Values the retrieval / first-passage observer keeps per trajectory: S·P window sums
    /// (with retrieval), then one first-passage step count.
    pub fn obs_per_trajectory(&self) -> usize {
        if !self.observe.observes_trajectories() {
            return 0;
        }
        self.input.segments.len() * self.p() + 1
    }

    /// True when some segment needs a per-neuron input term (classic model with a `vector`
    /// input, input noise or a cue).
    pub fn has_vector_input(&self) -> bool {
        self.model.coupling() == Coupling::Bias
            && self.input.segments.iter().any(|s| s.vector.is_some() || s.noise > 0.0 || s.cue.is_some())
    }
}
