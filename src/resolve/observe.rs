//! The `observe` section: saves, energy, histogram, retrieval and first passage.

use super::limits::{MAX_HIST_CELLS, MAX_HIST_EDGE, MAX_OCCUPANCY_VALUES, MAX_SAVED_VALUES};
use crate::error::{SpecError, SpecResult};
use crate::plan::{
    Coupling, Equilibrium, FirstPassagePlan, HistogramPlan, ModelPlan, ObservePlan, OccupancyNorm, OccupancyPlan, Plan,
    PsiY, RetrievalPlan, SaveLayout, SegmentPlan,
};
use crate::spec::checks::{check_nonnegative, check_positive, check_threshold, steps_of};
use crate::spec::{HistogramOf, HistogramSpec, MemoryChoice, ObserveSpec, OccupancyEquilibria};

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
    let occupancy = occupancy(o, n, (dt, total_steps), save_every)?;
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
        occupancy,
    })
}

/// The occupancy observer's clock, radius and norm; its equilibria are filled in by
/// [`occupancy_equilibria`] once the plan is complete.
fn occupancy(o: &ObserveSpec, n: usize, (dt, total): (f64, u32), save_every: u32) -> SpecResult<Option<OccupancyPlan>> {
    let Some(c) = &o.occupancy else { return Ok(None) };
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
    Ok(Some(OccupancyPlan {
        radius: c.radius,
        norm: c.norm,
        threshold: threshold as f32,
        every_steps,
        from_steps,
        rows,
        theory: c.equilibria == OccupancyEquilibria::Theory,
        equilibria: Vec::new(),
    }))
}

/// The equilibria of the occupancy observer (docs/THEORY.md §11), from the complete plan: the
/// last segment's constant input sets them.
pub fn occupancy_equilibria(plan: &Plan) -> SpecResult<Vec<Equilibrium>> {
    let Some(occ) = &plan.observe.occupancy else { return Ok(Vec::new()) };
    let field = "observe.occupancy.equilibria";
    let (n, p) = (plan.n(), plan.p());
    let which = if occ.theory { "theory" } else { "memories" };
    if plan.model.modern().is_some() {
        return Err(SpecError::new(
            field,
            format!(
                "\"{which}\" is for the idp and classic models; the modern model has no closed-form equilibria here"
            ),
        ));
    }
    let last = plan.input.segments.len() - 1;
    let seg = &plan.input.segments[last];
    let idp = plan.model.coupling() == Coupling::Saliency;
    if (idp || occ.theory) && (seg.random.is_some() || seg.cue.is_some() || seg.pulse_steps.is_some()) {
        return Err(SpecError::new(
            field,
            format!(
                "\"{which}\" needs the same constant input for every trajectory in the last segment (input.segments[{last}] has random weights, a cue or a pulse); give it weights, saliencies or a vector"
            ),
        ));
    }
    let memory_eq = |mu: usize, sign: i8, g: f64| {
        let a = (sign as f64 * g) as f32;
        Equilibrium {
            label: format!("{}xi{mu}", if sign > 0 { "+" } else { "-" }),
            memory: Some((mu as u32, sign)),
            x: (0..n).map(|i| a * plan.memories.get(i, mu)).collect(),
            gamma: Some(g),
        }
    };
    if occ.theory {
        if n != 2 {
            return Err(SpecError::new(
                field,
                format!("\"theory\" is for N = 2 (this network has N = {n}); use \"memories\" (±γ_μ ξ^μ, any N)"),
            ));
        }
        let f = crate::theory::Field::new(plan, last);
        let mut out: Vec<(usize, Equilibrium)> = Vec::new();
        for (k, e) in crate::theory::find_equilibria(&f, plan).into_iter().filter(|e| e.stable).enumerate() {
            let norm = e.x.iter().map(|v| v * v).sum::<f64>().sqrt();
            // Along memory μ when x is parallel to ξ^μ (to 1e-6), with the sign of ξ^μ · x.
            let along = (0..p).find_map(|mu| {
                let dot: f64 = (0..n).map(|i| plan.memories.get(i, mu) as f64 * e.x[i]).sum();
                (norm > 1e-9 && dot.abs() >= (1.0 - 1e-6) * norm * (n as f64).sqrt())
                    .then(|| (mu, if dot > 0.0 { 1i8 } else { -1 }, dot.abs() / n as f64))
            });
            let eq = match along {
                Some((mu, sign, g)) => {
                    Equilibrium { x: e.x.iter().map(|&v| v as f32).collect(), ..memory_eq(mu, sign, g) }
                }
                None => Equilibrium {
                    label: if norm <= 1e-9 { "origin".into() } else { format!("eq{k}") },
                    memory: None,
                    x: e.x.iter().map(|&v| v as f32).collect(),
                    gamma: None,
                },
            };
            out.push((k, eq));
        }
        // Memories in order, + before −; then the origin and mixtures in the theory's order.
        out.sort_by_key(|(k, e)| e.memory.map_or((p, 0, *k), |(mu, s)| (mu as usize, (s < 0) as usize, 0)));
        return Ok(out.into_iter().map(|e| e.1).collect());
    }
    // ±γ_μ ξ^μ: γ = (a_μ − d) tanh(δγ), a = α (idp) or 1 (classic), d the zeroed diagonal's shift.
    let slope = plan.model.slope as f64;
    let a: Vec<f64> = if idp { seg.coef64.clone() } else { vec![1.0; p] };
    let d = match (plan.model.zero_diagonal(), idp) {
        (false, _) => 0.0,
        (true, true) => a.iter().sum::<f64>() / n as f64,
        (true, false) => p as f64 / n as f64,
    };
    if (2 * p) as u64 * n as u64 > MAX_OCCUPANCY_VALUES {
        return Err(SpecError::new(
            field,
            format!(
                "\"memories\" with P = {p} and N = {n} is {} coordinates; at most {MAX_OCCUPANCY_VALUES} (2P × N) are supported",
                2 * p as u64 * n as u64
            ),
        ));
    }
    let mut out = Vec::with_capacity(2 * p);
    for (mu, &am) in a.iter().enumerate() {
        let Some(g) = crate::theory::gamma(am - d, slope) else {
            return Err(SpecError::new(
                field,
                format!(
                    "memory {mu} has no equilibrium ±γξ^{mu}: δ (a − d) = {} ≤ 1 with a = {am}, d = {d}; raise its saliency or the slope, or use \"theory\" (N = 2)",
                    slope * (am - d)
                ),
            ));
        };
        out.push(memory_eq(mu, 1, g));
        out.push(memory_eq(mu, -1, g));
    }
    Ok(out)
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
    if let (Some(c), Some(op)) = (o.occupancy.as_mut(), plan.occupancy.as_ref()) {
        c.every = Some(op.every_steps as f64 * dt);
        c.from = Some(op.from_steps as f64 * dt);
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
