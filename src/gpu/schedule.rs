//! How a chunk's steps are cut into dispatches and submits: the loop budget of one invocation,
//! the steps per dispatch, and which saves each submit writes. Pure arithmetic on the plan.

use super::kernels::{self, Layout};
use crate::plan::Plan;

/// Work per dispatch aimed at by the automatic steps-per-dispatch (neuron-steps × (P + 12)).
const DISPATCH_WORK: f64 = 3.0e8;

/// Loop back-edges one invocation may take per dispatch. llvmpipe ends every loop of an
/// invocation once 65 535 back-edges have been taken in total (a guard against endless loops),
/// so the neuron-block and step loops of one dispatch must stay below that on every device.
pub const LOOP_BUDGET: u64 = 60_000;

/// Memory loops (over P) counted per step outside the neuron-block loop, and at dispatch start
/// outside block loops: generous bounds on what `shaders/` holds (the modern model's layers
/// included), so that tiled memory loops of large P never pass the budget unseen.
const MEMORY_LOOPS_PER_STEP: u64 = 32;
const MEMORY_LOOPS_AT_START: u64 = 64;

/// Back-edges of one invocation: (at dispatch start, per step). `memory_major`: the thread
/// layout's step takes the memories tile by tile (`kernels::memory_major`).
fn loop_cost(plan: &Plan, layout: Layout, memory_major: bool) -> (u64, u64) {
    if layout == Layout::Tile {
        return tile_loop_cost(plan);
    }
    let group = layout.group();
    let lanes = if group { kernels::wg_group(plan.p()) as u64 } else { 1 };
    let blocks = (plan.neuron_blocks() as u64).div_ceil(lanes);
    // A memory loop of large P is tiled: `t` back-edges each (0 when unrolled completely; the
    // tiled loops stop at P rounded up to a tile, a run-time bound).
    let t = kernels::fixed_loop_back_edges(plan.p() as u32);
    // A step's passes over the neuron blocks: with memory_major, the field and the overlaps'
    // sums each pass over every block once per tile of `MEM_TILE` memories (`field_tiles`,
    // `overlap_tiles`) and the update passes once; otherwise one pass, each block with ξ of
    // every memory, the field and the overlaps' sums.
    let tiles = (plan.p() as u64).div_ceil(kernels::MEM_TILE as u64);
    let step_blocks = if memory_major { blocks + 2 * tiles * (blocks + 1) } else { blocks * (1 + 3 * t) };
    // Per neuron block of a pass at dispatch start (the overlaps, an input's Ξᵀη): one sum.
    let per_block_start = 1 + t;
    // Passes over the blocks at dispatch start: the overlaps, and Ξᵀη of the current and the
    // previous segment when an IDP input has a per-trajectory part (noise or a cue).
    let idp_eta = plan.model.coupling() == crate::plan::Coupling::Saliency
        && plan.input.segments.iter().any(|s| s.noise > 0.0 || s.cue.is_some());
    let passes = if idp_eta { 3 } else { 1 };
    // The group layout's reductions loop over PC / WG_GROUP memories per invocation (the
    // capacity: padded memories' partial sums are reduced too).
    let reduce = if group { (kernels::p_capacity(plan.p() as u32) as u64).div_ceil(lanes) } else { 0 };
    // Saving the energy adds a pass over the blocks at each save (at most every step).
    let energy = if plan.observe.energy { blocks + 1 + 4 * t } else { 0 };
    // Random weights: for the current and previous segments, P / 4 + 1 Philox blocks and the
    // P rows of α = G w (each a memory loop).
    let p = plan.p() as u64;
    let random = if plan.has_random_weights() { 2 * (p * (1 + t) + p / 4 + 2) } else { 0 };
    // The observers' own loops (`kernels::observer_loops`).
    let (obs_start, obs_step) = kernels::observer_loops(plan);
    (
        passes * blocks * per_block_start + 4 + 3 * reduce + random + MEMORY_LOOPS_AT_START * t + obs_start,
        // The step loop, the loop over a step's noise groups, the loop over stops, and the
        // thread layout's groups of neuron blocks (32 blocks each at most).
        step_blocks + 3 + blocks.div_ceil(32) + 2 * reduce + energy + MEMORY_LOOPS_PER_STEP * t + obs_step,
    )
}

/// [`loop_cost`] of the tile layout (`shaders/tile.wgsl`). Every invocation: its neuron blocks
/// (one in `WG_TILE`), each with a memory loop (the field), and a pass over every neuron block
/// for the overlaps of its memories (one in `WG_TILE`, unrolled). The tile's leaders (one
/// invocation per trajectory) also take the thread layout's per-trajectory loops: the input
/// coefficients, the observers, Ξᵀη at dispatch start and the energy's pass at a save.
fn tile_loop_cost(plan: &Plan) -> (u64, u64) {
    let nb = plan.neuron_blocks() as u64;
    let wg = kernels::WG_TILE as u64;
    let t = kernels::fixed_loop_back_edges(plan.p() as u32);
    let blocks = nb.div_ceil(wg);
    let field = blocks * (2 + t);
    let overlaps = nb + 2;
    let idp_eta = plan.model.coupling() == crate::plan::Coupling::Saliency
        && plan.input.segments.iter().any(|s| s.noise > 0.0 || s.cue.is_some());
    let eta = if idp_eta { 2 * nb * (1 + t) } else { 0 };
    let energy = if plan.observe.energy { nb + 1 + 4 * t } else { 0 };
    let p = plan.p() as u64;
    let random = if plan.has_random_weights() { 2 * (p * (1 + t) + p / 4 + 2) } else { 0 };
    let (obs_start, obs_step) = kernels::observer_loops(plan);
    (
        blocks + overlaps + eta + random + 8 + MEMORY_LOOPS_AT_START * t + obs_start,
        field + overlaps + 3 + energy + MEMORY_LOOPS_PER_STEP * t + obs_step,
    )
}

/// Whether the initial-state kernel (one invocation per trajectory, every neuron block in one
/// loop) stays under [`LOOP_BUDGET`]: the state and overlaps pass, Ξᵀη of the first segment's
/// per-trajectory input (IDP and modern), the energy pass, the first segment's random weights.
pub fn init_fits(plan: &Plan) -> bool {
    let nb = plan.neuron_blocks() as u64;
    let t = kernels::fixed_loop_back_edges(plan.p() as u32);
    let first = &plan.input.segments[0];
    let eta = plan.model.coupling() == crate::plan::Coupling::Saliency && (first.noise > 0.0 || first.cue.is_some());
    let p = plan.p() as u64;
    let random = if first.random.is_some() { p * (1 + t) + p / 4 + 2 } else { 0 };
    let cost = nb * (1 + t)
        + if eta { nb * (1 + t) } else { 0 }
        + if plan.observe.energy { nb + 1 } else { 0 }
        + random
        + MEMORY_LOOPS_AT_START * t
        + 8;
    cost <= LOOP_BUDGET
}

/// The most steps a dispatch may take under [`LOOP_BUDGET`] (0 if not even one fits).
pub fn max_steps_per_dispatch(plan: &Plan, layout: Layout, memory_major: bool) -> u64 {
    let (start, per_step) = loop_cost(plan, layout, memory_major);
    LOOP_BUDGET.saturating_sub(start) / per_step
}

/// Fewest steps a dispatch takes when the loop budget allows: a dispatch starts with a pass
/// over the state (the overlaps) and the input coefficients, which costs about one step, so
/// large ensembles must not fall to one step per dispatch.
const MIN_STEPS_PER_DISPATCH: f64 = 16.0;

/// Steps per dispatch: the plan's override, or enough work to keep one dispatch busy for a
/// few tens of milliseconds on a CPU device (far less on a GPU) but at least
/// [`MIN_STEPS_PER_DISPATCH`]; never above the loop budget.
pub fn steps_per_dispatch(plan: &Plan, count: u64, layout: Layout, memory_major: bool) -> u32 {
    let budget = max_steps_per_dispatch(plan, layout, memory_major).max(1) as u32;
    if let Some(k) = plan.run.steps_per_dispatch {
        return k.min(budget);
    }
    let per_step = count as f64 * (plan.neuron_blocks() * 4) as f64 * (plan.p() + 12) as f64;
    ((DISPATCH_WORK / per_step).clamp(MIN_STEPS_PER_DISPATCH, 4096.0) as u32).min(budget)
}

/// One dispatch of the step kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDispatch {
    pub begin: u32,
    pub count: u32,
    pub segment: u32,
}

/// Cuts steps [from, stop) into dispatches that stay inside one segment, stop before save index
/// `max_save + 1` would be written, and number at most `max_dispatches`.
pub fn plan_dispatches(
    plan: &Plan,
    from: u32,
    stop: u32,
    k: u32,
    max_save: u64,
    max_dispatches: usize,
    max_samples: u64,
) -> Vec<StepDispatch> {
    let mut limit = ((max_save + 1) * plan.observe.save_every as u64 - 1).min(stop as u64) as u32;
    if let Some(h) = &plan.observe.histogram {
        // At most `max_samples` histogram samples per trajectory in one submit, so no u32 cell
        // can overflow before the host adds it to its u64 counts.
        let first = from.saturating_add(1).max(h.from_steps).max(1).div_ceil(h.every_steps) as u64;
        let last_allowed = (first + max_samples - 1) * h.every_steps as u64;
        limit = limit.min(last_allowed.min(u32::MAX as u64) as u32).max(from + 1);
    }
    let mut out = Vec::new();
    let mut step = from;
    while step < limit && out.len() < max_dispatches {
        let seg = plan.input.segments.iter().rposition(|s| s.start_step <= step).expect("step inside the schedule");
        let seg_end = plan.input.segments[seg].start_step + plan.input.segments[seg].steps;
        let count = k.min(seg_end - step).min(limit - step);
        out.push(StepDispatch { begin: step, count, segment: seg as u32 });
        step += count;
    }
    out
}

/// One submit: the initial states (first submit only), step dispatches from `from` to `end`,
/// and the reduction of the saves they write, slots `slot_base..slot_base + slots` of the
/// saves buffer holding saves `slot_base..` (the first submit also holds save 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Submit {
    pub init: bool,
    pub from: u32,
    pub end: u32,
    pub slot_base: u64,
    pub slots: u64,
    pub dispatches: Vec<StepDispatch>,
}

/// The submits of one chunk of `count` trajectories from step `from` (0: from the initial
/// states) to step `stop`, `k` steps per dispatch, with room for `slot_capacity` saves and
/// `max_dispatches` step dispatches per submit, and at most the steps [`Submits::limit_steps`]
/// allows (whole dispatches).
pub struct Submits<'a> {
    plan: &'a Plan,
    count: u64,
    k: u32,
    slot_capacity: u64,
    max_dispatches: usize,
    step: u32,
    stop: u32,
    first: bool,
    max_steps: u32,
}

impl<'a> Submits<'a> {
    pub fn new(
        plan: &'a Plan,
        count: u64,
        k: u32,
        slot_capacity: u64,
        max_dispatches: usize,
        span: (u32, u32),
    ) -> Self {
        let (from, stop) = span;
        Submits {
            plan,
            count,
            k,
            slot_capacity,
            max_dispatches,
            step: from,
            stop,
            first: from == 0,
            max_steps: u32::MAX,
        }
    }

    /// The next submits take at most `steps` steps, rounded up to whole dispatches of `k`
    /// (the device's pace, [`crate::backend::Pace`]).
    pub fn limit_steps(&mut self, steps: u32) {
        let k = self.k.max(1) as u64;
        self.max_steps = ((steps as u64).div_ceil(k).max(1) * k).min(u32::MAX as u64) as u32;
    }
}

/// Work of a chunk's first submit, in neuron-steps × (P + 12): 16 dispatches of
/// [`DISPATCH_WORK`] (about half a second on lavapipe, milliseconds on a GPU). The next submits
/// last about [`crate::backend::Pace::TARGET_S`] each, from the time the last one took.
const FIRST_SUBMIT_WORK: f64 = 16.0 * DISPATCH_WORK;

/// Steps of a chunk of `count` trajectories' first submit (see [`FIRST_SUBMIT_WORK`]).
pub fn first_submit_steps(plan: &Plan, count: u64) -> u32 {
    let per_step = count as f64 * (plan.neuron_blocks() * 4) as f64 * (plan.p() + 12) as f64;
    (FIRST_SUBMIT_WORK / per_step.max(1.0)).clamp(1.0, u32::MAX as f64) as u32
}

impl Iterator for Submits<'_> {
    type Item = Submit;

    fn next(&mut self) -> Option<Submit> {
        let plan = self.plan;
        if !self.first && self.step >= self.stop {
            return None;
        }
        let se = plan.observe.save_every as u64;
        let step = self.step;
        let slot_base = if self.first { 0 } else { step as u64 / se + 1 };
        let max_save = slot_base + self.slot_capacity - 1;
        // At most this many histogram samples per trajectory in one submit, so no u32 cell can
        // overflow before the host adds it to its u64 counts.
        let max_samples = (u32::MAX as u64 / self.count).max(1);
        let stop = self.stop.min(step.saturating_add(self.max_steps));
        let dispatches = plan_dispatches(plan, step, stop, self.k, max_save, self.max_dispatches, max_samples);
        let end = dispatches.last().map_or(step, |d| d.begin + d.count);
        let last_save = end as u64 / se;
        let slots = if self.first { last_save + 1 } else { last_save - step as u64 / se };
        let submit = Submit { init: self.first, from: step, end, slot_base, slots, dispatches };
        self.first = false;
        self.step = end;
        Some(submit)
    }
}
