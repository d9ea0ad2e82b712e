//! The modern three-layer model for one constant input (docs/THEORY.md §15): its equilibria
//! (roots of the reduced equation c = φ(m(Ξc))), the Jacobian of the full (α, y, x) system,
//! its eigenvalues through the reduced multipliers κ, and the energy E(x, m(x)) where one
//! exists.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::Serialize;

use crate::plan::{ModernPlan, Plan, PsiY};
use crate::rng::{self, stream};

/// Largest N the modern analysis takes (it forms the (N + 2P)-square Jacobian per equilibrium).
pub const MAX_N: usize = 256;

/// Largest P the modern analysis takes (its seeds grow as P²).
pub const MAX_P: usize = 16;

/// The constant-input problem of one segment, in f64.
pub struct ModernField {
    pub n: usize,
    pub p: usize,
    /// Ξ (N × P).
    pub xi: DMatrix<f64>,
    /// The input's saliency q, ā = Ψ_α(q) and Ψ_α'(q).
    pub q: Vec<f64>,
    pub abar: Vec<f64>,
    dabar: Vec<f64>,
    /// β of the softmax (None for identity and tanh Ψ_y).
    pub beta: Option<f64>,
    tanh_alpha: bool,
    tanh_y: bool,
    identity_x: bool,
    slope: f64,
    pub tau_alpha: f64,
    pub tau_y: f64,
    pub tau_x: f64,
}

fn sech2(z: f64) -> f64 {
    let t = z.tanh();
    1.0 - t * t
}

impl ModernField {
    /// The field of segment `seg` of a modern plan (None for the other models).
    pub fn new(plan: &Plan, seg: usize) -> Option<ModernField> {
        let md: &ModernPlan = plan.model.modern()?;
        let (n, p) = (plan.n(), plan.p());
        let q = plan.input.segments[seg].coef64.clone();
        let (abar, dabar) = if md.psi_alpha_tanh {
            (q.iter().map(|v| v.tanh()).collect(), q.iter().map(|&v| sech2(v)).collect())
        } else {
            (q.clone(), vec![1.0; p])
        };
        Some(ModernField {
            n,
            p,
            xi: DMatrix::from_fn(n, p, |i, mu| plan.memories.get(i, mu) as f64),
            q,
            abar,
            dabar,
            beta: match md.psi_y {
                PsiY::Softmax { beta } => Some(beta as f64),
                _ => None,
            },
            tanh_alpha: md.psi_alpha_tanh,
            tanh_y: md.psi_y == PsiY::Tanh,
            identity_x: md.identity_x,
            slope: plan.model.slope as f64,
            tau_alpha: md.tau_alpha,
            tau_y: md.tau_y,
            tau_x: md.tau_x,
        })
    }

    fn psi_x(&self, v: f64) -> f64 {
        if self.identity_x { v } else { (self.slope * v).tanh() }
    }

    fn dpsi_x(&self, v: f64) -> f64 {
        if self.identity_x { 1.0 } else { self.slope * sech2(self.slope * v) }
    }

    /// m(x) = Ξᵀ Ψ_x(x) / N.
    pub fn overlaps(&self, x: &DVector<f64>) -> DVector<f64> {
        self.xi.tr_mul(&x.map(|v| self.psi_x(v))) / self.n as f64
    }

    /// softmax(β a ⊙ y) with the largest exponent subtracted.
    fn softmax(&self, a: &[f64], y: &DVector<f64>, beta: f64) -> Vec<f64> {
        let z: Vec<f64> = (0..self.p).map(|mu| beta * a[mu] * y[mu]).collect();
        let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - mx).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    /// c = φ(a, y) for saliencies a (already through Ψ_α).
    fn phi_with(&self, a: &[f64], y: &DVector<f64>) -> DVector<f64> {
        match self.beta {
            Some(beta) => {
                let s = self.softmax(a, y, beta);
                DVector::from_fn(self.p, |mu, _| a[mu] * s[mu])
            }
            None if self.tanh_y => DVector::from_fn(self.p, |mu, _| a[mu] * y[mu].tanh()),
            None => DVector::from_fn(self.p, |mu, _| a[mu] * y[mu]),
        }
    }

    /// c = φ(y) with α at its fixed point q.
    pub fn phi(&self, y: &DVector<f64>) -> DVector<f64> {
        self.phi_with(&self.abar, y)
    }

    /// A = ∂φ/∂y (symmetric, docs/THEORY.md §15.1).
    pub fn dphi_dy(&self, y: &DVector<f64>) -> DMatrix<f64> {
        let a = &self.abar;
        match self.beta {
            Some(beta) => {
                let s = self.softmax(a, y, beta);
                DMatrix::from_fn(self.p, self.p, |mu, nu| {
                    beta * a[mu] * a[nu] * (if mu == nu { s[mu] } else { 0.0 } - s[mu] * s[nu])
                })
            }
            None if self.tanh_y => DMatrix::from_diagonal(&DVector::from_fn(self.p, |mu, _| a[mu] * sech2(y[mu]))),
            None => DMatrix::from_diagonal(&DVector::from_column_slice(a)),
        }
    }

    /// B = ∂φ/∂α at α = q.
    pub fn dphi_dalpha(&self, y: &DVector<f64>) -> DMatrix<f64> {
        let (a, da) = (&self.abar, &self.dabar);
        match self.beta {
            Some(beta) => {
                let s = self.softmax(a, y, beta);
                DMatrix::from_fn(self.p, self.p, |mu, nu| {
                    let kron = if mu == nu { 1.0 } else { 0.0 };
                    da[nu] * (kron * s[mu] + a[mu] * s[mu] * (kron - s[nu]) * beta * y[nu])
                })
            }
            None => DMatrix::from_diagonal(&DVector::from_fn(self.p, |mu, _| {
                da[mu] * if self.tanh_y { y[mu].tanh() } else { y[mu] }
            })),
        }
    }

    /// S = Ξᵀ D(x) Ξ / N.
    fn s_matrix(&self, x: &DVector<f64>) -> DMatrix<f64> {
        let d = x.map(|v| self.dpsi_x(v));
        let dxi = DMatrix::from_fn(self.n, self.p, |i, mu| d[i] * self.xi[(i, mu)]);
        self.xi.tr_mul(&dxi) / self.n as f64
    }

    /// The reduced residual R(c) = c − φ(m(Ξc)).
    pub fn reduced(&self, c: &DVector<f64>) -> DVector<f64> {
        c - self.phi(&self.overlaps(&(&self.xi * c)))
    }

    /// Newton's method on R from `c0`; Some(c) if |R|∞ < 1e-11 (1 + |c|∞) within 100 steps.
    pub fn newton(&self, c0: DVector<f64>) -> Option<DVector<f64>> {
        let mut c = c0;
        for _ in 0..100 {
            let r = self.reduced(&c);
            if r.amax() < 1e-11 * (1.0 + c.amax()) {
                return Some(c);
            }
            let x = &self.xi * &c;
            let jac = DMatrix::identity(self.p, self.p) - self.dphi_dy(&self.overlaps(&x)) * self.s_matrix(&x);
            c -= jac.lu().solve(&r)?;
            if !c.iter().all(|v| v.is_finite()) || c.amax() > 1e6 {
                return None;
            }
        }
        (self.reduced(&c).amax() < 1e-11 * (1.0 + c.amax())).then_some(c)
    }

    /// The reduced drift (α = q, y = m(x)): (−x + Ξ φ(m(x))) / τ_x.
    pub fn drift(&self, x: &DVector<f64>) -> DVector<f64> {
        (-x + &self.xi * self.phi(&self.overlaps(x))) / self.tau_x
    }

    /// Sizes of the dynamic α and y layers in the full state (α, y, x).
    pub fn layer_dims(&self) -> (usize, usize) {
        (if self.tau_alpha > 0.0 { self.p } else { 0 }, if self.tau_y > 0.0 { self.p } else { 0 })
    }

    /// The full state (α, y, x) of the equilibrium at x (α = q, y = m(x)).
    pub fn full_state(&self, x: &DVector<f64>) -> DVector<f64> {
        let (pa, py) = self.layer_dims();
        let m = self.overlaps(x);
        DVector::from_fn(pa + py + self.n, |k, _| {
            if k < pa {
                self.q[k]
            } else if k < pa + py {
                m[k - pa]
            } else {
                x[k - pa - py]
            }
        })
    }

    /// The full noiseless vector field of the (α, y, x) system, as `model::modern` integrates
    /// it (instantaneous layers replaced by α = q, y = m(x)).
    pub fn vector_field(&self, z: &DVector<f64>) -> DVector<f64> {
        let (pa, py) = self.layer_dims();
        let x = z.rows(pa + py, self.n).into_owned();
        let m = self.overlaps(&x);
        let alpha: Vec<f64> = if pa > 0 { z.rows(0, pa).iter().copied().collect() } else { self.q.clone() };
        let a: Vec<f64> = alpha.iter().map(|&v| if self.tanh_alpha { v.tanh() } else { v }).collect();
        let y = if py > 0 { z.rows(pa, py).into_owned() } else { m.clone() };
        let c = self.phi_with(&a, &y);
        let fx = (-&x + &self.xi * c) / self.tau_x;
        DVector::from_fn(pa + py + self.n, |k, _| {
            if k < pa {
                (self.q[k] - alpha[k]) / self.tau_alpha
            } else if k < pa + py {
                (m[k - pa] - y[k - pa]) / self.tau_y
            } else {
                fx[k - pa - py]
            }
        })
    }

    /// The Jacobian of the full system at an equilibrium x (docs/THEORY.md §15.2).
    pub fn jacobian(&self, x: &DVector<f64>) -> DMatrix<f64> {
        let (pa, py) = self.layer_dims();
        let (n, p) = (self.n, self.p);
        let m = self.overlaps(x);
        let d = x.map(|v| self.dpsi_x(v));
        let a = self.dphi_dy(&m);
        let b = self.dphi_dalpha(&m);
        let size = pa + py + n;
        let mut j = DMatrix::zeros(size, size);
        for k in 0..pa {
            j[(k, k)] = -1.0 / self.tau_alpha;
        }
        for k in 0..py {
            j[(pa + k, pa + k)] = -1.0 / self.tau_y;
            for i in 0..n {
                j[(pa + k, pa + py + i)] = self.xi[(i, k)] * d[i] / (n as f64 * self.tau_y);
            }
        }
        // ∂x/∂y = Ξ A / τ_x, or with y = m(x) the chain Ξ A Ξᵀ D / N in the x block.
        let xa = &self.xi * &a / self.tau_x;
        let xb = &self.xi * &b / self.tau_x;
        for i in 0..n {
            for k in 0..pa {
                j[(pa + py + i, k)] = xb[(i, k)];
            }
            if py > 0 {
                for k in 0..p {
                    j[(pa + py + i, pa + k)] = xa[(i, k)];
                }
            } else {
                for l in 0..n {
                    let v: f64 = (0..p).map(|k| xa[(i, k)] * self.xi[(l, k)]).sum::<f64>() * d[l] / n as f64;
                    j[(pa + py + i, pa + py + l)] += v;
                }
            }
            j[(pa + py + i, pa + py + i)] -= 1.0 / self.tau_x;
        }
        j
    }

    /// The reduced multipliers κ: eigenvalues of S A (those of the symmetric S^½ A S^½), ascending.
    pub fn kappa(&self, x: &DVector<f64>) -> Vec<f64> {
        let s = self.s_matrix(x);
        let eig = SymmetricEigen::new(s);
        let root = &eig.eigenvectors
            * DMatrix::from_diagonal(&eig.eigenvalues.map(|v| v.max(0.0).sqrt()))
            * eig.eigenvectors.transpose();
        let a = self.dphi_dy(&self.overlaps(x));
        let mut k: Vec<f64> = SymmetricEigen::new(&root * a * &root).eigenvalues.iter().copied().collect();
        k.sort_by(f64::total_cmp);
        k
    }

    /// Ξ has full column rank (P ≤ N and the Gram matrix is not singular).
    pub fn full_rank(&self) -> bool {
        self.p <= self.n
            && SymmetricEigen::new(self.xi.tr_mul(&self.xi) / self.n as f64).eigenvalues.iter().all(|&v| v > 1e-9)
    }

    /// The full Jacobian's eigenvalues as [re, im], by ascending real part then imaginary part
    /// (docs/THEORY.md §15.2): −1/τ_α for a dynamic α layer, for each κ the roots of
    /// τ_xτ_y λ² + (τ_x + τ_y) λ + 1 − κ = 0 (λ = (κ − 1)/τ_x when τ_y = 0), and −1/τ_x on the
    /// N − P directions orthogonal to the memories. Needs [`Self::full_rank`].
    pub fn eigenvalues(&self, x: &DVector<f64>) -> Vec<[f64; 2]> {
        let (pa, py) = self.layer_dims();
        let mut ev = vec![[-1.0 / self.tau_alpha, 0.0]; pa];
        for k in self.kappa(x) {
            if py == 0 {
                ev.push([(k - 1.0) / self.tau_x, 0.0]);
                continue;
            }
            let (a, b, c) = (self.tau_x * self.tau_y, self.tau_x + self.tau_y, 1.0 - k);
            let disc = b * b - 4.0 * a * c;
            if disc >= 0.0 {
                // q = −(b + √disc)/2 avoids the cancellation of the small root near κ = 1.
                let q = -0.5 * (b + disc.sqrt());
                ev.push([q / a, 0.0]);
                ev.push([c / q, 0.0]);
            } else {
                let (re, im) = (-b / (2.0 * a), (-disc).sqrt() / (2.0 * a));
                ev.push([re, -im]);
                ev.push([re, im]);
            }
        }
        ev.extend(std::iter::repeat_n([-1.0 / self.tau_x, 0.0], self.n - self.p));
        ev.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        ev
    }

    /// Why E(x, y) is not a Lyapunov function for this input (a negative ā with identity or tanh
    /// Ψ_y makes L_y non-convex), or None when it is.
    pub fn no_energy(&self) -> Option<String> {
        if self.beta.is_some() {
            return None;
        }
        let mu = self.abar.iter().position(|&a| a < 0.0)?;
        Some(format!(
            "memory {mu} has a negative saliency ({:.4}), so with {} Ψ_y the energy's memory term is not convex and no energy decreases along the flow",
            self.abar[mu],
            if self.tanh_y { "tanh" } else { "identity" }
        ))
    }

    /// Σ_i [x_i Ψ_x(x_i) − L_x(x_i)], L_x the antiderivative of Ψ_x.
    fn feature_term(&self, x: &DVector<f64>) -> f64 {
        x.iter()
            .map(|&v| {
                if self.identity_x {
                    0.5 * v * v
                } else {
                    v * self.psi_x(v) - super::log_cosh(self.slope * v) / self.slope
                }
            })
            .sum()
    }

    /// L_y(y), the antiderivative of φ: ½ Σ ā y², Σ ā log cosh y, or (1/β) log Σ exp(β ā y).
    fn l_y(&self, y: &DVector<f64>) -> f64 {
        let a = &self.abar;
        match self.beta {
            Some(beta) => {
                let z: Vec<f64> = (0..self.p).map(|mu| beta * a[mu] * y[mu]).collect();
                let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                (mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln()) / beta
            }
            None if self.tanh_y => (0..self.p).map(|mu| a[mu] * super::log_cosh(y[mu])).sum(),
            None => (0..self.p).map(|mu| 0.5 * a[mu] * y[mu] * y[mu]).sum(),
        }
    }

    /// E(x) = Σ [x_i Ψ_x(x_i) − L_x(x_i)] − N L_y(m(x)) (docs/THEORY.md §15.3).
    pub fn energy(&self, x: &DVector<f64>) -> f64 {
        self.feature_term(x) - self.n as f64 * self.l_y(&self.overlaps(x))
    }

    /// E(x, y) = Σ [x_i Ψ_x(x_i) − L_x(x_i)] + N [y·φ(y) − L_y(y)] − φ(y)·Ξᵀ Ψ_x(x).
    pub fn energy_xy(&self, x: &DVector<f64>, y: &DVector<f64>) -> f64 {
        let n = self.n as f64;
        let c = self.phi(y);
        self.feature_term(x) + n * (y.dot(&c) - self.l_y(y)) - n * c.dot(&self.overlaps(x))
    }
}

/// One equilibrium of the modern model.
#[derive(Debug, Clone, Serialize)]
pub struct ModernEquilibrium {
    /// "+ξ3", "−ξ0", "origin" or "mixture" (docs/THEORY.md §15.1).
    pub label: String,
    pub x: Vec<f64>,
    /// m(x) (= y at the equilibrium) and c = φ(m(x)).
    pub overlaps: Vec<f64>,
    pub c: Vec<f64>,
    pub stable: bool,
    /// Eigenvalues of the full Jacobian with positive real part.
    pub unstable_dims: usize,
    /// Eigenvalues of the full Jacobian as [re, im], by ascending real part.
    pub eigenvalues: Vec<[f64; 2]>,
    pub max_real: f64,
    /// The reduced multipliers κ, ascending (stable iff all < 1).
    pub kappa: Vec<f64>,
    /// E(x, m(x)) where an energy exists.
    pub energy: Option<f64>,
}

/// The modern analysis of one input segment.
#[derive(Debug, Clone, Serialize)]
pub struct ModernReport {
    pub segment: usize,
    pub saliency: Vec<f64>,
    /// ā = Ψ_α(q).
    pub effective_saliency: Vec<f64>,
    pub method: &'static str,
    /// Why there is no energy (None when E is a Lyapunov function).
    pub no_energy: Option<String>,
    pub equilibria: Vec<ModernEquilibrium>,
    /// What the analysis leaves out of the segment's input (`crate::theory::input_notes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn label(field: &ModernField, x: &DVector<f64>) -> String {
    let norm = x.norm();
    if x.amax() < 1e-9 {
        return "origin".into();
    }
    let proj = field.xi.tr_mul(x) / ((field.n as f64).sqrt() * norm);
    let (rho, cos) =
        proj.iter().enumerate().fold((0, 0.0f64), |b, (k, &v)| if v.abs() > b.1.abs() { (k, v) } else { b });
    if cos.abs() >= 0.9 { format!("{}ξ{rho}", if cos > 0.0 { "+" } else { "−" }) } else { "mixture".into() }
}

/// Every equilibrium Newton's method finds on the reduced equation (seeds of docs/THEORY.md
/// §15.1), classified by the full Jacobian's eigenvalues; sorted by energy where one exists,
/// else by the largest real part.
pub fn find_equilibria(field: &ModernField) -> Vec<ModernEquilibrium> {
    let p = field.p;
    let scale = field.abar.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-3);
    let e = |mu: usize| DVector::from_fn(p, |k, _| if k == mu { field.abar[mu] } else { 0.0 });
    let mut seeds = vec![DVector::zeros(p), DVector::from_fn(p, |k, _| field.abar[k] / p as f64)];
    for mu in 0..p {
        for k in [0.3, 0.7, 1.0, 1.5, 2.0, 3.0] {
            seeds.push(e(mu) * k);
            seeds.push(e(mu) * -k);
        }
        for nu in mu + 1..p {
            for (s1, s2) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                for k in [0.5, 1.0] {
                    seeds.push((e(mu) * s1 + e(nu) * s2) * k);
                }
            }
        }
    }
    let key = rng::key_from_seed(0x7e1);
    for r in 0..64u32 {
        let mut z = vec![0f32; p.div_ceil(4) * 4];
        rng::fill_normals(&mut z, key, 0, r, stream::INITIAL);
        seeds.push(DVector::from_fn(p, |k, _| scale * z[k] as f64));
    }
    let mut found: Vec<DVector<f64>> = Vec::new();
    for s in seeds {
        if let Some(c) = field.newton(s) {
            let x = &field.xi * &c;
            if !found.iter().any(|y| (y - &x).amax() < 1e-7 * (1.0 + x.amax())) {
                found.push(x);
            }
        }
    }
    let has_energy = field.no_energy().is_none();
    let mut out: Vec<ModernEquilibrium> = found
        .into_iter()
        .map(|x| {
            let ev = field.eigenvalues(&x);
            let max_real = ev.iter().map(|v| v[0]).fold(f64::NEG_INFINITY, f64::max);
            let m = field.overlaps(&x);
            ModernEquilibrium {
                label: label(field, &x),
                overlaps: m.iter().copied().collect(),
                c: field.phi(&m).iter().copied().collect(),
                stable: max_real < 0.0,
                unstable_dims: ev.iter().filter(|v| v[0] > 0.0).count(),
                eigenvalues: ev,
                max_real,
                kappa: field.kappa(&x),
                energy: has_energy.then(|| field.energy(&x)),
                x: x.iter().copied().collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| match (a.energy, b.energy) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.max_real.total_cmp(&b.max_real),
    });
    out
}

/// The analysis of every segment's input of a modern plan.
pub fn analyze(plan: &Plan) -> Vec<ModernReport> {
    (0..plan.input.segments.len())
        .filter_map(|seg| {
            let field = ModernField::new(plan, seg)?;
            Some(ModernReport {
                segment: seg,
                saliency: field.q.clone(),
                effective_saliency: field.abar.clone(),
                method: "modern_numerical",
                no_energy: field.no_energy(),
                equilibria: find_equilibria(&field),
                notes: super::input_notes(plan, seg),
            })
        })
        .collect()
}
