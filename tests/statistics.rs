//! Layer 3: statistics with known answers, and GPU against CPU over long horizons.

mod common;

use common::{gpu, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::engine::Backend;
use serde_json::json;

/// IDP with every saliency 0 makes the drift −x: an Ornstein–Uhlenbeck process whose
/// Euler–Maruyama chain has stationary variance σ²/(2 − dt) exactly (σ²dt / (1 − (1 − dt)²)).
fn ou_check(backend: &mut dyn Backend) {
    let (sigma, dt) = (1.0f64, 0.01f64);
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 8, "p": 2 },
        "input": { "segments": [ { "duration": 10.0, "saliency": [0.0, 0.0] } ] },
        "noise": { "sigma": sigma },
        "integrator": { "dt": dt },
        "ensemble": { "trajectories": 4100, "seed": 21, "initial": { "kind": "normal", "std": 1.0 } },
        "observe": { "overlaps": { "every": 10.0 }, "final_state": true }
    }));
    let out = run(&p, backend);
    let x = out.f32("final_state").unwrap();
    // After 1000 steps the initial variance has decayed by (1 − dt)^2000 ≈ 2e-9: stationary.
    // Neurons and trajectories are independent, so the 32 800 values are i.i.d. normal.
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let want = sigma * sigma / (2.0 - dt);
    // Standard error of a normal sample variance: want·sqrt(2/(n−1)); 4 SE gives a false
    // failure rate of 6e-5.
    let se = want * (2.0 / (n - 1.0)).sqrt();
    eprintln!("{}: OU variance {var:.5}, exact {want:.5}, 4 SE = {:.5}", backend.kind(), 4.0 * se);
    assert!((var - want).abs() < 4.0 * se, "{}: variance {var}, exact {want}, 4 SE {}", backend.kind(), 4.0 * se);
    assert!(mean.abs() < 4.0 * (want / n).sqrt(), "mean {mean}");
}

#[test]
fn ornstein_uhlenbeck_variance_cpu() {
    ou_check(&mut CpuBackend::new());
}

#[test]
fn ornstein_uhlenbeck_variance_gpu() {
    let Some(mut g) = gpu() else { return };
    ou_check(&mut g);
}

/// Mean overlaps at the end of a 1000-step noisy IDP run, 10⁴ trajectories: the GPU and the
/// CPU reference integrate the same Brownian paths, and their ensemble means agree within
/// Monte-Carlo error (here far closer, since the paths are the same up to rounding).
#[test]
fn long_horizon_means_agree() {
    let Some(mut g) = gpu() else { return };
    let p = plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
        "memories": { "kind": "hadamard", "n": 16, "p": 3, "columns": [1, 2, 3] },
        "input": { "segments": [ { "duration": 10.0, "weights": [1.2, 2.0, 0.8] } ] },
        "noise": { "sigma": 0.8 },
        "ensemble": { "trajectories": 10000, "seed": 4 },
        "observe": { "overlaps": { "every": 1.0 } }
    }));
    let c = run(&p, &mut CpuBackend::new());
    let gg = run(&p, &mut g);
    let (cm, cs, ca) = c.sums.finish();
    let (gm, gs, ga) = gg.sums.finish();
    let last = (p.n_saves() - 1) * p.p();
    for mu in 0..p.p() {
        let k = last + mu;
        let se = cs[k] as f64 / (p.ensemble.trajectories as f64).sqrt();
        let sea = ((cs[k] as f64).powi(2) + (cm[k] as f64).powi(2) - (ca[k] as f64).powi(2)).max(0.0).sqrt()
            / (p.ensemble.trajectories as f64).sqrt();
        eprintln!(
            "memory {mu}: mean m cpu {} gpu {} (SE {se:.2e}); mean |m| cpu {} gpu {} (SE {sea:.2e})",
            cm[k], gm[k], ca[k], ga[k]
        );
        assert!(((gm[k] - cm[k]) as f64).abs() < 4.0 * se * 2f64.sqrt(), "mean m_{mu}");
        assert!(((ga[k] - ca[k]) as f64).abs() < 4.0 * sea * 2f64.sqrt(), "mean |m_{mu}|");
        assert!(((gs[k] - cs[k]) as f64).abs() < 0.05 * cs[k] as f64, "std m_{mu}");
    }
    // The dominant memory is retrieved: mean |m_1| near tanh(γ(2)) = 0.957 less noise.
    assert!(ca[last + 1] > 0.8, "dominant memory not retrieved: {}", ca[last + 1]);
}

/// Hadamard memories are orthogonal, so the saliencies are exactly the weights.
#[test]
fn hadamard_saliency_readout_is_exact() {
    let w = [1.5, 2.25, -0.75, 0.0];
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 64, "p": 4, "columns": [3, 17, 40, 63] },
        "input": { "segments": [ { "duration": 0.1, "weights": w }, { "duration": 0.1, "vector": (0..64).map(|i| idpsim::plan::memories::hadamard_entry(i, 17) as f64 * 0.5).collect::<Vec<_>>() } ] },
        "ensemble": { "trajectories": 1 }
    }));
    let want: Vec<f32> = w.iter().map(|&v| v as f32).collect();
    assert_eq!(p.input.segments[0].coef, want);
    assert_eq!(p.input.segments[1].coef, vec![0.0, 0.5, 0.0, 0.0]);
}

/// Zeroing the diagonal subtracts (Σα/N) Ψ(x) from the IDP field (and (P/N) Ψ(x) from the
/// classic one): one noiseless step from a fixed point differs by exactly dt times that.
#[test]
fn zero_diagonal_shifts_the_field() {
    let x0: Vec<f64> = (0..8).map(|i| (i as f64 - 3.5) * 0.3).collect();
    for (model, extra) in [("idp", json!({ "saliency": [1.5, 1.0] })), ("classic", json!({ "weights": [0.2, 0.1] }))] {
        let mut states = Vec::new();
        for zd in [false, true] {
            let mut seg = extra.clone();
            seg["duration"] = json!(0.01);
            let p = plan(json!({
                "model": { "kind": model, "zero_diagonal": zd, "activation": { "kind": "tanh", "slope": 2.0 } },
                "memories": { "kind": "hadamard", "n": 8, "p": 2, "columns": [1, 6] },
                "input": { "segments": [ seg ] },
                "ensemble": { "trajectories": 1, "initial": { "kind": "point", "x": x0 } },
                "observe": { "final_state": true }
            }));
            let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::new())];
            if let Some(g) = gpu() {
                backends.push(Box::new(g));
            }
            for b in backends.iter_mut() {
                states.push((zd, b.kind(), run(&p, b.as_mut()).f32("final_state").unwrap()));
            }
        }
        // IDP: Σα/N = (1.5 + 1.0)/8; classic: P/N = 2/8.
        let shift = if model == "idp" { 2.5 / 8.0 } else { 2.0 / 8.0 };
        for (zd, kind, x) in &states {
            if !*zd {
                continue;
            }
            let (_, _, base) = states.iter().find(|s| !s.0 && s.1 == *kind).unwrap();
            for i in 0..8 {
                let want = base[i] as f64 - 0.01 * shift * (2.0 * x0[i]).tanh();
                assert!(((x[i] as f64) - want).abs() < 1e-6, "{model} {kind} neuron {i}: {} vs {want}", x[i]);
            }
        }
    }
}
