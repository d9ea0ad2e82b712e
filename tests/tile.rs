//! The GPU's tile layout (`run.layout: "tile"`, `shaders/tile.wgsl`): a workgroup steps a tile of
//! trajectories, its fields and overlaps two matrix products over the tile. The per-element
//! parity with the CPU reference runs in the layout loops of tests/parity.rs, cue.rs,
//! histogram.rs, modern.rs, robustness.rs, noise_layout.rs, occupancy.rs and limits.rs; here,
//! what only this layout has to show: its bytes do not depend on how the work is cut, and a
//! crashed run resumes to the same bytes.

mod common;

use common::{Crashing, plan, run};
use idpsim::checkpoint;
use idpsim::engine::{self, Bar, Checkpointing};
use idpsim::gpu::kernels::{Layout, tile_trajectories};
use serde_json::json;

/// Every observer (common::everything: energy, per-trajectory saves, final state, a state
/// histogram, retrieval over random weights, first passage) with a zeroed diagonal, N = 10
/// (a padded neuron block), 203 trajectories (not a multiple of the tile), in the tile layout.
fn everything_tiled() -> serde_json::Value {
    let mut s = common::everything();
    s["memories"]["n"] = json!(10);
    s["model"]["zero_diagonal"] = json!(true);
    s["observe"]["overlaps"]["every"] = json!(0.03);
    s["ensemble"]["trajectories"] = json!(203);
    s["run"] = json!({ "layout": "tile" });
    s
}

/// Every array a run keeps in memory, by name, as the bits of its values.
fn arrays(store: &idpsim::outputs::Store) -> Vec<(String, Vec<u64>)> {
    use idpsim::outputs::store::ArrayData::*;
    let bits = |d: &idpsim::outputs::store::ArrayData| -> Vec<u64> {
        match d {
            F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
            F64(v) => v.iter().map(|x| x.to_bits()).collect(),
            I32(v) => v.iter().map(|&x| x as u64).collect(),
            I8(v) => v.iter().map(|&x| x as u64).collect(),
            U32(v) => v.iter().map(|&x| x as u64).collect(),
            U64(v) => v.clone(),
        }
    };
    store.arrays.iter().map(|(name, a)| (name.clone(), bits(&a.data))).collect()
}

/// 203 trajectories in tiles of 8 but the last; cutting the steps into dispatches of 1, 2 and 7
/// steps and the ensemble into chunks of 64 changes no bit of any output (the sums run in a
/// fixed order, and a dispatch starts from the state alone).
#[test]
fn the_tile_layouts_bytes_do_not_depend_on_dispatches_or_chunks() {
    let Some(mut g) = common::gpu() else { return };
    let whole = plan(everything_tiled());
    assert_eq!(g.layout(&whole), Layout::Tile);
    assert_ne!(whole.ensemble.trajectories % tile_trajectories(whole.p() as u32) as u64, 0, "a partial tile");
    let want = arrays(&run(&whole, &mut g));
    let names: Vec<&str> = want.iter().map(|a| a.0.as_str()).collect();
    for name in ["final_state", "overlaps", "energy", "histogram", "first_passage_steps"] {
        assert!(names.contains(&name), "{name} is among the outputs compared: {names:?}");
    }
    for (steps, chunk) in [(1, None), (2, Some(64)), (7, Some(64))] {
        let mut cut = whole.clone();
        cut.run.steps_per_dispatch = Some(steps);
        cut.run.chunk_trajectories = chunk;
        let got = arrays(&run(&cut, &mut g));
        assert_eq!(got.len(), want.len());
        for ((name, a), (_, b)) in want.iter().zip(&got) {
            assert!(a == b, "{name}: {steps} steps per dispatch, chunks of {chunk:?} changed its bytes");
        }
    }
}

/// A tile-layout run that crashes mid-chunk twice and is resumed writes the bytes of the run
/// that was never stopped (the checkpoint holds the state alone: the tile's Ψ cache is
/// recomputed when a dispatch starts).
#[test]
fn a_crashed_tile_layout_run_resumes_to_the_same_bytes() {
    if common::gpu().is_none() {
        return;
    }
    let mut s = everything_tiled();
    s["run"]["chunk_trajectories"] = json!(64);
    let p = plan(s);
    let tmp = tempfile::tempdir().unwrap();
    let (whole, ck) = (tmp.path().join("whole"), tmp.path().join("ck"));
    engine::run_to_dir(&p, &mut common::gpu().unwrap(), &whole, true).unwrap();
    let mut how = Checkpointing::Every(3);
    for n in [5usize, 6] {
        let mut b = common::gpu().unwrap();
        let mut crashing = Crashing { inner: &mut b, calls_left: n };
        let e = engine::run_checkpointed(&p, &mut crashing, &ck, how, &mut Bar::pausing(true)).unwrap_err();
        assert!(format!("{e:#}").contains("simulated crash"), "{e:#}");
        let record = checkpoint::load(&ck).unwrap();
        let pending = checkpoint::validate(&ck, &record, &p).unwrap();
        how = Checkpointing::Resume(Box::new(record), pending.map(Box::new));
    }
    engine::run_checkpointed(&p, &mut common::gpu().unwrap(), &ck, how, &mut Bar::pausing(true)).unwrap();
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&whole), names(&ck));
    for f in names(&whole).iter().filter(|f| *f != "run.json") {
        assert!(std::fs::read(whole.join(f)).unwrap() == std::fs::read(ck.join(f)).unwrap(), "{f} differs");
    }
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ck.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["checkpoints"]["resumed"], json!(2));
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("run.json")).unwrap()).unwrap();
    let builds = first["kernel_builds"].to_string();
    assert!(builds.contains("tile layout"), "run.json names the layout of the kernels it built: {builds}");
}
