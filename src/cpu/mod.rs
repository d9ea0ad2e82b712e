//! The CPU reference backend: plain Euler–Maruyama with the low-rank field, one
//! [`Trajectory`] at a time, written like the kernels in `shaders/` (same loop order, same
//! names, neurons in blocks of four) so the two can be read side by side. Trajectories are
//! spread over threads; nothing else is clever.
//!
//! The same backend in its fast mode ([`CpuBackend::fast`], `--backend cpu_fast`) advances the
//! trajectories in tiles whose fields are blocked matrix products ([`tiled`]).

pub mod tiled;
pub mod trajectory;

use anyhow::Result;

pub use trajectory::{Trajectory, initial_state, integrate, overlaps};

use crate::backend::{Backend, Chunk, ChunkResults, ChunkState, Pace, Progress, RunError};
use crate::plan::Plan;
use crate::stats;

/// A worker's first divergence (trajectory, step), if any, and its counters (histogram and
/// occupancy).
type WorkerResult = (Option<(u64, u32)>, Vec<u64>);

/// Work of a chunk's first slice, in neuron-steps × (P + 12) (about a second on the reference
/// at any P, far less on the fast path): the chunk advances slice by slice, delivering its
/// saves and checking for signals in between; the next slices last about
/// [`Pace::TARGET_S`] each, from the time the last one took.
const FIRST_SLICE_WORK: u64 = 1 << 30;

pub struct CpuBackend {
    threads: usize,
    /// The fast path: tiles of trajectories with matrix-product fields ([`tiled`]).
    fast: bool,
    /// The state of a chunk whose run stopped before the end, until it is asked for.
    suspended: Option<(Chunk, ChunkState)>,
}

impl CpuBackend {
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        CpuBackend { threads, fast: false, suspended: None }
    }

    /// The fast path (`cpu_fast`): the reference's arithmetic per trajectory, with each tile's
    /// fields and overlaps as blocked matrix products.
    pub fn fast() -> Self {
        CpuBackend { fast: true, ..Self::new() }
    }

    /// The same backend with `threads` worker threads (at least one); results never depend on
    /// it.
    pub fn with_threads(self, threads: usize) -> Self {
        CpuBackend { threads: threads.max(1), ..self }
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for CpuBackend {
    fn kind(&self) -> &'static str {
        if self.fast { "cpu_fast" } else { "cpu" }
    }

    fn adapter(&self) -> String {
        if self.fast {
            format!("cpu fast path ({}, {} threads)", tiled::kernel_family(), self.threads)
        } else {
            format!("cpu reference ({} threads)", self.threads)
        }
    }

    /// Bounded so one chunk's overlaps and final states stay within 256 MiB of host memory.
    fn max_chunk(&self, plan: &Plan) -> u64 {
        let per_trajectory = ((plan.n_saves() * plan.saves().q() + plan.n()) * 4 * 2) as u64;
        ((256u64 << 20) / per_trajectory).max(crate::plan::BLOCK)
    }

    fn run_chunk(
        &mut self,
        plan: &Plan,
        chunk: Chunk,
        start: Option<&ChunkState>,
        stop: u32,
        results: &mut ChunkResults,
        progress: &mut dyn Progress,
    ) -> Result<u32> {
        let (n, q) = (plan.n(), plan.saves().q());
        let count = chunk.count as usize;
        let (width, ob) = (Trajectory::state_width(plan), plan.obs_per_trajectory());
        if let Some(st) = start {
            anyhow::ensure!(
                st.state.len() == count * width && st.obs.len() == count * ob,
                "internal error: a chunk state of {} + {} values, expected {} + {}",
                st.state.len(),
                st.obs.len(),
                count * width,
                count * ob
            );
        }
        self.suspended = None;
        let per_thread = count.div_ceil(self.threads).max(1);
        // The chunk's trajectories, built in parallel.
        let mut trajs: Vec<Trajectory> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count.div_ceil(per_thread))
                .map(|k| {
                    scope.spawn(move || {
                        let range = k * per_thread..((k + 1) * per_thread).min(count);
                        range
                            .map(|j| {
                                let index = chunk.first + j as u64;
                                match start {
                                    None => Trajectory::init(plan, index),
                                    Some(st) => Trajectory::restore(
                                        plan,
                                        index,
                                        st.step,
                                        &st.state[j * width..(j + 1) * width],
                                        &st.obs[j * ob..(j + 1) * ob],
                                    ),
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("cpu worker panicked")).collect()
        });
        let se = plan.observe.save_every;
        let hist_len = plan.observe.counters();
        let work_per_step = (count as u64 * n as u64 * (plan.p() as u64 + 12)).max(1);
        let first_slice = (FIRST_SLICE_WORK / work_per_step).clamp(1, u32::MAX as u64) as u32;
        let mut pace = Pace::new();
        let mut step = start.map_or(0, |st| st.step);
        let mut first = start.is_none();
        let fast = self.fast;
        while step < stop {
            let end = stop.min(step.saturating_add(pace.steps(first_slice)));
            let started = std::time::Instant::now();
            // Saves lo..=hi are written in this slice (save 0 by the initial states).
            let lo = if first { 0 } else { step / se + 1 };
            let slots = (end / se + 1 - lo) as usize;
            let mut saves = vec![0f32; count * slots * q];
            let workers: Vec<WorkerResult> = std::thread::scope(|scope| {
                let mut rest = &mut saves[..];
                let mut handles = Vec::new();
                for (k, group) in trajs.chunks_mut(per_thread).enumerate() {
                    let (sv, tail) = std::mem::take(&mut rest).split_at_mut(group.len() * slots * q);
                    rest = tail;
                    handles.push(scope.spawn(move || {
                        let mut hist = vec![0u64; hist_len];
                        let h = (hist_len > 0).then_some(&mut hist[..]);
                        let at = (end, first, lo, slots);
                        let failed =
                            if fast { tiled::advance(plan, group, sv, at, h) } else { advance(group, sv, at, h) };
                        (failed.map(|(j, s)| (chunk.first + (k * per_thread + j) as u64, s)), hist)
                    }));
                }
                handles.into_iter().map(|h| h.join().expect("cpu worker panicked")).collect()
            });
            pace.record(end - step, started.elapsed());
            let mut hist = vec![0u64; hist_len];
            for (_, h) in &workers {
                for (a, b) in hist.iter_mut().zip(h) {
                    *a += b;
                }
            }
            if let Some((trajectory, step)) = workers.into_iter().filter_map(|r| r.0).min_by_key(|f| (f.1, f.0)) {
                return Err(RunError::Diverged { trajectory, step, time: step as f64 * plan.time.dt_f64 }.into());
            }
            if slots > 0 {
                // Trajectory-major [traj][slot][q] → slot-major [slot][traj][q], as the GPU
                // delivers them.
                let mut by_save = vec![0f32; count * slots * q];
                for j in 0..count {
                    for k in 0..slots {
                        by_save[(k * count + j) * q..(k * count + j + 1) * q]
                            .copy_from_slice(&saves[(j * slots + k) * q..(j * slots + k + 1) * q]);
                    }
                }
                let partials = stats::block_partials(&by_save, slots, count, q);
                results.add_partials(plan, lo as usize, slots, &partials)?;
                if plan.observe.per_trajectory_saves() {
                    results.add_saves(plan, lo as usize, slots, &by_save);
                }
            }
            if hist_len > 0 {
                results.add_counts(&hist)?;
            }
            let go_on = progress.advance(chunk.count * (end - step) as u64)?;
            (step, first) = (end, false);
            if !go_on {
                break;
            }
        }
        if step < plan.time.total_steps {
            let (mut state, mut obs) = (Vec::with_capacity(count * width), Vec::with_capacity(count * ob));
            for t in &trajs {
                t.export(&mut state, &mut obs);
            }
            self.suspended = Some((chunk, ChunkState { step, state, obs }));
            return Ok(step);
        }
        if plan.observe.observes_trajectories() {
            results.observations = trajs.iter().flat_map(|t| t.observations().iter().copied()).collect();
        }
        if plan.observe.final_state {
            results.final_state = trajs.iter().flat_map(|t| t.state().iter().copied()).collect();
        }
        Ok(step)
    }

    fn suspend(&mut self, _plan: &Plan, chunk: Chunk) -> Result<ChunkState> {
        match self.suspended.take() {
            Some((c, st)) if c == chunk => Ok(st),
            _ => anyhow::bail!("internal error: no chunk was stopped before its end"),
        }
    }
}

/// Advances `group` (trajectories at one step) to step `end`, one trajectory at a time,
/// observing after every step and writing save k into `rows` (trajectory-major, `slots` saves
/// of Q values from save `lo`; save 0 too when `first`). Returns the first divergence: (index
/// in `group`, step).
fn advance(
    group: &mut [Trajectory],
    rows: &mut [f32],
    (end, first, lo, slots): (u32, bool, u32, usize),
    mut hist: Option<&mut [u64]>,
) -> Option<(usize, u32)> {
    for (j, t) in group.iter_mut().enumerate() {
        let (q, se) = (t.plan().saves().q(), t.plan().observe.save_every);
        let row = &mut rows[j * slots * q..(j + 1) * slots * q];
        if first {
            t.save(&mut row[..q]);
        }
        while t.done() < end {
            if let Err(s) = t.step() {
                return Some((j, s));
            }
            t.observe(hist.as_deref_mut());
            if t.done().is_multiple_of(se) {
                let slot = (t.done() / se - lo) as usize;
                t.save(&mut row[slot * q..(slot + 1) * q]);
            }
        }
    }
    None
}
