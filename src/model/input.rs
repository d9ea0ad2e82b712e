//! Input schedules: the spec's segments turned into what the drift needs at each step.
//!
//! IDP: the input enters only through the saliencies α = Ξᵀu / N, so a segment is P numbers
//! (`coef` = α). Classic: the input is a bias u; with u = Σ w_l ξ^l it stays low rank (`coef` =
//! w) and an explicit `vector` is kept as N numbers. Per-trajectory input noise η is drawn from
//! the counter RNG (stream INPUT_NOISE, word 1 = segment), never stored.

use crate::model::memories::Memories;
use crate::plan::{ModelKind, Plan};
use crate::rng::{self, stream};
use crate::spec::{
    DominantMemory, InputSpec, NormalizeSum, RandomWeightsSpec, SpecError, SpecResult, check_all_finite, check_finite,
    check_nonnegative, check_positive, steps_of,
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
    /// Per-trajectory random weights (then `coef` is unused and zero).
    pub random: Option<RandomWeightsPlan>,
    /// The segment's dominant (target) memory when it is the same for every trajectory: the
    /// random weights' fixed dominant memory, or the memory with the largest weight, saliency
    /// or abs(Ξᵀu) (None: drawn per trajectory, or an input of all zeros).
    pub target: Option<u32>,
}

/// Validated `random_weights` of one segment, in the f32 the draws use.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomWeightsPlan {
    pub background: [f32; 2],
    pub dominant: [f32; 2],
    /// None: the previous dominant memory gets a background weight.
    pub previous: Option<[f32; 2]>,
    /// Σ w after scaling (None: no scaling).
    pub normalize: Option<f32>,
    /// None: drawn per trajectory (uniform over the P memories).
    pub dominant_memory: Option<u32>,
    /// input.gain.
    pub gain: f32,
}

/// Index of the largest abs(v) (the first on ties), None if every entry is 0.
fn argmax_abs(v: &[f64]) -> Option<u32> {
    let mut best: Option<(usize, f64)> = None;
    for (i, x) in v.iter().enumerate() {
        if x.abs() > best.map_or(0.0, |b| b.1) {
            best = Some((i, x.abs()));
        }
    }
    best.map(|b| b.0 as u32)
}

fn check_bounds(field: &str, b: [f64; 2]) -> SpecResult<()> {
    if !(b[0].is_finite() && b[1].is_finite() && b[0] >= 0.0 && b[0] <= b[1] && b[1] <= 1e6) {
        return Err(SpecError::new(
            field,
            format!("[{}, {}] is not accepted; give [low, high] with 0 ≤ low ≤ high ≤ 1e6", b[0], b[1]),
        ));
    }
    Ok(())
}

fn random_plan(
    field: &dyn Fn(&str) -> String,
    rw: &RandomWeightsSpec,
    position: usize,
    n: usize,
    p: usize,
    gain: f64,
) -> SpecResult<RandomWeightsPlan> {
    check_bounds(&field("random_weights.background"), rw.background)?;
    check_bounds(&field("random_weights.dominant"), rw.dominant)?;
    if let Some(pv) = rw.previous {
        check_bounds(&field("random_weights.previous"), pv)?;
    }
    let normalize = match &rw.normalize_sum {
        None => None,
        Some(NormalizeSum::Rule(r)) if r == "sqrt_pn" => Some(((p * n) as f64).sqrt()),
        Some(NormalizeSum::Value(v)) if v.is_finite() && *v > 0.0 && *v <= 1e6 => Some(*v),
        Some(other) => {
            return Err(SpecError::new(
                field("random_weights.normalize_sum"),
                format!(
                    "{} is not accepted; give \"sqrt_pn\", a number in (0, 1e6] or null",
                    serde_json::to_string(other).unwrap_or_default()
                ),
            ));
        }
    };
    if normalize.is_some() && rw.dominant[0] <= 0.0 {
        return Err(SpecError::new(
            field("random_weights.dominant"),
            "its lower bound must be > 0 when normalize_sum is set (the weights' sum must not be 0)",
        ));
    }
    let dominant_memory = match &rw.dominant_memory {
        None => Some((position % p) as u32),
        Some(DominantMemory::Index(i)) if *i < p => Some(*i as u32),
        Some(DominantMemory::Rule(r)) if r == "random" => None,
        Some(other) => {
            return Err(SpecError::new(
                field("random_weights.dominant_memory"),
                format!(
                    "{} is not accepted; give a memory index 0 to {} or \"random\"",
                    serde_json::to_string(other).unwrap_or_default(),
                    p - 1
                ),
            ));
        }
    };
    let f = |b: [f64; 2]| [b[0] as f32, b[1] as f32];
    Ok(RandomWeightsPlan {
        background: f(rw.background),
        dominant: f(rw.dominant),
        previous: rw.previous.map(f),
        normalize: normalize.map(|v| v as f32),
        dominant_memory,
        gain: gain as f32,
    })
}

/// The target (dominant memory) of segment `seg` for one trajectory: the fixed one, or drawn
/// from word 0 of Philox counter [0, seg, trajectory, RANDOM_WEIGHTS] as floor(u·P).
pub fn segment_target(plan: &Plan, seg: usize, trajectory: u64) -> Option<u32> {
    let sp = &plan.segments[seg];
    match &sp.random {
        Some(rw) if rw.dominant_memory.is_none() => {
            let r = rng::philox4x32_10([0, seg as u32, trajectory as u32, stream::RANDOM_WEIGHTS], key(plan));
            let u = rng::uniform_closed_open(r[0]);
            Some(((u * plan.p as f32) as u32).min(plan.p as u32 - 1))
        }
        _ => sp.target,
    }
}

fn key(plan: &Plan) -> [u32; 2] {
    rng::key_from_seed(plan.seed)
}

/// The random weights w (length P, before the gain) of segment `seg` for one trajectory. Word
/// j ≥ 1 of the Philox counters [j / 4, seg, trajectory, RANDOM_WEIGHTS] (lane j % 4) draws
/// memory j − 1's weight: lo + (hi − lo)·u with the dominant memory's, the previous segment's
/// dominant memory's (if it differs) or the background bounds; then w is scaled by S / Σw.
/// `shaders/step.wgsl` computes the same f32 expressions.
pub fn random_weights(plan: &Plan, seg: usize, trajectory: u64) -> Vec<f32> {
    let rw = plan.segments[seg].random.as_ref().expect("a random_weights segment");
    let p = plan.p;
    let dom = segment_target(plan, seg, trajectory).expect("random weights always have a target");
    let prev = match rw.previous {
        Some(_) if seg > 0 => segment_target(plan, seg - 1, trajectory),
        _ => None,
    };
    let mut w = vec![0f32; p];
    let mut words = [0u32; 4];
    for j in 1..=p {
        if j == 1 || j % 4 == 0 {
            words =
                rng::philox4x32_10([(j / 4) as u32, seg as u32, trajectory as u32, stream::RANDOM_WEIGHTS], key(plan));
        }
        let mu = j - 1;
        let u = rng::uniform_closed_open(words[j % 4]);
        let b = if mu as u32 == dom {
            rw.dominant
        } else if Some(mu as u32) == prev {
            rw.previous.expect("checked above")
        } else {
            rw.background
        };
        w[mu] = b[0] + (b[1] - b[0]) * u;
    }
    if let Some(total) = rw.normalize {
        let mut sum = 0f32;
        for v in &w {
            sum += v;
        }
        let scale = total / sum;
        for v in w.iter_mut() {
            *v *= scale;
        }
    }
    w
}

/// The input coefficients of a random-weights segment for one trajectory (gain included):
/// IDP α_a = gain · Σ_b G_ab w_b (b ascending), classic gain · w.
pub fn random_coef(plan: &Plan, seg: usize, trajectory: u64) -> Vec<f32> {
    let rw = plan.segments[seg].random.as_ref().expect("a random_weights segment");
    let w = random_weights(plan, seg, trajectory);
    let p = plan.p;
    match plan.model {
        ModelKind::Idp => (0..p)
            .map(|a| {
                let mut s = 0f32;
                for (g, wb) in plan.gram[a * p..(a + 1) * p].iter().zip(&w) {
                    s += g * wb;
                }
                rw.gain * s
            })
            .collect(),
        ModelKind::Classic => w.iter().map(|v| rw.gain * v).collect(),
    }
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
        let given = [seg.weights.is_some(), seg.saliency.is_some(), seg.vector.is_some(), seg.random_weights.is_some()];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err(SpecError::new(
                format!("input.segments[{k}]"),
                "give exactly one of \"weights\" (length P), \"saliency\" (IDP, length P), \"vector\" (length N) or \"random_weights\"",
            ));
        }
        let check_len = |name: &str, v: &[f64], want: usize, what: &str| -> SpecResult<()> {
            if v.len() != want {
                return Err(SpecError::new(f(name), format!("has {} entries; it must have {what} = {want}", v.len())));
            }
            check_all_finite(&f(name), v)
        };
        let mut random = None;
        let target;
        let (coef, vector): (Vec<f64>, Option<Vec<f32>>) = if let Some(rw) = &seg.random_weights {
            let rp = random_plan(&f, rw, k, n, p, gain)?;
            target = rp.dominant_memory;
            random = Some(rp);
            (vec![0.0; p], None)
        } else if let Some(w) = &seg.weights {
            target = argmax_abs(w);
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
            target = argmax_abs(s);
            (s.iter().map(|v| gain * v).collect(), None)
        } else {
            let v = seg.vector.as_ref().expect("one of three is present");
            check_len("vector", v, n, "N")?;
            let u: Vec<f64> = v.iter().map(|x| gain * x).collect();
            target = argmax_abs(&mem.saliency_of(&u));
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
            random,
            target,
        });
        start += steps as u64;
    }
    Ok(out)
}
