//! Validation and resolution: a [`Spec`] checked value by value and turned into a [`Plan`].
//! One resolver per spec section, each with its own rules and messages (the model section's
//! rules sit with its JSON and plan, in `spec::model`); every error names the dotted path of
//! the field and what is accepted. Nothing downstream re-checks a plan.

pub mod input;
pub mod limits;
pub mod memories;
pub mod occupancy;

use std::path::Path;

use crate::error::{SpecError, SpecResult};
use crate::plan::{EnsemblePlan, InitialPlan, InputPlan, Memories, Model, NoisePlan, Plan, RunPlan, TimePlan};
use crate::spec::checks::{check_all_finite, check_finite, check_nonnegative, check_positive};
use crate::spec::observe::Context as ObserveContext;
use crate::spec::observe::occupancy::MAX_OCCUPANCY_COUNTS;
use crate::spec::{InitialSpec, MemoriesSpec, MemoryChoice, RunSpec, Spec};

/// Validates every value of `spec` and builds its plan. `base_dir` resolves relative file
/// paths (the spec file's folder).
pub fn plan(spec: &Spec, base_dir: &Path) -> SpecResult<Plan> {
    // The name titles every picture and report.
    if spec.name.chars().count() > limits::MAX_NAME_CHARS || spec.name.chars().any(char::is_control) {
        return Err(SpecError::new(
            "name",
            format!("is not accepted; give at most {} printable characters", limits::MAX_NAME_CHARS),
        ));
    }
    spec.model.check_activation()?;
    let memories = memories::build(&spec.memories, base_dir)?;
    let (n, p) = (memories.n, memories.p);
    let dt = spec.integrator.dt;
    check_positive("integrator.dt", dt)?;
    if dt > 1.0 {
        return Err(SpecError::new(
            "integrator.dt",
            format!("{dt} is too large for Euler–Maruyama on this model; use dt ≤ 1"),
        ));
    }
    let sigma = spec.noise.sigma;
    check_nonnegative("noise.sigma", sigma)?;
    let model = spec.model.resolve(dt)?;

    let ensemble = ensemble(spec, &memories)?;
    if matches!(model.model, Model::Modern(_))
        && let Some(k) = spec.input.segments.iter().position(|s| s.cue.is_some())
    {
        return Err(SpecError::new(
            format!("input.segments[{k}].cue"),
            "is for the classic and IDP models; the modern model takes \"weights\", \"saliency\", \"vector\" or \"random_weights\"",
        ));
    }
    let gram = memories::gram(&spec.memories, &memories);
    let mut segments = input::build(&spec.input, model.coupling(), &memories, &gram, dt, &ensemble.initial)?;
    let total_steps: u64 = segments.iter().map(|s| s.steps as u64).sum();
    if total_steps > (u32::MAX - 1) as u64 {
        return Err(SpecError::new(
            "input.segments",
            format!("the run has {total_steps} steps; at most {} are supported", u32::MAX - 1),
        ));
    }
    let time = TimePlan { dt: dt as f32, dt_f64: dt, total_steps: total_steps as u32 };
    if let InitialPlan::Memory { index, .. } = &ensemble.initial {
        let untargeted = |s: &crate::plan::SegmentPlan| s.target.is_none() && !s.draws_target();
        match index {
            // The cued memory is the trajectory's target wherever the input names none.
            Some(mu) => {
                for s in segments.iter_mut().filter(|s| untargeted(s)) {
                    s.target = Some(*mu as u32);
                }
            }
            None if untargeted(&segments[0]) => {
                return Err(SpecError::new(
                    "ensemble.initial.index",
                    "\"target\" needs a target in the first input segment (random_weights, or weights with a dominant memory); or give a memory index",
                ));
            }
            None => {}
        }
    }
    let segment_steps: Vec<u32> = segments.iter().map(|s| s.steps).collect();
    let cx = ObserveContext { model: &model, n, p, dt, total_steps: time.total_steps, segment_steps: &segment_steps };
    let observe = spec.observe.resolve(&cx)?;
    let run = run(&spec.run)?;

    let mut record = spec.clone();
    record.model.record(&model);
    record.observe.record(&observe, dt);
    for (k, seg) in record.input.segments.iter_mut().enumerate() {
        if let Some(rw) = seg.random_weights.as_mut()
            && rw.dominant_memory.is_none()
        {
            rw.dominant_memory = Some(MemoryChoice::Index(k % p));
        }
    }
    if let MemoriesSpec::Hadamard { columns, p, .. } = &mut record.memories
        && columns.is_none()
    {
        *columns = Some((0..*p).collect());
    }
    // A memories file is recorded by its absolute path, so the recorded spec (what merge and
    // reruns rebuild the plan from) does not depend on where it is read.
    if let MemoriesSpec::File { path } = &mut record.memories
        && let Ok(abs) = base_dir.join(&*path).canonicalize()
    {
        *path = abs.display().to_string();
    }
    let gram = gram.iter().map(|&g| g as f32).collect();
    let mut plan = Plan {
        spec: record,
        model,
        memories,
        input: InputPlan { segments, gram },
        noise: NoisePlan { sigma: sigma as f32, two_point: spec.noise.increments == crate::spec::Increments::TwoPoint },
        time,
        ensemble,
        observe,
        run,
    };
    let equilibria = occupancy::equilibria(&plan)?;
    if let Some(occ) = plan.observe.occupancy.as_mut() {
        occ.equilibria = equilibria;
        let counts = occ.counts() as u64;
        if counts > MAX_OCCUPANCY_COUNTS {
            return Err(SpecError::new(
                "observe.occupancy.every",
                format!(
                    "{} counts × {} slots is more than {}; count less often",
                    occ.rows,
                    occ.slots(),
                    MAX_OCCUPANCY_COUNTS
                ),
            ));
        }
    }
    Ok(plan)
}

/// The `ensemble` section.
fn ensemble(spec: &Spec, mem: &Memories) -> SpecResult<EnsemblePlan> {
    let e = &spec.ensemble;
    if e.trajectories == 0 || e.trajectories > u32::MAX as u64 {
        return Err(SpecError::new(
            "ensemble.trajectories",
            format!("{} is out of range; accepted: 1 to {}", e.trajectories, u32::MAX),
        ));
    }
    Ok(EnsemblePlan {
        trajectories: e.trajectories,
        first: 0,
        total: e.trajectories,
        shard: None,
        seed: e.seed,
        initial: initial(&e.initial, mem)?,
    })
}

/// The `run` section.
fn run(r: &RunSpec) -> SpecResult<RunPlan> {
    if r.steps_per_dispatch == Some(0) {
        return Err(SpecError::new("run.steps_per_dispatch", "must be at least 1"));
    }
    if r.chunk_trajectories == Some(0) {
        return Err(SpecError::new("run.chunk_trajectories", "must be at least 1"));
    }
    if let Some(a) = &r.adapter {
        // An empty part would match every adapter's name (and open one device per comma).
        if a.trim().is_empty() || (a.trim() != "all" && a.split(',').any(|item| item.trim().is_empty())) {
            return Err(SpecError::new(
                "run.adapter",
                format!(
                    "'{a}' has an empty name; accepted: an adapter's index or part of its name (as `idpsim devices` lists them), 'all', or a comma-separated list of those"
                ),
            ));
        }
        if matches!(r.backend, crate::plan::BackendChoice::Cpu | crate::plan::BackendChoice::CpuFast) {
            return Err(SpecError::new(
                "run.adapter",
                format!("'{a}' names GPU devices, but the backend is a CPU one; drop it, or use backend gpu or auto"),
            ));
        }
    }
    Ok(RunPlan {
        backend: r.backend,
        adapter: r.adapter.clone(),
        layout: r.layout,
        steps_per_dispatch: r.steps_per_dispatch,
        chunk_trajectories: r.chunk_trajectories,
    })
}

fn initial(spec: &InitialSpec, mem: &Memories) -> SpecResult<InitialPlan> {
    Ok(match spec {
        InitialSpec::Normal { std } => {
            check_nonnegative("ensemble.initial.std", *std)?;
            InitialPlan::Normal { std: *std as f32 }
        }
        InitialSpec::Zero {} => InitialPlan::Point { x: vec![0.0; mem.n] },
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
        InitialSpec::Memory { index, amplitude, jitter, flip } => {
            let index = match index {
                MemoryChoice::Index(i) if *i < mem.p => Some(*i),
                MemoryChoice::Index(i) => {
                    return Err(SpecError::new(
                        "ensemble.initial.index",
                        format!("memory {i} does not exist; accepted: 0 to {}, or \"target\"", mem.p - 1),
                    ));
                }
                MemoryChoice::Target => None,
                MemoryChoice::Random => {
                    return Err(SpecError::new(
                        "ensemble.initial.index",
                        "\"random\" is not accepted here; accepted: a memory index, or \"target\" (the trajectory's target in the first segment)",
                    ));
                }
            };
            check_finite("ensemble.initial.amplitude", *amplitude)?;
            check_nonnegative("ensemble.initial.jitter", *jitter)?;
            if !(0.0..=1.0).contains(flip) {
                return Err(SpecError::new(
                    "ensemble.initial.flip",
                    format!("{flip} is not a fraction; accepted: 0 to 1 (the share of the memory's signs flipped)"),
                ));
            }
            InitialPlan::Memory { index, amplitude: *amplitude as f32, jitter: *jitter as f32, flip: *flip as f32 }
        }
    })
}
