//! `idpsim replay`: single trajectories of a finished run integrated again. Their final states
//! are the run's final_state.npy rows bit for bit on the run's backend, their states at every
//! save those of a shorter run of the same spec, for every model, on shards by global index,
//! and bad input is refused with one line and exit status 2.

mod common;

use std::path::Path;

use common::{idpsim, stderr};
use serde_json::{Value, json};

/// 150 trajectories (three blocks of 64, the last one short) of a network of N = 20 and P = 3
/// with two segments of input and noise.
fn spec(kind: &str, backend: &str, duration: f64, final_state: bool) -> Value {
    let mut model = json!({ "kind": kind, "activation": { "kind": "tanh", "slope": 1.5 } });
    if kind == "modern" {
        model = json!({ "kind": "modern", "activation": { "kind": "tanh", "slope": 1.5 },
                        "tau_alpha": 0.05, "tau_y": 0.05, "sigma_y": 0.2 });
    }
    json!({
        "name": format!("replay-{kind}"),
        "model": model,
        "memories": { "kind": "random", "n": 20, "p": 3, "seed": 7 },
        "input": { "segments": [ { "duration": duration, "weights": [1.0, 2.5, 0.8] } ] },
        "noise": { "sigma": 0.6 },
        "integrator": { "dt": 0.01 },
        "ensemble": { "trajectories": 150, "seed": 21 },
        "observe": { "overlaps": { "every": 0.1 }, "final_state": final_state },
        "run": { "backend": backend }
    })
}

fn write_spec(dir: &Path, name: &str, spec: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, spec.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs `spec` into `dir/out` (extra flags after), panicking on failure.
fn run(dir: &Path, name: &str, spec: &Value, extra: &[&str]) -> std::path::PathBuf {
    let path = write_spec(dir, &format!("{name}.json"), spec);
    let out = dir.join(name);
    let mut args = vec!["run", &path, "--quiet", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = idpsim(&args);
    assert!(o.status.success(), "run {name}: {}", stderr(&o));
    out
}

fn replay(run: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["replay", run.to_str().unwrap(), "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    idpsim(&all)
}

fn npy<T: npyz::Deserialize>(path: &Path) -> (Vec<u64>, Vec<T>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    (npy.shape().to_vec(), npy.into_vec().unwrap())
}

/// Row `row` of an [M, N] array as bits.
fn row_bits(data: &[f32], n: usize, row: usize) -> Vec<u32> {
    data[row * n..(row + 1) * n].iter().map(|v| v.to_bits()).collect()
}

/// The replayed state of trajectory k at save s, as bits.
fn state_bits(states: &[f32], shape: &[u64], k: usize, s: usize) -> Vec<u32> {
    let (t, n) = (shape[1] as usize, shape[2] as usize);
    states[(k * t + s) * n..(k * t + s + 1) * n].iter().map(|v| v.to_bits()).collect()
}

/// The final states of a replay equal the run's final_state.npy rows bit for bit, for the
/// classic, IDP and modern models on the CPU reference and the CPU fast path; the saves are
/// every Δt from 0 and the last step; overlaps are m_μ of the saved states.
#[test]
fn final_states_are_the_runs_rows_for_every_model_and_cpu_backend() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in ["classic", "idp", "modern"] {
        for backend in ["cpu", "cpu_fast"] {
            let name = format!("{kind}-{backend}");
            let dir = run(tmp.path(), &name, &spec(kind, backend, 1.0, true), &[]);
            let out = tmp.path().join(format!("{name}-replay"));
            let o = replay(&dir, &out, &["--trajectory", "149,17,70", "--every", "0.25"]);
            assert!(o.status.success(), "{name}: {}", stderr(&o));
            let (shape, states) = npy::<f32>(&out.join("states.npy"));
            assert_eq!(shape, [3, 5, 20], "{name}");
            let (_, times) = npy::<f64>(&out.join("times.npy"));
            assert_eq!(times, [0.0, 0.25, 0.5, 0.75, 1.0], "{name}");
            let (_, which) = npy::<u64>(&out.join("trajectories.npy"));
            assert_eq!(which, [149, 17, 70]);
            let (fshape, finals) = npy::<f32>(&dir.join("final_state.npy"));
            assert_eq!(fshape, [150, 20]);
            for (k, &t) in which.iter().enumerate() {
                assert_eq!(
                    state_bits(&states, &shape, k, 4),
                    row_bits(&finals, 20, t as usize),
                    "{name}: trajectory {t}"
                );
                assert_ne!(state_bits(&states, &shape, k, 2), state_bits(&states, &shape, k, 4), "{name}: it moves");
            }
            // The overlaps are those of the saved states.
            let (oshape, overlaps) = npy::<f32>(&out.join("overlaps.npy"));
            assert_eq!(oshape, [3, 5, 3]);
            let plan = common::plan(spec(kind, backend, 1.0, true));
            for row in 0..15 {
                let x = &states[row * 20..(row + 1) * 20];
                for mu in 0..3 {
                    let m: f64 =
                        (0..20).map(|i| plan.memories.get(i, mu) as f64 * plan.psi(x[i]) as f64).sum::<f64>() / 20.0;
                    assert_eq!(overlaps[row * 3 + mu], m as f32, "{name}: overlap {mu} of save {row}");
                }
            }
            let doc: Value = serde_json::from_str(&std::fs::read_to_string(out.join("replay.json")).unwrap()).unwrap();
            assert!(doc["final_state"].as_str().unwrap().starts_with("equal, bit for bit"), "{name}: {doc}");
            assert_eq!(doc["backend"], backend);
            assert_eq!(doc["same_device_as_run"], true);
            for t in which {
                assert!(image::open(out.join(format!("trajectory-{t}.png"))).is_ok());
            }
        }
    }
}

/// Every save of a replay is the final state of the same spec run for that long: the states on
/// the way are exactly the run's, not just its end.
#[test]
fn states_on_the_way_are_those_of_shorter_runs() {
    let tmp = tempfile::tempdir().unwrap();
    for backend in ["cpu", "cpu_fast"] {
        let dir = run(tmp.path(), &format!("long-{backend}"), &spec("idp", backend, 1.0, false), &[]);
        let out = tmp.path().join(format!("replay-{backend}"));
        let o = replay(&dir, &out, &["--trajectory", "3,100", "--every", "0.3"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let (shape, states) = npy::<f32>(&out.join("states.npy"));
        assert_eq!(shape, [2, 5, 20], "saves at 0, 0.3, 0.6, 0.9 and the end, 1.0");
        for (s, t) in [(1usize, 0.3), (2, 0.6), (3, 0.9), (4, 1.0)] {
            let short = run(tmp.path(), &format!("short-{backend}-{s}"), &spec("idp", backend, t, true), &[]);
            let (_, finals) = npy::<f32>(&short.join("final_state.npy"));
            for (k, traj) in [3usize, 100].into_iter().enumerate() {
                assert_eq!(
                    state_bits(&states, &shape, k, s),
                    row_bits(&finals, 20, traj),
                    "{backend}: t = {t}, trajectory {traj}"
                );
            }
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(out.join("replay.json")).unwrap()).unwrap();
        assert!(doc["final_state"].as_str().unwrap().contains("saved no final_state.npy"), "{doc}");
        assert_eq!(doc["steps"], json!([0, 30, 60, 90, 100]));
    }
}

/// A shard's trajectories are replayed by their global index, and the shard's final_state rows
/// (local) are matched; an index of another shard is refused, naming the shard's range.
#[test]
fn shards_replay_by_global_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run(tmp.path(), "shard1", &spec("classic", "cpu", 0.5, true), &["--shard", "1/2"]);
    let out = tmp.path().join("r");
    let o = replay(&dir, &out, &["--trajectory", "100,149"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("replayed 2 trajectories × 6 saves"), "{}", stderr(&o));
    let (shape, states) = npy::<f32>(&out.join("states.npy"));
    assert_eq!(shape, [2, 6, 20], "the run's overlaps interval 0.1 by default: 0 … 0.5");
    let (fshape, finals) = npy::<f32>(&dir.join("final_state.npy"));
    assert_eq!(fshape, [86, 20], "shard 1 of 2 holds trajectories 64..149");
    assert_eq!(state_bits(&states, &shape, 0, 5), row_bits(&finals, 20, 36));
    assert_eq!(state_bits(&states, &shape, 1, 5), row_bits(&finals, 20, 85));
    let out2 = tmp.path().join("r2");
    let o = replay(&dir, &out2, &["--trajectory", "5"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("--trajectory: 5 is not one of this shard's trajectories 64..149 (of 150)"), "{e}");
    assert!(!out2.exists());
    let o = replay(&dir, &out2, &["--trajectory", "70"]);
    assert!(stderr(&o).starts_with("replayed 1 trajectory × 6 saves"), "{}", stderr(&o));
}

/// A run that saved no final states replays all the same, to the bytes of the run that did.
#[test]
fn a_run_without_final_states_replays_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let with = run(tmp.path(), "with", &spec("modern", "cpu", 0.5, true), &[]);
    let without = run(tmp.path(), "without", &spec("modern", "cpu", 0.5, false), &[]);
    assert!(!without.join("final_state.npy").exists(), "final_state is off by default");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    assert!(replay(&with, &a, &["--trajectory", "64"]).status.success());
    let o = replay(&without, &b, &["--trajectory", "64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(a.join("states.npy")).unwrap(), std::fs::read(b.join("states.npy")).unwrap());
    assert_eq!(std::fs::read(a.join("overlaps.npy")).unwrap(), std::fs::read(b.join("overlaps.npy")).unwrap());
}

/// Bad input: one line naming the flag or directory, exit status 2, and no --out written.
#[test]
fn refusals_name_the_flag_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run(tmp.path(), "run", &spec("idp", "cpu", 0.2, false), &[]);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("x"), "x").unwrap();
    // A sweep's directory.
    let sweep = json!({
        "name": "sw", "model": { "kind": "idp" }, "memories": { "kind": "random", "n": 8, "p": 2, "seed": 1 },
        "input": { "segments": [ { "duration": 0.1, "weights": [1.0, 2.0] } ] },
        "ensemble": { "trajectories": 64 }, "run": { "backend": "cpu" },
        "sweep": { "noise.sigma": [0.0, 0.5] }
    });
    let sweep_dir = run(tmp.path(), "sweep", &sweep, &[]);
    let out = tmp.path().join("never");
    let d = dir.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![d, "--trajectory", "150"], "--trajectory: 150 is not one of this run's trajectories 0..149"),
        (vec![d, "--trajectory", "3,3"], "--trajectory: 3 is given twice"),
        (
            vec![d, "--trajectory", "1", "--every", "0.015"],
            "--every: 0.015 is not a positive multiple of the run's integrator.dt = 0.01",
        ),
        (vec![d, "--trajectory", "1", "--every", "0"], "--every: 0 is not a positive time"),
        (vec![d, "--trajectory", "1", "--backend", "tpu"], "--backend: unknown backend 'tpu'"),
        (vec![empty.to_str().unwrap(), "--trajectory", "1"], "holds no finished run (no run.json"),
        (
            vec![sweep_dir.to_str().unwrap(), "--trajectory", "1"],
            "is a sweep's directory; point at one of its points' directories, e.g.",
        ),
        (vec!["/nonexistent/run", "--trajectory", "1"], "DIR: '/nonexistent/run' is not a directory"),
    ];
    for (args, want) in cases {
        let mut all = vec!["replay"];
        all.extend_from_slice(&args);
        all.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let o = idpsim(&all);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: one line: {e}");
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(!out.exists(), "{args:?} wrote its --out");
    }
    // An --out that holds something.
    let o = replay(&dir, &busy, &["--trajectory", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--out:") && stderr(&o).contains("is not an empty directory"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
    // A damaged run is not a finished run.
    std::fs::write(dir.join("overlaps_mean.npy"), b"damaged").unwrap();
    let o = replay(&dir, &out, &["--trajectory", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not an intact run"), "{}", stderr(&o));
    assert!(!out.exists());
    // An empty --out is fine.
    let dir2 = run(tmp.path(), "run2", &spec("idp", "cpu", 0.2, false), &[]);
    assert!(replay(&dir2, &empty, &["--trajectory", "1"]).status.success());
}

/// On the GPU (lavapipe in CI) the replayed final states are the GPU run's rows bit for bit,
/// in the thread layout and the group layout.
#[test]
fn gpu_final_states_are_the_runs_rows() {
    if common::gpu().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (kind, layout) in [("idp", "thread"), ("modern", "group")] {
        let mut s = spec(kind, "gpu", 0.5, true);
        s["run"]["layout"] = json!(layout);
        let name = format!("gpu-{kind}-{layout}");
        let dir = run(tmp.path(), &name, &s, &[]);
        let out = tmp.path().join(format!("{name}-replay"));
        let o = replay(&dir, &out, &["--trajectory", "149,0,65", "--every", "0.2"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let (shape, states) = npy::<f32>(&out.join("states.npy"));
        assert_eq!(shape, [3, 4, 20]);
        let (_, finals) = npy::<f32>(&dir.join("final_state.npy"));
        for (k, t) in [149usize, 0, 65].into_iter().enumerate() {
            assert_eq!(state_bits(&states, &shape, k, 3), row_bits(&finals, 20, t), "{name}: trajectory {t}");
        }
        // States on the way: a shorter GPU run's final states.
        let mut short = spec(kind, "gpu", 0.4, true);
        short["run"]["layout"] = json!(layout);
        let sdir = run(tmp.path(), &format!("{name}-short"), &short, &[]);
        let (_, sfinals) = npy::<f32>(&sdir.join("final_state.npy"));
        for (k, t) in [149usize, 0, 65].into_iter().enumerate() {
            assert_eq!(state_bits(&states, &shape, k, 2), row_bits(&sfinals, 20, t), "{name}: t = 0.4, trajectory {t}");
        }
    }
}
