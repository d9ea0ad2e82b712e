//! Two-point noise increments (`"noise": {"increments": "two_point"}`, docs/THEORY.md §13):
//! ±√dt with probability ½ each, one Philox block for 32 neuron blocks. Exact where the answer
//! is exact (the increments themselves, GPU = CPU bit for bit; the Euler chain's moments), and
//! statistical against the exact laws with stated tolerances.

mod common;

use common::{backends, gpu, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::engine::Backend;
use idpsim::rng;
use serde_json::json;

/// An Ornstein–Uhlenbeck ensemble (IDP with saliency 0: drift −x), N = 8, from x(0) = 0.
fn ou(sigma: f64, dt: f64, duration: f64, m: u64, increments: &str) -> idpsim::plan::Plan {
    plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 8, "p": 2 },
        "input": { "segments": [ { "duration": duration, "saliency": [0.0, 0.0] } ] },
        "noise": { "sigma": sigma, "increments": increments },
        "integrator": { "dt": dt },
        "ensemble": { "trajectories": m, "seed": 21, "initial": { "kind": "point", "x": [0, 0, 0, 0, 0, 0, 0, 0] } },
        "observe": { "overlaps": { "every": duration }, "final_state": true }
    }))
}

fn final_states(p: &idpsim::plan::Plan, b: &mut dyn Backend) -> Vec<f64> {
    run(p, b).f32("final_state").unwrap().iter().map(|&v| v as f64).collect()
}

/// Sample mean, variance and excess kurtosis.
fn moments(x: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let m2 = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    (mean, m2, m4 / (m2 * m2) - 3.0)
}

/// The increments are fair coin flips: over 2²⁰ of them (8192 Philox blocks of 128 bits) the
/// fraction of +1 is ½ within 5 standard errors, every bit position too, and neighbouring
/// blocks and steps are uncorrelated.
#[test]
fn increments_are_fair_and_independent() {
    let key = rng::key_from_seed(5);
    let (mut plus, mut n) = (0u64, 0u64);
    let mut by_lane = [0u64; 4];
    let mut agree = 0u64;
    for traj in 0..64u32 {
        for step in 0..8u32 {
            for b in 0..512u32 {
                let z = rng::two_point4(512, b, step, traj, key);
                let next = rng::two_point4(512, b, step + 1, traj, key);
                for l in 0..4 {
                    assert!(z[l] == 1.0 || z[l] == -1.0);
                    plus += (z[l] > 0.0) as u64;
                    by_lane[l] += (z[l] > 0.0) as u64;
                    agree += (z[l] == next[l]) as u64;
                    n += 1;
                }
            }
        }
    }
    let se = (0.25 / n as f64).sqrt();
    let frac = plus as f64 / n as f64;
    assert!((frac - 0.5).abs() < 5.0 * se, "fraction of +1: {frac}");
    for (l, c) in by_lane.iter().enumerate() {
        let f = *c as f64 / (n / 4) as f64;
        assert!((f - 0.5).abs() < 5.0 * (0.25 / (n / 4) as f64).sqrt(), "lane {l}: {f}");
    }
    let a = agree as f64 / n as f64;
    assert!((a - 0.5).abs() < 5.0 * se, "a step agrees with the next {a} of the time");
}

/// One step from x = 0 with zero drift leaves x = σ√dt · z: the increments themselves, equal
/// bit for bit on every backend (N = 300 crosses several 32-block Philox groups), ±σ√dt only.
#[test]
fn one_step_shows_the_same_increments_on_every_backend() {
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "random", "n": 300, "p": 2, "seed": 1 },
        "input": { "segments": [ { "duration": 0.01, "saliency": [0.0, 0.0] } ] },
        "noise": { "sigma": 2.0, "increments": "two_point" },
        "ensemble": { "trajectories": 100, "seed": 3, "initial": { "kind": "point", "x": vec![0.0; 300] } },
        "observe": { "overlaps": { "every": 0.01 }, "final_state": true }
    }));
    let s = p.noise_scale();
    let mut results = Vec::new();
    for mut b in backends() {
        let x = run(&p, b.as_mut()).f32("final_state").unwrap();
        assert!(x.iter().all(|&v| v == s || v == -s), "{}: not ±σ√dt", b.kind());
        results.push((b.kind(), x));
    }
    for (kind, x) in &results[1..] {
        assert!(x.iter().zip(&results[0].1).all(|(a, b)| a.to_bits() == b.to_bits()), "{kind} differs from the CPU");
    }
    assert!(results.len() == 3 || gpu().is_none(), "the CPU reference, the CPU fast path and the GPU");
}

/// The OU chain x ← (1 − dt) x + σ√dt ξ: stationary variance σ²/(2 − dt) with either kind of
/// increment (only E ξ² = 1 enters), but excess kurtosis −2(1 − a²)/(1 + a²), a = 1 − dt,
/// with two-point increments (E ξ⁴ = 1) and 0 with Gaussian ones: at dt = 0.5, −1.2 against 0.
/// 8192 trajectories × 8 neurons after 40 steps (a⁸⁰ ≈ 1e-24: stationary), i.i.d.
#[test]
fn ornstein_uhlenbeck_moments() {
    for mut b in backends() {
        for (increments, want_kurtosis) in [("two_point", -1.2), ("gaussian", 0.0)] {
            let (sigma, dt) = (1.0, 0.5);
            let x = final_states(&ou(sigma, dt, 20.0, 8192, increments), b.as_mut());
            let n = x.len() as f64;
            let (mean, var, kurt) = moments(&x);
            let want = sigma * sigma / (2.0 - dt);
            // Standard errors: variance want·sqrt((2 + κ)/n) (κ the excess kurtosis),
            // kurtosis below sqrt(24/n) for these light-tailed laws.
            let se_var = want * ((2.0 + want_kurtosis) / n).sqrt().max((0.8 / n).sqrt());
            let se_kurt = (24.0 / n).sqrt();
            eprintln!(
                "{} {increments}: variance {var:.4} (exact {want:.4}), excess kurtosis {kurt:.3} (exact {want_kurtosis})",
                b.kind()
            );
            assert!(mean.abs() < 5.0 * (want / n).sqrt());
            assert!((var - want).abs() < 5.0 * se_var, "{increments}: variance {var}");
            assert!((kurt - want_kurtosis).abs() < 5.0 * se_kurt, "{increments}: excess kurtosis {kurt}");
        }
    }
}

/// Weak convergence: E x(T)⁴ of the two-point OU chain from 0 at T = 1 equals the chain's exact
/// value κ₄ + 3κ₂² (κ₂ = s² Σ a^{2j}, κ₄ = −2 s⁴ Σ a^{4j}, s = σ√dt) within 5 standard errors
/// for dt = 0.2, 0.1, 0.05, and its distance to the continuous value 3v² (v = (1 − e^{−2T})/2)
/// shrinks like dt (weak order 1): the error at dt = 0.2 is 3 to 5 times the one at 0.05.
#[test]
fn weak_convergence_over_dt() {
    let mut cpu = CpuBackend::new();
    let (sigma, t) = (1.0f64, 1.0f64);
    let v = sigma * sigma * (1.0 - (-2.0 * t).exp()) / 2.0;
    let exact = 3.0 * v * v;
    let mut errors = Vec::new();
    for dt in [0.2, 0.1, 0.05] {
        let steps = (t / dt).round() as i32;
        let (a, s2) = (1.0 - dt, sigma * sigma * dt);
        let k2: f64 = (0..steps).map(|j| s2 * a.powi(2 * j)).sum();
        let k4: f64 = (0..steps).map(|j| -2.0 * s2 * s2 * a.powi(4 * j)).sum();
        let chain = k4 + 3.0 * k2 * k2;
        let x = final_states(&ou(sigma, dt, t, 65536, "two_point"), &mut cpu);
        let n = x.len() as f64;
        let m4 = x.iter().map(|v| v.powi(4)).sum::<f64>() / n;
        let sd = (x.iter().map(|v| (v.powi(4) - m4).powi(2)).sum::<f64>() / n).sqrt();
        let se = sd / n.sqrt();
        eprintln!("dt = {dt}: E x⁴ = {m4:.5} ± {se:.5}, chain {chain:.5}, continuous {exact:.5}");
        assert!((m4 - chain).abs() < 5.0 * se, "dt = {dt}: {m4} against the chain's {chain}");
        errors.push((chain - exact).abs());
    }
    let ratio = errors[0] / errors[2];
    assert!((3.0..=5.0).contains(&ratio), "weak error ratio {ratio} for dt 0.2 / 0.05: {errors:?}");
}

/// N = 2 first passage: the median time for |m| of the input's dominant memory to reach 0.9
/// (trajectories caught by the other memory never do and count as late),
/// with two-point and Gaussian increments at dt = 0.005, agrees within Monte-Carlo error
/// (4 standard errors of a difference of medians, from each sample's density at its median).
#[test]
fn first_passage_median_matches_the_gaussian_path() {
    let Some(mut g) = gpu() else { return };
    let mut median = |increments: &str| {
        let p = plan(json!({
            "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
            "memories": { "kind": "hadamard", "n": 2, "p": 2 },
            "input": { "segments": [ { "duration": 20.0, "saliency": [1.5, 2.5] } ] },
            "noise": { "sigma": 0.8, "increments": increments },
            "integrator": { "dt": 0.005 },
            "ensemble": { "trajectories": 8192, "seed": 9 },
            "observe": { "overlaps": { "every": 20.0 }, "first_passage": { "memory": 1, "threshold": 0.9 } }
        }));
        // Trajectories that never pass (caught in memory 0's well) count as infinitely late.
        let mut t: Vec<f64> = run(&p, &mut g)
            .f32("first_passage")
            .unwrap()
            .iter()
            .map(|&v| if v.is_nan() { f64::INFINITY } else { v as f64 })
            .collect();
        t.sort_by(f64::total_cmp);
        assert!(t[t.len() * 3 / 4].is_finite(), "three quarters pass within 20 time units");
        let n = t.len();
        let med = t[n / 2];
        // Density at the median from the central 10 % of the sample.
        let (lo, hi) = (t[n * 45 / 100], t[n * 55 / 100]);
        let se = 0.5 / (0.1 / (hi - lo)) / (n as f64).sqrt();
        (med, se)
    };
    let (mt, st) = median("two_point");
    let (mg, sg) = median("gaussian");
    eprintln!("first passage median: two-point {mt:.3} ± {st:.3}, Gaussian {mg:.3} ± {sg:.3}");
    assert!((mt - mg).abs() < 4.0 * (st * st + sg * sg).sqrt(), "{mt} against {mg}");
}
