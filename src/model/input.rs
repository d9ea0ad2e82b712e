//! Per-trajectory input draws, one definition for both backends (the kernels compute the same
//! f32 expressions): the random target of a segment, its random weights and the input
//! coefficients they give (docs/THEORY.md §6).

use crate::plan::{Coupling, Plan};
use crate::rng::{self, stream};

/// The target (dominant memory) of segment `seg` for one trajectory: the fixed one, or (random
/// weights with a random dominant memory, a cue of a random memory) drawn from word 0 of Philox
/// counter [0, seg, trajectory, RANDOM_WEIGHTS] as floor(u·P).
pub fn segment_target(plan: &Plan, seg: usize, trajectory: u64) -> Option<u32> {
    let sp = &plan.input.segments[seg];
    if !sp.draws_target() {
        return sp.target;
    }
    let r = rng::philox4x32_10([0, seg as u32, trajectory as u32, stream::RANDOM_WEIGHTS], key(plan));
    let u = rng::uniform_closed_open(r[0]);
    Some(((u * plan.p() as f32) as u32).min(plan.p() as u32 - 1))
}

fn key(plan: &Plan) -> [u32; 2] {
    rng::key_from_seed(plan.ensemble.seed)
}

/// The random weights w (length P, before the gain) of segment `seg` for one trajectory. Word
/// j ≥ 1 of the Philox counters [j / 4, seg, trajectory, RANDOM_WEIGHTS] (lane j % 4) draws
/// memory j − 1's weight: lo + (hi − lo)·u with the dominant memory's, the previous segment's
/// dominant memory's (if it differs) or the background bounds; then w is scaled by S / Σw.
/// `shaders/step.wgsl` computes the same f32 expressions.
pub fn random_weights(plan: &Plan, seg: usize, trajectory: u64) -> Vec<f32> {
    let rw = plan.input.segments[seg].random.as_ref().expect("a random_weights segment");
    let p = plan.p();
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
    let rw = plan.input.segments[seg].random.as_ref().expect("a random_weights segment");
    let w = random_weights(plan, seg, trajectory);
    let p = plan.p();
    match plan.model.coupling() {
        Coupling::Saliency => (0..p)
            .map(|a| {
                let mut s = 0f32;
                for (g, wb) in plan.input.gram[a * p..(a + 1) * p].iter().zip(&w) {
                    s += g * wb;
                }
                rw.gain * s
            })
            .collect(),
        Coupling::Bias => w.iter().map(|v| rw.gain * v).collect(),
    }
}

/// The cue input of segment `seg` for one trajectory, u_i = amplitude · ξ^c_i · s_i (length N),
/// with c the segment's target and s the signs of `rng::cue_signs4` (counter word 1 = the
/// cue's `draw`). `shaders/input.wgsl` (`cue_block`) computes the same f32 products.
pub fn cue_vector(plan: &Plan, seg: usize, trajectory: u64) -> Vec<f32> {
    let cue = plan.input.segments[seg].cue.expect("a cue segment");
    let mu = segment_target(plan, seg, trajectory).expect("a cue always has a target") as usize;
    let key = key(plan);
    let mut u = vec![0f32; plan.n()];
    for b in 0..plan.neuron_blocks() {
        let signs = rng::cue_signs4(b as u32, cue.draw, trajectory as u32, cue.flip, key);
        for (l, s) in signs.iter().enumerate() {
            let i = 4 * b + l;
            if i < plan.n() {
                u[i] = cue.amplitude * (plan.memories.get(i, mu) * s);
            }
        }
    }
    u
}
