//! The model's mathematics on a plan, one definition for the CPU reference (the kernels in
//! `shaders/` mirror it): the drift and energy, the per-trajectory input draws, and the modern
//! model's layers; and the one place that tells the models apart for the CPU's step
//! ([`coefficients`], [`save`]), so that `cpu::Trajectory` needs no change for a new model.

pub mod drift;
pub mod input;
pub mod modern;

use crate::plan::Plan;
use drift::Drive;

/// The input in effect at a step: the previous and current segments' drives, the ramp's
/// position s and whether the input is on (see `plan::SegmentPlan::schedule`).
pub struct InputNow<'a> {
    pub prev: &'a Drive,
    pub cur: &'a Drive,
    pub s: f32,
    pub on: bool,
}

/// The first part of a step, by model: the field's coefficients `c` from the overlaps `m`
/// (and the per-neuron input `v` when the plan has one, the modern model's layers, advanced
/// to t + dt); returns the diagonal shift d. The field is then h_i = Σ_μ ξ_iμ c_μ. `at` is
/// (the step, the trajectory's global index), for the layers' noise.
pub fn coefficients(
    plan: &Plan,
    input: &InputNow,
    m: &[f32],
    layers: &mut modern::Layers,
    c: &mut [f32],
    v: Option<&mut [f32]>,
    (step, trajectory): (u32, u64),
) -> f32 {
    let InputNow { prev, cur, s, on } = *input;
    match plan.model.modern() {
        Some(md) => {
            modern::step(plan, md, prev, cur, s, on, m, layers, c, step, trajectory);
            0.0
        }
        None => drift::step_coefficients(plan, prev, cur, s, on, m, c, v),
    }
}

/// A save's quantities beyond the overlaps, by model (see `plan::SaveLayout`): the energy
/// when observed, and the modern model's memory layer and saliencies; `x` is the state.
pub fn save(plan: &Plan, input: &InputNow, x: &[f32], m: &[f32], layers: &modern::Layers, out: &mut [f32]) {
    let InputNow { prev, cur, s, on } = *input;
    let l = plan.saves();
    match plan.model.modern() {
        None => {
            if let Some(e) = l.energy_index() {
                out[e] = drift::energy(plan, x, m, prev, cur, s, on);
            }
        }
        Some(md) => {
            let qs: Vec<f32> = (0..l.p).map(|mu| modern::input_saliency(prev, cur, s, on, mu)).collect();
            let (y, a) = modern::observed(md, &qs, m, layers);
            if let Some(e) = l.energy_index() {
                out[e] = modern::energy(plan, md, x, m, &a);
            }
            out[l.memory_layer().expect("modern layers")].copy_from_slice(&y);
            out[l.saliency().expect("modern layers")].copy_from_slice(&a);
        }
    }
}
