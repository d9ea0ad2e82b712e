//! The JSON spec (docs/ARCHITECTURE.md, "The spec"): serde types that reject unknown fields,
//! with an enum for every closed set of strings, and the defaults. The `model` section keeps
//! its JSON, its rules and its plan together in [`model`]; for the other sections,
//! `crate::resolve` checks the values against each other and builds the
//! [`Plan`](crate::plan::Plan). `checks` holds the value checks every section's rules use.
//! Serialising a spec gives back the JSON it was read from (the resolved spec in run.json).

pub mod checks;
pub mod model;
pub mod observe;
pub mod whole;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use crate::error::{SpecError, SpecResult};
pub use model::{ActivationKind, ActivationSpec, ModelKind, ModelSpec, PsiYSpec};
pub use observe::{
    EnergySpec, FirstPassageSpec, HistogramOf, HistogramSpec, ObserveSpec, OccupancyEquilibria, OccupancyNorm,
    OccupancySpec, OverlapsSpec, RetrievalSpec,
};

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

fn one() -> f64 {
    1.0
}

/// Read by `Deserialize` below, which names the field an error is in.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MemoriesSpec {
    /// Sylvester–Hadamard columns (exactly orthogonal); `columns` default 0..p.
    Hadamard {
        n: usize,
        p: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<usize>>,
    },
    /// I.i.d. fair ±1 entries drawn from Philox keyed by `seed` (default 0).
    Random { n: usize, p: usize, seed: u64 },
    /// P rows of N entries ±1.
    Explicit { patterns: Vec<Vec<f64>> },
    /// An NPY file [P, N] of ±1 (any integer or float dtype); relative to the spec's folder.
    File { path: String },
}

impl<'de> Deserialize<'de> for MemoriesSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Hadamard,
            Random,
            Explicit,
            File,
        }
        struct Section;
        impl<'de> serde::de::Visitor<'de> for Section {
            type Value = MemoriesSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with a \"kind\" (hadamard, random, explicit or file)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<MemoriesSpec, A::Error> {
                use whole::{Whole, only, required, unwrap_list};
                let (kind, given, unknown, n, p, columns, seed, patterns, path) = whole::read_section!(map, Kind, {
                    "n" => n: Whole<usize>,
                    "p" => p: Whole<usize>,
                    "columns" => columns: Vec<Whole<usize>>,
                    "seed" => seed: Whole<u64>,
                    "patterns" => patterns: Vec<Vec<f64>>,
                    "path" => path: String,
                });
                let (n, p) = (n.map(|w| w.0), p.map(|w| w.0));
                Ok(match kind {
                    Kind::Hadamard => {
                        only("hadamard", &given, &unknown, &["n", "p", "columns"])?;
                        let columns = columns.map(unwrap_list);
                        MemoriesSpec::Hadamard { n: required(n, "n")?, p: required(p, "p")?, columns }
                    }
                    Kind::Random => {
                        only("random", &given, &unknown, &["n", "p", "seed"])?;
                        let seed = seed.map_or(0, |w| w.0);
                        MemoriesSpec::Random { n: required(n, "n")?, p: required(p, "p")?, seed }
                    }
                    Kind::Explicit => {
                        only("explicit", &given, &unknown, &["patterns"])?;
                        MemoriesSpec::Explicit { patterns: required(patterns, "patterns")? }
                    }
                    Kind::File => {
                        only("file", &given, &unknown, &["path"])?;
                        MemoriesSpec::File { path: required(path, "path")? }
                    }
                })
            }
        }
        d.deserialize_map(Section)
    }
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
    /// The trajectory's own corrupted cue as the input: u = amplitude · (ξ^index with a
    /// fraction of its signs flipped), per trajectory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cue: Option<CueSpec>,
}

/// A cue input (docs/THEORY.md §14): u = amplitude · ξ^index ⊙ s, with s the signs of the
/// trajectory's cue. Without `index`, the memory the initial state cues; without `flip`, the
/// initial state's flipped signs (the same corrupted pattern), or none when the initial state
/// is not a memory cue. With `flip`, the segment draws its own signs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CueSpec {
    /// A memory index or "random" (drawn per trajectory); absent: the initial state's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<MemoryChoice>,
    #[serde(default = "one")]
    pub amplitude: f64,
    /// The fraction of signs this segment flips with its own draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip: Option<f64>,
}

/// Per-trajectory random input weights (docs/THEORY.md §6): every memory's weight is drawn from
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
    pub dominant_memory: Option<MemoryChoice>,
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
    Some(NormalizeSum::SqrtPn)
}

/// What the random weights sum to: "sqrt_pn" (√(PN)) or a number.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "Value", into = "Value")]
pub enum NormalizeSum {
    SqrtPn,
    Value(f64),
}

impl TryFrom<Value> for NormalizeSum {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        match (v.as_str(), v.as_f64()) {
            (Some("sqrt_pn"), _) => Ok(NormalizeSum::SqrtPn),
            (_, Some(x)) => Ok(NormalizeSum::Value(x)),
            _ => Err(format!("{v} is not accepted; give \"sqrt_pn\", a number in (0, 1e6] or null")),
        }
    }
}

impl From<NormalizeSum> for Value {
    fn from(n: NormalizeSum) -> Value {
        match n {
            NormalizeSum::SqrtPn => json!("sqrt_pn"),
            NormalizeSum::Value(x) => json!(x),
        }
    }
}

/// A memory index, or a rule that picks one: "random" (drawn per trajectory, for random
/// weights) or "target" (the segment's dominant memory, for first passage).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(try_from = "Value", into = "Value")]
pub enum MemoryChoice {
    Index(usize),
    Random,
    Target,
}

impl TryFrom<Value> for MemoryChoice {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        match (v.as_str(), whole::of_value(&v).and_then(|i| usize::try_from(i).ok())) {
            (Some("random"), _) => Ok(MemoryChoice::Random),
            (Some("target"), _) => Ok(MemoryChoice::Target),
            (_, Some(i)) => Ok(MemoryChoice::Index(i)),
            _ => Err(format!("{v} is not accepted; give a memory index, \"random\" or \"target\"")),
        }
    }
}

impl From<MemoryChoice> for Value {
    fn from(m: MemoryChoice) -> Value {
        match m {
            MemoryChoice::Index(i) => json!(i),
            MemoryChoice::Random => json!("random"),
            MemoryChoice::Target => json!("target"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// Additive noise amplitude σ; default 0.
    #[serde(default)]
    pub sigma: f64,
    /// The noise increments of the state: exact Gaussian (default) or two-point ±√dt.
    #[serde(default, skip_serializing_if = "Increments::is_gaussian")]
    pub increments: Increments,
}

impl Default for NoiseSpec {
    fn default() -> Self {
        NoiseSpec { sigma: 0.0, increments: Increments::Gaussian }
    }
}

/// The increments ΔW of the state's noise in one step (docs/THEORY.md §13): exact Gaussian
/// N(0, dt), or two-point ±√dt with probability ½ each (the simplified weak Euler scheme: the
/// same weak order 1, so ensemble statistics converge alike as dt → 0; individual paths do not).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Increments {
    #[default]
    Gaussian,
    TwoPoint,
}

impl Increments {
    pub fn is_gaussian(&self) -> bool {
        *self == Increments::Gaussian
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntegratorSpec {
    #[serde(default)]
    pub scheme: Scheme,
    /// Time step; default 0.01.
    #[serde(default = "default_dt")]
    pub dt: f64,
}

/// The integration scheme: only "euler_maruyama".
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    #[default]
    EulerMaruyama,
}

fn default_dt() -> f64 {
    0.01
}

impl Default for IntegratorSpec {
    fn default() -> Self {
        IntegratorSpec { scheme: Scheme::EulerMaruyama, dt: default_dt() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    #[serde(deserialize_with = "whole::int")]
    pub trajectories: u64,
    #[serde(default, deserialize_with = "whole::int")]
    pub seed: u64,
    #[serde(default)]
    pub initial: InitialSpec,
}

/// Read by `Deserialize` below, which names the field an error is in.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InitialSpec {
    /// x(0) ~ N(0, std² I); std default 1.
    Normal {
        std: f64,
    },
    Zero {},
    /// Every trajectory starts at x.
    Point {
        x: Vec<f64>,
    },
    /// x(0) = amplitude · (ξ^index with a fraction `flip` of its signs flipped) + jitter ·
    /// N(0, I); index "target": the trajectory's target in the first segment.
    /// (`jitter` may be written `std`; amplitude default 1, jitter and flip default 0.)
    Memory {
        index: MemoryChoice,
        amplitude: f64,
        jitter: f64,
        #[serde(skip_serializing_if = "is_zero")]
        flip: f64,
    },
}

impl<'de> Deserialize<'de> for InitialSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Normal,
            Zero,
            Point,
            Memory,
        }
        struct Section;
        impl<'de> serde::de::Visitor<'de> for Section {
            type Value = InitialSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with a \"kind\" (normal, zero, point or memory)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<InitialSpec, A::Error> {
                use whole::{only, required};
                let (kind, given, unknown, std, x, index, amplitude, jitter, flip) = whole::read_section!(map, Kind, {
                    "std" => std: f64,
                    "x" => x: Vec<f64>,
                    "index" => index: MemoryChoice,
                    "amplitude" => amplitude: f64,
                    "jitter" => jitter: f64,
                    "flip" => flip: f64,
                });
                Ok(match kind {
                    Kind::Normal => {
                        only("normal", &given, &unknown, &["std"])?;
                        InitialSpec::Normal { std: std.unwrap_or(1.0) }
                    }
                    Kind::Zero => {
                        only("zero", &given, &unknown, &[])?;
                        InitialSpec::Zero {}
                    }
                    Kind::Point => {
                        only("point", &given, &unknown, &["x"])?;
                        InitialSpec::Point { x: required(x, "x")? }
                    }
                    Kind::Memory => {
                        only("memory", &given, &unknown, &["index", "amplitude", "jitter", "std", "flip"])?;
                        if jitter.is_some() && std.is_some() {
                            return Err(serde::de::Error::custom(
                                "give `jitter` or its other name `std`, not both (kind \"memory\")",
                            ));
                        }
                        InitialSpec::Memory {
                            index: required(index, "index")?,
                            amplitude: amplitude.unwrap_or(1.0),
                            jitter: jitter.or(std).unwrap_or(0.0),
                            flip: flip.unwrap_or(0.0),
                        }
                    }
                })
            }
        }
        d.deserialize_map(Section)
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Default for InitialSpec {
    fn default() -> Self {
        InitialSpec::Normal { std: 1.0 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    #[serde(default)]
    pub backend: BackendChoice,
    /// Pick the first adapter whose name contains this (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    #[serde(default)]
    pub layout: LayoutChoice,
    /// Steps per kernel dispatch (default: sized automatically). Never changes results.
    #[serde(default, deserialize_with = "whole::opt", skip_serializing_if = "Option::is_none")]
    pub steps_per_dispatch: Option<u32>,
    /// Trajectories per chunk (default: as many as the device allows; rounded to a multiple of
    /// 64). Never changes results.
    #[serde(default, deserialize_with = "whole::opt", skip_serializing_if = "Option::is_none")]
    pub chunk_trajectories: Option<u64>,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            backend: BackendChoice::Auto,
            adapter: None,
            layout: LayoutChoice::Auto,
            steps_per_dispatch: None,
            chunk_trajectories: None,
        }
    }
}

/// Where to integrate: "auto" (the device a cost model expects to answer first: a GPU or the
/// CPU fast path), "gpu", "cpu" (the reference) or "cpu_fast" (the reference's arithmetic with
/// matrix-product fields over tiles of trajectories).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    #[default]
    Auto,
    Gpu,
    Cpu,
    CpuFast,
}

impl BackendChoice {
    /// The accepted values, as errors list them.
    pub const ACCEPTED: &'static str = "auto, gpu, cpu, cpu_fast";
}

/// GPU work layout: "auto", "thread" (one invocation per trajectory), "group" (one workgroup
/// per trajectory) or "tile" (one workgroup per tile of trajectories, whose fields and overlaps
/// are matrix products; `gpu::kernels::Layout`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LayoutChoice {
    #[default]
    Auto,
    Thread,
    Group,
    Tile,
}

impl LayoutChoice {
    /// The accepted values, as errors list them.
    pub const ACCEPTED: &'static str = "auto, thread, group, tile";
}

impl Spec {
    /// Parses JSON, naming the path of the offending field on error. The text must be one JSON
    /// object and nothing else (a list in its place, or a second value after it, is refused).
    pub fn from_json(text: &str) -> SpecResult<Spec> {
        if !text.trim_start().starts_with('{') {
            return Err(SpecError::new("spec", "must be one JSON object ({ ... }) holding the spec's sections"));
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let spec: Spec = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = match (path.as_str(), whole::unknown_field(&message)) {
                (".", _) => "spec".to_string(),
                (_, Some(name)) => format!("{path}.{name}"),
                _ => path,
            };
            // serde_json appends " at line L column C"; keep it, it helps in a big file.
            SpecError::new(field, message)
        })?;
        de.end().map_err(|e| {
            SpecError::new("spec", format!("has more after its closing brace ({e}); give one JSON object"))
        })?;
        Ok(spec)
    }

    /// The seed of random memories; None for memories that have none.
    pub fn memories_seed(&self) -> Option<u64> {
        match self.memories {
            MemoriesSpec::Random { seed, .. } => Some(seed),
            _ => None,
        }
    }
}
