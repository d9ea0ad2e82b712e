//! The chunk loop, the same for every backend: split the ensemble into chunks, let the backend
//! integrate each chunk into its [`ChunkResults`], and hand those to every output of the
//! catalogue.
//!
//! Data flows one way: plan → backend → [`ChunkResults`] → outputs → [`Store`] (files or
//! arrays).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

mod many;

pub use crate::backend::{Backend, Chunk, ChunkResults, ChunkState, Progress, RunError};
use crate::checkpoint::{self, Pending, Record};
use crate::outputs::{self, Output, Store, manifest};
use crate::plan::{BLOCK, Plan};
pub use many::{Backends, describe, simulate_many};

/// Host memory allowed for one chunk's per-trajectory saves before they are written.
const HOST_CHUNK_BYTES: u64 = 256 << 20;

/// The chunks a plan is cut into for a backend.
pub fn chunks(plan: &Plan, backend: &dyn Backend) -> Vec<Chunk> {
    chunks_of(plan, backend.max_chunk(plan))
}

/// The chunks of at most `max` trajectories (further bounded by the plan) a plan is cut into.
pub fn chunks_of(plan: &Plan, max: u64) -> Vec<Chunk> {
    let mut max = max;
    if let Some(c) = plan.run.chunk_trajectories {
        max = max.min(c);
    }
    if plan.observe.per_trajectory_saves() {
        let row = (plan.n_saves() * plan.saves().q() * 4) as u64;
        max = max.min(HOST_CHUNK_BYTES / row.max(1));
    }
    let max = (max / BLOCK).max(1) * BLOCK;
    let end = plan.ensemble.first + plan.ensemble.trajectories;
    let mut out = Vec::new();
    let mut first = plan.ensemble.first;
    while first < end {
        let count = max.min(end - first);
        out.push(Chunk { first, count });
        first += count;
    }
    out
}

/// What a run reports its progress to, and what can stop it.
pub trait Watch {
    /// `done` of `total` trajectory-steps are integrated; an error stops the run (a signal, a
    /// caller's interrupt), and is what the run fails with.
    fn progress(&mut self, done: u64, total: u64) -> Result<()>;
    /// The run has ended (successfully or not).
    fn finish(&mut self) {}
}

/// The command line's [`Watch`]: a progress bar on stderr (for runs longer than a second, when
/// stderr is a terminal and not `quiet`), stopped by SIGINT/SIGTERM.
pub struct Bar {
    bar: ProgressBar,
    shown: bool,
    quiet: bool,
    started: Instant,
    /// Fails at a signal (a checkpointed run pauses at signals instead).
    signals: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent}% ETA {eta}")
                .expect("valid template"),
        );
        Bar { bar, shown: false, quiet, started: Instant::now(), signals: true }
    }

    /// The bar of a checkpointed run, which pauses at a signal rather than failing.
    pub fn pausing(quiet: bool) -> Bar {
        Bar { signals: false, ..Bar::new(quiet) }
    }
}

impl Watch for Bar {
    fn progress(&mut self, done: u64, total: u64) -> Result<()> {
        if self.signals {
            crate::interrupt::check()?;
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
        if !self.shown
            && !self.quiet
            && self.started.elapsed() > Duration::from_secs(1)
            && std::io::stderr().is_terminal()
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The [`Progress`] the engine gives a backend: counts trajectory-steps for `watch`, and, in a
/// checkpointed run, pauses the backend at a signal.
struct Steps<'a> {
    watch: &'a mut dyn Watch,
    /// Trajectory-steps integrated, of `total`.
    done: u64,
    total: u64,
    /// A signal pauses the backend (the run is checkpointed) instead of failing the run.
    pausable: bool,
}

impl Steps<'_> {
    fn new<'a>(plan: &Plan, watch: &'a mut dyn Watch, pausable: bool) -> Steps<'a> {
        let total = plan.ensemble.trajectories * plan.time.total_steps as u64;
        Steps { watch, done: 0, total, pausable }
    }
}

impl Progress for Steps<'_> {
    fn advance(&mut self, trajectory_steps: u64) -> Result<bool> {
        self.done += trajectory_steps;
        if self.pausable && crate::interrupt::received().is_some() {
            return Ok(false);
        }
        self.watch.progress(self.done, self.total)?;
        Ok(true)
    }
}

/// The one place a finished chunk's results are handed on: to every output, a chunk at a time in
/// chunk order (a run over several devices waits for the chunks before; a checkpointed run hands
/// each chunk to outputs of its own, finished as a shard). A chunk in flight goes into the
/// checkpoint instead ([`Record::save_state`]).
fn deliver(outputs: &mut [Box<dyn Output>], results: &ChunkResults) -> Result<()> {
    for o in outputs {
        o.chunk(results)?;
    }
    Ok(())
}

/// Writes every output into `store` and records how long that took, after the integration
/// since `t1`.
fn finish(outputs: Vec<Box<dyn Output>>, store: &mut Store, t1: Instant) -> Result<()> {
    store.timing.integration_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    for o in outputs {
        o.finish(store)?;
    }
    store.timing.writing_s = t2.elapsed().as_secs_f64();
    Ok(())
}

/// Runs a plan on a backend and finishes every output into `store` (a directory the caller
/// has prepared, or memory), which it returns; a progress bar unless `quiet`.
pub fn simulate(plan: &Plan, backend: &mut dyn Backend, store: Store, quiet: bool) -> Result<Store> {
    simulate_with(plan, backend, store, &mut Bar::new(quiet))
}

/// [`simulate`], reporting to `watch`.
pub fn simulate_with(plan: &Plan, backend: &mut dyn Backend, mut store: Store, watch: &mut dyn Watch) -> Result<Store> {
    let r = simulate_inner(plan, backend, &mut store, watch);
    watch.finish();
    r.map(|()| store)
}

fn simulate_inner(plan: &Plan, backend: &mut dyn Backend, store: &mut Store, watch: &mut dyn Watch) -> Result<()> {
    let t0 = Instant::now();
    backend.prepare(plan)?;
    store.timing.setup_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut outputs = outputs::catalogue(plan, store)?;
    let mut steps = Steps::new(plan, watch, false);
    for chunk in chunks(plan, backend) {
        log::debug!("chunk: trajectories {}..{}", chunk.first, chunk.first + chunk.count);
        let mut results = ChunkResults::new(plan, chunk);
        backend.run_chunk(plan, chunk, None, plan.time.total_steps, &mut results, &mut steps)?;
        deliver(&mut outputs, &results)?;
    }
    finish(outputs, store, t1)
}

/// Runs a plan keeping every output in memory.
pub fn run_in_memory(plan: &Plan, backend: &mut dyn Backend) -> Result<Store> {
    simulate(plan, backend, Store::memory(), true)
}

/// Throughput and the files a run wrote.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The backend's adapter (device) description.
    pub adapter: String,
    pub wall_s: f64,
    pub trajectory_steps_per_s: f64,
    pub neuron_steps_per_s: f64,
    pub files: Vec<String>,
    pub out: PathBuf,
    /// What the outputs found (`Store::findings`).
    pub findings: crate::outputs::Findings,
}

/// What run.json records of a run besides its files and the outputs' summaries: the rates are
/// given per second of wall time (set-up, integration and writing included; the top-level
/// `neuron_steps_per_s`) and per second of integration.
pub fn head(plan: &Plan, backend: &dyn Backend, wall_s: f64, timing: &crate::outputs::Timing) -> serde_json::Value {
    let mut head = head_of(plan, backend.kind(), &backend.adapter(), wall_s, timing);
    head["kernel_builds"] = serde_json::to_value(backend.kernel_builds()).unwrap_or_default();
    if let Some(choice) = backend.choice() {
        head["backend_choice"] = choice;
    }
    head
}

/// [`head`] for a run on the backend `kind` and the device(s) `adapter`.
pub fn head_of(
    plan: &Plan,
    kind: &str,
    adapter: &str,
    wall_s: f64,
    timing: &crate::outputs::Timing,
) -> serde_json::Value {
    let traj_steps = plan.ensemble.trajectories as f64 * plan.time.total_steps as f64;
    let e = &plan.ensemble;
    let rates = |s: f64| serde_json::json!({ "neuron_steps_per_s": traj_steps * plan.n() as f64 / s, "trajectory_steps_per_s": traj_steps / s });
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "build": crate::SOURCES_SHA256,
        "spec": plan.spec,
        "spec_sha256": manifest::spec_digest_of(&plan.spec),
        "memories_sha256": plan.memories.digest(),
        "backend": kind,
        "adapter": adapter,
        "trajectories": { "first": e.first, "count": e.trajectories, "total": e.total },
        "shard": e.shard.map(|(i, n)| serde_json::json!({ "index": i, "count": n })),
        "steps": plan.time.total_steps,
        "saves": plan.n_saves(),
        "wall_s": wall_s,
        "trajectory_steps_per_s": traj_steps / wall_s,
        "neuron_steps_per_s": traj_steps * plan.n() as f64 / wall_s,
        "timing": {
            "setup_s": timing.setup_s,
            "integration_s": timing.integration_s,
            "writing_s": timing.writing_s,
            "wall_s": wall_s,
        },
        "rates": { "wall": rates(wall_s), "integration": rates(timing.integration_s) },
    })
}

fn summary(plan: &Plan, adapter: String, dir: &Path, wall_s: f64, store: Store) -> RunSummary {
    let traj_steps = plan.ensemble.trajectories as f64 * plan.time.total_steps as f64;
    RunSummary {
        adapter,
        wall_s,
        trajectory_steps_per_s: traj_steps / wall_s,
        neuron_steps_per_s: traj_steps * plan.n() as f64 / wall_s,
        files: store.files,
        out: dir.to_path_buf(),
        findings: store.findings,
    }
}

/// Runs a plan and writes every output into `dir` (which the caller has prepared), run.json
/// last.
pub fn run_to_dir(plan: &Plan, backend: &mut dyn Backend, dir: &Path, quiet: bool) -> Result<RunSummary> {
    run_to_dir_with(plan, backend, dir, &mut Bar::new(quiet))
}

/// [`run_to_dir`], reporting to `watch`.
pub fn run_to_dir_with(
    plan: &Plan,
    backend: &mut dyn Backend,
    dir: &Path,
    watch: &mut dyn Watch,
) -> Result<RunSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    manifest::mark_incomplete(dir)?;
    let start = Instant::now();
    let mut store = simulate_with(plan, backend, Store::dir(dir), watch)?;
    let wall_s = start.elapsed().as_secs_f64();
    let timing = store.timing;
    manifest::complete(dir, &mut store, head(plan, backend, wall_s, &timing))?;
    Ok(summary(plan, backend.adapter(), dir, wall_s, store))
}

/// [`run_to_dir_with`] on every backend of `backends` at once (see [`simulate_many`]).
pub fn run_to_dir_many(plan: &Plan, backends: &mut Backends, dir: &Path, watch: &mut dyn Watch) -> Result<RunSummary> {
    if backends.len() == 1 {
        return run_to_dir_with(plan, backends[0].as_mut(), dir, watch);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    manifest::mark_incomplete(dir)?;
    let start = Instant::now();
    let mut store = simulate_many(plan, backends, Store::dir(dir), watch)?;
    let wall_s = start.elapsed().as_secs_f64();
    let (kind, adapter) = many::describe(backends);
    let timing = store.timing;
    manifest::complete(dir, &mut store, head_of(plan, kind, &adapter, wall_s, &timing))?;
    Ok(summary(plan, adapter, dir, wall_s, store))
}

/// How a checkpointed run starts: afresh every `every_steps` steps, or from a checkpoint.
pub enum Checkpointing {
    Every(u32),
    Resume(Box<Record>, Option<Box<Pending>>),
}

/// Runs a plan into `dir` (prepared by the caller) keeping a checkpoint in `dir/.checkpoint`
/// (see [`crate::checkpoint`]): every `every_steps` steps, at the end of each chunk and when
/// a signal arrives, after which it stops (give it a `watch` that does not fail at signals,
/// such as [`Bar::pausing`]). The finished chunks are merged into `dir` at the end,
/// and the checkpoint is removed: the files are those of [`run_to_dir`].
pub fn run_checkpointed(
    plan: &Plan,
    backend: &mut dyn Backend,
    dir: &Path,
    how: Checkpointing,
    watch: &mut dyn Watch,
) -> Result<RunSummary> {
    let r = run_checkpointed_inner(plan, backend, dir, how, watch);
    watch.finish();
    r
}

fn run_checkpointed_inner(
    plan: &Plan,
    backend: &mut dyn Backend,
    dir: &Path,
    how: Checkpointing,
    watch: &mut dyn Watch,
) -> Result<RunSummary> {
    let start = Instant::now();
    let (mut record, mut pending) = match how {
        Checkpointing::Every(every) => {
            let device = (backend.kind(), backend.adapter(), backend.work_layout(plan));
            (Record::start(dir, plan, device, every, &chunks(plan, backend))?, None)
        }
        Checkpointing::Resume(record, pending) => (record.resume(dir)?, pending),
    };
    let wall_before = record.wall_s;
    let total = plan.time.total_steps;
    backend.prepare(plan)?;
    record.check_layout(backend.work_layout(plan))?;
    let setup_s = start.elapsed().as_secs_f64();
    let mut steps = Steps::new(plan, watch, true);
    steps.done = record.steps_done(total);
    let stopped = |signal, step: u32| -> anyhow::Error {
        let checkpoint = Some((step as f64 * plan.time.dt_f64, dir.to_path_buf()));
        crate::interrupt::Interrupted { signal, checkpoint }.into()
    };
    for k in record.done..record.chunks.len() {
        let chunk = record.chunk(k);
        let (mut state, mut results) = match pending.take() {
            Some(p) => (Some(p.state), p.results),
            None => (None, ChunkResults::new(plan, chunk)),
        };
        steps.done += chunk.count * state.as_ref().map_or(0, |s| s.step) as u64;
        loop {
            let from = state.as_ref().map_or(0, |s| s.step);
            let stop = (from as u64 + record.every_steps as u64).min(total as u64) as u32;
            if backend.run_chunk(plan, chunk, state.as_ref(), stop, &mut results, &mut steps)? == total {
                break;
            }
            let st = backend.suspend(plan, chunk)?;
            record.wall_s = wall_before + start.elapsed().as_secs_f64();
            record.save_state(dir, k, &st, &results)?;
            log::debug!("checkpoint: chunk {k}, step {}", st.step);
            if let Some(signal) = crate::interrupt::received() {
                return Err(stopped(signal, st.step));
            }
            state = Some(st);
        }
        // A finished chunk's outputs, finished as a shard of the run.
        let mut store = checkpoint::chunk_store(dir, k)?;
        let mut outputs = outputs::catalogue(&plan.chunk_plan(chunk.first, chunk.count), &store)?;
        deliver(&mut outputs, &results)?;
        outputs.into_iter().try_for_each(|o| o.finish(&mut store))?;
        record.wall_s = wall_before + start.elapsed().as_secs_f64();
        record.finish_chunk(dir, k, plan, (backend.kind(), backend.adapter()), &mut store)?;
        if let Some(signal) = crate::interrupt::received()
            && k + 1 < record.chunks.len()
        {
            return Err(stopped(signal, total));
        }
    }
    let merging = Instant::now();
    let shards = record.shards(dir)?;
    let mut store = Store::dir(dir);
    for output in outputs::catalogue(plan, &store)? {
        output.merge(&shards, &mut store)?;
    }
    if let Some(signal) = crate::interrupt::received() {
        return Err(stopped(signal, total));
    }
    checkpoint::clear(dir)?;
    let wall_s = wall_before + start.elapsed().as_secs_f64();
    // Over every session: this session's set-up, the merge as the writing, the rest (earlier
    // sessions whole, chunks' outputs and checkpoints included) as integration.
    let writing_s = merging.elapsed().as_secs_f64();
    let timing = crate::outputs::Timing { setup_s, integration_s: wall_s - setup_s - writing_s, writing_s };
    let mut head = head(plan, backend, wall_s, &timing);
    head["checkpoints"] =
        serde_json::json!({ "every": record.every_steps as f64 * record.dt, "resumed": record.resumed });
    manifest::complete_checkpointed(dir, &mut store, head)?;
    Ok(summary(plan, backend.adapter(), dir, wall_s, store))
}
