//! Closed-form facts about the model (docs/THEORY.md §3) used by the pictures and checks:
//! the amplitude γ of a memory's equilibrium and its critical saliency; the modern model's
//! analysis (§15) is in [`modern`].

pub mod modern;

/// The positive root γ of γ = α tanh(δ γ), if it exists (α δ > 1). Bisection to 1e-13
/// relative: g(γ) = γ − α tanh(δγ) is negative just above 0 and positive at γ = α.
pub fn gamma(alpha: f64, slope: f64) -> Option<f64> {
    if (alpha * slope).partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let g = |y: f64| y - alpha * (slope * y).tanh();
    let (mut lo, mut hi) = (1e-300f64, alpha);
    // Move lo to where g < 0 (it is, for small y, since α δ > 1).
    lo = lo.max(1e-12 * alpha);
    if g(lo) >= 0.0 {
        return None;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if g(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Critical saliency against a strongest competitor of saliency a (a δ > 1):
/// α*(a) = artanh(s)/(δ s), s = sqrt(1 − 1/(a δ)).
pub fn alpha_star(a: f64, slope: f64) -> Option<f64> {
    if (a * slope).partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let s = (1.0 - 1.0 / (a * slope)).sqrt();
    Some(s.atanh() / (slope * s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_solves_its_equation() {
        assert!((gamma(2.0, 1.0).unwrap() - 1.915_008).abs() < 1e-6);
        for (a, d) in [(1.01, 1.0), (1.5, 1.0), (2.25, 1.0), (0.2, 10.0), (3.0, 2.0)] {
            let y = gamma(a, d).unwrap();
            assert!((y - a * (d * y).tanh()).abs() < 1e-9, "α = {a}, δ = {d}");
        }
        assert_eq!(gamma(1.0, 1.0), None);
        assert_eq!(gamma(0.05, 10.0), None);
    }

    #[test]
    fn alpha_star_makes_the_competitor_direction_marginal() {
        // At α_ρ = α*(a): a Ψ'(γ(α_ρ)) = 1, Ψ'(z) = δ sech²(δ z).
        for (a, d) in [(2.25, 1.0), (3.0, 1.0), (0.5, 4.0)] {
            let s = alpha_star(a, d).unwrap();
            let y = gamma(s, d).unwrap();
            let dpsi = d * (1.0 - (d * y).tanh().powi(2));
            assert!((a * dpsi - 1.0).abs() < 1e-7, "a = {a}: {}", a * dpsi);
        }
    }
}

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::Serialize;

use crate::plan::{Coupling, Model, Plan};
use crate::rng::{self, stream};

/// Ψ'(z) = δ sech²(δ z).
fn dpsi(z: f64, slope: f64) -> f64 {
    let t = (slope * z).tanh();
    slope * (1.0 - t * t)
}

/// log cosh z, stable for large |z|: |z| + log1p(e^{−2|z|}) − log 2.
pub fn log_cosh(z: f64) -> f64 {
    let a = z.abs();
    a + (-2.0 * a).exp().ln_1p() - std::f64::consts::LN_2
}

/// The constant-input problem of one segment, in f64: W_eff = Ξ diag(a) Ξᵀ/N − d I and the
/// bias u (classic), with a = α (IDP) or 1 (classic).
pub struct Field {
    pub n: usize,
    pub slope: f64,
    pub w: DMatrix<f64>,
    pub bias: DVector<f64>,
    pub saliency: Vec<f64>,
    /// d, the zeroed diagonal's shift (docs/THEORY.md §1): Σα/N (IDP) or P/N (classic); 0 with
    /// the diagonal kept.
    pub shift: f64,
}

impl Field {
    pub fn new(plan: &Plan, seg: usize) -> Field {
        let (n, p) = (plan.n(), plan.p());
        let sp = &plan.input.segments[seg];
        let coef: Vec<f64> = sp.coef64.clone();
        let (a, d): (Vec<f64>, f64) = match plan.model.coupling() {
            Coupling::Saliency => {
                let d = if plan.model.zero_diagonal() { coef.iter().sum::<f64>() / n as f64 } else { 0.0 };
                (coef.clone(), d)
            }
            Coupling::Bias => (vec![1.0; p], if plan.model.zero_diagonal() { p as f64 / n as f64 } else { 0.0 }),
        };
        let xi = |i: usize, mu: usize| plan.memories.get(i, mu) as f64;
        let w = DMatrix::from_fn(n, n, |i, j| {
            (0..p).map(|mu| xi(i, mu) * a[mu] * xi(j, mu)).sum::<f64>() / n as f64 - if i == j { d } else { 0.0 }
        });
        let bias = DVector::from_fn(n, |i, _| match plan.model.coupling() {
            Coupling::Saliency => 0.0,
            Coupling::Bias => {
                (0..p).map(|mu| xi(i, mu) * coef[mu]).sum::<f64>() + sp.vector.as_ref().map_or(0.0, |v| v[i] as f64)
            }
        });
        let saliency = match plan.model.coupling() {
            Coupling::Saliency => coef,
            Coupling::Bias => vec![1.0; p],
        };
        Field { n, slope: plan.model.slope as f64, w, bias, saliency, shift: d }
    }

    pub fn psi(&self, x: &DVector<f64>) -> DVector<f64> {
        x.map(|v| (self.slope * v).tanh())
    }

    /// f(x) = −x + W_eff Ψ(x) + u.
    pub fn drift(&self, x: &DVector<f64>) -> DVector<f64> {
        -x + &self.w * self.psi(x) + &self.bias
    }

    /// J(x) = −I + W_eff D(x), D = diag Ψ'(x).
    pub fn jacobian(&self, x: &DVector<f64>) -> DMatrix<f64> {
        let d = x.map(|v| dpsi(v, self.slope));
        DMatrix::from_fn(self.n, self.n, |i, j| self.w[(i, j)] * d[j] - if i == j { 1.0 } else { 0.0 })
    }

    /// Eigenvalues of J(x), ascending: J is similar to the symmetric −I + D^½ W_eff D^½.
    pub fn eigenvalues(&self, x: &DVector<f64>) -> Vec<f64> {
        let s = x.map(|v| dpsi(v, self.slope).sqrt());
        let m = DMatrix::from_fn(self.n, self.n, |i, j| s[i] * self.w[(i, j)] * s[j] - if i == j { 1.0 } else { 0.0 });
        let mut ev: Vec<f64> = SymmetricEigen::new(m).eigenvalues.iter().copied().collect();
        ev.sort_by(f64::total_cmp);
        ev
    }

    /// E(x) = −½ Ψᵀ W_eff Ψ + Σ [x_i Ψ_i − (1/δ) log cosh(δ x_i)] − uᵀΨ (docs/THEORY.md §2).
    pub fn energy(&self, x: &DVector<f64>) -> f64 {
        let psi = self.psi(x);
        let quad = psi.dot(&(&self.w * &psi));
        let local: f64 =
            x.iter().zip(psi.iter()).map(|(&xi, &pi)| xi * pi - log_cosh(self.slope * xi) / self.slope).sum();
        -0.5 * quad + local - self.bias.dot(&psi)
    }

    /// Newton's method from `x0`; Some(equilibrium) if |f|∞ < 1e-11 within 100 steps.
    pub fn newton(&self, x0: DVector<f64>) -> Option<DVector<f64>> {
        let mut x = x0;
        for _ in 0..100 {
            let f = self.drift(&x);
            if f.amax() < 1e-11 {
                return Some(x);
            }
            let step = self.jacobian(&x).lu().solve(&f)?;
            x -= step;
            if !x.iter().all(|v| v.is_finite()) || x.amax() > 1e6 {
                return None;
            }
        }
        (self.drift(&x).amax() < 1e-11).then_some(x)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub index: usize,
    pub saliency: f64,
    pub exists: bool,
    pub gamma: Option<f64>,
    pub eigenvalues: Vec<f64>,
    pub stable: bool,
    pub energy: Option<f64>,
    pub energy_per_neuron: Option<f64>,
    /// The critical saliency (docs/THEORY.md §3.4, §3.7): at this input, stable above it, a
    /// saddle between 1/δ (+ d) and it. With a zeroed diagonal, d = Σα/N is held at this
    /// input's value (it moves with α itself, so the threshold is the class boundary for this
    /// input, not exactly the saliency at which the class changes). Defined for IDP networks
    /// with orthogonal memories; None (null) for the classic model, whose input is a bias, and
    /// for non-orthogonal memories.
    pub alpha_star: Option<f64>,
    pub class: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct OriginReport {
    pub eigenvalues: Vec<f64>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct EquilibriumReport {
    pub x: Vec<f64>,
    pub stable: bool,
    pub energy: f64,
    pub eigenvalues: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    pub segment: usize,
    pub saliency: Vec<f64>,
    pub origin: OriginReport,
    pub memories: Vec<MemoryReport>,
    pub equilibria: Vec<EquilibriumReport>,
    pub method: &'static str,
    /// What the analysis leaves out of the segment's input, when anything: a pulse's zero input
    /// after it ends, a ramp it cuts short, the per-trajectory input noise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The notes of segment `seg` (see [`SegmentReport::notes`]): the analysis is of the input the
/// segment ramps to, held constant, for every trajectory alike.
pub(crate) fn input_notes(plan: &Plan, seg: usize) -> Vec<String> {
    let Some(s) = plan.spec.input.segments.get(seg) else { return Vec::new() };
    let mut notes = Vec::new();
    // A pulse as long as its segment is on throughout.
    if let Some(pulse) = s.pulse.filter(|&p| p < s.duration) {
        notes.push(format!(
            "the input is on for the first {pulse} of the segment's {} time units and zero after; this is the analysis of the input while on",
            s.duration
        ));
        if let Some(ramp) = s.ramp.filter(|&r| r > pulse) {
            notes.push(format!(
                "the pulse ({pulse}) ends before the ramp ({ramp}) reaches this input, so the run never reaches it"
            ));
        }
    }
    if let Some(noise) = s.noise.filter(|&v| v > 0.0) {
        notes.push(format!(
            "each trajectory's input is corrupted by its own noise (std {noise}); this is the analysis of the uncorrupted input"
        ));
    }
    notes
}

/// Largest N for which every equilibrium is searched numerically.
pub const EQUILIBRIA_MAX_N: usize = 16;

/// Largest N the analysis takes (it forms dense N × N matrices and their eigenvalues).
pub const MAX_N: usize = 2048;

fn classify(ev: &[f64]) -> &'static str {
    if ev.iter().all(|&e| e < 0.0) {
        "stable"
    } else if ev.iter().all(|&e| e > 0.0) {
        "unstable"
    } else {
        "saddle"
    }
}

/// Critical saliency of memory `mu` against its strongest competitor (1/δ if that competitor
/// cannot have an equilibrium: any existing memory is then stable), for an IDP network with
/// orthogonal memories. A zeroed diagonal makes every saliency act as α − d (§3.7), so the
/// threshold on α is d + α*(a − d), with d = Σα/N held at this input's value.
fn critical(field: &Field, mu: usize) -> f64 {
    shifted_critical(&field.saliency, mu, field.shift, field.slope)
}

/// [`critical`] from the saliencies α, the zeroed diagonal's shift d (0 with the diagonal
/// kept) and δ: d + α*(a − d), a the strongest competitor's saliency (d + 1/δ where it cannot
/// exist). Also the density pictures' stability of a memory's equilibrium.
pub fn shifted_critical(saliency: &[f64], mu: usize, d: f64, slope: f64) -> f64 {
    let rival = saliency.iter().enumerate().filter(|(nu, _)| *nu != mu).map(|(_, &a)| a).fold(f64::MIN, f64::max);
    d + alpha_star(rival - d, slope).unwrap_or(1.0 / slope)
}

/// The memory whose equilibrium `x` is: the μ with x·ξ^μ > 0 that is nearest to x in angle,
/// strictly (a point as near to two memories is a mixture, nobody's equilibrium).
fn memory_of(x: &DVector<f64>, plan: &Plan) -> Option<usize> {
    let (n, p) = (plan.n(), plan.p());
    let dots: Vec<f64> = (0..p).map(|mu| (0..n).map(|i| x[i] * plan.memories.get(i, mu) as f64).sum()).collect();
    let (best, &top) = dots.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))?;
    let tie = 1e-9 * x.norm() * (n as f64).sqrt();
    let alone = dots.iter().enumerate().all(|(nu, d)| nu == best || d.abs() < top.abs() - tie);
    (top > 0.0 && alone && x.amax() > 1e-6).then_some(best)
}

/// Whether two points Newton's method stopped at are one equilibrium: within 1e-6, or close
/// and joined by a segment along which the drift stays as small as at a root. At a critical
/// saliency (α δ = 1) the root is degenerate (the drift is cubic along the memory), so Newton
/// stops anywhere within about 1e-4 of it where |f| < 1e-11, and those points are one
/// equilibrium; distinct equilibria 1e-3 apart have a drift near 1e-3 between them.
fn same_equilibrium(field: &Field, a: &DVector<f64>, b: &DVector<f64>) -> bool {
    let d = (a - b).amax();
    d < 1e-6 || (d < 1e-2 && [0.25, 0.5, 0.75].iter().all(|&t| field.drift(&(a * (1.0 - t) + b * t)).amax() < 1e-9))
}

/// Every equilibrium Newton's method finds from seeds along each memory, their pairwise
/// mixtures, the origin and random points; deduplicated, sorted by energy.
pub fn find_equilibria(field: &Field, plan: &Plan) -> Vec<EquilibriumReport> {
    let (n, p) = (plan.n(), plan.p());
    let xi = |mu: usize| DVector::from_fn(n, |i, _| plan.memories.get(i, mu) as f64);
    let mut seeds = vec![DVector::zeros(n)];
    for mu in 0..p {
        for c in [0.3, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0] {
            seeds.push(xi(mu) * c);
            seeds.push(xi(mu) * -c);
        }
        for nu in mu + 1..p {
            for (s1, s2) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                for c in [0.7, 1.5] {
                    seeds.push((xi(mu) * s1 + xi(nu) * s2) * c);
                }
            }
        }
    }
    let key = rng::key_from_seed(0x7e0);
    for r in 0..64u32 {
        let mut z = vec![0f32; n.div_ceil(4) * 4];
        rng::fill_normals(&mut z, key, 0, r, stream::INITIAL);
        seeds.push(DVector::from_fn(n, |i, _| 1.5 * z[i] as f64));
    }
    let mut found: Vec<DVector<f64>> = Vec::new();
    for s in seeds {
        if let Some(x) = field.newton(s)
            && !found.iter().any(|y| same_equilibrium(field, y, &x))
        {
            found.push(x);
        }
    }
    let mut out: Vec<EquilibriumReport> = found
        .into_iter()
        .map(|x| {
            let ev = field.eigenvalues(&x);
            EquilibriumReport {
                stable: ev.iter().all(|&e| e < 0.0),
                energy: field.energy(&x),
                eigenvalues: ev,
                x: x.iter().copied().collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.energy.total_cmp(&b.energy));
    out
}

/// The analysis of every segment's input (closed forms where docs/THEORY.md gives them).
pub fn analyze(plan: &Plan) -> Vec<SegmentReport> {
    analyze_with(plan, false)
}

/// [`analyze`], optionally forcing the numerical path even where closed forms apply.
pub fn analyze_with(plan: &Plan, force_numerical: bool) -> Vec<SegmentReport> {
    let (n, p) = (plan.n(), plan.p());
    let slope = plan.model.slope as f64;
    let gram = plan.memories.gram();
    let orthogonal = (0..p).all(|a| (0..p).all(|b| gram[a * p + b] == if a == b { 1.0 } else { 0.0 }));
    (0..plan.input.segments.len())
        .map(|seg| {
            let field = Field::new(plan, seg);
            let sal = field.saliency.clone();
            let closed =
                !force_numerical && matches!(plan.model.model, Model::Idp { zero_diagonal: false }) && orthogonal;
            let mut origin_ev = field.eigenvalues(&DVector::zeros(n));
            if closed {
                origin_ev = sal.iter().map(|&a| -1.0 + slope * a).collect();
                origin_ev.extend(std::iter::repeat_n(-1.0, n.saturating_sub(p)));
                origin_ev.sort_by(f64::total_cmp);
            }
            let origin = OriginReport { kind: classify(&origin_ev), eigenvalues: origin_ev };
            let idp = matches!(plan.model.model, Model::Idp { .. });
            let equilibria = if n <= EQUILIBRIA_MAX_N { find_equilibria(&field, plan) } else { Vec::new() };
            let memories = (0..p)
                .map(|mu| {
                    let a = sal[mu];
                    let star = (idp && orthogonal).then(|| critical(&field, mu));
                    let (gamma, eigenvalues, energy) = if closed {
                        match gamma(a, slope) {
                            None => (None, Vec::new(), None),
                            Some(g) => {
                                let d = dpsi(g, slope);
                                // −1 + α_ν Ψ'(γ) along each memory, −1 on their complement.
                                let mut ev: Vec<f64> = sal.iter().map(|&b| -1.0 + b * d).collect();
                                ev.extend(std::iter::repeat_n(-1.0, n.saturating_sub(p)));
                                ev.sort_by(f64::total_cmp);
                                let e = n as f64 * (g * g / (2.0 * a) - log_cosh(slope * g) / slope);
                                (Some(g), ev, Some(e))
                            }
                        }
                    } else {
                        // Newton from the closed-form guess (or 1.5 ξ^μ) along the memory, and
                        // (small N) every equilibrium found: memory μ's equilibrium is the one
                        // nearest to ξ^μ in angle among those that are nearer to ξ^μ than to
                        // any other memory. Newton from near ξ^μ may land on another memory's
                        // equilibrium when the memories are correlated; that one is not μ's.
                        let xi = DVector::from_fn(n, |i, _| plan.memories.get(i, mu) as f64);
                        let guess = gamma((a - field.shift).max(1.0 / slope + 1e-3), slope).unwrap_or(1.5);
                        let mine = field
                            .newton(&xi * guess)
                            .into_iter()
                            .chain(equilibria.iter().map(|e| DVector::from_vec(e.x.clone())))
                            .filter(|x| memory_of(x, plan) == Some(mu))
                            .max_by(|x, y| (x.dot(&xi) / x.norm()).total_cmp(&(y.dot(&xi) / y.norm())));
                        match mine {
                            Some(x) => {
                                let g = x.dot(&xi) / n as f64;
                                (Some(g), field.eigenvalues(&x), Some(field.energy(&x)))
                            }
                            None => (None, Vec::new(), None),
                        }
                    };
                    let exists = gamma.is_some();
                    let stable = exists && eigenvalues.iter().all(|&e| e < 0.0);
                    let class = if !exists {
                        "not_retrievable"
                    } else if stable {
                        "stable"
                    } else {
                        "saddle"
                    };
                    MemoryReport {
                        index: mu,
                        saliency: a,
                        exists,
                        gamma,
                        eigenvalues,
                        stable,
                        energy,
                        energy_per_neuron: energy.map(|e| e / n as f64),
                        alpha_star: star,
                        class,
                    }
                })
                .collect();
            SegmentReport {
                segment: seg,
                saliency: sal,
                origin,
                memories,
                equilibria,
                method: if closed { "closed_form" } else { "numerical" },
                notes: input_notes(plan, seg),
            }
        })
        .collect()
}
