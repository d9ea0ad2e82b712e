//! The CPU reference backend: plain Euler–Maruyama with the low-rank field, written like the
//! kernel in `shaders/step.wgsl` (same loop order, same names, neurons in blocks of four) so the
//! two can be read side by side. Trajectories are spread over threads; nothing else is clever.

// Index loops on purpose: they mirror the kernels line by line.
#![allow(clippy::needless_range_loop)]

use anyhow::Result;

use crate::engine::{Backend, Chunk, RunError, Sink};
use crate::model::drift::{Drive, energy, segment_drive, step_coefficients};
use crate::model::input::segment_target;
use crate::model::modern;
use crate::observe;
use crate::plan::{InitialPlan, Plan};
use crate::rng::{self, stream};

/// A worker's first divergence (trajectory, step), if any, and its histogram counts.
type WorkerResult = (Option<(u64, u32)>, Vec<u64>);

pub struct CpuBackend {
    threads: usize,
}

impl CpuBackend {
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        CpuBackend { threads }
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// x(0) for one trajectory (global index), padded to whole neuron blocks.
pub fn initial_state(plan: &Plan, trajectory: u64) -> Vec<f32> {
    let nb4 = plan.neuron_blocks() * 4;
    let mut z = vec![0f32; nb4];
    let key = rng::key_from_seed(plan.seed);
    let mut x = vec![0f32; nb4];
    match &plan.initial {
        InitialPlan::Normal { std } => {
            rng::fill_normals(&mut z, key, 0, trajectory as u32, stream::INITIAL);
            for i in 0..plan.n {
                x[i] = std * z[i];
            }
        }
        InitialPlan::Point { x: x0 } => x[..plan.n].copy_from_slice(x0),
        InitialPlan::Memory { index, amplitude, jitter } => {
            rng::fill_normals(&mut z, key, 0, trajectory as u32, stream::INITIAL);
            for i in 0..plan.n {
                x[i] = amplitude * plan.memories.get(i, *index) + jitter * z[i];
            }
        }
    }
    x
}

/// m(x) = Ξᵀ Ψ(x) / N, accumulated block by block like the kernels.
pub fn overlaps(plan: &Plan, x: &[f32], m: &mut [f32]) {
    let p = plan.p;
    let mut acc = vec![0f32; p];
    for b in 0..plan.neuron_blocks() {
        let mut psi = [0f32; 4];
        for (l, v) in psi.iter_mut().enumerate() {
            let i = 4 * b + l;
            if i < plan.n {
                *v = plan.psi(x[i]);
            }
        }
        accumulate_block(plan, b, &psi, &mut acc);
    }
    let inv_n = 1.0 / plan.n as f32;
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
            if i < plan.n {
                dot += plan.memories.get(i, mu) * psi[l];
            }
        }
        *a += dot;
    }
}

/// Integrates one trajectory over the whole schedule. `saves` is [n_saves][P]; `x` returns the
/// final state (length N); histogram samples are added to `hist` (cells + 1, the last slot
/// counting out-of-range samples). Returns the first step whose result was not finite.
pub fn integrate(
    plan: &Plan,
    trajectory: u64,
    saves: &mut [f32],
    x_out: &mut [f32],
    hist: Option<&mut [u64]>,
) -> Result<(), u32> {
    integrate_recording(plan, trajectory, saves, x_out, hist, None)
}

/// [`integrate`], also appending the state (length N) at t = 0 and at every save to `path`.
pub fn integrate_recording(
    plan: &Plan,
    trajectory: u64,
    saves: &mut [f32],
    x_out: &mut [f32],
    hist: Option<&mut [u64]>,
    path: Option<&mut Vec<f32>>,
) -> Result<(), u32> {
    integrate_observed(plan, trajectory, saves, x_out, hist, path, None)
}

/// One save's quantities: the overlaps, the energy (if observed) and, for the modern model,
/// the memory layer y and the saliencies α, for the input in effect (prev/cur, s, on).
#[allow(clippy::too_many_arguments)]
fn save_quantities(
    plan: &Plan,
    x: &[f32],
    m: &[f32],
    prev: &Drive,
    cur: &Drive,
    s: f32,
    on: bool,
    layers: &modern::Layers,
    out: &mut [f32],
) {
    let p = plan.p;
    out[..p].copy_from_slice(m);
    match &plan.modern {
        None => {
            if plan.energy {
                out[p] = energy(plan, x, m, prev, cur, s, on);
            }
        }
        Some(md) => {
            let qs: Vec<f32> = (0..p).map(|mu| modern::input_saliency(prev, cur, s, on, mu)).collect();
            let (y, a) = modern::observed(md, &qs, m, layers);
            if plan.energy {
                out[p] = modern::energy(plan, md, x, m, &a);
            }
            let qy = plan.q_y();
            out[qy..qy + p].copy_from_slice(&y);
            out[qy + p..qy + 2 * p].copy_from_slice(&a);
        }
    }
}

/// First-passage value meaning "never".
pub const NO_STEP: u32 = u32::MAX;

/// First passage after `done` steps: records `done` in `fp` (a step count stored as f32 bits,
/// [`NO_STEP`] until then) when abs(m_memory) ≥ threshold; memory None follows `target`.
#[inline]
pub fn check_first_passage(plan: &Plan, m: &[f32], target: Option<u32>, done: u32, fp: &mut f32) {
    if let Some(f) = plan.first_passage
        && fp.to_bits() == NO_STEP
        && let Some(mem) = f.memory.or(target)
        && m[mem as usize].abs() >= f.threshold
    {
        *fp = f32::from_bits(done);
    }
}

/// [`integrate_recording`], also accumulating the retrieval observer's window sums and the
/// first passage into `obs` ([segment][P] sums, then the first-passage step as f32 bits; see
/// [`Plan::obs_per_trajectory`]).
pub fn integrate_observed(
    plan: &Plan,
    trajectory: u64,
    saves: &mut [f32],
    x_out: &mut [f32],
    mut hist: Option<&mut [u64]>,
    mut path: Option<&mut Vec<f32>>,
    mut obs: Option<&mut [f32]>,
) -> Result<(), u32> {
    let (n, p, q) = (plan.n, plan.p, plan.q());
    let nb = plan.neuron_blocks();
    let key = rng::key_from_seed(plan.seed);
    let noise_scale = plan.noise_scale();
    let inv_n = 1.0 / n as f32;
    let mut x = initial_state(plan, trajectory);
    if let Some(pth) = path.as_deref_mut() {
        pth.extend_from_slice(&x[..n]);
    }
    let mut m = vec![0f32; p];
    overlaps(plan, &x, &mut m);
    let mut layers = modern::Layers::initial(&m);
    {
        let (s, on) = plan.segments[0].schedule(0);
        let cur = segment_drive(plan, 0, trajectory);
        save_quantities(plan, &x, &m, &Drive::zero(p), &cur, s, on, &layers, &mut saves[..q]);
    }
    let fp_slot = plan.segments.len() * p;
    if let Some(o) = obs.as_deref_mut() {
        o.fill(0.0);
        o[fp_slot] = f32::from_bits(NO_STEP);
        check_first_passage(plan, &m, segment_target(plan, 0, trajectory), 0, &mut o[fp_slot]);
    }
    let mut c = vec![0f32; p];
    let mut v = vec![0f32; n];
    let has_vector = plan.has_vector_input();
    for (seg, sp) in plan.segments.iter().enumerate() {
        let prev = if seg > 0 { segment_drive(plan, seg - 1, trajectory) } else { Drive::zero(p) };
        let cur = segment_drive(plan, seg, trajectory);
        let target = segment_target(plan, seg, trajectory);
        let seg_end = sp.start_step + sp.steps;
        let mut acc = vec![0f32; p];
        for local in 0..sp.steps {
            let step = sp.start_step + local;
            let (s, on) = sp.schedule(local);
            let d = match &plan.modern {
                Some(md) => {
                    modern::step(plan, md, &prev, &cur, s, on, &m, &mut layers, &mut c, step, trajectory);
                    0.0
                }
                None => step_coefficients(plan, &prev, &cur, s, on, &m, &mut c, has_vector.then_some(&mut v[..])),
            };
            acc.fill(0.0);
            for b in 0..nb {
                let z = rng::normals4([b as u32, step, trajectory as u32, stream::DYNAMICS], key);
                let mut psi_new = [0f32; 4];
                for l in 0..4 {
                    let i = 4 * b + l;
                    if i >= n {
                        continue;
                    }
                    let xi_row = &plan.memories.xi[i * p..(i + 1) * p];
                    let mut h = 0f32;
                    for mu in 0..p {
                        h += xi_row[mu] * c[mu];
                    }
                    let mut f = h - x[i];
                    if plan.zero_diagonal {
                        f -= d * plan.psi(x[i]);
                    }
                    if has_vector {
                        f += v[i];
                    }
                    let xn = x[i] + plan.dt_x * f + noise_scale * z[l];
                    x[i] = xn;
                    psi_new[l] = plan.psi(xn);
                    if !xn.is_finite() {
                        return Err(step);
                    }
                }
                accumulate_block(plan, b, &psi_new, &mut acc);
            }
            for mu in 0..p {
                m[mu] = acc[mu] * inv_n;
            }
            let done = step + 1;
            if let Some(o) = obs.as_deref_mut() {
                if let Some(r) = plan.retrieval
                    && done > seg_end - r.window_steps
                {
                    for mu in 0..p {
                        o[seg * p + mu] += m[mu];
                    }
                }
                check_first_passage(plan, &m, target, done, &mut o[fp_slot]);
            }
            if let (Some(hp), Some(h)) = (plan.histogram.as_ref(), hist.as_deref_mut())
                && hp.samples_at(done)
            {
                let pick = |a: u32| if hp.of_state { x[a as usize] } else { m[a as usize] };
                h[hp.bin([pick(hp.axes[0]), pick(hp.axes[1])])] += 1;
            }
            if done % plan.save_every == 0 {
                let k = (done / plan.save_every) as usize;
                save_quantities(plan, &x, &m, &prev, &cur, s, on, &layers, &mut saves[k * q..(k + 1) * q]);
                if let Some(pth) = path.as_deref_mut() {
                    pth.extend_from_slice(&x[..n]);
                }
            }
        }
    }
    x_out.copy_from_slice(&x[..n]);
    Ok(())
}

impl Backend for CpuBackend {
    fn kind(&self) -> &'static str {
        "cpu"
    }

    fn adapter(&self) -> String {
        format!("cpu reference ({} threads)", self.threads)
    }

    /// Bounded so one chunk's overlaps and final states stay within 256 MiB of host memory.
    fn max_chunk(&self, plan: &Plan) -> u64 {
        let per_trajectory = ((plan.n_saves() * plan.q() + plan.n) * 4 * 2) as u64;
        ((256u64 << 20) / per_trajectory).max(crate::plan::BLOCK)
    }

    fn run_chunk(&mut self, plan: &Plan, chunk: Chunk, sink: &mut dyn Sink) -> Result<()> {
        let (n, p) = (plan.n, plan.q());
        let t = plan.n_saves();
        let count = chunk.count as usize;
        // Per trajectory: saves [t][p] and the final state [n].
        let mut saves = vec![0f32; count * t * p];
        let mut finals = vec![0f32; count * n];
        // Per trajectory: retrieval sums and first passage (at least one slot so chunks_mut works).
        let ob = plan.obs_per_trajectory().max(1);
        let mut obs = vec![0f32; count * ob];
        let per_thread = count.div_ceil(self.threads).max(1);
        let hist_len = plan.histogram.as_ref().map_or(0, |h| h.cells() + 1);
        let results: Vec<WorkerResult> = std::thread::scope(|scope| {
            let handles: Vec<_> = saves
                .chunks_mut(per_thread * t * p)
                .zip(finals.chunks_mut(per_thread * n))
                .zip(obs.chunks_mut(per_thread * ob))
                .enumerate()
                .map(|(k, ((sv, fx), ox))| {
                    scope.spawn(move || {
                        let mut hist = vec![0u64; hist_len];
                        let rows = sv.chunks_mut(t * p).zip(fx.chunks_mut(n)).zip(ox.chunks_mut(ob));
                        for (j, ((s1, f1), o1)) in rows.enumerate() {
                            let traj = chunk.first + (k * per_thread + j) as u64;
                            let h = (hist_len > 0).then_some(&mut hist[..]);
                            let o = plan.observes_trajectories().then_some(o1);
                            if let Err(step) = integrate_observed(plan, traj, s1, f1, h, None, o) {
                                return (Some((traj, step)), hist);
                            }
                        }
                        (None, hist)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("cpu worker panicked")).collect()
        });
        let mut hist = vec![0u64; hist_len];
        for (_, h) in &results {
            for (a, b) in hist.iter_mut().zip(h) {
                *a += b;
            }
        }
        if let Some((trajectory, step)) = results.into_iter().filter_map(|r| r.0).min_by_key(|f| (f.1, f.0)) {
            return Err(RunError::Diverged { trajectory, step, time: step as f64 * plan.dt_f64 }.into());
        }
        // Trajectory-major [traj][t][p] → save-major [t][traj][p], as the GPU produces it.
        let mut by_save = vec![0f32; count * t * p];
        for j in 0..count {
            for k in 0..t {
                by_save[(k * count + j) * p..(k * count + j + 1) * p]
                    .copy_from_slice(&saves[(j * t + k) * p..(j * t + k + 1) * p]);
            }
        }
        let partials = observe::block_partials(&by_save, t, count, p);
        sink.partials(0, t, &partials)?;
        if plan.per_trajectory_saves() {
            sink.overlaps(0, t, &by_save)?;
        }
        if hist_len > 0 {
            sink.histogram(&hist)?;
        }
        if plan.observes_trajectories() {
            sink.trajectory_observations(&obs)?;
        }
        sink.progress(chunk.count * plan.total_steps as u64);
        if plan.final_state {
            sink.final_state(&finals)?;
        }
        Ok(())
    }
}
