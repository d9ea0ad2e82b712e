//! The `observe` section: what a run saves, samples and records per trajectory. Each observer
//! keeps its JSON, its rules, its limits and its plan in a file of its own (`histogram`,
//! `retrieval`, `first_passage`, `occupancy`); this one holds the section (`ObserveSpec`,
//! `ObservePlan`), the saves every run has (the overlaps, the energy, `saves::SaveLayout`) and
//! the rules across observers.

pub mod first_passage;
pub mod histogram;
pub mod occupancy;
pub mod retrieval;
pub mod saves;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{SpecError, SpecResult};
use crate::spec::checks::{check_positive, steps_of};
use crate::spec::model::ModelPlan;
pub use first_passage::{FirstPassagePlan, FirstPassageSpec, NO_STEP};
pub use histogram::{HistogramOf, HistogramPlan, HistogramSpec};
pub use occupancy::{Equilibrium, OccupancyEquilibria, OccupancyNorm, OccupancyPlan, OccupancySpec};
pub use retrieval::{RetrievalPlan, RetrievalSpec};
pub use saves::SaveLayout;

/// Largest number of saved values (saves × quantities per save) per trajectory. A chunk keeps at
/// least 64 trajectories' saves in host memory (twice on the CPU reference), so this bounds
/// that memory by 512 MiB however long the run.
pub const MAX_SAVED_VALUES: u64 = 1_000_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ObserveSpec {
    /// Default: saved 100 times over the run (snapped to a multiple of dt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlaps: Option<OverlapsSpec>,
    #[serde(default)]
    pub final_state: bool,
    /// On-device histogram of one or two state coordinates or overlaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<HistogramSpec>,
    /// Energy E(x; u) of every trajectory, saved with the overlaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<EnergySpec>,
    /// The memory each trajectory retrieves at the end of every segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<RetrievalSpec>,
    /// The first time abs(m_memory) reaches a threshold, per trajectory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_passage: Option<FirstPassageSpec>,
    /// How many trajectories lie within a radius of each stable equilibrium, at each save.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupancy: Option<OccupancySpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OverlapsSpec {
    /// Time between saves (a multiple of dt); t = 0 is always saved.
    pub every: f64,
    /// Also write overlaps.npy [M, T, P].
    #[serde(default)]
    pub per_trajectory: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnergySpec {
    /// Time between saves; the energy is saved with the overlaps, so this must equal
    /// observe.overlaps.every (default: that value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<f64>,
    /// Also write energy.npy [M, T].
    #[serde(default)]
    pub per_trajectory: bool,
}

/// The default overlap threshold of retrieval and first passage.
fn default_threshold() -> f64 {
    0.9
}

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
    /// out-of-range count, then each other counted observer's range in turn (the occupancy
    /// rows, [`ObservePlan::occupancy_counters`]). The kernels keep the histogram's in
    /// replicas and the others' once, in the same order.
    pub fn counters(&self) -> usize {
        self.occupancy_counters().end
    }

    /// The occupancy counts' place in the counters ([`OccupancyPlan::counts`]; empty without
    /// the observer).
    pub fn occupancy_counters(&self) -> Range<usize> {
        let start = self.histogram_counters();
        start..start + self.occupancy.as_ref().map_or(0, OccupancyPlan::counts)
    }

    /// The histogram's part of the counters (0 without one).
    pub fn histogram_counters(&self) -> usize {
        self.histogram.as_ref().map_or(0, |h| h.cells() + 1)
    }
}

/// What the observers see of one trajectory after `done` steps: the definition both backends
/// follow (`cpu::Trajectory::observe` passes it to [`ObservePlan::track`] and
/// [`ObservePlan::count`]; the kernels' twin is `shaders/observe.wgsl`).
pub struct Observed<'a> {
    pub done: u32,
    /// The state (N values) and the overlaps (P).
    pub x: &'a [f32],
    pub m: &'a [f32],
    /// The input segment in effect, the step count at which it ends, and its target memory.
    pub segment: usize,
    pub segment_end: u32,
    pub target: Option<u32>,
}

impl ObservePlan {
    /// The per-trajectory observers at `at` (after a step, and at t = 0): `obs` holds the
    /// retrieval window sums [segment][P], then the first-passage step (see
    /// `Plan::obs_per_trajectory`).
    pub fn track(&self, at: &Observed, obs: &mut [f32]) {
        if let Some(r) = &self.retrieval {
            r.track(at, obs);
        }
        if let Some(f) = &self.first_passage {
            f.track(at, obs);
        }
    }

    /// The counted observers' samples at `at` (after a step), added to `counters` (laid out as
    /// [`ObservePlan::counters`] says).
    pub fn count(&self, at: &Observed, counters: &mut [u64]) {
        if let Some(h) = &self.histogram {
            h.count(at, &mut counters[..self.histogram_counters()]);
        }
        if let Some(o) = &self.occupancy {
            o.count(at, &mut counters[self.occupancy_counters()]);
        }
    }
}

/// What the observers' rules know of the rest of the plan.
pub struct Context<'a> {
    pub model: &'a ModelPlan,
    /// Neurons and memories.
    pub n: usize,
    pub p: usize,
    pub dt: f64,
    pub total_steps: u32,
    /// The input segments' lengths in steps.
    pub segment_steps: &'a [u32],
}

impl ObserveSpec {
    /// The observers' plan, once the model, the memories and the schedule are known: each
    /// observer's own rules, then the rules across them.
    pub fn resolve(&self, cx: &Context) -> SpecResult<ObservePlan> {
        let (n, p, dt, total_steps) = (cx.n, cx.p, cx.dt, cx.total_steps);
        let (save_every, per_trajectory) = overlaps(self, dt, total_steps)?;
        let (energy, energy_per_trajectory) = energy(self, cx.model, dt, save_every)?;
        let histogram = self.histogram.as_ref().map(|h| histogram::resolve(h, n, p, dt, total_steps)).transpose()?;
        let retrieval = self.retrieval.as_ref().map(|r| retrieval::resolve(r, cx.segment_steps, dt)).transpose()?;
        let first_passage = self.first_passage.as_ref().map(|f| first_passage::resolve(f, p)).transpose()?;
        let occupancy =
            self.occupancy.as_ref().map(|c| occupancy::resolve(c, n, (dt, total_steps), save_every)).transpose()?;
        let saves = (total_steps / save_every) as u64 + 1;
        let q = SaveLayout { p, energy, layers: cx.model.modern().is_some() }.q() as u64;
        if saves * q > MAX_SAVED_VALUES {
            return Err(SpecError::new(
                "observe.overlaps.every",
                format!(
                    "{saves} saves × {q} values is more than {MAX_SAVED_VALUES} values per trajectory; save less often"
                ),
            ));
        }
        Ok(ObservePlan {
            save_every,
            per_trajectory,
            final_state: self.final_state,
            histogram,
            energy,
            energy_per_trajectory,
            retrieval,
            first_passage,
            occupancy,
        })
    }

    /// Writes the resolved intervals into the spec recorded in run.json.
    pub fn record(&mut self, plan: &ObservePlan, dt: f64) {
        let every = plan.save_every as f64 * dt;
        if self.overlaps.is_none() {
            self.overlaps = Some(OverlapsSpec { every, per_trajectory: false });
        }
        if let Some(e) = self.energy.as_mut() {
            e.every = Some(every);
        }
        if let Some(r) = self.retrieval.as_mut() {
            r.window = Some(plan.retrieval.as_ref().map_or(1, |r| r.window_steps) as f64 * dt);
        }
        if let (Some(c), Some(op)) = (self.occupancy.as_mut(), plan.occupancy.as_ref()) {
            c.every = Some(op.every_steps as f64 * dt);
            c.from = Some(op.from_steps as f64 * dt);
        }
    }
}

/// Steps between saves (default: 100 saves over the run) and whether they are written per
/// trajectory.
fn overlaps(o: &ObserveSpec, dt: f64, total_steps: u32) -> SpecResult<(u32, bool)> {
    let Some(ov) = &o.overlaps else { return Ok(((total_steps / 100).max(1), false)) };
    check_positive("observe.overlaps.every", ov.every)?;
    let steps = steps_of("observe.overlaps.every", ov.every, dt)?;
    if steps > total_steps {
        return Err(SpecError::new(
            "observe.overlaps.every",
            format!("{} is longer than the run ({})", ov.every, total_steps as f64 * dt),
        ));
    }
    Ok((steps, ov.per_trajectory))
}

/// Whether the energy is saved (with the overlaps), and per trajectory.
fn energy(o: &ObserveSpec, model: &ModelPlan, dt: f64, save_every: u32) -> SpecResult<(bool, bool)> {
    let Some(e) = &o.energy else { return Ok((false, false)) };
    if let Some(why) = model.no_energy() {
        return Err(SpecError::new("observe.energy", why));
    }
    if let Some(every) = e.every {
        check_positive("observe.energy.every", every)?;
        if steps_of("observe.energy.every", every, dt)? != save_every {
            return Err(SpecError::new(
                "observe.energy.every",
                format!(
                    "{every} differs from the overlaps' interval {}; the energy is saved with the overlaps, so give the same value (or leave it out)",
                    save_every as f64 * dt
                ),
            ));
        }
    }
    Ok((true, e.per_trajectory))
}
