//! The stationary Fokker–Planck equation for N = 1 or 2 on a grid (docs/THEORY.md §4):
//! 0 = −∇·(f p) + (σ²/2) Δp on a box with zero-flux walls, discretised by finite volumes with
//! Scharfetter–Gummel fluxes (exact for a drift constant across a face, upwind for strong
//! drift). The stationary density is the null vector of the discrete generator; one cell's
//! balance is replaced by a normalisation and the banded system is solved directly.

use crate::error::SpecError;
use anyhow::{Result, bail};

use crate::plan::{ClosedForm, Coupling, Plan};

/// A uniform grid of cells over a box.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub dims: usize,
    pub bins: [usize; 2],
    pub range: [[f64; 2]; 2],
}

impl Grid {
    pub fn cells(&self) -> usize {
        self.bins[0] * if self.dims == 2 { self.bins[1] } else { 1 }
    }

    pub fn width(&self, k: usize) -> f64 {
        (self.range[k][1] - self.range[k][0]) / self.bins[k] as f64
    }

    pub fn cell_area(&self) -> f64 {
        (0..self.dims).map(|k| self.width(k)).product()
    }

    /// Bytes of the banded matrix the solver keeps (two copies of cells × band f64 values).
    pub fn matrix_bytes(&self) -> u64 {
        let band = if self.dims == 2 { 2 * self.bins[1] as u64 + 1 } else { 3 };
        2 * self.cells() as u64 * band * 8
    }
}

/// Most memory the grid solver may take for its matrices.
pub const MAX_MATRIX_BYTES: u64 = 2 << 30;

/// The drift f(x) of the plan's last input segment, in f64 (N = 1 or 2); for the modern model,
/// the feature layer's (1/τ_x)(−x + Ξ φ(m(x))) with its other layers at their fixed points.
pub fn drift(plan: &Plan, x: &[f64]) -> Vec<f64> {
    let (n, p) = (plan.n(), plan.p());
    if let Some(field) = crate::theory::modern::ModernField::new(plan, plan.input.segments.len() - 1) {
        // The modern model with y = m(x) and α settled at q (docs/THEORY.md §15.5).
        return field.drift(&nalgebra::DVector::from_column_slice(x)).iter().copied().collect();
    }
    let seg = plan.input.segments.last().expect("at least one segment");
    let slope = plan.model.slope as f64;
    let psi: Vec<f64> = x.iter().map(|&v| (slope * v).tanh()).collect();
    let m: Vec<f64> =
        (0..p).map(|mu| (0..n).map(|i| plan.memories.get(i, mu) as f64 * psi[i]).sum::<f64>() / n as f64).collect();
    let coef: Vec<f64> = seg.coef64.clone();
    let (c, d): (Vec<f64>, f64) = match plan.model.coupling() {
        Coupling::Saliency => {
            let d = if plan.model.zero_diagonal() { coef.iter().sum::<f64>() / n as f64 } else { 0.0 };
            ((0..p).map(|mu| coef[mu] * m[mu]).collect(), d)
        }
        Coupling::Bias => {
            let d = if plan.model.zero_diagonal() { p as f64 / n as f64 } else { 0.0 };
            ((0..p).map(|mu| m[mu] + coef[mu]).collect(), d)
        }
    };
    (0..n)
        .map(|i| {
            let h: f64 = (0..p).map(|mu| plan.memories.get(i, mu) as f64 * c[mu]).sum();
            let v = seg.vector.as_ref().map_or(0.0, |v| v[i] as f64);
            -x[i] + h - d * psi[i] + v
        })
        .collect()
}

/// Checks that the plan has a stationary problem this solver handles.
pub fn check(plan: &Plan) -> Result<(), SpecError> {
    if plan.n() > 2 {
        let n = plan.n();
        return Err(SpecError::new("memories", format!("the grid solver needs N = 1 or 2, this spec has N = {n}")));
    }
    if plan.noise.sigma <= 0.0 {
        return Err(SpecError::new("noise.sigma", "the grid solver needs σ > 0"));
    }
    if let ClosedForm::None(why) = plan.model.closed_form() {
        return Err(SpecError::new("model.kind", format!("has no drift in closed form for the grid solver: {why}")));
    }
    if let Some(md) = plan.model.modern() {
        if md.tau_y > 0.0 {
            return Err(SpecError::new(
                "model.tau_y",
                format!(
                    "with a dynamic memory layer (τ_y = {}) the modern model's state is (x, y), N + P dimensions, with no N ≤ 2 reduction; the grid solver needs tau_y = 0",
                    md.tau_y
                ),
            ));
        }
        if md.tau_alpha > 0.0 && md.sigma_alpha > 0.0 {
            return Err(SpecError::new(
                "model.sigma_alpha",
                "a noisy saliency layer adds P dimensions to the modern model's state; the grid solver needs sigma_alpha = 0 or tau_alpha = 0",
            ));
        }
    }
    if let Some((k, field)) = plan.input.per_trajectory() {
        return Err(SpecError::new(
            format!("input.segments[{k}].{field}"),
            "every trajectory has its own input, so there is no single stationary density; give \"weights\" or \"saliency\"",
        ));
    }
    let seg = plan.input.segments.last().expect("at least one segment");
    if seg.noise > 0.0 || seg.pulse_steps.is_some() {
        return Err(SpecError::new("input.segments", "the last segment must be a constant input (no noise, no pulse)"));
    }
    Ok(())
}

/// B(z) = z / (eᶻ − 1), the Bernoulli function of the Scharfetter–Gummel flux.
fn bernoulli(z: f64) -> f64 {
    if z.abs() < 1e-10 { 1.0 - 0.5 * z } else { z / z.exp_m1() }
}

/// The solution: density per cell (∫ = 1 over the box) and the relative residual of the
/// discrete balance equations.
pub struct Solution {
    pub density: Vec<f64>,
    pub residual: f64,
}

/// Solves the stationary equation on `grid` (cells ordered k = i·ny + j, axis 0 first). One
/// function: assembling the banded matrix and solving it share the cell indexing, and reading
/// them apart would mean reading that twice.
pub fn solve(plan: &Plan, grid: &Grid) -> Result<Solution> {
    if let Err(e) = check(plan) {
        bail!(e);
    }
    if grid.dims != plan.n() {
        bail!("the grid has {} axes but N = {}", grid.dims, plan.n());
    }
    let (nx, ny) = (grid.bins[0], if grid.dims == 2 { grid.bins[1] } else { 1 });
    let n = nx * ny;
    let w = if grid.dims == 2 { ny } else { 1 };
    let diff = (plan.noise.sigma as f64).powi(2) / 2.0;
    let (hx, hy) = (grid.width(0), if grid.dims == 2 { grid.width(1) } else { 1.0 });
    let center = |i: usize, k: usize| grid.range[k][0] + (i as f64 + 0.5) * grid.width(k);
    let band = 2 * w + 1;
    let mut a = vec![0f64; n * band];
    let at = |r: usize, c: usize| r * band + (c + w - r);
    // One face between cells k and r (r after k along `axis`), at point `x`.
    let face = |a: &mut Vec<f64>, k: usize, r: usize, axis: usize, x: &[f64]| {
        let (h, len) = if axis == 0 { (hx, hy) } else { (hy, hx) };
        let f = drift(plan, x)[axis];
        let pe = f * h / diff;
        let coef = diff / h * len;
        let (out_k, in_r) = (coef * bernoulli(-pe), coef * bernoulli(pe));
        a[at(k, k)] += out_k;
        a[at(k, r)] -= in_r;
        a[at(r, k)] -= out_k;
        a[at(r, r)] += in_r;
    };
    for i in 0..nx {
        for j in 0..ny {
            let k = i * ny + j;
            if i + 1 < nx {
                let xf = grid.range[0][0] + (i + 1) as f64 * hx;
                let x: Vec<f64> = if grid.dims == 2 { vec![xf, center(j, 1)] } else { vec![xf] };
                face(&mut a, k, k + ny, 0, &x);
            }
            if grid.dims == 2 && j + 1 < ny {
                let yf = grid.range[1][0] + (j + 1) as f64 * hy;
                face(&mut a, k, k + 1, 1, &[center(i, 0), yf]);
            }
        }
    }
    let original = a.clone();
    // Pin the cell where the outflow coefficient is smallest (deep in a well) to 1, keeping
    // the column's diagonal dominance: row k0 becomes a_k0k0 · p_k0 = a_k0k0.
    let k0 = (0..n).min_by(|&x, &y| a[at(x, x)].total_cmp(&a[at(y, y)])).expect("non-empty grid");
    let d0 = a[at(k0, k0)];
    for c in k0.saturating_sub(w)..(k0 + w + 1).min(n) {
        a[at(k0, c)] = 0.0;
    }
    a[at(k0, k0)] = d0;
    let mut rhs = vec![0f64; n];
    rhs[k0] = d0;
    // Banded Gaussian elimination without pivoting (the matrix is column diagonally dominant).
    for k in 0..n {
        let piv = a[at(k, k)];
        if piv.abs() < 1e-300 {
            bail!("the discrete generator is singular at cell {k}");
        }
        for r in k + 1..(k + w + 1).min(n) {
            let l = a[at(r, k)] / piv;
            if l == 0.0 {
                continue;
            }
            for c in k..(k + w + 1).min(n) {
                a[at(r, c)] -= l * a[at(k, c)];
            }
            rhs[r] -= l * rhs[k];
        }
    }
    let mut p = vec![0f64; n];
    for k in (0..n).rev() {
        let mut s = rhs[k];
        for c in k + 1..(k + w + 1).min(n) {
            s -= a[at(k, c)] * p[c];
        }
        p[k] = s / a[at(k, k)];
    }
    // Residual of the original balance equations, relative to the outflow scale.
    let mut res = 0f64;
    let mut scale = 0f64;
    for r in 0..n {
        let mut s = 0.0;
        for c in r.saturating_sub(w)..(r + w + 1).min(n) {
            s += original[at(r, c)] * p[c];
        }
        res = res.max(s.abs());
        scale = scale.max((original[at(r, r)] * p[r]).abs());
    }
    let total: f64 = p.iter().map(|v| v.max(0.0)).sum::<f64>() * grid.cell_area();
    let density: Vec<f64> = p.iter().map(|v| v.max(0.0) / total).collect();
    let residual = res / scale.max(1e-300);
    // A box far larger than the drift's scale overflows the fluxes: say so, never write NaN.
    if !(residual.is_finite() && total.is_finite() && total > 0.0 && density.iter().all(|d| d.is_finite())) {
        bail!(
            "the grid solution is not finite on the box {:?} (the drift overflows there); give a box closer to the equilibria",
            &grid.range[..grid.dims]
        );
    }
    Ok(Solution { density, residual })
}

/// Total-variation distance between a density on the grid's cells and histogram counts over
/// the same cells (both normalised to probabilities over the box).
pub fn tv_distance(density: &[f64], cell_area: f64, counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    0.5 * density.iter().zip(counts).map(|(&d, &c)| (d * cell_area - c as f64 / total.max(1) as f64).abs()).sum::<f64>()
}
