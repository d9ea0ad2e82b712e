//! The modern three-layer model: its IDP limit, the input filter's response, the softmax
//! variant's energy, and GPU = CPU.

mod common;

use common::{assert_close, backends, gpu, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::model::modern;
use idpsim::plan::Plan;
use serde_json::{Value, json};

fn spec(model: Value, segments: Value, sigma: f64, m: u64, dt: f64, every: f64) -> Value {
    json!({
        "name": "modern-test",
        "model": model,
        "memories": { "kind": "hadamard", "n": 64, "p": 4, "columns": [1, 2, 3, 4] },
        "input": { "segments": segments },
        "noise": { "sigma": sigma },
        "integrator": { "dt": dt },
        "ensemble": { "trajectories": m, "seed": 21 },
        "observe": { "overlaps": { "every": every, "per_trajectory": true }, "final_state": true }
    })
}

fn switching() -> Value {
    json!([
        { "duration": 0.3, "weights": [1.2, 2.5, 0.9, 1.1] },
        { "duration": 0.2, "ramp": 0.05, "noise": 0.2, "random_weights": { "dominant_memory": "random", "normalize_sum": 6.0 } }
    ])
}

/// Ψ_α = Ψ_y = identity and τ_α = τ_y = 0 is the IDP model: same seed, same bits.
#[test]
fn instantaneous_identity_layers_are_the_idp_model() {
    let idp = plan(spec(json!({ "kind": "idp" }), switching(), 0.5, 200, 0.01, 0.05));
    let md = plan(spec(json!({ "kind": "modern" }), switching(), 0.5, 200, 0.01, 0.05));
    for mut b in backends() {
        let a = run(&idp, b.as_mut());
        let c = run(&md, b.as_mut());
        assert_eq!(a.f32("overlaps"), c.f32("overlaps"), "{}: overlaps", b.kind());
        assert_eq!(a.f32("final_state"), c.f32("final_state"), "{}: final states", b.kind());
    }
}

/// With τ_α = τ_y = τ > 0 the modern model lags the IDP model by O(τ): halving τ halves the
/// largest final-state difference (dt = 0.001 ≪ τ, so the Euler error in the filters is small).
#[test]
fn the_gap_to_the_idp_model_shrinks_linearly_with_tau() {
    let idp = plan(spec(json!({ "kind": "idp" }), switching(), 0.5, 64, 0.001, 0.1));
    let gap = |tau: f64| {
        let md =
            plan(spec(json!({ "kind": "modern", "tau_alpha": tau, "tau_y": tau }), switching(), 0.5, 64, 0.001, 0.1));
        let mut cpu = CpuBackend::new();
        let a = run(&idp, &mut cpu).f32("final_state").unwrap();
        let b = run(&md, &mut cpu).f32("final_state").unwrap();
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) as f64
    };
    let (g2, g1) = (gap(0.02), gap(0.01));
    let ratio = g2 / g1;
    eprintln!("largest final-state gap: τ = 0.02 → {g2:.5}, τ = 0.01 → {g1:.5}, ratio {ratio:.3}");
    assert!(g1 > 1e-4, "the gap at τ = 0.01 ({g1}) is too small to measure");
    assert!((1.6..2.4).contains(&ratio), "gap ratio {ratio} is not ≈ 2 (first order in τ)");
}

/// A step input switched on at t = 0, noise off: α(t_k) = q (1 − (1 − dt/τ)^k) exactly (Euler on
/// the filter), within 0.19·dt/τ of the continuous response q (1 − e^{−t/τ}).
#[test]
fn the_saliency_follows_the_low_pass_response() {
    let tau = 0.5;
    let q = [1.0f64, 0.5, 0.0, 2.0];
    let dt = 0.01;
    let pl = plan(spec(
        json!({ "kind": "modern", "tau_alpha": tau }),
        json!([{ "duration": 2.0, "saliency": q }]),
        0.0,
        64,
        dt,
        0.01,
    ));
    for mut b in backends() {
        let out = run(&pl, b.as_mut());
        let saves = out.f32("saves").unwrap();
        let (t, qn, qa) = (pl.n_saves(), pl.saves().q(), pl.saves().y_first() + pl.p());
        for j in [0usize, 63] {
            for k in 0..t {
                for (mu, &qm) in q.iter().enumerate() {
                    let a = saves[(j * t + k) * qn + qa + mu] as f64;
                    let discrete = qm * (1.0 - (1.0 - dt / tau).powi(k as i32));
                    let continuous = qm * (1.0 - (-(k as f64) * dt / tau).exp());
                    assert!(
                        (a - discrete).abs() < 2e-5 * (1.0 + qm),
                        "{}: α_{mu}({k}) = {a}, Euler {discrete}",
                        b.kind()
                    );
                    assert!((a - continuous).abs() < 0.19 * dt / tau * qm + 2e-5, "{}: α_{mu}({k}) = {a}", b.kind());
                }
            }
        }
    }
}

fn softmax_plan(sigma: f64, m: u64) -> Plan {
    let mut s = spec(
        json!({ "kind": "modern", "activation": { "kind": "identity" }, "psi_y": { "softmax": { "beta": 4.0 } } }),
        json!([{ "duration": 1.0, "weights": [1.2, 2.5, 0.9, 1.1] }]),
        sigma,
        m,
        0.01,
        0.01,
    );
    s["observe"]["energy"] = json!({ "per_trajectory": true });
    s["ensemble"]["initial"] = json!({ "kind": "normal", "std": 2.0 });
    plan(s)
}

/// Without noise the softmax flow descends E_tr(x; α) = −(N/β) log Σ exp(β α_μ m_μ) + ½|x|²:
/// the saved energy never increases (to f32 rounding of E, 1e-5 relative).
#[test]
fn the_softmax_flow_descends_its_energy() {
    let pl = softmax_plan(0.0, 128);
    for mut b in backends() {
        let out = run(&pl, b.as_mut());
        let e = out.f32("energy").unwrap();
        let t = pl.n_saves();
        let mut fell = 0.0;
        for j in 0..128 {
            let row = &e[j * t..(j + 1) * t];
            for k in 1..t {
                assert!(
                    row[k] <= row[k - 1] + 1e-5 * row[k - 1].abs(),
                    "{}: trajectory {j}: E rose from {} to {} at save {k}",
                    b.kind(),
                    row[k - 1],
                    row[k]
                );
            }
            fell += (row[0] - row[t - 1]) as f64;
        }
        assert!(fell / 128.0 > 1.0, "{}: the energy hardly moved ({})", b.kind(), fell / 128.0);
    }
}

/// The drift the integrator applies, (x(dt) − x(0))/dt without noise, is −∇E_tr by central
/// differences of the f64 energy, at several random points.
#[test]
fn the_softmax_drift_is_minus_the_energy_gradient() {
    let base = softmax_plan(0.0, 1);
    let n = base.n();
    let mut state = 12345u64;
    let mut rnd = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f64 / (1u64 << 24) as f64) * 4.0 - 2.0
    };
    let alpha: Vec<f64> = base.input.segments[0].coef64.clone();
    for trial in 0..5 {
        let x0: Vec<f64> = (0..n).map(|_| rnd()).collect();
        let mut s = serde_json::to_value(&base.spec).unwrap();
        s["ensemble"]["initial"] = json!({ "kind": "point", "x": x0 });
        s["input"]["segments"][0]["duration"] = json!(0.01);
        s["observe"] = json!({ "final_state": true });
        let one = plan(s);
        let x1 = run(&one, &mut CpuBackend::new()).f32("final_state").unwrap();
        let h = 1e-4;
        let mut worst = 0f64;
        for i in 0..n {
            let (mut xp, mut xm) = (x0.clone(), x0.clone());
            xp[i] += h;
            xm[i] -= h;
            let grad =
                (modern::energy_f64(&one, 4.0, &alpha, &xp) - modern::energy_f64(&one, 4.0, &alpha, &xm)) / (2.0 * h);
            let x0f = x0[i] as f32 as f64;
            let drift = (x1[i] as f64 - x0f) / 0.01;
            worst = worst.max((drift + grad).abs());
        }
        assert!(worst < 2e-3, "trial {trial}: drift differs from −∇E_tr by {worst}");
    }
}

fn dynamic_plan(layout: &str, steps: f64, m: u64, sigma: f64) -> Plan {
    let mut s = spec(
        json!({
            "kind": "modern", "tau_alpha": 0.5, "tau_y": 0.2, "tau_x": 2.0, "psi_alpha": "tanh", "psi_y": "tanh",
            "sigma_alpha": 0.3, "sigma_y": 0.2
        }),
        json!([
            { "duration": steps * 0.005, "weights": [1.2, 2.5, 0.9, 1.1] },
            { "duration": steps * 0.005, "ramp": 0.02, "noise": 0.2, "random_weights": { "dominant_memory": "random", "normalize_sum": 6.0 } }
        ]),
        sigma,
        m,
        0.01,
        0.01,
    );
    s["run"] = json!({ "layout": layout });
    plan(s)
}

/// Per element over 20 steps (overlaps, y, α and final states, every layout, every layer
/// dynamic and noisy); the softmax variant with its energy too.
#[test]
fn gpu_matches_cpu_step_by_step() {
    let Some(mut g) = gpu() else { return };
    for layout in ["thread", "group", "tile"] {
        let pl = dynamic_plan(layout, 20.0, 100, 0.5);
        let a = run(&pl, &mut g);
        let b = run(&pl, &mut CpuBackend::new());
        assert_close(&format!("{layout}: saves"), &a.f32("saves").unwrap(), &b.f32("saves").unwrap(), 1e-4, 1e-4);
        assert_close(
            &format!("{layout}: final states"),
            &a.f32("final_state").unwrap(),
            &b.f32("final_state").unwrap(),
            1e-4,
            1e-4,
        );
        let mut s = serde_json::to_value(&softmax_plan(0.3, 100).spec).unwrap();
        s["run"] = json!({ "layout": layout });
        s["input"]["segments"][0]["duration"] = json!(0.2);
        let sp = plan(s);
        let a = run(&sp, &mut g);
        let b = run(&sp, &mut CpuBackend::new());
        assert_close(
            &format!("{layout}: softmax saves"),
            &a.f32("saves").unwrap(),
            &b.f32("saves").unwrap(),
            1e-4,
            1e-4,
        );
    }
}

/// Over 1000 steps trajectories decorrelate through rounding; the ensembles must agree
/// statistically: final mean |m_μ| and mean α_μ within 5 standard errors (512 trajectories).
#[test]
fn gpu_matches_cpu_statistically_over_long_runs() {
    let Some(mut g) = gpu() else { return };
    let pl = dynamic_plan("auto", 1000.0, 512, 0.8);
    let a = run(&pl, &mut g);
    let b = run(&pl, &mut CpuBackend::new());
    let (t, q, p) = (pl.n_saves(), pl.saves().q(), pl.p());
    let col = |s: &[f32], k: usize| -> Vec<f64> { (0..512).map(|j| s[(j * t + t - 1) * q + k] as f64).collect() };
    for k in (0..p).chain(pl.saves().y_first() + p..pl.saves().y_first() + 2 * p) {
        let (x, y) = (col(&a.f32("saves").unwrap(), k), col(&b.f32("saves").unwrap(), k));
        let f = |v: &[f64]| if k < p { v.iter().map(|z| z.abs()).collect::<Vec<_>>() } else { v.to_vec() };
        let (x, y) = (f(&x), f(&y));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let var = |v: &[f64]| {
            let m = mean(v);
            v.iter().map(|z| (z - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)
        };
        let se = ((var(&x) + var(&y)) / 512.0).sqrt();
        assert!(
            (mean(&x) - mean(&y)).abs() < 5.0 * se + 1e-6,
            "quantity {k}: {} vs {} (s.e. {se})",
            mean(&x),
            mean(&y)
        );
    }
}

/// The energy observable exists only where E_tr is the flow's energy.
#[test]
fn energy_needs_the_softmax_variant_with_identity_features() {
    let mut s = spec(json!({ "kind": "modern" }), switching(), 0.0, 1, 0.01, 0.05);
    s["observe"]["energy"] = json!({});
    let e = idpsim::resolve::plan(&idpsim::spec::Spec::from_json(&s.to_string()).unwrap(), std::path::Path::new("."))
        .unwrap_err();
    assert_eq!(e.field, "observe.energy", "{e}");
    assert!(e.message.contains("softmax"), "{e}");
}
