//! The input schedule: the spec's segments as what the drift needs at each step.
//!
//! IDP and modern models: the input enters only through the saliencies α = Ξᵀu / N, so a
//! segment is P numbers (`coef` = α). Classic: the input is a bias u; with u = Σ w_l ξ^l it stays
//! low rank (`coef` = w) and an explicit `vector` is kept as N numbers. Per-trajectory input
//! noise and random weights are drawn from the counter RNG (see `crate::model::input`), never
//! stored.

/// The segments in order, and the memories' Gram matrix G = ΞᵀΞ/N in f32, row-major [P][P]
/// (random weights become saliencies α = G w on both backends).
#[derive(Debug, Clone, PartialEq)]
pub struct InputPlan {
    pub segments: Vec<SegmentPlan>,
    pub gram: Vec<f32>,
}

impl InputPlan {
    /// The first segment whose input differs between trajectories, and the field that makes it
    /// so ("random_weights" or "cue"): where theory, landscapes, the grid solver and the
    /// equilibria drawn on a histogram have no single input to describe.
    pub fn per_trajectory(&self) -> Option<(usize, &'static str)> {
        self.segments.iter().enumerate().find_map(|(k, s)| {
            if s.random.is_some() {
                Some((k, "random_weights"))
            } else if s.cue.is_some() {
                Some((k, "cue"))
            } else {
                None
            }
        })
    }
}

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
    /// The trajectory's own corrupted cue as the input (then `coef` is zero).
    pub cue: Option<CuePlan>,
    /// The segment's dominant (target) memory when it is the same for every trajectory: the
    /// random weights' fixed dominant memory, or the memory with the largest weight, saliency
    /// or abs(Ξᵀu) (None: drawn per trajectory, or an input of all zeros).
    pub target: Option<u32>,
}

/// A validated cue input: u = amplitude · ξ^memory ⊙ s per trajectory, where lane l of neuron
/// block b has s = −1 when the uniform of word l of Philox [b, draw, trajectory, CUE] is below
/// `flip` (`rng::cue_signs4`). draw 0 is the initial state's cue (the same signs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CuePlan {
    /// The cued memory; None: drawn per trajectory (`model::input::segment_target`).
    pub memory: Option<u32>,
    /// input.gain × amplitude.
    pub amplitude: f32,
    pub flip: f32,
    /// Counter word 1 of the flip draws: 0 shares the initial state's, k + 1 is segment k's own.
    pub draw: u32,
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

impl SegmentPlan {
    /// True when the segment's target is drawn per trajectory (random weights with a random
    /// dominant memory, or a cue of a random memory).
    pub fn draws_target(&self) -> bool {
        matches!(&self.random, Some(rw) if rw.dominant_memory.is_none())
            || matches!(&self.cue, Some(c) if c.memory.is_none())
    }

    /// Ramp fraction s ∈ [0, 1] and whether the input is on, at `local` steps after the start.
    /// Shared by both backends (the kernels compute the same expressions).
    pub fn schedule(&self, local: u32) -> (f32, bool) {
        let s = if local >= self.ramp_steps { 1.0 } else { local as f32 / self.ramp_steps as f32 };
        let on = self.pulse_steps.is_none_or(|p| local < p);
        (s, on)
    }
}
