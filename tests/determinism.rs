//! Layer 5: the same spec and seed give byte-identical outputs, however the work is cut up
//! (steps per dispatch, trajectories per chunk), on each backend.

mod common;

use std::path::Path;

use common::{gpu, plan};
use idpsim::cpu::CpuBackend;
use idpsim::engine::{self, Backend};
use idpsim::plan::Plan;
use serde_json::json;

const FILES: [&str; 7] = [
    "times.npy",
    "overlaps_mean.npy",
    "overlaps_std.npy",
    "overlaps_abs_mean.npy",
    "overlaps_abs_std.npy",
    "overlaps.npy",
    "final_state.npy",
];

/// N = 19: kernels compiled for their exact N; N = 70: a size class of N (run-time N, 18 of its
/// 32 neuron blocks used); neither a multiple of 4, so the last block has padding lanes.
fn spec(n: usize) -> Plan {
    plan(json!({
        "model": { "kind": "idp", "zero_diagonal": true },
        "memories": { "kind": "random", "n": n, "p": 3, "seed": 2 },
        "input": { "segments": [
            { "duration": 0.3, "weights": [2.0, 1.0, 0.5], "noise": 0.2 },
            { "duration": 0.4, "weights": [0.5, 2.5, 1.0], "ramp": 0.2 }
        ] },
        "noise": { "sigma": 0.6 },
        "ensemble": { "trajectories": 300, "seed": 99 },
        "observe": { "overlaps": { "every": 0.05, "per_trajectory": true }, "final_state": true }
    }))
}

fn outputs(p: &Plan, backend: &mut dyn Backend, dir: &Path) -> Vec<Vec<u8>> {
    engine::run_to_dir(p, backend, dir, true).unwrap();
    FILES.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect()
}

fn check(backend: &mut dyn Backend, n: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let base = spec(n);
    let reference = outputs(&base, backend, &tmp.path().join("a"));
    let again = outputs(&base, backend, &tmp.path().join("b"));
    for (k, f) in FILES.iter().enumerate() {
        assert_eq!(reference[k], again[k], "{}, N = {n}: {f} differs between two identical runs", backend.kind());
    }
    for (k, (steps, chunk)) in
        [(Some(1), Some(64)), (Some(7), Some(128)), (Some(1000), None), (None, Some(192))].iter().enumerate()
    {
        let mut p = base.clone();
        p.run.steps_per_dispatch = *steps;
        p.run.chunk_trajectories = *chunk;
        let out = outputs(&p, backend, &tmp.path().join(format!("c{k}")));
        for (j, f) in FILES.iter().enumerate() {
            assert_eq!(
                reference[j],
                out[j],
                "{}, N = {n}: {f} changes with steps_per_dispatch {steps:?}, chunk {chunk:?}",
                backend.kind()
            );
        }
    }
    // A different seed changes the results (the comparison above is not vacuous).
    let mut p = base.clone();
    p.ensemble.seed += 1;
    let other = outputs(&p, backend, &tmp.path().join("seed"));
    assert_ne!(reference[5], other[5]);
}

#[test]
fn cpu_outputs_do_not_depend_on_chunking() {
    check(&mut CpuBackend::new(), 19);
    check(&mut CpuBackend::new(), 70);
}

#[test]
fn gpu_outputs_do_not_depend_on_chunking() {
    let Some(mut g) = gpu() else { return };
    check(&mut g, 19);
}

#[test]
fn gpu_outputs_do_not_depend_on_chunking_in_a_size_class_of_n() {
    let Some(mut g) = gpu() else { return };
    assert_eq!(idpsim::gpu::kernels::n_class(70), 127);
    check(&mut g, 70);
}

/// Long dispatches over many neuron blocks stay correct: a dispatch asked to take 600 steps
/// over 125 blocks would pass llvmpipe's 65 535-iteration loop guard; the engine splits it and
/// the result is byte-identical to short dispatches. The kernels are those of the N = 500 case
/// of tests/parity.rs (the IDP model with energies; N = 500, P = 10, the size class N ≤ 512,
/// state in a private array of 128 blocks): one family that the drivers' shader cache builds
/// once for both tests.
#[test]
fn long_dispatches_over_many_blocks_are_exact() {
    let Some(mut g) = gpu() else { return };
    let mut p = plan(json!({
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 10.0 } },
        "memories": { "kind": "random", "n": 500, "p": 10, "seed": 1 },
        "input": { "segments": [ { "duration": 6.0, "weights": [2.5, 1, 1, 1, 1, 1, 1, 1, 1, 1] } ] },
        "noise": { "sigma": 2.0 },
        "ensemble": { "trajectories": 64, "seed": 5 },
        "observe": { "overlaps": { "every": 6.0 }, "final_state": true, "energy": { "per_trajectory": true } }
    }));
    let family =
        |p: &Plan| idpsim::gpu::kernels::KernelConsts::from_plan(p, idpsim::gpu::kernels::Layout::Thread).family();
    assert_eq!(family(&p), family(&plan(common::idp_spec(500, 10, 70, 20, 0.7))), "the family of tests/parity.rs");
    p.run.steps_per_dispatch = Some(600);
    let long = common::run(&p, &mut g);
    p.run.steps_per_dispatch = Some(7);
    let short = common::run(&p, &mut g);
    assert_eq!(long.f32("final_state"), short.f32("final_state"));
    assert_eq!(long.sums, short.sums);
    assert_eq!(long.f32("energy"), short.f32("energy"));
    let cpu = common::run(&p, &mut CpuBackend::new());
    common::assert_close(
        "600 steps, N = 500",
        &long.f32("final_state").unwrap(),
        &cpu.f32("final_state").unwrap(),
        2e-3,
        2e-3,
    );
}
