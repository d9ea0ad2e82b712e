//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use idpsim::engine::{self, Backend, Outputs};
use idpsim::gpu::GpuBackend;
use idpsim::plan::Plan;
use idpsim::spec::Spec;

/// A GPU backend, or None with a loud SKIP line; with REQUIRE_GPU=1 a missing GPU fails.
pub fn gpu() -> Option<GpuBackend> {
    match GpuBackend::new(None) {
        Ok(g) => Some(g),
        Err(e) => {
            if std::env::var("REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("REQUIRE_GPU=1 but no GPU adapter could be opened: {e:#}");
            }
            eprintln!("\n*** SKIP: no GPU adapter ({e:#}); GPU checks in this test did not run ***\n");
            None
        }
    }
}

/// A plan from JSON (panics with the spec error: tests give valid specs).
pub fn plan(json: serde_json::Value) -> Plan {
    let spec = Spec::from_json(&json.to_string()).unwrap_or_else(|e| panic!("test spec: {e}"));
    spec.plan(Path::new(".")).unwrap_or_else(|e| panic!("test spec: {e}"))
}

/// Runs a plan in memory.
pub fn run(plan: &Plan, backend: &mut dyn Backend) -> Outputs {
    engine::simulate(plan, backend, None, true).unwrap_or_else(|e| panic!("{} run failed: {e:#}", backend.kind()))
}

/// Element-wise |a − b| ≤ abs + rel·|b|, NaN never equal; the message names the first failure.
pub fn assert_close(what: &str, a: &[f32], b: &[f32], abs: f32, rel: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let mut worst = (0usize, 0f32);
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let d = (x - y).abs();
        let tol = abs + rel * y.abs();
        assert!(
            x.is_finite() && y.is_finite() && d <= tol,
            "{what}: index {i}: actual {x}, expected {y}, difference {d}, tolerance {tol}"
        );
        if d > worst.1 {
            worst = (i, d);
        }
    }
    eprintln!("{what}: {} values agree; largest difference {} at {}", a.len(), worst.1, worst.0);
}

/// The values are not all equal to `v` (a kernel that never ran leaves buffers untouched).
pub fn assert_touched(what: &str, a: &[f32], v: f32) {
    assert!(a.iter().any(|&x| x != v), "{what}: every value is {v}; did the kernel run?");
}

/// A base IDP spec to edit.
pub fn idp_spec(n: usize, p: usize, m: u64, steps: u32, sigma: f64) -> serde_json::Value {
    let weights: Vec<f64> = (0..p).map(|k| if k == 1 % p { 2.5 } else { 1.0 + 0.1 * k as f64 }).collect();
    serde_json::json!({
        "name": "test",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
        "memories": { "kind": "random", "n": n, "p": p, "seed": 3 },
        "input": { "segments": [ { "duration": steps as f64 * 0.01, "weights": weights } ] },
        "noise": { "sigma": sigma },
        "integrator": { "dt": 0.01 },
        "ensemble": { "trajectories": m, "seed": 11 },
        "observe": { "overlaps": { "every": 0.01, "per_trajectory": true }, "final_state": true, "energy": { "per_trajectory": true } }
    })
}
