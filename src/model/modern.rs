//! The modern three-layer model (docs/THEORY.md §5), one step at a time, as the kernels compute it
//! (`modern_coefficients` in `shaders/step.wgsl`):
//!
//!   α  (saliency layer):  α ← α + (dt/τ_α)(q − α) + σ_α √dt z     (α = q when τ_α = 0)
//!   y  (memory layer):    y ← y + (dt/τ_y)(m(x) − y) + σ_y √dt z   (y = m(x) when τ_y = 0)
//!   x  (feature layer):   x ← x + (dt/τ_x)(Ξ c − x) + σ √dt z,     c = Ψ_α(α) ⊙ Ψ_y(y)
//!
//! where q = Ξᵀu/N is the input's saliency (the IDP model's α, with ramps, pulses, random
//! weights and input noise) and, for the softmax, Ψ_y(y) = softmax(β Ψ_α(α) ⊙ y). Every layer
//! is advanced from the values at time t (explicit Euler–Maruyama); x's noise is the IDP model's,
//! so the same seed gives the same Brownian path.

// Index loops on purpose: they mirror the kernels line by line.
#![allow(clippy::needless_range_loop)]

use crate::model::drift::{Drive, ramp};
use crate::plan::{ModernPlan, Plan, PsiY, activation};
use crate::rng::{self, stream};

/// The saliency and memory layers of one trajectory, with room for one step's effective values
/// (so a step allocates nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Layers {
    pub alpha: Vec<f32>,
    pub y: Vec<f32>,
    q: Vec<f32>,
    a_eff: Vec<f32>,
    y_eff: Vec<f32>,
}

impl Layers {
    /// At t = 0: no input has been filtered yet (α = 0), y = m(x(0)).
    pub fn initial(m: &[f32]) -> Layers {
        let p = m.len();
        Layers { alpha: vec![0.0; p], y: m.to_vec(), q: vec![0.0; p], a_eff: vec![0.0; p], y_eff: vec![0.0; p] }
    }
}

/// The input's saliency q_μ in effect (ramp fraction s, gate `on`).
#[inline]
pub fn input_saliency(prev: &Drive, cur: &Drive, s: f32, on: bool, mu: usize) -> f32 {
    if on { ramp(prev.coef[mu], cur.coef[mu], s) } else { 0.0 }
}

/// tanh with the argument clamped like Ψ_x's, as the kernels compute it.
fn tanh_clamped(v: f32) -> f32 {
    activation(v, 1.0)
}

fn psi_alpha(md: &ModernPlan, a: f32) -> f32 {
    if md.psi_alpha_tanh { tanh_clamped(a) } else { a }
}

/// The effective α and y at time t: the layers' states, or their instantaneous values.
pub fn effective(md: &ModernPlan, q: &[f32], m: &[f32], l: &Layers) -> (Vec<f32>, Vec<f32>) {
    let a = if md.rate_alpha > 0.0 { l.alpha.clone() } else { q.to_vec() };
    let y = if md.rate_y > 0.0 { l.y.clone() } else { m.to_vec() };
    (a, y)
}

/// c = Ψ_α(α) ⊙ Ψ_y(y) from the effective α and y.
pub fn field_coefficients(md: &ModernPlan, a: &[f32], y: &[f32], c: &mut [f32]) {
    let p = a.len();
    match md.psi_y {
        PsiY::Identity => {
            for mu in 0..p {
                c[mu] = psi_alpha(md, a[mu]) * y[mu];
            }
        }
        PsiY::Tanh => {
            for mu in 0..p {
                c[mu] = psi_alpha(md, a[mu]) * tanh_clamped(y[mu]);
            }
        }
        PsiY::Softmax { beta } => {
            // c holds the softmax's exponents, then its terms.
            let mut mx = f32::NEG_INFINITY;
            for mu in 0..p {
                c[mu] = beta * psi_alpha(md, a[mu]) * y[mu];
                mx = mx.max(c[mu]);
            }
            let mut sum = 0f32;
            for mu in 0..p {
                c[mu] = (c[mu] - mx).exp();
                sum += c[mu];
            }
            for mu in 0..p {
                c[mu] = psi_alpha(md, a[mu]) * (c[mu] / sum);
            }
        }
    }
}

/// One step's field coefficients c (from the layers at time t), then the layers advanced to
/// t + dt. `m` are the overlaps m(x(t)).
#[allow(clippy::too_many_arguments)]
pub fn step(
    plan: &Plan,
    md: &ModernPlan,
    prev: &Drive,
    cur: &Drive,
    s: f32,
    on: bool,
    m: &[f32],
    l: &mut Layers,
    c: &mut [f32],
    step: u32,
    trajectory: u64,
) {
    for mu in 0..plan.p() {
        l.q[mu] = input_saliency(prev, cur, s, on, mu);
        l.a_eff[mu] = if md.rate_alpha > 0.0 { l.alpha[mu] } else { l.q[mu] };
        l.y_eff[mu] = if md.rate_y > 0.0 { l.y[mu] } else { m[mu] };
    }
    field_coefficients(md, &l.a_eff, &l.y_eff, c);
    let key = rng::key_from_seed(plan.ensemble.seed);
    if md.rate_alpha > 0.0 {
        relax(&mut l.alpha, &l.q, md.rate_alpha, md.noise_alpha, stream::ALPHA_NOISE, step, trajectory, key);
    }
    if md.rate_y > 0.0 {
        relax(&mut l.y, m, md.rate_y, md.noise_y, stream::Y_NOISE, step, trajectory, key);
    }
}

/// One layer's Euler–Maruyama step towards `target`: rate dt/τ, noise σ√dt with normals from
/// Philox [block of 4 memories, step, trajectory, stream] (`relax_layer` in the kernels).
#[allow(clippy::too_many_arguments)]
fn relax(
    layer: &mut [f32],
    target: &[f32],
    rate: f32,
    noise: f32,
    stream: u32,
    step: u32,
    trajectory: u64,
    key: [u32; 2],
) {
    for (k, block) in layer.chunks_mut(4).enumerate() {
        let z = rng::normals4([k as u32, step, trajectory as u32, stream], key);
        for (lane, v) in block.iter_mut().enumerate() {
            *v = *v + rate * (target[4 * k + lane] - *v) + noise * z[lane];
        }
    }
}

/// The observed layers after a step (or at t = 0): the states of dynamic layers, and for
/// instantaneous ones α = q (the input of the step just taken) and y = m (the new overlaps).
pub fn observed(md: &ModernPlan, q: &[f32], m: &[f32], l: &Layers) -> (Vec<f32>, Vec<f32>) {
    let (a, y) = effective(md, q, m, l);
    (y, a)
}

/// E_tr(x; α) = −(N/β) log Σ_μ exp(β Ψ_α(α_μ) m_μ) + ½|x|² in f32, as the kernels compute it
/// (softmax variant with Ψ_x = identity; `x` padded to neuron blocks, summed block by block).
pub fn energy(plan: &Plan, md: &ModernPlan, x: &[f32], m: &[f32], a: &[f32]) -> f32 {
    let PsiY::Softmax { beta } = md.psi_y else { return f32::NAN };
    let mut half_sq = 0f32;
    for b in 0..plan.neuron_blocks() {
        let mut v = [0f32; 4];
        for (l, vl) in v.iter_mut().enumerate() {
            let i = 4 * b + l;
            if i < plan.n() {
                *vl = x[i] * x[i];
            }
        }
        half_sq += ((v[0] + v[1]) + v[2]) + v[3];
    }
    let p = plan.p();
    let mut mx = f32::NEG_INFINITY;
    for mu in 0..p {
        mx = mx.max(beta * psi_alpha(md, a[mu]) * m[mu]);
    }
    let mut sum = 0f32;
    for mu in 0..p {
        sum += (beta * psi_alpha(md, a[mu]) * m[mu] - mx).exp();
    }
    -(plan.n() as f32 / beta) * (mx + sum.ln()) + 0.5 * half_sq
}

/// E_tr in f64 for a state x (length N) and saliencies α (Ψ_α = identity), with m = Ξᵀx/N.
pub fn energy_f64(plan: &Plan, beta: f64, alpha: &[f64], x: &[f64]) -> f64 {
    let (n, p) = (plan.n(), plan.p());
    let m: Vec<f64> =
        (0..p).map(|mu| (0..n).map(|i| plan.memories.get(i, mu) as f64 * x[i]).sum::<f64>() / n as f64).collect();
    let z: Vec<f64> = (0..p).map(|mu| beta * alpha[mu] * m[mu]).collect();
    let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
    -(n as f64 / beta) * lse + 0.5 * x.iter().map(|v| v * v).sum::<f64>()
}
