//! Layer 2: the GPU kernels against the CPU reference, per element, after one step and after
//! 20 steps, on every GPU layout, with sizes that are not multiples of the workgroup size.

mod common;

use common::{assert_close, assert_touched, gpu, idp_spec, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::engine::Backend;
use serde_json::json;

/// One step: the only differences are the GPU's own exp and √ (a few ulps) and fused
/// multiply-adds, scaled by dt and σ√dt: 2e-5 absolute, 2e-5 relative.
const ONE_STEP_TOL: f32 = 2e-5;
/// Twenty steps: per-step differences add up and pass through the (contracting) dynamics.
const TWENTY_STEP_TOL: f32 = 2e-4;

fn check(name: &str, spec: serde_json::Value, tol: f32) {
    let Some(mut g) = gpu() else { return };
    let mut p = plan(spec);
    let cpu = run(&p, &mut CpuBackend::new());
    for layout in ["thread", "group", "tile"] {
        p.run.layout = serde_json::from_value(json!(layout)).unwrap();
        let out = run(&p, &mut g as &mut dyn Backend);
        let what = format!("{name} ({layout} layout)");
        let (gx, cx) = (&out.f32("final_state").unwrap(), &cpu.f32("final_state").unwrap());
        assert_touched(&format!("{what} final state"), gx, 0.0);
        assert_close(&format!("{what} final state"), gx, cx, tol, tol);
        let (go, co) = (&out.f32("overlaps").unwrap(), &cpu.f32("overlaps").unwrap());
        assert_close(&format!("{what} overlaps"), go, co, tol, tol);
        if let (Some(ge), Some(ce)) = (out.f32("energy").as_ref(), cpu.f32("energy").as_ref()) {
            // Energies are sums over N neurons: the same per-term tolerance, scaled by N.
            let n = p.n() as f32;
            assert_close(&format!("{what} energy"), ge, ce, tol * n, tol);
        }
        let (gm, _, ga) = out.sums.finish();
        let (cm, _, ca) = cpu.sums.finish();
        assert_close(&format!("{what} mean overlaps"), &gm, &cm, tol, tol);
        assert_close(&format!("{what} mean |overlaps|"), &ga, &ca, tol, tol);
    }
}

/// The IDP model after one step and after 20 steps, for each (N, P, M).
fn idp_one_and_twenty_steps(sizes: &[(usize, usize, u64)]) {
    for &(n, p, m) in sizes {
        check(&format!("idp N={n} P={p} M={m} 1 step"), idp_spec(n, p, m, 1, 0.7), ONE_STEP_TOL);
        check(&format!("idp N={n} P={p} M={m} 20 steps"), idp_spec(n, p, m, 20, 0.7), TWENTY_STEP_TOL);
    }
}

#[test]
fn idp_one_and_twenty_steps_small_n() {
    idp_one_and_twenty_steps(&[(1, 1, 67), (2, 2, 130), (3, 5, 65)]);
}

#[test]
fn idp_one_and_twenty_steps_larger_n() {
    idp_one_and_twenty_steps(&[(65, 7, 100), (500, 10, 70)]);
}

#[test]
fn classic_with_everything_switched_on() {
    // Classic model, zeroed diagonal, a vector input, input noise, a ramp, a pulse, and a
    // memory initial state: every branch of the drift.
    for n in [3usize, 65] {
        let p = 4;
        let v: Vec<f64> = (0..n).map(|i| ((i * 7) % 5) as f64 * 0.3 - 0.6).collect();
        let spec = json!({
            "model": { "kind": "classic", "activation": { "kind": "tanh", "slope": 2.0 }, "zero_diagonal": true },
            "memories": { "kind": "random", "n": n, "p": p, "seed": 9 },
            "input": { "segments": [
                { "duration": 0.05, "weights": [0.5, 1.5, 0.0, -0.5], "pulse": 0.03 },
                { "duration": 0.1, "vector": v, "ramp": 0.05, "noise": 0.4 },
                { "duration": 0.05, "weights": [1.0, 0.0, 2.0, 0.0], "noise": 0.2, "ramp": 0.02 }
            ], "gain": 1.3 },
            "noise": { "sigma": 0.5 },
            "ensemble": { "trajectories": 77, "seed": 5, "initial": { "kind": "memory", "index": 2, "amplitude": 0.8, "jitter": 0.3 } },
            "observe": { "overlaps": { "every": 0.01, "per_trajectory": true }, "final_state": true, "energy": { "per_trajectory": true } }
        });
        check(&format!("classic N={n}"), spec, TWENTY_STEP_TOL);
    }
}

#[test]
fn idp_with_input_noise_ramps_and_zero_diagonal() {
    // N = 2048: beyond the private array of CPU devices (256 neuron blocks), so the thread
    // layout keeps Ψ(x) in the state buffer (PSI_CACHE).
    for n in [5usize, 130, 2048] {
        let spec = json!({
            "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 3.0 }, "zero_diagonal": true },
            "memories": { "kind": "hadamard", "n": n.next_power_of_two(), "p": 3, "columns": [1, 2, 3] },
            "input": { "segments": [
                { "duration": 0.06, "saliency": [2.0, 0.5, 1.0], "noise": 0.5 },
                { "duration": 0.08, "weights": [0.2, 2.5, 0.3], "ramp": 0.04, "noise": 0.3 }
            ] },
            "noise": { "sigma": 0.3 },
            "ensemble": { "trajectories": 65, "seed": 8, "initial": { "kind": "normal", "std": 0.5 } },
            "observe": { "overlaps": { "every": 0.02, "per_trajectory": true }, "final_state": true, "energy": { "every": 0.02, "per_trajectory": true } }
        });
        check(&format!("idp noisy input N={}", n.next_power_of_two()), spec, TWENTY_STEP_TOL);
    }
}

#[test]
fn point_initial_state_and_no_noise() {
    let n = 6;
    let spec = json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "explicit", "patterns": [[1, -1, 1, -1, 1, 1], [1, 1, -1, -1, 1, -1]] },
        "input": { "segments": [ { "duration": 0.2, "saliency": [1.5, 2.0] } ] },
        "ensemble": { "trajectories": 3, "initial": { "kind": "point", "x": vec![0.3; n] } },
        "observe": { "overlaps": { "every": 0.1, "per_trajectory": true }, "final_state": true }
    });
    check("deterministic point start", spec, TWENTY_STEP_TOL);
}

/// One GPU backend runs plans of several N and P from one model family with a single kernel
/// build (N and P are run-time values, the kernels compiled for N's size class and P's
/// capacity), and every run matches the reference: the padded memories (P up to the capacity)
/// add exact zeros and never reach an output, and the padded neuron blocks (N up to its class:
/// N = 68 … 124 share the class of 32 blocks) are never visited. Each family (one test each, so that their kernels build side by side): an IDP plan
/// with every observer, a classic one with a zeroed diagonal and a cue as its input, and the
/// modern model with a softmax (padding must stay out of the normalisation and the energy);
/// the classic family also at P beyond 128 (tiled loops with a run-time tile count; on CPU
/// devices the thread layout's step then takes the memories 64 at a time,
/// `gpu::kernels::memory_major`, here with P not a multiple of 64; tests/limits.rs runs the IDP
/// model that way at N = 1000).
fn a_sweep_over_n_and_p_builds_its_family_once_and_matches_the_reference(name: &str, specs: Vec<serde_json::Value>) {
    let Some(mut g) = gpu() else { return };
    for (k, spec) in specs.into_iter().enumerate() {
        let p = plan(spec);
        let what = format!("{name}, N = {}, P = {}", p.n(), p.p());
        let cpu = run(&p, &mut CpuBackend::new());
        let out = run(&p, &mut g as &mut dyn Backend);
        let builds = g.kernel_builds();
        assert_eq!(builds.len(), usize::from(k == 0), "{what}: {builds:?}");
        if k == 0 {
            assert_eq!(builds[0].pipelines, 3, "{what}");
        }
        for name in ["final_state", "saves"] {
            let (a, b) = (out.f32(name).unwrap(), cpu.f32(name).unwrap());
            assert_eq!(a.len(), b.len(), "{what}: {name} holds no padded entries");
            assert_close(&format!("{what} {name}"), &a, &b, TWENTY_STEP_TOL * 10.0, TWENTY_STEP_TOL);
        }
        let (gm, _, ga) = out.sums.finish();
        let (cm, _, ca) = cpu.sums.finish();
        assert_eq!(gm.len(), cm.len(), "{what}");
        assert_close(&format!("{what} mean overlaps"), &gm, &cm, TWENTY_STEP_TOL, TWENTY_STEP_TOL);
        assert_close(&format!("{what} mean |overlaps|"), &ga, &ca, TWENTY_STEP_TOL, TWENTY_STEP_TOL);
    }
}

/// The IDP sweep's spec: every observer, random weights and a cue as inputs.
fn sweep_idp(n: usize, p: usize) -> serde_json::Value {
    let mut s = idp_spec(n, p, 70, 20, 0.7);
    s["observe"]["retrieval"] = json!({ "threshold": 0.5 });
    s["observe"]["first_passage"] = json!({ "threshold": 0.3 });
    s["observe"]["histogram"] =
        json!({ "of": "overlaps", "axes": [0, 1], "bins": [8, 6], "range": [[-1, 1], [-1, 1]] });
    s["input"]["segments"] = json!([
        { "duration": 0.1, "random_weights": { "dominant_memory": "random" }, "noise": 0.3 },
        { "duration": 0.1, "cue": { "index": "random", "amplitude": 0.5 }, "ramp": 0.03 }
    ]);
    s
}

/// The modern sweep's spec: a softmax Ψ_y.
fn sweep_modern(n: usize, p: usize) -> serde_json::Value {
    let mut s = idp_spec(n, p, 70, 20, 0.3);
    s["model"] = json!({ "kind": "modern", "activation": { "kind": "identity" }, "tau_alpha": 0.05, "tau_y": 0.0,
                         "sigma_alpha": 0.2, "psi_y": { "softmax": { "beta": 4.0 } } });
    s
}

#[test]
fn a_sweep_over_n_and_p_builds_the_idp_family_once_and_matches_the_reference() {
    a_sweep_over_n_and_p_builds_its_family_once_and_matches_the_reference(
        "idp",
        vec![sweep_idp(68, 20), sweep_idp(100, 27), sweep_idp(124, 32)],
    );
}

#[test]
fn a_sweep_over_n_and_p_builds_the_classic_family_once_and_matches_the_reference() {
    a_sweep_over_n_and_p_builds_its_family_once_and_matches_the_reference(
        "classic",
        vec![common::classic_cue_spec(67, 17), common::classic_cue_spec(99, 30)],
    );
}

#[test]
fn a_sweep_over_n_and_p_builds_the_tiled_classic_family_once_and_matches_the_reference() {
    a_sweep_over_n_and_p_builds_its_family_once_and_matches_the_reference(
        "classic, tiled",
        vec![common::classic_cue_spec(9, 130), common::classic_cue_spec(9, 147)],
    );
}

#[test]
fn a_sweep_over_n_and_p_builds_the_modern_family_once_and_matches_the_reference() {
    a_sweep_over_n_and_p_builds_its_family_once_and_matches_the_reference(
        "modern softmax",
        vec![sweep_modern(66, 18), sweep_modern(90, 25)],
    );
}
