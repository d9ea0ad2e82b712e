//! What a backend is: the interface between the chunk loop and the two ways to integrate a
//! chunk of trajectories (the GPU and the CPU reference), and [`ChunkResults`], what a chunk
//! gives.

use std::ops::Range;

use anyhow::Result;

use crate::plan::Plan;
use crate::stats::{self, OverlapSums};

/// A contiguous range of global trajectory indices; `first` is a multiple of
/// [`BLOCK`](crate::plan::BLOCK).
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

/// What a backend found for one chunk of trajectories: it fills this as it integrates
/// ([`Backend::run_chunk`]); the engine hands it whole to every output once the chunk is done
/// (`Output::chunk`), a run over several devices keeps it until the chunks before are handed on,
/// and a checkpoint keeps it while the chunk is in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkResults {
    pub chunk: Chunk,
    /// Exact ensemble sums [save][Q][SUMS] of the chunk's saves so far (see [`OverlapSums`]).
    pub sums: OverlapSums,
    /// Per-trajectory saves [trajectory][save][Q] (NaN until saved); empty unless the plan asks
    /// for per-trajectory saves (see [`crate::plan::SaveLayout`]).
    pub saves: Vec<f32>,
    /// Counts so far (see [`crate::plan::ObservePlan::counters`]): the histogram's cells and its
    /// out-of-range count, then each other counted observer's range (the occupancy rows).
    pub counters: Vec<u64>,
    /// How many of `counters` are the histogram's.
    histogram_counters: usize,
    /// Final states [trajectory][N] (with observe.final_state), once the chunk is done.
    pub final_state: Vec<f32>,
    /// The retrieval / first-passage observer's values [trajectory][S·P + 1] (see
    /// [`Plan::obs_per_trajectory`]), once the chunk is done.
    pub observations: Vec<f32>,
}

impl ChunkResults {
    /// Nothing found yet for `chunk` of `plan`.
    pub fn new(plan: &Plan, chunk: Chunk) -> Self {
        let count = chunk.count as usize;
        let saves = if plan.observe.per_trajectory_saves() {
            vec![f32::NAN; count * plan.n_saves() * plan.saves().q()]
        } else {
            Vec::new()
        };
        let mut sums = OverlapSums::new(plan.n_saves(), plan.saves().q());
        sums.count = chunk.count;
        ChunkResults {
            chunk,
            sums,
            saves,
            counters: vec![0; plan.observe.counters()],
            histogram_counters: plan.observe.histogram_counters(),
            final_state: Vec::new(),
            observations: Vec::new(),
        }
    }

    /// Global index of the chunk's first trajectory.
    pub fn first(&self) -> u64 {
        self.chunk.first
    }

    /// Trajectories in the chunk.
    pub fn count(&self) -> usize {
        self.chunk.count as usize
    }

    /// The histogram's counts (cells, then out-of-range).
    pub fn histogram(&self) -> &[u64] {
        &self.counters[..self.histogram_counters]
    }

    /// The counts of a counted observer other than the histogram: its range of the counters
    /// (such as [`crate::plan::ObservePlan::occupancy_counters`]).
    pub fn counts(&self, range: Range<usize>) -> &[u64] {
        &self.counters[range]
    }

    /// Adds block partial sums [slot][block][Q][MOMENTS] of every saved quantity for saves
    /// first..first+slots; refuses values the exact sums cannot hold, naming the quantity.
    pub fn add_partials(&mut self, plan: &Plan, first: usize, slots: usize, partials: &[f32]) -> Result<()> {
        let count = self.count();
        self.sums.add_partials(first, slots, count, partials).map_err(|(save, q, e)| {
            stats::overflow(plan.saves(), plan.save_times().get(save).copied().unwrap_or(f64::NAN), q, e)
        })
    }

    /// Keeps per-trajectory saves [slot][trajectory][Q] for saves first..first+slots.
    pub fn add_saves(&mut self, plan: &Plan, first: usize, slots: usize, saves: &[f32]) {
        let (q, t, count) = (plan.saves().q(), plan.n_saves(), self.count());
        for slot in 0..slots {
            for j in 0..count {
                let src = &saves[(slot * count + j) * q..(slot * count + j + 1) * q];
                let k = first + slot;
                self.saves[(j * t + k) * q..(j * t + k + 1) * q].copy_from_slice(src);
            }
        }
    }

    /// Adds counts, laid out as [`ChunkResults::counters`].
    pub fn add_counts(&mut self, counts: &[u64]) -> Result<()> {
        let c = &mut self.counters;
        anyhow::ensure!(c.len() == counts.len(), "internal error: {} counters, expected {}", counts.len(), c.len());
        for (a, b) in c.iter_mut().zip(counts) {
            *a += b;
        }
        Ok(())
    }
}

/// What a backend reports its progress to while it integrates a chunk.
pub trait Progress {
    /// Trajectory-steps completed since the last call. Fails when the run must stop (a signal
    /// was received); returns false when the backend should pause instead (a signal was
    /// received and the run can be checkpointed), true to go on.
    fn advance(&mut self, trajectory_steps: u64) -> Result<bool>;
}

/// Sizes the stretches of steps a backend integrates between two [`Progress::advance`] calls
/// (the GPU's submits, the CPU's slices) to about [`Pace::TARGET_S`] of wall time each, from
/// the time the last stretch took: so a signal stops a run, a checkpointed run pauses and the
/// progress bar moves within about that time, whatever the device and the problem's size. The
/// stretches' ends do not change a bit of the results: saves, their sums and the histogram's
/// counts are cut at step boundaries, each save in exactly one stretch.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// The last stretch: its steps and its seconds per step.
    last: Option<(u32, f64)>,
}

impl Pace {
    /// Wall time aimed at per stretch.
    pub const TARGET_S: f64 = 0.5;
    /// A stretch takes at most this many times the last one's steps (one fast stretch, timed
    /// with a coarse clock, must not make the next one minutes long).
    const GROWTH: f64 = 4.0;

    pub fn new() -> Pace {
        Pace::default()
    }

    /// Steps of the next stretch: `first` (the backend's estimate from the work per step)
    /// until a stretch has been timed; at least 1.
    pub fn steps(&self, first: u32) -> u32 {
        match self.last {
            None => first.max(1),
            Some((steps, per_step)) => {
                let aimed = if per_step > 0.0 { Self::TARGET_S / per_step } else { f64::INFINITY };
                aimed.min(steps as f64 * Self::GROWTH).clamp(1.0, u32::MAX as f64) as u32
            }
        }
    }

    /// Records a stretch of `steps` that took `elapsed`.
    pub fn record(&mut self, steps: u32, elapsed: std::time::Duration) {
        if steps > 0 {
            self.last = Some((steps, elapsed.as_secs_f64() / steps as f64));
        }
    }
}

/// A chunk's trajectories between two steps: what a checkpoint keeps so that integration can
/// go on later, in another process, and give the same bytes. The layouts are the backend's own
/// (a checkpoint is resumed on the backend and device that wrote it).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkState {
    /// Steps taken (0 < step < the plan's total).
    pub step: u32,
    /// The dynamical state (x, and the modern model's layers).
    pub state: Vec<f32>,
    /// The retrieval / first-passage observer values.
    pub obs: Vec<f32>,
}

/// One kernel build: which kernels, on which device, how long it took, and whether this
/// machine had built them before (then the driver's cache usually serves them).
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelBuild {
    pub kernels: String,
    pub adapter: String,
    /// Pipelines created (each compiled by the driver).
    pub pipelines: u32,
    pub seconds: f64,
    /// Seconds of the build recorded here before (see `gpu::built`), if any.
    pub built_before_s: Option<f64>,
}

/// A way to integrate trajectories: the GPU or the CPU reference.
pub trait Backend {
    /// "gpu", "cpu" or "cpu_fast".
    fn kind(&self) -> &'static str;
    /// Adapter (device) description.
    fn adapter(&self) -> String;
    /// Largest chunk this backend can take for the plan (the engine rounds it to BLOCK).
    fn max_chunk(&self, plan: &Plan) -> u64;
    /// Refuses a plan this backend cannot run (sizes beyond its device's limits), from the
    /// plan's sizes alone: nothing is built or allocated. A run calls it before it touches its
    /// output directory.
    fn check(&self, _plan: &Plan) -> Result<()> {
        Ok(())
    }
    /// Builds what the plan needs before the first chunk (the GPU's kernels and buffers), so
    /// that set-up is timed apart from integration.
    fn prepare(&mut self, _plan: &Plan) -> Result<()> {
        Ok(())
    }
    /// Integrates `chunk` from its initial states (`start` None) or from a state reached before,
    /// up to step `stop`, adding what it finds to `results` and reporting to `progress`, and
    /// returns the step reached: `stop`, or an earlier one when `progress` asked to pause.
    /// Observer values and final states are added once the plan's last step is reached; before
    /// that, [`Backend::suspend`] gives the state.
    fn run_chunk(
        &mut self,
        plan: &Plan,
        chunk: Chunk,
        start: Option<&ChunkState>,
        stop: u32,
        results: &mut ChunkResults,
        progress: &mut dyn Progress,
    ) -> Result<u32>;
    /// The state of `chunk` where the last [`Backend::run_chunk`] stopped before the end.
    fn suspend(&mut self, plan: &Plan, chunk: Chunk) -> Result<ChunkState>;
    /// The states x [trajectory][N] of the `count` trajectories in a chunk's `state` (what
    /// [`Backend::suspend`] gave). By default the CPU backends' layout: each trajectory's values
    /// in turn, x (padded to whole blocks of 4 neurons) first.
    fn states_of(&self, plan: &Plan, state: &ChunkState, count: u64) -> Vec<f32> {
        let width = state.state.len() / (count.max(1) as usize);
        let n = plan.n();
        (0..count as usize).flat_map(|t| state.state[t * width..t * width + n].iter().copied()).collect()
    }
    /// From now on, time the kernels with GPU timestamps where the device has them (a readback
    /// per submit, so only benchmarks ask for it).
    fn time_kernels(&mut self) {}
    /// Device seconds spent in the kernels since the last call, once [`Backend::time_kernels`]
    /// was called; None where the device has no timestamps (and on the CPU reference).
    fn kernel_seconds(&mut self) -> Option<f64> {
        None
    }
    /// The kernels built for the last plan prepared, with their build times (GPU only).
    fn kernel_builds(&self) -> Vec<KernelBuild> {
        Vec::new()
    }
    /// The work layout the plan runs in ("thread", "group", "tile"; GPU only).
    fn work_layout(&self, _plan: &Plan) -> Option<&'static str> {
        None
    }
    /// Why this backend was chosen, when `--backend auto` chose it (see `crate::choose`).
    fn choice(&self) -> Option<serde_json::Value> {
        None
    }
    /// Replaces the recorded choice (a sweep point reusing a backend chosen for another).
    fn set_choice(&mut self, _choice: serde_json::Value) {}
}

/// Whether runs on the device `a` and on the device `b`, each given as (backend kind, adapter)
/// as run.json and checkpoint.json record them, give the same bytes, so that one can be taken
/// for, merged with or resumed as the other: the same kind, and on a GPU the same adapter (a
/// run over several devices by the set of distinct devices it names). The CPU reference
/// computes the same on any machine, whatever its thread count; the CPU fast path the same on
/// machines whose matrix products use the same instructions ("cpu fast path (sgemm avx512, 2
/// threads)": the part before the thread count).
pub fn same_device(a: (&str, &str), b: (&str, &str)) -> bool {
    fn devices(kind: &str, adapter: &str) -> Vec<String> {
        if kind == "cpu" {
            return Vec::new();
        }
        if kind.starts_with("cpu") {
            return vec![adapter.split(',').next().unwrap_or(adapter).to_string()];
        }
        let mut d: Vec<String> = adapter.split(" + ").map(str::to_string).collect();
        d.sort_unstable();
        d.dedup();
        d
    }
    a.0 == b.0 && devices(a.0, a.1) == devices(b.0, b.1)
}

#[cfg(test)]
mod tests {
    use super::{Pace, same_device};
    use std::time::Duration;

    #[test]
    fn devices_that_give_the_same_bytes() {
        let fast = |isa: &str, threads: u32| format!("cpu fast path (sgemm {isa}, {threads} threads)");
        assert!(same_device(("cpu", "cpu reference (2 threads)"), ("cpu", "cpu reference (64 threads)")));
        assert!(same_device(("cpu_fast", &fast("avx512", 2)), ("cpu_fast", &fast("avx512", 16))));
        assert!(!same_device(("cpu_fast", &fast("avx512", 2)), ("cpu_fast", &fast("avx2+fma", 2))));
        assert!(!same_device(("cpu_fast", &fast("avx512", 2)), ("cpu", "cpu reference (2 threads)")));
        assert!(same_device(("gpu", "a + b + a"), ("gpu", "b + a")));
        assert!(!same_device(("gpu", "a"), ("gpu", "b")));
    }

    #[test]
    fn a_stretch_is_sized_from_the_last_ones_time() {
        let mut pace = Pace::new();
        assert_eq!(pace.steps(40), 40, "untimed: the backend's estimate");
        assert_eq!(pace.steps(0), 1, "never fewer than one step");
        // 40 steps in 2 s: 0.05 s a step, 10 steps for half a second.
        pace.record(40, Duration::from_secs(2));
        assert_eq!(pace.steps(40), 10);
        // 10 steps in 1 ms: half a second would be 5000 steps, but a stretch grows at most 4×.
        pace.record(10, Duration::from_millis(1));
        assert_eq!(pace.steps(40), 40);
        // A stretch timed at zero grows by the same factor, and slow steps give one step.
        pace.record(40, Duration::ZERO);
        assert_eq!(pace.steps(1), 160);
        pace.record(1, Duration::from_secs(60));
        assert_eq!(pace.steps(1000), 1);
        // Nothing is recorded for an empty stretch.
        pace.record(0, Duration::from_secs(1));
        assert_eq!(pace.steps(1000), 1);
    }
}
