//! The basin-occupancy observer: its counts are those of a direct count of the run's states
//! on every backend, its equilibria are the theory's, shards merge and resumed runs give the
//! uninterrupted run's bytes, bad options are refused, and the preset runs.

mod common;

use std::path::Path;

use common::{Crashing, idpsim, on_every_backend, plan, run, stderr};
use idpsim::checkpoint;
use idpsim::engine::{self, Bar, Checkpointing};
use idpsim::plan::{OccupancyNorm, OccupancyPlan, Plan};
use serde_json::{Value, json};

/// N = 2, Hadamard memories, saliencies (1, 3), slope 2 (both memories stable): counted once,
/// at the end, with the final states kept.
fn two_neurons(occupancy: Value, sigma: f64) -> Value {
    json!({
        "name": "occupancy",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 2.0 } },
        "memories": { "kind": "hadamard", "n": 2, "p": 2 },
        "input": { "segments": [ { "duration": 3.0, "saliency": [1.0, 3.0] } ] },
        "noise": { "sigma": sigma },
        "ensemble": { "trajectories": 700, "seed": 5, "initial": { "kind": "normal", "std": 1.5 } },
        "observe": { "final_state": true, "occupancy": occupancy }
    })
}

/// N = 10 random memories (two and a half neuron blocks), counted once at the end.
fn ten_neurons(occupancy: Value) -> Value {
    json!({
        "name": "occupancy-10",
        "model": { "kind": "idp", "activation": { "kind": "tanh", "slope": 1.0 } },
        "memories": { "kind": "random", "n": 10, "p": 2, "seed": 7 },
        "input": { "segments": [ { "duration": 2.0, "saliency": [2.0, 2.6] } ] },
        "noise": { "sigma": 0.5 },
        "ensemble": { "trajectories": 300, "seed": 9, "initial": { "kind": "normal", "std": 1.0 } },
        "observe": { "final_state": true, "occupancy": occupancy }
    })
}

/// The slot of a state by an independent f64 computation, and whether the state is borderline:
/// within 1e-5 (relative) of the radius of some equilibrium or of a tie between two, where
/// f32 rounding may decide either way.
fn slot_f64(op: &OccupancyPlan, x: &[f32]) -> (usize, bool) {
    let n = x.len() as f64;
    let dist = |e: &idpsim::plan::Equilibrium| -> f64 {
        let d = x.iter().zip(&e.x).map(|(&a, &b)| a as f64 - b as f64);
        match op.norm {
            OccupancyNorm::Euclidean => d.map(|v| v * v).sum::<f64>().sqrt(),
            OccupancyNorm::Rms => (d.map(|v| v * v).sum::<f64>() / n).sqrt(),
            OccupancyNorm::Max => d.map(f64::abs).fold(0.0, f64::max),
        }
    };
    let ds: Vec<f64> = op.equilibria.iter().map(dist).collect();
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1e-3);
    let mut border = ds.iter().any(|&d| near(d, op.radius));
    let inside: Vec<usize> = (0..ds.len()).filter(|&k| ds[k] <= op.radius).collect();
    let best = inside.iter().copied().min_by(|&a, &b| ds[a].total_cmp(&ds[b]));
    if let Some(b) = best {
        border |= inside.iter().any(|&k| k != b && near(ds[k], ds[b]));
    }
    (best.unwrap_or(ds.len()), border)
}

/// Runs `spec` on every backend and checks its single row of counts against a direct count of
/// its final states: exactly against the plan's own f32 definition (`OccupancyPlan::slot`), and
/// against an independent f64 count up to the borderline samples. Returns the reference counts.
fn check_against_final_states(what: &str, spec: Value) -> Vec<Vec<u64>> {
    let p: Plan = plan(spec);
    let op = p.observe.occupancy.clone().unwrap();
    assert_eq!(op.rows, 1, "{what}: one count, at the end");
    let (n, m) = (p.n(), p.ensemble.trajectories as usize);
    let mut all = Vec::new();
    on_every_backend(|b| {
        let kind = b.kind();
        let store = run(&p, b);
        let counts: Vec<u64> = store.values("occupancy").unwrap();
        let finals = store.f32("final_state").unwrap();
        assert_eq!(counts.len(), op.slots(), "{what} ({kind})");
        assert_eq!(counts.iter().sum::<u64>(), m as u64, "{what} ({kind}): every trajectory counts once");
        let mut direct = vec![0u64; op.slots()];
        let mut independent = vec![0u64; op.slots()];
        let mut borderline = 0u64;
        for j in 0..m {
            let x = &finals[j * n..(j + 1) * n];
            direct[op.slot(x)] += 1;
            let (s, border) = slot_f64(&op, x);
            independent[s] += 1;
            borderline += border as u64;
        }
        let off = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).sum::<u64>() / 2;
        if kind == "gpu" {
            // The device evaluates the same f32 expression; a driver may fuse a multiply-add,
            // which can move only a sample at the radius or at a tie.
            assert!(
                off(&counts, &direct) <= borderline,
                "{what} (gpu): {counts:?} vs {direct:?}, {borderline} borderline"
            );
        } else {
            assert_eq!(counts, direct, "{what} ({kind}): the counts are the final states' own count");
        }
        assert!(
            off(&direct, &independent) <= borderline,
            "{what} ({kind}): f32 {direct:?} vs f64 {independent:?}, {borderline} borderline"
        );
        assert!(counts[..op.equilibria.len()].iter().any(|&c| c > 0), "{what} ({kind}): nothing near any equilibrium");
        assert!(counts[op.equilibria.len()] > 0, "{what} ({kind}): nothing outside");
        all.push(counts);
    });
    all
}

#[test]
fn counts_are_a_direct_count_of_the_final_states_on_every_backend() {
    for norm in ["euclidean", "rms", "max"] {
        check_against_final_states(
            &format!("N = 2, memories, {norm}"),
            two_neurons(json!({ "radius": 0.4, "norm": norm, "every": 3.0 }), 0.5),
        );
    }
    check_against_final_states(
        "N = 2, theory",
        two_neurons(json!({ "radius": 0.5, "equilibria": "theory", "every": 3.0 }), 0.5),
    );
    // Several neuron blocks with padding, and overlapping balls (radius 1.2 in rms around
    // equilibria whose rms distances are about 2): the nearest one counts.
    for norm in ["euclidean", "rms", "max"] {
        let r = if norm == "euclidean" { 3.0 } else { 1.0 };
        check_against_final_states(
            &format!("N = 10, {norm}"),
            ten_neurons(json!({ "radius": r, "norm": norm, "every": 2.0 })),
        );
    }
}

/// The CPU reference and the fast path count the same samples (their states are the same bytes).
#[test]
fn the_cpu_backends_agree_on_every_row() {
    let mut s = two_neurons(json!({ "radius": 0.4, "every": 0.25, "from": 1.0 }), 0.7);
    s["observe"]["final_state"] = json!(false);
    let p = plan(s);
    let a = run(&p, &mut idpsim::cpu::CpuBackend::new());
    let b = run(&p, &mut idpsim::cpu::CpuBackend::fast());
    let (ca, cb) = (a.values::<u64>("occupancy").unwrap(), b.values::<u64>("occupancy").unwrap());
    assert_eq!(ca.len(), 12 * 5);
    assert_eq!(ca, cb);
    for row in ca.chunks(5) {
        assert_eq!(row.iter().sum::<u64>(), 700);
    }
    // The pooled counts in occupancy.json are the rows at t ≥ 1 (rows 3..12) added up.
    let doc = a.doc("occupancy.json").unwrap();
    let pooled: Vec<u64> = (0..5).map(|k| ca.chunks(5).skip(3).map(|r| r[k]).sum()).collect();
    assert_eq!(doc["pooled"]["counts"], json!(pooled));
    assert_eq!(doc["pooled"]["samples"], json!(700 * 9));
    assert_eq!(doc["times"][0], json!(0.25));
}

/// "theory" (N = 2) finds the memories' stable equilibria ±γ_μ ξ^μ of §3 where both apply, in
/// the same order with the same labels; where a memory is a saddle it is left out.
#[test]
fn theory_equilibria_are_the_memories_stable_ones() {
    let mem = plan(two_neurons(json!({ "radius": 0.4 }), 0.5)).observe.occupancy.unwrap();
    let th = plan(two_neurons(json!({ "radius": 0.4, "equilibria": "theory" }), 0.5)).observe.occupancy.unwrap();
    let labels = |o: &OccupancyPlan| o.equilibria.iter().map(|e| e.label.clone()).collect::<Vec<_>>();
    assert_eq!(labels(&mem), ["+xi0", "-xi0", "+xi1", "-xi1"]);
    assert_eq!(labels(&th), labels(&mem));
    for (a, b) in mem.equilibria.iter().zip(&th.equilibria) {
        for (x, y) in a.x.iter().zip(&b.x) {
            assert!((x - y).abs() < 1e-5, "{} {:?} vs {:?}", a.label, a.x, b.x);
        }
    }
    // Landscape (c): memory 0 (α = 1.2, δ = 1) is a saddle, so the theory keeps only ±γ₁ξ¹.
    let mut c = two_neurons(json!({ "radius": 0.4, "equilibria": "theory" }), 0.5);
    c["model"]["activation"]["slope"] = json!(1.0);
    c["input"]["segments"][0]["saliency"] = json!([1.2, 2.25]);
    let th = plan(c).observe.occupancy.unwrap();
    assert_eq!(labels(&th), ["+xi1", "-xi1"]);
    assert!((th.equilibria[0].gamma.unwrap() - 2.194866).abs() < 1e-5);
}

fn cli_run(spec: &Path, out: &Path, backend: &str, extra: &[&str]) {
    let mut args = vec!["run", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", backend, "--quiet"];
    args.extend_from_slice(extra);
    let o = idpsim(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn sharded() -> Value {
    let mut s = ten_neurons(json!({ "radius": 1.0, "norm": "rms", "every": 0.1, "from": 1.0 }));
    s["ensemble"]["trajectories"] = json!(300);
    s
}

#[test]
fn shards_merge_to_the_unsharded_counts() {
    for backend in ["cpu", "cpu_fast"] {
        let tmp = tempfile::tempdir().unwrap();
        let spec = tmp.path().join("spec.json");
        std::fs::write(&spec, sharded().to_string()).unwrap();
        let whole = tmp.path().join("whole");
        cli_run(&spec, &whole, backend, &[]);
        let shards: Vec<_> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
        for (i, d) in shards.iter().enumerate() {
            cli_run(&spec, d, backend, &["--shard", &format!("{i}/3")]);
        }
        let merged = tmp.path().join("merged");
        let mut args = vec!["merge"];
        args.extend(shards.iter().map(|d| d.to_str().unwrap()));
        args.extend(["--out", merged.to_str().unwrap()]);
        let o = idpsim(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        for f in ["occupancy.npy", "occupancy.json", "final_state.npy"] {
            assert_eq!(std::fs::read(whole.join(f)).unwrap(), std::fs::read(merged.join(f)).unwrap(), "{backend}: {f}");
        }
        assert!(merged.join("occupancy.png").is_file());
        let run: Value = serde_json::from_slice(&std::fs::read(merged.join("run.json")).unwrap()).unwrap();
        assert!(run["files"].as_array().unwrap().contains(&json!("occupancy.npy")), "{run}");
        assert!(run["manifest"].to_string().contains("occupancy.npy"), "the manifest lists occupancy.npy");
        assert_eq!(run["occupancy"]["samples"], json!(300 * 11));

        // A damaged shard (a row that no longer adds up to its trajectories) is refused.
        let bad = tmp.path().join("bad");
        copy_dir(&shards[1], &bad);
        let mut c = read_u64(&bad.join("occupancy.npy"));
        c[0] += 1;
        idpsim::io::write_npy(&bad.join("occupancy.npy"), &[20, 5], &c).unwrap();
        let out = tmp.path().join("refused");
        let o = idpsim(&[
            "merge",
            shards[0].to_str().unwrap(),
            bad.to_str().unwrap(),
            shards[2].to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_ne!(o.status.code(), Some(0), "a damaged shard was merged");
        assert!(stderr(&o).contains("occupancy.npy") || stderr(&o).contains("manifest"), "{}", stderr(&o));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn read_u64(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap()
}

/// Crashed mid-chunk and resumed, the counts (and every other file) are the uninterrupted
/// run's bytes, on every backend.
#[test]
fn resumed_runs_count_as_uninterrupted_ones() {
    let mut s = sharded();
    // N = 12: whole neuron blocks (a GPU run of N = 10 resumed from a checkpoint does not give
    // the uninterrupted final states, with or without this observer).
    s["memories"]["n"] = json!(12);
    s["ensemble"]["trajectories"] = json!(200);
    s["run"] = json!({ "chunk_trajectories": 64 });
    let p = plan(s);
    for kind in 0..common::backends().len() {
        let tmp = tempfile::tempdir().unwrap();
        let (whole, ck) = (tmp.path().join("whole"), tmp.path().join("ck"));
        let mut b = common::backends().remove(kind);
        let label = b.kind();
        engine::run_to_dir(&p, b.as_mut(), &whole, true).unwrap();
        let mut how = Checkpointing::Every(7);
        for n in [5, 4] {
            let mut b = common::backends().remove(kind);
            let mut crashing = Crashing { inner: b.as_mut(), calls_left: n };
            let e = engine::run_checkpointed(&p, &mut crashing, &ck, how, &mut Bar::pausing(true)).unwrap_err();
            assert!(format!("{e:#}").contains("simulated crash"), "{label}: {e:#}");
            let record = checkpoint::load(&ck).unwrap();
            let pending = checkpoint::validate(&ck, &record, &p).unwrap();
            how = Checkpointing::Resume(Box::new(record), pending.map(Box::new));
        }
        let mut b = common::backends().remove(kind);
        engine::run_checkpointed(&p, b.as_mut(), &ck, how, &mut Bar::pausing(true)).unwrap();
        for f in ["occupancy.npy", "occupancy.json", "final_state.npy", "overlaps_sums.npy"] {
            assert_eq!(std::fs::read(whole.join(f)).unwrap(), std::fs::read(ck.join(f)).unwrap(), "{label}: {f}");
        }
    }
}

/// Bad options: exit 2, one line naming the field and what is accepted, nothing written.
#[test]
fn bad_options_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = two_neurons(json!({ "radius": 0.4 }), 0.5);
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({ "radius": 0.0 }), "observe.occupancy.radius", "> 0"),
        (json!({ "radius": -1 }), "observe.occupancy.radius", "> 0"),
        (json!({ "radius": 1e30 }), "observe.occupancy.radius", "normal f32"),
        (json!({}), "observe.occupancy", "radius"),
        (json!({ "radius": 0.4, "radiuss": 1 }), "observe.occupancy", "radius"),
        (json!({ "radius": 0.4, "equilibria": "stable" }), "observe.occupancy.equilibria", "memories"),
        (json!({ "radius": 0.4, "norm": "l1" }), "observe.occupancy.norm", "euclidean"),
        (json!({ "radius": 0.4, "every": 0.015 }), "observe.occupancy.every", "whole number"),
        (json!({ "radius": 0.4, "every": 5.0 }), "observe.occupancy.every", "longer than the run"),
        (json!({ "radius": 0.4, "from": 3.5 }), "observe.occupancy.from", "0 to 3"),
        (json!({ "radius": 0.4, "from": -1 }), "observe.occupancy.from", "≥ 0"),
    ];
    let check = |spec: &Value, field: &str, accepted: &str| {
        let path = tmp.path().join("bad.json");
        std::fs::write(&path, spec.to_string()).unwrap();
        let out = tmp.path().join("out");
        let o = idpsim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu", "--quiet"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{spec}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(field) && err.contains(accepted), "expected {field} and '{accepted}' in: {err}");
        assert!(!out.exists(), "a refused spec created its output directory");
    };
    for (occ, field, accepted) in cases {
        let mut s = base.clone();
        s["observe"]["occupancy"] = occ;
        check(&s, field, accepted);
    }
    // "theory" is for N = 2.
    let mut s = ten_neurons(json!({ "radius": 0.4, "equilibria": "theory" }));
    check(&s, "observe.occupancy.equilibria", "\"memories\"");
    // A memory without an equilibrium (δ α ≤ 1).
    s = base.clone();
    s["input"]["segments"][0]["saliency"] = json!([0.4, 3.0]);
    check(&s, "observe.occupancy.equilibria", "memory 0 has no equilibrium");
    // Per-trajectory inputs have no common equilibria.
    s = base.clone();
    s["input"]["segments"][0] = json!({ "duration": 3.0, "random_weights": {} });
    check(&s, "observe.occupancy.equilibria", "constant input");
    // The modern model.
    s = base.clone();
    s["model"] = json!({ "kind": "modern" });
    check(&s, "observe.occupancy.equilibria", "idp and classic");
}

/// The preset validates and runs at a reduced size: one row per point in sweep.csv with the
/// occupancy columns, each point's rows adding up to its trajectories.
#[test]
fn the_preset_runs_at_a_reduced_size() {
    let text = idpsim::presets::get("occupancy").expect("the occupancy preset");
    let mut s: Value = serde_json::from_str(text).unwrap();
    let full = plan(s.clone());
    let op = full.observe.occupancy.as_ref().unwrap();
    assert_eq!((full.n(), full.p(), op.equilibria.len()), (2, 2, 4));
    s["ensemble"]["trajectories"] = json!(128);
    s["input"]["segments"][0]["duration"] = json!(24.0);
    s["sweep"]["noise.sigma"] = json!([0.3, 1.2]);
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("occ.json");
    std::fs::write(&spec, s.to_string()).unwrap();
    let out = tmp.path().join("sweep");
    cli_run(&spec, &out, "cpu", &[]);
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for col in ["occupancy_plus_xi1", "occupancy_outside", "occupancy_memory0", "occupancy_ratio_memory1_memory0"] {
        assert!(head.contains(&col), "{col} in {head:?}");
    }
    assert_eq!(csv.lines().count(), 3);
    assert!(out.join("sweep_occupancy.png").is_file());
    for row in csv.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        let dir = out.join(cells.last().unwrap());
        let counts = read_u64(&dir.join("occupancy.npy"));
        assert_eq!(counts.len(), 24 * 5);
        assert!(counts.chunks(5).all(|r| r.iter().sum::<u64>() == 128));
        // The memory columns are the pooled rows (t ≥ 20) of occupancy.npy.
        let pooled: u64 = counts.chunks(5).skip(19).map(|r| r[2] + r[3]).sum();
        let col = head.iter().position(|&h| h == "occupancy_memory1").unwrap();
        let v: f64 = cells[col].parse().unwrap();
        assert!((v - pooled as f64 / (128.0 * 5.0)).abs() < 1e-12, "{v} vs {pooled}");
    }
}

/// The GPU's group layout (one workgroup per trajectory; invocation 0 counts once the others'
/// stores are visible) counts as its final states say, with the same allowance at the borders.
#[test]
fn the_gpu_group_layout_counts_its_final_states() {
    layout_counts_its_final_states("group");
}

/// The tile layout (a trajectory's leader counts once the tile's stores are visible): the same.
#[test]
fn the_gpu_tile_layout_counts_its_final_states() {
    layout_counts_its_final_states("tile");
}

fn layout_counts_its_final_states(layout: &str) {
    let Some(mut g) = common::gpu() else { return };
    for (what, mut s) in [
        ("N = 10, rms", ten_neurons(json!({ "radius": 1.0, "norm": "rms", "every": 2.0 }))),
        ("N = 2, max", two_neurons(json!({ "radius": 0.4, "norm": "max", "every": 3.0 }), 0.5)),
    ] {
        s["memories"]["n"] = if what.starts_with("N = 10") { json!(12) } else { json!(2) };
        s["run"] = json!({ "layout": layout });
        let p = plan(s);
        let op = p.observe.occupancy.clone().unwrap();
        let store = run(&p, &mut g);
        let counts: Vec<u64> = store.values("occupancy").unwrap();
        let finals = store.f32("final_state").unwrap();
        let n = p.n();
        let mut direct = vec![0u64; op.slots()];
        let mut borderline = 0;
        for x in finals.chunks(n) {
            direct[op.slot(x)] += 1;
            borderline += slot_f64(&op, x).1 as u64;
        }
        let off = counts.iter().zip(&direct).map(|(a, b)| a.abs_diff(*b)).sum::<u64>() / 2;
        assert!(off <= borderline, "{what} ({layout} layout): {counts:?} vs {direct:?}, {borderline} borderline");
        assert_eq!(counts.iter().sum::<u64>(), p.ensemble.trajectories);
        assert!(counts[..op.equilibria.len()].iter().any(|&c| c > 0), "{what}: nothing near any equilibrium");
    }
}
