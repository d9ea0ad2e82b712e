//! The `input` section: segments with their durations, one kind of input each, ramps, pulses,
//! input noise and random weights, checked and turned into [`SegmentPlan`]s.

use crate::error::{SpecError, SpecResult};
use crate::plan::memories::Memories;
use crate::plan::{Coupling, CuePlan, InitialPlan, RandomWeightsPlan, SegmentPlan};
use crate::spec::checks::{check_all_finite, check_finite, check_nonnegative, check_positive, steps_of};
use crate::spec::{CueSpec, InputSpec, MemoryChoice, NormalizeSum, RandomWeightsSpec, SegmentSpec};

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
        Some(NormalizeSum::SqrtPn) => Some(((p * n) as f64).sqrt()),
        Some(NormalizeSum::Value(v)) if v.is_finite() && *v > 0.0 && *v <= 1e6 => Some(*v),
        Some(other) => {
            return Err(SpecError::new(
                field("random_weights.normalize_sum"),
                format!(
                    "{} is not accepted; give \"sqrt_pn\", a number in (0, 1e6] or null",
                    serde_json::to_string(&other).unwrap_or_default()
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
        Some(MemoryChoice::Index(i)) if *i < p => Some(*i as u32),
        Some(MemoryChoice::Random) => None,
        Some(other) => {
            return Err(SpecError::new(
                field("random_weights.dominant_memory"),
                format!(
                    "{} is not accepted; give a memory index 0 to {} or \"random\"",
                    serde_json::to_string(&other).unwrap_or_default(),
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

/// A cue input of segment k: its memory (default: the initial state's cued memory) and its
/// signs (default: the initial state's, or none when the initial state is not a memory cue).
fn cue_plan(k: usize, c: &CueSpec, cx: &Context) -> SpecResult<CuePlan> {
    let f = |name: &str| format!("input.segments[{k}].cue.{name}");
    let p = cx.mem.p;
    let initial = match cx.initial {
        InitialPlan::Memory { index, flip, .. } => Some((*index, *flip)),
        _ => None,
    };
    let memory = match (&c.index, initial) {
        (Some(MemoryChoice::Index(i)), _) if *i < p => Some(*i as u32),
        (Some(MemoryChoice::Random), _) => None,
        (None, Some((Some(mu), _))) => Some(mu as u32),
        (Some(other), _) => {
            return Err(SpecError::new(
                f("index"),
                format!(
                    "{} is not accepted; give a memory index 0 to {} or \"random\"",
                    serde_json::to_string(other).unwrap_or_default(),
                    p - 1
                ),
            ));
        }
        (None, _) => {
            return Err(SpecError::new(
                f("index"),
                "is needed: the initial state cues no fixed memory; give a memory index or \"random\"",
            ));
        }
    };
    check_finite(&f("amplitude"), c.amplitude)?;
    if c.amplitude.abs() > 1e6 {
        return Err(SpecError::new(
            f("amplitude"),
            format!("{} is too large; accepted: at most 1e6 in size", c.amplitude),
        ));
    }
    let (flip, draw) = match (c.flip, initial) {
        (Some(fl), _) => {
            if !(0.0..=1.0).contains(&fl) {
                return Err(SpecError::new(
                    f("flip"),
                    format!("{fl} is not a fraction; accepted: 0 to 1 (the share of the memory's signs flipped)"),
                ));
            }
            (fl as f32, k as u32 + 1)
        }
        (None, Some((_, fl))) => (fl, 0),
        (None, None) => (0.0, 0),
    };
    Ok(CuePlan { memory, amplitude: (cx.gain * c.amplitude) as f32, flip, draw })
}

/// What every segment's resolution needs.
struct Context<'a> {
    coupling: Coupling,
    mem: &'a Memories,
    gram: &'a [f64],
    gain: f64,
    dt: f64,
    initial: &'a InitialPlan,
}

/// The segments of the input section for a model whose input enters by `coupling` (cue inputs
/// default to the cue of the `initial` state); `gram` is `mem`'s [`Memories::gram`].
pub fn build(
    spec: &InputSpec,
    coupling: Coupling,
    mem: &Memories,
    gram: &[f64],
    dt: f64,
    initial: &InitialPlan,
) -> SpecResult<Vec<SegmentPlan>> {
    if spec.segments.is_empty() {
        return Err(SpecError::new("input.segments", "is empty; give at least one segment"));
    }
    check_finite("input.gain", spec.gain)?;
    let cx = Context { coupling, mem, gram, gain: spec.gain, dt, initial };
    let mut out = Vec::with_capacity(spec.segments.len());
    let mut start: u64 = 0;
    for (k, seg) in spec.segments.iter().enumerate() {
        let sp = segment(k, seg, &cx, start)?;
        start += sp.steps as u64;
        out.push(sp);
    }
    Ok(out)
}

/// Segment k, starting `start` steps into the run.
fn segment(k: usize, seg: &SegmentSpec, cx: &Context, start: u64) -> SpecResult<SegmentPlan> {
    let f = |name: &str| format!("input.segments[{k}].{name}");
    let dt = cx.dt;
    check_positive(&f("duration"), seg.duration)?;
    let steps = steps_of(&f("duration"), seg.duration, dt)?;
    let given = [
        seg.weights.is_some(),
        seg.saliency.is_some(),
        seg.vector.is_some(),
        seg.random_weights.is_some(),
        seg.cue.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return Err(SpecError::new(
            format!("input.segments[{k}]"),
            "give exactly one of \"weights\" (length P), \"saliency\" (IDP, length P), \"vector\" (length N), \"random_weights\" or \"cue\"",
        ));
    }
    let input = input(k, seg, cx)?;
    let ramp_steps = match seg.ramp {
        None => 0,
        Some(r) => {
            check_nonnegative(&f("ramp"), r)?;
            if r > seg.duration {
                return Err(SpecError::new(f("ramp"), format!("{r} is longer than the segment ({})", seg.duration)));
            }
            if r == 0.0 { 0 } else { steps_of(&f("ramp"), r, dt)? }
        }
    };
    let pulse_steps = match seg.pulse {
        None => None,
        Some(pl) => {
            check_positive(&f("pulse"), pl)?;
            if pl > seg.duration {
                return Err(SpecError::new(f("pulse"), format!("{pl} is longer than the segment ({})", seg.duration)));
            }
            Some(steps_of(&f("pulse"), pl, dt)?)
        }
    };
    let noise = seg.noise.unwrap_or(0.0);
    check_nonnegative(&f("noise"), noise)?;
    let coef = input.coef;
    if let Some(i) = coef.iter().position(|c| !c.is_finite() || c.abs() > 1e6) {
        return Err(SpecError::new(
            f("weights"),
            format!(
                "gives an input coefficient {:e} for memory {i}; it must be finite and at most 1e6 in size",
                coef[i]
            ),
        ));
    }
    Ok(SegmentPlan {
        start_step: start.min(u32::MAX as u64) as u32,
        steps,
        ramp_steps,
        pulse_steps,
        noise: noise as f32,
        coef: coef.iter().map(|&c| c as f32).collect(),
        coef64: coef.clone(),
        vector: input.vector,
        random: input.random,
        cue: input.cue,
        target: input.target,
    })
}

/// One segment's input, whichever of its four forms it takes.
struct Input {
    coef: Vec<f64>,
    vector: Option<Vec<f32>>,
    random: Option<RandomWeightsPlan>,
    cue: Option<CuePlan>,
    target: Option<u32>,
}

fn input(k: usize, seg: &SegmentSpec, cx: &Context) -> SpecResult<Input> {
    let f = |name: &str| format!("input.segments[{k}].{name}");
    let (n, p, gain) = (cx.mem.n, cx.mem.p, cx.gain);
    let check_len = |name: &str, v: &[f64], want: usize, what: &str| -> SpecResult<()> {
        if v.len() != want {
            return Err(SpecError::new(f(name), format!("has {} entries; it must have {what} = {want}", v.len())));
        }
        check_all_finite(&f(name), v)
    };
    let of = |coef: Vec<f64>, vector: Option<Vec<f32>>, target| Input { coef, vector, random: None, cue: None, target };
    if let Some(rw) = &seg.random_weights {
        let rp = random_plan(&f, rw, k, n, p, gain)?;
        return Ok(Input { coef: vec![0.0; p], vector: None, target: rp.dominant_memory, random: Some(rp), cue: None });
    }
    if let Some(c) = &seg.cue {
        let cp = cue_plan(k, c, cx)?;
        return Ok(Input { coef: vec![0.0; p], vector: None, target: cp.memory, random: None, cue: Some(cp) });
    }
    if let Some(w) = &seg.weights {
        let target = argmax_abs(w);
        check_len("weights", w, p, "P")?;
        return Ok(match cx.coupling {
            // α = Ξᵀ(Ξw)/N = G w.
            Coupling::Saliency => of(
                (0..p).map(|a| gain * (0..p).map(|b| cx.gram[a * p + b] * w[b]).sum::<f64>()).collect(),
                None,
                target,
            ),
            Coupling::Bias => of(w.iter().map(|v| gain * v).collect(), None, target),
        });
    }
    if let Some(s) = &seg.saliency {
        if cx.coupling != Coupling::Saliency {
            return Err(SpecError::new(
                f("saliency"),
                "is for the IDP model only; the classic model takes \"weights\" or \"vector\"",
            ));
        }
        check_len("saliency", s, p, "P")?;
        return Ok(of(s.iter().map(|v| gain * v).collect(), None, argmax_abs(s)));
    }
    let v = seg.vector.as_ref().expect("one of four is present");
    check_len("vector", v, n, "N")?;
    let u: Vec<f64> = v.iter().map(|x| gain * x).collect();
    let target = argmax_abs(&cx.mem.saliency_of(&u));
    Ok(match cx.coupling {
        Coupling::Saliency => of(cx.mem.saliency_of(&u), None, target),
        Coupling::Bias => of(vec![0.0; p], Some(u.iter().map(|&x| x as f32).collect()), target),
    })
}
