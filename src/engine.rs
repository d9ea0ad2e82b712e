//! The chunk loop, the same for every backend: split the ensemble into chunks, let the backend
//! integrate each chunk, and hand what it delivers to every output of the catalogue.
//!
//! Data flows one way: plan → backend → [`Sink`] → outputs → [`Store`] (files or arrays).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use crate::backend::{Backend, Chunk, RunError, Sink};
use crate::observe::retrieval::{PassageStats, RetrievalStats};
use crate::outputs::{self, ChunkData, Output, Store, manifest};
use crate::plan::{BLOCK, Plan};

/// Host memory allowed for one chunk's per-trajectory saves before they are written.
const HOST_CHUNK_BYTES: u64 = 256 << 20;

/// The chunks a plan is cut into for a backend.
pub fn chunks(plan: &Plan, backend: &dyn Backend) -> Vec<Chunk> {
    let mut max = backend.max_chunk(plan);
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

/// What one chunk delivered, until it is handed to the outputs.
#[derive(Default)]
struct ChunkBuffer {
    first: u64,
    count: usize,
    saves: Vec<f32>,
    final_state: Vec<f32>,
    histogram: Vec<u64>,
    observations: Vec<f32>,
}

/// The [`Sink`] the engine gives a backend: partial sums go straight to the outputs, the rest
/// is buffered until the chunk ends.
struct Collector<'a> {
    plan: &'a Plan,
    outputs: Vec<Box<dyn Output>>,
    buf: ChunkBuffer,
    bar: ProgressBar,
    bar_shown: bool,
    quiet: bool,
    started: Instant,
}

impl Sink for Collector<'_> {
    fn partials(&mut self, first: usize, slots: usize, partials: &[f32]) -> Result<()> {
        for o in &mut self.outputs {
            o.partials(first, slots, self.buf.count, partials)?;
        }
        Ok(())
    }

    fn overlaps(&mut self, first: usize, slots: usize, data: &[f32]) -> Result<()> {
        let (q, t, count) = (self.plan.saves().q(), self.plan.n_saves(), self.buf.count);
        for slot in 0..slots {
            for j in 0..count {
                let src = &data[(slot * count + j) * q..(slot * count + j + 1) * q];
                let k = first + slot;
                self.buf.saves[(j * t + k) * q..(j * t + k + 1) * q].copy_from_slice(src);
            }
        }
        Ok(())
    }

    fn final_state(&mut self, states: &[f32]) -> Result<()> {
        self.buf.final_state.extend_from_slice(states);
        Ok(())
    }

    fn histogram(&mut self, counts: &[u64]) -> Result<()> {
        let h = &mut self.buf.histogram;
        if h.is_empty() {
            h.resize(counts.len(), 0);
        }
        anyhow::ensure!(
            h.len() == counts.len(),
            "internal error: histogram of {} cells, expected {}",
            counts.len(),
            h.len()
        );
        for (a, b) in h.iter_mut().zip(counts) {
            *a += b;
        }
        Ok(())
    }

    fn trajectory_observations(&mut self, obs: &[f32]) -> Result<()> {
        self.buf.observations.extend_from_slice(obs);
        Ok(())
    }

    fn progress(&mut self, trajectory_steps: u64) -> Result<()> {
        crate::interrupt::check()?;
        self.bar.inc(trajectory_steps);
        if !self.bar_shown
            && !self.quiet
            && self.started.elapsed() > Duration::from_secs(1)
            && std::io::stderr().is_terminal()
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar_shown = true;
        }
        Ok(())
    }
}

impl Collector<'_> {
    fn begin(&mut self, chunk: Chunk) {
        let plan = self.plan;
        let count = chunk.count as usize;
        self.buf = ChunkBuffer { first: chunk.first, count, ..Default::default() };
        if plan.observe.per_trajectory_saves() {
            self.buf.saves = vec![f32::NAN; count * plan.n_saves() * plan.saves().q()];
        }
        if let Some(h) = &plan.observe.histogram {
            self.buf.histogram = vec![0; h.cells() + 1];
        }
    }

    fn end(&mut self) -> Result<()> {
        let b = &self.buf;
        let data = ChunkData {
            first: b.first,
            count: b.count,
            saves: &b.saves,
            final_state: &b.final_state,
            histogram: &b.histogram,
            observations: &b.observations,
        };
        for o in &mut self.outputs {
            o.chunk(&data)?;
        }
        Ok(())
    }
}

/// Runs a plan on a backend and finishes every output into `store` (a directory the caller
/// has prepared, or memory), which it returns.
pub fn simulate(plan: &Plan, backend: &mut dyn Backend, mut store: Store, quiet: bool) -> Result<Store> {
    let total = plan.ensemble.trajectories * plan.time.total_steps as u64;
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent}% ETA {eta}")
            .expect("valid template"),
    );
    let mut col = Collector {
        plan,
        outputs: outputs::catalogue(plan, &store)?,
        buf: ChunkBuffer::default(),
        bar,
        bar_shown: false,
        quiet,
        started: Instant::now(),
    };
    for chunk in chunks(plan, backend) {
        log::debug!("chunk: trajectories {}..{}", chunk.first, chunk.first + chunk.count);
        col.begin(chunk);
        backend.run_chunk(plan, chunk, &mut col)?;
        col.end()?;
    }
    col.bar.finish_and_clear();
    for o in col.outputs {
        o.finish(&mut store)?;
    }
    Ok(store)
}

/// Runs a plan keeping every output in memory.
pub fn run_in_memory(plan: &Plan, backend: &mut dyn Backend) -> Result<Store> {
    simulate(plan, backend, Store::memory(), true)
}

/// Throughput and the files a run wrote.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub wall_s: f64,
    pub trajectory_steps_per_s: f64,
    pub neuron_steps_per_s: f64,
    pub files: Vec<String>,
    pub out: PathBuf,
    pub retrieval: Option<RetrievalStats>,
    pub passages: Option<PassageStats>,
}

/// Runs a plan and writes every output into `dir` (which the caller has prepared), run.json
/// last.
pub fn run_to_dir(plan: &Plan, backend: &mut dyn Backend, dir: &Path, quiet: bool) -> Result<RunSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    manifest::mark_incomplete(dir)?;
    let start = Instant::now();
    let mut store = simulate(plan, backend, Store::dir(dir), quiet)?;
    let wall_s = start.elapsed().as_secs_f64();
    let traj_steps = plan.ensemble.trajectories as f64 * plan.time.total_steps as f64;
    let (trajectory_steps_per_s, neuron_steps_per_s) = (traj_steps / wall_s, traj_steps * plan.n() as f64 / wall_s);
    let e = &plan.ensemble;
    let head = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "spec": plan.spec,
        "backend": backend.kind(),
        "adapter": backend.adapter(),
        "trajectories": { "first": e.first, "count": e.trajectories, "total": e.total },
        "shard": e.shard.map(|(i, n)| serde_json::json!({ "index": i, "count": n })),
        "steps": plan.time.total_steps,
        "saves": plan.n_saves(),
        "wall_s": wall_s,
        "trajectory_steps_per_s": trajectory_steps_per_s,
        "neuron_steps_per_s": neuron_steps_per_s,
    });
    manifest::complete(dir, &mut store, head)?;
    Ok(RunSummary {
        wall_s,
        trajectory_steps_per_s,
        neuron_steps_per_s,
        files: store.files,
        out: dir.to_path_buf(),
        retrieval: store.retrieval,
        passages: store.passages,
    })
}
