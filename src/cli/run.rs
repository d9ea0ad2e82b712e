//! `idpsim run`: one run, one shard of a run, or every point of a sweep.

use std::path::Path;

use anyhow::Result;

use super::args::{RunArgs, load_spec, spec_usage};
use crate::backend::same_device;
use crate::checkpoint;
use crate::engine::{self, Backend, Bar, Checkpointing};
use crate::error::UsageError;
use crate::gpu::GpuBackend;
use crate::outputs::manifest;
use crate::plan::{BackendChoice, Plan};
use crate::spec::Spec;
use crate::{io, resolve, sweep};

/// Opens the backend a plan asks for (`auto`: see [`crate::choose`]).
pub fn open_backend(plan: &Plan) -> Result<Box<dyn Backend + Send>> {
    crate::choose::open(plan)
}

/// The backends a plan runs on: several GPU devices for `--adapter all` or a list, else one
/// (see [`open_backend`]).
pub fn open_backends(plan: &Plan) -> Result<engine::Backends> {
    match plan.run.adapter.as_deref() {
        Some(list) if crate::gpu::context::is_many(list) => {
            if matches!(plan.run.backend, BackendChoice::Cpu | BackendChoice::CpuFast) {
                return Err(UsageError(format!(
                    "--adapter: '{list}' names GPU devices, but the backend is a CPU one; use --backend gpu or auto"
                ))
                .into());
            }
            let contexts = crate::gpu::context::GpuContext::many(list)?;
            Ok(contexts.into_iter().map(|c| Box::new(GpuBackend::from_context(c)) as Box<dyn Backend + Send>).collect())
        }
        _ => Ok(vec![open_backend(plan)?]),
    }
}

pub fn cmd_run(a: &RunArgs) -> Result<()> {
    if let Some(dir) = &a.resume {
        return resume(dir, a.quiet);
    }
    let out = a.out.as_deref().expect("clap requires --out without --resume");
    let (mut spec, base) = load_spec(a.source.spec.as_deref(), a.source.preset.as_deref())?;
    apply_run_flags(a, &mut spec)?;
    if let Some(sweep) = spec.sweep.take() {
        if a.checkpoint_every.is_some() {
            return Err(UsageError(
                "--checkpoint-every: a sweep is not checkpointed; run its points as separate jobs (one spec per point) to checkpoint them".into(),
            )
            .into());
        }
        return run_sweep(a, out, spec, &base, &sweep);
    }
    let plan = resolve::plan(&spec, &base).map_err(|e| {
        let flag = match e.field.as_str() {
            "ensemble.trajectories" if a.trajectories.is_some() => "--trajectories (ensemble.trajectories)".to_string(),
            "run.backend" if a.backend.is_some() => "--backend (run.backend)".to_string(),
            f => f.to_string(),
        };
        UsageError(format!("spec: {flag}: {}", e.message))
    })?;
    let mut plan = plan;
    if let Some((i, n)) = shard_of(a.shard.as_deref())? {
        plan.apply_shard(i, n).map_err(|e| UsageError(format!("--shard: {e}")))?;
    }
    let every_steps = a.checkpoint_every.map(|t| checkpoint_steps(t, &plan)).transpose()?;
    let mut bar = if every_steps.is_some() { Bar::pausing(a.quiet) } else { Bar::new(a.quiet) };
    if let Some(summary) = run_into(&plan, out, a.force, every_steps, &mut bar)? {
        report(&plan, &summary, a.quiet);
    }
    Ok(())
}

/// Runs `plan` into `out` as `idpsim run` does: nothing to do (None) if `out` already holds
/// this run, complete and intact (unless `force`); otherwise under `out`'s lock, refusing a
/// directory that holds anything else unless `force` (which clears the earlier run's files and
/// checkpoint first), with a checkpoint every `every_steps` steps if given.
pub fn run_into(
    plan: &Plan,
    out: &Path,
    force: bool,
    every_steps: Option<u32>,
    watch: &mut dyn engine::Watch,
) -> Result<Option<engine::RunSummary>> {
    // Under `auto`, a directory holding a run of this spec is that run's device's: its choice
    // is kept, so that a resubmitted job finds its run done instead of another device's run.
    let recorded = (!force && plan.run.backend == BackendChoice::Auto)
        .then(|| std::fs::read_to_string(out.join(manifest::RUN_JSON)).ok())
        .flatten()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|run| run["backend"].as_str().map(str::to_owned));
    let pinned = recorded.as_deref().and_then(|kind| pin_backend(plan, kind));
    let plan = pinned.as_ref().unwrap_or(plan);
    let mut backends = open_backends(plan)?;
    for b in &backends {
        b.check(plan)?;
    }
    let (kind, adapter) = engine::describe(&backends);
    if !force && already_done(plan, out, (kind, &adapter))? {
        eprintln!(
            "{}: {} already holds this run, complete and intact (checked against its manifest); nothing to do",
            plan.spec.name,
            out.display()
        );
        return Ok(None);
    }
    if backends.len() > 1 && every_steps.is_some() {
        return Err(UsageError(
            "--checkpoint-every: a run over several adapters is not checkpointed; give one adapter".into(),
        )
        .into());
    }
    let _lock = io::lock_dir(out).map_err(|e| UsageError(format!("--out: {e}")))?;
    if force {
        checkpoint::clear(out)?;
        manifest::clear_previous(out)?;
    } else if checkpoint::exists(out) {
        return Err(UsageError(format!(
            "--out: '{}' holds an interrupted run with a checkpoint: continue it with idpsim run --resume {}, or pass --force to start again",
            out.display(),
            out.display()
        ))
        .into());
    }
    io::prepare_out_dir(out, force).map_err(|e| UsageError(format!("--out: {e}")))?;
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

/// Steps between checkpoints for `--checkpoint-every T`.
fn checkpoint_steps(t: f64, plan: &Plan) -> Result<u32> {
    let dt = plan.time.dt_f64;
    if !t.is_finite() || t < dt {
        return Err(UsageError(format!(
            "--checkpoint-every: {t} is not a time of at least one step (integrator.dt = {dt}); give a positive time in the model's units"
        ))
        .into());
    }
    Ok((t / dt).round().min(u32::MAX as f64) as u32)
}

/// `idpsim run --resume DIR`: the checkpointed run in DIR goes on where it stopped.
fn resume(dir: &Path, quiet: bool) -> Result<()> {
    if !checkpoint::exists(dir) {
        // Refused before the lock, which would create a missing directory.
        return Err(UsageError(format!(
            "--resume: '{}' holds no checkpoint (only runs with --checkpoint-every leave one)",
            dir.display()
        ))
        .into());
    }
    let _lock = io::lock_dir(dir).map_err(|e| UsageError(format!("--resume: {e}")))?;
    let (record, pending) = checkpoint::load(dir)?;
    let damaged = |what: String| {
        UsageError(format!("--resume: the checkpoint in '{}' records {what}; start again with --force", dir.display()))
    };
    let spec =
        Spec::from_json(&record.spec.to_string()).map_err(|e| damaged(format!("a spec that does not load ({e})")))?;
    let mut plan = resolve::plan(&spec, Path::new("."))
        .map_err(|e| damaged(format!("a spec that cannot be rebuilt here ({}: {})", e.field, e.message)))?;
    if let Some((i, n)) = record.shard {
        plan.apply_shard(i, n).map_err(|e| damaged(format!("a shard that does not fit ({e})")))?;
    }
    if plan.memories.digest() != record.memories_sha256 {
        return Err(UsageError(format!(
            "--resume: the memories the spec names have changed since the checkpoint in '{}' was written; start again with --force",
            dir.display()
        ))
        .into());
    }
    checkpoint::validate(dir, &record, pending.as_ref(), &plan)?;
    // A run that `auto` started goes on on the device it chose.
    if plan.run.backend == BackendChoice::Auto
        && let Some(p) = pin_backend(&plan, &record.backend)
    {
        plan = p;
    }
    let mut backend = open_backend(&plan)?;
    if !same_device((backend.kind(), &backend.adapter()), (&record.backend, &record.adapter)) {
        return Err(UsageError(format!(
            "--resume: the checkpoint in '{}' was written on {} ({}), and this run would go on on {} ({}); a run's bytes are those of one device, so resume it where it started or start again with --force",
            dir.display(),
            record.adapter,
            record.backend,
            backend.adapter(),
            backend.kind()
        ))
        .into());
    }
    backend.check(&plan)?;
    let limit = backend.max_chunk(&plan);
    if record.chunks.iter().any(|c| c.1 > limit.max(crate::plan::BLOCK)) {
        return Err(damaged(format!("chunks larger than this device takes ({limit} trajectories)")).into());
    }
    if !quiet {
        let (done, chunks) = (record.done, record.chunks.len());
        match &record.state {
            Some(s) => eprintln!(
                "{}: resuming chunk {} of {chunks} at t = {}",
                plan.spec.name,
                done + 1,
                s.step as f64 * record.dt
            ),
            None => eprintln!("{}: resuming after {done} of {chunks} chunks", plan.spec.name),
        }
    }
    let how = Checkpointing::Resume(Box::new(record), pending);
    let summary = engine::run_checkpointed(&plan, backend.as_mut(), dir, how, &mut Bar::pausing(quiet))?;
    report(&plan, &summary, quiet);
    Ok(())
}

/// The summary line of a finished run.
fn report(plan: &Plan, summary: &engine::RunSummary, quiet: bool) {
    if !quiet {
        eprintln!(
            "{}: {} trajectories × {} steps on {} in {:.2} s ({:.3e} neuron-steps/s); wrote {} files to {}",
            plan.spec.name,
            plan.ensemble.trajectories,
            plan.time.total_steps,
            summary.adapter,
            summary.wall_s,
            summary.neuron_steps_per_s,
            summary.files.len(),
            summary.out.display()
        );
        if let Some(r) = &summary.retrieval {
            let (acc, se) = r.overall();
            eprintln!("retrieval accuracy {acc:.4} ± {se:.4} (see retrieval.json)");
        }
    }
}

/// Whether `out` already holds exactly this run (the same spec apart from its `run` section, the
/// same trajectories) on the same device (see [`same_device`]; `device` is the backend kind
/// and adapter this run would use), complete (run.json written last) and intact (every file as
/// its manifest says): then a resubmitted job has nothing to do. The same run on another
/// device is refused; a directory holding anything else is left to `prepare_out_dir` to refuse.
fn already_done(plan: &Plan, out: &Path, device: (&str, &str)) -> Result<bool> {
    let Ok(text) = std::fs::read_to_string(out.join(manifest::RUN_JSON)) else { return Ok(false) };
    let Ok(run) = serde_json::from_str::<serde_json::Value>(&text) else { return Ok(false) };
    let science = manifest::science;
    let e = &plan.ensemble;
    // Compared as run.json holds it: written, then read back (floats parse back to the value
    // the text gives, which need not be the one in memory).
    let recorded: serde_json::Value = serde_json::from_str(&serde_json::to_string(&plan.spec)?)?;
    let same = science(&run["spec"]) == science(&recorded)
        && run["memories_sha256"].as_str() == Some(plan.memories.digest().as_str())
        && run["trajectories"] == serde_json::json!({ "first": e.first, "count": e.trajectories, "total": e.total });
    if !same {
        return Ok(false);
    }
    let field = |k: &str| run[k].as_str().unwrap_or_default().to_string();
    if !same_device((&field("backend"), &field("adapter")), device) {
        return Err(UsageError(format!(
            "--out: '{}' holds this run computed on {} ({}), and this one would run on {} ({}); a run's bytes are those of one device, so pass --force to run it again here, or choose another directory",
            out.display(),
            field("adapter"),
            field("backend"),
            device.1,
            device.0
        ))
        .into());
    }
    manifest::verify(out, &run).map_err(|err| {
        UsageError(format!("--out: '{}' holds this run, but {err}; pass --force to run it again", out.display()))
    })?;
    Ok(true)
}

/// Runs every point of a sweep spec into sub-directories of --out (see `crate::sweep`). Every
/// point is validated before the first one runs.
fn run_sweep(
    a: &RunArgs,
    out: &Path,
    spec: Spec,
    base: &Path,
    sweep: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    if a.shard.is_some() {
        return Err(UsageError(
            "--shard: a sweep is not sharded; run its points as separate jobs (one spec per point) instead".into(),
        )
        .into());
    }
    let axes = sweep::axes(sweep).map_err(spec_usage)?;
    let doc = serde_json::to_value(&spec)?;
    let mut plans = Vec::new();
    for pt in sweep::points(&doc, &axes).map_err(spec_usage)? {
        let mut s = pt.spec.clone();
        apply_run_flags(a, &mut s)?;
        let plan = resolve::plan(&s, base).map_err(|e| {
            UsageError(format!(
                "spec: {}: {} (sweep point {}: {})",
                e.field,
                e.message,
                pt.index,
                sweep::describe(&axes, &pt.coords)
            ))
        })?;
        plans.push((pt, plan));
    }
    let _lock = io::lock_dir(out).map_err(|e| UsageError(format!("--out: {e}")))?;
    if a.force {
        let points: Vec<sweep::Point> = plans.iter().map(|(pt, _)| pt.clone()).collect();
        sweep::clear_previous(out, &points)?;
    }
    io::prepare_out_dir(out, a.force).map_err(|e| UsageError(format!("--out: {e}")))?;
    // One backend per device, reused by every point (kernels are rebuilt only when a point's
    // constants differ); `auto` chooses per point, since the best device depends on its size.
    let mut pool = crate::choose::Pool::default();
    let started = std::time::Instant::now();
    let results = sweep::run(&spec.name, &axes, plans, out, &mut pool, a.quiet)?;
    if !a.quiet {
        eprintln!(
            "{}: {} sweep points in {:.1} s; wrote sweep.csv, report.md{} to {}",
            spec.name,
            results.len(),
            started.elapsed().as_secs_f64(),
            if out.join("sweep.png").exists() { ", sweep.png" } else { "" },
            out.display()
        );
    }
    Ok(())
}

/// The run flags that override spec values.
pub fn apply_run_flags(a: &RunArgs, spec: &mut Spec) -> Result<()> {
    if let Some(b) = &a.backend {
        spec.run.backend = serde_json::from_value::<BackendChoice>(serde_json::json!(b)).map_err(|_| {
            UsageError(format!("--backend: unknown backend '{b}'; accepted: {}", BackendChoice::ACCEPTED))
        })?;
    }
    if let Some(ad) = &a.adapter {
        spec.run.adapter = Some(ad.clone());
    }
    if let Some(m) = a.trajectories {
        spec.ensemble.trajectories = m;
    }
    if let Some(s) = a.seed {
        spec.ensemble.seed = s;
    }
    Ok(())
}

/// The shard to run: `--shard I/N`, or `--shard slurm` (the array task's index of the array's
/// task count, refused unless the array is exactly tasks 0..N−1); none without `--shard` (the
/// environment is never read silently).
fn shard_of(flag: Option<&str>) -> Result<Option<(u64, u64)>> {
    let Some(f) = flag else { return Ok(None) };
    if f.trim() == "slurm" {
        return slurm_shard().map(Some);
    }
    let parsed = f.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some(s) => Ok(Some(s)),
        None => {
            Err(UsageError(format!("--shard: '{f}' is not I/N (e.g. 0/4 for the first of four shards) or \"slurm\""))
                .into())
        }
    }
}

/// `--shard slurm`: SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, for an array of exactly the
/// tasks 0..N−1. A resubmitted task (`--array=2`) has a count of 1, which would run the whole
/// ensemble into one shard's directory: that is refused, pointing to `--shard I/N`.
fn slurm_shard() -> Result<(u64, u64)> {
    let var = |k: &str| -> Result<u64> {
        let v = std::env::var(k)
            .map_err(|_| UsageError(format!("--shard slurm: {k} is not set; is this a Slurm array task?")))?;
        v.trim().parse().map_err(|_| UsageError(format!("--shard slurm: {k} is '{v}', not a task number")).into())
    };
    let (id, count, min, max) = (
        var("SLURM_ARRAY_TASK_ID")?,
        var("SLURM_ARRAY_TASK_COUNT")?,
        var("SLURM_ARRAY_TASK_MIN")?,
        var("SLURM_ARRAY_TASK_MAX")?,
    );
    if min != 0 || max + 1 != count || id > max || count < 2 {
        return Err(UsageError(format!(
            "--shard slurm: this array has tasks {min}..{max} ({count} in all, this one {id}), not exactly 0..N−1, so the shard count is unknown (a resubmitted task?); pass it explicitly: --shard {id}/N"
        ))
        .into());
    }
    log::info!("Slurm array task {id} of {count}");
    Ok((id, count))
}
