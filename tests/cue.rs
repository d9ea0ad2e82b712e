//! Cued initial states (`"initial": {"kind": "memory", "index": μ | "target", "flip": f}`): a
//! memory with a fraction f of its signs flipped per trajectory (counter RNG stream CUE), the
//! cued memory recorded as the trajectory's target; and the textbook check it enables: a classic
//! Hopfield network retrieves from 10 % flipped cues at load P/N = 0.05, not at 0.25.

mod common;

use common::{backends, gpu, plan, run};
use idpsim::spec::Spec;
use idpsim::stats::retrieval::RetrievalStats;
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
    let (n, f, m) = (252usize, 0.1f64, 2000usize);
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

/// The classic Hopfield network (δ = 10, zeroed diagonal, no input, σ = 0, N = 512) retrieves
/// the cued memory from 10 % flipped cues at load P/N ≈ 0.05 (P = 26: at least 95 % of 128
/// trajectories end with |m| ≥ 0.9, on every backend) and not at 0.25 (P = 128: at most 10 %, on
/// the CPU reference; the kernels at large P are checked against it in tests/parity.rs and
/// tests/limits.rs), far on either side of the capacity ≈ 0.138 of Amit, Gutfreund & Sompolinsky
/// (1985). The two loads are two tests, so that they run side by side. (N = 512 is the largest
/// N whose kernels keep the state in a private array of 128 neuron blocks on lavapipe: larger N
/// takes the 256-block size class, whose build takes about 45 s more.)
fn classic_capacity_from_flipped_cues(p: usize, lo: f64, hi: f64, every_backend: bool) {
    let n = 512;
    let plan = plan(json!({
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 3 },
        "input": { "segments": [ { "duration": 10.0, "cue": { "amplitude": 0.0 } } ] },
        "integrator": { "scheme": "euler_maruyama", "dt": 0.05 },
        "ensemble": { "trajectories": 128, "seed": 7, "initial": { "kind": "memory", "index": 0, "flip": 0.1 } },
        "observe": { "overlaps": { "every": 10.0 }, "retrieval": { "threshold": 0.9, "window": 1.0 } }
    }));
    let load = p as f64 / n as f64;
    let mut all = backends();
    if !every_backend {
        all.truncate(1);
    }
    for mut b in all {
        let out = run(&plan, b.as_mut());
        let acc = out.findings.get::<RetrievalStats>().unwrap().overall().0;
        eprintln!("classic, P/N = {load}, {}: retrieval accuracy {acc:.3}", b.kind());
        assert!((lo..=hi).contains(&acc), "P/N = {load}, {}: accuracy {acc}", b.kind());
    }
}

#[test]
fn classic_retrieves_flipped_cues_at_load_0_05() {
    classic_capacity_from_flipped_cues(26, 0.95, 1.0, true);
}

#[test]
fn classic_does_not_retrieve_flipped_cues_at_load_0_25() {
    classic_capacity_from_flipped_cues(128, 0.0, 0.1, false);
}

/// A cue-input spec: `model` with a 10 %-flipped initial cue of memory 1 and two segments, the
/// first a cue input with the initial state's signs, the second with its own flips of a random
/// memory.
fn cue_spec(model: &str, n: usize, m: u64, sigma: f64, chunk: u64) -> serde_json::Value {
    json!({
        "model": { "kind": model, "activation": { "kind": "tanh", "slope": 3.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": n, "p": 6, "seed": 4 },
        "input": { "segments": [
            { "duration": 0.05, "cue": { "amplitude": 0.8 } },
            { "duration": 0.05, "cue": { "index": "random", "amplitude": 1.5, "flip": 0.3 }, "ramp": 0.02 }
        ] },
        "noise": { "sigma": sigma },
        "ensemble": { "trajectories": m, "seed": 9, "initial": { "kind": "memory", "index": 1, "flip": 0.1, "jitter": 0.2 } },
        "observe": { "overlaps": { "every": 0.01, "per_trajectory": true }, "final_state": true,
                     "energy": { "every": 0.01 }, "retrieval": { "threshold": 0.5, "window": 0.01 } },
        "run": { "chunk_trajectories": chunk }
    })
}

/// Cue inputs on both backends and every GPU layout agree with the CPU reference (20 steps, the
/// per-step tolerance of tests/parity.rs), and the GPU gives the same bytes however the ensemble
/// is chunked. One test per model, so that their kernels build side by side.
fn cue_inputs_match_the_cpu_reference_and_ignore_chunking(model: &str) {
    let Some(mut g) = gpu() else { return };
    let mut p = plan(cue_spec(model, 37, 70, 0.4, 4096));
    let cpu = run(&p, &mut idpsim::cpu::CpuBackend::new());
    for layout in
        [idpsim::plan::LayoutChoice::Thread, idpsim::plan::LayoutChoice::Group, idpsim::plan::LayoutChoice::Tile]
    {
        p.run.layout = layout;
        let out = run(&p, &mut g);
        for name in ["final_state", "overlaps", "energy"] {
            let (Some(a), Some(b)) = (out.f32(name), cpu.f32(name)) else {
                assert!(name == "energy" && out.f32(name).is_none() && cpu.f32(name).is_none(), "{name}");
                continue;
            };
            let abs = if name == "energy" { 2e-4 * 37.0 } else { 2e-4 };
            common::assert_close(&format!("{model} {layout:?} {name}"), &a, &b, abs, 2e-4);
        }
        let (gt, ct): (Vec<i32>, Vec<i32>) =
            (out.values("retrieval_targets").unwrap(), cpu.values("retrieval_targets").unwrap());
        assert_eq!(gt, ct, "{model} {layout:?}: retrieval targets");
    }
    let whole = run(&plan(cue_spec(model, 37, 70, 0.4, 4096)), &mut g);
    let chunked = run(&plan(cue_spec(model, 37, 70, 0.4, 16)), &mut g);
    assert_eq!(whole.f32("final_state"), chunked.f32("final_state"), "{model}: chunking changed the bytes");
    // Segment 0 cues memory 1; segment 1 a random memory per trajectory (both backends).
    let targets: Vec<i32> = cpu.values("retrieval_targets").unwrap();
    assert!(targets.chunks(2).all(|t| t[0] == 1), "{model}: segment 0's target is the initial cue's memory");
    assert!(targets.chunks(2).any(|t| t[1] != targets[1]), "{model}: segment 1 draws its memory per trajectory");
}

#[test]
fn classic_cue_inputs_match_the_cpu_reference_and_ignore_chunking() {
    cue_inputs_match_the_cpu_reference_and_ignore_chunking("classic");
}

#[test]
fn idp_cue_inputs_match_the_cpu_reference_and_ignore_chunking() {
    cue_inputs_match_the_cpu_reference_and_ignore_chunking("idp");
}

/// Without flips a cue input is exactly a vector input u = a ξ^μ: the classic model's bias gives
/// the same bytes on the CPU reference; the IDP model's saliencies α = Ξᵀu/N (f32 sums on the
/// device, f64 at resolution for `vector`) agree to 1e-5 on every backend. With the initial
/// state's flips, u = a x(0) exactly (no jitter, amplitude 1).
#[test]
fn a_cue_is_the_corrupted_memory_as_input() {
    let (n, p, mu, a) = (41usize, 5usize, 3usize, 0.7f64);
    let base = |model: &str, seg: serde_json::Value| {
        json!({
            "model": { "kind": model, "activation": { "kind": "tanh", "slope": 2.0 } },
            "memories": { "kind": "random", "n": n, "p": p, "seed": 8 },
            "input": { "segments": [ seg ] },
            "noise": { "sigma": 0.3 },
            "ensemble": { "trajectories": 50, "seed": 2 },
            "observe": { "overlaps": { "every": 0.02, "per_trajectory": true }, "final_state": true }
        })
    };
    let cue = json!({ "duration": 0.1, "cue": { "index": mu, "amplitude": a } });
    let pl = plan(base("classic", cue.clone()));
    let xi: Vec<f64> = (0..n).map(|i| pl.memories.get(i, mu) as f64 * a).collect();
    let vector = json!({ "duration": 0.1, "vector": xi });
    for model in ["classic", "idp"] {
        for mut b in backends() {
            let with_cue = run(&plan(base(model, cue.clone())), b.as_mut());
            let with_vector = run(&plan(base(model, vector.clone())), b.as_mut());
            let (c, v) = (with_cue.f32("final_state").unwrap(), with_vector.f32("final_state").unwrap());
            if model == "classic" && b.kind() == "cpu" {
                assert_eq!(c, v, "classic cue ≠ vector input");
            } else {
                common::assert_close(&format!("{model} on {}", b.kind()), &c, &v, 1e-5, 1e-5);
            }
        }
    }
    // The initial state's signs: u = x(0) when both come from one cue.
    let pl = plan(json!({
        "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 2.0 } },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 8 },
        "input": { "segments": [ { "duration": 0.1, "cue": {} } ] },
        "ensemble": { "trajectories": 20, "seed": 2, "initial": { "kind": "memory", "index": 2, "flip": 0.4 } }
    }));
    let mut flipped = 0;
    for j in 0..20u64 {
        let x0 = idpsim::cpu::trajectory::initial_state(&pl, j);
        let u = idpsim::model::input::cue_vector(&pl, 0, j);
        assert_eq!(&x0[..n], &u[..], "trajectory {j}: the cue input is not the initial cue");
        flipped += (0..n).filter(|&i| u[i] != pl.memories.get(i, 2)).count();
    }
    assert!(flipped > 0, "no sign was flipped");
}

/// Bad cue inputs are refused, naming the field.
#[test]
fn bad_cue_inputs_are_refused() {
    let spec = |model: &str, cue: serde_json::Value, initial: serde_json::Value| {
        json!({
            "model": { "kind": model },
            "memories": { "kind": "random", "n": 16, "p": 3, "seed": 1 },
            "input": { "segments": [ { "duration": 0.1, "cue": cue } ] },
            "ensemble": { "trajectories": 4, "initial": initial }
        })
    };
    let cases = [
        ("idp", json!({}), json!({ "kind": "normal" }), "input.segments[0].cue.index"),
        ("idp", json!({ "index": 3 }), json!({ "kind": "normal" }), "input.segments[0].cue.index"),
        ("idp", json!({ "index": "target" }), json!({ "kind": "normal" }), "input.segments[0].cue.index"),
        ("idp", json!({}), json!({ "kind": "memory", "index": "target" }), "input.segments[0].cue.index"),
        ("classic", json!({ "index": 0, "flip": 1.5 }), json!({ "kind": "normal" }), "input.segments[0].cue.flip"),
        (
            "classic",
            json!({ "index": 0, "amplitude": 1e9 }),
            json!({ "kind": "normal" }),
            "input.segments[0].cue.amplitude",
        ),
        ("modern", json!({ "index": 0 }), json!({ "kind": "normal" }), "input.segments[0].cue"),
    ];
    for (model, cue, initial, field) in cases {
        let s = Spec::from_json(&spec(model, cue.clone(), initial).to_string()).unwrap();
        let e = idpsim::resolve::plan(&s, std::path::Path::new(".")).expect_err(&format!("{cue} accepted"));
        assert_eq!(e.field, field, "{cue}: {e}");
    }
}

/// A cue input is every trajectory's own corrupted memory, so there is no single input for the
/// theory, the landscape or the grid solver to describe: each refuses it, naming the field,
/// and writes nothing; a run's state histogram draws no equilibria (they were drawn for zero
/// input). Random weights likewise.
#[test]
fn analyses_refuse_inputs_that_differ_between_trajectories() {
    let tmp = tempfile::tempdir().unwrap();
    for (field, segment) in [
        ("input.segments[0].cue", json!({ "duration": 2.0, "cue": { "index": 1, "amplitude": 2.0 } })),
        ("input.segments[0].random_weights", json!({ "duration": 2.0, "random_weights": {} })),
    ] {
        let doc = json!({
            "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
            "memories": { "kind": "hadamard", "n": 2, "p": 2 },
            "input": { "segments": [segment] },
            "noise": { "sigma": 0.8 },
            "ensemble": { "trajectories": 64, "seed": 1, "initial": { "kind": "memory", "index": 1 } },
            "observe": { "histogram": { "of": "state", "axes": [0, 1], "bins": [8, 8], "range": [[-4, 4], [-4, 4]] } }
        });
        let spec = tmp.path().join("spec.json");
        std::fs::write(&spec, doc.to_string()).unwrap();
        let s = spec.to_str().unwrap();
        let out = tmp.path().join("out");
        let o = out.to_str().unwrap();
        for args in [vec!["theory", s], vec!["landscape", s, "--out", o], vec!["fpe", s, "--out", o, "--grid", "20"]] {
            let r = common::idpsim(&args);
            assert_eq!(r.status.code(), Some(2), "{args:?}: {}", common::stderr(&r));
            assert!(common::stderr(&r).contains(field), "{args:?}: {}", common::stderr(&r));
            assert!(!out.exists(), "{args:?} wrote {out:?}");
        }
        let r = common::idpsim(&["run", s, "--out", o, "--backend", "cpu", "--quiet"]);
        assert!(r.status.success(), "{}", common::stderr(&r));
        let h: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("histogram.json")).unwrap()).unwrap();
        assert_eq!(h["markers"], json!([]), "{field}: equilibria drawn for an input no trajectory had");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
