//! A state that stops being finite is detected (on the device for the GPU) and reported with
//! the step and a trajectory, as an error, never as NaN outputs.

mod common;

use common::{gpu, plan};
use idpsim::cpu::CpuBackend;
use idpsim::engine::{self, Backend, RunError};
use serde_json::json;

fn check(backend: &mut dyn Backend) {
    // σ√dt = 3e37: the random walk passes f32's largest value within a few hundred steps.
    let p = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 4, "p": 2 },
        "input": { "segments": [ { "duration": 5.0, "saliency": [1.0, 1.0] } ] },
        "noise": { "sigma": 3e38 },
        "ensemble": { "trajectories": 100, "seed": 1 }
    }));
    let err = engine::run_in_memory(&p, backend).err().expect("the run must fail");
    let diverged = err.downcast_ref::<RunError>().unwrap_or_else(|| panic!("unexpected error {err:#}"));
    let RunError::Diverged { trajectory, step, .. } = *diverged;
    assert!(trajectory < 100 && step < 500, "{diverged}");
    eprintln!("{}: {diverged}", backend.kind());
    // A healthy run of the same size does not trip the flag.
    let mut ok = p.clone();
    ok.noise.sigma = 0.5;
    engine::run_in_memory(&ok, backend).unwrap();
}

#[test]
fn divergence_is_reported_cpu() {
    check(&mut CpuBackend::new());
}

#[test]
fn divergence_is_reported_cpu_fast() {
    check(&mut CpuBackend::fast());
}

#[test]
fn divergence_is_reported_gpu() {
    let Some(mut g) = gpu() else { return };
    check(&mut g);
}
