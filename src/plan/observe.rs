//! The observers of a plan: what is saved, sampled and recorded per trajectory.

/// Everything a run observes.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservePlan {
    /// Steps between saves; save k is at step k·save_every (k = 0 is the initial state).
    pub save_every: u32,
    /// Write every trajectory's saved overlaps (and the modern model's layers).
    pub per_trajectory: bool,
    pub final_state: bool,
    pub histogram: Option<HistogramPlan>,
    /// Save the energy with the overlaps.
    pub energy: bool,
    pub energy_per_trajectory: bool,
    pub retrieval: Option<RetrievalPlan>,
    pub first_passage: Option<FirstPassagePlan>,
    pub occupancy: Option<OccupancyPlan>,
}

impl ObservePlan {
    /// Whether backends must deliver per-trajectory saves (overlaps or energies).
    pub fn per_trajectory_saves(&self) -> bool {
        self.per_trajectory || self.energy_per_trajectory
    }

    /// Whether the backends record per-trajectory observations at segment ends or first
    /// passages.
    pub fn observes_trajectories(&self) -> bool {
        self.retrieval.is_some() || self.first_passage.is_some()
    }

    /// Length of a chunk's counters as backends deliver them: the histogram's cells and its
    /// out-of-range count, then the occupancy rows ([`OccupancyPlan::counts`]).
    pub fn counters(&self) -> usize {
        self.histogram_counters() + self.occupancy.as_ref().map_or(0, OccupancyPlan::counts)
    }

    /// The histogram's part of the counters (0 without one).
    pub fn histogram_counters(&self) -> usize {
        self.histogram.as_ref().map_or(0, |h| h.cells() + 1)
    }
}

/// First-passage value meaning "never".
pub const NO_STEP: u32 = u32::MAX;

/// An on-device histogram (one definition for both backends: see [`HistogramPlan::bin`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPlan {
    /// Neuron coordinates (true) or signed overlaps (false).
    pub of_state: bool,
    pub dims: usize,
    pub axes: [u32; 2],
    pub bins: [u32; 2],
    /// Lower edges and bins per unit length, as the kernels use them.
    pub lo: [f32; 2],
    pub scale: [f32; 2],
    pub range: [[f64; 2]; 2],
    /// Samples are taken after `done` steps when done ≥ from_steps, done ≥ 1 and done is a
    /// multiple of every_steps.
    pub from_steps: u32,
    pub every_steps: u32,
}

impl HistogramPlan {
    /// Cells in range; the count of out-of-range samples is kept after them.
    pub fn cells(&self) -> usize {
        (self.bins[0] as usize) * if self.dims == 2 { self.bins[1] as usize } else { 1 }
    }

    /// Whether a sample is taken after `done` steps.
    pub fn samples_at(&self, done: u32) -> bool {
        done >= 1 && done >= self.from_steps && done.is_multiple_of(self.every_steps)
    }

    /// Samples per trajectory over a run of `total` steps.
    pub fn samples_per_trajectory(&self, total: u32) -> u64 {
        let first = self.from_steps.max(1).div_ceil(self.every_steps);
        let last = total / self.every_steps;
        (last + 1).saturating_sub(first) as u64
    }

    /// Bin of one coordinate: floor((v − lo)·scale) if in [0, bins), else None (NaN included).
    /// Same f32 arithmetic as `hist_bin` in `shaders/params.wgsl`.
    pub fn axis_bin(&self, k: usize, v: f32) -> Option<u32> {
        let y = (v - self.lo[k]) * self.scale[k];
        if y >= 0.0 && y < self.bins[k] as f32 { Some((y as u32).min(self.bins[k] - 1)) } else { None }
    }

    /// Cell of a sample (values along the axes), or `cells()` (the out-of-range slot).
    pub fn bin(&self, v: [f32; 2]) -> usize {
        let b0 = self.axis_bin(0, v[0]);
        if self.dims == 1 {
            return b0.map_or(self.cells(), |b| b as usize);
        }
        match (b0, self.axis_bin(1, v[1])) {
            (Some(a), Some(b)) => a as usize * self.bins[1] as usize + b as usize,
            _ => self.cells(),
        }
    }
}

/// The retrieval observer: per trajectory and segment, the overlaps averaged over the
/// segment's last `window_steps` steps (the values after each of those steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalPlan {
    pub threshold: f32,
    pub window_steps: u32,
}

/// First passage: the first step count after which abs(m_memory) ≥ threshold (t = 0 included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstPassagePlan {
    /// None: the target (dominant memory) of the segment in effect.
    pub memory: Option<u32>,
    pub threshold: f32,
}

pub use crate::spec::OccupancyNorm;

/// The basin-occupancy observer (docs/THEORY.md §11): after every `every_steps` steps (t > 0),
/// each trajectory counts for the nearest equilibrium within the radius, or for "outside".
#[derive(Debug, Clone, PartialEq)]
pub struct OccupancyPlan {
    pub radius: f64,
    pub norm: OccupancyNorm,
    /// A sample is within the radius of x* when its score ([`OccupancyPlan::score`]) is ≤ this:
    /// r² (euclidean), r² N (rms) or r (max), rounded to f32.
    pub threshold: f32,
    pub every_steps: u32,
    /// Counts at steps ≥ from_steps are pooled.
    pub from_steps: u32,
    /// Rows of counts: after every_steps, 2 every_steps, …, rows · every_steps ≤ the run's steps.
    pub rows: u32,
    /// "theory" (true) or "memories".
    pub theory: bool,
    /// Filled once the plan is complete (`resolve::plan`).
    pub equilibria: Vec<Equilibrium>,
}

/// One point the occupancy observer counts around.
#[derive(Debug, Clone, PartialEq)]
pub struct Equilibrium {
    /// "+xi0", "-xi1", "origin", "eq3".
    pub label: String,
    /// The memory whose direction it lies along, with its sign (None: the origin or a mixture).
    pub memory: Option<(u32, i8)>,
    /// Its coordinates (N values): for a memory sign · γ · ξ^μ, every entry ± the f32 of γ.
    pub x: Vec<f32>,
    /// The amplitude γ along its memory, in f64 (None for the origin and mixtures).
    pub gamma: Option<f64>,
}

impl OccupancyPlan {
    /// Equilibria plus the "outside" slot.
    pub fn slots(&self) -> usize {
        self.equilibria.len() + 1
    }

    /// Counts per chunk: rows × slots, row-major.
    pub fn counts(&self) -> usize {
        self.rows as usize * self.slots()
    }

    /// The row counted after `done` steps, if any.
    pub fn row_at(&self, done: u32) -> Option<usize> {
        (done >= 1 && done.is_multiple_of(self.every_steps) && done / self.every_steps <= self.rows)
            .then(|| (done / self.every_steps - 1) as usize)
    }

    /// The first row pooled (at a time ≥ from).
    pub fn first_pooled(&self) -> usize {
        (self.from_steps.max(1).div_ceil(self.every_steps) - 1) as usize
    }

    /// The score of state `x` against equilibrium `e`: Σ (x_i − x*_i)² (euclidean, rms) or
    /// max |x_i − x*_i| (max), in f32, blocks of four neurons summed lane by lane
    /// (((d₀² + d₁²) + d₂²) + d₃²) and then block after block, as `occ_score` in
    /// `shaders/observe.wgsl`.
    pub fn score(&self, x: &[f32], e: &Equilibrium) -> f32 {
        let n = e.x.len();
        let mut acc = 0f32;
        for b in 0..n.div_ceil(4) {
            let d = |l: usize| {
                let i = 4 * b + l;
                if i < n { x[i] - e.x[i] } else { 0.0 }
            };
            let d = [d(0), d(1), d(2), d(3)];
            if self.norm == OccupancyNorm::Max {
                for v in d {
                    acc = if v.abs() > acc { v.abs() } else { acc };
                }
            } else {
                acc += ((d[0] * d[0] + d[1] * d[1]) + d[2] * d[2]) + d[3] * d[3];
            }
        }
        acc
    }

    /// The slot a state counts for: the equilibrium of smallest score among those within the
    /// radius (score ≤ threshold; the lower index on a tie), else `equilibria.len()`
    /// ("outside"; a non-finite state is outside too).
    pub fn slot(&self, x: &[f32]) -> usize {
        let mut best = (self.equilibria.len(), f32::INFINITY);
        for (k, e) in self.equilibria.iter().enumerate() {
            let s = self.score(x, e);
            if s <= self.threshold && (best.0 == self.equilibria.len() || s < best.1) {
                best = (k, s);
            }
        }
        best.0
    }
}
