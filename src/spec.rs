//! The JSON spec (DESIGN §2): raw serde structs that reject unknown fields, the defaults, and
//! [`Spec::plan`], which checks every value and turns the spec into a validated [`Plan`].
//! Every validation rule and its message lives in this file.

use serde::{Deserialize, Serialize};

use crate::model::input;
use crate::model::memories::{self, Memories};
use crate::plan::{
    BackendChoice, FirstPassagePlan, HistogramPlan, InitialPlan, LayoutChoice, ModelKind, ModernPlan, Plan, PsiY,
    RetrievalPlan,
};

/// A spec value that is wrong: `field` is its dotted path, `message` says what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError { field: field.into(), message: message.into() }
    }
}

pub type SpecResult<T> = Result<T, SpecError>;

/// Largest number of neurons (the state of one trajectory must fit a storage binding).
pub const MAX_N: usize = 1 << 20;
/// Largest number of saved overlap values (saves × P) per trajectory.
pub const MAX_SAVED_VALUES: u64 = 10_000_000;

/// Largest number of memories (the kernels keep P overlaps per invocation in registers).
pub const MAX_P: usize = 128;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default = "default_name")]
    pub name: String,
    pub model: ModelSpec,
    pub memories: MemoriesSpec,
    pub input: InputSpec,
    #[serde(default)]
    pub noise: NoiseSpec,
    #[serde(default)]
    pub integrator: IntegratorSpec,
    pub ensemble: EnsembleSpec,
    #[serde(default)]
    pub observe: ObserveSpec,
    #[serde(default)]
    pub run: RunSpec,
    /// A parameter sweep: dotted spec paths → lists of values (see `crate::sweep`). Only
    /// `idpsim run` reads it; the point itself is the rest of the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<serde_json::Map<String, serde_json::Value>>,
}

fn default_name() -> String {
    "unnamed".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// "idp", "classic" or "modern".
    pub kind: String,
    /// Ψ (the feature layer's Ψ_x in the modern model).
    #[serde(default)]
    pub activation: ActivationSpec,
    /// Zero the diagonal of W (the authors' code); default false.
    #[serde(default)]
    pub zero_diagonal: bool,
    /// Modern model: time constants of the saliency, memory and feature layers (0 =
    /// instantaneous; defaults 0, 0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_y: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_x: Option<f64>,
    /// Modern model: "identity" (default) or "tanh".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_alpha: Option<String>,
    /// Modern model: "identity" (default), "tanh" or {"softmax": {"beta": β}}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi_y: Option<PsiYSpec>,
    /// Modern model: noise on the saliency and memory layers (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_y: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PsiYSpec {
    Name(String),
    Softmax { softmax: SoftmaxSpec },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SoftmaxSpec {
    /// Inverse temperature β > 0.
    pub beta: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActivationSpec {
    /// "tanh", or "identity" (modern model only).
    pub kind: String,
    /// Slope δ of Ψ(z) = tanh(δ z); default 1.
    #[serde(default = "one")]
    pub slope: f64,
}

impl Default for ActivationSpec {
    fn default() -> Self {
        ActivationSpec { kind: "tanh".into(), slope: 1.0 }
    }
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MemoriesSpec {
    /// Sylvester–Hadamard columns (exactly orthogonal); `columns` default 0..p.
    Hadamard {
        n: usize,
        p: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<usize>>,
    },
    /// I.i.d. fair ±1 entries drawn from Philox keyed by `seed`.
    Random {
        n: usize,
        p: usize,
        #[serde(default)]
        seed: u64,
    },
    /// P rows of N entries ±1.
    Explicit { patterns: Vec<Vec<f64>> },
    /// An NPY file [P, N] of ±1 (any integer or float dtype); relative to the spec's folder.
    File { path: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub segments: Vec<SegmentSpec>,
    /// Multiplies every segment's input; default 1.
    #[serde(default = "one")]
    pub gain: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    /// Time units.
    pub duration: f64,
    /// u = Σ_l w_l ξ^l (length P).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// IDP only: the saliencies α directly (length P).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saliency: Option<Vec<f64>>,
    /// u itself (length N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f64>>,
    /// Linear morph from the previous segment's input over this time (the first segment
    /// morphs from zero input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<f64>,
    /// Input on only for this long after the segment starts, zero afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulse: Option<f64>,
    /// Std of a per-trajectory Gaussian corruption of u, fixed within the segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    /// Per-trajectory random mixture weights (the authors' recipe by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_weights: Option<RandomWeightsSpec>,
}

/// Per-trajectory random input weights (THEORY.md §6): every memory's weight is drawn from
/// `background`, the dominant memory's from `dominant`, the previous segment's dominant
/// memory's from `previous`; then the weights are scaled so they sum to `normalize_sum`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomWeightsSpec {
    #[serde(default = "default_background")]
    pub background: [f64; 2],
    #[serde(default = "default_dominant")]
    pub dominant: [f64; 2],
    /// null: the previous dominant memory gets a background weight.
    #[serde(default = "default_previous")]
    pub previous: Option<[f64; 2]>,
    /// "sqrt_pn" (Σw = √(PN)), a positive number, or null (no scaling).
    #[serde(default = "default_normalize")]
    pub normalize_sum: Option<NormalizeSum>,
    /// A memory index, or "random" (drawn per trajectory). Default: the segment's position
    /// modulo P.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dominant_memory: Option<DominantMemory>,
}

impl Default for RandomWeightsSpec {
    fn default() -> Self {
        RandomWeightsSpec {
            background: default_background(),
            dominant: default_dominant(),
            previous: default_previous(),
            normalize_sum: default_normalize(),
            dominant_memory: None,
        }
    }
}

fn default_background() -> [f64; 2] {
    [0.8, 1.5]
}
fn default_dominant() -> [f64; 2] {
    [2.0, 3.5]
}
fn default_previous() -> Option<[f64; 2]> {
    Some([0.2, 0.6])
}
fn default_normalize() -> Option<NormalizeSum> {
    Some(NormalizeSum::Rule("sqrt_pn".into()))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum NormalizeSum {
    Value(f64),
    Rule(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum DominantMemory {
    Index(usize),
    Rule(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// Additive noise amplitude σ; default 0.
    #[serde(default)]
    pub sigma: f64,
}

impl Default for NoiseSpec {
    fn default() -> Self {
        NoiseSpec { sigma: 0.0 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntegratorSpec {
    /// Only "euler_maruyama".
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Time step; default 0.01.
    #[serde(default = "default_dt")]
    pub dt: f64,
}

fn default_scheme() -> String {
    "euler_maruyama".into()
}
fn default_dt() -> f64 {
    0.01
}

impl Default for IntegratorSpec {
    fn default() -> Self {
        IntegratorSpec { scheme: default_scheme(), dt: default_dt() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    pub trajectories: u64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub initial: InitialSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InitialSpec {
    /// x(0) ~ N(0, std² I); std default 1.
    Normal {
        #[serde(default = "one")]
        std: f64,
    },
    Zero,
    /// Every trajectory starts at x.
    Point {
        x: Vec<f64>,
    },
    /// x(0) = amplitude ξ^index + jitter · N(0, I).
    Memory {
        index: usize,
        #[serde(default = "one")]
        amplitude: f64,
        #[serde(default)]
        jitter: f64,
    },
}

impl Default for InitialSpec {
    fn default() -> Self {
        InitialSpec::Normal { std: 1.0 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ObserveSpec {
    /// Default: saved 100 times over the run (snapped to a multiple of dt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlaps: Option<OverlapsSpec>,
    #[serde(default)]
    pub final_state: bool,
    /// On-device histogram of one or two state coordinates or overlaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<HistogramSpec>,
    /// Energy E(x; u) of every trajectory, saved with the overlaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergySpec>,
    /// The memory each trajectory retrieves at the end of every segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<RetrievalSpec>,
    /// The first time abs(m_memory) reaches a threshold, per trajectory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_passage: Option<FirstPassageSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrievalSpec {
    /// A trajectory retrieves memory μ when abs(m_μ) is the largest overlap and ≥ threshold.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Average the overlaps over this final part of each segment (time units; default dt, i.e.
    /// the value at the segment's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FirstPassageSpec {
    /// A memory index, or "target" (the dominant memory of the segment in effect).
    #[serde(default = "default_fp_memory")]
    pub memory: DominantMemory,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
}

fn default_threshold() -> f64 {
    0.9
}
fn default_fp_memory() -> DominantMemory {
    DominantMemory::Rule("target".into())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnergySpec {
    /// Time between saves; the energy is saved with the overlaps, so this must equal
    /// observe.overlaps.every (default: that value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<f64>,
    /// Also write energy.npy [M, T].
    #[serde(default)]
    pub per_trajectory: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistogramSpec {
    /// "state" (neuron coordinates x_i) or "overlaps" (signed m_μ).
    pub of: String,
    /// One or two neuron (or memory) indices.
    pub axes: Vec<usize>,
    /// Bins per axis.
    pub bins: Vec<u32>,
    /// [low, high] per axis.
    pub range: Vec<[f64; 2]>,
    /// Burn-in: samples are taken from this time on (default 0).
    #[serde(default)]
    pub from: f64,
    /// Time between samples (a multiple of dt; default dt, every step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OverlapsSpec {
    /// Time between saves (a multiple of dt); t = 0 is always saved.
    pub every: f64,
    /// Also write overlaps.npy [M, T, P].
    #[serde(default)]
    pub per_trajectory: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// "auto" | "gpu" | "cpu".
    #[serde(default = "default_auto")]
    pub backend: String,
    /// Pick the first adapter whose name contains this (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// GPU work layout: "auto" | "thread" (one invocation per trajectory) | "group" (one
    /// workgroup per trajectory).
    #[serde(default = "default_auto")]
    pub layout: String,
    /// Steps per kernel dispatch (default: sized automatically). Never changes results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_dispatch: Option<u32>,
    /// Trajectories per chunk (default: as many as the device allows; rounded to a multiple of
    /// 64). Never changes results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_trajectories: Option<u64>,
}

fn default_auto() -> String {
    "auto".into()
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            backend: default_auto(),
            adapter: None,
            layout: default_auto(),
            steps_per_dispatch: None,
            chunk_trajectories: None,
        }
    }
}

impl Spec {
    /// Parses JSON, naming the path of the offending field on error.
    pub fn from_json(text: &str) -> SpecResult<Spec> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "spec".to_string() } else { path };
            let inner = e.into_inner();
            let msg = inner.to_string();
            // serde_json appends " at line L column C"; keep it, it helps in a big file.
            SpecError::new(field, msg)
        })
    }

    /// Validates every value and builds the plan. `base_dir` resolves relative file paths.
    pub fn plan(&self, base_dir: &std::path::Path) -> SpecResult<Plan> {
        let (model, is_modern) = match self.model.kind.as_str() {
            "idp" => (ModelKind::Idp, false),
            "classic" => (ModelKind::Classic, false),
            // The modern model's input enters through the saliencies, as in the IDP model.
            "modern" => (ModelKind::Idp, true),
            other => {
                return Err(SpecError::new(
                    "model.kind",
                    format!("unknown model '{other}'; accepted: \"idp\", \"classic\", \"modern\""),
                ));
            }
        };
        let identity_activation = match self.model.activation.kind.as_str() {
            "tanh" => false,
            "identity" if is_modern => true,
            other => {
                return Err(SpecError::new(
                    "model.activation.kind",
                    format!(
                        "unknown activation '{other}'; accepted: \"tanh\"{}",
                        if is_modern { ", \"identity\"" } else { " (\"identity\" is for the modern model)" }
                    ),
                ));
            }
        };
        let slope = self.model.activation.slope;
        check_positive("model.activation.slope", slope)?;
        if slope > 1e4 {
            return Err(SpecError::new("model.activation.slope", "must be at most 1e4"));
        }

        let memories = memories::build(&self.memories, base_dir)?;
        let (n, p) = (memories.n, memories.p);

        if self.integrator.scheme != "euler_maruyama" {
            return Err(SpecError::new(
                "integrator.scheme",
                format!("unknown scheme '{}'; accepted: \"euler_maruyama\"", self.integrator.scheme),
            ));
        }
        let dt = self.integrator.dt;
        check_positive("integrator.dt", dt)?;
        if dt > 1.0 {
            return Err(SpecError::new(
                "integrator.dt",
                format!("{dt} is too large for Euler–Maruyama on this model; use dt ≤ 1"),
            ));
        }
        let sigma = self.noise.sigma;
        check_nonnegative("noise.sigma", sigma)?;
        let modern = modern_plan(&self.model, is_modern, dt)?;

        let segments = input::build(&self.input, model, &memories, dt)?;
        let total_steps: u64 = segments.iter().map(|s| s.steps as u64).sum();
        if total_steps > (u32::MAX - 1) as u64 {
            return Err(SpecError::new(
                "input.segments",
                format!("the run has {total_steps} steps; at most {} are supported", u32::MAX - 1),
            ));
        }
        let total_steps = total_steps as u32;

        let e = &self.ensemble;
        if e.trajectories == 0 || e.trajectories > u32::MAX as u64 {
            return Err(SpecError::new(
                "ensemble.trajectories",
                format!("{} is out of range; accepted: 1 to {}", e.trajectories, u32::MAX),
            ));
        }
        let initial = initial_plan(&e.initial, &memories)?;

        let (save_every, per_trajectory) = match &self.observe.overlaps {
            Some(o) => {
                check_positive("observe.overlaps.every", o.every)?;
                let steps = steps_of("observe.overlaps.every", o.every, dt)?;
                if steps > total_steps {
                    return Err(SpecError::new(
                        "observe.overlaps.every",
                        format!("{} is longer than the run ({})", o.every, total_steps as f64 * dt),
                    ));
                }
                (steps, o.per_trajectory)
            }
            None => ((total_steps / 100).max(1), false),
        };

        let histogram = match &self.observe.histogram {
            None => None,
            Some(h) => Some(histogram_plan(h, n, p, dt, total_steps)?),
        };

        let (energy, energy_per_trajectory) = match &self.observe.energy {
            None => (false, false),
            Some(e) => {
                if let Some(md) = &modern
                    && !(matches!(md.psi_y, PsiY::Softmax { .. }) && identity_activation && md.tau_y == 0.0)
                {
                    return Err(SpecError::new(
                        "observe.energy",
                        "the modern model has an energy (E_tr) only with psi_y softmax, activation \"identity\" and tau_y = 0",
                    ));
                }
                if let Some(every) = e.every {
                    check_positive("observe.energy.every", every)?;
                    if steps_of("observe.energy.every", every, dt)? != save_every {
                        return Err(SpecError::new(
                            "observe.energy.every",
                            format!(
                                "{every} differs from the overlaps' interval {}; the energy is saved with the overlaps, so give the same value (or leave it out)",
                                save_every as f64 * dt
                            ),
                        ));
                    }
                }
                (true, e.per_trajectory)
            }
        };

        let retrieval = match &self.observe.retrieval {
            None => None,
            Some(r) => {
                check_threshold("observe.retrieval.threshold", r.threshold)?;
                let window_steps = match r.window {
                    None => 1,
                    Some(w) => {
                        check_positive("observe.retrieval.window", w)?;
                        steps_of("observe.retrieval.window", w, dt)?
                    }
                };
                if let Some((k, sg)) = segments.iter().enumerate().find(|(_, s)| s.steps < window_steps) {
                    return Err(SpecError::new(
                        "observe.retrieval.window",
                        format!(
                            "{} is longer than segment {k} ({}); the window must fit in every segment",
                            window_steps as f64 * dt,
                            sg.steps as f64 * dt
                        ),
                    ));
                }
                Some(RetrievalPlan { threshold: r.threshold as f32, window_steps })
            }
        };
        let first_passage = match &self.observe.first_passage {
            None => None,
            Some(f) => {
                check_threshold("observe.first_passage.threshold", f.threshold)?;
                let memory = match &f.memory {
                    DominantMemory::Index(i) if *i < p => Some(*i as u32),
                    DominantMemory::Rule(r) if r == "target" => None,
                    other => {
                        return Err(SpecError::new(
                            "observe.first_passage.memory",
                            format!(
                                "{} is not accepted; give a memory index 0 to {} or \"target\"",
                                serde_json::to_string(other).unwrap_or_default(),
                                p - 1
                            ),
                        ));
                    }
                };
                Some(FirstPassagePlan { memory, threshold: f.threshold as f32 })
            }
        };

        let saves = (total_steps / save_every) as u64 + 1;
        if saves * p as u64 > MAX_SAVED_VALUES {
            return Err(SpecError::new(
                "observe.overlaps.every",
                format!(
                    "{saves} saves × {p} memories is more than {MAX_SAVED_VALUES} values per trajectory; save less often"
                ),
            ));
        }

        let backend = match self.run.backend.as_str() {
            "auto" => BackendChoice::Auto,
            "gpu" => BackendChoice::Gpu,
            "cpu" => BackendChoice::Cpu,
            other => {
                return Err(SpecError::new(
                    "run.backend",
                    format!("unknown backend '{other}'; accepted: \"auto\", \"gpu\", \"cpu\""),
                ));
            }
        };
        let layout = match self.run.layout.as_str() {
            "auto" => LayoutChoice::Auto,
            "thread" => LayoutChoice::Thread,
            "group" => LayoutChoice::Group,
            other => {
                return Err(SpecError::new(
                    "run.layout",
                    format!("unknown layout '{other}'; accepted: \"auto\", \"thread\", \"group\""),
                ));
            }
        };
        if let Some(k) = self.run.steps_per_dispatch
            && k == 0
        {
            return Err(SpecError::new("run.steps_per_dispatch", "must be at least 1"));
        }
        if let Some(c) = self.run.chunk_trajectories
            && c == 0
        {
            return Err(SpecError::new("run.chunk_trajectories", "must be at least 1"));
        }

        let mut resolved = self.clone();
        if resolved.observe.overlaps.is_none() {
            resolved.observe.overlaps = Some(OverlapsSpec { every: save_every as f64 * dt, per_trajectory: false });
        }
        if let Some(e) = resolved.observe.energy.as_mut() {
            e.every = Some(save_every as f64 * dt);
        }
        if let Some(r) = resolved.observe.retrieval.as_mut() {
            r.window = Some(retrieval.as_ref().map_or(1, |r| r.window_steps) as f64 * dt);
        }
        for (k, seg) in resolved.input.segments.iter_mut().enumerate() {
            if let Some(rw) = seg.random_weights.as_mut()
                && rw.dominant_memory.is_none()
            {
                rw.dominant_memory = Some(DominantMemory::Index(k % p));
            }
        }
        if let MemoriesSpec::Hadamard { columns, p, .. } = &mut resolved.memories
            && columns.is_none()
        {
            *columns = Some((0..*p).collect());
        }

        let gram = memories.gram().iter().map(|&g| g as f32).collect();
        if let Some(md) = &modern {
            let m = &mut resolved.model;
            m.tau_alpha = Some(md.tau_alpha);
            m.tau_y = Some(md.tau_y);
            m.tau_x = Some(md.tau_x);
            m.psi_alpha = Some(if md.psi_alpha_tanh { "tanh" } else { "identity" }.into());
            m.psi_y = Some(match md.psi_y {
                PsiY::Identity => PsiYSpec::Name("identity".into()),
                PsiY::Tanh => PsiYSpec::Name("tanh".into()),
                PsiY::Softmax { .. } => self.model.psi_y.clone().expect("softmax was given"),
            });
            m.sigma_alpha = Some(md.sigma_alpha as f64);
            m.sigma_y = Some(md.sigma_y as f64);
        }
        let dt_x = modern.as_ref().map_or(dt as f32, |md| (dt / md.tau_x) as f32);
        Ok(Plan {
            spec: resolved,
            model,
            slope: slope as f32,
            zero_diagonal: self.model.zero_diagonal,
            n,
            p,
            memories,
            segments,
            sigma: sigma as f32,
            dt: dt as f32,
            dt_f64: dt,
            total_steps,
            trajectories: e.trajectories,
            first_trajectory: 0,
            total_trajectories: e.trajectories,
            shard: None,
            seed: e.seed,
            initial,
            save_every,
            per_trajectory,
            final_state: self.observe.final_state,
            histogram,
            energy,
            energy_per_trajectory,
            retrieval,
            first_passage,
            gram,
            modern,
            dt_x,
            identity_activation,
            backend,
            adapter: self.run.adapter.clone(),
            layout,
            steps_per_dispatch: self.run.steps_per_dispatch,
            chunk_trajectories: self.run.chunk_trajectories,
        })
    }
}

/// Largest number of histogram cells.
pub const MAX_HIST_CELLS: u64 = 1 << 24;

fn histogram_plan(h: &HistogramSpec, n: usize, p: usize, dt: f64, total_steps: u32) -> SpecResult<HistogramPlan> {
    let of_state = match h.of.as_str() {
        "state" => true,
        "overlaps" => false,
        other => {
            return Err(SpecError::new(
                "observe.histogram.of",
                format!("unknown quantity '{other}'; accepted: \"state\", \"overlaps\""),
            ));
        }
    };
    let dims = h.axes.len();
    if dims == 0 || dims > 2 {
        return Err(SpecError::new("observe.histogram.axes", format!("has {dims} entries; give 1 or 2 indices")));
    }
    let limit = if of_state { n } else { p };
    for (k, &a) in h.axes.iter().enumerate() {
        if a >= limit {
            let what = if of_state { "neuron" } else { "memory" };
            return Err(SpecError::new(
                format!("observe.histogram.axes[{k}]"),
                format!("{what} {a} does not exist; accepted: 0 to {}", limit - 1),
            ));
        }
    }
    if dims == 2 && h.axes[0] == h.axes[1] {
        return Err(SpecError::new("observe.histogram.axes[1]", "repeats axes[0]; give two different indices"));
    }
    if h.bins.len() != dims {
        return Err(SpecError::new(
            "observe.histogram.bins",
            format!("has {} entries; it must have one per axis ({dims})", h.bins.len()),
        ));
    }
    if h.range.len() != dims {
        return Err(SpecError::new(
            "observe.histogram.range",
            format!("has {} entries; it must have one [low, high] per axis ({dims})", h.range.len()),
        ));
    }
    let mut cells = 1u64;
    for k in 0..dims {
        if h.bins[k] == 0 {
            return Err(SpecError::new(format!("observe.histogram.bins[{k}]"), "must be at least 1"));
        }
        cells *= h.bins[k] as u64;
        let [lo, hi] = h.range[k];
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(SpecError::new(
                format!("observe.histogram.range[{k}]"),
                format!("[{lo}, {hi}] is not accepted; give finite low < high"),
            ));
        }
    }
    if cells > MAX_HIST_CELLS {
        return Err(SpecError::new("observe.histogram.bins", format!("{cells} cells is more than {MAX_HIST_CELLS}")));
    }
    check_nonnegative("observe.histogram.from", h.from)?;
    let from_steps = if h.from == 0.0 { 0 } else { steps_of("observe.histogram.from", h.from, dt)? };
    if from_steps > total_steps {
        return Err(SpecError::new(
            "observe.histogram.from",
            format!("{} is after the end of the run ({})", h.from, total_steps as f64 * dt),
        ));
    }
    let every_steps = match h.every {
        None => 1,
        Some(e) => {
            check_positive("observe.histogram.every", e)?;
            steps_of("observe.histogram.every", e, dt)?
        }
    };
    let mut axes = [0u32; 2];
    let mut bins = [1u32; 2];
    let mut lo = [0f32; 2];
    let mut scale = [1f32; 2];
    let mut range = [[0f64; 2]; 2];
    for k in 0..dims {
        axes[k] = h.axes[k] as u32;
        bins[k] = h.bins[k];
        lo[k] = h.range[k][0] as f32;
        scale[k] = (h.bins[k] as f64 / (h.range[k][1] - h.range[k][0])) as f32;
        range[k] = h.range[k];
    }
    Ok(HistogramPlan { of_state, dims, axes, bins, lo, scale, range, from_steps, every_steps })
}

fn initial_plan(spec: &InitialSpec, mem: &Memories) -> SpecResult<InitialPlan> {
    Ok(match spec {
        InitialSpec::Normal { std } => {
            check_nonnegative("ensemble.initial.std", *std)?;
            InitialPlan::Normal { std: *std as f32 }
        }
        InitialSpec::Zero => InitialPlan::Point { x: vec![0.0; mem.n] },
        InitialSpec::Point { x } => {
            if x.len() != mem.n {
                return Err(SpecError::new(
                    "ensemble.initial.x",
                    format!("has {} entries; it must have N = {}", x.len(), mem.n),
                ));
            }
            check_all_finite("ensemble.initial.x", x)?;
            InitialPlan::Point { x: x.iter().map(|&v| v as f32).collect() }
        }
        InitialSpec::Memory { index, amplitude, jitter } => {
            if *index >= mem.p {
                return Err(SpecError::new(
                    "ensemble.initial.index",
                    format!("memory {index} does not exist; accepted: 0 to {}", mem.p - 1),
                ));
            }
            check_finite("ensemble.initial.amplitude", *amplitude)?;
            check_nonnegative("ensemble.initial.jitter", *jitter)?;
            InitialPlan::Memory { index: *index, amplitude: *amplitude as f32, jitter: *jitter as f32 }
        }
    })
}

/// The modern model's layers (None for the other models, whose spec must not carry them).
fn modern_plan(m: &ModelSpec, is_modern: bool, dt: f64) -> SpecResult<Option<ModernPlan>> {
    let given = [
        ("model.tau_alpha", m.tau_alpha.is_some()),
        ("model.tau_y", m.tau_y.is_some()),
        ("model.tau_x", m.tau_x.is_some()),
        ("model.psi_alpha", m.psi_alpha.is_some()),
        ("model.psi_y", m.psi_y.is_some()),
        ("model.sigma_alpha", m.sigma_alpha.is_some()),
        ("model.sigma_y", m.sigma_y.is_some()),
    ];
    if !is_modern {
        if let Some((field, _)) = given.iter().find(|g| g.1) {
            return Err(SpecError::new(*field, "is for model.kind \"modern\" only"));
        }
        return Ok(None);
    }
    if m.zero_diagonal {
        return Err(SpecError::new(
            "model.zero_diagonal",
            "the modern model has no diagonal to remove; leave it false",
        ));
    }
    let tau = |field: &str, v: Option<f64>, default: f64| -> SpecResult<f64> {
        let t = v.unwrap_or(default);
        check_nonnegative(field, t)?;
        if t > 1e6 {
            return Err(SpecError::new(field, format!("{t} is too large; accepted: 0 to 1e6")));
        }
        if t > 0.0 && dt / t > 1.0 {
            return Err(SpecError::new(
                field,
                format!(
                    "{t} is shorter than integrator.dt = {dt} (Euler would be unstable); use τ ≥ dt, or 0 for an instantaneous layer"
                ),
            ));
        }
        Ok(t)
    };
    let tau_alpha = tau("model.tau_alpha", m.tau_alpha, 0.0)?;
    let tau_y = tau("model.tau_y", m.tau_y, 0.0)?;
    let tau_x = tau("model.tau_x", m.tau_x, 1.0)?;
    if tau_x == 0.0 {
        return Err(SpecError::new("model.tau_x", "must be > 0: the feature layer carries the state"));
    }
    let psi_alpha_tanh = match m.psi_alpha.as_deref().unwrap_or("identity") {
        "identity" => false,
        "tanh" => true,
        other => {
            return Err(SpecError::new(
                "model.psi_alpha",
                format!("unknown activation '{other}'; accepted: \"identity\", \"tanh\""),
            ));
        }
    };
    let psi_y = match &m.psi_y {
        None => PsiY::Identity,
        Some(PsiYSpec::Name(n)) if n == "identity" => PsiY::Identity,
        Some(PsiYSpec::Name(n)) if n == "tanh" => PsiY::Tanh,
        Some(PsiYSpec::Softmax { softmax }) => {
            let b = softmax.beta;
            if !(b.is_finite() && b > 0.0 && b <= 1e4) {
                return Err(SpecError::new(
                    "model.psi_y.softmax.beta",
                    format!("{b} is not accepted; give 0 < β ≤ 1e4"),
                ));
            }
            PsiY::Softmax { beta: b as f32 }
        }
        Some(PsiYSpec::Name(other)) => {
            return Err(SpecError::new(
                "model.psi_y",
                format!(
                    "unknown activation '{other}'; accepted: \"identity\", \"tanh\", {{\"softmax\": {{\"beta\": 4.0}}}}"
                ),
            ));
        }
    };
    let noise = |field: &str, v: Option<f64>, t: f64| -> SpecResult<f32> {
        let s = v.unwrap_or(0.0);
        check_nonnegative(field, s)?;
        if s > 0.0 && t == 0.0 {
            return Err(SpecError::new(
                field,
                "needs the layer's time constant > 0 (an instantaneous layer has no noise)",
            ));
        }
        Ok(s as f32)
    };
    let sigma_alpha = noise("model.sigma_alpha", m.sigma_alpha, tau_alpha)?;
    let sigma_y = noise("model.sigma_y", m.sigma_y, tau_y)?;
    let rate = |t: f64| if t > 0.0 { (dt / t) as f32 } else { 0.0 };
    Ok(Some(ModernPlan {
        tau_alpha,
        tau_y,
        tau_x,
        psi_alpha_tanh,
        psi_y,
        sigma_alpha,
        sigma_y,
        rate_alpha: rate(tau_alpha),
        rate_y: rate(tau_y),
        noise_alpha: (sigma_alpha as f64 * dt.sqrt()) as f32,
        noise_y: (sigma_y as f64 * dt.sqrt()) as f32,
    }))
}

fn check_threshold(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{v} is not accepted; an overlap threshold must be in (0, 1]")))
    }
}

pub(crate) fn check_finite(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() { Ok(()) } else { Err(SpecError::new(field, "must be a finite number")) }
}

pub(crate) fn check_all_finite(field: &str, v: &[f64]) -> SpecResult<()> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(SpecError::new(format!("{field}[{i}]"), "must be a finite number")),
    }
}

pub(crate) fn check_positive(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{v} is not accepted; it must be a finite number > 0")))
    }
}

pub(crate) fn check_nonnegative(field: &str, v: f64) -> SpecResult<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(SpecError::new(field, format!("{v} is not accepted; it must be a finite number ≥ 0")))
    }
}

/// A duration as a whole number of steps of `dt` (within 1e-6 relative).
pub(crate) fn steps_of(field: &str, duration: f64, dt: f64) -> SpecResult<u32> {
    let k = duration / dt;
    let r = k.round();
    if (k - r).abs() > 1e-6 * r.max(1.0) || r < 1.0 {
        return Err(SpecError::new(field, format!("{duration} is not a whole number of time steps (dt = {dt})")));
    }
    if r > (u32::MAX - 1) as f64 {
        return Err(SpecError::new(field, format!("{duration} is more than 2^32 time steps")));
    }
    Ok(r as u32)
}
