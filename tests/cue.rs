//! Cued initial states (`"initial": {"kind": "memory", "index": μ | "target", "flip": f}`): a
//! memory with a fraction f of its signs flipped per trajectory (counter RNG stream CUE), the
//! cued memory recorded as the trajectory's target; and the textbook check it enables: a classic
//! Hopfield network retrieves from 10 % flipped cues at load P/N = 0.05, not at 0.25.

mod common;

use common::{backends, gpu, plan, run};
use serde_json::json;

/// Per-trajectory flip counts from the saved overlap at t = 0: with x(0) = ±1 (amplitude 1, no
/// jitter), m₀(0) = tanh(δ)(1 − 2k/N) for k flipped signs.
fn flip_counts(overlaps: &[f32], m: usize, saves: usize, p: usize, n: usize, slope: f64) -> Vec<i64> {
    (0..m)
        .map(|j| {
            let m0 = overlaps[j * saves * p] as f64;
            let k = n as f64 * (1.0 - m0 / slope.tanh()) / 2.0;
            assert!((k - k.round()).abs() < 1e-2, "m₀ = {m0} is not tanh(δ)(1 − 2k/N)");
            k.round() as i64
        })
        .collect()
}

/// The number of flipped signs is Binomial(N, f) per trajectory: its mean and variance over
/// 2000 trajectories within 5 standard errors; the same counts on every backend (the flips are
/// drawn from the counter RNG), and under any chunking.
#[test]
fn flipped_cues_have_binomial_counts() {
    let (n, f, m) = (400usize, 0.1f64, 2000usize);
    let spec = |chunk: u64| {
        json!({
            "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 1.0 } },
            "memories": { "kind": "random", "n": n, "p": 3, "seed": 2 },
            "input": { "segments": [ { "duration": 0.02, "weights": [0.0, 0.0, 0.0] } ] },
            "ensemble": { "trajectories": m, "seed": 5, "initial": { "kind": "memory", "index": 0, "flip": f } },
            "observe": { "overlaps": { "every": 0.01, "per_trajectory": true } },
            "run": { "chunk_trajectories": chunk }
        })
    };
    let mut first: Option<Vec<i64>> = None;
    for mut b in backends() {
        for chunk in [4096u64, 192] {
            let out = run(&plan(spec(chunk)), b.as_mut());
            let k = flip_counts(&out.f32("overlaps").unwrap(), m, 3, 3, n, 1.0);
            match &first {
                None => first = Some(k),
                Some(k0) => assert_eq!(&k, k0, "{} (chunks of {chunk}): other flips", b.kind()),
            }
        }
    }
    let k = first.unwrap();
    let mf = m as f64;
    let mean = k.iter().sum::<i64>() as f64 / mf;
    let var = k.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (mf - 1.0);
    let (want_mean, want_var) = (n as f64 * f, n as f64 * f * (1.0 - f));
    eprintln!("flips per trajectory: mean {mean:.3} (exact {want_mean}), variance {var:.3} (exact {want_var})");
    assert!((mean - want_mean).abs() < 5.0 * (want_var / mf).sqrt(), "mean {mean}");
    assert!((var - want_var).abs() < 5.0 * want_var * (2.0 / (mf - 1.0)).sqrt(), "variance {var}");
}

/// `"index": "target"` cues each trajectory's own target (a random dominant memory): its
/// overlap at t = 0 is tanh(δ) and it is the target the retrieval observer records.
#[test]
fn the_target_can_be_the_cue() {
    let p = plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 2.0 } },
        "memories": { "kind": "random", "n": 64, "p": 5, "seed": 2 },
        "input": { "segments": [ { "duration": 0.05, "random_weights": { "dominant_memory": "random" } } ] },
        "ensemble": { "trajectories": 300, "seed": 5, "initial": { "kind": "memory", "index": "target" } },
        "observe": { "overlaps": { "every": 0.01, "per_trajectory": true }, "retrieval": { "threshold": 0.5, "window": 0.01 } }
    }));
    for mut b in backends() {
        let out = run(&p, b.as_mut());
        let ov = out.f32("overlaps").unwrap();
        let targets: Vec<i32> = out.values("retrieval_targets").unwrap();
        assert!(targets.iter().any(|&t| t != targets[0]), "random targets differ between trajectories");
        for (j, &t) in targets.iter().enumerate() {
            let m = ov[j * 6 * 5 + t as usize];
            assert!((m - 2f32.tanh()).abs() < 1e-5, "{}: trajectory {j}: m_target(0) = {m}", b.kind());
        }
    }
}

/// The classic Hopfield network (δ = 10, zeroed diagonal, no input, σ = 0) retrieves the cued
/// memory from 10 % flipped cues at load P/N = 0.05 (N = 500, P = 25: at least 95 % of 256
/// trajectories end with |m| ≥ 0.9) and not at 0.25 (P = 125: at most 20 %), far on either side of
/// the capacity ≈ 0.138 of Amit, Gutfreund & Sompolinsky (1985).
#[test]
fn classic_capacity_from_flipped_cues() {
    let Some(mut g) = gpu() else { return };
    for (p, lo, hi) in [(25usize, 0.95, 1.0), (125, 0.0, 0.2)] {
        let plan = plan(json!({
            "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
            "memories": { "kind": "random", "n": 500, "p": p, "seed": 3 },
            "input": { "segments": [ { "duration": 10.0, "weights": vec![0.0; p] } ] },
            "ensemble": { "trajectories": 256, "seed": 7, "initial": { "kind": "memory", "index": 0, "flip": 0.1 } },
            "observe": { "overlaps": { "every": 10.0 }, "retrieval": { "threshold": 0.9, "window": 1.0 } }
        }));
        let out = run(&plan, &mut g);
        let acc = out.retrieval.as_ref().unwrap().overall().0;
        eprintln!("classic, P/N = {}: retrieval accuracy {acc:.3}", p as f64 / 500.0);
        assert!((lo..=hi).contains(&acc), "P/N = {}: accuracy {acc}", p as f64 / 500.0);
    }
}
