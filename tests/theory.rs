//! Theory: closed forms against independent numbers, the numerical path against the closed
//! forms, equilibria in the four N = 2 regimes, and simulations against theory.

mod common;

use common::plan;
use idpsim::theory::{self, Field, alpha_star, gamma};
use nalgebra::{DMatrix, DVector};
use serde_json::json;

fn n2(saliency: [f64; 2], slope: f64) -> idpsim::plan::Plan {
    plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": slope } },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 1.0, "saliency": saliency } ] },
        "ensemble": { "trajectories": 1 }
    }))
}

/// Largest eigenvalue of the numerical Jacobian at memory 0's equilibrium (Newton from γ ξ⁰).
fn max_eig_at_memory0(a0: f64, a1: f64) -> f64 {
    let p = n2([a0, a1], 1.0);
    let f = Field::new(&p, 0);
    let g = gamma(a0, 1.0).unwrap();
    let x = f.newton(DVector::from_vec(vec![g, g])).unwrap();
    f.eigenvalues(&x).into_iter().fold(f64::MIN, f64::max)
}

#[test]
fn alpha_star_matches_a_bisection_on_the_jacobian() {
    for a in [1.5, 2.25, 3.0, 5.0] {
        let (mut lo, mut hi) = (1.0 + 1e-9, a);
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if max_eig_at_memory0(mid, a) < 0.0 { hi = mid } else { lo = mid }
        }
        let star = alpha_star(a, 1.0).unwrap();
        assert!((0.5 * (lo + hi) - star).abs() < 1e-6, "a = {a}: bisection {} vs α* {star}", 0.5 * (lo + hi));
    }
}

fn fd_jacobian(f: &Field, x: &DVector<f64>) -> DMatrix<f64> {
    let n = x.len();
    let h = 1e-6;
    DMatrix::from_fn(n, n, |i, j| {
        let mut xp = x.clone();
        let mut xm = x.clone();
        xp[j] += h;
        xm[j] -= h;
        (f.drift(&xp)[i] - f.drift(&xm)[i]) / (2.0 * h)
    })
}

#[test]
fn eigenvalues_and_energies_match_direct_evaluation() {
    // Orthogonal memories, N = 8, P = 3: closed forms against finite differences and E(x).
    let p = plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.5 } },
        "memories": { "kind": "hadamard", "n": 8, "p": 3, "columns": [1, 2, 5] },
        "input": { "segments": [ { "duration": 1.0, "saliency": [2.0, 1.1, 0.4] } ] },
        "ensemble": { "trajectories": 1 }
    }));
    let report = &theory::analyze(&p)[0];
    assert_eq!(report.method, "closed_form");
    let f = Field::new(&p, 0);
    for m in &report.memories {
        let Some(g) = m.gamma else { continue };
        let x = DVector::from_fn(8, |i, _| g * p.memories.get(i, m.index) as f64);
        assert!(f.drift(&x).amax() < 1e-9, "γ ξ^{} is not an equilibrium", m.index);
        let mut fd: Vec<f64> = fd_jacobian(&f, &x).complex_eigenvalues().iter().map(|c| c.re).collect();
        fd.sort_by(f64::total_cmp);
        assert_eq!(m.eigenvalues.len(), fd.len());
        for (a, b) in m.eigenvalues.iter().zip(&fd) {
            assert!(
                (a - b).abs() < 1e-6,
                "memory {}: eigenvalues {:?} vs finite differences {fd:?}",
                m.index,
                m.eigenvalues
            );
        }
        let e = f.energy(&x);
        assert!((m.energy.unwrap() - e).abs() < 1e-9 * 8.0, "memory {}: energy {} vs {e}", m.index, m.energy.unwrap());
    }
    assert_eq!(report.memories[2].class, "not_retrievable", "α = 0.4 < 1/δ");
    // The origin: eigenvalues −1 + δ α_ν and −1.
    let mut want = vec![-1.0 + 1.5 * 2.0, -1.0 + 1.5 * 1.1, -1.0 + 1.5 * 0.4, -1.0, -1.0, -1.0, -1.0, -1.0];
    assert_eq!(report.origin.eigenvalues.len(), 8);
    want.sort_by(f64::total_cmp);
    for (a, b) in report.origin.eigenvalues.iter().zip(&want) {
        assert!((a - b).abs() < 1e-12);
    }
}

#[test]
fn energy_per_neuron_decreases_with_saliency() {
    let mut last = f64::INFINITY;
    for k in 0..200 {
        let a = 1.02 + 0.02 * k as f64;
        let g = gamma(a, 1.0).unwrap();
        let e = g * g / (2.0 * a) - theory::log_cosh(g);
        assert!(e < last, "E/N not decreasing at α = {a}");
        last = e;
    }
}

#[test]
fn numerical_path_reproduces_the_closed_forms() {
    for sal in [[1.2, 2.25], [1.5, 2.25], [0.8, 2.0], [3.0, 1.7]] {
        let p = n2(sal, 1.0);
        let closed = &theory::analyze_with(&p, false)[0];
        let numeric = &theory::analyze_with(&p, true)[0];
        assert_eq!(closed.method, "closed_form");
        assert_eq!(numeric.method, "numerical");
        for (c, n) in closed.memories.iter().zip(&numeric.memories) {
            assert_eq!(c.exists, n.exists, "{sal:?} memory {}", c.index);
            assert_eq!(c.class, n.class, "{sal:?} memory {}", c.index);
            if let (Some(a), Some(b)) = (c.gamma, n.gamma) {
                assert!((a - b).abs() < 1e-9, "{sal:?}: γ {a} vs {b}");
                assert!((c.energy.unwrap() - n.energy.unwrap()).abs() < 1e-9);
                for (x, y) in c.eigenvalues.iter().zip(&n.eigenvalues) {
                    assert!((x - y).abs() < 1e-9);
                }
            }
        }
    }
}

/// docs/THEORY.md §3's two-memory picture: (a) only the origin; (b) the origin (a saddle) and
/// ±γ₂ξ²; (c) memory 1 a saddle, memory 2 stable, the origin a maximum; (d) four stable minima
/// with a saddle between each neighbouring pair.
#[test]
fn every_equilibrium_in_the_four_regimes() {
    let cases = [([0.5, 0.8], 1, 1), ([0.8, 2.0], 3, 2), ([1.2, 2.25], 5, 2), ([1.5, 2.25], 9, 4)];
    for (sal, count, stable) in cases {
        let r = &theory::analyze(&n2(sal, 1.0))[0];
        let found = r.equilibria.len();
        let st = r.equilibria.iter().filter(|e| e.stable).count();
        assert_eq!(
            (found, st),
            (count, stable),
            "saliency {sal:?}: {:?}",
            r.equilibria.iter().map(|e| &e.x).collect::<Vec<_>>()
        );
        // The deepest well is the dominant memory's.
        let deepest = &r.equilibria[0].x;
        if sal[1] > 1.0 {
            assert!(deepest[0] * deepest[1] < 0.0, "{sal:?}: deepest at {deepest:?}");
        }
    }
    let c = &theory::analyze(&n2([1.2, 2.25], 1.0))[0];
    assert_eq!(c.memories[0].class, "saddle");
    assert_eq!(c.memories[1].class, "stable");
    assert_eq!(c.origin.kind, "unstable");
}

/// At a critical saliency (α₁ δ = 1) the origin is a degenerate root: Newton stops anywhere
/// within about 1e-4 of it. Those points are one equilibrium: as many are reported as just
/// below and above the threshold on the origin's side (α₁ = 0.99: the origin and ±γ₂ξ²), and
/// no two lie within 1e-2 of each other (there were 54, 51 of them near the origin).
#[test]
fn a_critical_saliency_reports_each_equilibrium_once() {
    let count = |a: f64| theory::analyze(&n2([a, 2.0], 1.0))[0].equilibria.len();
    let critical = &theory::analyze(&n2([1.0, 2.0], 1.0))[0].equilibria;
    assert_eq!(critical.len(), count(0.99), "{:?}", critical.iter().map(|e| &e.x).collect::<Vec<_>>());
    for (k, a) in critical.iter().enumerate() {
        for b in &critical[k + 1..] {
            let d = a.x.iter().zip(&b.x).map(|(u, v)| (u - v).abs()).fold(0.0, f64::max);
            assert!(d > 1e-2, "{:?} and {:?}", a.x, b.x);
        }
    }
}

/// With the diagonal zeroed every saliency acts as α − d, d = Σα/N (docs/THEORY.md §3.7): the
/// critical saliency is d + α*(a − d), and each memory's class agrees with its α against it
/// (stable above it, a saddle between d + 1/δ and it, absent below d + 1/δ). Checked at N = 4
/// and N = 16 (d = 1.4 and 0.35) against the eigenvalues the numerical path computes.
#[test]
fn a_zeroed_diagonal_shifts_the_critical_saliency() {
    for (n, sal) in [(4, [2.6, 3.0]), (4, [2.0, 2.6]), (16, [1.6, 2.4]), (16, [2.3, 2.4])] {
        let p = plan(json!({
            "model": { "kind": "idp", "zero_diagonal": true },
            "memories": { "kind": "hadamard", "n": n, "p": 2 },
            "input": { "segments": [ { "duration": 1.0, "saliency": sal } ] },
            "ensemble": { "trajectories": 1 }
        }));
        let r = &theory::analyze(&p)[0];
        let d = (sal[0] + sal[1]) / n as f64;
        for (mu, m) in r.memories.iter().enumerate() {
            let rival = sal[1 - mu] - d;
            let want = d + alpha_star(rival, 1.0).unwrap_or(1.0);
            let star = m.alpha_star.expect("orthogonal IDP memories have a critical saliency");
            assert!((star - want).abs() < 1e-12, "N = {n} {sal:?} memory {mu}: α* {star}, want {want}");
            let class = if sal[mu] <= d + 1.0 {
                "not_retrievable"
            } else if sal[mu] > star {
                "stable"
            } else {
                "saddle"
            };
            assert_eq!(m.class, class, "N = {n} {sal:?} memory {mu}: α {} α* {star}", sal[mu]);
        }
    }
    // The classic model's input is a bias: no critical saliency.
    let p = plan(json!({
        "model": { "kind": "classic" },
        "memories": { "kind": "hadamard", "n": 4, "p": 2 },
        "input": { "segments": [ { "duration": 1.0, "weights": [0.1, 0.2] } ] },
        "ensemble": { "trajectories": 1 }
    }));
    assert!(theory::analyze(&p)[0].memories.iter().all(|m| m.alpha_star.is_none()));
}

/// With correlated memories Newton's method from along ξ⁰ can end at ξ¹'s equilibrium; that
/// one is not memory 0's. Here (cosine 0.5 between the memories) the only non-zero equilibria
/// are ±x with cosine 0.83 to ξ⁰ and 0.90 to ξ¹: memory 1's, and memory 0 has none. In general
/// each memory's reported equilibrium is among the equilibria found, nearer to it than to any
/// other memory, and no two memories share one.
#[test]
fn a_memory_is_never_credited_with_another_memorys_equilibrium() {
    let spec = |patterns: serde_json::Value, sal: serde_json::Value, zd: bool| {
        plan(json!({
            "model": { "kind": "idp", "zero_diagonal": zd },
            "memories": { "kind": "explicit", "patterns": patterns },
            "input": { "segments": [ { "duration": 1.0, "saliency": sal } ] },
            "ensemble": { "trajectories": 1 }
        }))
    };
    let r = &theory::analyze(&spec(json!([[1, 1, -1, 1], [1, -1, -1, 1]]), json!([1.5, 2.0]), false))[0];
    assert_eq!(r.equilibria.len(), 3, "{:?}", r.equilibria.iter().map(|e| &e.x).collect::<Vec<_>>());
    assert_eq!((r.memories[0].class, r.memories[1].class), ("not_retrievable", "stable"));
    assert!(r.memories[0].gamma.is_none() && r.memories[0].alpha_star.is_none());
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut sign = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if rng & 1 == 0 { 1 } else { -1 }
    };
    for case in 0..12 {
        let (n, p) = (6 + case % 3, 3);
        let patterns: Vec<Vec<i32>> = (0..p).map(|_| (0..n).map(|_| sign()).collect()).collect();
        let sal: Vec<f64> = (0..p).map(|mu| 1.3 + 0.4 * mu as f64 + 0.1 * case as f64).collect();
        let pl = spec(json!(patterns), json!(sal), case % 2 == 1);
        let r = &theory::analyze(&pl)[0];
        let mut claimed: Vec<Vec<f64>> = Vec::new();
        for (mu, m) in r.memories.iter().enumerate() {
            let Some(g) = m.gamma else { continue };
            // The equilibrium with this γ along ξ^μ is one of those found.
            let e = r
                .equilibria
                .iter()
                .find(|e| {
                    let dot: f64 = e.x.iter().zip(&patterns[mu]).map(|(x, &s)| x * s as f64).sum();
                    (dot / n as f64 - g).abs() < 1e-9
                        && patterns.iter().enumerate().all(|(nu, q)| {
                            let other: f64 = e.x.iter().zip(q).map(|(x, &s)| x * s as f64).sum();
                            nu == mu || other.abs() < dot
                        })
                })
                .unwrap_or_else(|| panic!("case {case}: memory {mu}'s γ {g} is no equilibrium nearest to it"));
            assert!(!claimed.contains(&e.x), "case {case}: memory {mu} shares an equilibrium");
            claimed.push(e.x.clone());
        }
    }
}

/// The analysis is of a segment's input held constant, for every trajectory alike; where the
/// run's input is not that, the report says so: a pulse's zero input after it, a pulse that
/// ends before its ramp reaches the input, per-trajectory input noise. A plain segment has no
/// note.
#[test]
fn the_report_says_what_it_leaves_out_of_the_input() {
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 4, "p": 2 },
        "input": { "segments": [
            { "duration": 1.0, "saliency": [2.0, 1.0] },
            { "duration": 1.0, "saliency": [2.0, 1.0], "pulse": 0.4 },
            { "duration": 1.0, "saliency": [1.0, 2.0], "pulse": 0.2, "ramp": 0.5 },
            { "duration": 1.0, "saliency": [1.0, 2.0], "noise": 0.3 },
            { "duration": 1.0, "saliency": [1.0, 2.0], "pulse": 1.0 }
        ] },
        "ensemble": { "trajectories": 1 }
    }));
    let notes: Vec<Vec<String>> = theory::analyze(&p).into_iter().map(|r| r.notes).collect();
    assert!(notes[0].is_empty(), "{:?}", notes[0]);
    assert_eq!(notes[1].len(), 1);
    assert!(
        notes[1][0].contains("on for the first 0.4 of the segment's 1 time units and zero after"),
        "{:?}",
        notes[1]
    );
    assert_eq!(notes[2].len(), 2);
    assert!(notes[2][1].contains("the pulse (0.2) ends before the ramp (0.5)"), "{:?}", notes[2]);
    assert_eq!(notes[3].len(), 1);
    assert!(notes[3][0].contains("its own noise (std 0.3)"), "{:?}", notes[3]);
    assert!(notes[4].is_empty(), "a pulse as long as its segment: {:?}", notes[4]);
    let o = common::idpsim(&["theory", "--json", "--preset", "landscape-c"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc["segments"][0].get("notes").is_none(), "no notes key where there is nothing to say");
}

#[test]
fn slope_scales_every_threshold() {
    for d in [0.5, 2.0, 10.0] {
        assert!(gamma(1.001 / d, d).is_some() && gamma(0.999 / d, d).is_none(), "δ = {d}");
        for a in [1.5, 3.0] {
            let scaled = alpha_star(a / d, d).unwrap();
            assert!((scaled - alpha_star(a, 1.0).unwrap() / d).abs() < 1e-12, "δ = {d}");
        }
        // γ scales as γ(α, δ) = γ(αδ, 1)/δ.
        assert!((gamma(2.0 / d, d).unwrap() - gamma(2.0, 1.0).unwrap() / d).abs() < 1e-9);
    }
}

/// Noiseless simulations from random starts end at stable equilibria the theory lists, never at
/// saddles; below every threshold they all decay to the origin; along them E never increases.
#[test]
fn simulations_end_where_theory_says() {
    let Some(mut g) = common::gpu() else { return };
    for sal in [[1.2, 2.25], [1.5, 2.25], [0.5, 0.8]] {
        let p = plan(json!({
            "model": { "kind": "idp" },
            "memories": { "kind": "hadamard", "n": 2, "p": 2 },
            "input": { "segments": [ { "duration": 60.0, "saliency": sal } ] },
            "ensemble": { "trajectories": 2000, "seed": 3, "initial": { "kind": "normal", "std": 2.0 } },
            "observe": { "overlaps": { "every": 60.0 }, "final_state": true }
        }));
        let eq = &theory::analyze(&p)[0].equilibria;
        let x = common::run(&p, &mut g).f32("final_state").unwrap();
        for t in 0..2000 {
            let (a, b) = (x[2 * t] as f64, x[2 * t + 1] as f64);
            let near = eq.iter().find(|e| (e.x[0] - a).abs() < 1e-3 && (e.x[1] - b).abs() < 1e-3);
            let e = near.unwrap_or_else(|| panic!("{sal:?}: trajectory {t} ended at ({a}, {b}), no equilibrium"));
            assert!(e.stable, "{sal:?}: trajectory {t} ended at a saddle {:?}", e.x);
        }
    }
    // Lyapunov: E(x(t)) is non-increasing along noiseless Euler steps with small dt.
    let p = n2([1.5, 2.25], 1.0);
    let f = Field::new(&p, 0);
    let mut x = DVector::from_vec(vec![0.3, -2.5]);
    let mut e = f.energy(&x);
    for _ in 0..20000 {
        x += f.drift(&x) * 1e-3;
        let e2 = f.energy(&x);
        assert!(e2 <= e + 1e-12, "energy rose from {e} to {e2}");
        e = e2;
    }
}

#[test]
fn recorded_paths_are_the_reference_trajectories() {
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 2.0, "saliency": [1.5, 2.25] } ] },
        "noise": { "sigma": 0.3 },
        "ensemble": { "trajectories": 4, "seed": 1 },
        "observe": { "overlaps": { "every": 0.5 } }
    }));
    let mut saves = vec![0f32; p.n_saves() * p.p()];
    let mut x2 = vec![0f32; 2];
    let mut t = idpsim::cpu::Trajectory::init(&p, 3);
    let mut path = t.state().to_vec();
    while t.done() < p.time.total_steps {
        t.step().unwrap();
        if t.done() % p.observe.save_every == 0 {
            path.extend_from_slice(t.state());
        }
    }
    idpsim::cpu::integrate(&p, 3, &mut saves, &mut x2, None, None).unwrap();
    assert_eq!(path.len(), 2 * p.n_saves());
    assert_eq!(&path[path.len() - 2..], &x2[..]);
    assert_eq!(t.state(), &x2[..]);
}

/// The energy observer on both backends: at an equilibrium it equals the closed form, and
/// along noiseless trajectories it never increases (docs/THEORY.md §2: dE/dt ≤ 0).
#[test]
fn energy_observer_agrees_with_theory() {
    let mut backends: Vec<Box<dyn idpsim::engine::Backend>> = vec![Box::new(idpsim::cpu::CpuBackend::new())];
    if let Some(g) = common::gpu() {
        backends.push(Box::new(g));
    }
    let (a, slope) = (2.0f64, 1.5f64);
    let g = gamma(a, slope).unwrap();
    let n = 8usize;
    let x0: Vec<f64> = (0..n).map(|i| g * idpsim::plan::memories::hadamard_entry(i, 3) as f64).collect();
    let at_eq = plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": slope } },
        "memories": { "kind": "hadamard", "n": n, "p": 2, "columns": [3, 5] },
        "input": { "segments": [ { "duration": 1.0, "saliency": [a, 0.7] } ] },
        "ensemble": { "trajectories": 3, "initial": { "kind": "point", "x": x0 } },
        "observe": { "overlaps": { "every": 0.25 }, "energy": {} }
    }));
    let closed = n as f64 * (g * g / (2.0 * a) - theory::log_cosh(slope * g) / slope);
    let descending = plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 2.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": 40, "p": 3, "seed": 2 },
        "input": { "segments": [ { "duration": 8.0, "weights": [1.5, 2.5, 0.5] } ] },
        "integrator": { "dt": 0.01 },
        "ensemble": { "trajectories": 200, "seed": 4, "initial": { "kind": "normal", "std": 2.0 } },
        "observe": { "overlaps": { "every": 0.05 }, "energy": { "per_trajectory": true } }
    }));
    for b in backends.iter_mut() {
        let out = common::run(&at_eq, b.as_mut());
        let (mean, _, _) = out.sums.finish();
        for s in 0..at_eq.n_saves() {
            let e = mean[s * 3 + 2] as f64;
            assert!((e - closed).abs() < 1e-4 * n as f64, "{}: E = {e} at save {s}, closed form {closed}", b.kind());
        }
        let out = common::run(&descending, b.as_mut());
        let e = out.f32("energy").unwrap();
        let t = descending.n_saves();
        let mut falls = 0;
        for traj in 0..200 {
            for s in 1..t {
                let (e0, e1) = (e[traj * t + s - 1], e[traj * t + s]);
                assert!(
                    e1 <= e0 + 2e-4 * 40.0,
                    "{}: trajectory {traj}: E rose from {e0} to {e1} at save {s}",
                    b.kind()
                );
                falls += (e1 < e0) as usize;
            }
        }
        assert!(falls > 1000, "{}: the energy barely moved ({falls} decreases)", b.kind());
    }
}

/// Each model states the closed forms that describe it, and the analyses take them: the classic
/// network is the Hopfield field with the input as a bias, IDP with the input in the saliencies,
/// the modern model its own (docs/THEORY.md §2, §15).
#[test]
fn every_model_states_its_closed_form() {
    use idpsim::plan::{ClosedForm, Coupling};
    for (preset, want) in [("quickstart-classic", "bias"), ("quickstart", "saliency"), ("modern-softmax", "modern")] {
        let text = idpsim::presets::get(preset).unwrap();
        let plan =
            idpsim::resolve::plan(&idpsim::spec::Spec::from_json(text).unwrap(), std::path::Path::new(".")).unwrap();
        let got = match plan.model.closed_form() {
            ClosedForm::Hopfield(Coupling::Bias) => "bias",
            ClosedForm::Hopfield(Coupling::Saliency) => "saliency",
            ClosedForm::Modern(md) => {
                assert_eq!(Some(md), plan.model.modern());
                "modern"
            }
            ClosedForm::None(why) => panic!("{preset}: no closed form ({why})"),
        };
        assert_eq!(got, want, "{preset}");
        if want != "modern" {
            assert_eq!(plan.model.coupling(), if want == "bias" { Coupling::Bias } else { Coupling::Saliency });
        }
    }
}
