//! The occupancy observer's equilibria, which need the complete plan and the theory (its
//! JSON, rules and plan are in `spec::observe::occupancy`).

use crate::error::{SpecError, SpecResult};
use crate::plan::{ClosedForm, Coupling, Equilibrium, Plan};
use crate::spec::observe::occupancy::MAX_OCCUPANCY_VALUES;

/// The equilibria of the occupancy observer (docs/THEORY.md §11), from the complete plan: the
/// last segment's constant input sets them.
pub fn equilibria(plan: &Plan) -> SpecResult<Vec<Equilibrium>> {
    let Some(occ) = &plan.observe.occupancy else { return Ok(Vec::new()) };
    let field = "observe.occupancy.equilibria";
    let (n, p) = (plan.n(), plan.p());
    let which = if occ.theory { "theory" } else { "memories" };
    let coupling = match plan.model.closed_form() {
        ClosedForm::Hopfield(c) => c,
        ClosedForm::Modern(_) => {
            return Err(SpecError::new(
                field,
                format!(
                    "\"{which}\" is for the idp and classic models; the modern model has no closed-form equilibria here"
                ),
            ));
        }
        ClosedForm::None(why) => {
            return Err(SpecError::new(
                field,
                format!("\"{which}\" needs the model's equilibria in closed form: {why}"),
            ));
        }
    };
    let last = plan.input.segments.len() - 1;
    let seg = &plan.input.segments[last];
    let idp = coupling == Coupling::Saliency;
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
