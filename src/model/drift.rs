//! The drift f(x) = −x + Ξ(a ⊙ m(x) + b) − d Ψ(x) + v, in low-rank form (docs/THEORY.md §2), and the
//! per-trajectory input drive it is evaluated with. One definition for the CPU reference; the
//! kernels in `shaders/step.wgsl` use the same names and the same order of operations.
//!
//! IDP: a = α(t), b = 0, d = Σα/N if the diagonal is zeroed, v = 0.
//! Classic: a = 1, b = w(t), d = P/N if the diagonal is zeroed, v = u_vector(t) + η + cue.

// Index loops on purpose: they mirror the kernels line by line.
#![allow(clippy::needless_range_loop)]

use crate::model::input;
use crate::plan::{Coupling, Plan, SegmentPlan, activation};
use crate::rng::{self, stream};

/// What one trajectory sees of one segment's input: P coefficients and, for the classic model
/// with a vector input or input noise, a per-neuron term.
#[derive(Debug, Clone, PartialEq)]
pub struct Drive {
    pub coef: Vec<f32>,
    pub vector: Option<Vec<f32>>,
}

impl Drive {
    pub fn zero(p: usize) -> Drive {
        Drive { coef: vec![0.0; p], vector: None }
    }
}

/// The per-neuron input corruption η of `trajectory` in segment `seg` (unit normals; the caller
/// scales by the segment's noise std).
pub fn input_noise(plan: &Plan, seg: usize, trajectory: u64) -> Vec<f32> {
    let mut z = vec![0f32; plan.neuron_blocks() * 4];
    rng::fill_normals(
        &mut z,
        rng::key_from_seed(plan.ensemble.seed),
        seg as u32,
        trajectory as u32,
        stream::INPUT_NOISE,
    );
    z.truncate(plan.n());
    z
}

/// The drive of segment `seg` for one trajectory (global index).
pub fn segment_drive(plan: &Plan, seg: usize, trajectory: u64) -> Drive {
    let sp: &SegmentPlan = &plan.input.segments[seg];
    let (n, p) = (plan.n(), plan.p());
    let mut coef = if sp.random.is_some() { input::random_coef(plan, seg, trajectory) } else { sp.coef.clone() };
    let mut vector = match plan.model.coupling() {
        Coupling::Bias if plan.has_vector_input() => Some(sp.vector.clone().unwrap_or_else(|| vec![0.0; n])),
        _ => None,
    };
    if sp.noise > 0.0 || sp.cue.is_some() {
        // The per-trajectory part of u: input noise η and the cue.
        let mut eta = vec![0f32; n];
        if sp.noise > 0.0 {
            let z = input_noise(plan, seg, trajectory);
            for i in 0..n {
                eta[i] = sp.noise * z[i];
            }
        }
        if sp.cue.is_some() {
            let u = input::cue_vector(plan, seg, trajectory);
            for i in 0..n {
                eta[i] += u[i];
            }
        }
        match plan.model.coupling() {
            Coupling::Saliency => {
                // α += Ξᵀη / N, summed in neuron order.
                let mut acc = vec![0f32; p];
                for i in 0..n {
                    for (mu, a) in acc.iter_mut().enumerate() {
                        *a += plan.memories.get(i, mu) * eta[i];
                    }
                }
                let inv_n = 1.0 / n as f32;
                for mu in 0..p {
                    coef[mu] += acc[mu] * inv_n;
                }
            }
            Coupling::Bias => {
                let v = vector.as_mut().expect("has_vector_input covers input noise and cues");
                for i in 0..n {
                    v[i] += eta[i];
                }
            }
        }
    }
    Drive { coef, vector }
}

/// `prev + s (cur − prev)`, or `cur` itself once the ramp is over (s = 1).
#[inline(always)]
pub fn ramp(prev: f32, cur: f32, s: f32) -> f32 {
    if s >= 1.0 { cur } else { prev + s * (cur - prev) }
}

/// The low-rank field's coefficients for one step: c_μ = a_μ m_μ + b_μ, the diagonal shift d
/// and, when present, the per-neuron input v. `prev`/`cur` are the drives of the previous and
/// current segments, `s`/`on` the ramp fraction and pulse gate.
#[allow(clippy::too_many_arguments)]
pub fn step_coefficients(
    plan: &Plan,
    prev: &Drive,
    cur: &Drive,
    s: f32,
    on: bool,
    m: &[f32],
    c: &mut [f32],
    v: Option<&mut [f32]>,
) -> f32 {
    let p = plan.p();
    let inv_n = 1.0 / plan.n() as f32;
    let mut sum_a = 0f32;
    for mu in 0..p {
        let q = if on { ramp(prev.coef[mu], cur.coef[mu], s) } else { 0.0 };
        match plan.model.coupling() {
            Coupling::Saliency => {
                c[mu] = q * m[mu];
                sum_a += q;
            }
            Coupling::Bias => c[mu] = m[mu] + q,
        }
    }
    if let (Some(v), Some(cv)) = (v, cur.vector.as_ref()) {
        // No previous vector means the previous input's vector part is zero.
        let pv = |i: usize| prev.vector.as_ref().map_or(0.0, |pv| pv[i]);
        for i in 0..plan.n() {
            v[i] = if on { ramp(pv(i), cv[i], s) } else { 0.0 };
        }
    }
    if !plan.model.zero_diagonal() {
        return 0.0;
    }
    match plan.model.coupling() {
        Coupling::Saliency => sum_a * inv_n,
        Coupling::Bias => p as f32 * inv_n,
    }
}

/// log cosh z in f32, stable for large |z|: |z| + ln(1 + e^{−2|z|}) − ln 2. Same formula as
/// `log_cosh` in `shaders/step.wgsl`.
#[inline(always)]
pub fn log_cosh_f32(z: f32) -> f32 {
    let a = z.abs();
    a + (1.0 + (-2.0 * a).exp()).ln() - std::f32::consts::LN_2
}

/// The energy of one trajectory's state x (padded to neuron blocks) with overlaps m, for the
/// input in effect (prev/cur drives, ramp fraction s, gate on), as the kernels compute it:
/// E = −½(N Σ a_μ m_μ² − d Σ Ψ_i²) + Σ_i [x_i Ψ_i − log cosh(δ x_i)/δ] − (N Σ b_μ m_μ + v·Ψ).
#[allow(clippy::too_many_arguments)]
pub fn energy(plan: &Plan, x: &[f32], m: &[f32], prev: &Drive, cur: &Drive, s: f32, on: bool) -> f32 {
    let n = plan.n();
    let mut c = vec![0f32; plan.p()];
    let mut v = vec![0f32; n];
    let has_vector = plan.has_vector_input();
    let d = step_coefficients(plan, prev, cur, s, on, m, &mut c, has_vector.then_some(&mut v[..]));
    let (mut local, mut psi2, mut vpsi) = (0f32, 0f32, 0f32);
    for b in 0..plan.neuron_blocks() {
        let (mut bl, mut bp, mut bv) = ([0f32; 4], [0f32; 4], [0f32; 4]);
        for l in 0..4 {
            let i = 4 * b + l;
            if i < n {
                let psi = activation(x[i], plan.model.slope);
                bl[l] = x[i] * psi - log_cosh_f32(plan.model.slope * x[i]) / plan.model.slope;
                bp[l] = psi * psi;
                bv[l] = if has_vector { v[i] * psi } else { 0.0 };
            }
        }
        local += ((bl[0] + bl[1]) + bl[2]) + bl[3];
        psi2 += ((bp[0] + bp[1]) + bp[2]) + bp[3];
        vpsi += ((bv[0] + bv[1]) + bv[2]) + bv[3];
    }
    let (mut quad, mut lin) = (0f32, 0f32);
    for mu in 0..plan.p() {
        // c_μ = a_μ m_μ + b_μ: IDP a = q, b = 0; classic a = 1, b = q.
        match plan.model.coupling() {
            Coupling::Saliency => quad += c[mu] * m[mu],
            Coupling::Bias => {
                quad += m[mu] * m[mu];
                lin += (c[mu] - m[mu]) * m[mu];
            }
        }
    }
    let nf = n as f32;
    -0.5 * (nf * quad - d * psi2) + local - (nf * lin + vpsi)
}
