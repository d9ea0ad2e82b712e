//! The CPU fast path (`cpu_fast`: tiles of trajectories whose fields are blocked matrix
//! products) against the CPU reference, per element, as tests/parity.rs checks the GPU: after
//! one step and after 20, below and above the sizes where it pays (P from 1 to 250), every
//! model and observer. Its own results must not depend on chunking, threads or slicing.

mod common;

use common::{assert_close, assert_touched, idp_spec, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::engine::{self, Bar, Checkpointing};
use serde_json::json;

/// One step: the products sum in another order (P or N terms, each rounding by at most half an
/// f32 spacing) and Ψ comes from a polynomial exponential (3e-7), scaled by dt: 2e-5.
const ONE_STEP_TOL: f32 = 2e-5;
/// Twenty steps: per-step differences add up and pass through the (contracting) dynamics.
const TWENTY_STEP_TOL: f32 = 2e-4;

fn check(name: &str, spec: serde_json::Value, tol: f32) {
    let p = plan(spec);
    let reference = run(&p, &mut CpuBackend::new());
    let fast = run(&p, &mut CpuBackend::fast());
    let (fx, cx) = (&fast.f32("final_state").unwrap(), &reference.f32("final_state").unwrap());
    assert_touched(&format!("{name} final state"), fx, 0.0);
    assert_close(&format!("{name} final state"), fx, cx, tol, tol);
    let (fo, co) = (&fast.f32("overlaps").unwrap(), &reference.f32("overlaps").unwrap());
    assert_close(&format!("{name} overlaps"), fo, co, tol, tol);
    if let (Some(fe), Some(ce)) = (fast.f32("energy").as_ref(), reference.f32("energy").as_ref()) {
        let n = p.n() as f32;
        assert_close(&format!("{name} energy"), fe, ce, tol * n, tol);
    }
    for layer in ["memory_layer", "saliency"] {
        if let (Some(f), Some(c)) = (fast.f32(layer), reference.f32(layer)) {
            assert_close(&format!("{name} {layer}"), &f, &c, tol, tol);
        }
    }
    let (fm, _, fa) = fast.sums.finish();
    let (cm, _, ca) = reference.sums.finish();
    assert_close(&format!("{name} mean overlaps"), &fm, &cm, tol, tol);
    assert_close(&format!("{name} mean |overlaps|"), &fa, &ca, tol, tol);
}

#[test]
fn idp_one_and_twenty_steps_small_and_large_p() {
    for (n, p, m) in [(1, 1, 67), (2, 2, 130), (3, 5, 65), (65, 7, 100), (300, 150, 40), (257, 250, 33)] {
        check(&format!("idp N={n} P={p} M={m} 1 step"), idp_spec(n, p, m, 1, 0.7), ONE_STEP_TOL);
        check(&format!("idp N={n} P={p} M={m} 20 steps"), idp_spec(n, p, m, 20, 0.7), TWENTY_STEP_TOL);
    }
}

#[test]
fn classic_with_everything_switched_on() {
    // Zeroed diagonal, a vector input, input noise, a ramp, a pulse, a memory initial state:
    // every branch of the row update, with and without noise.
    for (n, p, sigma) in [(3usize, 4usize, 0.5), (65, 4, 0.5), (200, 120, 0.0)] {
        let v: Vec<f64> = (0..n).map(|i| ((i * 7) % 5) as f64 * 0.3 - 0.6).collect();
        let w = |k: usize| -> Vec<f64> { (0..p).map(|mu| ((mu + k) % 3) as f64 * 0.5).collect() };
        let spec = json!({
            "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 2.0 }, "zero_diagonal": true },
            "memories": { "kind": "random", "n": n, "p": p, "seed": 9 },
            "input": { "segments": [
                { "duration": 0.05, "weights": w(0), "pulse": 0.03 },
                { "duration": 0.1, "vector": v, "ramp": 0.05, "noise": 0.4 },
                { "duration": 0.05, "weights": w(1), "noise": 0.2, "ramp": 0.02 }
            ], "gain": 1.3 },
            "noise": { "sigma": sigma },
            "ensemble": { "trajectories": 77, "seed": 5, "initial": { "kind": "memory", "index": 2, "amplitude": 0.8, "jitter": 0.3 } },
            "observe": { "overlaps": { "every": 0.01, "per_trajectory": true }, "final_state": true, "energy": { "per_trajectory": true } }
        });
        check(&format!("classic N={n} P={p} σ={sigma}"), spec, TWENTY_STEP_TOL);
    }
}

#[test]
fn modern_layers_two_point_noise_and_cues() {
    let modern = |psi_y: serde_json::Value, identity: bool| {
        let act = if identity { json!({ "kind": "identity" }) } else { json!({ "kind": "tanh", "slope": 1.5 }) };
        json!({
            "model": { "kind": "modern", "activation": act, "tau_alpha": 0.05, "tau_y": 0.03, "psi_y": psi_y, "sigma_y": 0.2 },
            "memories": { "kind": "random", "n": 40, "p": 6, "seed": 2 },
            "input": { "segments": [ { "duration": 0.1, "weights": [2.0, 1.0, 0.5, 0.3, 0.2, 0.1] },
                                     { "duration": 0.1, "weights": [0.5, 2.0, 1.0, 0.1, 0.1, 0.1] } ] },
            "noise": { "sigma": 0.4 },
            "ensemble": { "trajectories": 70, "seed": 5 },
            "observe": { "overlaps": { "every": 0.02, "per_trajectory": true }, "final_state": true }
        })
    };
    check("modern tanh", modern(json!("tanh"), false), TWENTY_STEP_TOL);
    check("modern softmax, identity features", modern(json!({ "softmax": { "beta": 4.0 } }), true), TWENTY_STEP_TOL);
    let mut two_point = idp_spec(130, 12, 90, 20, 0.8);
    two_point["noise"]["increments"] = json!("two_point");
    check("idp two-point", two_point, TWENTY_STEP_TOL);
    let cued = json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 10.0 }, "zero_diagonal": true },
        "memories": { "kind": "random", "n": 300, "p": 60, "seed": 1 },
        "input": { "segments": [ { "duration": 1.0, "cue": { "index": "random", "amplitude": 1.0 } } ] },
        "integrator": { "dt": 0.05 },
        "ensemble": { "trajectories": 64, "seed": 3, "initial": { "kind": "memory", "index": "target", "flip": 0.1 } },
        "observe": { "overlaps": { "every": 0.05, "per_trajectory": true }, "final_state": true }
    });
    check("idp cued, σ = 0", cued, TWENTY_STEP_TOL);
}

/// The fast path's own bytes do not depend on how the work is cut: chunks, threads, slices of
/// a checkpointed run; every output file is the same. At N = 2 a Philox block serves two
/// steps and the fast path keeps it between them, while the checkpointed run's slices of one
/// step draw it again.
#[test]
fn fast_path_bytes_do_not_depend_on_chunks_threads_or_checkpoints() {
    for (n, p) in [(90, 40), (2, 3)] {
        cut_in_every_way(n, p);
    }
}

fn cut_in_every_way(n: usize, p: usize) {
    let mut spec = common::everything();
    spec["memories"] = json!({ "kind": "random", "n": n, "p": p, "seed": 4 });
    spec["input"]["segments"][1]["weights"] = json!(vec![0.5; p]);
    let whole_plan = plan(spec.clone());
    spec["run"] = json!({ "chunk_trajectories": 64 });
    let chunked_plan = plan(spec);
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = ["whole", "chunked", "one-thread", "checkpointed"].iter().map(|d| tmp.path().join(d)).collect();
    engine::run_to_dir(&whole_plan, &mut CpuBackend::fast(), &dirs[0], true).unwrap();
    engine::run_to_dir(&chunked_plan, &mut CpuBackend::fast(), &dirs[1], true).unwrap();
    engine::run_to_dir(&whole_plan, &mut CpuBackend::fast().with_threads(1), &dirs[2], true).unwrap();
    engine::run_checkpointed(
        &whole_plan,
        &mut CpuBackend::fast().with_threads(3),
        &dirs[3],
        Checkpointing::Every(1),
        &mut Bar::pausing(true),
    )
    .unwrap();
    let files: Vec<String> = std::fs::read_dir(&dirs[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|f| f.ends_with(".npy") || (f.ends_with(".json") && f != "run.json"))
        .collect();
    assert!(files.len() >= 8, "the run wrote its arrays: {files:?}");
    for d in &dirs[1..] {
        for f in &files {
            let (a, b) = (std::fs::read(dirs[0].join(f)).unwrap(), std::fs::read(d.join(f)).unwrap());
            assert!(a == b, "{f}: {} differs from the whole run", d.display());
        }
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dirs[0].join("run.json")).unwrap()).unwrap();
    assert_eq!(run["backend"], json!("cpu_fast"));
    assert!(run["adapter"].as_str().unwrap().starts_with("cpu fast path (sgemm"), "{}", run["adapter"]);
}
