//! The modern model's theory (docs/THEORY.md §15) against the IDP theory, finite differences,
//! the simulator's own step, its closed-form softmax threshold, and long noiseless runs.

mod common;

use common::{idpsim, plan, stderr};
use idpsim::plan::Plan;
use idpsim::theory::{self, modern::ModernField};
use nalgebra::{Complex, DMatrix, DVector};
use serde_json::{Value, json};

/// A modern plan: Hadamard memories (columns 1…P), one constant segment of `duration` with
/// `weights`, noiseless, starting at `x0` (or N(0, 2²) when None).
fn modern(model: Value, n: usize, weights: &[f64], duration: f64, x0: Option<&[f64]>, m: u64) -> Plan {
    let mut model = model;
    model["kind"] = json!("modern");
    let initial = match x0 {
        Some(x) => json!({ "kind": "point", "x": x }),
        None => json!({ "kind": "normal", "std": 2.0 }),
    };
    plan(json!({
        "model": model,
        "memories": { "kind": "hadamard", "n": n, "p": weights.len(), "columns": (1..=weights.len()).collect::<Vec<_>>() },
        "input": { "segments": [ { "duration": duration, "weights": weights } ] },
        "integrator": { "dt": 0.01 },
        "ensemble": { "trajectories": m, "seed": 9, "initial": initial },
        "observe": { "overlaps": { "every": duration }, "final_state": true }
    }))
}

/// The model variants the checks run on: (model JSON, N, weights). Their time constants differ
/// pairwise, so that the full Jacobian has no Jordan block (τ_α = τ_x would couple two equal
/// eigenvalues through ∂x/∂α).
fn variants() -> Vec<(Value, usize, Vec<f64>)> {
    vec![
        // IDP-like layers, tanh memory layer, tanh saliency layer.
        (
            json!({ "activation": { "kind": "tanh", "slope": 2.5 }, "psi_y": "tanh", "psi_alpha": "tanh", "tau_alpha": 0.5, "tau_y": 0.3, "tau_x": 2.0 }),
            8,
            vec![2.5, 1.5, 0.4],
        ),
        // Softmax with identity features, the modern-softmax preset's input.
        (
            json!({ "activation": { "kind": "identity" }, "psi_y": { "softmax": { "beta": 4.0 } }, "tau_y": 0.2 }),
            8,
            vec![1.2, 2.5, 0.9, 1.1],
        ),
        // Softmax with tanh features.
        (
            json!({ "activation": { "kind": "tanh", "slope": 1.0 }, "psi_y": { "softmax": { "beta": 3.0 } }, "tau_alpha": 0.7, "tau_y": 0.5 }),
            8,
            vec![2.0, 1.5, 1.0],
        ),
        // Identity memory layer with a negative saliency: complex modes, no energy.
        (json!({ "activation": { "kind": "tanh", "slope": 1.0 }, "tau_y": 0.5, "tau_x": 1.0 }), 4, vec![2.0, -3.0]),
    ]
}

/// Runs one trajectory of a noiseless plan to its end on the CPU reference engine; the final
/// state x.
fn final_x(p: &Plan) -> Vec<f64> {
    let mut t = idpsim::cpu::Trajectory::init(p, 0);
    while t.done() < p.time.total_steps {
        t.step().unwrap();
    }
    t.state().iter().map(|&v| v as f64).collect()
}

/// With Ψ_α = Ψ_y = identity the modern model has exactly the IDP model's equilibria and
/// stability (§15.1), whatever its time constants: the four N = 2 regimes of §3.6.
#[test]
fn identity_layers_have_the_idp_equilibria_for_any_time_constants() {
    for sal in [[0.5, 0.8], [0.8, 2.0], [1.2, 2.25], [1.5, 2.25]] {
        let idp = plan(json!({
            "model": { "kind": "idp" },
            "memories": { "kind": "hadamard", "n": 2, "p": 2 },
            "input": { "segments": [ { "duration": 1.0, "weights": sal } ] },
            "ensemble": { "trajectories": 1 }
        }));
        let want = &theory::analyze(&idp)[0].equilibria;
        for (ta, ty, tx) in [(0.0, 0.0, 1.0), (0.5, 0.3, 2.0), (1.0, 0.0, 0.5), (0.0, 4.0, 0.1)] {
            let p = plan(json!({
                "model": { "kind": "modern", "tau_alpha": ta, "tau_y": ty, "tau_x": tx },
                "memories": { "kind": "hadamard", "n": 2, "p": 2 },
                "input": { "segments": [ { "duration": 1.0, "weights": sal } ] },
                "ensemble": { "trajectories": 1 }
            }));
            let got = &theory::modern::analyze(&p)[0];
            assert_eq!(got.equilibria.len(), want.len(), "{sal:?}, τ = ({ta}, {ty}, {tx})");
            for w in want {
                let g = got
                    .equilibria
                    .iter()
                    .find(|e| e.x.iter().zip(&w.x).all(|(a, b)| (a - b).abs() < 1e-8))
                    .unwrap_or_else(|| panic!("{sal:?}, τ = ({ta}, {ty}, {tx}): IDP equilibrium {:?} missing", w.x));
                assert_eq!(g.stable, w.stable, "{sal:?}, τ = ({ta}, {ty}, {tx}) at {:?}", w.x);
                // Same energy as §2's (the IDP energy is E(x, m(x)) for these layers).
                assert!((g.energy.unwrap() - w.energy).abs() < 1e-9, "{sal:?}: E {:?} vs {}", g.energy, w.energy);
                // Unstable directions: the IDP Jacobian's positive eigenvalues.
                let idp_up = w.eigenvalues.iter().filter(|&&e| e > 0.0).count();
                assert_eq!(g.unstable_dims, idp_up, "{sal:?}, τ = ({ta}, {ty}, {tx}) at {:?}", w.x);
            }
        }
    }
}

fn fd_jacobian(f: &ModernField, z: &DVector<f64>) -> DMatrix<f64> {
    let k = z.len();
    let h = 1e-6;
    let mut j = DMatrix::zeros(k, k);
    for c in 0..k {
        let (mut zp, mut zm) = (z.clone(), z.clone());
        zp[c] += h;
        zm[c] -= h;
        let d = (f.vector_field(&zp) - f.vector_field(&zm)) / (2.0 * h);
        j.set_column(c, &d);
    }
    j
}

/// At every equilibrium found: the vector field vanishes, the analytic Jacobian equals central
/// differences of the vector field, and the reported eigenvalues (−1/τ_α, −1/τ_x and the roots
/// of (1 + λτ_y)(1 + λτ_x) = κ, §15.2) are those of the finite-difference Jacobian, with their
/// multiplicities (by the singular values of J − λI and the trace).
#[test]
fn jacobian_matches_finite_differences_and_the_kappa_relation() {
    let mut complex_seen = false;
    for (model, n, w) in variants() {
        let p = modern(model.clone(), n, &w, 1.0, None, 1);
        let f = ModernField::new(&p, 0).unwrap();
        let r = &theory::modern::analyze(&p)[0];
        assert!(r.equilibria.len() >= 2, "{model}: {} equilibria", r.equilibria.len());
        for e in &r.equilibria {
            let x = DVector::from_column_slice(&e.x);
            let z = f.full_state(&x);
            assert!(f.vector_field(&z).amax() < 1e-9, "{model}: not an equilibrium: {:?}", e.x);
            let (ja, jf) = (f.jacobian(&x), fd_jacobian(&f, &z));
            let err = (&ja - &jf).amax();
            assert!(
                err < 1e-6 * (1.0 + ja.amax()),
                "{model} at {}: Jacobian differs from finite differences by {err}",
                e.label
            );
            // The reported eigenvalues (from κ) are those of the finite-difference Jacobian: each
            // distinct λ of multiplicity k leaves J − λI exactly k singular values near 0, and
            // they add up to J's trace.
            let size = jf.nrows();
            let mut distinct: Vec<(Complex<f64>, usize)> = Vec::new();
            for ev in &e.eigenvalues {
                let l = Complex::new(ev[0], ev[1]);
                match distinct.iter_mut().find(|(z, _)| (*z - l).norm() < 1e-6) {
                    Some(d) => d.1 += 1,
                    None => distinct.push((l, 1)),
                }
            }
            let jc = jf.map(|v| Complex::new(v, 0.0));
            for (l, mult) in &distinct {
                let shifted = &jc - DMatrix::<Complex<f64>>::identity(size, size) * *l;
                let sv = shifted.svd(false, false).singular_values;
                let null = sv.iter().filter(|&&v| v < 1e-6 * (1.0 + ja.amax())).count();
                assert_eq!(null, *mult, "{model} at {}: eigenvalue {l} (×{mult}); singular values {sv:?}", e.label);
            }
            assert_eq!(e.eigenvalues.len(), size);
            let trace: f64 = (0..size).map(|k| jf[(k, k)]).sum();
            let sum: f64 = e.eigenvalues.iter().map(|v| v[0]).sum();
            assert!((trace - sum).abs() < 1e-6 * size as f64, "{model} at {}: trace {trace} vs Σλ {sum}", e.label);
            for ev in &e.eigenvalues {
                let l = Complex::new(ev[0], ev[1]);
                complex_seen |= ev[1].abs() > 1e-6;
                // Each solves (1 + λτ_y)(1 + λτ_x) = κ for a reported κ, or is −1/τ.
                let layer = |tau: f64| tau > 0.0 && (l - Complex::new(-1.0 / tau, 0.0)).norm() < 1e-9;
                let on_kappa = e.kappa.iter().any(|&k| {
                    ((Complex::new(1.0, 0.0) + l * f.tau_y) * (Complex::new(1.0, 0.0) + l * f.tau_x) - k).norm() < 1e-9
                });
                assert!(layer(f.tau_alpha) || layer(f.tau_x) || on_kappa, "{model} at {}: {l}", e.label);
            }
            // Stable iff κ_max < 1; unstable directions = #κ > 1.
            assert_eq!(e.stable, e.kappa.iter().all(|&k| k < 1.0), "{model} at {}", e.label);
            assert_eq!(e.unstable_dims, e.kappa.iter().filter(|&&k| k > 1.0).count(), "{model} at {}", e.label);
        }
    }
    assert!(complex_seen, "the negative-saliency variant should have complex modes");
}

/// The theory's vector field is the one the simulator integrates: one noiseless step of the CPU
/// reference engine from (α = 0, y = m(x₀), x₀) moves every layer by dt times it.
#[test]
fn the_vector_field_is_the_simulators_step() {
    for (model, n, w) in variants() {
        let x0: Vec<f64> = (0..n).map(|i| 0.7 * ((i * 7 + 3) % 5) as f64 - 1.3).collect();
        let p = modern(model.clone(), n, &w, 0.01, Some(&x0), 1);
        let f = ModernField::new(&p, 0).unwrap();
        let (pa, py) = f.layer_dims();
        let x0f = DVector::from_fn(n, |i, _| x0[i] as f32 as f64);
        let m0 = f.overlaps(&x0f);
        let z0 = DVector::from_fn(pa + py + n, |k, _| {
            if k < pa {
                0.0
            } else if k < pa + py {
                m0[k - pa]
            } else {
                x0f[k - pa - py]
            }
        });
        let v = f.vector_field(&z0);
        let mut t = idpsim::cpu::Trajectory::init(&p, 0);
        t.step().unwrap();
        let (mut state, mut obs) = (Vec::new(), Vec::new());
        t.export(&mut state, &mut obs);
        let nb4 = n.div_ceil(4) * 4;
        let mut worst = 0f64;
        for i in 0..n {
            worst = worst.max(((state[i] as f64 - z0[pa + py + i]) / 0.01 - v[pa + py + i]).abs());
        }
        for k in 0..pa {
            worst = worst.max(((state[nb4 + k] as f64 - z0[k]) / 0.01 - v[k]).abs());
        }
        for k in 0..py {
            worst = worst.max(((state[nb4 + w.len() + k] as f64 - z0[pa + k]) / 0.01 - v[pa + k]).abs());
        }
        assert!(worst < 2e-3, "{model}: the simulator's step differs from the vector field by {worst}");
    }
}

/// Equilibria and their classification do not depend on τ_α, τ_y, τ_x (§15.1–15.2); the
/// eigenvalues do.
#[test]
fn stability_does_not_depend_on_the_time_constants() {
    for (model, n, w) in variants() {
        let mut reference: Option<Vec<(Vec<f64>, bool, usize)>> = None;
        let mut max_reals = Vec::new();
        for (ta, ty, tx) in [(0.0, 0.0, 1.0), (0.5, 0.3, 2.0), (2.0, 5.0, 0.2), (0.0, 0.05, 3.0)] {
            let mut m = model.clone();
            m["tau_alpha"] = json!(ta);
            m["tau_y"] = json!(ty);
            m["tau_x"] = json!(tx);
            let p = modern(m, n, &w, 1.0, None, 1);
            let mut got: Vec<(Vec<f64>, bool, usize)> = theory::modern::analyze(&p)[0]
                .equilibria
                .iter()
                .map(|e| (e.x.clone(), e.stable, e.unstable_dims))
                .collect();
            got.sort_by(|a, b| {
                a.0.iter().zip(&b.0).map(|(u, v)| u.total_cmp(v)).find(|o| o.is_ne()).unwrap_or(a.1.cmp(&b.1))
            });
            max_reals.push(theory::modern::analyze(&p)[0].equilibria[0].max_real);
            match &reference {
                None => reference = Some(got),
                Some(r) => {
                    assert_eq!(r.len(), got.len(), "{model}, τ = ({ta}, {ty}, {tx})");
                    for (a, b) in r.iter().zip(&got) {
                        assert!(
                            a.0.iter().zip(&b.0).all(|(u, v)| (u - v).abs() < 1e-8),
                            "{model}: {:?} vs {:?}",
                            a.0,
                            b.0
                        );
                        assert_eq!((a.1, a.2), (b.1, b.2), "{model}, τ = ({ta}, {ty}, {tx}) at {:?}", a.0);
                    }
                }
            }
        }
        assert!(
            max_reals.iter().any(|&v| (v - max_reals[0]).abs() > 1e-3),
            "{model}: eigenvalues ignore τ: {max_reals:?}"
        );
    }
}

/// §15.4: with equal saliencies a the softmax's uniform mixture has κ = βa²/P and is stable iff
/// βa² < P; for P = 2 the memory states appear at βa² = 2 (a pitchfork); for large βa² they sit
/// at x ≈ a ξ^ρ with κ ≈ 0, and there is none at −ξ^ρ.
#[test]
fn softmax_wells_and_the_mixture_threshold() {
    let soft = |beta: f64| json!({ "activation": { "kind": "identity" }, "psi_y": { "softmax": { "beta": beta } }, "tau_y": 0.5 });
    let a = 1.5f64;
    for (p, beta) in [(2, 0.8), (2, 1.0), (4, 1.7), (4, 1.9)] {
        let r = &theory::modern::analyze(&modern(soft(beta), 8, &vec![a; p], 1.0, None, 1))[0];
        let want: Vec<f64> = (0..8).map(|i| (0..p).map(|mu| a / p as f64 * hadamard(i, mu + 1)).sum()).collect();
        let mix = r
            .equilibria
            .iter()
            .find(|e| e.x.iter().zip(&want).all(|(u, v)| (u - v).abs() < 1e-9))
            .unwrap_or_else(|| panic!("P = {p}, β = {beta}: no equilibrium at the uniform mixture {want:?}"));
        assert_eq!(mix.label, "mixture");
        let kmax = mix.kappa.iter().cloned().fold(f64::MIN, f64::max);
        // β is stored in f32.
        let b32 = beta as f32 as f64;
        assert!((kmax - b32 * a * a / p as f64).abs() < 1e-9, "P = {p}, β = {beta}: κ_max {kmax}");
        assert_eq!(mix.stable, beta * a * a < p as f64, "P = {p}, β = {beta}");
        let wells = r.equilibria.iter().filter(|e| e.stable && e.label.starts_with('+')).count();
        if p == 2 {
            // The pitchfork at β a² = 2: 1 equilibrium below, the mixture and two wells above.
            let above = beta * a * a > 2.0;
            assert_eq!(r.equilibria.len(), if above { 3 } else { 1 }, "P = 2, β = {beta}");
            assert_eq!(wells, if above { 2 } else { 0 }, "P = 2, β = {beta}");
        } else if !mix.stable {
            assert_eq!(wells, p, "P = {p}, β = {beta}: every memory has a stable well");
        }
    }
    // Large β a²: x ≈ a ξ^ρ, κ ≈ 0, wells only at +ξ^ρ, deeper for the more salient memory.
    let w = [1.2, 2.5, 0.9, 1.1];
    let p = modern(soft(12.0), 8, &w, 1.0, None, 1);
    let r = &theory::modern::analyze(&p)[0];
    for (rho, &a) in w.iter().enumerate() {
        let e =
            r.equilibria.iter().find(|e| e.label == format!("+ξ{rho}")).unwrap_or_else(|| panic!("no well at +ξ{rho}"));
        assert!(e.stable);
        let far = (0..8).map(|i| (e.x[i] - a * p.memories.get(i, rho) as f64).abs()).fold(0f64, f64::max);
        assert!(far < 0.01, "+ξ{rho}: |x − a ξ| = {far}");
        assert!(e.kappa.iter().all(|k| k.abs() < 0.01), "+ξ{rho}: κ = {:?}", e.kappa);
        let depth = e.energy.unwrap() / 8.0;
        assert!((depth + a * a / 2.0).abs() < 0.05, "+ξ{rho}: E/N = {depth}, −a²/2 = {}", -a * a / 2.0);
    }
    assert!(r.equilibria.iter().all(|e| !e.label.starts_with('−')), "a well at −ξ");
    assert_eq!(r.equilibria[0].label, "+ξ1", "the deepest well is the most salient memory's");
}

/// ξ_i of Hadamard column `col`.
fn hadamard(i: usize, col: usize) -> f64 {
    idpsim::plan::memories::hadamard_entry(i, col) as f64
}

/// A fixed perturbation direction, not aligned with any memory.
fn kick(n: usize) -> Vec<f64> {
    (0..n).map(|i| [0.9, -0.4, 0.7, 0.2, -1.0, 0.5, -0.6, 0.3][i % 8]).collect()
}

/// Noiseless runs (α instantaneous, the y layer dynamic; dt = 0.01, 40 time units) started
/// 10⁻³ from each listed equilibrium stay within 10⁻⁴ of the stable ones and move more than 0.05
/// away from the unstable ones.
#[test]
fn noiseless_runs_stay_at_stable_equilibria_and_leave_unstable_ones() {
    let mut left = 0;
    let mut stayed = 0;
    for (model, n, w) in variants() {
        let mut model = model;
        model["tau_alpha"] = json!(0.0);
        let p0 = modern(model.clone(), n, &w, 40.0, None, 1);
        let r = &theory::modern::analyze(&p0)[0];
        for e in &r.equilibria {
            // Equilibria too weakly (un)stable to tell apart in 40 time units are not tested.
            if e.max_real.abs() < 0.15 {
                continue;
            }
            let x0: Vec<f64> = e.x.iter().zip(kick(n)).map(|(x, k)| x + 1e-3 * k).collect();
            let x1 = final_x(&modern(model.clone(), n, &w, 40.0, Some(&x0), 1));
            let dist = x1.iter().zip(&e.x).map(|(a, b)| (a - b).abs()).fold(0f64, f64::max);
            if e.stable {
                assert!(dist < 1e-4, "{model}: stable {} ({:?}): ended {dist} away", e.label, e.x);
                stayed += 1;
            } else {
                assert!(dist > 0.05, "{model}: unstable {} ({:?}): still {dist} away", e.label, e.x);
                left += 1;
            }
        }
    }
    assert!(stayed >= 6 && left >= 6, "too few equilibria tested: {stayed} stable, {left} unstable");
}

/// Noiseless runs from N(0, 2²) starts, with every layer dynamic (α from 0), end within 10⁻³ of
/// a stable equilibrium the theory lists, never at an unstable one.
#[test]
fn runs_from_random_starts_end_at_listed_stable_equilibria() {
    for (model, n, w) in variants() {
        let p = modern(model.clone(), n, &w, 80.0, None, 100);
        let r = &theory::modern::analyze(&p)[0];
        let out = common::run(&p, &mut idpsim::cpu::CpuBackend::new());
        let x = out.f32("final_state").unwrap();
        let mut reached = std::collections::BTreeSet::new();
        for t in 0..100 {
            let xt: Vec<f64> = x[t * n..(t + 1) * n].iter().map(|&v| v as f64).collect();
            let (k, e) = r
                .equilibria
                .iter()
                .enumerate()
                .find(|(_, e)| e.x.iter().zip(&xt).all(|(a, b)| (a - b).abs() < 1e-3))
                .unwrap_or_else(|| panic!("{model}: trajectory {t} ended at {xt:?}, no listed equilibrium"));
            assert!(e.stable, "{model}: trajectory {t} ended at the unstable {} {:?}", e.label, e.x);
            reached.insert(k);
        }
        assert!(reached.len() >= 2, "{model}: every run ended at the same equilibrium");
    }
}

/// §15.3: E(x, y) never increases along the full noiseless flow (Euler in f64, small dt),
/// equals E(x) on y = m(x), and is the simulator's E_tr (softmax, identity features) or §2's IDP
/// energy (identity layers).
#[test]
fn the_energy_is_a_lyapunov_function_and_matches_the_known_ones() {
    for (model, n, w) in variants() {
        let mut model = model;
        model["tau_alpha"] = json!(0.0);
        let p = modern(model.clone(), n, &w, 1.0, None, 1);
        let f = ModernField::new(&p, 0).unwrap();
        if let Some(why) = f.no_energy() {
            assert!(w.iter().any(|&a| a < 0.0), "{model}: {why}");
            continue;
        }
        let (_, py) = f.layer_dims();
        assert!(py > 0);
        let mut z = DVector::from_fn(py + n, |k, _| 1.3 * (((k * 5 + 1) % 7) as f64 - 3.0) / 3.0);
        let e_of = |z: &DVector<f64>| f.energy_xy(&z.rows(py, n).into_owned(), &z.rows(0, py).into_owned());
        let (mut e, e0) = (e_of(&z), e_of(&z));
        for _ in 0..20000 {
            z += f.vector_field(&z) * 1e-3;
            let e2 = e_of(&z);
            assert!(e2 <= e + 1e-10 * e.abs().max(1.0), "{model}: E rose from {e} to {e2}");
            e = e2;
        }
        assert!(e0 - e > 0.1, "{model}: the energy hardly moved ({e0} → {e})");
        let x = z.rows(py, n).into_owned();
        assert!((f.energy(&x) - f.energy_xy(&x, &f.overlaps(&x))).abs() < 1e-9);
    }
    // The softmax with identity features: E(x) is the saved E_tr.
    let p = modern(
        json!({ "activation": { "kind": "identity" }, "psi_y": { "softmax": { "beta": 4.0 } } }),
        8,
        &[1.2, 2.5, 0.9],
        1.0,
        None,
        1,
    );
    let f = ModernField::new(&p, 0).unwrap();
    let x = DVector::from_vec(kick(8));
    let want = idpsim::model::modern::energy_f64(&p, 4.0, &f.q, x.as_slice());
    assert!((f.energy(&x) - want).abs() < 1e-9, "{} vs E_tr {want}", f.energy(&x));
    // Identity layers: E(x) is the IDP energy of §2.
    let p = modern(json!({ "activation": { "kind": "tanh", "slope": 1.5 } }), 8, &[1.2, 2.5, 0.9], 1.0, None, 1);
    let idp = plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.5 } },
        "memories": { "kind": "hadamard", "n": 8, "p": 3, "columns": [1, 2, 3] },
        "input": { "segments": [ { "duration": 1.0, "weights": [1.2, 2.5, 0.9] } ] },
        "ensemble": { "trajectories": 1 }
    }));
    let f = ModernField::new(&p, 0).unwrap();
    assert!((f.energy(&x) - theory::Field::new(&idp, 0).energy(&x)).abs() < 1e-9);
}

/// The command line: `theory` on modern specs (text and JSON), `landscape` where an energy
/// exists and a one-line refusal where it does not, `fpe` with instantaneous layers (the IDP
/// density for IDP-equivalent layers) and a refusal naming tau_y otherwise.
#[test]
fn commands_on_the_modern_model() {
    let o = idpsim(&["theory", "--preset", "modern-softmax", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let seg = &doc["segments"][0];
    assert_eq!(seg["method"], "modern_numerical");
    let eq = seg["equilibria"].as_array().unwrap();
    // Wells at +ξ1 (deepest), +ξ0 and +ξ3; q₂ = 0.9 is too weak for one (README).
    let wells: Vec<&str> = eq.iter().filter(|e| e["stable"] == true).map(|e| e["label"].as_str().unwrap()).collect();
    assert_eq!(wells, ["+ξ1", "+ξ0", "+ξ3"]);
    let o = idpsim(&["theory", "--preset", "modern-filter"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("segment 1 (modern") && text.contains("stable"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    let spec_at = |name: &str, model: Value, weights: Value, sigma: f64| {
        let path = tmp.path().join(format!("{name}.json"));
        let s = json!({
            "name": name, "model": model,
            "memories": { "kind": "hadamard", "n": 2, "p": 2 },
            "input": { "segments": [ { "duration": 2.0, "weights": weights } ] },
            "noise": { "sigma": sigma },
            "ensemble": { "trajectories": 4, "seed": 1, "initial": { "kind": "normal", "std": 1.5 } },
            "observe": { "overlaps": { "every": 0.1 } }
        });
        std::fs::write(&path, s.to_string()).unwrap();
        path.display().to_string()
    };
    let soft = spec_at(
        "soft",
        json!({ "kind": "modern", "activation": { "kind": "identity" }, "psi_y": { "softmax": { "beta": 2.0 } }, "tau_y": 0.3 }),
        json!([1.5, 2.0]),
        0.3,
    );
    let out = tmp.path().join("land");
    let o = idpsim(&["landscape", &soft, "--out", &out.display().to_string(), "--trajectories", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&std::fs::read(out.join("landscape.json")).unwrap()).unwrap();
    assert!(!doc["segments"][0]["equilibria"].as_array().unwrap().is_empty());
    assert!(out.join("landscape.png").exists());
    let neg = spec_at("neg", json!({ "kind": "modern", "tau_y": 0.3 }), json!([1.5, -2.0]), 0.3);
    let out2 = tmp.path().join("land2");
    let o = idpsim(&["landscape", &neg, "--out", &out2.display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("input.segments[0]") && err.contains("negative saliency") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!out2.exists(), "a refused landscape left {}", out2.display());

    // fpe: refused with a dynamic memory layer, naming tau_y.
    let o = idpsim(&["fpe", &soft, "--out", &tmp.path().join("f1").display().to_string(), "--grid", "20"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("model.tau_y") && stderr(&o).lines().count() == 1, "{}", stderr(&o));
    // With instantaneous layers and IDP-equivalent activations: the IDP model's density.
    let same = spec_at("same", json!({ "kind": "modern" }), json!([1.5, 2.25]), 0.8);
    let idp = spec_at("idp", json!({ "kind": "idp" }), json!([1.5, 2.25]), 0.8);
    let load = |s: &str| plan(serde_json::from_str(&std::fs::read_to_string(s).unwrap()).unwrap());
    let (_, a) = idpsim::analysis::fpe_density(&load(&same), 60).unwrap();
    let (_, b) = idpsim::analysis::fpe_density(&load(&idp), 60).unwrap();
    let diff = a.density.iter().zip(&b.density).map(|(u, v)| (u - v).abs()).fold(0f64, f64::max);
    assert!(diff < 1e-9, "modern (identity layers) vs IDP density: {diff}");
    let o = idpsim(&["fpe", &same, "--out", &tmp.path().join("f2").display().to_string(), "--grid", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
