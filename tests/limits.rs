//! Sizes at the edges of what the engine promises: N = 4096 with P = 64 (and P = 128),
//! ensembles that need more than one chunk because of the storage-binding size or the 65 535
//! workgroups a dispatch dimension allows.

mod common;

use common::{assert_close, gpu, plan, run};
use idpsim::cpu::CpuBackend;
use idpsim::engine::{self, Backend};
use idpsim::plan::LayoutChoice;
use serde_json::json;

/// Two steps (see tests/parity.rs for the reasoning behind the tolerance).
const TOL: f32 = 1e-4;

#[test]
fn large_n_and_p_match_the_reference() {
    let Some(mut g) = gpu() else { return };
    for (n, p) in [(4096usize, 64usize), (1024, 128)] {
        let weights: Vec<f64> = (0..p).map(|k| if k == 3 { 2.0 } else { 0.5 + 0.01 * k as f64 }).collect();
        let mut pl = plan(json!({
            "model": { "kind": "idp", "zero_diagonal": true },
            "memories": { "kind": "random", "n": n, "p": p, "seed": 1 },
            "input": { "segments": [ { "duration": 0.02, "weights": weights } ] },
            "noise": { "sigma": 0.5 },
            "ensemble": { "trajectories": 70, "seed": 2 },
            "observe": { "overlaps": { "every": 0.01 }, "final_state": true }
        }));
        let c = run(&pl, &mut CpuBackend::new());
        for layout in [LayoutChoice::Thread, LayoutChoice::Group] {
            pl.run.layout = layout;
            let out = run(&pl, &mut g);
            assert_close(
                &format!("N={n} P={p} {layout:?} final state"),
                &out.f32("final_state").unwrap(),
                &c.f32("final_state").unwrap(),
                TOL,
                TOL,
            );
            let (gm, _, _) = out.sums.finish();
            let (cm, _, _) = c.sums.finish();
            assert_close(&format!("N={n} P={p} {layout:?} mean overlaps"), &gm, &cm, TOL, TOL);
        }
    }
}

/// More trajectories than one dispatch dimension holds in the group layout (65 535 workgroups)
/// and, for N = 4096, more states than one 128 MiB storage binding holds: the engine cuts the
/// ensemble into chunks, and the result equals a run cut into small chunks on purpose.
#[test]
fn ensembles_beyond_one_dispatch_or_binding_are_chunked() {
    let Some(mut g) = gpu() else { return };
    let group = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 0.01, "saliency": [1.5, 2.0] } ] },
        "noise": { "sigma": 0.3 },
        "ensemble": { "trajectories": 70_000, "seed": 3 },
        "observe": { "overlaps": { "every": 0.01 }, "final_state": true },
        "run": { "layout": "group" }
    }));
    let wide = plan(json!({
        "model": { "kind": "idp" },
        "memories": { "kind": "random", "n": 4096, "p": 2, "seed": 5 },
        "input": { "segments": [ { "duration": 0.01, "saliency": [1.5, 2.0] } ] },
        "noise": { "sigma": 0.3 },
        "ensemble": { "trajectories": 9000, "seed": 3 },
        "observe": { "overlaps": { "every": 0.01 } }
    }));
    for p in [group, wide] {
        let auto = engine::chunks(&p, &g);
        let limit = g.max_chunk(&p);
        assert!(auto.len() > 1, "{} trajectories should not fit one chunk (limit {limit})", p.ensemble.trajectories);
        let whole = run(&p, &mut g);
        let mut small = p.clone();
        small.run.chunk_trajectories = Some(4096);
        let cut = run(&small, &mut g);
        assert_eq!(whole.sums, cut.sums, "ensemble sums depend on chunking");
        assert_eq!(whole.f32("final_state"), cut.f32("final_state"));
        assert_eq!(whole.sums.count, p.ensemble.trajectories);
    }
}
