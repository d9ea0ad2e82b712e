//! The `observe` section: saves, energy, histogram, retrieval and first passage.

use super::checks::{check_nonnegative, check_positive, check_threshold, steps_of};
use super::limits::{MAX_HIST_CELLS, MAX_HIST_EDGE, MAX_SAVED_VALUES};
use crate::error::{SpecError, SpecResult};
use crate::plan::{
    FirstPassagePlan, HistogramPlan, ModelPlan, ObservePlan, PsiY, RetrievalPlan, SaveLayout, SegmentPlan,
};
use crate::spec::{HistogramOf, HistogramSpec, MemoryChoice, ObserveSpec};

/// The observers, once the model, the memories and the schedule are known.
pub fn resolve(
    o: &ObserveSpec,
    model: &ModelPlan,
    (n, p): (usize, usize),
    segments: &[SegmentPlan],
    (dt, total_steps): (f64, u32),
) -> SpecResult<ObservePlan> {
    let (save_every, per_trajectory) = overlaps(o, dt, total_steps)?;
    let histogram = match &o.histogram {
        None => None,
        Some(h) => Some(histogram(h, n, p, dt, total_steps)?),
    };
    let (energy, energy_per_trajectory) = energy(o, model, dt, save_every)?;
    let retrieval = retrieval(o, segments, dt)?;
    let first_passage = first_passage(o, p)?;
    let saves = (total_steps / save_every) as u64 + 1;
    let q = SaveLayout { p, energy, layers: model.modern().is_some() }.q() as u64;
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
        final_state: o.final_state,
        histogram,
        energy,
        energy_per_trajectory,
        retrieval,
        first_passage,
    })
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
    if let Some(md) = model.modern()
        && !(matches!(md.psi_y, PsiY::Softmax { .. }) && md.identity_x && md.tau_y == 0.0)
    {
        return Err(SpecError::new(
            "observe.energy",
            "the modern model has an energy (E_tr) only with psi_y softmax, activation \"identity\" and tau_y = 0",
        ));
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

fn retrieval(o: &ObserveSpec, segments: &[SegmentPlan], dt: f64) -> SpecResult<Option<RetrievalPlan>> {
    let Some(r) = &o.retrieval else { return Ok(None) };
    check_threshold("observe.retrieval.threshold", r.threshold)?;
    let window_steps = match r.window {
        None => 1,
        Some(w) => {
            check_positive("observe.retrieval.window", w)?;
            steps_of("observe.retrieval.window", w, dt)?
        }
    };
    if let Some((k, sg)) = segments.iter().enumerate().find(|(_, s)| s.steps < window_steps) {
        return Err(SpecError::new(
            "observe.retrieval.window",
            format!(
                "{} is longer than segment {k} ({}); the window must fit in every segment",
                window_steps as f64 * dt,
                sg.steps as f64 * dt
            ),
        ));
    }
    Ok(Some(RetrievalPlan { threshold: r.threshold as f32, window_steps }))
}

fn first_passage(o: &ObserveSpec, p: usize) -> SpecResult<Option<FirstPassagePlan>> {
    let Some(f) = &o.first_passage else { return Ok(None) };
    check_threshold("observe.first_passage.threshold", f.threshold)?;
    let memory = match f.memory {
        MemoryChoice::Index(i) if i < p => Some(i as u32),
        MemoryChoice::Target => None,
        other => {
            return Err(SpecError::new(
                "observe.first_passage.memory",
                format!(
                    "{} is not accepted; give a memory index 0 to {} or \"target\"",
                    serde_json::to_string(&other).unwrap_or_default(),
                    p - 1
                ),
            ));
        }
    };
    Ok(Some(FirstPassagePlan { memory, threshold: f.threshold as f32 }))
}

/// Writes the resolved intervals into the spec recorded in run.json.
pub fn record(o: &mut ObserveSpec, plan: &ObservePlan, dt: f64) {
    let every = plan.save_every as f64 * dt;
    if o.overlaps.is_none() {
        o.overlaps = Some(crate::spec::OverlapsSpec { every, per_trajectory: false });
    }
    if let Some(e) = o.energy.as_mut() {
        e.every = Some(every);
    }
    if let Some(r) = o.retrieval.as_mut() {
        r.window = Some(plan.retrieval.as_ref().map_or(1, |r| r.window_steps) as f64 * dt);
    }
}

pub fn histogram(h: &HistogramSpec, n: usize, p: usize, dt: f64, total_steps: u32) -> SpecResult<HistogramPlan> {
    let of_state = h.of == HistogramOf::State;
    let dims = h.axes.len();
    if dims == 0 || dims > 2 {
        return Err(SpecError::new("observe.histogram.axes", format!("has {dims} entries; give 1 or 2 indices")));
    }
    let limit = if of_state { n } else { p };
    for (k, &a) in h.axes.iter().enumerate() {
        if a >= limit {
            let what = if of_state { "neuron" } else { "memory" };
            return Err(SpecError::new(
                format!("observe.histogram.axes[{k}]"),
                format!("{what} {a} does not exist; accepted: 0 to {}", limit - 1),
            ));
        }
    }
    if dims == 2 && h.axes[0] == h.axes[1] {
        return Err(SpecError::new("observe.histogram.axes[1]", "repeats axes[0]; give two different indices"));
    }
    if h.bins.len() != dims {
        return Err(SpecError::new(
            "observe.histogram.bins",
            format!("has {} entries; it must have one per axis ({dims})", h.bins.len()),
        ));
    }
    if h.range.len() != dims {
        return Err(SpecError::new(
            "observe.histogram.range",
            format!("has {} entries; it must have one [low, high] per axis ({dims})", h.range.len()),
        ));
    }
    let mut cells = 1u64;
    for k in 0..dims {
        if h.bins[k] == 0 {
            return Err(SpecError::new(format!("observe.histogram.bins[{k}]"), "must be at least 1"));
        }
        cells *= h.bins[k] as u64;
        let [lo, hi] = h.range[k];
        // The kernels bin in f32: the edges must be f32 values and a bin wide enough for f32 to
        // tell its edges apart; the pictures need a finite axis too. Edges and bin widths that
        // f32 holds only as subnormals (GPUs may flush them to 0, and the bins per unit overflow)
        // cannot be binned.
        let edge = lo.abs().max(hi.abs());
        let width = (hi - lo) / h.bins[k].max(1) as f64;
        let resolvable = width >= 1e-6 * edge;
        let normal = |v: f64| v == 0.0 || v.abs() >= f32::MIN_POSITIVE as f64;
        let subnormal = !(normal(lo) && normal(hi) && width >= f32::MIN_POSITIVE as f64);
        if subnormal && lo.is_finite() && hi.is_finite() && lo < hi {
            return Err(SpecError::new(
                format!("observe.histogram.range[{k}]"),
                format!(
                    "[{lo}, {hi}] is not accepted: f32, in which the kernels bin, holds it only as subnormal numbers; give edges that are 0 or at least {:e} in magnitude, with bins at least that wide",
                    f32::MIN_POSITIVE
                ),
            ));
        }
        if !(lo.is_finite() && hi.is_finite() && lo < hi && edge <= MAX_HIST_EDGE && resolvable) {
            return Err(SpecError::new(
                format!("observe.histogram.range[{k}]"),
                format!(
                    "[{lo}, {hi}] is not accepted; give finite low < high within ±{MAX_HIST_EDGE:e}, with bins wider than 1e-6 of the largest |edge| (the kernels bin in f32)"
                ),
            ));
        }
    }
    if cells > MAX_HIST_CELLS {
        return Err(SpecError::new("observe.histogram.bins", format!("{cells} cells is more than {MAX_HIST_CELLS}")));
    }
    check_nonnegative("observe.histogram.from", h.from)?;
    let from_steps = if h.from == 0.0 { 0 } else { steps_of("observe.histogram.from", h.from, dt)? };
    if from_steps > total_steps {
        return Err(SpecError::new(
            "observe.histogram.from",
            format!("{} is after the end of the run ({})", h.from, total_steps as f64 * dt),
        ));
    }
    let every_steps = match h.every {
        None => 1,
        Some(e) => {
            check_positive("observe.histogram.every", e)?;
            steps_of("observe.histogram.every", e, dt)?
        }
    };
    let mut axes = [0u32; 2];
    let mut bins = [1u32; 2];
    let mut lo = [0f32; 2];
    let mut scale = [1f32; 2];
    let mut range = [[0f64; 2]; 2];
    for k in 0..dims {
        axes[k] = h.axes[k] as u32;
        bins[k] = h.bins[k];
        lo[k] = h.range[k][0] as f32;
        scale[k] = (h.bins[k] as f64 / (h.range[k][1] - h.range[k][0])) as f32;
        range[k] = h.range[k];
    }
    Ok(HistogramPlan { of_state, dims, axes, bins, lo, scale, range, from_steps, every_steps })
}
