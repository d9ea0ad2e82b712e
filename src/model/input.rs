//! Input schedules: the spec's segments turned into what the drift needs at each step.
//!
//! IDP: the input enters only through the saliencies α = Ξᵀu / N, so a segment is P numbers
//! (`coef` = α). Classic: the input is a bias u; with u = Σ w_l ξ^l it stays low rank (`coef` =
//! w) and an explicit `vector` is kept as N numbers. Per-trajectory input noise η is drawn from
//! the counter RNG (stream INPUT_NOISE, word 1 = segment), never stored.

use crate::model::memories::Memories;
use crate::plan::ModelKind;
use crate::spec::{
    InputSpec, SpecError, SpecResult, check_all_finite, check_finite, check_nonnegative, check_positive, steps_of,
};

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentPlan {
    /// Global index of the segment's first step.
    pub start_step: u32,
    pub steps: u32,
    /// Steps over which the input morphs linearly from the previous segment's (0 = none).
    pub ramp_steps: u32,
    /// Steps after the start during which the input is on (None = the whole segment).
    pub pulse_steps: Option<u32>,
    /// Std of the per-trajectory Gaussian corruption of u.
    pub noise: f32,
    /// IDP: saliencies α (length P). Classic: weights w of the bias Ξw (length P). Gain included.
    pub coef: Vec<f32>,
    /// `coef` before rounding to f32 (for the theory and the grid solver).
    pub coef64: Vec<f64>,
    /// Classic only: an explicit input vector u (length N), gain included.
    pub vector: Option<Vec<f32>>,
}

impl SegmentPlan {
    /// Ramp fraction s ∈ [0, 1] and whether the input is on, at `local` steps after the start.
    /// Shared by both backends (the kernels compute the same expressions).
    pub fn schedule(&self, local: u32) -> (f32, bool) {
        let s = if local >= self.ramp_steps { 1.0 } else { local as f32 / self.ramp_steps as f32 };
        let on = self.pulse_steps.is_none_or(|p| local < p);
        (s, on)
    }
}

pub fn build(spec: &InputSpec, model: ModelKind, mem: &Memories, dt: f64) -> SpecResult<Vec<SegmentPlan>> {
    if spec.segments.is_empty() {
        return Err(SpecError::new("input.segments", "is empty; give at least one segment"));
    }
    check_finite("input.gain", spec.gain)?;
    let gain = spec.gain;
    let (n, p) = (mem.n, mem.p);
    let gram = mem.gram();
    let mut out = Vec::with_capacity(spec.segments.len());
    let mut start: u64 = 0;
    for (k, seg) in spec.segments.iter().enumerate() {
        let f = |name: &str| format!("input.segments[{k}].{name}");
        check_positive(&f("duration"), seg.duration)?;
        let steps = steps_of(&f("duration"), seg.duration, dt)?;
        let given = [seg.weights.is_some(), seg.saliency.is_some(), seg.vector.is_some()];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err(SpecError::new(
                format!("input.segments[{k}]"),
                "give exactly one of \"weights\" (length P), \"saliency\" (IDP, length P) or \"vector\" (length N)",
            ));
        }
        let check_len = |name: &str, v: &[f64], want: usize, what: &str| -> SpecResult<()> {
            if v.len() != want {
                return Err(SpecError::new(f(name), format!("has {} entries; it must have {what} = {want}", v.len())));
            }
            check_all_finite(&f(name), v)
        };
        let (coef, vector): (Vec<f64>, Option<Vec<f32>>) = if let Some(w) = &seg.weights {
            check_len("weights", w, p, "P")?;
            match model {
                // α = Ξᵀ(Ξw)/N = G w.
                ModelKind::Idp => {
                    ((0..p).map(|a| gain * (0..p).map(|b| gram[a * p + b] * w[b]).sum::<f64>()).collect(), None)
                }
                ModelKind::Classic => (w.iter().map(|v| gain * v).collect(), None),
            }
        } else if let Some(s) = &seg.saliency {
            if model != ModelKind::Idp {
                return Err(SpecError::new(
                    f("saliency"),
                    "is for the IDP model only; the classic model takes \"weights\" or \"vector\"",
                ));
            }
            check_len("saliency", s, p, "P")?;
            (s.iter().map(|v| gain * v).collect(), None)
        } else {
            let v = seg.vector.as_ref().expect("one of three is present");
            check_len("vector", v, n, "N")?;
            let u: Vec<f64> = v.iter().map(|x| gain * x).collect();
            match model {
                ModelKind::Idp => (mem.saliency_of(&u), None),
                ModelKind::Classic => (vec![0.0; p], Some(u.iter().map(|&x| x as f32).collect())),
            }
        };
        let ramp_steps = match seg.ramp {
            None => 0,
            Some(r) => {
                check_nonnegative(&f("ramp"), r)?;
                if r > seg.duration {
                    return Err(SpecError::new(
                        f("ramp"),
                        format!("{r} is longer than the segment ({})", seg.duration),
                    ));
                }
                if r == 0.0 { 0 } else { steps_of(&f("ramp"), r, dt)? }
            }
        };
        let pulse_steps = match seg.pulse {
            None => None,
            Some(pl) => {
                check_positive(&f("pulse"), pl)?;
                if pl > seg.duration {
                    return Err(SpecError::new(
                        f("pulse"),
                        format!("{pl} is longer than the segment ({})", seg.duration),
                    ));
                }
                Some(steps_of(&f("pulse"), pl, dt)?)
            }
        };
        let noise = seg.noise.unwrap_or(0.0);
        check_nonnegative(&f("noise"), noise)?;
        if let Some(i) = coef.iter().position(|c| !c.is_finite() || c.abs() > 1e6) {
            return Err(SpecError::new(
                f("weights"),
                format!(
                    "gives an input coefficient {} for memory {i}; it must be finite and at most 1e6 in size",
                    coef[i]
                ),
            ));
        }
        out.push(SegmentPlan {
            start_step: start.min(u32::MAX as u64) as u32,
            steps,
            ramp_steps,
            pulse_steps,
            noise: noise as f32,
            coef: coef.iter().map(|&c| c as f32).collect(),
            coef64: coef.clone(),
            vector,
        });
        start += steps as u64;
    }
    Ok(out)
}
