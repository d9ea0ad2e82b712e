//! The engine loop, the same for every backend: split the ensemble into chunks, let the
//! backend integrate each chunk, and hand what it observes to the collectors and writers.
//!
//! Data flows one way: plan → backend → [`Sink`] → files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::io::{self, NpyStream};
use crate::observe::OverlapSums;
use crate::observe::retrieval::{self, PassageStats, RetrievalStats};
use crate::plan::{BLOCK, Plan};

/// A contiguous range of global trajectory indices; `first` is a multiple of [`BLOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub first: u64,
    pub count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "trajectory {trajectory} diverged: its state is not finite after step {step} (t = {time}); reduce integrator.dt or the input/noise scale"
    )]
    Diverged { trajectory: u64, step: u32, time: f64 },
}

/// Where a backend delivers what it observed for the current chunk.
pub trait Sink {
    /// Block partial sums [slot][block][P][3] of m, m², |m| for saves first..first+slots.
    fn partials(&mut self, first: usize, slots: usize, partials: &[f32]) -> Result<()>;
    /// Per-trajectory overlaps [slot][trajectory][P] (only asked for with per_trajectory).
    fn overlaps(&mut self, first: usize, slots: usize, overlaps: &[f32]) -> Result<()>;
    /// Final states [trajectory][N] of the chunk (only asked for with final_state).
    fn final_state(&mut self, states: &[f32]) -> Result<()>;
    /// Histogram counts (cells, then out-of-range) to add.
    fn histogram(&mut self, counts: &[u64]) -> Result<()>;
    /// The retrieval / first-passage observer's values for the whole chunk, [trajectory][S·P
    /// + 1] (see [`Plan::obs_per_trajectory`]).
    fn trajectory_observations(&mut self, obs: &[f32]) -> Result<()>;
    /// Trajectory-steps completed since the last call.
    fn progress(&mut self, trajectory_steps: u64);
}

/// A way to integrate trajectories: the GPU engine or the CPU reference.
pub trait Backend {
    /// "gpu" or "cpu".
    fn kind(&self) -> &'static str;
    /// Adapter (device) description.
    fn adapter(&self) -> String;
    /// Largest chunk this backend can take for the plan (the engine rounds it to BLOCK).
    fn max_chunk(&self, plan: &Plan) -> u64;
    /// Integrates `chunk` over the whole schedule, reporting through `sink`.
    fn run_chunk(&mut self, plan: &Plan, chunk: Chunk, sink: &mut dyn Sink) -> Result<()>;
}

/// Host memory allowed for one chunk's per-trajectory overlaps before they are written.
const HOST_CHUNK_BYTES: u64 = 256 << 20;

/// The chunks a plan is cut into for a backend.
pub fn chunks(plan: &Plan, backend: &dyn Backend) -> Vec<Chunk> {
    let mut max = backend.max_chunk(plan);
    if let Some(c) = plan.chunk_trajectories {
        max = max.min(c);
    }
    if plan.per_trajectory_saves() {
        let row = (plan.n_saves() * plan.q() * 4) as u64;
        max = max.min(HOST_CHUNK_BYTES / row.max(1));
    }
    let max = (max / BLOCK).max(1) * BLOCK;
    let end = plan.first_trajectory + plan.trajectories;
    let mut out = Vec::new();
    let mut first = plan.first_trajectory;
    while first < end {
        let count = max.min(end - first);
        out.push(Chunk { first, count });
        first += count;
    }
    out
}

/// What a run produced, in memory.
pub struct Outputs {
    pub times: Vec<f64>,
    pub sums: OverlapSums,
    /// [M][T][P] when per_trajectory and collected in memory.
    pub overlaps: Option<Vec<f32>>,
    /// [M][N] when final_state and collected in memory.
    pub final_state: Option<Vec<f32>>,
    /// Histogram counts (cells, then out-of-range) when the plan has a histogram.
    pub histogram: Option<Vec<u64>>,
    /// [M][T] per-trajectory energies when asked for and collected in memory.
    pub energy: Option<Vec<f32>>,
    /// In memory with per-trajectory saves: every saved quantity [M][T][Q] (see [`Plan::q`]).
    pub saves: Option<Vec<f32>>,
    /// Retrieval aggregates (with observe.retrieval).
    pub retrieval: Option<RetrievalStats>,
    /// First-passage counts (with observe.first_passage).
    pub passages: Option<PassageStats>,
    /// In memory (no output directory): raw observer values [M][S·P + 1], and per trajectory
    /// targets and retrieved memories [M][S] and first-passage times [M].
    pub observations: Option<Vec<f32>>,
    pub targets: Option<Vec<i32>>,
    pub retrieved: Option<Vec<i32>>,
    pub passage: Option<Vec<f32>>,
}

/// Per-trajectory observer outputs: in memory, or streamed to NPY files.
#[derive(Default)]
struct TrajectoryFiles {
    raw: Option<Vec<f32>>,
    targets: Option<NpyStream<i32>>,
    retrieved: Option<NpyStream<i32>>,
    signs: Option<NpyStream<i8>>,
    passage: Option<NpyStream<f32>>,
    targets_mem: Vec<i32>,
    retrieved_mem: Vec<i32>,
    passage_mem: Vec<f32>,
}

struct Collector<'a> {
    plan: &'a Plan,
    sums: OverlapSums,
    hist: Option<Vec<u64>>,
    chunk_count: usize,
    chunk_overlaps: Vec<f32>,
    overlaps_mem: Option<Vec<f32>>,
    finals_mem: Option<Vec<f32>>,
    overlaps_file: Option<NpyStream<f32>>,
    finals_file: Option<NpyStream<f32>>,
    energy_file: Option<NpyStream<f32>>,
    energy_mem: Option<Vec<f32>>,
    /// Modern model with per_trajectory: memory_layer.npy and saliency.npy.
    layer_files: Option<(NpyStream<f32>, NpyStream<f32>)>,
    saves_mem: Option<Vec<f32>>,
    chunk_first: u64,
    retrieval: Option<RetrievalStats>,
    passages: Option<PassageStats>,
    traj_files: TrajectoryFiles,
    in_memory: bool,
    bar: ProgressBar,
    bar_shown: bool,
    quiet: bool,
    started: Instant,
}

impl Sink for Collector<'_> {
    fn partials(&mut self, first: usize, slots: usize, partials: &[f32]) -> Result<()> {
        self.sums.add_partials(first, slots, self.chunk_count, partials);
        Ok(())
    }

    fn overlaps(&mut self, first: usize, slots: usize, data: &[f32]) -> Result<()> {
        let (p, t, count) = (self.plan.q(), self.plan.n_saves(), self.chunk_count);
        for slot in 0..slots {
            for j in 0..count {
                let src = &data[(slot * count + j) * p..(slot * count + j + 1) * p];
                let k = first + slot;
                self.chunk_overlaps[(j * t + k) * p..(j * t + k + 1) * p].copy_from_slice(src);
            }
        }
        Ok(())
    }

    fn final_state(&mut self, states: &[f32]) -> Result<()> {
        if let Some(f) = self.finals_file.as_mut() {
            f.push(states)?;
        } else if let Some(m) = self.finals_mem.as_mut() {
            m.extend_from_slice(states);
        }
        Ok(())
    }

    fn histogram(&mut self, counts: &[u64]) -> Result<()> {
        let h = self.hist.as_mut().ok_or_else(|| anyhow::anyhow!("internal error: histogram without a plan for it"))?;
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
        let d = retrieval::digest(self.plan, self.chunk_first, obs, self.retrieval.as_mut(), self.passages.as_mut());
        let f = &mut self.traj_files;
        if self.in_memory {
            f.raw.get_or_insert_with(Vec::new).extend_from_slice(obs);
            f.targets_mem.extend_from_slice(&d.targets);
            f.retrieved_mem.extend_from_slice(&d.retrieved);
            f.passage_mem.extend_from_slice(&d.passage);
            return Ok(());
        }
        if let Some(s) = f.targets.as_mut() {
            s.push(&d.targets)?;
        }
        if let Some(s) = f.retrieved.as_mut() {
            s.push(&d.retrieved)?;
        }
        if let Some(s) = f.signs.as_mut() {
            s.push(&d.signs)?;
        }
        if let Some(s) = f.passage.as_mut() {
            s.push(&d.passage)?;
        }
        Ok(())
    }

    fn progress(&mut self, trajectory_steps: u64) {
        self.bar.inc(trajectory_steps);
        if !self.bar_shown
            && !self.quiet
            && self.started.elapsed() > Duration::from_secs(1)
            && std::io::stderr().is_terminal()
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar_shown = true;
        }
    }
}

impl Collector<'_> {
    fn end_chunk(&mut self) -> Result<()> {
        let (p, q) = (self.plan.p, self.plan.q());
        if self.plan.per_trajectory {
            // [traj][T][Q] → [traj][T][P].
            let ov: Vec<f32> = self.chunk_overlaps.chunks(q).flat_map(|row| row[..p].iter().copied()).collect();
            if let Some(f) = self.overlaps_file.as_mut() {
                f.push(&ov)?;
            } else if let Some(m) = self.overlaps_mem.as_mut() {
                m.extend_from_slice(&ov);
            }
        }
        if let Some((fy, fa)) = self.layer_files.as_mut() {
            let qy = self.plan.q_y();
            let y: Vec<f32> = self.chunk_overlaps.chunks(q).flat_map(|row| row[qy..qy + p].iter().copied()).collect();
            let a: Vec<f32> =
                self.chunk_overlaps.chunks(q).flat_map(|row| row[qy + p..qy + 2 * p].iter().copied()).collect();
            fy.push(&y)?;
            fa.push(&a)?;
        }
        if let Some(s) = self.saves_mem.as_mut() {
            s.extend_from_slice(&self.chunk_overlaps);
        }
        if self.plan.energy_per_trajectory {
            let en: Vec<f32> = self.chunk_overlaps.chunks(q).map(|row| row[p]).collect();
            if let Some(f) = self.energy_file.as_mut() {
                f.push(&en)?;
            } else if let Some(m) = self.energy_mem.as_mut() {
                m.extend_from_slice(&en);
            }
        }
        Ok(())
    }
}

/// Runs a plan on a backend. With `dir`, per-trajectory arrays are streamed to files there
/// (returned as None); without, everything is kept in memory.
pub fn simulate(plan: &Plan, backend: &mut dyn Backend, dir: Option<&Path>, quiet: bool) -> Result<Outputs> {
    let m = plan.trajectories;
    let t = plan.n_saves() as u64;
    let (overlaps_file, finals_file) = match dir {
        Some(d) => (
            if plan.per_trajectory {
                Some(NpyStream::create(&d.join("overlaps.npy"), &[m, t, plan.p as u64])?)
            } else {
                None
            },
            if plan.final_state {
                Some(NpyStream::create(&d.join("final_state.npy"), &[m, plan.n as u64])?)
            } else {
                None
            },
        ),
        None => (None, None),
    };
    let total = plan.trajectories * plan.total_steps as u64;
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent}% ETA {eta}")
            .expect("valid template"),
    );
    let mut col = Collector {
        plan,
        sums: OverlapSums::new(plan.n_saves(), plan.q()),
        hist: plan.histogram.as_ref().map(|h| vec![0u64; h.cells() + 1]),
        chunk_count: 0,
        chunk_overlaps: Vec::new(),
        overlaps_mem: (dir.is_none() && plan.per_trajectory).then(Vec::new),
        finals_mem: (dir.is_none() && plan.final_state).then(Vec::new),
        overlaps_file,
        finals_file,
        energy_file: match dir {
            Some(d) if plan.energy_per_trajectory => Some(NpyStream::create(&d.join("energy.npy"), &[m, t])?),
            _ => None,
        },
        energy_mem: (dir.is_none() && plan.energy_per_trajectory).then(Vec::new),
        layer_files: match dir {
            Some(d) if plan.modern.is_some() && plan.per_trajectory => Some((
                NpyStream::create(&d.join("memory_layer.npy"), &[m, t, plan.p as u64])?,
                NpyStream::create(&d.join("saliency.npy"), &[m, t, plan.p as u64])?,
            )),
            _ => None,
        },
        saves_mem: (dir.is_none() && plan.per_trajectory_saves()).then(Vec::new),
        chunk_first: 0,
        retrieval: plan.retrieval.map(|_| RetrievalStats::new(plan)),
        passages: plan.first_passage.map(|_| PassageStats::default()),
        traj_files: match dir {
            Some(d) => {
                let ms = [m, plan.segments.len() as u64];
                let r = plan.retrieval.is_some();
                TrajectoryFiles {
                    targets: if r { Some(NpyStream::create(&d.join("retrieval_targets.npy"), &ms)?) } else { None },
                    retrieved: if r { Some(NpyStream::create(&d.join("retrieved.npy"), &ms)?) } else { None },
                    signs: if r { Some(NpyStream::create(&d.join("retrieved_sign.npy"), &ms)?) } else { None },
                    passage: match plan.first_passage {
                        Some(_) => Some(NpyStream::create(&d.join("first_passage.npy"), &[m])?),
                        None => None,
                    },
                    ..Default::default()
                }
            }
            None => TrajectoryFiles::default(),
        },
        in_memory: dir.is_none(),
        bar,
        bar_shown: false,
        quiet,
        started: Instant::now(),
    };
    for chunk in chunks(plan, backend) {
        col.chunk_count = chunk.count as usize;
        col.chunk_first = chunk.first;
        if plan.per_trajectory_saves() {
            col.chunk_overlaps = vec![f32::NAN; chunk.count as usize * plan.n_saves() * plan.q()];
        }
        log::debug!("chunk: trajectories {}..{}", chunk.first, chunk.first + chunk.count);
        backend.run_chunk(plan, chunk, &mut col)?;
        col.end_chunk()?;
    }
    col.bar.finish_and_clear();
    col.sums.count = plan.trajectories;
    if let Some(f) = col.overlaps_file.take() {
        f.finish()?;
    }
    if let Some(f) = col.finals_file.take() {
        f.finish()?;
    }
    if let Some(f) = col.energy_file.take() {
        f.finish()?;
    }
    if let Some((fy, fa)) = col.layer_files.take() {
        fy.finish()?;
        fa.finish()?;
    }
    let mut tf = std::mem::take(&mut col.traj_files);
    for s in [tf.targets.take(), tf.retrieved.take()].into_iter().flatten() {
        s.finish()?;
    }
    if let Some(s) = tf.signs.take() {
        s.finish()?;
    }
    if let Some(s) = tf.passage.take() {
        s.finish()?;
    }
    let mem = col.in_memory && plan.observes_trajectories();
    Ok(Outputs {
        saves: col.saves_mem.take(),
        retrieval: col.retrieval,
        passages: col.passages,
        observations: if mem { Some(tf.raw.unwrap_or_default()) } else { None },
        targets: (mem && plan.retrieval.is_some()).then_some(tf.targets_mem),
        retrieved: (mem && plan.retrieval.is_some()).then_some(tf.retrieved_mem),
        passage: (mem && plan.first_passage.is_some()).then_some(tf.passage_mem),
        times: plan.save_times(),
        sums: col.sums,
        overlaps: col.overlaps_mem,
        final_state: col.finals_mem,
        histogram: col.hist,
        energy: col.energy_mem,
    })
}

/// The retrieval summary in run.json.
pub fn retrieval_summary(r: &RetrievalStats) -> serde_json::Value {
    let (acc, se) = r.overall();
    serde_json::json!({
        "accuracy": acc,
        "accuracy_stderr": se,
        "per_segment": (0..r.segments.len()).map(|k| r.accuracy(k)).collect::<Vec<_>>(),
    })
}

/// The retrieval observer's exact sums of abs overlaps (what `idpsim merge` adds up).
pub const RETRIEVAL_SUMS_FILE: &str = "retrieval_sums.npy";

/// The exact ensemble sums (what `idpsim merge` adds up).
pub const SUMS_FILE: &str = "overlaps_sums.npy";

/// Writes the 2⁻⁶⁴ fixed-point sums as u64 [T, P, 3, 2] (low word, high word of each i128).
pub fn write_sums(path: &Path, sums: &crate::observe::OverlapSums) -> Result<()> {
    let words: Vec<u64> = sums.sums.iter().flat_map(|&v| [v as u64, (v >> 64) as u64]).collect();
    io::write_npy(path, &[sums.saves as u64, sums.p as u64, crate::observe::SUMS as u64, 2], &words)
}

/// Reads sums written by [`write_sums`].
pub fn read_sums(path: &Path, count: u64) -> Result<crate::observe::OverlapSums> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{} is not an NPY file", path.display()))?;
    let shape = npy.shape().to_vec();
    anyhow::ensure!(
        shape.len() == 4 && shape[2] == crate::observe::SUMS as u64 && shape[3] == 2,
        "{} has shape {shape:?}, not [T, P, 3, 2]",
        path.display()
    );
    let words: Vec<u64> = npy.into_vec()?;
    let mut out = crate::observe::OverlapSums::new(shape[0] as usize, shape[1] as usize);
    for (k, v) in out.sums.iter_mut().enumerate() {
        *v = (words[2 * k] as u128 | ((words[2 * k + 1] as u128) << 64)) as i128;
    }
    out.count = count;
    Ok(out)
}

/// Writes the ensemble arrays and picture from exact sums (a run or a merge).
pub fn write_ensemble_outputs(
    dir: &Path,
    plan_name: &str,
    model: &str,
    times: &[f64],
    sums: &crate::observe::OverlapSums,
    energy: bool,
    layers: bool,
) -> Result<Vec<String>> {
    let q = sums.p;
    // Q = P + energy (+ 2P layers).
    let p = if layers { (q - energy as usize) / 3 } else { q - energy as usize };
    let t = sums.saves;
    io::write_npy(&dir.join("times.npy"), &[t as u64], times)?;
    let (mean_q, std_q, abs_q) = sums.finish();
    let column = |v: &[f32], k: usize| -> Vec<f32> { (0..t).map(|s| v[s * q + k]).collect() };
    let first_p = |v: &[f32]| -> Vec<f32> { v.chunks(q).flat_map(|r| r[..p].iter().copied()).collect() };
    let (mean, std, abs) = (first_p(&mean_q), first_p(&std_q), first_p(&abs_q));
    let (t, p) = (t as u64, p as u64);
    let mut extra = Vec::new();
    if energy {
        io::write_npy(&dir.join("energy_mean.npy"), &[t], &column(&mean_q, p as usize))?;
        io::write_npy(&dir.join("energy_std.npy"), &[t], &column(&std_q, p as usize))?;
        extra = vec!["energy_mean.npy".to_string(), "energy_std.npy".to_string()];
    }
    io::write_npy(&dir.join("overlaps_mean.npy"), &[t, p], &mean)?;
    io::write_npy(&dir.join("overlaps_std.npy"), &[t, p], &std)?;
    io::write_npy(&dir.join("overlaps_abs_mean.npy"), &[t, p], &abs)?;
    write_sums(&dir.join(SUMS_FILE), sums)?;
    // Spread of |m| from the exact sums: sqrt(E m² − (E|m|)²).
    let abs_std: Vec<f32> = (0..abs.len())
        .map(|k| {
            let m2 = std[k] as f64 * std[k] as f64 + mean[k] as f64 * mean[k] as f64;
            (m2 - abs[k] as f64 * abs[k] as f64).max(0.0).sqrt() as f32
        })
        .collect();
    let title = format!("{plan_name} — {model} model, {} trajectories", sums.count);
    io::plot::overlaps_png(&dir.join("overlaps.png"), &title, times, &abs, &abs_std, p as usize)?;
    let mut files: Vec<String> =
        ["times.npy", "overlaps_mean.npy", "overlaps_std.npy", "overlaps_abs_mean.npy", SUMS_FILE, "overlaps.png"]
            .map(String::from)
            .to_vec();
    if layers {
        // The modern model's memory layer y and saliencies α: columns P + E … of each save.
        let qy = p as usize + energy as usize;
        let cols = |v: &[f32], from: usize| -> Vec<f32> {
            v.chunks(q).flat_map(|r| r[from..from + p as usize].iter().copied()).collect()
        };
        for (name, from) in [("memory_layer", qy), ("saliency", qy + p as usize)] {
            io::write_npy(&dir.join(format!("{name}_mean.npy")), &[t, p], &cols(&mean_q, from))?;
            io::write_npy(&dir.join(format!("{name}_std.npy")), &[t, p], &cols(&std_q, from))?;
            files.extend([format!("{name}_mean.npy"), format!("{name}_std.npy")]);
        }
        let (a_mean, a_std) = (cols(&mean_q, qy + p as usize), cols(&std_q, qy + p as usize));
        io::plot::series_png(
            &dir.join("saliency.png"),
            &format!("{plan_name} — saliency layer α_μ(t), {} trajectories", sums.count),
            "mean α_μ (± std over trajectories)",
            times,
            &a_mean,
            &a_std,
            p as usize,
        )?;
        files.push("saliency.png".into());
    }
    files.extend(extra);
    Ok(files)
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

/// Runs a plan and writes every output into `dir` (which the caller has prepared).
pub fn run_to_dir(plan: &Plan, backend: &mut dyn Backend, dir: &Path, quiet: bool) -> Result<RunSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let start = Instant::now();
    let out = simulate(plan, backend, Some(dir), quiet)?;
    let wall_s = start.elapsed().as_secs_f64();
    let traj_steps = plan.trajectories as f64 * plan.total_steps as f64;
    let mut files = write_ensemble_outputs(
        dir,
        &plan.spec.name,
        plan.model_name(),
        &out.times,
        &out.sums,
        plan.energy,
        plan.modern.is_some(),
    )?;
    if plan.energy_per_trajectory {
        files.push("energy.npy".into());
    }
    if plan.per_trajectory {
        files.push("overlaps.npy".into());
        if plan.modern.is_some() {
            files.extend(["memory_layer.npy".to_string(), "saliency.npy".to_string()]);
        }
    }
    if plan.final_state {
        files.push("final_state.npy".into());
    }
    if let (Some(hp), Some(counts)) = (plan.histogram.as_ref(), out.histogram.as_ref()) {
        let marks = crate::observe::histogram::markers(plan, hp);
        let title = format!("{} — stationary density estimate", plan.spec.name);
        files.extend(crate::observe::histogram::write(dir, hp, counts, &marks, &title)?);
    }
    if let Some(r) = &out.retrieval {
        io::write_json(&dir.join("retrieval.json"), &r.to_json())?;
        let words = r.sums_words();
        io::write_npy(&dir.join(RETRIEVAL_SUMS_FILE), &[plan.segments.len() as u64, plan.p as u64 + 1, 2], &words)?;
        files.extend(
            ["retrieval.json", "retrieved.npy", "retrieved_sign.npy", "retrieval_targets.npy", RETRIEVAL_SUMS_FILE]
                .map(String::from),
        );
    }
    if out.passages.is_some() {
        files.push("first_passage.npy".into());
    }
    files.push("run.json".into());
    let summary = RunSummary {
        wall_s,
        trajectory_steps_per_s: traj_steps / wall_s,
        neuron_steps_per_s: traj_steps * plan.n as f64 / wall_s,
        files: files.clone(),
        out: dir.to_path_buf(),
        retrieval: out.retrieval.clone(),
        passages: out.passages.clone(),
    };
    let run_json = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "spec": plan.spec,
        "backend": backend.kind(),
        "adapter": backend.adapter(),
        "trajectories": { "first": plan.first_trajectory, "count": plan.trajectories, "total": plan.total_trajectories },
        "shard": plan.shard.map(|(i, n)| serde_json::json!({ "index": i, "count": n })),
        "steps": plan.total_steps,
        "saves": plan.n_saves(),
        "wall_s": wall_s,
        "trajectory_steps_per_s": summary.trajectory_steps_per_s,
        "neuron_steps_per_s": summary.neuron_steps_per_s,
        "files": files,
        "retrieval": out.retrieval.as_ref().map(retrieval_summary),
        "first_passage": out.passages.as_ref().map(|p| p.to_json(plan)),
    });
    io::write_json(&dir.join("run.json"), &run_json)?;
    Ok(summary)
}
