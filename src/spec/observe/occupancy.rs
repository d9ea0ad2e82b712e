//! The basin-occupancy observer (docs/THEORY.md §11): after every `every_steps` steps, how many
//! trajectories lie within a radius of each equilibrium. Its JSON, its rules, its limits and its
//! plan; its equilibria come from the complete plan (`resolve::occupancy`, with the theory).

use serde::{Deserialize, Serialize};

use super::Observed;
use crate::error::{SpecError, SpecResult};
use crate::spec::checks::{check_nonnegative, check_positive, steps_of};

/// Largest number of occupancy counts per run (rows × (equilibria + 1)); the GPU keeps them
/// all in one buffer.
pub const MAX_OCCUPANCY_COUNTS: u64 = 1 << 22;

/// Largest number of equilibrium coordinates the occupancy observer keeps (2P × N).
pub const MAX_OCCUPANCY_VALUES: u64 = 1 << 24;

/// The basin-occupancy observer (docs/THEORY.md §11).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OccupancySpec {
    /// A sample counts for an equilibrium x* when its distance to x* is at most this.
    pub radius: f64,
    /// Which points: the memories' equilibria ±γ_μ ξ^μ, or (N = 2) the stable equilibria the
    /// `theory` command finds.
    #[serde(default)]
    pub equilibria: OccupancyEquilibria,
    /// The distance: Euclidean, root mean square over the neurons, or the largest coordinate.
    #[serde(default)]
    pub norm: OccupancyNorm,
    /// Time between counts (a multiple of dt; default observe.overlaps.every).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<f64>,
    /// The counts at times ≥ from are pooled (default: the last count alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<f64>,
}

/// The equilibria an occupancy observer counts around.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OccupancyEquilibria {
    #[default]
    Memories,
    Theory,
}

/// The distance of the occupancy observer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OccupancyNorm {
    #[default]
    Euclidean,
    Rms,
    Max,
}

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

    /// Counts the state after a step, if a count is taken then, in `counters` (rows × slots).
    pub fn count(&self, at: &Observed, counters: &mut [u64]) {
        if let Some(row) = self.row_at(at.done) {
            counters[row * self.slots() + self.slot(at.x)] += 1;
        }
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

/// The occupancy observer's clock, radius and norm; its equilibria are filled in by
/// `resolve::occupancy` once the plan is complete (they need the theory).
pub fn resolve(c: &OccupancySpec, n: usize, (dt, total): (f64, u32), save_every: u32) -> SpecResult<OccupancyPlan> {
    check_positive("observe.occupancy.radius", c.radius)?;
    let every_steps = match c.every {
        None => save_every,
        Some(e) => {
            check_positive("observe.occupancy.every", e)?;
            let k = steps_of("observe.occupancy.every", e, dt)?;
            if k > total {
                return Err(SpecError::new(
                    "observe.occupancy.every",
                    format!("{e} is longer than the run ({})", total as f64 * dt),
                ));
            }
            k
        }
    };
    let rows = total / every_steps;
    let last = rows * every_steps;
    let from_steps = match c.from {
        None => last,
        Some(f) => {
            check_nonnegative("observe.occupancy.from", f)?;
            let k = if f == 0.0 { 0 } else { steps_of("observe.occupancy.from", f, dt)? };
            if k > last {
                return Err(SpecError::new(
                    "observe.occupancy.from",
                    format!(
                        "{f} is after the last count (t = {}); give a time from 0 to {}",
                        last as f64 * dt,
                        last as f64 * dt
                    ),
                ));
            }
            k
        }
    };
    let threshold = match c.norm {
        OccupancyNorm::Euclidean => c.radius * c.radius,
        OccupancyNorm::Rms => c.radius * c.radius * n as f64,
        OccupancyNorm::Max => c.radius,
    };
    if !(threshold as f32).is_finite() || threshold as f32 == 0.0 {
        return Err(SpecError::new(
            "observe.occupancy.radius",
            format!("{} is out of range; give a radius whose square (times N for \"rms\") is a normal f32", c.radius),
        ));
    }
    Ok(OccupancyPlan {
        radius: c.radius,
        norm: c.norm,
        threshold: threshold as f32,
        every_steps,
        from_steps,
        rows,
        theory: c.equilibria == OccupancyEquilibria::Theory,
        equilibria: Vec::new(),
    })
}
