//! Running a spec, as the command line and the Python module both do: one run (into a
//! directory, or kept in memory), one shard of a run, every point of a sweep, or the rest of a
//! checkpointed run. A front end builds a [`Job`] from its arguments, runs it, and words the
//! outcome and the errors in its own terms (see [`crate::error::Words`]); everything between
//! (the options applied to the spec, the directory's lock and clearing, the device chosen, a
//! run already done, checkpoints) happens here, once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use serde_json::Value;

use crate::backend::same_device;
use crate::checkpoint;
use crate::engine::{self, Backend, Backends, Checkpointing, RunSummary, Watch};
use crate::error::{Input, SpecError, UsageError, mention};
use crate::gpu::GpuBackend;
use crate::outputs::Store;
use crate::outputs::manifest;
use crate::plan::{BackendChoice, Plan};
use crate::spec::Spec;
use crate::sweep::{self, Axis, Point, PointResult};
use crate::{io, presets, resolve};

/// The options that override spec values (`--backend`, `--adapter`, `--trajectories`,
/// `--seed` on the command line; the keywords of the same names in Python).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub backend: Option<String>,
    pub adapter: Option<String>,
    pub trajectories: Option<u64>,
    pub seed: Option<u64>,
}

impl Options {
    /// Writes the options into `spec`.
    pub fn apply(&self, spec: &mut Spec) -> Result<(), UsageError> {
        if let Some(b) = &self.backend {
            spec.run.backend = serde_json::from_value::<BackendChoice>(serde_json::json!(b)).map_err(|_| {
                UsageError::new(Input::Backend, format!("unknown backend '{b}'; accepted: {}", BackendChoice::ACCEPTED))
            })?;
        }
        if let Some(a) = &self.adapter {
            spec.run.adapter = Some(a.clone());
        }
        if let Some(m) = self.trajectories {
            spec.ensemble.trajectories = m;
        }
        if let Some(s) = self.seed {
            spec.ensemble.seed = s;
        }
        Ok(())
    }

    /// Refuses an option that sets a field a sweep axis sets: the option would override every
    /// point's value, and the points would differ only in their labels.
    fn refuse_swept(&self, axes: &[Axis]) -> Result<(), UsageError> {
        let set = [
            (self.trajectories.is_some(), Input::Trajectories, "ensemble.trajectories"),
            (self.seed.is_some(), Input::Seed, "ensemble.seed"),
            (self.backend.is_some(), Input::Backend, "run.backend"),
            (self.adapter.is_some(), Input::Adapter, "run.adapter"),
        ];
        for (given, input, field) in set {
            if !given {
                continue;
            }
            for axis in axes {
                let hit = axis.values.iter().flat_map(|v| &v.set).find(|(path, _)| {
                    field == path || field.starts_with(&format!("{path}.")) || path.starts_with(&format!("{field}."))
                });
                if let Some((path, _)) = hit {
                    return Err(UsageError::new(
                        input,
                        format!(
                            "the sweep sets {path} (axis '{}'), which this option would override at every point; drop the option or the axis",
                            axis.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A spec error, named by the option that set its field when one did.
    fn name(&self, e: SpecError) -> anyhow::Error {
        let input = match e.field.as_str() {
            "ensemble.trajectories" if self.trajectories.is_some() => Input::Trajectories,
            "ensemble.seed" if self.seed.is_some() => Input::Seed,
            "run.backend" if self.backend.is_some() => Input::Backend,
            "run.adapter" if self.adapter.is_some() => Input::Adapter,
            _ => return e.into(),
        };
        UsageError::new(input, format!("{} ({})", e.message, e.field)).into()
    }
}

/// One spec to run, and how.
#[derive(Debug, Clone)]
pub struct Job {
    /// The spec, with or without a sweep.
    pub spec: Spec,
    /// The folder the spec's relative paths are read from.
    pub base: PathBuf,
    pub options: Options,
    /// Where the outputs go; None keeps them in memory.
    pub out: Option<PathBuf>,
    /// Write into a non-empty `out`, clearing an earlier run's files and checkpoint first.
    pub force: bool,
    /// Run only shard I of N of the ensemble.
    pub shard: Option<(u64, u64)>,
    /// Keep a checkpoint in `out` every so much model time.
    pub checkpoint_every: Option<f64>,
}

/// What a run produced.
pub enum RunOutcome {
    /// Written into the job's directory.
    Written(RunSummary),
    /// The directory already held this run, complete and intact: nothing was done.
    AlreadyThere,
    /// Kept in memory, with what run.json would record of it (see [`run_info`]).
    InMemory { store: Box<Store>, info: Value },
}

/// What a sweep produced: every point's result in order, and, for a sweep kept in memory, each
/// point's outputs (None for a point that failed).
pub struct SweepOutcome {
    pub name: String,
    pub axes: Vec<Axis>,
    pub results: Vec<PointResult>,
    pub kept: Vec<Option<(Store, Value)>>,
    /// Points that failed.
    pub failed: usize,
    pub wall_s: f64,
}

/// A sweep's points and their plans, in order.
pub type SweepPlans = Vec<(Point, Plan)>;

/// What a front end hears of a sweep beyond its progress (counted over the whole sweep).
pub trait SweepWatch: Watch {
    /// Point `point` of `count` (described as `what`) starts.
    fn point_starts(&mut self, _point: &Point, _count: usize, _what: &str) -> Result<()> {
        Ok(())
    }
    /// The point has ended, as `outcome` says.
    fn point_ends(&mut self, _point: &Point, _count: usize, _what: &str, _outcome: &Result<RunSummary>) {}
    /// Whether a point's error stops the whole sweep (a signal, a caller's interrupt) instead
    /// of being that point's.
    fn stops(&self, e: &anyhow::Error) -> bool {
        e.downcast_ref::<crate::interrupt::Interrupted>().is_some()
    }
}

impl Job {
    /// A job that runs `spec` (relative paths read from `base`) in memory, with no options.
    pub fn new(spec: Spec, base: impl Into<PathBuf>) -> Job {
        Job {
            spec,
            base: base.into(),
            options: Options::default(),
            out: None,
            force: false,
            shard: None,
            checkpoint_every: None,
        }
    }

    /// The spec holds a sweep.
    pub fn is_sweep(&self) -> bool {
        self.spec.sweep.is_some()
    }

    /// The plan of a spec without a sweep: the options applied, resolved, the shard taken.
    pub fn plan(&self) -> Result<Plan> {
        if self.is_sweep() {
            return Err(SpecError::new("sweep", "this spec is a sweep; run it as one").into());
        }
        let mut spec = self.spec.clone();
        self.options.apply(&mut spec)?;
        let mut plan = resolve::plan(&spec, &self.base).map_err(|e| self.options.name(e))?;
        if let Some((i, n)) = self.shard {
            plan.apply_shard(i, n).map_err(|e| UsageError::new(Input::Shard, e.to_string()))?;
        }
        Ok(plan)
    }

    /// Runs a spec without a sweep, into the job's directory or in memory.
    pub fn run(&self, watch: &mut dyn Watch) -> Result<RunOutcome> {
        let plan = self.plan()?;
        let Some(out) = &self.out else {
            if self.checkpoint_every.is_some() {
                return Err(UsageError::new(Input::CheckpointEvery, "a run kept in memory is not checkpointed").into());
            }
            let mut backends = open_backends(&plan)?;
            crate::notice::emit(&format!("on {}", engine::describe(&backends).1));
            let start = Instant::now();
            let store = engine::simulate_many(&plan, &mut backends, Store::memory(), watch)?;
            let (kind, adapter) = engine::describe(&backends);
            let mut info = run_info(&plan, kind, &adapter, start.elapsed().as_secs_f64(), &store);
            if let [b] = &backends[..] {
                provenance(&mut info, b.as_ref());
            }
            store.say_warnings();
            return Ok(RunOutcome::InMemory { store: Box::new(store), info });
        };
        let every_steps = self.checkpoint_every.map(|t| checkpoint_steps(t, &plan)).transpose()?;
        manifest::refuse_inside_run(out)?;
        Ok(match run_into(&plan, out, self.force, every_steps, watch)? {
            Some(summary) => RunOutcome::Written(summary),
            None => RunOutcome::AlreadyThere,
        })
    }

    /// Every point of the sweep, resolved (each with the options), in order.
    pub fn sweep_plans(&self) -> Result<(Vec<Axis>, SweepPlans)> {
        let mut spec = self.spec.clone();
        let Some(map) = spec.sweep.take() else {
            return Err(SpecError::new("sweep", "this spec has no sweep; run it as one run").into());
        };
        if self.shard.is_some() {
            return Err(UsageError::new(
                Input::Shard,
                "a sweep is not sharded; run its points as separate jobs (one spec per point) instead",
            )
            .into());
        }
        if self.checkpoint_every.is_some() {
            return Err(UsageError::new(
                Input::CheckpointEvery,
                "a sweep is not checkpointed; run its points as separate jobs (one spec per point) to checkpoint them",
            )
            .into());
        }
        self.options.apply(&mut spec)?;
        let axes = sweep::axes(&map)?;
        self.options.refuse_swept(&axes)?;
        let doc = serde_json::to_value(&spec)?;
        let mut plans = Vec::new();
        for pt in sweep::points(&doc, &axes)? {
            let mut s = pt.spec.clone();
            self.options.apply(&mut s)?;
            let plan = resolve::plan(&s, &self.base).map_err(|e| {
                let at = format!("(sweep point {}: {})", pt.index, sweep::describe(&axes, &pt.coords));
                self.options.name(SpecError::new(e.field, format!("{} {at}", e.message)))
            })?;
            plans.push((pt, plan));
        }
        Ok((axes, plans))
    }

    /// Runs every point of the sweep (each validated before the first runs) into
    /// sub-directories of the job's directory, then writes the sweep's table, pictures and
    /// report there; or keeps every point in memory. A point that fails is recorded as failed
    /// and the sweep goes on, unless `watch` says its error stops the sweep.
    pub fn run_sweep(&self, watch: &mut dyn SweepWatch) -> Result<SweepOutcome> {
        let (axes, plans) = self.sweep_plans()?;
        let points: Vec<Point> = plans.iter().map(|(pt, _)| pt.clone()).collect();
        if let Some(dir) = &self.out {
            manifest::refuse_inside_run(dir)?;
        }
        let _lock = match &self.out {
            Some(dir) => {
                let lock = manifest::claim(dir, self.force, |d| sweep::clear_previous(d, &points))?;
                // As a run's directory: INCOMPLETE until every point has finished.
                manifest::mark_sweep_incomplete(dir)?;
                Some(lock)
            }
            None => None,
        };
        let started = Instant::now();
        let count = plans.len();
        let total = plans.iter().map(|(_, p)| work(p)).sum();
        // One backend per device, reused by every point (kernels are rebuilt only when a
        // point's constants differ); `auto` chooses per point, since the best device depends
        // on its size.
        let mut pool = crate::choose::Pool::default();
        let (mut results, mut kept) = (Vec::with_capacity(count), Vec::with_capacity(count));
        let mut adapter = String::new();
        let mut offset = 0;
        for (point, plan) in plans {
            let what = sweep::describe(&axes, &point.coords);
            watch.point_starts(&point, count, &what)?;
            let mut progress = Cumulative { inner: &mut *watch, offset, total };
            let start = Instant::now();
            let outcome = pool.backend(&plan).and_then(|b| {
                adapter = b.adapter();
                match &self.out {
                    Some(dir) => {
                        engine::run_to_dir_with(&plan, b, &dir.join(&point.dir), &mut progress).map(|s| (s, None))
                    }
                    None => engine::simulate_with(&plan, b, Store::memory(), &mut progress).map(|store| {
                        let wall_s = start.elapsed().as_secs_f64();
                        let mut info = run_info(&plan, b.kind(), &b.adapter(), wall_s, &store);
                        provenance(&mut info, b);
                        store.say_warnings();
                        let summary = in_memory_summary(&plan, &b.adapter(), wall_s, &store);
                        (summary, Some((store, info)))
                    }),
                }
            });
            offset += work(&plan);
            let (summary, store) = match outcome {
                Ok((s, store)) => (Ok(s), store),
                Err(e) => (Err(e), None),
            };
            watch.point_ends(&point, count, &what, &summary);
            let summary = match summary {
                Err(e) if watch.stops(&e) => return Err(e),
                other => other,
            };
            results.push(PointResult { point, plan, outcome: summary.map_err(|e| format!("{e:#}")) });
            kept.push(store);
        }
        let wall_s = started.elapsed().as_secs_f64();
        let failed = match &self.out {
            Some(dir) => {
                let failed = sweep::summarise(&self.spec.name, &axes, &results, dir, wall_s, &adapter)?;
                if failed == 0 {
                    manifest::mark_complete(dir)?;
                }
                failed
            }
            None => results.iter().filter(|r| r.outcome.is_err()).count(),
        };
        Ok(SweepOutcome { name: self.spec.name.clone(), axes, results, kept, failed, wall_s })
    }
}

/// A sweep's progress as one run's: every point's trajectory-steps counted after those of the
/// points before it, against the whole sweep's total.
struct Cumulative<'a> {
    inner: &'a mut dyn SweepWatch,
    offset: u64,
    total: u64,
}

impl Watch for Cumulative<'_> {
    fn progress(&mut self, done: u64, _total: u64) -> Result<()> {
        self.inner.progress(self.offset + done, self.total)
    }
}

/// Trajectory-steps of a plan: what its progress counts to.
pub fn work(plan: &Plan) -> u64 {
    plan.ensemble.trajectories * plan.time.total_steps as u64
}

/// The summary of a run kept in memory (as a directory's, without files).
fn in_memory_summary(plan: &Plan, adapter: &str, wall_s: f64, store: &Store) -> RunSummary {
    let steps = work(plan) as f64;
    RunSummary {
        adapter: adapter.to_string(),
        wall_s,
        trajectory_steps_per_s: steps / wall_s,
        neuron_steps_per_s: steps * plan.n() as f64 / wall_s,
        files: store.files.clone(),
        out: PathBuf::new(),
        findings: store.findings.clone(),
    }
}

/// run.json's fields for a run kept in memory (what a directory's run.json would hold, but
/// its file list and manifest).
pub fn run_info(plan: &Plan, kind: &str, adapter: &str, wall_s: f64, store: &Store) -> Value {
    let mut info = engine::head_of(plan, kind, adapter, wall_s, &store.timing);
    if let Value::Object(map) = &mut info {
        crate::outputs::manifest::add_summaries(map, store);
    }
    info
}

/// What run.json records of the backend beyond its name: the kernels built for the run and,
/// under `auto`, the choice and why.
pub fn provenance(info: &mut Value, b: &dyn Backend) {
    info["kernel_builds"] = serde_json::to_value(b.kernel_builds()).unwrap_or_default();
    if let Some(c) = b.choice() {
        info["backend_choice"] = c;
    }
}

/// Opens the backend a plan asks for (`auto`: see [`crate::choose`]).
pub fn open_backend(plan: &Plan) -> Result<Box<dyn Backend + Send>> {
    crate::choose::open(plan)
}

/// The backends a plan runs on: several GPU devices for an adapter list (or `all`), else one
/// (see [`open_backend`]).
pub fn open_backends(plan: &Plan) -> Result<Backends> {
    match plan.run.adapter.as_deref() {
        Some(list) if crate::gpu::context::is_many(list) => {
            if matches!(plan.run.backend, BackendChoice::Cpu | BackendChoice::CpuFast) {
                return Err(UsageError::new(
                    Input::Adapter,
                    format!(
                        "'{list}' names GPU devices, but the backend is a CPU one; use {} gpu or auto",
                        mention(&Input::Backend)
                    ),
                )
                .into());
            }
            let contexts = crate::gpu::context::GpuContext::many(list)?;
            Ok(contexts.into_iter().map(|c| Box::new(GpuBackend::from_context(c)) as Box<dyn Backend + Send>).collect())
        }
        _ => Ok(vec![open_backend(plan)?]),
    }
}

/// Runs `plan` into `out`: nothing to do (None) if `out` already holds this run, complete and
/// intact (unless `force`); otherwise under `out`'s lock, refusing a directory that holds
/// anything else unless `force` (which clears the earlier run's files and checkpoint first),
/// with a checkpoint every `every_steps` steps if given.
pub fn run_into(
    plan: &Plan,
    out: &Path,
    force: bool,
    every_steps: Option<u32>,
    watch: &mut dyn Watch,
) -> Result<Option<RunSummary>> {
    // Under `auto`, a directory holding a run of this spec is that run's device's: its choice
    // is kept, so that a resubmitted job finds its run done instead of another device's run.
    let recorded = (!force && plan.run.backend == BackendChoice::Auto)
        .then(|| std::fs::read_to_string(out.join(manifest::RUN_JSON)).ok())
        .flatten()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|run| run["backend"].as_str().map(str::to_owned));
    let pinned = recorded.as_deref().and_then(|kind| pin_backend(plan, kind));
    let plan = pinned.as_ref().unwrap_or(plan);
    let mut backends = open_backends(plan)?;
    for b in &backends {
        b.check(plan)?;
    }
    let (kind, adapter) = engine::describe(&backends);
    if !force && already_done(plan, out, (kind, &adapter))? {
        return Ok(None);
    }
    if backends.len() > 1 && every_steps.is_some() {
        return Err(UsageError::new(
            Input::CheckpointEvery,
            format!("a run over several adapters is not checkpointed; give one {}", mention(&Input::Adapter)),
        )
        .into());
    }
    if !force && checkpoint::exists(out) {
        return Err(UsageError::new(
            Input::Out,
            format!(
                "'{}' holds an interrupted run with a checkpoint: continue it with {} {}, or pass {} to start again",
                out.display(),
                mention(&Input::Resume),
                out.display(),
                mention(&Input::Force)
            ),
        )
        .into());
    }
    let _lock = manifest::claim(out, force, checkpoint::clear)?;
    let summary = match every_steps {
        None => engine::run_to_dir_many(plan, &mut backends, out, watch)?,
        Some(k) => engine::run_checkpointed(plan, backends[0].as_mut(), out, Checkpointing::Every(k), watch)?,
    };
    Ok(Some(summary))
}

/// The plan with `auto` replaced by the backend kind a run recorded ("gpu", "cpu" or
/// "cpu_fast"); None for any other kind.
fn pin_backend(plan: &Plan, kind: &str) -> Option<Plan> {
    let choice = match kind {
        "gpu" => BackendChoice::Gpu,
        "cpu" => BackendChoice::Cpu,
        "cpu_fast" => BackendChoice::CpuFast,
        _ => return None,
    };
    let mut p = plan.clone();
    p.run.backend = choice;
    Some(p)
}

/// Steps between checkpoints for a checkpoint every `t` time units of the model.
pub fn checkpoint_steps(t: f64, plan: &Plan) -> Result<u32> {
    let dt = plan.time.dt_f64;
    if !t.is_finite() || t < dt {
        // (A tiny time in full would be hundreds of digits.)
        let t = if t != 0.0 && t.abs() < 1e-4 { format!("{t:e}") } else { t.to_string() };
        return Err(UsageError::new(
            Input::CheckpointEvery,
            format!(
                "{t} is not a time of at least one step (integrator.dt = {dt}); give a positive time in the model's units"
            ),
        )
        .into());
    }
    // A whole number of steps, as every time in a spec (a checkpoint time that is none would
    // be recorded as another time).
    Ok(crate::spec::checks::steps_of("", t, dt).map_err(|e| UsageError::new(Input::CheckpointEvery, e.message))?)
}

/// Goes on with the checkpointed run in `dir` where it stopped (its spec and options are those
/// the run started with); returns its plan and summary.
pub fn resume(dir: &Path, watch: &mut dyn Watch) -> Result<(Plan, RunSummary)> {
    if !checkpoint::exists(dir) {
        // Refused before the lock, which would create a missing directory.
        return Err(UsageError::new(
            Input::Resume,
            format!(
                "'{}' holds no checkpoint (only runs with {} leave one)",
                dir.display(),
                mention(&Input::CheckpointEvery)
            ),
        )
        .into());
    }
    let _lock = io::lock_dir(dir).map_err(|e| UsageError::new(Input::Resume, e.to_string()))?;
    let record = checkpoint::load(dir)?;
    let damaged = |what: String| {
        UsageError::new(
            Input::Resume,
            format!(
                "the checkpoint in '{}' records {what}; start again with {}",
                dir.display(),
                mention(&Input::Force)
            ),
        )
    };
    let spec =
        Spec::from_json(&record.spec.to_string()).map_err(|e| damaged(format!("a spec that does not load ({e})")))?;
    let mut plan = resolve::plan(&spec, Path::new("."))
        .map_err(|e| damaged(format!("a spec that cannot be rebuilt here ({}: {})", e.field, e.message)))?;
    if let Some((i, n)) = record.shard {
        plan.apply_shard(i, n).map_err(|e| damaged(format!("a shard that does not fit ({e})")))?;
    }
    if plan.memories.digest() != record.memories_sha256 {
        return Err(UsageError::new(
            Input::Resume,
            format!(
                "the memories the spec names have changed since the checkpoint in '{}' was written; start again with {}",
                dir.display(),
                mention(&Input::Force)
            ),
        )
        .into());
    }
    let pending = checkpoint::validate(dir, &record, &plan)?;
    // A run that `auto` started goes on on the device it chose.
    if plan.run.backend == BackendChoice::Auto
        && let Some(p) = pin_backend(&plan, &record.backend)
    {
        plan = p;
    }
    let mut backend = open_backend(&plan)?;
    if !same_device((backend.kind(), &backend.adapter()), (&record.backend, &record.adapter)) {
        return Err(UsageError::new(
            Input::Resume,
            format!(
                "the checkpoint in '{}' was written on {} ({}), and this run would go on on {} ({}); a run's bytes are those of one device, so resume it where it started or start again with {}",
                dir.display(),
                record.adapter,
                record.backend,
                backend.adapter(),
                backend.kind(),
                mention(&Input::Force)
            ),
        )
        .into());
    }
    backend.check(&plan)?;
    let limit = backend.max_chunk(&plan);
    if record.chunks.iter().any(|c| c.1 > limit.max(crate::plan::BLOCK)) {
        return Err(damaged(format!("chunks larger than this device takes ({limit} trajectories)")).into());
    }
    let (done, chunks) = (record.done, record.chunks.len());
    crate::notice::emit(&match &record.state {
        Some(s) => {
            format!("{}: resuming chunk {} of {chunks} at t = {}", plan.spec.name, done + 1, s.step as f64 * record.dt)
        }
        None => format!("{}: resuming after {done} of {chunks} chunks", plan.spec.name),
    });
    let how = Checkpointing::Resume(Box::new(record), pending.map(Box::new));
    let summary = engine::run_checkpointed(&plan, backend.as_mut(), dir, how, watch)?;
    Ok((plan, summary))
}

/// Whether `out` already holds exactly this run (the same spec apart from its `run` section,
/// the same trajectories) on the same device (see [`same_device`]; `device` is the backend
/// kind and adapter this run would use), complete (run.json written last) and intact (every
/// file as its manifest says): then a resubmitted job has nothing to do. The same run on
/// another device is refused; a directory holding anything else is left to `prepare_out_dir`
/// to refuse.
fn already_done(plan: &Plan, out: &Path, device: (&str, &str)) -> Result<bool> {
    let Some(run) = holds_this_run(plan, out)? else { return Ok(false) };
    let field = |k: &str| run[k].as_str().unwrap_or_default().to_string();
    if !same_device((&field("backend"), &field("adapter")), device) {
        return Err(UsageError::new(
            Input::Out,
            format!(
                "'{}' holds this run computed on {} ({}), and this one would run on {} ({}); a run's bytes are those of one device, so pass {} to run it again here, or choose another directory",
                out.display(),
                field("adapter"),
                field("backend"),
                device.1,
                device.0,
                mention(&Input::Force)
            ),
        )
        .into());
    }
    manifest::verify(out, &run).map_err(|err| {
        UsageError::new(
            Input::Out,
            format!("'{}' holds this run, but {err}; pass {} to run it again", out.display(), mention(&Input::Force)),
        )
    })?;
    Ok(true)
}

/// run.json of `out` if it records exactly this run (the same science, memories and
/// trajectories), on whatever device; None otherwise.
fn holds_this_run(plan: &Plan, out: &Path) -> Result<Option<Value>> {
    let Ok(text) = std::fs::read_to_string(out.join(manifest::RUN_JSON)) else { return Ok(None) };
    let Ok(run) = serde_json::from_str::<Value>(&text) else { return Ok(None) };
    let science = manifest::science;
    let e = &plan.ensemble;
    // Compared as run.json holds it: written, then read back (floats parse back to the value
    // the text gives, which need not be the one in memory).
    let recorded: Value = serde_json::from_str(&serde_json::to_string(&plan.spec)?)?;
    let same = science(&run["spec"]) == science(&recorded)
        && run["memories_sha256"].as_str() == Some(plan.memories.digest().as_str())
        && run["trajectories"] == serde_json::json!({ "first": e.first, "count": e.trajectories, "total": e.total });
    Ok(same.then_some(run))
}

/// Whether `out` holds exactly this run, complete and intact, made on the backend the plan asks
/// for (any, for `auto`): the check a front end makes to read a finished run back instead of
/// running it. A run made on another backend than the one asked for is not read back: the run
/// then goes on to refuse it, saying which device made it.
pub fn holds(plan: &Plan, out: &Path) -> bool {
    let asked = |run: &Value| {
        let made = run["backend"].as_str().unwrap_or_default();
        match plan.run.backend {
            BackendChoice::Auto => true,
            BackendChoice::Gpu => made == "gpu",
            BackendChoice::Cpu => made == "cpu",
            BackendChoice::CpuFast => made == "cpu_fast",
        }
    };
    matches!(holds_this_run(plan, out), Ok(Some(run)) if manifest::verify(out, &run).is_ok() && asked(&run))
}

/// Loads a spec from a file or a preset name.
pub fn load_spec(file: Option<&Path>, preset: Option<&str>) -> Result<(Spec, PathBuf)> {
    match (file, preset) {
        (_, Some(name)) => {
            let text = presets::get(name).ok_or_else(|| {
                UsageError::new(Input::Preset, format!("unknown preset '{name}'; available: {}", presets::names()))
            })?;
            Ok((Spec::from_json(text).map_err(UsageError::from)?, PathBuf::from(".")))
        }
        (Some(path), None) => {
            let text = io::read_bounded(path, io::MAX_DOCUMENT_BYTES)
                .and_then(|b| String::from_utf8(b).map_err(|_| "is not UTF-8 text".to_string()))
                .map_err(|e| UsageError::new(Input::Spec, format!("cannot read '{}': {e}", path.display())))?;
            let spec = Spec::from_json(&text).map_err(UsageError::from)?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            Ok((spec, base))
        }
        (None, None) => Err(UsageError::general("give a SPEC file or --preset NAME (see `idpsim presets`)").into()),
    }
}
