//! One trajectory of the CPU reference, held the way a kernel invocation holds it: the state x
//! in blocks of four neurons, the overlaps m, the modern model's layers and the observer state
//! (retrieval window sums, first passage). [`Trajectory::init`], [`Trajectory::step`] and
//! [`Trajectory::observe`] mirror `init_state`, the step loop and `observe_step` in
//! `shaders/`, with the same names and the same order of operations.

// Index loops on purpose: they mirror the kernels line by line.
#![allow(clippy::needless_range_loop)]

use crate::model::drift::{Drive, segment_drive};
use crate::model::input::segment_target;
use crate::model::{self, InputNow, modern};
use crate::plan::{InitialPlan, NO_STEP, Plan};
use crate::rng::{self, stream};
use crate::spec::observe::Observed;

/// x(0) for one trajectory (global index), padded to whole neuron blocks.
pub fn initial_state(plan: &Plan, trajectory: u64) -> Vec<f32> {
    let nb4 = plan.neuron_blocks() * 4;
    let mut z = vec![0f32; nb4];
    let key = rng::key_from_seed(plan.ensemble.seed);
    let mut x = vec![0f32; nb4];
    match &plan.ensemble.initial {
        InitialPlan::Normal { std } => {
            rng::fill_normals(&mut z, key, 0, trajectory as u32, stream::INITIAL);
            for i in 0..plan.n() {
                x[i] = std * z[i];
            }
        }
        InitialPlan::Point { x: x0 } => x[..plan.n()].copy_from_slice(x0),
        InitialPlan::Memory { index, amplitude, jitter, flip } => {
            rng::fill_normals(&mut z, key, 0, trajectory as u32, stream::INITIAL);
            let mu = match index {
                Some(i) => *i,
                None => {
                    segment_target(plan, 0, trajectory).expect("resolve checked the first segment's target") as usize
                }
            };
            for b in 0..plan.neuron_blocks() {
                let signs =
                    if *flip > 0.0 { rng::cue_signs4(b as u32, 0, trajectory as u32, *flip, key) } else { [1.0; 4] };
                for l in 0..4 {
                    let i = 4 * b + l;
                    if i < plan.n() {
                        x[i] = amplitude * (plan.memories.get(i, mu) * signs[l]) + jitter * z[i];
                    }
                }
            }
        }
    }
    x
}

/// m(x) = Ξᵀ Ψ(x) / N, accumulated block by block like the kernels.
pub fn overlaps(plan: &Plan, x: &[f32], m: &mut [f32]) {
    let p = plan.p();
    let mut acc = vec![0f32; p];
    for b in 0..plan.neuron_blocks() {
        let mut psi = [0f32; 4];
        for (l, v) in psi.iter_mut().enumerate() {
            let i = 4 * b + l;
            if i < plan.n() {
                *v = plan.psi(x[i]);
            }
        }
        accumulate_block(plan, b, &psi, &mut acc);
    }
    let inv_n = 1.0 / plan.n() as f32;
    for mu in 0..p {
        m[mu] = acc[mu] * inv_n;
    }
}

/// acc_μ += ξ_b,μ · ψ_b for one 4-neuron block (padding neurons have ξ = 0).
#[inline]
fn accumulate_block(plan: &Plan, b: usize, psi: &[f32; 4], acc: &mut [f32]) {
    for (mu, a) in acc.iter_mut().enumerate() {
        let mut dot = 0f32;
        for l in 0..4 {
            let i = 4 * b + l;
            if i < plan.n() {
                dot += plan.memories.get(i, mu) * psi[l];
            }
        }
        *a += dot;
    }
}

/// The input in effect: the segment's and the previous segment's drives, its target, and the
/// ramp fraction and gate of the step being taken.
struct Input {
    seg: usize,
    prev: Drive,
    cur: Drive,
    target: Option<u32>,
    s: f32,
    on: bool,
}

impl Input {
    fn of_segment(plan: &Plan, seg: usize, trajectory: u64) -> Input {
        let prev = if seg > 0 { segment_drive(plan, seg - 1, trajectory) } else { Drive::zero(plan.p()) };
        let (s, on) = plan.input.segments[seg].schedule(0);
        Input {
            seg,
            prev,
            cur: segment_drive(plan, seg, trajectory),
            target: segment_target(plan, seg, trajectory),
            s,
            on,
        }
    }

    /// The input of the step being taken, as the models read it.
    fn now(&self) -> InputNow<'_> {
        InputNow { prev: &self.prev, cur: &self.cur, s: self.s, on: self.on }
    }
}

/// What the observers see of a trajectory after `done` steps ([`Observed`]): its state (the
/// first N values of `x`), its overlaps and its segment.
fn observed<'a>(plan: &Plan, input: &Input, done: u32, x: &'a [f32], m: &'a [f32]) -> Observed<'a> {
    let sp = &plan.input.segments[input.seg];
    Observed {
        done,
        x: &x[..plan.n()],
        m,
        segment: input.seg,
        segment_end: sp.start_step + sp.steps,
        target: input.target,
    }
}

/// A trajectory's state and update constants, borrowed for a whole-row update.
pub struct Row<'a> {
    pub x: &'a mut [f32],
    pub v: Option<&'a [f32]>,
    pub dt_x: f32,
    pub noise_scale: f32,
    pub zero_diagonal: bool,
}

/// One trajectory in flight.
pub struct Trajectory<'p> {
    plan: &'p Plan,
    index: u64,
    key: [u32; 2],
    /// The state, padded to whole neuron blocks.
    x: Vec<f32>,
    m: Vec<f32>,
    layers: modern::Layers,
    input: Input,
    /// Steps taken.
    done: u32,
    /// The observer state: [segment][P] retrieval window sums, then the first-passage step
    /// count as f32 bits ([`NO_STEP`] until it happens); see [`Plan::obs_per_trajectory`].
    obs: Vec<f32>,
    // Scratch of one step: field coefficients, per-neuron input, overlap accumulators.
    c: Vec<f32>,
    v: Vec<f32>,
    acc: Vec<f32>,
    /// The plan's per-step constants, read once: a per-neuron input term, σ√dt, dt/τ_x and
    /// whether the diagonal is zeroed.
    has_vector: bool,
    noise_scale: f32,
    dt_x: f32,
    zero_diagonal: bool,
}

impl<'p> Trajectory<'p> {
    /// The trajectory with global index `index` at t = 0.
    pub fn init(plan: &'p Plan, index: u64) -> Self {
        let p = plan.p();
        let x = initial_state(plan, index);
        let mut m = vec![0f32; p];
        overlaps(plan, &x, &mut m);
        let mut t = Trajectory {
            plan,
            index,
            key: rng::key_from_seed(plan.ensemble.seed),
            has_vector: plan.has_vector_input(),
            noise_scale: plan.noise_scale(),
            dt_x: plan.dt_x(),
            zero_diagonal: plan.model.zero_diagonal(),
            layers: modern::Layers::initial(&m),
            x,
            m,
            input: Input::of_segment(plan, 0, index),
            done: 0,
            obs: vec![0f32; plan.obs_per_trajectory()],
            c: vec![0f32; p],
            v: vec![0f32; plan.n()],
            acc: vec![0f32; p],
        };
        if plan.observe.observes_trajectories() {
            let fp = t.obs.len() - 1;
            t.obs[fp] = f32::from_bits(NO_STEP);
            plan.observe.track(&observed(plan, &t.input, 0, &t.x, &t.m), &mut t.obs);
        }
        t
    }

    /// Values [`Trajectory::export`] writes: the padded state, then the modern model's α and y.
    pub fn state_width(plan: &Plan) -> usize {
        plan.neuron_blocks() * 4 + if plan.model.modern().is_some() { 2 * plan.p() } else { 0 }
    }

    /// Appends what the trajectory needs to go on later ([`Trajectory::restore`]): x, and α, y
    /// of the modern model (the overlaps and the input in effect follow from x and the step).
    pub fn export(&self, state: &mut Vec<f32>, obs: &mut Vec<f32>) {
        state.extend_from_slice(&self.x);
        if self.plan.model.modern().is_some() {
            state.extend_from_slice(&self.layers.alpha);
            state.extend_from_slice(&self.layers.y);
        }
        obs.extend_from_slice(&self.obs);
    }

    /// The trajectory with global index `index` after `step` steps, from what
    /// [`Trajectory::export`] wrote: the same values, bit for bit, as if it had run on.
    pub fn restore(plan: &'p Plan, index: u64, step: u32, state: &[f32], obs: &[f32]) -> Self {
        let mut t = Trajectory::init(plan, index);
        let nb4 = plan.neuron_blocks() * 4;
        t.x.copy_from_slice(&state[..nb4]);
        overlaps(plan, &t.x, &mut t.m);
        if plan.model.modern().is_some() {
            let p = plan.p();
            t.layers.alpha.copy_from_slice(&state[nb4..nb4 + p]);
            t.layers.y.copy_from_slice(&state[nb4 + p..nb4 + 2 * p]);
        }
        t.obs.copy_from_slice(obs);
        // The segment of the last step taken (a step moves on to the next segment itself).
        let last = step.saturating_sub(1);
        let seg = plan.input.segments.iter().rposition(|s| s.start_step <= last).unwrap_or(0);
        if seg != 0 {
            t.input = Input::of_segment(plan, seg, index);
        }
        t.done = step;
        t
    }

    /// The plan the trajectory follows.
    pub fn plan(&self) -> &'p Plan {
        self.plan
    }

    /// Steps taken so far.
    pub fn done(&self) -> u32 {
        self.done
    }

    /// The state x (length N).
    pub fn state(&self) -> &[f32] {
        &self.x[..self.plan.n()]
    }

    /// The observer values (see [`Plan::obs_per_trajectory`]).
    pub fn observations(&self) -> &[f32] {
        &self.obs
    }

    /// One Euler–Maruyama step; Err(step) if the new state is not finite.
    pub fn step(&mut self) -> Result<(), u32> {
        let step = self.done;
        let d = self.coefficients();
        let plan = self.plan;
        let (n, p) = (plan.n(), plan.p());
        self.acc.fill(0.0);
        for b in 0..plan.neuron_blocks() {
            let z = self.noise4(b, step);
            let mut psi_new = [0f32; 4];
            for l in 0..4 {
                let i = 4 * b + l;
                if i >= n {
                    continue;
                }
                let xi_row = &plan.memories.xi[i * p..(i + 1) * p];
                let mut h = 0f32;
                for mu in 0..p {
                    h += xi_row[mu] * self.c[mu];
                }
                let xn = self.update(i, h, d, None, z[l]);
                psi_new[l] = plan.psi(xn);
                if !xn.is_finite() {
                    return Err(step);
                }
            }
            accumulate_block(plan, b, &psi_new, &mut self.acc);
        }
        let inv_n = 1.0 / n as f32;
        for mu in 0..p {
            self.m[mu] = self.acc[mu] * inv_n;
        }
        self.done = step + 1;
        Ok(())
    }

    /// The first part of a step: moves to the step's segment and input schedule and computes
    /// the field's coefficients c (and the per-neuron input v, the modern layers); returns the
    /// diagonal shift d. The field is then h_i = Σ_μ ξ_iμ c_μ ([`Trajectory::coefficients_c`]).
    pub fn coefficients(&mut self) -> f32 {
        let plan = self.plan;
        let step = self.done;
        let mut seg = self.input.seg;
        if step >= plan.input.segments[seg].start_step + plan.input.segments[seg].steps {
            seg += 1;
        }
        if seg != self.input.seg {
            self.input = Input::of_segment(plan, seg, self.index);
        }
        let sp = &plan.input.segments[seg];
        (self.input.s, self.input.on) = sp.schedule(step - sp.start_step);
        let v = self.has_vector.then_some(&mut self.v[..]);
        model::coefficients(plan, &self.input.now(), &self.m, &mut self.layers, &mut self.c, v, (step, self.index))
    }

    /// The coefficients c of the step being taken (after [`Trajectory::coefficients`]).
    pub fn coefficients_c(&self) -> &[f32] {
        &self.c
    }

    /// The trajectory's global index (its random numbers' counter word).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The Philox key of the run's seed.
    pub fn key(&self) -> [u32; 2] {
        self.key
    }

    /// The four dynamics noises of neuron block `b` at `step` (Gaussian or two-point, by the
    /// stream layout of THEORY §9).
    #[inline]
    pub fn noise4(&self, b: usize, step: u32) -> [f32; 4] {
        if self.plan.noise.two_point {
            rng::two_point4(self.plan.neuron_blocks(), b as u32, step, self.index as u32, self.key)
        } else {
            rng::dynamics_normals4(self.plan.n(), b as u32, step, self.index as u32, self.key)
        }
    }

    /// Neuron i's Euler–Maruyama update from its field h, the diagonal shift d and its noise
    /// z: writes and returns the new x_i. With a zeroed diagonal it needs Ψ(x_i): `psi_x` if
    /// the caller kept it, else computed here.
    #[inline]
    pub fn update(&mut self, i: usize, h: f32, d: f32, psi_x: Option<f32>, z: f32) -> f32 {
        let mut f = h - self.x[i];
        if self.zero_diagonal {
            f -= d * psi_x.unwrap_or_else(|| self.plan.psi(self.x[i]));
        }
        if self.has_vector {
            f += self.v[i];
        }
        let xn = self.x[i] + self.dt_x * f + self.noise_scale * z;
        self.x[i] = xn;
        xn
    }

    /// The last part of a step whose overlap sums Σ_i ξ_iμ Ψ(x_i) the caller computed:
    /// m = acc / N, and the step counts as taken.
    pub fn finish(&mut self, acc: &[f32]) {
        self.set_overlap_sums(acc);
        self.done += 1;
    }

    /// m = acc / N from overlap sums Σ_i ξ_iμ Ψ(x_i) that the caller computed.
    pub fn set_overlap_sums(&mut self, acc: &[f32]) {
        let inv_n = 1.0 / self.plan.n() as f32;
        for (m, a) in self.m.iter_mut().zip(acc) {
            *m = a * inv_n;
        }
    }

    /// What a whole-row update needs (the fast path's [`super::tiled`]): the state x (N values),
    /// the per-neuron input v if the plan has one, and the constants of
    /// [`Trajectory::update`].
    pub fn row(&mut self) -> Row<'_> {
        let n = self.plan.n();
        Row {
            x: &mut self.x[..n],
            v: self.has_vector.then_some(&self.v[..n]),
            dt_x: self.dt_x,
            noise_scale: self.noise_scale,
            zero_diagonal: self.zero_diagonal,
        }
    }

    /// σ√dt of the dynamics' noise (0: no noise is added).
    pub fn noise_scale(&self) -> f32 {
        self.noise_scale
    }

    /// The observers after a step: the retrieval window sums, the first passage, one
    /// histogram sample and one occupancy count (`hist`: the counters of
    /// [`crate::plan::ObservePlan::counters`]).
    pub fn observe(&mut self, hist: Option<&mut [u64]>) {
        let plan = self.plan;
        let at = observed(plan, &self.input, self.done, &self.x, &self.m);
        if plan.observe.observes_trajectories() {
            plan.observe.track(&at, &mut self.obs);
        }
        if let Some(h) = hist {
            plan.observe.count(&at, h);
        }
    }

    /// One save's quantities now (see [`crate::plan::SaveLayout`]): the overlaps, the energy
    /// and the modern model's layers, for the input of the last step.
    pub fn save(&self, out: &mut [f32]) {
        let plan = self.plan;
        let l = plan.saves();
        out[l.overlaps()].copy_from_slice(&self.m);
        model::save(plan, &self.input.now(), &self.x, &self.m, &self.layers, out);
    }
}

/// What one whole trajectory gives: saves [n_saves][Q], the final state and the observer
/// values; Err(step) at the first step whose state was not finite.
pub fn integrate(
    plan: &Plan,
    index: u64,
    saves: &mut [f32],
    x_out: &mut [f32],
    mut hist: Option<&mut [u64]>,
    obs: Option<&mut [f32]>,
) -> Result<(), u32> {
    let q = plan.saves().q();
    let mut t = Trajectory::init(plan, index);
    t.save(&mut saves[..q]);
    while t.done() < plan.time.total_steps {
        t.step()?;
        t.observe(hist.as_deref_mut());
        if t.done().is_multiple_of(plan.observe.save_every) {
            let k = (t.done() / plan.observe.save_every) as usize;
            t.save(&mut saves[k * q..(k + 1) * q]);
        }
    }
    x_out.copy_from_slice(t.state());
    if let Some(o) = obs {
        o.copy_from_slice(t.observations());
    }
    Ok(())
}
