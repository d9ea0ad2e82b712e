//! The CPU reference backend: plain Euler–Maruyama with the low-rank field, one
//! [`Trajectory`] at a time, written like the kernels in `shaders/` (same loop order, same
//! names, neurons in blocks of four) so the two can be read side by side. Trajectories are
//! spread over threads; nothing else is clever.

pub mod trajectory;

use anyhow::Result;

pub use trajectory::{Trajectory, initial_state, integrate, overlaps};

use crate::backend::{Backend, Chunk, RunError, Sink};
use crate::observe;
use crate::plan::Plan;

/// A worker's first divergence (trajectory, step), if any, and its histogram counts.
type WorkerResult = (Option<(u64, u32)>, Vec<u64>);

pub struct CpuBackend {
    threads: usize,
}

impl CpuBackend {
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        CpuBackend { threads }
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for CpuBackend {
    fn kind(&self) -> &'static str {
        "cpu"
    }

    fn adapter(&self) -> String {
        format!("cpu reference ({} threads)", self.threads)
    }

    /// Bounded so one chunk's overlaps and final states stay within 256 MiB of host memory.
    fn max_chunk(&self, plan: &Plan) -> u64 {
        let per_trajectory = ((plan.n_saves() * plan.saves().q() + plan.n()) * 4 * 2) as u64;
        ((256u64 << 20) / per_trajectory).max(crate::plan::BLOCK)
    }

    fn run_chunk(&mut self, plan: &Plan, chunk: Chunk, sink: &mut dyn Sink) -> Result<()> {
        let (n, p) = (plan.n(), plan.saves().q());
        let t = plan.n_saves();
        let count = chunk.count as usize;
        // Per trajectory: saves [t][p] and the final state [n].
        let mut saves = vec![0f32; count * t * p];
        let mut finals = vec![0f32; count * n];
        // Per trajectory: retrieval sums and first passage (at least one slot so chunks_mut works).
        let ob = plan.obs_per_trajectory().max(1);
        let mut obs = vec![0f32; count * ob];
        let per_thread = count.div_ceil(self.threads).max(1);
        let hist_len = plan.observe.histogram.as_ref().map_or(0, |h| h.cells() + 1);
        let results: Vec<WorkerResult> = std::thread::scope(|scope| {
            let handles: Vec<_> = saves
                .chunks_mut(per_thread * t * p)
                .zip(finals.chunks_mut(per_thread * n))
                .zip(obs.chunks_mut(per_thread * ob))
                .enumerate()
                .map(|(k, ((sv, fx), ox))| {
                    scope.spawn(move || {
                        let mut hist = vec![0u64; hist_len];
                        let rows = sv.chunks_mut(t * p).zip(fx.chunks_mut(n)).zip(ox.chunks_mut(ob));
                        for (j, ((s1, f1), o1)) in rows.enumerate() {
                            if crate::interrupt::received().is_some() {
                                break;
                            }
                            let traj = chunk.first + (k * per_thread + j) as u64;
                            let h = (hist_len > 0).then_some(&mut hist[..]);
                            let o = plan.observe.observes_trajectories().then_some(o1);
                            if let Err(step) = integrate(plan, traj, s1, f1, h, o) {
                                return (Some((traj, step)), hist);
                            }
                        }
                        (None, hist)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("cpu worker panicked")).collect()
        });
        // A signal stops the workers between trajectories: nothing of this chunk is delivered.
        crate::interrupt::check()?;
        let mut hist = vec![0u64; hist_len];
        for (_, h) in &results {
            for (a, b) in hist.iter_mut().zip(h) {
                *a += b;
            }
        }
        if let Some((trajectory, step)) = results.into_iter().filter_map(|r| r.0).min_by_key(|f| (f.1, f.0)) {
            return Err(RunError::Diverged { trajectory, step, time: step as f64 * plan.time.dt_f64 }.into());
        }
        // Trajectory-major [traj][t][p] → save-major [t][traj][p], as the GPU produces it.
        let mut by_save = vec![0f32; count * t * p];
        for j in 0..count {
            for k in 0..t {
                by_save[(k * count + j) * p..(k * count + j + 1) * p]
                    .copy_from_slice(&saves[(j * t + k) * p..(j * t + k + 1) * p]);
            }
        }
        let partials = observe::block_partials(&by_save, t, count, p);
        sink.partials(0, t, &partials)?;
        if plan.observe.per_trajectory_saves() {
            sink.overlaps(0, t, &by_save)?;
        }
        if hist_len > 0 {
            sink.histogram(&hist)?;
        }
        if plan.observe.observes_trajectories() {
            sink.trajectory_observations(&obs)?;
        }
        sink.progress(chunk.count * plan.time.total_steps as u64)?;
        if plan.observe.final_state {
            sink.final_state(&finals)?;
        }
        Ok(())
    }
}
